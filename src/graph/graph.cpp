#include "graph/graph.h"

#include "core/input_file.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

namespace deftnn {

namespace {

using nlohmann::json;

// An unsigned value above int64's maximum would wrap to a negative in get<int64_t>().
bool is_positive_int(const json& v) {
  constexpr uint64_t kMax = uint64_t(std::numeric_limits<int64_t>::max());
  return v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > kMax) && v.get<int64_t>() > 0;
}

// The most elements one sample of a graph input may have (2^28: 1 GiB of
// F32 per sample, far above any image network).
constexpr int64_t kMaxInputElements = int64_t(1) << 28;

// A non-empty array of non-empty strings, or a throw naming `what`.
std::vector<std::string> name_list(const json& v, const std::string& what) {
  bool ok = v.is_array() && !v.empty();
  for (size_t k = 0; ok && k < v.size(); ++k)
    ok = v[k].is_string() && !v[k].get<std::string>().empty() && v[k].get<std::string>().size() <= kMaxNameLength;
  DEFTNN_CHECK(ok, "{} must be a non-empty array of tensor names (at most {} characters each), got {}", what,
               kMaxNameLength, json_excerpt(v));
  return v.get<std::vector<std::string>>();
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
  return s;
}

// The nodes' tensor names before they become ids.
struct NodeNames {
  std::vector<std::string> inputs, outputs;
};

}  // namespace

void rethrow_with(const Error& e, const std::string& prefix) {
  if (dynamic_cast<const OutOfMemory*>(&e))
    throw OutOfMemory(prefix + e.message(), e.statement().c_str(), e.file(), e.line());
  throw Error(prefix + e.message(), e.statement().c_str(), e.file(), e.line());
}

std::string Graph::node_label(size_t node) const {
  const GraphNode& n = nodes.at(node);
  return DEFTNN_FORMAT("layers[{}] '{}' ({})", n.file_index, n.name, n.type);
}

std::string Graph::tensor_names() const {
  std::string s;
  for (const auto& t : tensors) s += (s.empty() ? "" : ", ") + t.name;
  return s;
}

size_t Graph::tensor_id(const std::string& tensor) const {
  for (size_t t = 0; t < tensors.size(); ++t)
    if (tensors[t].name == tensor) return t;
  DEFTNN_FAIL("{}: no tensor '{}' in the graph (tensors: {})", source, tensor, tensor_names());
}

