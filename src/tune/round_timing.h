// The optimiser's timing stage: forward passes of the whole net timed through
// the engine's primitive (core/timing.h) with the wall clock around
// synchronised passes (the whole cost of a pass, launches included). Sets of
// configurations are timed in interleaved rounds: each round visits every
// configuration, in alternating order, for `reps` passes after one warm-up
// pass, so that load that comes and goes reaches all of them alike.
#pragma once

#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "core/timing.h"
#include "net/net.h"
#include "tune/options.h"
#include "tune/result.h"

namespace deftnn::tune {

struct RoundTiming {
  int reps = 3;    // passes per configuration and round
  int rounds = 4;  // interleaved rounds (at least one is run)
};
RoundTiming round_timing(const OptimizeOptions& o);  // o.time_reps, o.time_rounds

// The figure of a set of pass times: the fastest on the CPU (other processes
// only ever add time, and the machine may be shared), the median on CUDA.
TimingStatistic forward_statistic(const Context& ctx);

// The forward time of the net in milliseconds: `reps` passes of x after two
// warm-up passes, forward_statistic of them.
double forward_ms(Net& net, Context& ctx, const Tensor& x, int reps);

// The time of each composition (r's options, one per optimised layer), in
// interleaved rounds; the net is left all dense.
std::vector<double> time_choices(Net& net, Context& ctx, const OptimizeResult& r, const Tensor& x,
                                 const std::vector<std::vector<int>>& choices, const RoundTiming& t);

// Every variant alone (the rest dense) and the dense net, in one set of
// rounds: fills time_ms and dense_time_ms of r.options, r.l1_options and
// r.paper_options (a twin shares its variant's time: same shapes).
void time_variants_alone(Net& net, Context& ctx, OptimizeResult& r, const Tensor& x, const RoundTiming& t,
                         const Log& log);

// Every point of r.points in one set of rounds: fills time_ms, and speedup
// against the first point (the dense composition).
void time_points(Net& net, Context& ctx, OptimizeResult& r, const Tensor& x, const RoundTiming& t, const Log& log);

}  // namespace deftnn::tune
