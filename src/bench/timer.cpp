#include "bench/timer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "core/error.h"

#ifdef DEFTNN_WITH_CUDA
#include <cudnn.h>

#include "core/cuda_check.h"
#endif

#ifndef DEFTNN_SOURCE_DIR
#define DEFTNN_SOURCE_DIR ""
#endif
#ifndef DEFTNN_BUILD_COMMIT
#define DEFTNN_BUILD_COMMIT ""
#endif

namespace deftnn::bench {

nlohmann::json to_json(const TimingStats& s, bool with_samples) {
  nlohmann::json j = {{"reps", s.reps},     {"median_ms", s.median_ms}, {"min_ms", s.min_ms},
                      {"p90_ms", s.p90_ms}, {"mean_ms", s.mean_ms},     {"max_ms", s.max_ms}};
  if (with_samples) j["samples_ms"] = s.samples_ms;
  return j;
}

// ---------------------------------------------------------------------------
// L2 flush

L2Flusher::L2Flusher(Context& ctx) : ctx_(ctx) {
  if (!ctx.is_cuda()) return;
#ifdef DEFTNN_WITH_CUDA
  int l2 = 0;
  DEFTNN_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, ctx.device_index()));
  // More than twice the L2 (50 MiB on the H100): at least 2x + 1 MiB, 64 MiB minimum.
  size_t bytes = std::max<size_t>(size_t(l2) * 2 + (1 << 20), size_t(64) << 20);
  buffer_ = Tensor::empty({int64_t(bytes / 4)}, DType::F32, Device::CUDA);
#endif
}

void L2Flusher::flush() {
  if (!buffer_.defined()) return;
#ifdef DEFTNN_WITH_CUDA
  DEFTNN_CUDA_CHECK(cudaMemsetAsync(buffer_.raw(), 0, buffer_.nbytes(), ctx_.stream()));
#endif
}

// ---------------------------------------------------------------------------
// Timing

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

TimingStats time_fn(Context& ctx, const std::function<void()>& fn, const TimerOptions& opt) {
  return time_interleaved(ctx, {fn}, opt).front();
}

std::vector<TimingStats> time_interleaved(Context& ctx, const std::vector<std::function<void()>>& fns,
                                          const TimerOptions& opt) {
  DEFTNN_CHECK(opt.reps > 0 && opt.warmup >= 0, "bad timing options: reps {} warmup {}", opt.reps, opt.warmup);
  std::unique_ptr<L2Flusher> flusher;
  if (opt.flush_l2 && ctx.is_cuda()) flusher = std::make_unique<L2Flusher>(ctx);
  TimingOptions t;
  t.warmup = opt.warmup;
  t.reps = opt.reps;
  t.clock = TimingClock::Events;
  if (flusher) t.before_each = [&] { flusher->flush(); };
  std::vector<TimingStats> out;
  for (auto& s : time_samples(ctx, fns, t)) out.push_back(summarize(std::move(s)));
  return out;
}

SegmentTimer::SegmentTimer(Context& ctx, size_t segments) : ctx_(ctx) {
#ifdef DEFTNN_WITH_CUDA
  if (ctx.is_cuda()) {
    events_.resize(segments + 1, nullptr);
    for (auto& e : events_) {
      cudaEvent_t ev;
      DEFTNN_CUDA_CHECK(cudaEventCreate(&ev));
      e = ev;
    }
    return;
  }
#endif
  host_.resize(segments + 1, 0.0);
}

SegmentTimer::~SegmentTimer() {
#ifdef DEFTNN_WITH_CUDA
  for (void* e : events_)
    if (e) cudaEventDestroy(static_cast<cudaEvent_t>(e));
#endif
}

void SegmentTimer::start() {
#ifdef DEFTNN_WITH_CUDA
  if (!events_.empty()) {
    DEFTNN_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(events_[0]), ctx_.stream()));
    return;
  }
#endif
  host_[0] = now_ms();
}

void SegmentTimer::mark(size_t i) {
#ifdef DEFTNN_WITH_CUDA
  if (!events_.empty()) {
    DEFTNN_CHECK(i + 1 < events_.size(), "segment {} of {}", i, events_.size() - 1);
    DEFTNN_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(events_[i + 1]), ctx_.stream()));
    return;
  }
#endif
  DEFTNN_CHECK(i + 1 < host_.size(), "segment {} of {}", i, host_.size() - 1);
  host_[i + 1] = now_ms();
}

std::vector<double> SegmentTimer::elapsed_ms() {
  std::vector<double> out;
#ifdef DEFTNN_WITH_CUDA
  if (!events_.empty()) {
    DEFTNN_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(events_.back())));
    for (size_t i = 0; i + 1 < events_.size(); ++i) {
      float ms = 0;
      DEFTNN_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(events_[i]),
                                             static_cast<cudaEvent_t>(events_[i + 1])));
      out.push_back(ms);
    }
    return out;
  }
#endif
  for (size_t i = 0; i + 1 < host_.size(); ++i) out.push_back(host_[i + 1] - host_[i]);
  return out;
}

// ---------------------------------------------------------------------------
// CUDA graphs

