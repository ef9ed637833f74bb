// --device, one meaning for every subcommand that runs a net (bench, eval,
// optimize, train): cpu | cuda | auto, auto (the default) being CUDA when a
// GPU is usable. Asking for cuda without one fails when the context is made
// (Context::cuda names the driver's reason and the way out).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "core/context.h"
#include "core/error.h"
#include "typed_option.h"

// nullopt: auto. "gpu" is an alias of cuda.
inline std::optional<deftnn::Device> parse_device_option(const std::string& name) {
  if (name == "auto") return std::nullopt;
  if (name == "cpu" || name == "cuda" || name == "gpu") return deftnn::device_from_name(name);
  DEFTNN_FAIL("unknown device '{}' (known: cpu, cuda, auto)", name);
}

inline CLI::Option* add_device_option(CLI::App& cmd, std::optional<deftnn::Device>& device) {
  return add_typed_option(cmd, "--device", device, parse_device_option,
                          "cpu | cuda | auto (default: auto, cuda when a GPU is usable)");
}

// The device asked for, else (auto) CUDA when a GPU is usable, else the CPU.
inline deftnn::Device resolve_device(const std::optional<deftnn::Device>& device) {
  if (device) return *device;
  return deftnn::cuda_available() ? deftnn::Device::CUDA : deftnn::Device::CPU;
}
