// An ExecPlan against a Net: the whole-plan check, handing each GEMM layer
// its LayerExec, and reading the plan a net runs back.
#pragma once

#include <optional>

#include "net/net.h"
#include "plan/exec_plan.h"

namespace deftnn::plan {

// Throws an Error unless every GEMM layer of `net` can run its LayerExec on
// `device` (std::nullopt: on at least one device, as when a model file is
// loaded). The error names the layer and lists what exists; a per-layer entry
// for a layer the net does not have, or for one that runs no GEMM, is an
// error too (listing the GEMM layers).
void check_plan(const ExecPlan& plan, const Net& net, std::optional<Device> device);

// check_plan, then every GEMM layer's set_exec and the net's inference
// layout settings.
void apply_plan(Net& net, const ExecPlan& plan, std::optional<Device> device);

// The plan `net` runs now: its layout settings, the default LayerExec and an
// entry for every GEMM layer that runs otherwise. apply_plan(net, plan_of(net))
// changes nothing.
ExecPlan plan_of(const Net& net);

}  // namespace deftnn::plan
