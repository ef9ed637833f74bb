#include "plan/apply.h"

#include "core/error.h"
#include "layers/gemm_layer.h"

namespace deftnn::plan {

namespace {

std::string gemm_layer_names(const Net& net) {
  std::string s;
  for (size_t i = 0; i < net.size(); ++i)
    if (net.layer(i).has_gemm()) s += (s.empty() ? "" : ", ") + net.layer(i).name();
  return s.empty() ? std::string("none") : s;
}

Net::TrunkFusion trunk_fusion(TrunkPolicy t) {
  switch (t) {
    case TrunkPolicy::Auto: return Net::TrunkFusion::Auto;
    case TrunkPolicy::Off: return Net::TrunkFusion::Off;
    case TrunkPolicy::On: return Net::TrunkFusion::On;
  }
  return Net::TrunkFusion::Auto;
}

TrunkPolicy trunk_policy(Net::TrunkFusion t) {
  switch (t) {
    case Net::TrunkFusion::Auto: return TrunkPolicy::Auto;
    case Net::TrunkFusion::Off: return TrunkPolicy::Off;
    case Net::TrunkFusion::On: return TrunkPolicy::On;
  }
  return TrunkPolicy::Auto;
}

}  // namespace

void check_plan(const ExecPlan& plan, const Net& net, std::optional<Device> device) {
  const std::string label = net.name().empty() ? net.source() : net.name();
  for (const auto& [name, e] : plan.layers) {
    const Layer* l = nullptr;
    for (size_t i = 0; i < net.size() && !l; ++i)
      if (net.layer(i).name() == name) l = &net.layer(i);
    DEFTNN_CHECK(l, "the plan names layer '{}', which {} does not have (GEMM layers: {})", name, label,
                 gemm_layer_names(net));
    DEFTNN_CHECK(l->has_gemm(), "the plan names layer '{}' ({}), which runs no GEMM (GEMM layers: {})", name, l->type(),
                 gemm_layer_names(net));
  }
  for (const std::string& name : plan.weights_named)
    for (size_t i = 0; i < net.size(); ++i)
      if (const GemmLayer* g = net.layer(i).as_gemm(); g && g->name() == name && g->kind() != LayerKind::Linear)
        DEFTNN_FAIL("{}: layer '{}' ({}): mixed-input weights ({}) run linear layers only; a convolution keeps fp32 "
                    "weights (an all-layers --weights skips convolutions by itself)",
                    label, name, g->type(), plan.layers.count(name) ? plan.layers.at(name).weights.name() : "?");
  for (size_t i = 0; i < net.size(); ++i) {
    const GemmLayer* g = net.layer(i).as_gemm();
    if (!g) continue;
    const LayerExec e = plan.exec_for(g->name(), g->kind());
    const bool sve = g->sve().active();
    std::string why = can_implement(e, g->kind(), device.value_or(Device::CUDA), sve);
    if (!device && !why.empty() && can_implement(e, g->kind(), Device::CPU, sve).empty()) why.clear();
    if (!why.empty() && device == Device::CPU && can_implement(e, g->kind(), Device::CUDA, sve).empty() &&
        !cuda_available())
      why += DEFTNN_FORMAT(" (and there is no usable CUDA GPU: {})", cuda_unavailable_reason());
    DEFTNN_CHECK(why.empty(), "{}: layer '{}' ({}){}: {}", label, g->name(), g->type(),
                 device ? DEFTNN_FORMAT(" on {}", device_name(*device)) : std::string(), why);
  }
}

void apply_plan(Net& net, const ExecPlan& plan, std::optional<Device> device) {
  check_plan(plan, net, device);
  for (size_t i = 0; i < net.size(); ++i)
    if (GemmLayer* g = net.layer(i).as_gemm()) g->set_exec(plan.exec_for(g->name(), g->kind()));
  net.fuse_inference = plan.fuse_inference;
  net.trunk_fusion = trunk_fusion(plan.trunk);
}

ExecPlan plan_of(const Net& net) {
  ExecPlan p;
  p.fuse_inference = net.fuse_inference;
  p.trunk = trunk_policy(net.trunk_fusion);
  for (size_t i = 0; i < net.size(); ++i)
    if (const GemmLayer* g = net.layer(i).as_gemm(); g && !(g->exec() == p.exec_for(g->name(), g->kind())))
      p.layers[g->name()] = g->exec();
  return p;
}

}  // namespace deftnn::plan
