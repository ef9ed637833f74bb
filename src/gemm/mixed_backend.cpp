// Kernel mixed behind the GEMM front door: a linear layer's weight stored in
// a narrow mixed-input format (int8, fp8e4m3, deft8eE, int4, fp4e2m1), its
// activations in bf16, fp32 accumulation and output.
//
// CUDA has two paths. They differ by one rounding per weight: the kernel
// multiplies the exact bf16 code values and applies the fp32 scale to the
// sums; cuBLASLt reads dec(w) = value(code) * scale rounded to bf16 (relative
// 2^-9), far below the formats' own quantisation step:
//   kernel       the mixed-input fission kernel (kernels/mixed_gemm.cu):
//                reads the narrow codes, unpacks them in registers right
//                before the tensor-core MMA; wins where the weights' bytes
//                bind (few tokens);
//   dequantized  cuBLASLt bf16 on dec(W) kept in bf16; wins where the MMAs
//                bind (many tokens).
// MixedChoice::Measure times both on the first call of each shape and keeps
// the faster in the context (issue 9's "selection that never loses"); during
// a CUDA-graph capture nothing can be timed, so an unmeasured shape takes the
// rule kernel for N <= 64 tokens, dequantized above, uncached.
//
// The kernel's layout is the linear layer's: Y (N tokens, M out) = X (N, K)
// dec(W)^T, i.e. !trans_a, trans_b, trans_c, alpha 1 (beta 0 on the kernel
// path). The CPU (CpuMixed) emulates it for any layout: dec(W) and op(B)
// rounded to bf16, then sgemm.
#include "gemm/backends.h"
#include "gemm/lowp.h"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#ifdef DEFTNN_WITH_CUDA
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "gemm/kernels/lowp_convert.h"
#endif

