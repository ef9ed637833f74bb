// How a layer's kept synapse vectors are chosen and its weight rebuilt. Typed
// past the command line (parse_method there); method_name is what reports and
// variant ids ("<layer>/sve@0.85") write.
#pragma once

#include <initializer_list>
#include <string>

namespace deftnn::sve {

enum class Method {
  Dense,  // no elimination (the optimiser's dense option)
  Sve,    // the paper's correlation search, truncated weight scaled by K/K'
  SveLs,  // the same search, weight rebuilt by least squares (sve/reconstruct.h)
  L1,     // the kept vectors of largest L1 norm, scaled by K/K'
};

const char* method_name(Method m);  // "dense" | "sve" | "sve-ls" | "l1"

// The method named `name` among `known` (what the caller can run), else an
// Error naming `what` and listing the known names.
Method parse_method(const std::string& name, std::initializer_list<Method> known, const char* what);

}  // namespace deftnn::sve
