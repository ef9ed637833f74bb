#include "core/timing.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

#ifdef DEFTNN_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace deftnn {

double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = std::clamp(q, 0.0, 1.0) * double(sorted.size() - 1);
  size_t lo = size_t(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double frac = pos - double(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

TimingStats summarize(std::vector<double> samples_ms) {
  TimingStats s;
  s.reps = int(samples_ms.size());
  s.samples_ms = samples_ms;
  if (samples_ms.empty()) return s;
  std::sort(samples_ms.begin(), samples_ms.end());
  s.min_ms = samples_ms.front();
  s.max_ms = samples_ms.back();
  s.median_ms = quantile_sorted(samples_ms, 0.5);
  s.p90_ms = quantile_sorted(samples_ms, 0.9);
  s.mean_ms = std::accumulate(samples_ms.begin(), samples_ms.end(), 0.0) / double(samples_ms.size());
  return s;
}

double statistic_of(const TimingStats& s, TimingStatistic stat) {
  DEFTNN_CHECK(s.reps > 0, "no samples to take the {} of", timing_statistic_name(stat));
  return stat == TimingStatistic::Median ? s.median_ms : s.min_ms;
}

const char* timing_statistic_name(TimingStatistic stat) { return stat == TimingStatistic::Median ? "median" : "min"; }

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One timed run of a callable with the chosen clock.
class OneShot {
 public:
  OneShot(Context& ctx, TimingClock clock) : ctx_(ctx) {
#ifdef DEFTNN_WITH_CUDA
    if (ctx.is_cuda() && clock == TimingClock::Events) {
      DEFTNN_CUDA_CHECK(cudaEventCreate(&start_));
      DEFTNN_CUDA_CHECK(cudaEventCreate(&stop_));
    }
#endif
  }
  ~OneShot() {
#ifdef DEFTNN_WITH_CUDA
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
#endif
  }
  OneShot(const OneShot&) = delete;
  OneShot& operator=(const OneShot&) = delete;

  double run(const std::function<void()>& fn) {
#ifdef DEFTNN_WITH_CUDA
    if (start_) {
      DEFTNN_CUDA_CHECK(cudaEventRecord(start_, ctx_.stream()));
      fn();
      DEFTNN_CUDA_CHECK(cudaEventRecord(stop_, ctx_.stream()));
      DEFTNN_CUDA_CHECK(cudaEventSynchronize(stop_));
      float ms = 0;
      DEFTNN_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      return ms;
    }
#endif
    const double t0 = now_ms();
    fn();
    ctx_.synchronize();
    return now_ms() - t0;
  }

 private:
  Context& ctx_;
#ifdef DEFTNN_WITH_CUDA
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
#endif
};

}  // namespace

std::vector<std::vector<double>> time_samples(Context& ctx, const std::vector<std::function<void()>>& fns,
                                              const TimingOptions& opt) {
  DEFTNN_CHECK(opt.reps > 0 && opt.warmup >= 0, "bad timing options: reps {} warmup {}", opt.reps, opt.warmup);
  for (int w = 0; w < opt.warmup; ++w)
    for (const auto& fn : fns) fn();
  ctx.synchronize();
  OneShot shot(ctx, opt.clock);
  std::vector<std::vector<double>> samples(fns.size());
  for (int r = 0; r < opt.reps; ++r)
    for (size_t i = 0; i < fns.size(); ++i) {
      if (opt.before_each) opt.before_each();
      samples[i].push_back(shot.run(fns[i]));
    }
  return samples;
}

TimingStats time_callable(Context& ctx, const std::function<void()>& fn, const TimingOptions& opt) {
  return summarize(std::move(time_samples(ctx, {fn}, opt).front()));
}

}  // namespace deftnn
