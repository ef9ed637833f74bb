// Without CUDA the layer kernels' CUDA halves do not exist. A CUDA Context
// cannot be made in such a build, so these are unreachable; they still
// throw, naming the reason, rather than leave the symbols undefined.
#include "core/error.h"
#include "layers/gemm_layer_kernels.h"
#include "layers/im2col.h"

namespace deftnn::detail {

#define DEFTNN_NO_CUDA(what) DEFTNN_FAIL("{}: {}", what, cuda_unavailable_reason())

void im2col_cuda(Context&, const float*, const ConvGeom&, int64_t, int64_t, float*, int64_t, const int32_t*,
                 int64_t, const PendingAct*) { DEFTNN_NO_CUDA("im2col"); }
void im2row_lowp_cuda(Context&, const float*, const ConvGeom&, int64_t, int64_t, Precision, void*, int64_t, int64_t,
                      const int32_t*, int64_t, const PendingAct*) { DEFTNN_NO_CUDA("im2row_lowp"); }
void col2im_cuda(Context&, const float*, const ConvGeom&, int64_t, int64_t, int64_t, float*, const int32_t*,
                 int64_t) { DEFTNN_NO_CUDA("col2im"); }
void bias_permute_cuda(Context&, const float*, const float*, int64_t, int64_t, int64_t, float*, bool, float) { DEFTNN_NO_CUDA("bias_permute"); }
void unpermute_cuda(Context&, const float*, int64_t, int64_t, int64_t, float*) { DEFTNN_NO_CUDA("unpermute"); }
void scatter_cols_cuda(Context&, const float*, int64_t, int64_t, const int32_t*, float*, int64_t) { DEFTNN_NO_CUDA("scatter_cols"); }
void copy_f32_cuda(Context&, const float*, int64_t, float*) { DEFTNN_NO_CUDA("copy_f32"); }
void add_row_bias_cuda(Context&, float*, int64_t, int64_t, const float*, bool, float) { DEFTNN_NO_CUDA("add_row_bias"); }
void add_channel_bias_cuda(Context&, float*, int64_t, int64_t, const float*, bool, float) { DEFTNN_NO_CUDA("add_channel_bias"); }
void column_sums_cuda(Context&, const float*, int64_t, int64_t, float*) { DEFTNN_NO_CUDA("column_sums"); }
void channel_sums_cuda(Context&, const float*, int64_t, int64_t, int64_t, float*) { DEFTNN_NO_CUDA("channel_sums"); }

}  // namespace deftnn::detail
