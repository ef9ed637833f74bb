// The twins of the optimiser's variants: the same layer and kept count built
// another way, reported beside each point for comparison (tune/layer_options.h).
#pragma once

#include <string>

namespace deftnn::tune {

// Which variant list a composition is installed from (tune/result.h).
enum class Twin {
  Method,  // the compositions' own method (OptimizeOptions::method)
  L1,      // the L1-pruned twins
  Paper,   // the paper's twins (method sve-ls with paper_baseline)
};

// Which twins of a joint point get the same joint fine-tuning and are reported.
enum class JointTwins {
  L1,    // the L1 twin only (the paper's twin is not reported for joint points)
  All,   // the L1 and the paper's twin
  None,  // neither
};

const char* joint_twins_name(JointTwins j);  // "l1" | "all" | "none"
// Else an Error listing the known names.
JointTwins parse_joint_twins(const std::string& name);

// Whether `twin` of a joint point is jointly fine-tuned (and reported) under j.
inline bool jointly_tuned(JointTwins j, Twin twin) {
  return j == JointTwins::All || (j == JointTwins::L1 && twin == Twin::L1);
}

}  // namespace deftnn::tune
