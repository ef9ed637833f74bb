#include "tune/result.h"

#include "core/error.h"
#include "layers/gemm_layer.h"

namespace deftnn::tune {

void install_choice(Net& net, Context& ctx, const OptimizeResult& r, const std::vector<int>& choice,
                    Twin twin) {
  for (size_t s = 0; s < r.optimised.size(); ++s) {
    const auto& opts = twin == Twin::L1 ? r.l1_options[s] : twin == Twin::Paper ? r.paper_options[s] : r.options[s];
    install(net, r.layers[r.optimised[s]], opts[size_t(choice[s])].setting, ctx);
  }
}

void set_params(Net& net, Context& ctx, const std::vector<Tensor>& values) {
  std::vector<Param*> ps = net.params();
  DEFTNN_CHECK(ps.size() == values.size(), "{}: {} parameters stored, the net has {}", net.name(), values.size(),
               ps.size());
  for (size_t i = 0; i < ps.size(); ++i) ps[i]->value = values[i].to(ctx.device(), ctx);
  for (size_t i = 0; i < net.size(); ++i) net.layer(i).on_device_change(ctx);
}

std::vector<Tensor> params_of(Net& net, Context& ctx) {
  std::vector<Tensor> v;
  for (Param* p : net.params()) v.push_back(p->value.to(Device::CPU, ctx));
  return v;
}

void install_point(Net& net, Context& ctx, const OptimizeResult& r, const Point& p) {
  set_params(net, ctx, r.base);
  install_choice(net, ctx, r, p.choice);
  if (p.tuned >= 0) set_params(net, ctx, r.tuned[size_t(p.tuned)]);
  LayerExec exec;  // fp32: cuBLAS / OpenBLAS; another format: the fission kernels (KernelFamily::Auto)
  exec.format = p.format;
  for (const GemmLayer& l : r.layers) net.layer(l.index).as_gemm()->set_exec(exec);
}

}  // namespace deftnn::tune
