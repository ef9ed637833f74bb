#include "gemm/lowp.h"

#include <cmath>

#include "formats/codec.h"
#include "gemm/kernels/lowp_convert.h"

namespace deftnn {

float fp8_scale(float amax) { return (amax > 0.f && std::isfinite(amax)) ? amax / kFp8E4M3Max : 1.f; }

float lowp_round(float x, Precision p, float scale) {
  switch (p) {
    case Precision::BF16: return codec::deft16_decode(codec::deft16_encode(x, Rounding::Nearest));
    case Precision::FP16: return codec::half_decode(codec::half_encode(x, Rounding::Nearest));
    case Precision::FP8E4M3: return codec::e4m3_decode(codec::e4m3_encode(x / scale, Rounding::Nearest));
    case Precision::FP32:
    case Precision::TF32: break;
  }
  DEFTNN_FAIL("lowp_round to {}: not a tensor-core input precision (bf16, fp16, fp8e4m3)", precision_name(p));
}

float lowp_amax(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  float m = 0.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = std::fabs(x[r * rs + c * cs]);
      if (v > m) m = v;  // NaN compares false: ignored, like the device's fmaxf
    }
  return m;
}

ConvertedMatrix convert_matrix(Context& ctx, const Tensor& W, Precision p) {
  DEFTNN_CHECK(is_lowp_precision(p), "convert_matrix to {}: not a tensor-core input precision (bf16, fp16, fp8e4m3)",
               precision_name(p));
  DEFTNN_CHECK(W.dtype() == DType::F32 && W.shape().size() == 2 && W.device() == ctx.device(),
               "convert_matrix wants an F32 (rows, cols) matrix on the context's device, got {} {} on {}",
               dtype_name(W.dtype()), shape_str(W.shape()), device_name(W.device()));
  ConvertedMatrix m;
  m.precision = p;
  m.rows = W.dim(0), m.cols = W.dim(1);
  const float* w = W.data<float>();
  if (!ctx.is_cuda()) {
    const float s = p == Precision::FP8E4M3 ? fp8_scale(lowp_amax(w, m.rows, m.cols, m.cols, 1)) : 1.f;
    m.ld = m.cols;
    m.data = Tensor::empty({m.rows, m.cols});
    float* d = m.data.data<float>();
    for (int64_t i = 0; i < m.rows * m.cols; ++i) d[i] = lowp_round(w[i], p, s);
    m.scale = Tensor::from_vector({1}, {s});
    return m;
  }
  m.ld = lowp_round_up(m.cols);
  const int64_t rows_out = lowp_round_up(m.rows);
  const DType t = p == Precision::BF16 ? DType::BF16 : p == Precision::FP16 ? DType::F16 : DType::U8;
  m.data = Tensor::empty({rows_out, m.ld}, t, Device::CUDA);
  // scale[0] the scale, scale[1] the fp8 amax it came from (kept with it, so
  // nothing is freed while the stream still reads it).
  m.scale = Tensor::from_vector({2}, {1.f, 0.f}).to(Device::CUDA, ctx);
  float* amax = m.scale.data<float>() + 1;
  if (p == Precision::FP8E4M3) lowp_amax_device(w, m.rows, m.cols, m.cols, 1, amax, ctx.stream());
  lowp_convert_device(w, m.rows, m.cols, m.cols, 1, p, amax, m.scale.data<float>(), m.data.raw(), rows_out, m.ld,
                      ctx.stream());
  return m;
}

}  // namespace deftnn
