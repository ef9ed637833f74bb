#include "layers/layer_util.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/input_file.h"
#include "synapse/sve_apply.h"

namespace deftnn {

SpecReader::SpecReader(const nlohmann::json& spec) : spec_(spec) {
  DEFTNN_CHECK(spec.is_object(), "a layer entry must be a JSON object, got {}", json_excerpt(spec));
  DEFTNN_CHECK(spec.contains("type") && spec["type"].is_string(), "layer entry {} has no string key 'type'",
               json_excerpt(spec));
  type_ = spec["type"].get<std::string>();
  DEFTNN_CHECK(spec.contains("name") && spec["name"].is_string() && !spec["name"].get<std::string>().empty(),
               "layer entry of type '{}' has no non-empty string key 'name': {}", type_, json_excerpt(spec));
  name_ = spec["name"].get<std::string>();
}

void SpecReader::fail(const std::string& key, const std::string& why) const {
  DEFTNN_FAIL("layer '{}' ({}): key '{}' {}", name_, type_, key, why);
}

namespace {
std::string int_range(int64_t lo, int64_t hi) {
  return hi == std::numeric_limits<int64_t>::max() ? fmt::format(">= {}", lo) : fmt::format("in [{}, {}]", lo, hi);
}
// An unsigned value above INT64_MAX would wrap in get<int64_t>().
bool int_in(const nlohmann::json& v, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned())
    return v.get<uint64_t>() <= uint64_t(hi) && (lo <= 0 || v.get<uint64_t>() >= uint64_t(lo));
  return v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
}
}  // namespace

int64_t SpecReader::integer(const std::string& key, std::optional<int64_t> def, int64_t min_value,
                            int64_t max_value) {
  read_.insert(key);
  if (!spec_.contains(key)) {
    if (!def) fail(key, fmt::format("is missing (an integer {})", int_range(min_value, max_value)));
    return *def;
  }
  const auto& v = spec_[key];
  if (!int_in(v, min_value, max_value))
    fail(key, fmt::format("must be an integer {}, got {}", int_range(min_value, max_value), json_excerpt(v)));
  return v.get<int64_t>();
}

std::pair<int64_t, int64_t> SpecReader::int_pair(const std::string& key, std::optional<int64_t> def,
                                                 int64_t min_value, int64_t max_value) {
  read_.insert(key);
  if (!spec_.contains(key)) {
    if (!def) fail(key, fmt::format("is missing (an integer or [h, w], {})", int_range(min_value, max_value)));
    return {*def, *def};
  }
  const auto& v = spec_[key];
  if (int_in(v, min_value, max_value)) return {v.get<int64_t>(), v.get<int64_t>()};
  if (!v.is_array() || v.size() != 2 || !int_in(v[0], min_value, max_value) || !int_in(v[1], min_value, max_value))
    fail(key,
         fmt::format("must be an integer or [h, w], {}, got {}", int_range(min_value, max_value), json_excerpt(v)));
  return {v[0].get<int64_t>(), v[1].get<int64_t>()};
}

bool SpecReader::boolean(const std::string& key, bool def) {
  read_.insert(key);
  if (!spec_.contains(key)) return def;
  const auto& v = spec_[key];
  if (!v.is_boolean()) fail(key, fmt::format("must be true or false, got {}", json_excerpt(v)));
  return v.get<bool>();
}

std::string SpecReader::choice(const std::string& key, const std::vector<std::string>& choices) {
  read_.insert(key);
  std::string known;
  for (const auto& c : choices) known += (known.empty() ? "" : ", ") + c;
  if (!spec_.contains(key)) fail(key, fmt::format("is required (one of: {})", known));
  const auto& v = spec_[key];
  if (!v.is_string() || std::find(choices.begin(), choices.end(), v.get<std::string>()) == choices.end())
    fail(key, fmt::format("must be one of {}, got {}", known, json_excerpt(v)));
  return v.get<std::string>();
}

const nlohmann::json* SpecReader::object(const std::string& key) {
  read_.insert(key);
  if (!spec_.contains(key)) return nullptr;
  const auto& v = spec_[key];
  if (!v.is_object()) fail(key, fmt::format("must be a JSON object, got {}", json_excerpt(v)));
  return &v;
}

