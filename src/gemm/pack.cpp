#include "gemm/pack.h"

#include <cstring>

#include "core/error.h"

namespace deftnn {

Format placement_format(const Format& f, FissionPlacement p) {
  return p == FissionPlacement::Compute16 ? Format{FormatKind::Half} : f;
}

std::vector<uint8_t> pack_host(const float* W, int64_t M, int64_t K, int64_t ld, const Format& f, Rounding r) {
  const int64_t mp = packed_mp(M), kp = packed_kp(K), rb = packed_row_bytes(f, M);
  std::vector<uint8_t> out(size_t(kp * rb), 0);
  auto w = [&](int64_t m, int64_t k) { return (m < M && k < K) ? W[m * ld + k] : 0.f; };
  for (int64_t k = 0; k < kp; ++k) {
    uint8_t* row = out.data() + k * rb;
    for (int64_t m = 0; m < mp; m += 2) {
      float v0 = w(m, k), v1 = w(m + 1, k);
      switch (f.bits()) {
        case 32: {
          std::memcpy(row + m * 4, &v0, 4);
          std::memcpy(row + m * 4 + 4, &v1, 4);
          break;
        }
        case 16: {
          uint32_t word = f.kind == FormatKind::Deft16Q
                              ? codec::deft16q_encode_pair(v0, v1, r)
                              : (codec::encode(f, v0, r) & 0xffffu) | (codec::encode(f, v1, r) << 16);
          std::memcpy(row + m * 2, &word, 4);
          break;
        }
        default:
          row[m] = uint8_t(codec::encode(f, v0, r));
          row[m + 1] = uint8_t(codec::encode(f, v1, r));
      }
    }
  }
  return out;
}

std::vector<float> unpack_host(const std::vector<uint8_t>& bytes, int64_t M, int64_t K, const Format& f) {
  const int64_t rb = packed_row_bytes(f, M);
  DEFTNN_CHECK(int64_t(bytes.size()) == packed_kp(K) * rb, "packed size {} does not fit ({}, {}) in {}", bytes.size(),
               M, K, f.name());
  std::vector<float> W(size_t(M * K));
  for (int64_t k = 0; k < K; ++k) {
    const uint8_t* row = bytes.data() + k * rb;
    for (int64_t m = 0; m < M; ++m) {
      float v;
      switch (f.bits()) {
        case 32: std::memcpy(&v, row + m * 4, 4); break;
        case 16: {
          uint32_t word;
          std::memcpy(&word, row + (m & ~int64_t(1)) * 2, 4);
          if (f.kind == FormatKind::Deft16Q)
            v = (m & 1) ? codec::deft16q_decode_hi(word) : codec::deft16q_decode_lo(word);
          else
            v = codec::decode(f, (m & 1) ? word >> 16 : word & 0xffffu);
          break;
        }
        default: v = codec::decode(f, row[m]);
      }
      W[size_t(m * K + k)] = v;
    }
  }
  return W;
}

PackedMatrix pack_matrix(Context& ctx, const Tensor& W, Format format, FissionPlacement placement,
                         Rounding rounding) {
  DEFTNN_CHECK(W.ndim() == 2 && W.dtype() == DType::F32, "pack_matrix wants an (M, K) F32 matrix, got {} {}",
               shape_str(W.shape()), dtype_name(W.dtype()));
  Format f = placement_format(format, placement);
  const int64_t M = W.dim(0), K = W.dim(1);
  std::vector<float> host = W.to_vector(ctx);
  std::vector<uint8_t> bytes = pack_host(host.data(), M, K, K, f, rounding);
  Tensor t = Tensor::empty({int64_t(bytes.size())}, DType::U8, Device::CPU);
  if (!bytes.empty()) std::memcpy(t.raw(), bytes.data(), bytes.size());
  PackedMatrix p;
  p.format = f;
  p.rows = M, p.cols = K;
  p.data = ctx.is_cuda() ? t.to(Device::CUDA, ctx) : t;
  return p;
}

}  // namespace deftnn
