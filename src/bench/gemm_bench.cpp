// `deftnn bench gemm` (see gemm_bench.h). Method: CUDA events around each
// call, warm-up, median of reps (>= 20), operand sets rotated so the bytes
// touched exceed twice the L2, inputs uniform in [-1, 1] (never zero),
// error from 512 sampled outputs against an fp64 dot product of the original
// fp32 inputs (so it includes the format's rounding of both operands).
#include "bench/gemm_bench.h"

#include "core/output_file.h"

#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/context.h"
#include "core/cuda_check.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "core/timing.h"
#include "bench/gemm_bench_kernels.h"
#include "bench/kernel_names.h"
#include "bench/timer.h"
#include "gemm/gemm.h"
#include "gemm/lowp.h"
#include "gemm/mixed/mixed_gemm.h"
#include "gemm/pack.h"
#include "plan/parse.h"

namespace deftnn {

std::vector<std::string> default_gemm_variants() {
  return {"cublas", "cublas-tf32", "cublas-bf16", "lt-bf16", "lt-fp16", "lt-fp8", "fp32", "half", "deft16",
          "deft16q", "deft8e3",    "deft8e4",     "fp8e4m3",        "fp8e5m2",       "offchip-deft16",
          "offchip-deft8e4", "h2", "mix-int8", "mix-fp8", "mix-deft8", "mix-int4", "mix-fp4"};
}

// (is_mix_variant and mix_format_name: gemm_variants.cpp, built without CUDA too)

double peak_dram_bytes_per_s(int dev) {
  int clock_khz = 0, bus_bits = 0;
  DEFTNN_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev));
  DEFTNN_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev));
  return 2.0 * double(clock_khz) * 1e3 * double(bus_bits) / 8.0;  // double data rate
}

std::vector<GemmBenchShape> llm_gemm_shapes(int t) {
  return {{"llama-qkvo", {4096, t, 4096}, t}, {"llama-up", {11008, t, 4096}, t}, {"llama-down", {4096, t, 11008}, t}};
}

std::vector<GemmBenchShape> alexnet_gemm_shapes(int b) {
  // {M, N, K}: W (M, K) x X (K, N), N = output positions x batch.
  return {{"conv1", {96, 3025LL * b, 363}, b},  {"conv2", {128, 729LL * b, 1200}, b},
          {"conv3", {384, 169LL * b, 2304}, b}, {"conv4", {192, 169LL * b, 1728}, b},
          {"conv5", {128, 169LL * b, 1728}, b}, {"fc6", {4096, b, 9216}, b},
          {"fc7", {4096, b, 4096}, b},          {"fc8", {1000, b, 4096}, b}};
}

double measure_ffma_peak_tflops(Context& ctx) {
  int sms = 0;
  DEFTNN_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, ctx.device_index()));
  Tensor out = Tensor::empty({1}, DType::F32, Device::CUDA);
  const int blocks = sms * 8;
  TimingOptions t;
  t.warmup = 3;
  t.reps = 9;
  TimingStats s = time_callable(ctx, [&] { launch_ffma_probe(out.data<float>(), blocks, ctx.stream()); }, t);
  const double flop = double(blocks) * kFfmaProbeThreads * kFfmaProbeFlopPerThread;
  return flop / (s.median_ms * 1e-3) / 1e12;
}

namespace {

struct Operands {
  Tensor A, B, C, Bbf, Abf;  // B (K, N) row-major fp32; bf16 copies for the context row
  PackedMatrix packed;
  ConvertedMatrix converted;  // lt-*: the weight converted once, as the layers keep it
  Tensor Xbf, Ymix;          // mix-: X = B^T (N, K) bf16, Y = C^T (N, M) fp32
  mixed::DeviceWeights mixw;
};

// The engine's tensor-core variants: "lt-bf16" -> bf16, ...; nullopt for any other name.
std::optional<Precision> lt_precision(const std::string& v) {
  if (v == "lt-bf16") return Precision::BF16;
  if (v == "lt-fp16") return Precision::FP16;
  if (v == "lt-fp8") return Precision::FP8E4M3;
  return std::nullopt;
}

// The library kernels one call launches (CUPTI, through the same recorder as
// the network benchmark), joined by " + " (cuBLAS may add a split-K
// reduction); "" without CUPTI or when a profiler holds it.
template <class Fn>
std::string library_kernel_names(Context& ctx, Fn&& fn) {
  std::unique_ptr<bench::KernelNameRecorder> rec;
  if (bench::KernelNameRecorder::available()) {
    try {
      rec = std::make_unique<bench::KernelNameRecorder>(ctx);
    } catch (const Error&) {
      rec.reset();
    }
  }
  fn();
  if (!rec) return "";
  std::string names;
  for (const auto& k : rec->take()) names += (names.empty() ? "" : " + ") + k.name;
  return names;
}

void cublas_bf16(Context& ctx, int64_t M, int64_t N, int64_t K, const void* A, const void* B, float* C) {
  float alpha = 1, beta = 0;
  DEFTNN_CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(N), int(M), int(K), &alpha, B, CUDA_R_16BF,
                                   int(N), A, CUDA_R_16BF, int(K), &beta, C, CUDA_R_32F, int(N), CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
}
}  // namespace