double SpecReader::number(const std::string& key, std::optional<double> def, double lo, double hi, bool lo_open) {
  read_.insert(key);
  if (!spec_.contains(key)) {
    if (!def) fail(key, fmt::format("is missing (a number in {}{}, {}])", lo_open ? "(" : "[", lo, hi));
    return *def;
  }
  const auto& v = spec_[key];
  double x = v.is_number() ? v.get<double>() : 0;
  if (!v.is_number() || !std::isfinite(x) || x < lo || (lo_open && x == lo) || x > hi)
    fail(key, fmt::format("must be a number in {}{}, {}], got {}", lo_open ? "(" : "[", lo, hi, json_excerpt(v)));
  return x;
}

void SpecReader::finish() const {
  for (const auto& [key, value] : spec_.items()) {
    if (key == "type" || key == "name" || read_.count(key)) continue;
    std::string known;
    for (const auto& k : read_) known += (known.empty() ? "" : ", ") + k;
    DEFTNN_FAIL("layer '{}' ({}): unknown key '{}' (known: {})", name_, type_, key,
                known.empty() ? "none besides type and name" : known);
  }
}

SveState read_sve_entry(const SpecReader& r, const nlohmann::json& sve) {
  try {
    return sve_from_json(sve);
  } catch (const nlohmann::json::exception& e) {
    r.fail("sve", fmt::format("is malformed: {}", e.what()));
  }
}

std::string layer_label(const Layer& l) { return fmt::format("layer '{}' ({})", l.name(), l.type()); }

nlohmann::json base_config(const Layer& l) { return {{"type", l.type()}, {"name", l.name()}}; }

namespace {
void check_same_device(const Layer& l, const Context& ctx, const Tensor& t, const char* what) {
  DEFTNN_CHECK(t.defined(), "{}: {} is undefined", layer_label(l), what);
  DEFTNN_CHECK(t.device() == ctx.device(), "{}: {} is on {} but the context is {}", layer_label(l), what,
               device_name(t.device()), device_name(ctx.device()));
}
}  // namespace

void check_forward_args(const Layer& l, const Context& ctx, const Tensor& x, const Tensor& y, const Shape& y_shape) {
  check_same_device(l, ctx, x, "input");
  check_same_device(l, ctx, y, "output");
  DEFTNN_CHECK(x.dtype() == DType::F32 || (x.dtype() == DType::F64 && !ctx.is_cuda()),
               "{}: input element type {} (F32, or F64 on the CPU)", layer_label(l), dtype_name(x.dtype()));
  DEFTNN_CHECK(y.dtype() == x.dtype(), "{}: output is {}, input {}", layer_label(l), dtype_name(y.dtype()),
               dtype_name(x.dtype()));
  DEFTNN_CHECK(y.shape() == y_shape, "{}: output has shape {}, input {} needs {}", layer_label(l),
               shape_str(y.shape()), shape_str(x.shape()), shape_str(y_shape));
}

void check_backward_args(const Layer& l, const Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy,
                         const Tensor* dx) {
  check_same_device(l, ctx, x, "input");
  check_same_device(l, ctx, dy, "output gradient");
  DEFTNN_CHECK(dy.dtype() == x.dtype() && dy.shape() == y.shape(), "{}: output gradient {} {}, output {} {}",
               layer_label(l), dtype_name(dy.dtype()), shape_str(dy.shape()), dtype_name(y.dtype()),
               shape_str(y.shape()));
  if (dx) {
    check_same_device(l, ctx, *dx, "input gradient");
    DEFTNN_CHECK(dx->dtype() == x.dtype() && dx->shape() == x.shape(), "{}: input gradient {} {}, input {} {}",
                 layer_label(l), dtype_name(dx->dtype()), shape_str(dx->shape()), dtype_name(x.dtype()),
                 shape_str(x.shape()));
  }
}

void ensure_tensor(Tensor& t, const Shape& shape, DType dtype, const Context& ctx) {
  if (t.defined() && t.shape() == shape && t.dtype() == dtype && t.device() == ctx.device()) return;
  t = Tensor::empty(shape, dtype, ctx.device());
}

Dims4 require_nchw(const Layer& l, const Shape& in) {
  DEFTNN_CHECK(in.size() == 4, "{}: needs an (N, C, H, W) input, got {}", layer_label(l), shape_str(in));
  return {in[0], in[1], in[2], in[3]};
}

}  // namespace deftnn
