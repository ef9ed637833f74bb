// Measuring the roofline ceilings (ceilings.h). Host side: buffers, cuBLAS and
// cuBLASLt calls, timing through bench/timer.h; kernels in ceilings.cu.
#include "bench/ceilings.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "bench/ceilings_kernels.h"
#include "bench/gemm_bench.h"
#include "bench/timer.h"
#include "core/context.h"
#include "core/cuda_check.h"
#include "core/error.h"

namespace deftnn::bench {

namespace {

// A device allocation freed on every path (the measurement throws on errors).
struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(size_t bytes) { DEFTNN_CUDA_CHECK(cudaMalloc(&p, bytes)); }
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

TimerOptions timer_of(const CeilingOptions& o) { return TimerOptions{o.warmup, o.reps, false}; }

void measure_hbm(Context& ctx, const CeilingOptions& o, Ceilings& c) {
  int dev = ctx.device_index(), l2 = 0, sms = 0;
  DEFTNN_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
  DEFTNN_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  c.dram_theoretical_bytes_per_s = peak_dram_bytes_per_s(dev);
  // Each half at least 4 x L2 and 256 MiB (by default): the copy reads one
  // half and writes the other, the read kernel reads both, and none of it
  // stays in L2.
  const size_t half =
      std::max<size_t>(size_t(std::max(o.hbm_l2_multiple, 1)) * size_t(std::max(l2, 0)), o.hbm_min_half_bytes) / 256 * 256;
  DEFTNN_CHECK(half > 0, "the HBM ceiling's buffer is empty (L2 {} bytes, minimum {})", l2, o.hbm_min_half_bytes);
  c.hbm_buffer_bytes = 2 * half;
  DeviceBuffer buf(2 * half), out(sizeof(float));
  char* base = static_cast<char*>(buf.p);
  fill_uniform(buf.p, 2 * half / sizeof(float), FillType::F32, 7, ctx.stream());
  const TimerOptions t = timer_of(o);
  const TimingStats copy = time_fn(
      ctx, [&] { DEFTNN_CUDA_CHECK(cudaMemcpyAsync(base + half, base, half, cudaMemcpyDeviceToDevice, ctx.stream())); }, t);
  c.hbm_copy_bytes_per_s = 2.0 * double(half) / (copy.median_ms * 1e-3);
  const TimingStats read = time_fn(
      ctx, [&] { launch_hbm_read(buf.p, 2 * half / 16, static_cast<float*>(out.p), sms * 8, ctx.stream()); }, t);
  c.hbm_read_bytes_per_s = 2.0 * double(half) / (read.median_ms * 1e-3);
}

double gemm_flop(int64_t n) { return 2.0 * double(n) * double(n) * double(n); }

// cuBLAS: fp32 with the context's handle (math mode pinned to plain fp32, the
// baseline's), then TF32 through the compute type.
void measure_cublas(Context& ctx, const CeilingOptions& o, Ceilings& c) {
  const int n = int(o.gemm_n);
  const size_t elems = size_t(n) * size_t(n);
  DeviceBuffer A(elems * 4), B(elems * 4), C(elems * 4);
  fill_uniform(A.p, elems, FillType::F32, 1, ctx.stream());
  fill_uniform(B.p, elems, FillType::F32, 2, ctx.stream());
  const float alpha = 1, beta = 0;
  auto run = [&](cublasComputeType_t compute) {
    DEFTNN_CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, A.p, CUDA_R_32F, n, B.p,
                                     CUDA_R_32F, n, &beta, C.p, CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT));
  };
  const TimerOptions t = timer_of(o);
  c.fp32_flops = gemm_flop(n) / (time_fn(ctx, [&] { run(CUBLAS_COMPUTE_32F); }, t).median_ms * 1e-3);
  c.tf32_flops = gemm_flop(n) / (time_fn(ctx, [&] { run(CUBLAS_COMPUTE_32F_FAST_TF32); }, t).median_ms * 1e-3);
}

// cuBLASLt's TN product D (n, n) fp32 = A^T B with A, B (k = n, n) of `type`,
// fp32 accumulation: the form the engine's cuBLASLt backend runs (and the one
// its fp8 kernels take). fp8 gets unit scales through the scale pointers.
struct LtResources {
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtResources() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (handle) cublasLtDestroy(handle);
  }
};

