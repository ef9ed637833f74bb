#include "tune/round_timing.h"

#include <algorithm>
#include <fmt/format.h>

namespace deftnn::tune {

RoundTiming round_timing(const OptimizeOptions& o) { return {o.time_reps, o.time_rounds}; }

TimingStatistic forward_statistic(const Context& ctx) {
  return ctx.is_cuda() ? TimingStatistic::Median : TimingStatistic::Min;
}

namespace {

std::vector<double> forward_samples(Net& net, Context& ctx, const Tensor& x, int reps, int warmup) {
  TimingOptions t;
  t.warmup = warmup;
  t.reps = reps;
  t.clock = TimingClock::Wall;
  return time_samples(ctx, {[&] { net.forward(ctx, x, false); }}, t).front();
}

double figure(const Context& ctx, std::vector<double> samples) {
  return statistic_of(summarize(std::move(samples)), forward_statistic(ctx));
}

}  // namespace

double forward_ms(Net& net, Context& ctx, const Tensor& x, int reps) {
  return figure(ctx, forward_samples(net, ctx, x, reps, 2));
}

std::vector<double> time_choices(Net& net, Context& ctx, const OptimizeResult& r, const Tensor& x,
                                 const std::vector<std::vector<int>>& choices, const RoundTiming& t) {
  std::vector<std::vector<double>> samples(choices.size());
  const int rounds = std::max(1, t.rounds);
  for (int round = 0; round < rounds; ++round)
    for (size_t k = 0; k < choices.size(); ++k) {
      const size_t c = round % 2 ? choices.size() - 1 - k : k;
      install_choice(net, ctx, r, choices[c]);
      std::vector<double> s = forward_samples(net, ctx, x, t.reps, 1);
      samples[c].insert(samples[c].end(), s.begin(), s.end());
    }
  install_choice(net, ctx, r, std::vector<int>(r.optimised.size(), 0));
  std::vector<double> out;
  for (auto& s : samples) out.push_back(figure(ctx, std::move(s)));
  return out;
}

void time_variants_alone(Net& net, Context& ctx, OptimizeResult& r, const Tensor& x, const RoundTiming& t,
                         const Log& log) {
  const Stopwatch clock;
  const size_t L = r.optimised.size();
  std::vector<std::vector<int>> alone = {std::vector<int>(L, 0)};
  for (size_t s = 0; s < L; ++s)
    for (size_t k = 1; k < r.options[s].size(); ++k) {
      alone.emplace_back(L, 0);
      alone.back()[s] = int(k);
    }
  std::vector<double> ms = time_choices(net, ctx, r, x, alone, t);
  size_t at = 1;
  for (size_t s = 0; s < L; ++s) {
    r.options[s][0].time_ms = r.l1_options[s][0].time_ms = r.paper_options[s][0].time_ms = ms[0];
    for (size_t k = 1; k < r.options[s].size(); ++k, ++at)
      for (auto* opts : {&r.options[s], &r.l1_options[s], &r.paper_options[s]})
        if (k < opts->size()) {
          (*opts)[k].time_ms = ms[at];
          (*opts)[k].dense_time_ms = ms[0];
        }
  }
  say(log, fmt::format("dense and {} variants alone timed in {} interleaved rounds of {} passes ({:.1f} s): dense {:.3f} ms",
                       alone.size() - 1, std::max(1, t.rounds), t.reps, clock.seconds(), ms[0]));
}

void time_points(Net& net, Context& ctx, OptimizeResult& r, const Tensor& x, const RoundTiming& t, const Log& log) {
  const Stopwatch clock;
  std::vector<std::vector<int>> choices;
  for (const Point& p : r.points) choices.push_back(p.choice);
  std::vector<double> ms = time_choices(net, ctx, r, x, choices, t);
  for (size_t i = 0; i < r.points.size(); ++i) {
    r.points[i].time_ms = ms[i];
    r.points[i].speedup = ms[0] / ms[i];
  }
  say(log, fmt::format("{} compositions timed in {} interleaved rounds of {} passes ({:.1f} s)", choices.size(),
                       std::max(1, t.rounds), t.reps, clock.seconds()));
}

}  // namespace deftnn::tune
