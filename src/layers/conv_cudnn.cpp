// Conv2d through cuDNN (KernelFamily::Cudnn), the algorithm picked once per
// input shape by cudnnFindConvolutionForwardAlgorithm:
// - fp32: the second baseline, math type CUDNN_FMA_MATH (plain fp32 FFMA, no
//   TF32), the fastest FMA result;
// - bf16 / fp16 (cudnn16()): x and W rounded to the 16-bit type (nearest),
//   products exact and sums in fp32 (cuDNN's PSEUDO_BFLOAT16/HALF config,
//   tensor cores allowed), the output rounded to 16 bits, then widened to fp32
//   with the bias and the ReLU (kernels/widen_kernels.h). Only the GEMM-based
//   algorithms are taken (implicit GEMM, precomputed implicit GEMM, GEMM), so
//   the error is the GEMM's (FFT and Winograd transform the operands in the
//   narrow type: a larger error no test here derives).
#include "layers/conv.h"

#ifdef DEFTNN_WITH_CUDA
#include <cudnn.h>

#include "core/cuda_check.h"
#include "gemm/kernels/lowp_convert.h"
#include "layers/kernels/widen_kernels.h"
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
  bool lowp = false;             // 16-bit tensors (cudnn16())
  Tensor w16;                    // the weight in 16 bits (U16, out x C/groups x kh x kw)
  const void* w16_source = nullptr;  // the fp32 weight it was converted from
  ~CudnnPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (b) cudnnDestroyTensorDescriptor(b);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