CudaGraph::CudaGraph(Context& ctx, const std::function<void()>& fn) : ctx_(ctx) {
  DEFTNN_CHECK(ctx.is_cuda(), "CUDA graphs need a CUDA context");
#ifdef DEFTNN_WITH_CUDA
  cudaStream_t s = ctx.stream();
  DEFTNN_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t g = nullptr;
  try {
    fn();
  } catch (...) {
    cudaStreamEndCapture(s, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    throw;
  }
  cudaError_t e = cudaStreamEndCapture(s, &g);
  if (e != cudaSuccess) {
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    DEFTNN_FAIL("CUDA graph capture failed: {} (the captured work synchronised, allocated or used another stream)",
                cudaGetErrorString(e));
  }
  graph_ = g;
  DEFTNN_CUDA_CHECK(cudaGraphGetNodes(g, nullptr, &nodes_));
  cudaGraphExec_t exec = nullptr;
  DEFTNN_CUDA_CHECK(cudaGraphInstantiate(&exec, g, 0));
  exec_ = exec;
#else
  (void)fn;
#endif
}

CudaGraph::~CudaGraph() {
#ifdef DEFTNN_WITH_CUDA
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
#endif
}

void CudaGraph::replay() {
#ifdef DEFTNN_WITH_CUDA
  DEFTNN_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), ctx_.stream()));
#endif
}

// ---------------------------------------------------------------------------
// Input guard

void require_nonzero(const Tensor& t, const Context& ctx, const std::string& what) {
  DEFTNN_CHECK(t.defined() && t.numel() > 0, "{} is empty", what);
  std::vector<float> v = t.to_vector(ctx);
  size_t nonzero = 0;
  for (float x : v) {
    DEFTNN_CHECK(std::isfinite(x), "{} holds a non-finite value ({})", what, x);
    nonzero += x != 0.f;
  }
  DEFTNN_CHECK(nonzero > 0, "{} is all zeros ({} elements): a benchmark must not run on zeros", what, v.size());
}

// ---------------------------------------------------------------------------
// Environment

namespace {

// First line of a shell command's output, trimmed; "" when it fails.
std::string command_line(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return "";
  char buf[512];
  std::string out;
  if (fgets(buf, sizeof buf, p)) out = buf;
  int rc = pclose(p);
  if (rc != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string utc_format(const char* fmt) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

}  // namespace

std::string utc_iso_now() { return utc_format("%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_stamp_now() { return utc_format("%Y%m%dT%H%M%SZ"); }

std::string git_commit() {
  if (const char* env = std::getenv("DEFTNN_COMMIT"); env && *env) return env;
  std::string dir = DEFTNN_SOURCE_DIR;
  if (!dir.empty()) {
    std::string head = command_line("git -C '" + dir + "' rev-parse HEAD");
    if (!head.empty()) {
      bool dirty = command_line("git -C '" + dir + "' status --porcelain --untracked-files=no | head -c1 | wc -c") != "0";
      return dirty ? head + "-dirty" : head;
    }
  }
  std::string built = DEFTNN_BUILD_COMMIT;
  return built.empty() ? "unknown" : built + " (at configure time)";
}

nlohmann::json environment(Context& ctx) {
  nlohmann::json env;
  env["date"] = utc_iso_now();
  env["commit"] = git_commit();
  env["host"] = command_line("hostname");
  env["device_kind"] = device_name(ctx.device());
  env["cpu"] = command_line("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'");
  env["gpu"] = nullptr;
#ifdef DEFTNN_WITH_CUDA
  if (ctx.is_cuda()) {
    int dev = ctx.device_index();
    cudaDeviceProp prop{};
    DEFTNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    nlohmann::json g;
    g["name"] = prop.name;
    g["index"] = dev;
    g["sm_count"] = prop.multiProcessorCount;
    g["compute_capability"] = fmt::format("{}.{}", prop.major, prop.minor);
    g["l2_bytes"] = prop.l2CacheSize;
    g["memory_bytes"] = prop.totalGlobalMem;
    int v = 0;
    cudaDriverGetVersion(&v);
    g["cuda_driver_api"] = fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
    cudaRuntimeGetVersion(&v);
    g["cuda_runtime"] = fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
    int cb = 0;
    if (ctx.cublas() && cublasGetVersion(static_cast<cublasHandle_t>(ctx.cublas()), &cb) == CUBLAS_STATUS_SUCCESS)
      g["cublas"] = fmt::format("{}.{}.{}", cb / 10000, (cb % 10000) / 100, cb % 100);
    size_t dn = cudnnGetVersion();
    g["cudnn"] = fmt::format("{}.{}.{}", dn / 10000, (dn % 10000) / 100, dn % 100);
    // Clocks and driver from nvidia-smi when it is there (null otherwise).
    std::string q = command_line(fmt::format(
        "nvidia-smi -i {} --query-gpu=driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu "
        "--format=csv,noheader,nounits",
        dev));
    g["driver"] = nullptr;
    g["sm_clock_mhz"] = nullptr;
    g["sm_clock_max_mhz"] = nullptr;
    g["mem_clock_mhz"] = nullptr;
    g["power_w"] = nullptr;
    g["temperature_c"] = nullptr;
    if (!q.empty()) {
      std::vector<std::string> f;
      size_t pos = 0;
      while (pos <= q.size()) {
        size_t c = q.find(',', pos);
        if (c == std::string::npos) c = q.size();
        std::string item = q.substr(pos, c - pos);
        item.erase(0, item.find_first_not_of(' '));
        f.push_back(item);
        pos = c + 1;
      }
      auto num = [](const std::string& s) -> nlohmann::json {
        char* end = nullptr;
        double d = std::strtod(s.c_str(), &end);
        return end && end != s.c_str() ? nlohmann::json(d) : nlohmann::json(nullptr);
      };
      if (f.size() >= 6) {
        g["driver"] = f[0];
        g["sm_clock_mhz"] = num(f[1]);
        g["sm_clock_max_mhz"] = num(f[2]);
        g["mem_clock_mhz"] = num(f[3]);
        g["power_w"] = num(f[4]);
        g["temperature_c"] = num(f[5]);
      }
    }
    env["gpu"] = g;
  }
#endif
  return env;
}

}  // namespace deftnn::bench
