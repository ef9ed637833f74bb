// Caffe's learning-rate policies (SGDSolver::GetLearningRate), evaluated at
// iteration `iter` (0-based count of updates done so far).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace deftnn::train {

struct LrPolicy {
  std::string policy = "fixed";  // fixed | step | multistep | exp | inv | poly | sigmoid
  double base_lr = 0.01;
  double gamma = 0.1;            // step, multistep, exp, inv, sigmoid
  double power = 0.75;           // inv, poly
  int64_t stepsize = 0;          // step, sigmoid (iterations)
  std::vector<int64_t> stepvalues;  // multistep (iterations, increasing)
  int64_t max_iter = 0;          // poly

  // fixed:     base_lr
  // step:      base_lr * gamma ^ floor(iter / stepsize)
  // multistep: base_lr * gamma ^ (number of stepvalues <= iter)
  // exp:       base_lr * gamma ^ iter
  // inv:       base_lr * (1 + gamma * iter) ^ (-power)
  // poly:      base_lr * (1 - iter / max_iter) ^ power
  // sigmoid:   base_lr * 1 / (1 + exp(-gamma * (iter - stepsize)))
  float rate(int64_t iter) const;
  // Throws an Error naming the policy when a parameter it needs is missing.
  void validate() const;
  std::string describe() const;
};

std::vector<std::string> known_lr_policies();

}  // namespace deftnn::train
