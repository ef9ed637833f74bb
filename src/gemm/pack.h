// Packing weights for the fission kernels, once and offline.
//
// Layout of PackedMatrix::data (U8 bytes, private to gemm/ but fixed so that
// the host packer, the on-the-fly device packer and the kernels agree):
// W (M, K) is stored K-major ("transposed"): Kp rows, one per k, each holding
// Mp values of the format, m = 0..Mp-1, Mp = M rounded up to kPackM and
// Kp = K rounded up to kPackK, padding zero. In deft16q the pairs (m even,
// m + 1) share a 32-bit word, m even in the low half. A kernel tile of the
// weights is then a plain copy of a contiguous, aligned block of each row.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/codec.h"
#include "gemm/gemm.h"

namespace deftnn {

constexpr int64_t kPackM = 128;
constexpr int64_t kPackK = 32;
inline int64_t packed_mp(int64_t M) { return (M + kPackM - 1) / kPackM * kPackM; }
inline int64_t packed_kp(int64_t K) { return (K + kPackK - 1) / kPackK * kPackK; }
inline int64_t packed_row_bytes(const Format& f, int64_t M) { return packed_mp(M) * f.bits() / 8; }

// The format a placement actually stores: Compute16 always uses half.
Format placement_format(const Format& f, FissionPlacement p);

// Packs W (M, K) F32 (on any device) into `format` (Compute16: half) with the
// given rounding; the result lives on ctx's device.
PackedMatrix pack_matrix(Context& ctx, const Tensor& W, Format format,
                         FissionPlacement placement = FissionPlacement::OnChip,
                         Rounding rounding = Rounding::Nearest);

// Host packer behind pack_matrix: W row-major with row stride ld.
std::vector<uint8_t> pack_host(const float* W, int64_t M, int64_t K, int64_t ld, const Format& f, Rounding r);
// The (M, K) row-major values a packed matrix decodes to (what the kernel multiplies).
std::vector<float> unpack_host(const std::vector<uint8_t>& bytes, int64_t M, int64_t K, const Format& f);

}  // namespace deftnn
