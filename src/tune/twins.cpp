#include "tune/twins.h"

#include "core/error.h"

namespace deftnn::tune {

const char* joint_twins_name(JointTwins j) {
  switch (j) {
    case JointTwins::L1: return "l1";
    case JointTwins::All: return "all";
    case JointTwins::None: return "none";
  }
  DEFTNN_FAIL("bad tune::JointTwins {}", int(j));
}

JointTwins parse_joint_twins(const std::string& name) {
  std::string names;
  for (JointTwins j : {JointTwins::L1, JointTwins::All, JointTwins::None}) {
    if (name == joint_twins_name(j)) return j;
    names += (names.empty() ? "" : ", ") + std::string(joint_twins_name(j));
  }
  DEFTNN_FAIL("unknown joint twins '{}' (known: {})", name, names);
}

}  // namespace deftnn::tune