std::string run_gemm_bench(const GemmBenchOptions& opts) {
  auto ctx = Context::cuda();
  cudaDeviceProp prop{};
  DEFTNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, ctx->device_index()));
  const double peak = measure_ffma_peak_tflops(*ctx);
  const double dram_bw = peak_dram_bytes_per_s(ctx->device_index());
  fmt::print("FFMA peak measured: {:.1f} TFLOP/s on {}; DRAM peak {:.2f} TB/s (memory clock x bus width)\n", peak,
             prop.name, dram_bw * 1e-12);
  std::vector<std::string> variants = opts.variants.empty() ? default_gemm_variants() : opts.variants;

  std::vector<GemmBenchShape> shapes = opts.extra;
  if (opts.alexnet)
    for (int b : opts.batches)
      for (auto& s : alexnet_gemm_shapes(b)) shapes.push_back(s);
  for (int t : opts.llm_tokens)
    for (auto& s : llm_gemm_shapes(t)) shapes.push_back(s);

  nlohmann::json J;
  const std::time_t now = std::time(nullptr);
  J["device"] = prop.name;
  J["sms"] = prop.multiProcessorCount;
  J["l2_bytes"] = prop.l2CacheSize;
  J["commit"] = bench::git_commit();
  J["date"] = bench::utc_iso_now();
  J["ffma_peak_tflops"] = peak;
  J["dram_peak_bytes_per_s"] = dram_bw;
  J["method"] = fmt::format(
      "CUDA events per call, {} warm-up, median of {} reps, operand sets rotated over > 2x L2, inputs U[-1,1]; "
      "error: 512 sampled outputs vs fp64 dot products of the fp32 inputs; weights packed offline (not timed); "
      "cublas = cublasGemmEx CUBLAS_COMPUTE_32F (plain fp32 FFMA), bf16 inputs converted before timing; "
      "lt-bf16/lt-fp16/lt-fp8 = the engine's cuBLASLt backend (fp32 accumulate, fp32 C), weight converted before "
      "timing, the fp32 input converted (fp8: amax + scale) inside each timed call; "
      "each call captured in a CUDA graph per operand set and the replays timed (\"timing\": \"graph\"; "
      "\"direct\" where capture failed); mix-*: X (N, K) bf16, W packed in the mixed format, Y fp32; "
      "pct_hbm_roofline = (weight bytes incl. scales + activation bytes + output bytes) / time / DRAM peak",
      opts.warmup, opts.reps);
  J["results"] = nlohmann::json::array();
  int failed = 0;
  const int reps = std::max(20, opts.reps);

  for (const GemmBenchShape& b : shapes) {
    const GemmShape& s = b.gemm;
    const size_t nA = size_t(s.M * s.K), nB = size_t(s.K * s.N), nC = size_t(s.M * s.N);
    const size_t set_bytes = (nA + nB + nC) * 4;
    int sets = int(std::min<size_t>(64, std::max<size_t>(2, 2 * size_t(prop.l2CacheSize) / std::max<size_t>(set_bytes, 1) + 2)));
    // host inputs (set 0), copied to every set
    Rng rng(uint64_t(s.M * 1315423911ull + s.N * 2654435761ull + s.K));
    std::vector<float> hA(nA), hB(nB);
    for (auto& x : hA) x = rng.uniform(-1.f, 1.f);
    for (auto& x : hB) x = rng.uniform(-1.f, 1.f);
    std::vector<Operands> ops(static_cast<size_t>(sets));
    Tensor a0 = Tensor::from_vector({s.M, s.K}, hA).to(Device::CUDA, *ctx);
    Tensor b0 = Tensor::from_vector({s.K, s.N}, hB).to(Device::CUDA, *ctx);
    for (auto& o : ops) {
      o.A = a0.to(Device::CUDA, *ctx);
      o.B = b0.to(Device::CUDA, *ctx);
      o.C = Tensor::empty({s.M, s.N}, DType::F32, Device::CUDA);
    }
    // sampled outputs and their fp64 references
    std::vector<std::pair<int64_t, int64_t>> samples;
    std::vector<double> ref;
    double ref_rms = 0;
    for (int i = 0; i < 512; ++i) {
      int64_t m = int64_t(rng.below(uint64_t(s.M))), n = int64_t(rng.below(uint64_t(s.N)));
      double acc = 0;
      for (int64_t k = 0; k < s.K; ++k) acc += double(hA[size_t(m * s.K + k)]) * double(hB[size_t(k * s.N + n)]);
      samples.push_back({m, n});
      ref.push_back(acc);
      ref_rms += acc * acc;
    }
    ref_rms = std::sqrt(ref_rms / double(ref.size()));
    const double flop = 2.0 * double(s.M) * double(s.N) * double(s.K);
    double cublas_ms = 0, cublas_bf16_ms = 0;

    for (const std::string& v : variants) {
      // A variant that fails (a library refusing a shape) is recorded with
      // its error and the others still run.
      try {
        GemmConfig cfg;
        bool bf16 = false;
        const bool mix = is_mix_variant(v);
        if (mix && s.N > kMixMaxTokens) {
          fmt::print("{:6s} b={:<4d} {:16s} skipped: {} tokens > {}\n", b.name, b.batch, v, s.N, kMixMaxTokens);
          continue;
        }
        mixed::WeightFormat mixf;
        if (mix) mixf = mixed::WeightFormat::parse(mix_format_name(v));
        if (mix || v == "cublas") cfg.kernel = KernelFamily::Cublas;
        else if (v == "cublas-tf32") cfg.kernel = KernelFamily::Cublas, cfg.precision = Precision::TF32;
        else if (v == "cublas-bf16") bf16 = true;
        else if (auto lp = lt_precision(v)) cfg.kernel = KernelFamily::Cublas, cfg.precision = *lp;
        else if (v == "h2") cfg = {KernelFamily::Fission, {FormatKind::Half}, FissionPlacement::Compute16};
        else if (v.rfind("offchip-", 0) == 0)
          cfg = {KernelFamily::Fission, plan::parse_format(v.substr(8)), FissionPlacement::OffChip};
        else cfg = {KernelFamily::Fission, plan::parse_format(v), FissionPlacement::OnChip};
        const bool fission = cfg.kernel == KernelFamily::Fission;
        const bool lt = is_lowp_precision(cfg.precision);
        // preparation, not timed: packing or converting weights, bf16 conversion
        // (lt-*: the input is converted inside each timed call, as in a layer)
        // preparation, not timed: packing weights, bf16 conversion
        size_t nsets = ops.size();
        if (mix) {
          const mixed::PackedWeights pw = mixed::pack_weights(hA.data(), s.M, s.K, mixf);
          // the mixed weights are smaller: enough sets of their own to exceed 2x L2
          const size_t mix_set = pw.bytes.size() + pw.scales.size() * 4 + size_t(s.N * s.K * 2 + s.N * s.M * 4);
          nsets = std::min<size_t>(64, std::max<size_t>(2, 2 * size_t(prop.l2CacheSize) / std::max<size_t>(mix_set, 1) + 2));
          ops.resize(std::max(ops.size(), nsets));
          std::vector<float> xt(size_t(s.N * s.K));
          for (int64_t k = 0; k < s.K; ++k)
            for (int64_t n = 0; n < s.N; ++n) xt[size_t(n * s.K + k)] = hB[size_t(k * s.N + n)];
          const std::vector<uint16_t> xb = mixed::to_bf16(xt);
          Tensor xh = Tensor::empty({s.N, s.K}, DType::BF16, Device::CPU);
          std::memcpy(xh.raw(), xb.data(), xb.size() * 2);
          for (size_t i = 0; i < nsets; ++i) {
            Operands& o = ops[i];
            o.mixw = mixed::upload(pw, *ctx);
            o.Xbf = xh.to(Device::CUDA, *ctx);
            o.Ymix = Tensor::empty({s.N, s.M}, DType::F32, Device::CUDA);
          }
        }
        for (auto& o : ops) {
          if (mix) break;
          if (fission) o.packed = pack_matrix(*ctx, o.A, cfg.format, cfg.placement);
          if (lt) o.converted = convert_matrix(*ctx, o.A, cfg.precision);
          if (bf16) {
            o.Abf = Tensor::empty({s.M, s.K}, DType::BF16, Device::CUDA);
            o.Bbf = Tensor::empty({s.K, s.N}, DType::BF16, Device::CUDA);
            f32_to_bf16_device(o.A.data<float>(), o.Abf.raw(), nA, ctx->stream());
            f32_to_bf16_device(o.B.data<float>(), o.Bbf.raw(), nB, ctx->stream());
          }
        }
        std::vector<GemmArgs> args(ops.size());
        for (size_t i = 0; !mix && i < ops.size(); ++i) {
          GemmArgs& g = args[i];
          g.M = s.M, g.N = s.N, g.K = s.K;
          g.A = ops[i].A.data<float>(), g.B = ops[i].B.data<float>(), g.C = ops[i].C.data<float>();
          if (fission) g.packed_a = &ops[i].packed;
          if (lt) g.converted_a = &ops[i].converted;
        }
        std::vector<mixed::MixedGemmArgs> margs(nsets);
        mixed::MixedWorkspace mixws;  // serial split-K: one launch, no zeroing of Y (shared by the sets: one stream)
        for (size_t i = 0; mix && i < nsets; ++i) {
          mixed::MixedGemmArgs& g = margs[i];
          g.M = s.N, g.X = ops[i].Xbf.raw(), g.W = &ops[i].mixw, g.Y = ops[i].Ymix.data<float>();
          if (i == 0) mixws = mixed::make_mixed_workspace(*ctx, g);
          g.workspace = &mixws;
        }
        auto call = [&](size_t i) {
          if (bf16) cublas_bf16(*ctx, s.M, s.N, s.K, ops[i].Abf.raw(), ops[i].Bbf.raw(), ops[i].C.data<float>());
          else if (mix) mixed::mixed_gemm(*ctx, margs[i]);
          else gemm(*ctx, args[i], cfg);
        };
        // poison outputs, then one checked call
        for (size_t i = 0; i < nsets; ++i) (mix ? ops[i].Ymix : ops[i].C).fill_(std::nanf(""), *ctx);
        std::string kname;
        if ((cfg.kernel == KernelFamily::Cublas && !mix) || bf16)
          kname = library_kernel_names(*ctx, [&] { call(0); });
        else
          call(0);
        ctx->synchronize();
        std::vector<float> C0 = (mix ? ops[0].Ymix : ops[0].C).to_vector(*ctx);
        double max_abs = 0, sq = 0;
        size_t nonfinite = 0;
        for (size_t i = 0; i < samples.size(); ++i) {
          // mix- writes Y = C^T (tokens, N_out)
          double got = mix ? C0[size_t(samples[i].second * s.M + samples[i].first)]
                           : C0[size_t(samples[i].first * s.N + samples[i].second)];
          if (!std::isfinite(got)) ++nonfinite;
          double e = std::fabs(got - ref[i]);
          max_abs = std::max(max_abs, e);
          sq += e * e;
        }
        // Operand sets rotated call by call (warm-up included) over more than 2x L2.
        // One CUDA graph per operand set (launch overhead between calls is not
        // timed); the call itself where capture fails.
        std::vector<std::unique_ptr<bench::CudaGraph>> graphs;
        try {
          for (size_t i = 0; i < nsets; ++i) {
            call(i);  // lazy allocations before the capture
            graphs.push_back(std::make_unique<bench::CudaGraph>(*ctx, [&, i] { call(i); }));
          }
        } catch (const Error&) {
          graphs.clear();
        }
        ctx->synchronize();
        size_t next = 0;
        TimingOptions t;
        t.warmup = opts.warmup;
        t.reps = reps;
        const TimingStats ts = time_callable(*ctx, [&] {
          const size_t i = next++ % nsets;
          if (graphs.empty()) call(i);
          else graphs[i]->replay();
        }, t);
        const double med = ts.median_ms;
        if (v == "cublas") cublas_ms = med;
        if (v == "cublas-bf16") cublas_bf16_ms = med;
        // bytes the call must move at least: weights (with scales), activations, output
        int weight_bits = 32, act_bytes = 4;
        int64_t wbytes = 0;
        if (mix) {
          weight_bits = mixf.bits(), act_bytes = 2;
          wbytes = int64_t(ops[0].mixw.bytes.nbytes() + ops[0].mixw.scales.nbytes());
        } else {
          if (bf16) weight_bits = 16, act_bytes = 2;
          else if (lt) weight_bits = cfg.precision == Precision::FP8E4M3 ? 8 : 16;  // the input converted per call from fp32
          else if (fission) weight_bits = cfg.format.bits();
          wbytes = s.M * s.K * weight_bits / 8;
        }
        const int64_t bytes = wbytes + s.K * s.N * act_bytes + s.M * s.N * 4;
        double tf = flop / (med * 1e-3) / 1e12;
        nlohmann::json r = {{"shape", b.name},
                            {"batch", b.batch},
                            {"M", s.M},
                            {"N", s.N},
                            {"K", s.K},
                            {"variant", v},
                            {"ms", med},
                            {"ms_min", ts.min_ms},
                            {"tflops", tf},
                            {"pct_of_ffma_peak", 100.0 * tf / peak},
                            {"speedup_vs_cublas", cublas_ms > 0 ? cublas_ms / med : 0.0},
                            {"speedup_vs_cublas_bf16", cublas_bf16_ms > 0 ? cublas_bf16_ms / med : 0.0},
                            {"err_max_abs", max_abs},
                            {"err_rel_rms", std::sqrt(sq / double(samples.size())) / std::max(ref_rms, 1e-30)},
                            {"nonfinite", nonfinite},
                            {"operand_sets", nsets},
                            {"timing", graphs.empty() ? "direct" : "graph"},
                            {"weight_bits", weight_bits},
                            {"bytes", bytes},
                            {"pct_hbm_roofline", 100.0 * double(bytes) / (med * 1e-3) / dram_bw}};
        if (mix) r["splits"] = mixed::mixed_gemm_splits(margs[0]), r["weight_format"] = mixf.name();
        if (!kname.empty()) r["kernel"] = kname;
        J["results"].push_back(r);
        fmt::print("{:6s} b={:<4d} M={:<5d} N={:<7d} K={:<5d} {:16s} {:8.4f} ms {:6.1f} TFLOP/s {:5.1f}% x{:.2f} "
                   "(bf16 x{:.2f}) {:5.1f}% HBM err {:.2e}{}\n",
                   b.name, b.batch, s.M, s.N, s.K, v, med, tf, 100 * tf / peak, cublas_ms > 0 ? cublas_ms / med : 0.0,
                   cublas_bf16_ms > 0 ? cublas_bf16_ms / med : 0.0, 100.0 * double(bytes) / (med * 1e-3) / dram_bw,
                   std::sqrt(sq / double(samples.size())) / std::max(ref_rms, 1e-30), kname.empty() ? "" : "  " + kname);
        std::fflush(stdout);
        graphs.clear();
        if (mix) ops.resize(size_t(sets));  // the mixed sets' memory goes back
      } catch (const Error& e) {
        ctx->synchronize();
        ops.resize(size_t(sets));
        fmt::print("{:6s} b={:<4d} M={:<5d} N={:<7d} K={:<5d} {:16s} failed: {}\n", b.name, b.batch, s.M, s.N, s.K, v,
                   e.what());
        J["results"].push_back({{"shape", b.name}, {"batch", b.batch}, {"M", s.M}, {"N", s.N}, {"K", s.K},
                                {"variant", v}, {"error", e.what()}});
        ++failed;
      }
    }
  }
  std::string path = opts.out;
  if (path.empty()) {
    char d[16];
    std::strftime(d, sizeof d, "%Y%m%d-%H%M", std::gmtime(&now));
    path = std::string("bench/results/gemm-") + d + ".json";
  }
  std::filesystem::path p(path);
  if (p.has_parent_path()) check_writable_folder(p.parent_path().string());
  write_text_atomic(path, J.dump(1) + "\n");
  fmt::print("wrote {}{}\n", path, failed ? fmt::format(" ({} variant runs failed)", failed) : "");
  return path;
}

}  // namespace deftnn
