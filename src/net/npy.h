// NumPy .npy files (format version 1.0): what `deftnn embed` writes, so
// `numpy.load` reads the embeddings with no other tool. Written atomically
// through write_file_atomic (temporary file, fsync, rename): a failed or
// interrupted write never leaves half a file at the path.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace deftnn {

// The header of a C-order little-endian float32 array of `shape`: magic,
// version 1.0, the header length and the dict, padded with spaces and a
// newline to a multiple of 64 bytes (the format's alignment).
std::string npy_header_f32(const Shape& shape);

// Writes an F32 CPU tensor to `path` (its shape and elements).
void write_npy(const std::string& path, const Tensor& t);

// Reads a .npy array (versions 1.0 to 3.0, C order, little-endian '<f4' or
// '<f8', the latter rounded to float) as an F32 CPU tensor. Errors name the
// file: another dtype, Fortran order, a header that does not parse, a shape
// whose size overflows or disagrees with the file's length.
Tensor read_npy(const std::string& path);

}  // namespace deftnn
