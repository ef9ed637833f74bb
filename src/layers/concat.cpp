#include "layers/concat.h"

#include <cstring>

#include "layers/kernels/copy_rows_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

AxisParts axis_parts(const Shape& joined, int64_t axis, const std::vector<int64_t>& sizes) {
  AxisParts p;
  for (int64_t d = 0; d < axis; ++d) p.rows *= joined[size_t(d)];
  int64_t inner = 1;
  for (size_t d = size_t(axis) + 1; d < joined.size(); ++d) inner *= joined[d];
  for (int64_t s : sizes) {
    p.offsets.push_back(p.row_width);
    p.widths.push_back(s * inner);
    p.row_width += s * inner;
  }
  return p;
}

void copy_part(Context& ctx, const AxisParts& p, size_t k, const Tensor& src, Tensor& dst, bool to_part) {
  const int64_t es = int64_t(dtype_size(src.dtype()));
  const int64_t part_pitch = p.widths[k] * es, joined_pitch = p.row_width * es, offset = p.offsets[k] * es;
  const char* s = static_cast<const char*>(src.raw()) + (to_part ? offset : 0);
  char* d = static_cast<char*>(dst.raw()) + (to_part ? 0 : offset);
  const int64_t s_pitch = to_part ? joined_pitch : part_pitch, d_pitch = to_part ? part_pitch : joined_pitch;
  if (ctx.is_cuda()) {
    kernels::copy_rows(ctx.stream(), d, d_pitch, s, s_pitch, part_pitch, p.rows);
    return;
  }
  for (int64_t r = 0; r < p.rows; ++r) std::memcpy(d + r * d_pitch, s + r * s_pitch, size_t(part_pitch));
}

std::vector<Shape> ConcatLayer::infer_multi(const std::vector<Shape>& in) {
  DEFTNN_CHECK(in.size() >= 2, "{}: needs 2 or more inputs, got {}", layer_label(*this), in.size());
  DEFTNN_CHECK(axis_ < int64_t(in[0].size()), "{}: axis {} is out of range for input 0 of shape {}",
               layer_label(*this), axis_, shape_str(in[0]));
  Shape out = in[0];
  for (size_t k = 1; k < in.size(); ++k) {
    bool fits = in[k].size() == in[0].size();
    for (size_t d = 0; fits && d < in[0].size(); ++d) fits = int64_t(d) == axis_ || in[k][d] == in[0][d];
    DEFTNN_CHECK(fits, "{}: input {} has shape {} but input 0 has {}: concat along axis {} needs the other "
                 "dimensions equal", layer_label(*this), k, shape_str(in[k]), shape_str(in[0]), axis_);
    out[size_t(axis_)] += in[k][size_t(axis_)];
  }
  return {out};
}

namespace {
std::vector<int64_t> extents(const std::vector<const Tensor*>& t, int64_t axis) {
  std::vector<int64_t> e;
  for (const Tensor* p : t) e.push_back(p->dim(int(axis)));
  return e;
}
}  // namespace

void ConcatLayer::forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                                bool) {
  DEFTNN_CHECK(x.size() >= 2 && y.size() == 1 && x[0], "{}: takes 2 or more inputs and one output, got {} and {}",
               layer_label(*this), x.size(), y.size());
  std::vector<Shape> in;
  for (const Tensor* t : x) in.push_back(t ? t->shape() : Shape{});
  check_multi_args(*this, ctx, x, in, x[0]->dtype(), "input");
  const Shape out = infer_multi(in)[0];
  check_multi_args(*this, ctx, read_only(y), {out}, x[0]->dtype(), "output");
  const AxisParts p = axis_parts(out, axis_, extents(x, axis_));
  for (size_t k = 0; k < x.size(); ++k) copy_part(ctx, p, k, *x[k], *y[0], false);
}

void ConcatLayer::backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                                 const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) {
  DEFTNN_CHECK(dy.size() == 1 && dy[0] && dx.size() == x.size(), "{}: backward takes one output gradient and {} "
               "input gradients, got {} and {}", layer_label(*this), x.size(), dy.size(), dx.size());
  std::vector<Shape> in;
  for (const Tensor* t : x) in.push_back(t->shape());
  const Shape out = infer_multi(in)[0];
  check_multi_args(*this, ctx, dy, {out}, dy[0]->dtype(), "output gradient");
  check_multi_args(*this, ctx, read_only(dx), in, dy[0]->dtype(), "input gradient", true);
  const AxisParts p = axis_parts(out, axis_, extents(x, axis_));
  for (size_t k = 0; k < x.size(); ++k)
    if (dx[k]) copy_part(ctx, p, k, *dy[0], *dx[k], true);
}

nlohmann::json ConcatLayer::config() const {
  auto j = base_config(*this);
  j["axis"] = axis_;
  return j;
}

std::unique_ptr<Layer> make_concat(const nlohmann::json& spec) {
  SpecReader r(spec);
  int64_t axis = r.integer("axis", 1, 1);  // not 0: the batch is the same for every tensor
  r.finish();
  return std::make_unique<ConcatLayer>(r.name(), axis);
}

}  // namespace deftnn
