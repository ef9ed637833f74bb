// What the optimiser found (every layer's variants, every measured point, the
// frontier and the selected point), and how a found composition or point is
// installed in the net.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.h"
#include "net/net.h"
#include "tune/frontier.h"
#include "tune/twins.h"
#include "tune/variants.h"

namespace deftnn::tune {

struct OptimizeResult {
  std::vector<GemmLayer> layers;     // every GEMM layer of the net
  std::vector<size_t> optimised;     // indices into layers
  std::vector<std::vector<Variant>> options;     // per optimised layer: [dense, sve variants by kept desc]
  std::vector<std::vector<Variant>> l1_options;  // per optimised layer: [dense, l1 twins], same order
  std::vector<std::vector<Variant>> paper_options;  // method sve-ls + paper_baseline: [dense, paper twins]
  std::vector<Tensor> base;                      // every parameter of the net as given (CPU), net.params() order
  std::vector<std::vector<Tensor>> tuned;        // per "joint" point: every parameter after joint fine-tuning
  std::vector<Point> points, frontier;
  size_t selected = 0;               // index into frontier (installed in the net on return)
  nlohmann::json report;
};

// Installs composition `choice` (one option per optimised layer).
// twin: from r.options (the compositions' method), r.l1_options or r.paper_options.
void install_choice(Net& net, Context& ctx, const OptimizeResult& r, const std::vector<int>& choice,
                    Twin twin = Twin::Method);

// Installs a point: the given net's parameters, then its composition, then
// (a "joint" point) its jointly fine-tuned parameters, then its GEMM format
// on every GEMM layer (fp32 when p.format is empty).
void install_point(Net& net, Context& ctx, const OptimizeResult& r, const Point& p);

// Every parameter of the net (net.params() order): set from CPU copies, and
// copied to the CPU.
void set_params(Net& net, Context& ctx, const std::vector<Tensor>& values);
std::vector<Tensor> params_of(Net& net, Context& ctx);

}  // namespace deftnn::tune
