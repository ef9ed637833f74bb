// deftnn inspect MODEL: per-layer output shapes, parameter counts, FLOPs and
// the GEMM shapes (Caffe's W (M x K) times X (K x N), per group) of a graph
// file (.json), a model file (.safetensors) or an ONNX model (.onnx). A graph that branches also
// gets, per layer, the tensors it reads and writes (the JSON always has them).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>

#include "layers/gemm_layer.h"
#include "net/net.h"
#include "plan/apply.h"
#include "plan/parse.h"

namespace {

struct InspectOptions {
  std::string model;
  int64_t batch = 1;
  bool json = false;
};

int64_t param_count(deftnn::Layer& l) {
  int64_t n = 0;
  for (deftnn::Param* p : l.params())
    if (p->trainable) n += p->value.numel();
  return n;
}

std::string shape_plain(const deftnn::Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

// 1234567 -> "1,234,567"
std::string grouped(int64_t v) {
  std::string d = std::to_string(v < 0 ? -v : v), r;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i && (d.size() - i) % 3 == 0) r += ',';
    r += d[i];
  }
  return (v < 0 ? "-" : "") + r;
}

// True when every layer reads only the previous layer's one output (the
// first layer: the graph input) and the graph's output is the last layer's.
bool is_chain(const deftnn::Graph& g) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const size_t from = i ? g.nodes[i - 1].outputs.at(0) : g.inputs.at(0);
    if (g.nodes[i].inputs != std::vector<size_t>{from} || g.nodes[i].outputs.size() != 1) return false;
  }
  return g.inputs.size() == 1 && g.outputs.size() == 1 && !g.nodes.empty() && g.outputs[0] == g.nodes.back().outputs[0];
}

std::string joined(const std::vector<std::string>& v) {
  std::string r;
  for (size_t i = 0; i < v.size(); ++i) r += (i ? ", " : "") + v[i];
  return r;
}