double measure_lt(Context& ctx, const CeilingOptions& o, cudaDataType_t type, FillType fill, size_t elem_bytes) {
  const int64_t n = o.gemm_n;
  const size_t elems = size_t(n) * size_t(n);
  constexpr size_t kWorkspace = size_t(32) << 20;  // as the engine's backend (NVIDIA's figure for Hopper)
  DeviceBuffer A(elems * elem_bytes), B(elems * elem_bytes), D(elems * 4), ws(kWorkspace), scale(sizeof(float));
  fill_uniform(A.p, elems, fill, 3, ctx.stream());
  fill_uniform(B.p, elems, fill, 4, ctx.stream());
  const float one = 1.f, zero = 0.f;
  DEFTNN_CUDA_CHECK(cudaMemcpyAsync(scale.p, &one, sizeof one, cudaMemcpyHostToDevice, ctx.stream()));
  DEFTNN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));  // `one` is a host stack value
  LtResources r;
  DEFTNN_CUBLAS_CHECK(cublasLtCreate(&r.handle));
  DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&r.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(r.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
  DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(r.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
  if (type == CUDA_R_8F_E4M3) {
    const void* sp = scale.p;
    DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(r.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sp, sizeof sp));
    DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(r.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sp, sizeof sp));
  }
  DEFTNN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&r.a, type, uint64_t(n), uint64_t(n), n));
  DEFTNN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&r.b, type, uint64_t(n), uint64_t(n), n));
  DEFTNN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&r.d, CUDA_R_32F, uint64_t(n), uint64_t(n), n));
  DEFTNN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&r.pref));
  const size_t wsb = kWorkspace;
  DEFTNN_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(r.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb));
  cublasLtMatmulHeuristicResult_t res{};
  int found = 0;
  DEFTNN_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(r.handle, r.desc, r.a, r.b, r.d, r.d, r.pref, 1, &res, &found));
  DEFTNN_CHECK(found > 0 && res.state == CUBLAS_STATUS_SUCCESS, "cuBLASLt has no kernel for the {}^3 ceiling GEMM", n);
  auto run = [&] {
    DEFTNN_CUBLAS_CHECK(cublasLtMatmul(r.handle, r.desc, &one, A.p, r.a, B.p, r.b, &zero, D.p, r.d, D.p, r.d, &res.algo,
                                       ws.p, kWorkspace, ctx.stream()));
  };
  const double ms = time_fn(ctx, run, timer_of(o)).median_ms;
  return gemm_flop(n) / (ms * 1e-3);
}

// One empty kernel per "layer", an event between consecutive layers, as
// bench_net times layers (SegmentTimer): the median segment is the least a
// layer of one kernel can measure.
double measure_launch_floor(Context& ctx, const CeilingOptions& o) {
  const size_t segs = size_t(std::max(o.launch_segments, 1));
  SegmentTimer timer(ctx, segs);
  std::vector<double> samples;
  for (int r = 0; r < o.launch_reps + o.warmup; ++r) {
    timer.start();
    for (size_t i = 0; i < segs; ++i) {
      launch_empty_kernel(ctx.stream());
      timer.mark(i);
    }
    const std::vector<double> ms = timer.elapsed_ms();
    if (r >= o.warmup) samples.insert(samples.end(), ms.begin(), ms.end());
  }
  return summarize(std::move(samples)).median_ms;
}

}  // namespace

Ceilings measure_ceilings(Context& ctx, const CeilingOptions& o) {
  DEFTNN_CHECK(ctx.is_cuda(), "the roofline ceilings are measured on a GPU: {}", cuda_unavailable_reason());
  DEFTNN_CHECK(o.gemm_n >= 256 && o.reps > 0, "ceiling GEMM n {} (>= 256) and reps {} (> 0)", o.gemm_n, o.reps);
  Ceilings c;
  c.gemm_n = o.gemm_n;
  measure_hbm(ctx, o, c);
  measure_cublas(ctx, o, c);
  c.ffma_probe_flops = measure_ffma_peak_tflops(ctx) * 1e12;
  c.bf16_flops = measure_lt(ctx, o, CUDA_R_16BF, FillType::BF16, 2);
  c.fp16_flops = measure_lt(ctx, o, CUDA_R_16F, FillType::F16, 2);
  try {
    c.fp8_flops = measure_lt(ctx, o, CUDA_R_8F_E4M3, FillType::FP8E4M3, 1);
  } catch (const Error& e) {  // no fp8 tensor cores (before sm_89): the other ceilings still hold
    c.fp8_error = e.what();
    c.fp8_flops = 0;
  }
  c.launch_floor_ms = measure_launch_floor(ctx, o);
  return c;
}

}  // namespace deftnn::bench
