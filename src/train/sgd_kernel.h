// The raw SGD update on device pointers (sgd.cu), kept apart from sgd.h so the
// .cu file sees only the Context.
#pragma once

#include <cstdint>

#include "core/context.h"

namespace deftnn::train {

// w, g, v: n floats on ctx's GPU. See sgd.h for the formula.
void sgd_update_cuda(Context& ctx, float* w, const float* g, float* v, int64_t n, float lr, float momentum,
                     float decay);

}  // namespace deftnn::train
