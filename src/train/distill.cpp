#include "train/distill.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/loader.h"
#include "train/distill_kernel.h"
#include "train/distill_row.h"

namespace deftnn::train {

namespace {

void check_rows(const Context& ctx, const Tensor& t, const char* what) {
  DEFTNN_CHECK(t.defined() && t.ndim() == 2, "distillation loss: {} must be (N, C), got {}", what,
               t.defined() ? shape_str(t.shape()) : "undefined");
  DEFTNN_CHECK(t.device() == ctx.device(), "distillation loss: {} on the {}, the context on the {}", what,
               device_name(t.device()), device_name(ctx.device()));
  DEFTNN_CHECK(t.dtype() == DType::F32 || (t.dtype() == DType::F64 && !ctx.is_cuda()),
               "distillation loss: {} are {} (F32, or F64 on the CPU)", what, dtype_name(t.dtype()));
}

}  // namespace

DistillLoss distillation_loss(Context& ctx, const Tensor& logits, const Tensor& labels, const Tensor& teacher,
                              double temperature, double weight, Tensor* dlogits, int64_t* correct) {
  check_rows(ctx, logits, "student logits");
  check_rows(ctx, teacher, "teacher logits");
  const int64_t n = logits.dim(0), c = logits.dim(1);
  DEFTNN_CHECK(n > 0 && c > 0, "distillation loss: empty logits {}", shape_str(logits.shape()));
  DEFTNN_CHECK(teacher.shape() == logits.shape() && teacher.dtype() == logits.dtype(),
               "distillation loss: teacher logits {} {}, student logits {} {}", dtype_name(teacher.dtype()),
               shape_str(teacher.shape()), dtype_name(logits.dtype()), shape_str(logits.shape()));
  DEFTNN_CHECK(labels.defined() && labels.dtype() == DType::I32 && labels.shape() == Shape{n} &&
                   labels.device() == ctx.device(),
               "distillation loss: labels must be I32 ({}) on the {}, got {} {}", n, device_name(ctx.device()),
               labels.defined() ? dtype_name(labels.dtype()) : "undefined", shape_str(labels.shape()));
  DEFTNN_CHECK(temperature > 0 && std::isfinite(temperature), "distillation loss: temperature {} (must be > 0)",
               temperature);
  DEFTNN_CHECK(weight >= 0 && weight <= 1, "distillation loss: weight {} outside [0, 1]", weight);
  if (dlogits) {
    check_rows(ctx, *dlogits, "gradient");
    DEFTNN_CHECK(dlogits->shape() == logits.shape() && dlogits->dtype() == logits.dtype(),
                 "distillation loss: gradient {} {}, logits {} {}", dtype_name(dlogits->dtype()),
                 shape_str(dlogits->shape()), dtype_name(logits.dtype()), shape_str(logits.shape()));
  }
  // Per-row results, then the sums in fp64 on the host, rows in order.
  Tensor hard, soft, flags;
  if (ctx.is_cuda()) {
    hard = Tensor::empty({n}, DType::F32);
    soft = Tensor::empty({n}, DType::F32);
    flags = Tensor::empty({n}, DType::I32);
    distill_rows_cuda(ctx.stream(), logits.data<float>(), labels.data<int32_t>(), teacher.data<float>(), n, c,
                      float(temperature), float(weight), dlogits ? dlogits->data<float>() : nullptr,
                      ctx.workspace(distill_scratch_bytes(n)), hard.data<float>(), soft.data<float>(),
                      flags.data<int32_t>());
  } else {
    hard = Tensor::empty({n}, logits.dtype());
    soft = Tensor::empty({n}, logits.dtype());
    flags = Tensor::empty({n}, DType::I32);
    auto run = [&](auto zero) {
      using T = decltype(zero);
      const T* z = logits.data<T>();
      const T* t = teacher.data<T>();
      const int32_t* y = labels.data<int32_t>();
      T* g = dlogits ? dlogits->data<T>() : nullptr;
      for (int64_t i = 0; i < n; ++i)
        detail::distill_row<T>(z + i * c, y[i], t + i * c, c, T(temperature), T(weight), T(1) / T(n),
                               g ? g + i * c : nullptr, hard.data<T>() + i, soft.data<T>() + i,
                               flags.data<int32_t>() + i);
    };
    if (logits.dtype() == DType::F64) run(double{});
    else run(float{});
  }
  DistillLoss r;
  int64_t right = 0;
  const int32_t* f = flags.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    DEFTNN_CHECK(!(f[i] & kDistillBadLabel), "distillation loss: the label of row {} is outside [0, {})", i, c);
    const double h = hard.dtype() == DType::F64 ? hard.data<double>()[i] : double(hard.data<float>()[i]);
    const double s = soft.dtype() == DType::F64 ? soft.data<double>()[i] : double(soft.data<float>()[i]);
    r.hard += h;
    r.soft += s;
    right += (f[i] & kDistillCorrect) ? 1 : 0;
  }
  r.hard /= double(n);
  r.soft /= double(n);
  r.loss = (1 - weight) * r.hard + weight * temperature * temperature * r.soft;
  if (correct) *correct += right;
  return r;
}

Tensor predict_logits(Net& net, Context& ctx, const data::Dataset& ds, int64_t batch) {
  data::Loader loader(ds, {.batch = batch, .shuffle = false, .drop_last = false, .seed = 0});
  Tensor x, y, out;
  int64_t row = 0;
  while (loader.next(ctx, x, y)) {
    Tensor logits = net.forward(ctx, x, /*train=*/false).to(Device::CPU, ctx);
    DEFTNN_CHECK(logits.ndim() == 2, "{}: logits of {} are {}, expected (N, C)", net.name(), ds.name,
                 shape_str(logits.shape()));
    if (!out.defined()) out = Tensor::empty({ds.size(), logits.dim(1)});
    std::copy_n(logits.data<float>(), logits.numel(), out.data<float>() + row * logits.dim(1));
    row += logits.dim(0);
  }
  return out;
}

Tensor gather_rows(const Tensor& table, const std::vector<int64_t>& indices) {
  DEFTNN_CHECK(table.defined() && table.ndim() == 2 && table.dtype() == DType::F32 && table.device() == Device::CPU,
               "gather_rows: wants an (N, C) F32 table on the CPU");
  const int64_t n = table.dim(0), c = table.dim(1);
  Tensor out = Tensor::empty({int64_t(indices.size()), c});
  for (size_t i = 0; i < indices.size(); ++i) {
    DEFTNN_CHECK(indices[i] >= 0 && indices[i] < n, "gather_rows: row {} of a table of {}", indices[i], n);
    std::copy_n(table.data<float>() + indices[i] * c, c, out.data<float>() + int64_t(i) * c);
  }
  return out;
}

}  // namespace deftnn::train
