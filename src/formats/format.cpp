#include "formats/format.h"

#include "core/error.h"

namespace deftnn {

std::string Format::name() const {
  switch (kind) {
    case FormatKind::FP32: return "fp32";
    case FormatKind::Half: return "half";
    case FormatKind::Deft16: return "deft16";
    case FormatKind::Deft16Q: return "deft16q";
    case FormatKind::Deft8: return "deft8e" + std::to_string(exp_bits);
    case FormatKind::FP8E4M3: return "fp8e4m3";
    case FormatKind::FP8E5M2: return "fp8e5m2";
  }
  return "?";
}

int Format::bits() const {
  switch (kind) {
    case FormatKind::FP32: return 32;
    case FormatKind::Half:
    case FormatKind::Deft16:
    case FormatKind::Deft16Q: return 16;
    default: return 8;
  }
}

std::vector<Format> all_formats() {
  std::vector<Format> v = {{FormatKind::FP32}, {FormatKind::Half}, {FormatKind::Deft16}, {FormatKind::Deft16Q}};
  for (int e = 1; e <= 7; ++e) v.push_back({FormatKind::Deft8, e});
  v.push_back({FormatKind::FP8E4M3});
  v.push_back({FormatKind::FP8E5M2});
  return v;
}

Format Format::parse(const std::string& name) {
  for (const Format& f : all_formats())
    if (f.name() == name) return f;
  if (name == "deft8") return {FormatKind::Deft8, 4};
  DEFTNN_FAIL("unknown number format '{}' (known: fp32, half, deft16, deft16q, deft8e1..deft8e7, fp8e4m3, fp8e5m2)",
              name);
}

}  // namespace deftnn
