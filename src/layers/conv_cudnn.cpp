// Conv2d's second baseline: cuDNN's fp32 convolution forward, math type
// CUDNN_FMA_MATH (plain fp32 FFMA, no TF32), the algorithm picked once per
// input shape by cudnnFindConvolutionForwardAlgorithm (fastest FMA result).
#include "layers/conv.h"

#ifdef DEFTNN_WITH_CUDA
#include <cudnn.h>

#include "core/cuda_check.h"
#endif

namespace deftnn {

#ifdef DEFTNN_WITH_CUDA
struct Conv2d::CudnnPlan {
  Shape in;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, b = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace = 0;
  std::string algo_name;
  ~CudnnPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (b) cudnnDestroyTensorDescriptor(b);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

namespace {
const char* fwd_algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "implicit_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "implicit_precomp_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "direct";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "fft";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "fft_tiling";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "winograd";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "winograd_nonfused";
    default: return "?";
  }
}
}  // namespace
#else
struct Conv2d::CudnnPlan {
  std::string algo_name;
};
#endif

Conv2d::~Conv2d() = default;

std::string Conv2d::library_algo() const { return cudnn() && cudnn_ ? cudnn_->algo_name : std::string(); }

void Conv2d::forward_cudnn(Context& ctx, const Tensor& x, Tensor& y) {
  DEFTNN_CHECK(ctx.is_cuda(), "layer '{}': the cuDNN convolution needs a CUDA context", name());
  DEFTNN_CHECK(!sve().active(), "layer '{}': the cuDNN convolution does not take an SVE-truncated weight", name());
#ifdef DEFTNN_WITH_CUDA
  cudnnHandle_t h = ctx.cudnn();
  if (!cudnn_ || cudnn_->in != x.shape()) {
    auto p = std::make_shared<CudnnPlan>();
    p->in = x.shape();
    const Shape& in = x.shape();
    const Shape& out = y.shape();
    DEFTNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    DEFTNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    DEFTNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->b));
    DEFTNN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    DEFTNN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    DEFTNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(in[0]), int(in[1]),
                                                  int(in[2]), int(in[3])));
    DEFTNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(out[0]),
                                                  int(out[1]), int(out[2]), int(out[3])));
    DEFTNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, int(out_), 1, 1));
    DEFTNN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(out_),
                                                  int(in_c_ / groups_), int(kh_), int(kw_)));
    DEFTNN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, int(ph_), int(pw_), int(sh_), int(sw_), 1, 1,
                                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DEFTNN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, int(groups_)));
    DEFTNN_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
    int n = 0, got = 0;
    DEFTNN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &n));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(std::max(n, 1)));
    DEFTNN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, p->conv, p->y, int(perf.size()), &got,
                                                            perf.data()));
    bool found = false;
    for (int i = 0; i < got && !found; ++i)  // sorted fastest first
      if (perf[size_t(i)].status == CUDNN_STATUS_SUCCESS && perf[size_t(i)].mathType == CUDNN_FMA_MATH) {
        p->algo = perf[size_t(i)].algo;
        p->workspace = perf[size_t(i)].memory;
        found = true;
      }
    DEFTNN_CHECK(found, "layer '{}': cuDNN found no fp32 (FMA math) forward algorithm for input {}", name(),
                 shape_str(in));
    p->algo_name = fwd_algo_name(p->algo);
    cudnn_ = std::move(p);
  }
  void* ws = cudnn_->workspace ? ctx.workspace(cudnn_->workspace) : nullptr;
  const float one = 1.f, zero = 0.f;
  DEFTNN_CUDNN_CHECK(cudnnConvolutionForward(h, &one, cudnn_->x, x.data<float>(), cudnn_->w,
                                             weight_.value.data<float>(), cudnn_->conv, cudnn_->algo, ws,
                                             cudnn_->workspace, &zero, cudnn_->y, y.data<float>()));
  if (has_bias_)
    DEFTNN_CUDNN_CHECK(cudnnAddTensor(h, &one, cudnn_->b, bias_.value.data<float>(), &one, cudnn_->y, y.data<float>()));
#else
  (void)x, (void)y;
#endif
}

}  // namespace deftnn
