// A minimal safetensors reader and writer for checkpoints: the trainer adds
// its optimizer state to the model file the Net writes, as extra tensors and
// one metadata entry, so any safetensors reader can still open it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace deftnn::train {

struct SafetensorsFile {
  nlohmann::json metadata = nlohmann::json::object();  // "__metadata__": string -> string
  std::vector<std::pair<std::string, Tensor>> tensors;  // CPU tensors, in file order
  const Tensor* find(const std::string& name) const;
};

SafetensorsFile read_safetensors(const std::string& path);
// Writes to path + ".tmp" and renames it into place.
void write_safetensors(const std::string& path, const SafetensorsFile& file);

}  // namespace deftnn::train
