// Element types a Tensor can hold. Names follow safetensors ("F32", "U16", ...)
// so model files need no translation table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace deftnn {

enum class DType : uint8_t { F32, F64, F16, BF16, I32, I64, U8, U16, U32 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);         // "F32", ...
DType dtype_from_name(const std::string&);  // throws on unknown names

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::U16; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::U32; }

}  // namespace deftnn
