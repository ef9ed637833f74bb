#include "core/dtype.h"

#include "core/error.h"

namespace deftnn {

namespace {
struct Row {
  DType t;
  const char* name;
  size_t size;
};
constexpr Row kRows[] = {
    {DType::F32, "F32", 4}, {DType::F64, "F64", 8}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4}, {DType::I64, "I64", 8},
    {DType::U8, "U8", 1},   {DType::U16, "U16", 2}, {DType::U32, "U32", 4},
};
}  // namespace

size_t dtype_size(DType t) {
  for (const auto& r : kRows)
    if (r.t == t) return r.size;
  DEFTNN_FAIL("unknown dtype {}", int(t));
}

const char* dtype_name(DType t) {
  for (const auto& r : kRows)
    if (r.t == t) return r.name;
  DEFTNN_FAIL("unknown dtype {}", int(t));
}

DType dtype_from_name(const std::string& name) {
  for (const auto& r : kRows)
    if (name == r.name) return r.t;
  DEFTNN_FAIL("unknown dtype '{}' (known: F32 F64 F16 BF16 I32 I64 U8 U16 U32)", name);
}

}  // namespace deftnn
