// The execution plan: the one typed answer to "how does each GEMM layer of a
// net run". Built at one door (plan/parse.h: CLI flags, model-file JSON) or
// directly by the optimiser, validated before it reaches a layer
// (can_implement, check_plan in plan/apply.h), and handed to each layer by a
// call (GemmLayer::set_exec). Nothing after the door parses names.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "core/context.h"
#include "formats/format.h"
#include "gemm/gemm.h"
#include "synapse/sve_state.h"
#include "plan/exec_types.h"

namespace deftnn {

// How one GEMM layer's forward runs (backward is plain fp32 always).
struct LayerExec {
  Precision precision = Precision::FP32;
  KernelFamily kernel = KernelFamily::Auto;
  Format format;  // weight storage format; fp32 = no fission
  FissionPlacement placement = FissionPlacement::OnChip;
  // The run-time SVE input transform; nullopt = the one the layer's SVE state
  // was built for. Only fused <-> copy can change at run time: swap reorders
  // the kept rows (and the weight's columns) when the state is built.
  std::optional<SveTransform> transform;
  // Kernel mixed: the layer's weights in a mixed-input format, and how the
  // CUDA path is picked (plan/exec_types.h).
  mixed::WeightFormat weights;
  MixedChoice mixed_choice = MixedChoice::Measure;
  bool operator==(const LayerExec&) const = default;
};

// The GEMM configuration a LayerExec gives the front door.
GemmConfig gemm_config(const LayerExec& e);

// Activation layout between layers at inference (Net::trunk_fusion): Auto =
// the channel-major conv trunk on CUDA only; Off = NCHW everywhere; On = also
// on the CPU.
enum class TrunkPolicy : uint8_t { Auto, Off, On };
const char* trunk_policy_name(TrunkPolicy t);  // "auto" | "off" | "on"

struct ExecPlan {
  bool fuse_inference = true;  // Net::fuse_inference: ReLU fusion, inference identities skipped
  TrunkPolicy trunk = TrunkPolicy::Auto;
  LayerExec defaults;                       // every GEMM layer without an entry of its own
  std::map<std::string, LayerExec> layers;  // per layer, by name
  // Layers whose mixed weights were named for them (LAYER=WEIGHTS in
  // --weights, kernel mixed in a plan file's entry): check_plan refuses a
  // convolution among them, where an all-layers --weights just skips it.
  std::set<std::string> weights_named;
  // The LayerExec of layer `name` of kind `kind`: its own entry, else the
  // default. A default kernel of cudnn means "convolutions through cuDNN":
  // linear layers then get cublas. Kernel mixed means "linear layers in mixed
  // weights": convolutions then get auto (default and entries alike).
  LayerExec exec_for(const std::string& name, LayerKind kind) const;
  bool operator==(const ExecPlan&) const = default;
};

// In the manner of CUTLASS's can_implement: "" when `e` runs a layer of
// `kind` on `device` (with an active SVE state when sve_active), else why
// not, listing what exists.
std::string can_implement(const LayerExec& e, LayerKind kind, Device device, bool sve_active);

}  // namespace deftnn
