// Lab switches read from the environment (DEFTNN_MIXED_BLOCKS_PER_SM, ...): one
// parser for all of them, so that a value that is not an integer in range is
// a clear error naming the variable instead of atoi's silent 0.
#pragma once

#include <cstdint>

namespace deftnn {

// The integer value of environment variable `name`, or `fallback` when it is
// unset or empty. Throws deftnn::Error naming the variable when the value is
// not a whole decimal integer or lies outside [lo, hi]. Callers that read a
// switch on a hot path keep the result in a function-local static (read once).
int64_t env_int(const char* name, int64_t fallback, int64_t lo, int64_t hi);

}  // namespace deftnn