Graph Graph::parse(const json& graph, const std::string& source) {
  DEFTNN_CHECK(graph.is_object(), "{}: the graph must be a JSON object, got {}", source, graph.type_name());
  // "train": the trainer's default hyperparameters for this model (read by deftnn train).
  static const std::set<std::string> kKeys = {"name", "input", "inputs", "outputs", "classes", "layers", "notes",
                                              "train"};
  for (auto it = graph.begin(); it != graph.end(); ++it)
    DEFTNN_CHECK(kKeys.count(it.key()),
                 "{}: unknown key '{}' in the graph (known: name, input, inputs, outputs, classes, layers, notes, train)",
                 source, it.key());
  for (const char* k : {"name", "layers"}) DEFTNN_CHECK(graph.contains(k), "{}: the graph has no '{}' key", source, k);
  DEFTNN_CHECK(graph.contains("input") != graph.contains("inputs"),
               "{}: the graph needs exactly one of 'input' ([C, H, W], one input named 'data') and 'inputs' "
               "([{{\"name\": ..., \"shape\": [...]}}, ...])",
               source);

  Graph g;
  g.source = source;
  DEFTNN_CHECK(graph["name"].is_string() && !graph["name"].get<std::string>().empty(),
               "{}: key 'name' must be a non-empty string, got {}", source, json_excerpt(graph["name"]));
  g.name = graph["name"].get<std::string>();
  DEFTNN_CHECK(g.name.size() <= kMaxNameLength, "{}: key 'name' of {} characters is longer than {}", source,
               g.name.size(), kMaxNameLength);
  if (graph.contains("notes")) {
    DEFTNN_CHECK(graph["notes"].is_string(), "{}: key 'notes' must be a string, got {}", source,
                 json_excerpt(graph["notes"]));
    g.notes = graph["notes"].get<std::string>();
  }
  if (graph.contains("classes")) {
    DEFTNN_CHECK(is_positive_int(graph["classes"]), "{}: key 'classes' must be a positive integer, got {}", source,
                 json_excerpt(graph["classes"]));
    g.classes = graph["classes"].get<int64_t>();
  }

  // Graph inputs: tensors 0 .. inputs - 1, shapes with a batch of one.
  auto add_input = [&](const std::string& name, const Shape& chw) {
    // One sample's elements, bounded before any layer sizes a buffer from it.
    int64_t numel = 1;
    for (int64_t d : chw)
      DEFTNN_CHECK(!__builtin_mul_overflow(numel, d, &numel) && numel <= kMaxInputElements,
                   "{}: graph input '{}' of shape {} has more than {} elements per sample", source, name,
                   shape_str(chw), kMaxInputElements);
    for (const auto& t : g.tensors)
      DEFTNN_CHECK(t.name != name, "{}: graph input '{}' is declared twice", source, name);
    GraphTensor t;
    t.name = name;
    t.shape = {1};
    t.shape.insert(t.shape.end(), chw.begin(), chw.end());
    t.slot = g.inputs.size();
    g.inputs.push_back(g.tensors.size());
    g.tensors.push_back(std::move(t));
  };
  if (graph.contains("input")) {
    const json& in = graph["input"];
    DEFTNN_CHECK(in.is_array() && in.size() == 3 && is_positive_int(in[0]) && is_positive_int(in[1]) &&
                     is_positive_int(in[2]),
                 "{}: key 'input' must be [C, H, W] (3 positive integers), got {}", source, json_excerpt(in));
    add_input("data", in.get<Shape>());
  } else {
    const json& ins = graph["inputs"];
    DEFTNN_CHECK(ins.is_array() && !ins.empty(), "{}: key 'inputs' must be a non-empty array, got {}", source,
                 json_excerpt(ins));
    for (size_t k = 0; k < ins.size(); ++k) {
      const json& e = ins[k];
      bool ok = e.is_object() && e.size() == 2 && e.contains("name") && e["name"].is_string() &&
                !e["name"].get<std::string>().empty() && e["name"].get<std::string>().size() <= kMaxNameLength &&
                e.contains("shape") && e["shape"].is_array() && !e["shape"].empty();
      for (size_t d = 0; ok && d < e["shape"].size(); ++d) ok = is_positive_int(e["shape"][d]);
      DEFTNN_CHECK(ok,
                   "{}: inputs[{}] must be {{\"name\": a non-empty string (at most {} characters), "
                   "\"shape\": [positive integers] (without the batch)}}, got {}",
                   source, k, kMaxNameLength, json_excerpt(e));
      add_input(e["name"].get<std::string>(), e["shape"].get<Shape>());
    }
  }

  // Nodes in file order, with their tensor names.
  const json& layers = graph["layers"];
  DEFTNN_CHECK(layers.is_array() && !layers.empty(), "{}: key 'layers' must be a non-empty array, got {}", source,
               layers.is_array() ? "[]" : layers.type_name());
  std::vector<GraphNode> file_nodes;
  std::vector<NodeNames> names;
  std::set<std::string> layer_names;
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& spec = layers[i];
    DEFTNN_CHECK(spec.is_object(), "{}: layers[{}] must be a JSON object, got {}", source, i, json_excerpt(spec));
    DEFTNN_CHECK(spec.contains("type") && spec["type"].is_string(), "{}: layers[{}] has no string 'type': {}", source,
                 i, json_excerpt(spec));
    GraphNode n;
    n.file_index = i;
    n.type = spec["type"].get<std::string>();
    n.spec = spec;
    if (!n.spec.contains("name")) n.spec["name"] = DEFTNN_FORMAT("{}{}", n.type, i);
    DEFTNN_CHECK(n.spec["name"].is_string() && !n.spec["name"].get<std::string>().empty(),
                 "{}: layers[{}]: 'name' must be a non-empty string, got {}", source, i, json_excerpt(n.spec["name"]));
    n.name = n.spec["name"].get<std::string>();
    DEFTNN_CHECK(n.name.size() <= kMaxNameLength, "{}: layers[{}]: name of {} characters is longer than {}: {}",
                 source, i, n.name.size(), kMaxNameLength, json_excerpt(n.spec["name"], 60));
    DEFTNN_CHECK(n.name.find('.') == std::string::npos,
                 "{}: layers[{}]: name '{}' contains '.', which separates layer and parameter in model files", source,
                 i, n.name);
    DEFTNN_CHECK(layer_names.insert(n.name).second, "{}: layers[{}]: duplicate layer name '{}'", source, i, n.name);
    NodeNames nn;
    const std::string label = DEFTNN_FORMAT("{}: layers[{}] '{}' ({})", source, i, n.name, n.type);
    if (n.spec.contains("inputs")) {
      nn.inputs = name_list(n.spec["inputs"], label + ": 'inputs'");
      n.spec.erase("inputs");
    } else {
      nn.inputs = {i == 0 ? g.tensors[g.inputs[0]].name : names.back().outputs[0]};
    }
    if (n.spec.contains("outputs")) {
      nn.outputs = name_list(n.spec["outputs"], label + ": 'outputs'");
      n.spec.erase("outputs");
    } else {
      nn.outputs = {n.name};
    }
    file_nodes.push_back(std::move(n));
    names.push_back(std::move(nn));
  }

  // Tensors: every node output is written exactly once.
  std::map<std::string, size_t> id;
  for (size_t t = 0; t < g.tensors.size(); ++t) id[g.tensors[t].name] = t;
  std::vector<int> writer_of;  // file index of the node writing each tensor, -1 for graph inputs
  writer_of.assign(g.tensors.size(), -1);
  for (size_t i = 0; i < file_nodes.size(); ++i)
    for (size_t k = 0; k < names[i].outputs.size(); ++k) {
      const std::string& t = names[i].outputs[k];
      auto it = id.find(t);
      if (it != id.end()) {
        const int w = writer_of[it->second];
        DEFTNN_FAIL("{}: layers[{}] '{}' ({}): tensor '{}' is written twice: {}", source, i, file_nodes[i].name,
                    file_nodes[i].type, t,
                    w < 0 ? std::string("it is a graph input")
                          : DEFTNN_FORMAT("layers[{}] '{}' ({}) writes it too", w, file_nodes[size_t(w)].name,
                                          file_nodes[size_t(w)].type));
      }
      id[t] = g.tensors.size();
      writer_of.push_back(int(i));
      GraphTensor gt;
      gt.name = t;
      gt.slot = k;
      g.tensors.push_back(std::move(gt));
    }
  for (size_t i = 0; i < file_nodes.size(); ++i) {
    for (const std::string& t : names[i].inputs) {
      auto it = id.find(t);
      if (it == id.end()) {
        std::vector<std::string> all;
        for (const auto& gt : g.tensors) all.push_back(gt.name);
        DEFTNN_FAIL("{}: layers[{}] '{}' ({}): input tensor '{}' is no graph input and no layer's output (tensors: {})",
                    source, i, file_nodes[i].name, file_nodes[i].type, t, quoted_list(all));
      }
      file_nodes[i].inputs.push_back(it->second);
    }
    for (const std::string& t : names[i].outputs) file_nodes[i].outputs.push_back(id.at(t));
  }

  // Graph outputs.
  std::vector<std::string> outs =
      graph.contains("outputs") ? name_list(graph["outputs"], source + ": key 'outputs'")
                                : std::vector<std::string>{names.back().outputs[0]};
  for (const std::string& o : outs) {
    auto it = id.find(o);
    if (it == id.end()) {
      std::vector<std::string> all;
      for (const auto& gt : g.tensors) all.push_back(gt.name);
      DEFTNN_FAIL("{}: graph output '{}' is written by no layer and is no graph input (tensors: {})", source, o,
                  quoted_list(all));
    }
    for (size_t seen : g.outputs) DEFTNN_CHECK(seen != it->second, "{}: graph output '{}' is listed twice", source, o);
    g.outputs.push_back(it->second);
  }

  // Topological order, stable: of the nodes whose inputs are all written,
  // the first in file order runs next (a chain keeps its order).
  const size_t n = file_nodes.size();
  std::vector<size_t> waiting(n, 0);
  std::vector<std::vector<size_t>> readers(n);  // file index -> the file indices reading its outputs
  for (size_t i = 0; i < n; ++i)
    for (size_t t : file_nodes[i].inputs)
      if (writer_of[t] >= 0) {
        ++waiting[i];
        readers[size_t(writer_of[t])].push_back(i);
      }
  std::set<size_t> ready;
  for (size_t i = 0; i < n; ++i)
    if (!waiting[i]) ready.insert(i);
  std::vector<size_t> order;
  while (!ready.empty()) {
    size_t i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (size_t r : readers[i])
      if (--waiting[r] == 0) ready.insert(r);
  }
  if (order.size() < n) {
    // Walk back along unwritten inputs from a waiting node until a node
    // repeats: the nodes from its first visit on form a cycle.
    size_t cur = 0;
    while (!waiting[cur]) ++cur;
    std::vector<size_t> path;
    std::vector<int> pos(n, -1);
    while (pos[cur] < 0) {
      pos[cur] = int(path.size());
      path.push_back(cur);
      for (size_t t : file_nodes[cur].inputs)
        if (writer_of[t] >= 0 && waiting[size_t(writer_of[t])]) {
          cur = size_t(writer_of[t]);
          break;
        }
    }
    // path runs against the edges (reader -> writer): turn it around and
    // start it at its first layer in the file.
    std::vector<size_t> loop(path.rbegin(), path.rend() - pos[cur]);
    std::rotate(loop.begin(), std::min_element(loop.begin(), loop.end()), loop.end());
    loop.push_back(loop.front());
    std::string cycle;
    for (size_t k = 0; k < loop.size(); ++k)
      cycle += DEFTNN_FORMAT("{}layers[{}] '{}'", k ? " -> " : "", loop[k], file_nodes[loop[k]].name);
    DEFTNN_FAIL("{}: the layers form a cycle: {} (each reads the previous one's output)", source, cycle);
  }

  std::vector<int> topo_of(n);
  for (size_t k = 0; k < n; ++k) topo_of[order[k]] = int(k);
  for (size_t k = 0; k < n; ++k) g.nodes.push_back(std::move(file_nodes[order[k]]));
  for (size_t t = 0; t < g.tensors.size(); ++t)
    g.tensors[t].producer = writer_of[t] < 0 ? -1 : topo_of[size_t(writer_of[t])];
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (size_t k = 0; k < g.nodes[i].inputs.size(); ++k) g.tensors[g.nodes[i].inputs[k]].consumers.push_back({i, k});
  return g;
}

