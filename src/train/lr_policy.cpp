#include "train/lr_policy.h"

#include <cmath>
#include <fmt/format.h>

#include "core/error.h"

namespace deftnn::train {

std::vector<std::string> known_lr_policies() { return {"fixed", "step", "multistep", "exp", "inv", "poly", "sigmoid"}; }

void LrPolicy::validate() const {
  DEFTNN_CHECK(base_lr > 0, "learning rate {} must be positive", base_lr);
  if (policy == "fixed" || policy == "exp" || policy == "inv") return;
  if (policy == "step" || policy == "sigmoid") {
    DEFTNN_CHECK(stepsize > 0, "lr policy '{}' needs a positive stepsize, got {}", policy, stepsize);
    return;
  }
  if (policy == "multistep") {
    DEFTNN_CHECK(!stepvalues.empty(), "lr policy 'multistep' needs stepvalues");
    for (size_t i = 1; i < stepvalues.size(); ++i)
      DEFTNN_CHECK(stepvalues[i] > stepvalues[i - 1], "multistep stepvalues must increase: {} after {}",
                   stepvalues[i], stepvalues[i - 1]);
    return;
  }
  if (policy == "poly") {
    DEFTNN_CHECK(max_iter > 0, "lr policy 'poly' needs a positive max_iter, got {}", max_iter);
    return;
  }
  DEFTNN_FAIL("unknown lr policy '{}' (known: {})", policy, fmt::join(known_lr_policies(), ", "));
}

float LrPolicy::rate(int64_t iter) const {
  double it = double(iter);
  if (policy == "fixed") return float(base_lr);
  if (policy == "step") return float(base_lr * std::pow(gamma, double(iter / stepsize)));
  if (policy == "multistep") {
    int64_t step = 0;
    while (step < int64_t(stepvalues.size()) && iter >= stepvalues[size_t(step)]) ++step;
    return float(base_lr * std::pow(gamma, double(step)));
  }
  if (policy == "exp") return float(base_lr * std::pow(gamma, it));
  if (policy == "inv") return float(base_lr * std::pow(1.0 + gamma * it, -power));
  if (policy == "poly") return float(base_lr * std::pow(1.0 - it / double(max_iter), power));
  if (policy == "sigmoid") return float(base_lr * (1.0 / (1.0 + std::exp(-gamma * (it - double(stepsize))))));
  DEFTNN_FAIL("unknown lr policy '{}' (known: {})", policy, fmt::join(known_lr_policies(), ", "));
}

std::string LrPolicy::describe() const {
  if (policy == "fixed") return fmt::format("fixed {}", base_lr);
  if (policy == "step") return fmt::format("step {} x{} every {} it", base_lr, gamma, stepsize);
  if (policy == "multistep") return fmt::format("multistep {} x{} at [{}]", base_lr, gamma, fmt::join(stepvalues, ", "));
  if (policy == "exp") return fmt::format("exp {} gamma {}", base_lr, gamma);
  if (policy == "inv") return fmt::format("inv {} gamma {} power {}", base_lr, gamma, power);
  if (policy == "poly") return fmt::format("poly {} power {} max_iter {}", base_lr, power, max_iter);
  return fmt::format("{} {}", policy, base_lr);
}

}  // namespace deftnn::train
