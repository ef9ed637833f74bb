// Compositions of variants, the Pareto frontier of measured time against
// validation accuracy, and the run-time selector (section 4.1.3, 5.6).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "formats/format.h"

namespace deftnn::tune {

struct Point {
  std::vector<int> choice;   // per optimised layer: index into that layer's options (0 = dense)
  double val_acc = 0;        // measured on the validation set
  double test_acc = -1;      // filled for frontier points
  double time_ms = 0;        // measured forward time
  double speedup = 1;        // dense time / time_ms
  double flops_ratio = 1;    // GEMM FLOPs / dense GEMM FLOPs (whole net)
  double l1_val_acc = -1, l1_test_acc = -1;  // the same layers and kept counts with L1-pruned variants
  double paper_val_acc = -1, paper_test_acc = -1;  // the same kept sets with the paper's K/K' scaling (when the
                                                   // composition uses sve-ls)
  std::string how;           // "dense" | "greedy" | "uniform" | "joint" (composed, then all layers fine-tuned),
                             // then "+FORMAT" for a point run with fission
  Format format;             // fp32 = fp32 GEMMs; else every GEMM layer's forward in this fission format
  int tuned = -1;            // "joint": index into OptimizeResult::tuned (the fine-tuned parameters)
  double composed_val_acc = -1;  // "joint": the composition's validation accuracy before joint fine-tuning
  double joint_s = 0;        // "joint": seconds of joint fine-tuning
  int64_t joint_iterations = 0;  // "joint": its SGD iterations
  nlohmann::json to_json() const;
};

// Points not dominated by another (time <= and accuracy >=, one strictly),
// sorted by time, fastest last. Ties on both keep the first.
std::vector<Point> pareto_frontier(const std::vector<Point>& points);

// The selector. With a target accuracy: the fastest frontier point whose
// validation accuracy is >= the target (none: the most accurate point). With
// a target speedup: the most accurate point whose speedup is >= the target
// (none: the fastest). Without targets: the fastest point within 0.2
// accuracy points of the most accurate. Returns an index into `frontier`.
size_t select_point(const std::vector<Point>& frontier, std::optional<double> target_acc,
                    std::optional<double> target_speedup);

}  // namespace deftnn::tune