void Graph::infer_shapes(std::vector<std::unique_ptr<Layer>>& layers) {
  DEFTNN_CHECK(layers.size() == nodes.size(), "{}: {} layers for {} nodes", source, layers.size(), nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    GraphNode& node = nodes[i];
    Layer& l = *layers[i];
    std::vector<Shape> in;
    std::string in_desc;
    for (size_t t : node.inputs) {
      in.push_back(tensors[t].shape);
      in_desc += DEFTNN_FORMAT("{}'{}' {}", in_desc.empty() ? "" : ", ", tensors[t].name, shape_str(tensors[t].shape));
    }
    const int n_in = int(in.size()), lo = l.min_inputs(), hi = l.max_inputs();
    DEFTNN_CHECK(n_in >= lo && (hi == Layer::kAnyCount || n_in <= hi),
                 "{}: {}: a {} layer takes {} inputs, got {} ({})", source, node_label(i), node.type,
                 hi == Layer::kAnyCount ? DEFTNN_FORMAT("{} or more", lo)
                 : lo == hi             ? DEFTNN_FORMAT("{}", lo)
                                        : DEFTNN_FORMAT("{} to {}", lo, hi),
                 n_in, in_desc);
    DEFTNN_CHECK(int(node.outputs.size()) == l.num_outputs(),
                 "{}: {}: writes {} tensors but 'outputs' names {}{}", source, node_label(i), l.num_outputs(),
                 node.outputs.size(), l.num_outputs() > 1 ? " (list them in the layer's 'outputs')" : "");
    std::vector<Shape> out;
    try {
      out = l.infer_multi(in);
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: {}: input {} {} not fit: ", source, node_label(i), in_desc,
                                    in.size() == 1 ? "does" : "do"));
    }
    DEFTNN_CHECK(out.size() == node.outputs.size(), "{}: {}: inferred {} output shapes for {} outputs", source,
                 node_label(i), out.size(), node.outputs.size());
    for (size_t k = 0; k < out.size(); ++k) {
      DEFTNN_CHECK(!out[k].empty() && out[k][0] == 1, "{}: {}: inferred output shape {} for input {} (batch must stay 1)",
                   source, node_label(i), shape_str(out[k]), in_desc);
      for (int64_t d : out[k])
        DEFTNN_CHECK(d > 0, "{}: {}: input {} gives an empty output {}", source, node_label(i), in_desc,
                     shape_str(out[k]));
      tensors[node.outputs[k]].shape = out[k];
    }
  }
  if (classes) {
    const GraphTensor& out = tensors[outputs[0]];
    std::string by = out.producer < 0 ? "the graph input" : DEFTNN_FORMAT("layer '{}' ({})", nodes[size_t(out.producer)].name,
                                                                          nodes[size_t(out.producer)].type);
    if (out.producer == int(nodes.size()) - 1) by = "the last " + by;
    DEFTNN_CHECK(out.shape.size() == 2 && out.shape[1] == *classes,
                 "{}: {} outputs {} (tensor '{}') but the graph declares {} classes: the first output must be (N, {})",
                 source, by, shape_str(out.shape), out.name, *classes, *classes);
  }
}

