#include "layers/split.h"

#include "layers/concat.h"
#include "layers/layer_util.h"

namespace deftnn {

std::vector<Shape> SplitLayer::infer_multi(const std::vector<Shape>& in) {
  DEFTNN_CHECK(in.size() == 1, "{}: takes one input, got {}", layer_label(*this), in.size());
  DEFTNN_CHECK(axis_ < int64_t(in[0].size()), "{}: axis {} is out of range for the input shape {}",
               layer_label(*this), axis_, shape_str(in[0]));
  int64_t total = 0;
  for (int64_t s : sizes_) total += s;
  DEFTNN_CHECK(total == in[0][size_t(axis_)], "{}: sizes add up to {} but the input {} has {} along axis {}",
               layer_label(*this), total, shape_str(in[0]), in[0][size_t(axis_)], axis_);
  std::vector<Shape> out;
  for (int64_t s : sizes_) {
    Shape o = in[0];
    o[size_t(axis_)] = s;
    out.push_back(o);
  }
  return out;
}

void SplitLayer::forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                               bool) {
  DEFTNN_CHECK(x.size() == 1 && x[0] && y.size() == sizes_.size(), "{}: takes one input and {} outputs, got {} and {}",
               layer_label(*this), sizes_.size(), x.size(), y.size());
  check_multi_args(*this, ctx, x, {x[0]->shape()}, x[0]->dtype(), "input");
  const std::vector<Shape> out = infer_multi({x[0]->shape()});
  check_multi_args(*this, ctx, read_only(y), out, x[0]->dtype(), "output");
  const AxisParts p = axis_parts(x[0]->shape(), axis_, sizes_);
  for (size_t k = 0; k < y.size(); ++k) copy_part(ctx, p, k, *x[0], *y[k], true);
}

void SplitLayer::backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                                const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) {
  DEFTNN_CHECK(x.size() == 1 && x[0] && dx.size() == 1 && dy.size() == sizes_.size(),
               "{}: backward takes {} output gradients and one input gradient, got {} and {}", layer_label(*this),
               sizes_.size(), dy.size(), dx.size());
  const std::vector<Shape> out = infer_multi({x[0]->shape()});
  check_multi_args(*this, ctx, dy, out, x[0]->dtype(), "output gradient");
  check_multi_args(*this, ctx, read_only(dx), {x[0]->shape()}, x[0]->dtype(), "input gradient", true);
  if (!dx[0]) return;
  const AxisParts p = axis_parts(x[0]->shape(), axis_, sizes_);
  for (size_t k = 0; k < dy.size(); ++k) copy_part(ctx, p, k, *dy[k], *dx[0], false);
}

nlohmann::json SplitLayer::config() const {
  auto j = base_config(*this);
  j["axis"] = axis_;
  j["sizes"] = sizes_;
  return j;
}

std::unique_ptr<Layer> make_split(const nlohmann::json& spec) {
  // "sizes" is an array, which SpecReader does not read: checked here, then
  // left out of what SpecReader sees.
  nlohmann::json rest = spec;
  rest.erase("sizes");
  SpecReader r(rest);
  int64_t axis = r.integer("axis", 1, 1);  // not 0: the batch is the same for every tensor
  r.finish();
  const nlohmann::json sizes = spec.value("sizes", nlohmann::json());
  bool ok = sizes.is_array() && sizes.size() >= 2;
  for (size_t k = 0; ok && k < sizes.size(); ++k) ok = sizes[k].is_number_integer() && sizes[k].get<int64_t>() > 0;
  if (!ok) r.fail("sizes", "must be an array of 2 or more positive integers, got " + sizes.dump());
  return std::make_unique<SplitLayer>(r.name(), axis, sizes.get<std::vector<int64_t>>());
}

}  // namespace deftnn
