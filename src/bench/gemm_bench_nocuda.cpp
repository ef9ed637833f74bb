#include "bench/gemm_bench.h"
#include "bench/gemm_bench_kernels.h"
#include "core/context.h"
#include "core/error.h"

namespace deftnn {
std::vector<std::string> default_gemm_variants() { return {}; }
double peak_dram_bytes_per_s(int) { DEFTNN_FAIL("{}", cuda_unavailable_reason()); }
std::vector<GemmBenchShape> alexnet_gemm_shapes(int) { return {}; }
std::string run_gemm_bench(const GemmBenchOptions&) { DEFTNN_FAIL("bench gemm: {}", cuda_unavailable_reason()); }
double measure_ffma_peak_tflops(Context&) { DEFTNN_FAIL("{}", cuda_unavailable_reason()); }
void launch_ffma_probe(float*, int, void*) { DEFTNN_FAIL("{}", cuda_unavailable_reason()); }
void f32_to_bf16_device(const float*, void*, size_t, void*) { DEFTNN_FAIL("{}", cuda_unavailable_reason()); }
}  // namespace deftnn
