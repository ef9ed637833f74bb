#include "gemm/mixed/mixed_format.h"

#include <algorithm>

#include "core/error.h"

namespace deftnn::mixed {

std::string WeightFormat::name() const {
  switch (kind) {
    case WeightKind::Int8: return "int8";
    case WeightKind::FP8E4M3: return "fp8e4m3";
    case WeightKind::Deft8: return "deft8e" + std::to_string(exp_bits);
    case WeightKind::Int4: return "int4";
    case WeightKind::FP4E2M1: return "fp4e2m1";
  }
  return "?";
}

std::vector<WeightFormat> all_weight_formats() {
  std::vector<WeightFormat> v{{WeightKind::Int8}, {WeightKind::FP8E4M3}};
  for (int e = 1; e <= 7; ++e) v.push_back({WeightKind::Deft8, e});
  v.push_back({WeightKind::Int4});
  v.push_back({WeightKind::FP4E2M1});
  return v;
}

WeightFormat WeightFormat::parse(const std::string& name) {
  for (const WeightFormat& f : all_weight_formats())
    if (f.name() == name) return f;
  std::string known;
  for (const WeightFormat& f : all_weight_formats()) known += (known.empty() ? "" : ", ") + f.name();
  DEFTNN_FAIL("unknown mixed-input weight format '{}'; known: {}", name, known);
}

double WeightFormat::max_value() const {
  switch (kind) {
    case WeightKind::Int8: return 127;
    case WeightKind::FP8E4M3: return 448;
    case WeightKind::Deft8: return codec::deft8_decode(0x7f, exp_bits);
    case WeightKind::Int4: return 7;
    case WeightKind::FP4E2M1: return 6;
  }
  return 1;
}

double code_value(const WeightFormat& f, uint32_t code) {
  switch (f.kind) {
    case WeightKind::Int8: return double(int(code & 0xffu) - 128);
    case WeightKind::FP8E4M3: return codec::e4m3_decode(uint8_t(code));
    case WeightKind::Deft8: return codec::deft8_decode(uint8_t(code), f.exp_bits);
    case WeightKind::Int4: return double(int(code & 0xfu) - 8);
    case WeightKind::FP4E2M1: return e2m1_decode(uint8_t(code & 0xfu));
  }
  return 0;
}

uint32_t encode_scaled(const WeightFormat& f, double v) {
  switch (f.kind) {
    case WeightKind::Int8: return uint32_t(int(std::clamp(std::nearbyint(v), -127.0, 127.0)) + 128);
    case WeightKind::FP8E4M3: return codec::e4m3_encode(float(v), Rounding::Nearest);
    case WeightKind::Deft8: return codec::deft8_encode(float(v), f.exp_bits, Rounding::Nearest);
    case WeightKind::Int4: return uint32_t(int(std::clamp(std::nearbyint(v), -7.0, 7.0)) + 8);
    case WeightKind::FP4E2M1: return e2m1_encode(float(v));
  }
  return 0;
}

uint32_t zero_code(const WeightFormat& f) {
  switch (f.kind) {
    case WeightKind::Int8: return 128;
    case WeightKind::Int4: return 8;
    default: return 0;
  }
}

}  // namespace deftnn::mixed
