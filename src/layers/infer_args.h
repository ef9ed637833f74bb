// How one layer runs inside an inference pass planned by Net::inference_plan:
// activation layouts, fused ReLU, deferred and pending epilogues. Plain types
// only (the CUDA kernels that apply a PendingAct include this header).
#pragma once

#include <cstdint>

namespace deftnn {

// Memory order of a 4-D activation (N, C, H, W) between two layers of an
// inference pass. NCHW is the engine's order everywhere else. CNHW is
// channel-major: element (n, c, h, w) at ((c * N + n) * H + h) * W + w. It is
// the natural order of a convolution's GEMM output Y (C_out, N * Ho * Wo), so
// a conv trunk kept in CNHW needs no permute after each GEMM (Net plans it:
// Net::inference_plan). Spatial 2-D shapes keep the logical (N, C, H, W).
enum class Layout : uint8_t { NCHW, CNHW };
const char* layout_name(Layout l);

// A producer's bias and ReLU that it left undone (InferArgs::defer) and that
// the consumer applies to each value it reads: v -> act(v + bias[c]) with
// act(u) = u > 0 ? u : slope * u when relu. Padding the consumer adds stays 0
// (it pads the activated tensor).
struct PendingAct {
  const float* bias = nullptr;  // (C) on the layer's device, or null
  bool relu = false;
  float slope = 0.f;
  bool active() const { return bias || relu; }
};

// How Net::forward(train = false) runs one layer (see Net::inference_plan).
struct InferArgs {
  Layout in = Layout::NCHW, out = Layout::NCHW;
  bool relu = false;   // a following ReLU layer is fused into this layer's output
  float slope = 0.f;   // its negative slope
  bool defer = false;  // GEMM layers: write the raw product; the consumer applies bias (+ ReLU)
  PendingAct pending;  // the producer's deferred bias (+ ReLU), applied on read
  bool plain() const { return in == Layout::NCHW && out == Layout::NCHW && !relu && !defer && !pending.active(); }
};

}  // namespace deftnn
