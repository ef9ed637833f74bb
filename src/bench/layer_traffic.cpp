#include "bench/layer_traffic.h"

#include <fmt/format.h>

#include <optional>
#include <set>

#include "core/context.h"
#include "core/error.h"
#include "layers/conv.h"
#include "layers/gemm_layer.h"
#include "layers/linear.h"
#include "net/net.h"

namespace deftnn::bench {

namespace {

constexpr int64_t kF32 = 4;  // every activation and every non-weight parameter is fp32

int64_t numel_sum(const std::vector<Shape>& shapes) {
  int64_t n = 0;
  for (const Shape& s : shapes) n += shape_numel(s);
  return n;
}

// Bytes of one element of the tensor-core operand a cuBLASLt precision converts to.
int64_t lowp_bytes(Precision p) { return p == Precision::FP8E4M3 ? 1 : 2; }

bool has_param(Layer& l, const std::string& name) {
  for (Param* p : l.params())
    if (p->name == name && p->value.defined()) return true;
  return false;
}

// Every parameter but the weight, fp32 (bias, batch-norm buffers, ...).
int64_t other_param_bytes(Layer& l, bool skip_weight) {
  int64_t b = 0;
  for (Param* p : l.params())
    if (p->value.defined() && !(skip_weight && p->name == "weight")) b += p->value.numel() * kF32;
  return b;
}

void add_note(std::string& note, const std::string& what) { note += (note.empty() ? "" : " + ") + what; }

// The bias / ReLU epilogue as a pass of its own over the output (read and
// written again after the GEMM wrote it).
void epilogue_pass(LayerTraffic& t, bool pass) {
  if (!pass) return;
  t.intermediate_bytes += 2 * t.output_bytes;
  add_note(t.intermediate_note, "bias/ReLU pass over the output");
}

void conv_counts(const Conv2d& c, const Shape& in, const GemmShape& gs, const InferArgs& args, const GemmPlan& plan,
                 bool cudnn, Precision cudnn_precision, bool has_bias, LayerTraffic& t) {
  const SveState& sve = c.sve();
  const int64_t G = gs.groups, Kp = gs.K, Kfull = c.full_k(), cols = gs.N;
  if (sve.active()) {
    // A kept row (channel, ky, kx) reads the whole plane of its channel
    // (every output position): the input needed is that of the channels
    // some kept row names, in every group (the groups share the kept list).
    const int64_t taps = c.kernel_h() * c.kernel_w();
    std::set<int64_t> channels;
    for (int32_t k : sve.kept) channels.insert(k / taps);
    t.input_bytes = in[0] * G * int64_t(channels.size()) * in[2] * in[3] * kF32;
  }
  if (cudnn) {
    if (cudnn_precision == Precision::FP32) {
      t.intermediate_note = "cudnn: not modelled";
      return;
    }
    // conv_cudnn.cpp: the input converted to 16 bits (written, read by cuDNN),
    // cuDNN's 16-bit output widened with bias and ReLU (written, read).
    const int64_t in_elems = t.input_bytes / kF32, out_elems = t.output_bytes / kF32;
    t.intermediate_bytes += 2 * 2 * (in_elems + out_elems);
    t.intermediate_note = fmt::format("cudnn {}: input converted, output widened (cuDNN's own buffers not modelled)",
                                      precision_name(cudnn_precision));
    return;
  }
  const bool swap = sve.active() && sve.transform == SveTransform::Swap;
  const bool copy = sve.active() && sve.transform == SveTransform::Copy;
  const bool lt = plan.backend == GemmBackend::CublasLt;
  if (lt && (plan.precision == Precision::BF16 || plan.precision == Precision::FP16) && !swap && !copy) {
    // im2row_lowp writes the GEMM's 16-bit operand directly (conv.cpp).
    t.intermediate_bytes += 2 * cols * Kp * 2 * G;
    add_note(t.intermediate_note, fmt::format("{} im2row operand", precision_name(plan.precision)));
  } else {
    const int64_t rows = swap ? Kfull : copy ? Kp + Kfull : Kp;
    t.intermediate_bytes += 2 * cols * rows * kF32 * G;
    add_note(t.intermediate_note, copy ? "fp32 full im2col and its kept-row gather" : "fp32 column matrix");
    if (lt) {
      t.intermediate_bytes += 2 * cols * Kp * lowp_bytes(plan.precision) * G;
      add_note(t.intermediate_note, fmt::format("its {} conversion", precision_name(plan.precision)));
      if (plan.precision == Precision::FP8E4M3) {  // the per-call amax reads the columns once more
        t.intermediate_bytes += cols * Kp * kF32 * G;
        add_note(t.intermediate_note, "the amax pass");
      }
    }
  }
  // The epilogue (conv.cpp): NCHW output goes through bias_permute whenever
  // several images share a GEMM or a bias/ReLU applies; CNHW output gets
  // add_channel_bias for a bias/ReLU; a deferred epilogue is the consumer's.
  if (!args.defer) {
    const bool epi = has_bias || args.relu;
    epilogue_pass(t, args.out == Layout::NCHW ? (in[0] > 1 || epi) : epi);
  }
}

void linear_counts(const Linear& l, const GemmShape& gs, const InferArgs& args, const GemmPlan& plan, bool has_bias,
                   int64_t features, LayerTraffic& t) {
  const SveState& sve = l.sve();
  const int64_t rows = gs.N, Kp = gs.K;
  if (sve.active()) {
    t.input_bytes = rows * Kp * kF32;  // the kept features of each row
    if (sve.transform == SveTransform::Swap) {
      t.intermediate_bytes += 2 * rows * features * kF32;
      add_note(t.intermediate_note, "input copied and swapped");
    } else {
      t.intermediate_bytes += 2 * rows * Kp * kF32;
      add_note(t.intermediate_note, "kept input columns gathered");
    }
  }
  if (plan.backend == GemmBackend::CublasLt) {
    t.intermediate_bytes += 2 * rows * Kp * lowp_bytes(plan.precision);
    add_note(t.intermediate_note, fmt::format("input converted to {}", precision_name(plan.precision)));
    if (plan.precision == Precision::FP8E4M3) {  // the per-call amax (docs/precision.md) reads the input once more
      t.intermediate_bytes += rows * Kp * kF32;
      add_note(t.intermediate_note, "the amax pass");
    }
  } else if (plan.backend == GemmBackend::Mixed) {
    t.intermediate_bytes += 2 * rows * Kp * 2;
    add_note(t.intermediate_note, "input converted to bf16");
  }
  epilogue_pass(t, has_bias || args.relu);
}

}  // namespace

const char* step_kind_name(StepKind s) {
  switch (s) {
    case StepKind::Run: return "run";
    case StepKind::Fused: return "fused";
    case StepKind::Skip: return "skipped";
  }
  return "?";
}

nlohmann::json to_json(const LayerTraffic& t) {
  return {{"flops", t.flops},
          {"input_bytes", t.input_bytes},
          {"weight_bytes", t.weight_bytes},
          {"output_bytes", t.output_bytes},
          {"compulsory_bytes", t.compulsory_bytes()},
          {"intermediate_bytes", t.intermediate_bytes},
          {"engine_bytes", t.engine_bytes()},
          {"weight_storage", t.weight_storage},
          {"weight_matrix_bytes", t.weight_matrix_bytes},
          {"intermediate_note", t.intermediate_note},
          {"compute", t.compute}};
}

void apply_mixed_decisions(std::vector<LayerTraffic>& traffic, const std::vector<MixedDecision>& decisions) {
  for (LayerTraffic& t : traffic) {
    if (t.step != StepKind::Run || !t.weight_storage.starts_with("mixed-")) continue;
    const GemmShape& g = t.gemm_shape;
    for (const MixedDecision& d : decisions) {
      if (d.M != g.M || d.N != g.N || d.K != g.K || "mixed-" + d.format.name() != t.weight_storage) continue;
      if (d.chosen == MixedChoice::Dequantized) {
        t.intermediate_bytes += g.M * g.K * 2 - t.weight_matrix_bytes;
        add_note(t.intermediate_note, "dequantized path: reads dec(W) in bf16, not the codes");
      }
      break;
    }
  }
}

WeightStorage weight_storage(const GemmPlan& plan, int64_t rows, int64_t k) {
  switch (plan.backend) {
    case GemmBackend::CublasLt:
      // converted once (PackedWeightCache::converted); fp8 carries one fp32 scale (amax / 448)
      if (plan.precision == Precision::FP8E4M3) return {"fp8e4m3", 1, 4};
      return {precision_name(plan.precision), 2, 0};
    case GemmBackend::Fission: return {plan.format.name(), plan.format.bits() / 8.0, 0};
    case GemmBackend::Mixed: {
      const mixed::WeightFormat& w = plan.weights;
      const int64_t scales = w.group() == 0 ? rows : rows * ((k + w.group() - 1) / w.group());
      return {"mixed-" + w.name(), w.bits() / 8.0, scales * kF32};
    }
    // The CPU stand-ins (CpuEmulated, CpuMixed) keep fp32 weights, rounded.
    case GemmBackend::CpuBlas:
    case GemmBackend::Cublas:
    case GemmBackend::CublasTF32:
    case GemmBackend::CpuEmulated:
    case GemmBackend::CpuMixed: break;
  }
  return {"fp32", 4, 0};
}

LayerTraffic layer_traffic(Layer& l, const std::vector<Shape>& in, const std::vector<Shape>& out, StepKind step,
                           const InferArgs& args, const GemmPlan* plan, bool cudnn) {
  LayerTraffic t;
  t.name = l.name();
  t.type = l.type();
  t.step = step;
  t.gemm = l.has_gemm();
  DEFTNN_CHECK(!in.empty() && !out.empty(), "layer '{}': traffic needs its input and output shapes", l.name());
  if (step != StepKind::Run) return t;  // a fused ReLU or an inference identity moves nothing of its own
  t.flops = l.flops(in[0]);
  t.input_bytes = numel_sum(in) * kF32;
  t.output_bytes = numel_sum(out) * kF32;
  GemmLayer* g = l.as_gemm();
  if (!g) {
    t.weight_bytes = other_param_bytes(l, false);
    return t;
  }
  DEFTNN_CHECK(plan || cudnn, "layer '{}': a GEMM layer's traffic needs its GEMM plan", l.name());
  static const GemmPlan kCudnnFp32{};  // cuDNN's fp32 convolution: no GEMM plan of ours
  const GemmPlan& gp = plan ? *plan : kCudnnFp32;
  const GemmShape gs = l.gemm_shape(in[0]);
  const int64_t rows = gs.M * gs.groups;
  // cuDNN in bf16/fp16 (conv_cudnn.cpp) keeps a 16-bit copy of the weight and
  // computes on tensor cores in that type; in fp32 it reads the fp32 weight.
  const Precision cp = cudnn ? g->exec().precision : Precision::FP32;
  const bool cudnn16 = cudnn && (cp == Precision::BF16 || cp == Precision::FP16);
  const WeightStorage ws = cudnn16 ? WeightStorage{precision_name(cp), 2, 0}
                           : cudnn ? WeightStorage{"fp32", 4, 0}
                                   : weight_storage(gp, rows, gs.K);
  t.weight_storage = ws.name;
  if (cudnn16) t.compute = precision_name(cp);
  if (!cudnn && gp.backend == GemmBackend::CublasLt) t.compute = precision_name(gp.precision);
  if (!cudnn && gp.backend == GemmBackend::CublasTF32) t.compute = "tf32";
  if (!cudnn && gp.backend == GemmBackend::Mixed) t.compute = "bf16";
  t.gemm_shape = gs;
  t.weight_matrix_bytes = int64_t(double(rows * gs.K) * ws.bytes_per_element + 0.5) + ws.scale_bytes;
  t.weight_bytes = t.weight_matrix_bytes + other_param_bytes(l, true);
  const bool bias = has_param(l, "bias");
  if (const auto* c = dynamic_cast<const Conv2d*>(&l)) {
    DEFTNN_CHECK(in[0].size() == 4, "layer '{}': conv input {} is not (N, C, H, W)", l.name(), shape_str(in[0]));
    conv_counts(*c, in[0], gs, args, gp, cudnn, cudnn16 ? cp : Precision::FP32, bias, t);
  } else if (const auto* li = dynamic_cast<const Linear*>(&l)) {
    linear_counts(*li, gs, args, gp, bias, g->full_k(), t);
  } else {
    t.intermediate_note = "not modelled for this layer type";
  }
  return t;
}

std::vector<LayerTraffic> net_traffic(const Context& ctx, Net& net, int64_t batch) {
  const Graph& g = net.topology();
  const std::vector<Net::InferPlanEntry> plan = net.inference_plan();
  std::vector<LayerTraffic> out;
  for (size_t i = 0; i < net.size(); ++i) {
    const GraphNode& node = g.nodes[i];
    std::vector<Shape> ins, outs;
    for (size_t t : node.inputs) ins.push_back(net.tensor_shape(g.tensors[t].name, batch));
    for (size_t t : node.outputs) outs.push_back(net.tensor_shape(g.tensors[t].name, batch));
    const StepKind step = plan[i].step == Net::InferStep::Run     ? StepKind::Run
                          : plan[i].step == Net::InferStep::Fused ? StepKind::Fused
                                                                  : StepKind::Skip;
    Layer& l = net.layer(i);
    std::optional<GemmPlan> gp;
    bool cudnn = false;
    if (const GemmLayer* gl = l.as_gemm()) {
      cudnn = gl->exec().kernel == KernelFamily::Cudnn;
      if (!cudnn) gp = resolve_gemm(ctx, gemm_config(gl->exec()));
    }
    out.push_back(layer_traffic(l, ins, outs, step, plan[i].args, gp ? &*gp : nullptr, cudnn));
  }
  return out;
}

}  // namespace deftnn::bench
