// The one door where names become an ExecPlan: command-line flags and the
// JSON of model files. Unknown names throw an Error listing the known ones.
// After this door nothing parses strings; the optimiser builds LayerExec
// values directly.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plan/exec_plan.h"

namespace deftnn::plan {

Precision parse_precision(const std::string& name);      // fp32 tf32 bf16 fp16 fp8e4m3
KernelFamily parse_kernel(const std::string& name);      // auto cpu-blas cublas cudnn fission mixed
MixedChoice parse_mixed_choice(const std::string& name);  // measure kernel dequantized
FissionPlacement parse_placement(const std::string& name);  // onchip offchip compute16
Format parse_format(const std::string& name);            // formats/format.h names
SveTransform parse_transform(const std::string& name);   // fused copy swap
// A list of formats (`bench gemm`, `optimize`): every name checked.
std::vector<Format> parse_formats(const std::vector<std::string>& names);

// The plan flags shared by the subcommands, as typed by the user ("" or
// empty = not given).
struct PlanFlags {
  // Each item FORMAT (every GEMM layer) or LAYER=FORMAT (that layer).
  std::vector<std::string> format;
  // Comma separated items PRECISION (every GEMM layer) or LAYER=PRECISION.
  std::string precision;
  // Comma separated items WEIGHTS (every GEMM layer) or LAYER=WEIGHTS: a
  // mixed-input weight format (kernel mixed), or none (back to fp32 weights).
  std::string weights;
  std::string kernel, transform, mixed_choice;
  bool no_fuse = false;   // --no-fuse: run every layer as it is
  bool no_trunk = false;  // --no-trunk: NCHW everywhere
  bool any() const {
    return !format.empty() || !kernel.empty() || !precision.empty() || !transform.empty() || !weights.empty() ||
           !mixed_choice.empty() || no_fuse || no_trunk;
  }
};

// `base` (the plan the net was loaded with) with the given flags applied: a
// kernel, precision or transform replaces the default's and every per-layer
// entry's; FORMAT replaces the format of the default and of every entry;
// LAYER=FORMAT and LAYER=PRECISION make (or change) that layer's entry. Layer names are checked
// against a net later (check_plan).
ExecPlan from_flags(const PlanFlags& flags, ExecPlan base = {});

// The model-file form ({"version": 1, "fuse_inference", "trunk", "default":
// {...}, "layers": {"conv2": {...}}}); from_json(to_json(p)) == p.
nlohmann::json to_json(const ExecPlan& p);
ExecPlan from_json(const nlohmann::json& j);
nlohmann::json to_json(const LayerExec& e);
// Missing keys keep their defaults.
LayerExec layer_exec_from_json(const nlohmann::json& j);
// Old model files: a graph layer's "gemm": {"backend", "format", "placement"}
// (backend auto | cpu-blas | cublas | cublas-tf32 | cublas-bf16 | fission).
LayerExec layer_exec_from_legacy_gemm(const nlohmann::json& j);

}  // namespace deftnn::plan
