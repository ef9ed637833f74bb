// The on-chip number formats of near-compute data fission, by name.
//
// This header only names formats; the bit layouts, encoders and decoders
// (host and device) live beside it in formats/codec.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace deftnn {

enum class FormatKind : uint8_t {
  FP32,     // no fission: fp32 tiles in shared memory
  Half,     // IEEE binary16 (1-5-10), unpacked with the hardware converter
  Deft16,   // the 16 high bits of fp32 (1-8-7), unpacked with shift/and
  Deft16Q,  // Deft-16 with two values per 32-bit word arranged so unpack is one op per value
  Deft8,    // 8-bit float: sign, E exponent bits (1..7), 7-E mantissa bits
  FP8E4M3,  // OCP fp8 e4m3fn, unpacked with Hopper's cvt instructions
  FP8E5M2,  // OCP fp8 e5m2
};

struct Format {
  FormatKind kind = FormatKind::FP32;
  int exp_bits = 0;  // Deft8 only: 1..7

  // "fp32", "half", "deft16", "deft16q", "deft8e4" (any E 1..7), "fp8e4m3", "fp8e5m2".
  std::string name() const;
  // Parses name(); throws deftnn::Error listing the known names.
  static Format parse(const std::string& name);
  int bits() const;  // storage bits per value: 32, 16 or 8
  bool operator==(const Format&) const = default;
};

// Every format the engine knows, Deft8 with each E from 1 to 7.
std::vector<Format> all_formats();

}  // namespace deftnn