namespace deftnn {

MixedMatrix make_mixed_matrix(Context& ctx, const float* w, int64_t rows, int64_t cols, int64_t ld,
                              const mixed::WeightFormat& f) {
  DEFTNN_CHECK(rows > 0 && cols > 0 && ld >= cols, "mixed weights: bad shape ({}, {}) ld {}", rows, cols, ld);
  std::vector<float> host;
  const float* hw = w;
  if (ctx.is_cuda()) {
#ifdef DEFTNN_WITH_CUDA
    host.resize(size_t(rows * cols));
    DEFTNN_CUDA_CHECK(cudaMemcpy2DAsync(host.data(), size_t(cols) * 4, w, size_t(ld) * 4, size_t(cols) * 4,
                                        size_t(rows), cudaMemcpyDeviceToHost, cudaStream_t(ctx.stream())));
    ctx.synchronize();
    hw = host.data(), ld = cols;
#endif
  }
  const mixed::PackedWeights pw = mixed::pack_weights(hw, rows, cols, f, ld);
  MixedMatrix m;
  m.format = f, m.rows = rows, m.cols = cols;
  m.decoded = mixed::decode_weights(pw);  // (rows, cols)
  if (ctx.is_cuda()) {
    m.device = mixed::upload(pw, ctx);
    const Tensor dec = Tensor::from_vector({rows, cols}, m.decoded).to(Device::CUDA, ctx);
    m.dequantized = convert_matrix(ctx, dec, Precision::BF16);
    m.decoded.clear();  // the CUDA paths read device and dequantized
    m.decoded.shrink_to_fit();
  }
  return m;
}

namespace {

// The context's record of kernel mixed: per shape, the path measurement
// chose; the split-K workspace of the kernel path.
struct MixedState final : Context::BackendState {
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int>;  // M N K kind exp_bits
  std::map<Key, MixedDecision> decisions;
#ifdef DEFTNN_WITH_CUDA
  std::map<Key, mixed::MixedWorkspace> workspaces;  // per shape: made outside any capture
#endif
};

MixedState::Key key_of(const GemmArgs& a, const mixed::WeightFormat& f) {
  return {a.M, a.N, a.K, int(f.kind), f.exp_bits};
}

MixedState& mixed_state(Context& ctx) {
  auto* s = static_cast<MixedState*>(ctx.backend_state(Context::StateSlot::Mixed));
  if (s) return *s;
  auto fresh = std::make_unique<MixedState>();
  s = fresh.get();
  ctx.set_backend_state(Context::StateSlot::Mixed, std::move(fresh));
  return *s;
}

void cpu_mixed_gemm(Context& ctx, const GemmArgs& a, const MixedMatrix& m) {
  // op(B)^T (N, K) rounded to bf16 in the Gemm scratch, as cpu-emulated does.
  float* xb = static_cast<float*>(ctx.workspace(size_t(a.N * a.K) * sizeof(float), Context::Scratch::Gemm));
  round_operand(a.B, a.N, a.K, a.trans_b ? a.ldb : 1, a.trans_b ? 1 : a.ldb, Precision::BF16, xb);
  GemmArgs g = a;
  g.A = m.decoded.data(), g.lda = m.cols, g.trans_a = false;
  g.B = xb, g.ldb = a.K, g.trans_b = true;
  cpu_blas_gemm(g);
}

#ifdef DEFTNN_WITH_CUDA
// The kernel path: op(B)^T (N, K) to bf16 in the Gemm scratch, then the
// mixed-input kernel writes C (N, M) directly.
void kernel_path(Context& ctx, const GemmArgs& a, const MixedMatrix& m, MixedState& st) {
  DEFTNN_CHECK(a.beta == 0.f, "GEMM mixed (kernel path): beta {} (the kernel writes C; beta 0 only)", a.beta);
  const int64_t ldx = lowp_round_up(std::max<int64_t>(a.K, 1));  // a multiple of 16: 16-byte rows
  void* x = ctx.workspace(size_t(a.N * ldx) * 2, Context::Scratch::Gemm);
  lowp_convert_device(a.B, a.N, a.K, a.ldb, 1, Precision::BF16, nullptr, nullptr, x, a.N, ldx, ctx.stream());
  mixed::MixedGemmArgs g;
  g.M = a.N, g.X = x, g.ldx = ldx, g.W = &m.device, g.Y = a.C, g.ldy = a.ldc;
  // The deterministic split-K workspace of this shape, made on its first call
  // outside a CUDA-graph capture (no allocation inside one: the atomics
  // path then, which zeroes C on the stream).
  const MixedState::Key key = key_of(a, m.format);
  auto it = st.workspaces.find(key);
  if (it == st.workspaces.end()) {
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    DEFTNN_CUDA_CHECK(cudaStreamIsCapturing(cudaStream_t(ctx.stream()), &cs));
    if (cs == cudaStreamCaptureStatusNone) it = st.workspaces.emplace(key, mixed::make_mixed_workspace(ctx, g)).first;
  }
  g.workspace = it == st.workspaces.end() ? nullptr : &it->second;
  mixed::mixed_gemm(ctx, g);
}

void dequantized_path(Context& ctx, const GemmArgs& a, const MixedMatrix& m) {
  GemmArgs g = a;
  g.converted_a = &m.dequantized;
  cublaslt_gemm(ctx, g, Precision::BF16);
}

// Median milliseconds of f over a few calls (after a warm-up call).
template <class F>
double median_ms(Context& ctx, F&& f) {
  cudaStream_t s = cudaStream_t(ctx.stream());
  cudaEvent_t e0, e1;
  DEFTNN_CUDA_CHECK(cudaEventCreate(&e0));
  DEFTNN_CUDA_CHECK(cudaEventCreate(&e1));
  f();
  std::vector<float> t;
  for (int i = 0; i < 7; ++i) {
    DEFTNN_CUDA_CHECK(cudaEventRecord(e0, s));
    f();
    DEFTNN_CUDA_CHECK(cudaEventRecord(e1, s));
    DEFTNN_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    DEFTNN_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::nth_element(t.begin(), t.begin() + 3, t.end());
  return t[3];
}
#endif

}  // namespace

std::vector<MixedDecision> mixed_decisions(const Context& ctx) {
  std::vector<MixedDecision> v;
  if (auto* s = static_cast<const MixedState*>(ctx.backend_state(Context::StateSlot::Mixed)))
    for (const auto& [k, d] : s->decisions) v.push_back(d);
  return v;
}

void mixed_backend_gemm(Context& ctx, const GemmArgs& a, const GemmPlan& plan) {
  if (a.M == 0 || a.N == 0) return;
  DEFTNN_CHECK(!a.trans_a, "GEMM mixed: the weight A must be stored (M, K) (trans_a is not supported)");
  MixedMatrix local;
  const MixedMatrix* m = a.mixed_a;
  if (m)
    DEFTNN_CHECK(m->format == plan.weights && m->rows == a.M && m->cols == a.K,
                 "GEMM mixed: packed A ({} {}x{}) does not match the call ({} {}x{})", m->format.name(), m->rows,
                 m->cols, plan.weights.name(), a.M, a.K);
  else
    local = make_mixed_matrix(ctx, a.A, a.M, a.K, a.lda, plan.weights), m = &local;
  if (plan.backend == GemmBackend::CpuMixed) return cpu_mixed_gemm(ctx, a, *m);
#ifdef DEFTNN_WITH_CUDA
  DEFTNN_CHECK(a.trans_b && a.trans_c && a.alpha == 1.f,
               "GEMM mixed on CUDA runs the linear layer's layout, Y (N, M) = X (N, K) W^T (trans_b, trans_c, "
               "alpha 1); got trans_b {}, trans_c {}, alpha {}",
               a.trans_b, a.trans_c, a.alpha);
  MixedState& st = mixed_state(ctx);
  MixedChoice choice = plan.mixed_choice;
  if (a.beta != 0.f) choice = MixedChoice::Dequantized;  // the kernel overwrites C
  if (choice == MixedChoice::Measure) {
    const MixedState::Key key = key_of(a, plan.weights);
    if (auto it = st.decisions.find(key); it != st.decisions.end()) {
      choice = it->second.chosen;
    } else {
      cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
      DEFTNN_CUDA_CHECK(cudaStreamIsCapturing(cudaStream_t(ctx.stream()), &cs));
      if (cs != cudaStreamCaptureStatusNone) {
        choice = a.N <= 64 ? MixedChoice::Kernel : MixedChoice::Dequantized;
      } else {
        MixedDecision d;
        d.M = a.M, d.N = a.N, d.K = a.K, d.format = plan.weights;
        d.kernel_ms = median_ms(ctx, [&] { kernel_path(ctx, a, *m, st); });
        d.dequantized_ms = median_ms(ctx, [&] { dequantized_path(ctx, a, *m); });
        d.chosen = d.kernel_ms <= d.dequantized_ms ? MixedChoice::Kernel : MixedChoice::Dequantized;
        st.decisions.emplace(key, d);
        choice = d.chosen;
      }
    }
  }
  if (choice == MixedChoice::Kernel) kernel_path(ctx, a, *m, st);
  else dequantized_path(ctx, a, *m);
#else
  DEFTNN_FAIL("GEMM backend mixed: {}", cuda_unavailable_reason());
#endif
}

}  // namespace deftnn
