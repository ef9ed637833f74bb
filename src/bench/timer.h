// The benchmarks' timing, built on the engine's primitive (core/timing.h:
// CUDA events on the context's stream, the steady clock on the CPU, warm-up
// apart from timing, statistics of the samples). Added here: flushing the
// device L2 before every repetition (outside the events), capturing a callable
// once into a CUDA graph whose replays are timed (so that launch overhead
// between kernels is not part of the figure), events between the layers of
// one pass, and the record of where and when a measurement was taken.
//
// Statistics are over the repetitions: median (the figure we report), min,
// p90, mean, max, and the raw samples in milliseconds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "core/timing.h"

namespace deftnn::bench {

// {"reps", "median_ms", "min_ms", "p90_ms", "mean_ms", "max_ms", "samples_ms"}.
nlohmann::json to_json(const TimingStats& s, bool with_samples = true);

struct TimerOptions {
  int warmup = 10;
  int reps = 50;
  bool flush_l2 = false;  // flush the L2 before every timed repetition (CUDA only)
};

// Writes a device buffer larger than twice the L2 so that the next kernel finds
// none of its operands in L2. The write is queued on ctx's stream.
class L2Flusher {
 public:
  explicit L2Flusher(Context& ctx);
  void flush();
  size_t bytes() const { return buffer_.nbytes(); }

 private:
  Context& ctx_;
  Tensor buffer_;
};

// Times fn(): warm-up runs, then `reps` timed runs. fn must only queue work on
// ctx's stream (CUDA) or do the work (CPU).
TimingStats time_fn(Context& ctx, const std::function<void()>& fn, const TimerOptions& opt);

// Times several callables side by side: each round runs every callable once, in
// turn, so that clock and thermal drift hit all of them alike. Used for every
// A/B comparison (--compare). Result i belongs to fns[i].
std::vector<TimingStats> time_interleaved(Context& ctx, const std::vector<std::function<void()>>& fns,
                                          const TimerOptions& opt);

// Events around consecutive segments of one run: mark(i) after segment i's work
// is queued. Used for per-layer times inside one forward pass.
class SegmentTimer {
 public:
  SegmentTimer(Context& ctx, size_t segments);
  ~SegmentTimer();
  SegmentTimer(const SegmentTimer&) = delete;
  SegmentTimer& operator=(const SegmentTimer&) = delete;
  void start();
  void mark(size_t i);
  // Waits for the run and returns the time of each segment in milliseconds.
  std::vector<double> elapsed_ms();

 private:
  Context& ctx_;
  std::vector<void*> events_;  // cudaEvent_t; segments + 1 of them on CUDA
  std::vector<double> host_;   // steady_clock stamps (ms) on the CPU
};

// A CUDA graph captured from fn's work on ctx's stream, replayed on it.
class CudaGraph {
 public:
  // Captures fn. Throws deftnn::Error when the work cannot be captured (a
  // synchronisation or allocation inside fn, for example); run fn once before
  // capturing so that lazy allocations are done.
  CudaGraph(Context& ctx, const std::function<void()>& fn);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  void replay();
  size_t nodes() const { return nodes_; }

 private:
  Context& ctx_;
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  size_t nodes_ = 0;
};

// Throws deftnn::Error naming `what` when every element of t is zero (or t
// holds a NaN): benchmarks never run on zeros, which hardware can shortcut.
void require_nonzero(const Tensor& t, const Context& ctx, const std::string& what);

// Where and when a measurement was taken: device, clocks, library versions,
// the deftnn commit and the UTC date. Fields that cannot be read are null.
nlohmann::json environment(Context& ctx);
// The deftnn commit: $DEFTNN_COMMIT, else `git rev-parse HEAD` in the source
// tree (with "-dirty" when it has uncommitted changes), else the commit
// recorded when the build was configured, else "unknown".
std::string git_commit();
// "2026-11-22T17:03:05Z" (now, UTC) and "20261122" / "20261122T170305Z" forms for file names.
std::string utc_iso_now();
std::string utc_stamp_now();

}  // namespace deftnn::bench
