// safetensors files: the model file format (and the checkpoint format).
//
// Layout (https://github.com/huggingface/safetensors):
//   [8 bytes]  N, the header size, unsigned 64-bit little-endian
//   [N bytes]  JSON header: {"<tensor>": {"dtype": "F32", "shape": [..],
//              "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
//              (padded with spaces to a multiple of 8 bytes)
//   [...]      the tensors' raw little-endian bytes; offsets are relative to
//              the start of this block, and the tensors tile it exactly
//              (no gaps, no overlap).
//
// Readers check every field and throw deftnn::Error with a message that
// starts with the file's path. Writers are atomic: they write
// "<path>.tmp-<pid>", fsync it, and rename it onto <path>; on any error the
// temporary file is removed and <path> is left as it was (core/output_file.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/output_file.h"
#include "core/tensor.h"

namespace deftnn {

struct TensorFile {
  std::map<std::string, Tensor> tensors;             // CPU tensors, by name
  std::map<std::string, std::string> metadata;       // the "__metadata__" map
};

// Reads and validates a whole safetensors file. Tensors come back on the CPU.
TensorFile read_safetensors(const std::string& path);

// Writes `file` to `path` atomically. Tensors on the GPU are copied to the
// host through ctx (pass nullptr when every tensor is on the CPU). Tensors are
// packed back to back in name order (the format allows no gaps); the header is
// padded with spaces so the data block starts 8-byte aligned.
void write_safetensors(const std::string& path, const TensorFile& file, const Context* ctx = nullptr);

// Largest header the reader accepts (the reference implementation's limit).
constexpr uint64_t kSafetensorsMaxHeader = 100u << 20;

}  // namespace deftnn
