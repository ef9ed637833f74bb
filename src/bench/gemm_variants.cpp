// The names of the mixed-input variants of `deftnn bench gemm`, checked by
// the CLI before any GPU work: in a CPU source, so that a build without CUDA
// (where gemm_bench.cpp is not compiled) links the CLI too.
#include "bench/gemm_bench.h"
#include "core/error.h"
#include "gemm/mixed/mixed_format.h"

namespace deftnn {

bool is_mix_variant(const std::string& v) { return v.rfind("mix-", 0) == 0; }

std::string mix_format_name(const std::string& v) {
  DEFTNN_CHECK(is_mix_variant(v), "'{}' is not a mix- variant", v);
  std::string f = v.substr(4);
  if (f == "fp8") f = "fp8e4m3";
  else if (f == "deft8") f = "deft8e4";
  else if (f == "fp4") f = "fp4e2m1";
  return mixed::WeightFormat::parse(f).name();  // throws, listing the known formats
}

}  // namespace deftnn