json Graph::to_json(const std::vector<json>& layer_entries) const {
  DEFTNN_CHECK(layer_entries.size() == nodes.size(), "{}: {} layer entries for {} nodes", source,
               layer_entries.size(), nodes.size());
  json g = json::object();
  g["name"] = name;
  const GraphTensor& first = tensors[inputs[0]];
  if (inputs.size() == 1 && first.name == "data" && first.shape.size() == 4) {
    g["input"] = Shape(first.shape.begin() + 1, first.shape.end());
  } else {
    json ins = json::array();
    for (size_t t : inputs)
      ins.push_back({{"name", tensors[t].name}, {"shape", Shape(tensors[t].shape.begin() + 1, tensors[t].shape.end())}});
    g["inputs"] = ins;
  }
  if (classes) g["classes"] = *classes;
  if (!notes.empty()) g["notes"] = notes;
  json layers = json::array();
  for (size_t i = 0; i < nodes.size(); ++i) {
    json e = layer_entries[i];
    const GraphNode& node = nodes[i];
    const size_t default_in = i == 0 ? inputs[0] : nodes[i - 1].outputs[0];
    if (node.inputs != std::vector<size_t>{default_in}) {
      json names = json::array();
      for (size_t t : node.inputs) names.push_back(tensors[t].name);
      e["inputs"] = names;
    }
    if (node.outputs.size() != 1 || tensors[node.outputs[0]].name != node.name) {
      json names = json::array();
      for (size_t t : node.outputs) names.push_back(tensors[t].name);
      e["outputs"] = names;
    }
    layers.push_back(e);
  }
  g["layers"] = layers;
  if (outputs != std::vector<size_t>{nodes.back().outputs[0]}) {
    json names = json::array();
    for (size_t t : outputs) names.push_back(tensors[t].name);
    g["outputs"] = names;
  }
  return g;
}

}  // namespace deftnn
