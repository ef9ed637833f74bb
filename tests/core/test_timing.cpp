// The engine's timing primitive (core/timing.h): statistics of known samples,
// warm-up and repetition counts, interleaving, the untimed hook before every
// timed run, and a clock that sees a known delay.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "core/error.h"
#include "core/timing.h"

using namespace deftnn;

TEST(TimingStats, MedianMinP90OfOddCount) {
  TimingStats s = summarize({5, 1, 4, 2, 3});
  EXPECT_EQ(s.reps, 5);
  EXPECT_DOUBLE_EQ(s.median_ms, 3);
  EXPECT_DOUBLE_EQ(s.min_ms, 1);
  EXPECT_DOUBLE_EQ(s.max_ms, 5);
  EXPECT_DOUBLE_EQ(s.mean_ms, 3);
  EXPECT_DOUBLE_EQ(s.p90_ms, 4.6);  // position 0.9 * 4 = 3.6, between 4 and 5
  // Samples stay in the order they were taken.
  EXPECT_EQ(s.samples_ms, (std::vector<double>{5, 1, 4, 2, 3}));
}

TEST(TimingStats, MedianOfEvenCountIsMeanOfMiddlePair) {
  TimingStats s = summarize({10, 2, 8, 4});
  EXPECT_DOUBLE_EQ(s.median_ms, 6);
  EXPECT_DOUBLE_EQ(s.p90_ms, 9.4);  // position 2.7, between 8 and 10
}

TEST(TimingStats, SingleAndEmpty) {
  TimingStats one = summarize({7.5});
  EXPECT_DOUBLE_EQ(one.median_ms, 7.5);
  EXPECT_DOUBLE_EQ(one.p90_ms, 7.5);
  TimingStats none = summarize({});
  EXPECT_EQ(none.reps, 0);
  EXPECT_DOUBLE_EQ(none.median_ms, 0);
}

TEST(TimingStats, QuantileEndsAndClamp) {
  std::vector<double> v{1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 0), 1);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 1), 4);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 1.5), 4);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.5), 2.5);
}

TEST(TimingStats, StatisticOfKnownSamples) {
  TimingStats s = summarize({4, 9, 1, 7});
  EXPECT_DOUBLE_EQ(statistic_of(s, TimingStatistic::Median), 5.5);  // mean of 4 and 7
  EXPECT_DOUBLE_EQ(statistic_of(s, TimingStatistic::Min), 1);
  EXPECT_STREQ(timing_statistic_name(TimingStatistic::Median), "median");
  EXPECT_STREQ(timing_statistic_name(TimingStatistic::Min), "min");
  EXPECT_THROW(statistic_of(summarize({}), TimingStatistic::Min), Error);
}

TEST(TimingPrimitive, WarmupThenRepsInterleavedWithHookBeforeEachTimedRun) {
  auto ctx = Context::cpu();
  for (TimingClock clock : {TimingClock::Events, TimingClock::Wall}) {
    std::string order;
    TimingOptions t;
    t.warmup = 2;
    t.reps = 3;
    t.clock = clock;
    t.before_each = [&] { order += '.'; };
    auto samples = time_samples(*ctx, {[&] { order += 'a'; }, [&] { order += 'b'; }}, t);
    // Two warm-up rounds without the hook, then three timed rounds with it.
    EXPECT_EQ(order, "abab.a.b.a.b.a.b");
    ASSERT_EQ(samples.size(), 2u);
    EXPECT_EQ(samples[0].size(), 3u);
    EXPECT_EQ(samples[1].size(), 3u);
  }
}

TEST(TimingPrimitive, SingleCallableCountsAndStatistics) {
  auto ctx = Context::cpu();
  int calls = 0;
  TimingOptions t;
  t.warmup = 4;
  t.reps = 5;
  TimingStats s = time_callable(*ctx, [&] { ++calls; }, t);
  EXPECT_EQ(calls, 9);
  EXPECT_EQ(s.reps, 5);
  ASSERT_EQ(s.samples_ms.size(), 5u);
  for (double ms : s.samples_ms) EXPECT_GE(ms, 0);
  EXPECT_LE(s.min_ms, s.median_ms);
  EXPECT_LE(s.median_ms, s.max_ms);
}

TEST(TimingPrimitive, WallClockSeesAKnownDelay) {
  // sleep_for waits at least the given time, so every sample is at least 2 ms.
  auto ctx = Context::cpu();
  TimingOptions t;
  t.warmup = 0;
  t.reps = 2;
  t.clock = TimingClock::Wall;
  TimingStats s = time_callable(*ctx, [] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }, t);
  EXPECT_GE(s.min_ms, 2.0);
  const Stopwatch w;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_GE(w.seconds(), 0.002);
}

TEST(TimingPrimitive, RejectsNoRepsAndNegativeWarmup) {
  auto ctx = Context::cpu();
  TimingOptions t;
  t.reps = 0;
  EXPECT_THROW(time_callable(*ctx, [] {}, t), Error);
  t.reps = 1;
  t.warmup = -1;
  EXPECT_THROW(time_callable(*ctx, [] {}, t), Error);
}
