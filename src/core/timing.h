// The one timing primitive: a callable run for warm-up and timed
// repetitions on a Context, and the statistics of the samples. The optimiser
// (engine code) and the benchmarks (src/bench, which adds L2 flushing, CUDA
// graphs and per-layer events on top) both time through it.
//
// Clocks. Events: CUDA events recorded on the context's stream around each
// repetition (nothing else queued between them); on a CPU context the steady
// clock around the call and a synchronisation. Wall: the steady clock around
// the call and a synchronisation, on either device (the whole host-side cost
// of a pass, launches included).
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "core/context.h"

namespace deftnn {

struct TimingStats {
  int reps = 0;
  double median_ms = 0, min_ms = 0, p90_ms = 0, mean_ms = 0, max_ms = 0;
  std::vector<double> samples_ms;  // in the order they were taken
};

// Statistics of samples (milliseconds). Percentiles interpolate linearly
// between order statistics (numpy's default): the median of an even count is
// the mean of the two middle samples. An empty vector gives all zeros.
TimingStats summarize(std::vector<double> samples_ms);
// The q-quantile (0 <= q <= 1) of sorted samples, interpolated as above.
double quantile_sorted(const std::vector<double>& sorted, double q);

enum class TimingClock { Events, Wall };

// The figure one time stands for: the median, or the fastest sample (where
// other processes only ever add time, e.g. a shared CPU).
enum class TimingStatistic { Median, Min };
double statistic_of(const TimingStats& s, TimingStatistic stat);
const char* timing_statistic_name(TimingStatistic stat);  // "median" | "min"

struct TimingOptions {
  int warmup = 10;  // untimed runs of every callable first
  int reps = 50;    // timed rounds
  TimingClock clock = TimingClock::Events;
  std::function<void()> before_each;  // untimed work queued before every timed run (an L2 flush); may be empty
};

// Times callables side by side: `warmup` rounds, then `reps` timed rounds,
// each round running every callable once, in turn, so that clock and thermal
// drift reach all of them alike. A callable only queues work on ctx's stream
// (CUDA) or does the work (CPU). Returns, per callable, its samples in
// milliseconds, in the order taken.
std::vector<std::vector<double>> time_samples(Context& ctx, const std::vector<std::function<void()>>& fns,
                                              const TimingOptions& opt);
// One callable: its samples' statistics.
TimingStats time_callable(Context& ctx, const std::function<void()>& fn, const TimingOptions& opt);

// Seconds since construction (steady clock): how long a stage took.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace deftnn
