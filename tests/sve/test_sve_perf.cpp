// Timing of the SVE input transforms against the GEMM they feed, on the
// paper's AlexNet shapes at batch 128 and 50% density. Disabled by default (a
// measurement, not a check); run on the GPU machine with
//   deftnn_tests --gtest_also_run_disabled_tests --gtest_filter='SvePerf.*'
// Prints one JSON object per shape: median milliseconds over 20 runs after
// warm-up, timed with CUDA events.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "gemm/gemm.h"
#include "sve/correlation.h"
#include "synapse/input_transform.h"
#include "sve/search.h"
#include "sve/plan.h"
#include "test_util.h"

#ifdef DEFTNN_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace deftnn::test {
namespace {

#ifdef DEFTNN_WITH_CUDA
template <class F>
double median_ms(Context& ctx, F&& f, int reps = 20) {
  for (int i = 0; i < 3; ++i) f();
  cudaStream_t s = reinterpret_cast<cudaStream_t>(ctx.stream());
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(a, s);
    f();
    cudaEventRecord(b, s);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

Tensor ints_on(Context& ctx, const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::I32);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(int32_t));
  return t.to(ctx.device(), ctx);
}
#endif

TEST(SvePerf, DISABLED_TransformsAgainstGemmAlexNet) {
  DEFTNN_REQUIRE_GPU();
#ifdef DEFTNN_WITH_CUDA
  auto ctx = Context::cuda();
  struct L {
    const char* name;
    int64_t M, K, N;
    bool linear;  // input (N, K): the column transforms
  };
  const L layers[] = {{"conv1", 96, 363, 387200, false},  {"conv2", 128, 1200, 93312, false},
                      {"conv3", 384, 2304, 21632, false}, {"conv4", 192, 1728, 21632, false},
                      {"conv5", 128, 1728, 21632, false}, {"fc6", 4096, 9216, 128, true},
                      {"fc7", 4096, 4096, 128, true},     {"fc8", 1000, 4096, 128, true}};
  Rng rng(1);
  for (const L& l : layers) {
    std::vector<int32_t> kept;
    for (int32_t k = 0; k < l.K; ++k)
      if (rng.uniform() < 0.5) kept.push_back(k);
    auto p = sve::make_plan(l.K, kept);
    const int64_t Kp = p.kept_k();
    Tensor w = Tensor::empty({l.M, l.K}, DType::F32, Device::CUDA), wp = Tensor::empty({l.M, Kp}, DType::F32, Device::CUDA);
    Tensor x = Tensor::empty({l.K * l.N}, DType::F32, Device::CUDA), xk = Tensor::empty({Kp * l.N}, DType::F32, Device::CUDA);
    Tensor y = Tensor::empty({l.M * l.N}, DType::F32, Device::CUDA);
    w.fill_(0.01f, *ctx), wp.fill_(0.01f, *ctx), x.fill_(0.5f, *ctx), xk.fill_(0.5f, *ctx);
    Tensor kd = ints_on(*ctx, p.kept), pd = ints_on(*ctx, sve::flatten_pairs(p.swaps));
    auto run_gemm = [&](const Tensor& a, int64_t K, const Tensor& b) {
      GemmArgs g;
      g.M = l.M, g.N = l.N, g.K = K, g.A = a.data<float>(), g.B = b.data<float>(), g.C = y.data<float>();
      if (l.linear) g.trans_b = true, g.trans_c = true;  // X (N, K), Y (N, M)
      gemm(*ctx, g, {KernelFamily::Cublas});
    };
    double dense = median_ms(*ctx, [&] { run_gemm(w, l.K, x); });
    double small = median_ms(*ctx, [&] { run_gemm(wp, Kp, xk); });
    double copy, swap;
    if (l.linear) {
      copy = median_ms(*ctx, [&] { sve::copy_cols(*ctx, x.data<float>(), l.N, l.K, kd.data<int32_t>(), Kp, xk.data<float>(), Kp); });
      swap = median_ms(*ctx, [&] { sve::swap_cols(*ctx, x.data<float>(), l.N, l.K, pd.data<int32_t>(), int64_t(p.swaps.size())); });
    } else {
      copy = median_ms(*ctx, [&] { sve::copy_rows(*ctx, x.data<float>(), l.N, l.N, kd.data<int32_t>(), Kp, xk.data<float>(), l.N); });
      swap = median_ms(*ctx, [&] { sve::swap_rows(*ctx, x.data<float>(), l.N, l.N, pd.data<int32_t>(), int64_t(p.swaps.size())); });
    }
    double copy_gbs = 2.0 * double(Kp * l.N) * 4 / (copy * 1e6);
    std::printf(
        "{\"layer\": \"%s\", \"M\": %ld, \"K\": %ld, \"N\": %ld, \"kept\": %ld, \"swaps\": %zu, \"gemm_dense_ms\": %.4f, "
        "\"gemm_kept_ms\": %.4f, \"copy_ms\": %.4f, \"swap_ms\": %.4f, \"copy_GBps\": %.0f, "
        "\"copy_share\": %.3f, \"swap_share\": %.3f, \"speedup_copy\": %.2f, \"speedup_swap\": %.2f}\n",
        l.name, long(l.M), long(l.K), long(l.N), long(Kp), p.swaps.size(), dense, small, copy, swap, copy_gbs,
        copy / (copy + small), swap / (swap + small), dense / (copy + small), dense / (swap + small));
  }
#endif
}

TEST(SvePerf, DISABLED_SearchOnFc6) {
  // Correlation of CaffeNet fc6's weight (4096, 9216) on the GPU, then the
  // keep-count search for 50% on the CPU: the cost of optimising the largest layer.
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Tensor w = random_tensor({4096, 9216}, 3);
  auto t0 = std::chrono::steady_clock::now();
  Tensor rho = sve::correlation_matrix(*ctx, w).to(Device::CPU, *ctx);
  auto t1 = std::chrono::steady_clock::now();
  auto r = sve::search_keep_count(rho, 4608, {});
  auto t2 = std::chrono::steady_clock::now();
  std::printf("{\"what\": \"fc6 search\", \"correlation_s\": %.3f, \"keep_count_search_s\": %.3f, \"alpha\": %.5f, \"kept_by_search\": %ld, \"added\": %ld}\n",
              std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(), r.alpha,
              long(r.kept_by_search), long(r.added_by_rounding));
}

}  // namespace
}  // namespace deftnn::test
