// Counted work of one layer at a batch and plan: the FLOPs it does and the
// bytes it must move, for the roofline (`deftnn bench --roofline`,
// docs/bottlenecks.md). Counted from shapes and the plan, never measured.
//
// Compulsory bytes: what the layer cannot avoid reading or writing at the
// element sizes it runs with.
//   input   activations read, fp32 (the engine keeps every activation in
//           fp32). Under SVE only the inputs a kept column touches: a linear
//           layer's K' features per row; a conv's channels that some kept
//           (channel, kh, kw) row refers to, whole.
//   weight  the weight in its stored format (fp32; bf16/fp16 or fp8 + one
//           fp32 scale for cuBLASLt; the fission format; the mixed-input
//           codes + their fp32 scales), M x K' x groups under SVE, plus every
//           other parameter (bias, batch-norm buffers) in fp32.
//   output  activations written, fp32.
// Engine-intermediate bytes (separate, a model of the code as it is, not a
// measurement; ncu gives the real DRAM traffic): the buffers the engine
// writes and reads back inside the layer: a conv's column matrix (im2col;
// 16-bit rows straight from im2row_lowp on cuBLASLt bf16/fp16; fp32 columns,
// their amax pass and their fp8 copy on cuBLASLt fp8), a linear layer's
// gathered kept columns (SVE) and the per-call conversion of its input to the
// tensor-core precision (fp8: and its amax pass), and the bias/ReLU pass over the output when it is a pass of its
// own (bias_permute, add_channel_bias, add_row_bias). Padding of the 16-bit
// operands to multiples of 16 is not counted. Each is counted once written
// and once read, as if it missed the L2 (the column matrix of a CaffeNet
// conv at batch 128 is 100-300 MB; at batch 1 they fit in L2, so read this
// as an upper bound there).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gemm/gemm.h"
#include "layers/infer_args.h"
#include "layers/layer.h"

namespace deftnn {
class Net;
class Context;
}  // namespace deftnn

namespace deftnn::bench {

// How a layer runs in the inference pass (Net::InferStep, without net.h).
enum class StepKind : uint8_t { Run, Fused, Skip };
const char* step_kind_name(StepKind s);  // "run" | "fused" | "skipped"

struct LayerTraffic {
  std::string name, type;
  StepKind step = StepKind::Run;
  bool gemm = false;
  int64_t flops = 0;  // 2 x multiply-adds (GEMM: 2 M N K' groups); 0 for layers without a FLOP count
  int64_t input_bytes = 0, weight_bytes = 0, output_bytes = 0;
  int64_t intermediate_bytes = 0;
  std::string weight_storage;  // "fp32", "bf16", "fp8e4m3", "deft16q", "mixed-int8", ...; "" without a weight
  int64_t weight_matrix_bytes = 0;  // the GEMM weight alone in that storage (scales included), part of weight_bytes
  GemmShape gemm_shape;             // GEMM layers: M, N, K' of a group, groups
  std::string intermediate_note;  // which engine buffers intermediate_bytes holds
  // The arithmetic of the products, which picks the compute ceiling: "fp32"
  // (cuBLAS, the fission kernels' FFMA, cuDNN, the CPU), "tf32", "bf16"
  // (cuBLASLt; the mixed-input kernels), "fp16", "fp8e4m3".
  std::string compute = "fp32";
  int64_t compulsory_bytes() const { return input_bytes + weight_bytes + output_bytes; }
  int64_t engine_bytes() const { return compulsory_bytes() + intermediate_bytes; }
};

nlohmann::json to_json(const LayerTraffic& t);

// Bytes per weight element and the fp32 scale bytes of a GEMM run by `plan`
// (rows = M of all groups, k = K' of a group); also names the storage.
struct WeightStorage {
  std::string name;
  double bytes_per_element = 4;
  int64_t scale_bytes = 0;
};
WeightStorage weight_storage(const GemmPlan& plan, int64_t rows, int64_t k);

// The counts of layer `l` (infer() done) reading `in` and writing `out`
// (whole batch), run as `step` with inference arguments `args`. GEMM layers
// need `plan` (resolve_gemm of the layer's exec on the device it runs on);
// `cudnn`: the conv runs through cuDNN (in fp32 its intermediate buffers are
// not modelled; in bf16/fp16, the conversions of conv_cudnn.cpp are).
// A Fused or Skipped layer moves nothing of its own (its producer's epilogue
// does the work, or it is the identity).
LayerTraffic layer_traffic(Layer& l, const std::vector<Shape>& in, const std::vector<Shape>& out, StepKind step,
                           const InferArgs& args, const GemmPlan* plan, bool cudnn);

// Every layer of `net` (plan applied) at `batch` on ctx's device, in order.
std::vector<LayerTraffic> net_traffic(const Context& ctx, Net& net, int64_t batch);

// Kernel mixed keeps dec(W) in bf16 beside the narrow codes and runs
// whichever path measured faster (gemm/mixed_backend.cpp): where a layer's
// shape went to cuBLASLt on dec(W) ("dequantized"), the engine reads the bf16
// copy instead of the codes. Adds that difference to its intermediate bytes
// and says so; the compulsory bytes stay those of the narrow format.
void apply_mixed_decisions(std::vector<LayerTraffic>& traffic, const std::vector<MixedDecision>& decisions);

}  // namespace deftnn::bench
