// The optimiser's report: everything found, as the JSON that
// `deftnn optimize` writes (scripts/plot_report.py and scripts/sve_tables.py
// read it; docs/sve.md lists its keys).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/timing.h"
#include "tune/options.h"
#include "tune/result.h"

namespace deftnn::tune {

// The dense net as the report states it.
struct DenseSummary {
  std::string model, device;
  double val_acc = 0, test_acc = 0;
  double time_ms = 0;          // the dense point's time (interleaved rounds)
  int64_t gemm_flops = 0;      // GEMM FLOPs of one image
  int64_t timing_batch = 0;    // images per timed forward pass
  TimingStatistic statistic = TimingStatistic::Min;  // the figure of a set of pass times
};

// Keys: model, device, dense, layers, points, frontier, selected,
// cheapest_within_0.2_points (when a frontier point is within 0.2 points of
// the dense test accuracy), options. The caller adds "seconds".
nlohmann::json optimize_report(const OptimizeResult& r, const OptimizeOptions& o, const DenseSummary& dense);

}  // namespace deftnn::tune