void run_inspect(const InspectOptions& o) {
  if (o.batch < 1) throw deftnn::Error(fmt::format("--batch must be at least 1, got {}", o.batch), "", __FILE__, __LINE__);
  deftnn::Net net = deftnn::Net::load(o.model);
  const deftnn::ExecPlan plan = deftnn::plan::plan_of(net);  // as stored in the model file
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  int64_t total_params = 0, total_flops = 0;
  for (size_t i = 0; i < net.size(); ++i) {
    deftnn::Layer& l = net.layer(i);
    deftnn::Shape in = net.input_shape_of(i, o.batch), out = net.output_shape(i, o.batch);
    int64_t params = param_count(l), flops = l.flops(in);
    total_params += params;
    total_flops += flops;
    nlohmann::ordered_json row = {{"name", l.name()}, {"type", l.type()}, {"input", in},  {"output", out},
                          {"params", params}, {"flops", flops}, {"inputs", net.input_names(i)},
                          {"outputs", net.output_names(i)}};
    if (l.has_gemm()) {
      deftnn::GemmShape g = l.gemm_shape(in);
      row["gemm"] = {{"M", g.M}, {"N", g.N}, {"K", g.K}, {"groups", g.groups}};
      // SVE: kept of K synapse vectors and the granularity it was eliminated
      // at (channel: whole groups of `group` vectors, docs/sve.md).
      if (const deftnn::SveState& sv = l.as_gemm()->sve(); sv.active()) {
        const int64_t kept = int64_t(sv.kept.size());
        row["sve"] = {{"kept", kept},
                      {"original_k", sv.original_k},
                      {"granularity", sv.group > 1 ? "channel" : "tap"},
                      {"group", sv.group},
                      {"kept_channels", sv.group > 1 ? nlohmann::ordered_json(kept / sv.group) : nlohmann::ordered_json()},
                      {"transform", deftnn::sve_transform_name(sv.transform)}};
      }
    }
    layers.push_back(row);
  }
  if (o.json) {
    nlohmann::ordered_json doc = {{"model", o.model},
                          {"name", net.name()},
                          {"input", net.input_shape()},
                          {"classes", net.classes()},
                          {"batch", o.batch},
                          {"layers", layers},
                          {"total_params", total_params},
                          {"total_flops", total_flops},
                          {"plan", deftnn::plan::to_json(plan)}};
    fmt::print("{}\n", doc.dump(2));
    return;
  }
  const bool chain = is_chain(net.topology());
  // A graph that names no class count (an imported ONNX model): its output's
  // features instead, which is what a classifier's class count is.
  std::string what = fmt::format("{} classes", net.classes());
  if (net.classes() == 0) {
    const std::vector<std::string> outs = net.output_names();
    what = outs.size() == 1 ? fmt::format("output {}", shape_plain(net.tensor_shape(outs[0], o.batch)))
                            : fmt::format("{} outputs", outs.size());
  }
  fmt::print("{} ({}): input {}, {}, batch {}\n", net.name(), o.model, shape_plain(net.input_shape()), what, o.batch);
  if (!chain)
    fmt::print("a branching graph: inputs {}; outputs {}\n", joined(net.input_names()), joined(net.output_names()));
  fmt::print("\n");
  bool any_sve = false;
  for (const auto& r : layers) any_sve = any_sve || r.contains("sve");
  fmt::print("{:<10} {:<9} {:>18} {:>12} {:>16}  {:>6} {:>9} {:>6} {:>6}{}{}\n", "layer", "type", "output", "params",
             "FLOPs", "M", "N", "K", "groups", any_sve ? fmt::format("  {:<22}", "SVE kept") : "",
             chain ? "" : "  reads -> writes");
  for (const auto& r : layers) {
    std::string m, n, k, g, sv;
    if (r.contains("sve")) {
      const auto& e = r["sve"];
      sv = e["group"].get<int64_t>() > 1
               ? fmt::format("{}/{} ch ({}/{})", e["kept_channels"].get<int64_t>(),
                             e["original_k"].get<int64_t>() / e["group"].get<int64_t>(), e["kept"].get<int64_t>(),
                             e["original_k"].get<int64_t>())
               : fmt::format("{}/{} tap", e["kept"].get<int64_t>(), e["original_k"].get<int64_t>());
    }
    if (r.contains("gemm")) {
      m = std::to_string(r["gemm"]["M"].get<int64_t>());
      n = std::to_string(r["gemm"]["N"].get<int64_t>());
      k = std::to_string(r["gemm"]["K"].get<int64_t>());
      g = std::to_string(r["gemm"]["groups"].get<int64_t>());
    }
    const std::string edges = chain ? "" : "  " + joined(r["inputs"].get<std::vector<std::string>>()) + " -> " +
                                               joined(r["outputs"].get<std::vector<std::string>>());
    fmt::print("{:<10} {:<9} {:>18} {:>12} {:>16}  {:>6} {:>9} {:>6} {:>6}{}{}\n", r["name"].get<std::string>(),
               r["type"].get<std::string>(), shape_plain(r["output"].get<deftnn::Shape>()),
               grouped(r["params"].get<int64_t>()), grouped(r["flops"].get<int64_t>()), m, n, k, g,
               any_sve ? fmt::format("  {:<22}", sv) : "", edges);
  }
  fmt::print("\ntotal: {} parameters, {} FLOPs per batch of {} ({:.3f} GFLOPs)\n", grouped(total_params),
             grouped(total_flops), o.batch, double(total_flops) * 1e-9);
  if (plan == deftnn::ExecPlan{})
    fmt::print("execution plan: the default (fp32: cuBLAS on CUDA, OpenBLAS on the CPU)\n");
  else
    fmt::print("execution plan: {}\n", deftnn::plan::to_json(plan).dump());
}

}  // namespace

void register_inspect_command(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Print a network's layers: output shape, parameters, FLOPs and GEMM shapes (M, N, K, groups), and its execution plan");
  cmd->add_option("model", o->model, "graph file (.json), model file (.safetensors) or ONNX model (.onnx)")->required();
  cmd->add_option("--batch,-b", o->batch, "batch size for shapes, FLOPs and GEMM N")->capture_default_str();
  cmd->add_flag("--json", o->json, "print JSON instead of a table");
  cmd->callback([o] { run_inspect(*o); });
}