namespace {
bool gemm_based(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
}

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

void Conv2d::forward_cudnn(Context& ctx, const Tensor& x, Tensor& y, bool relu, float slope) {
  DEFTNN_CHECK(ctx.is_cuda(), "layer '{}': the cuDNN convolution needs a CUDA context", name());
  DEFTNN_CHECK(!sve().active(), "layer '{}': the cuDNN convolution does not take an SVE-truncated weight", name());
  DEFTNN_CHECK(!relu || cudnn16(), "layer '{}': the fp32 cuDNN forward cannot fuse a ReLU", name());
#ifdef DEFTNN_WITH_CUDA
  cudnnHandle_t h = ctx.cudnn();
  const bool lowp = cudnn16();
  const bool bf16 = exec().precision == Precision::BF16;
  if (!cudnn_ || cudnn_->in != x.shape() || cudnn_->lowp != lowp) {
    auto p = std::make_shared<CudnnPlan>();
    p->in = x.shape();
    p->lowp = lowp;
    const Shape& in = x.shape();
    const Shape& out = y.shape();
    // fp32, or the 16-bit type with fp32 accumulation (the PSEUDO configs)
    const cudnnDataType_t t = !lowp ? CUDNN_DATA_FLOAT : bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
    DEFTNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    DEFTNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    DEFTNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->b));
    DEFTNN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    DEFTNN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    DEFTNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, t, int(in[0]), int(in[1]), int(in[2]),
                                                  int(in[3])));
    DEFTNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, t, int(out[0]), int(out[1]),
                                                  int(out[2]), int(out[3])));
    DEFTNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, int(out_), 1, 1));
    DEFTNN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NCHW, int(out_), int(in_c_ / groups_),
                                                  int(kh_), int(kw_)));
    DEFTNN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, int(ph_), int(pw_), int(sh_), int(sw_), 1, 1,
                                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DEFTNN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, int(groups_)));
    DEFTNN_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, lowp ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    int n = 0, got = 0;
    DEFTNN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &n));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(std::max(n, 1)));
    DEFTNN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, p->conv, p->y, int(perf.size()), &got,
                                                            perf.data()));
    bool found = false;
    std::string seen;  // what Find and the heuristic returned, for the error
    auto pick = [&](const std::vector<cudnnConvolutionFwdAlgoPerf_t>& list, int count, const char* source) {
      for (int i = 0; i < count && !found; ++i) {  // sorted best first
        const cudnnConvolutionFwdAlgoPerf_t& r = list[size_t(i)];
        seen += fmt::format("{}{} {} ({}, {} math)", seen.empty() ? "" : "; ", source, fwd_algo_name(r.algo),
                            cudnnGetErrorString(r.status), r.mathType == CUDNN_FMA_MATH ? "FMA" : "tensor-op");
        if (r.status == CUDNN_STATUS_SUCCESS && (lowp ? gemm_based(r.algo) : r.mathType == CUDNN_FMA_MATH)) {
          p->algo = r.algo;
          p->workspace = r.memory;
          found = true;
        }
      }
    };
    pick(perf, got, "find");
    if (!found) {
      // Find times the algorithms and can drop one that failed to run (an
      // allocation, for example); the heuristic lists them without running.
      int hgot = 0;
      std::vector<cudnnConvolutionFwdAlgoPerf_t> heur(perf.size());
      DEFTNN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y, int(heur.size()), &hgot,
                                                                heur.data()));
      pick(heur, hgot, "heuristic");
    }
    DEFTNN_CHECK(found, "layer '{}': cuDNN found no {} forward algorithm for input {} (it returned: {})", name(),
                 lowp ? std::string(precision_name(exec().precision)) + " GEMM-based" : std::string("fp32 (FMA math)"),
                 shape_str(in), seen.empty() ? "nothing" : seen);
    p->algo_name = fwd_algo_name(p->algo);
    cudnn_ = std::move(p);
  }
  CudnnPlan& p = *cudnn_;
  const float one = 1.f, zero = 0.f;
  if (!lowp) {
    void* ws = p.workspace ? ctx.workspace(p.workspace) : nullptr;
    DEFTNN_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x, x.data<float>(), p.w, weight_.value.data<float>(), p.conv,
                                               p.algo, ws, p.workspace, &zero, p.y, y.data<float>()));
    if (has_bias_)
      DEFTNN_CUDNN_CHECK(cudnnAddTensor(h, &one, p.b, bias_.value.data<float>(), &one, p.y, y.data<float>()));
    return;
  }
  const Precision prec = exec().precision;
  const Tensor& w = weight_.value;
  if (p.w16_source != w.raw()) {  // once per shape and weight (backward drops the plan)
    p.w16 = Tensor::empty({w.numel()}, DType::U16, Device::CUDA);
    lowp_convert_device(w.data<float>(), w.dim(0), w.numel() / w.dim(0), w.numel() / w.dim(0), 1, prec, nullptr,
                        nullptr, p.w16.raw(), w.dim(0), w.numel() / w.dim(0), ctx.stream());
    p.w16_source = w.raw();
  }
  // Layer scratch: x and y in 16 bits (x's rows: its last dimension); GEMM
  // scratch: cuDNN's workspace.
  const int64_t xn = x.numel(), yn = y.numel(), xn_even = (xn + 7) / 8 * 8;
  uint16_t* x16 = static_cast<uint16_t*>(ctx.workspace(size_t(xn_even + yn) * 2));
  uint16_t* y16 = x16 + xn_even;
  void* ws = p.workspace ? ctx.workspace(p.workspace, Context::Scratch::Gemm) : nullptr;
  const int64_t W = x.dim(3), rows = xn / W;
  lowp_convert_device(x.data<float>(), rows, W, W, 1, prec, nullptr, nullptr, x16, rows, W, ctx.stream());
  DEFTNN_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x, x16, p.w, p.w16.raw(), p.conv, p.algo, ws, p.workspace,
                                             &zero, p.y, y16));
  kernels::widen_channel_bias(ctx.stream(), y16, bf16, y.data<float>(), y.dim(0), y.dim(1), y.dim(2) * y.dim(3),
                              has_bias_ ? bias_.value.data<float>() : nullptr, relu, slope);
#else
  (void)x, (void)y, (void)relu, (void)slope;
#endif
}

}  // namespace deftnn
