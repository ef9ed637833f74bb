#include "gemm/mixed/mixed_pack.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gemm/mixed/mixed_layout.h"

namespace deftnn::mixed {

namespace {
int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

void put_code(PackedWeights& p, int64_t n, int64_t k, uint32_t code) {
  const PackedLoc l = packed_loc(p.format.bits(), p.kp, n, k);
  if (p.format.bits() == 8) {
    p.bytes[size_t(l.byte)] = uint8_t(code);
  } else {
    uint8_t& b = p.bytes[size_t(l.byte)];
    b = uint8_t((b & ~(0xfu << l.shift)) | ((code & 0xfu) << l.shift));
  }
}
}  // namespace

PackedWeights pack_weights(const float* w, int64_t n, int64_t k, const WeightFormat& f, int64_t ldw, float fixed_scale) {
  DEFTNN_CHECK(n >= 0 && k >= 0, "pack_weights: bad size {} x {}", n, k);
  if (ldw == 0) ldw = k;
  DEFTNN_CHECK(ldw >= k, "pack_weights: row stride {} below k {}", ldw, k);
  DEFTNN_CHECK(!(fixed_scale < 0) && std::isfinite(fixed_scale), "pack_weights: bad fixed scale {}", fixed_scale);
  PackedWeights p;
  p.format = f;
  p.n = n, p.k = k;
  p.np = round_up(std::max<int64_t>(n, 1), kPadN);
  p.kp = round_up(std::max<int64_t>(k, 1), kPadK);
  p.bytes.assign(size_t(p.np * p.kp * f.bits() / 8), 0);
  const int64_t G = f.group() ? f.group() : p.kp, groups = p.kp / G;
  p.scales.assign(size_t(groups * p.np), 0.f);
  const uint32_t zc = zero_code(f);
  for (int64_t r = 0; r < p.np; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t k0 = g * G, k1 = std::min(k, k0 + G);
      double amax = 0;
      for (int64_t c = k0; r < n && c < k1; ++c) {
        const float x = w[r * ldw + c];
        DEFTNN_CHECK(std::isfinite(x), "pack_weights ({}): weight ({}, {}) is {}", f.name(), r, c, x);
        amax = std::max(amax, double(std::fabs(x)));
      }
      float s = fixed_scale > 0 ? fixed_scale : (amax > 0 ? float(amax / f.max_value()) : 1.f);
      if (!(s > 0) || !std::isfinite(s)) s = 1.f;  // (amax / max underflowing to 0)
      p.scales[size_t(g * p.np + r)] = r < n ? s : 0.f;
      for (int64_t c = k0; c < k0 + G; ++c)
        put_code(p, r, c, (r < n && c < k) ? encode_scaled(f, double(w[r * ldw + c]) / double(s)) : zc);
    }
  }
  return p;
}

uint32_t packed_code(const PackedWeights& p, int64_t n, int64_t k) {
  const PackedLoc l = packed_loc(p.format.bits(), p.kp, n, k);
  const uint32_t b = p.bytes[size_t(l.byte)];
  return p.format.bits() == 8 ? b : (b >> l.shift) & 0xfu;
}

float packed_scale(const PackedWeights& p, int64_t n, int64_t k) {
  const int64_t g = p.format.group() ? k / p.format.group() : 0;
  return p.scales[size_t(g * p.np + n)];
}

double decoded_weight(const PackedWeights& p, int64_t n, int64_t k) {
  return code_value(p.format, packed_code(p, n, k)) * double(packed_scale(p, n, k));
}

std::vector<float> decode_weights(const PackedWeights& p) {
  std::vector<float> w(size_t(p.n * p.k));
  for (int64_t r = 0; r < p.n; ++r)
    for (int64_t c = 0; c < p.k; ++c) w[size_t(r * p.k + c)] = float(decoded_weight(p, r, c));
  return w;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> h(x.size());
  for (size_t i = 0; i < x.size(); ++i) h[i] = codec::deft16_encode(x[i], Rounding::Nearest);
  return h;
}

void reference_gemm(const PackedWeights& p, const uint16_t* x, int64_t m, int64_t ldx, std::vector<double>& y,
                    std::vector<double>* abs_sum) {
  if (ldx == 0) ldx = p.k;
  std::vector<double> wd(size_t(p.n * p.k));
  for (int64_t r = 0; r < p.n; ++r)
    for (int64_t c = 0; c < p.k; ++c) wd[size_t(r * p.k + c)] = decoded_weight(p, r, c);
  y.assign(size_t(m * p.n), 0.0);
  if (abs_sum) abs_sum->assign(size_t(m * p.n), 0.0);
  std::vector<double> xd(size_t(p.k));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < p.k; ++c) xd[size_t(c)] = double(bf16_to_float(x[i * ldx + c]));
    for (int64_t r = 0; r < p.n; ++r) {
      const double* wr = &wd[size_t(r * p.k)];
      double acc = 0, a = 0;
      for (int64_t c = 0; c < p.k; ++c) acc += xd[size_t(c)] * wr[c], a += std::fabs(xd[size_t(c)] * wr[c]);
      y[size_t(i * p.n + r)] = acc;
      if (abs_sum) (*abs_sum)[size_t(i * p.n + r)] = a;
    }
  }
}

}  // namespace deftnn::mixed
