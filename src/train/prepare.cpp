#include "train/prepare.h"

#include <cblas.h>

#include <algorithm>

#include "net/npy.h"
#include "train/distill.h"

namespace deftnn::train {

void set_cpu_threads(int threads) {
  DEFTNN_CHECK(threads >= 1, "thread count {} must be at least 1", threads);
  openblas_set_num_threads(threads);
}

PreparedData prepare_data(const Shape& model_input, const std::string& model_name, const PrepareOptions& opt,
                          const nlohmann::json& stored) {
  PreparedData out;
  data::Dataset test = data::load_dataset(opt.dataset, opt.dir, data::Split::Test);
  int64_t pad = data::padding_to_fit(test.image_shape(), model_input, test.name, model_name);
  test = data::pad_images(test, pad);
  data::Normalization norm;
  bool have_norm = stored.is_object() && stored.contains("mean") && stored.contains("std");
  if (have_norm) norm = data::Normalization::from_json(stored);
  nlohmann::json info = {{"dataset", opt.dataset}, {"pad", pad}};
  if (opt.with_train || !have_norm) {
    data::Dataset train = data::pad_images(data::load_dataset(opt.dataset, opt.dir, data::Split::Train), pad);
    if (opt.val > 0) {
      auto split = data::split_validation(train, opt.val, opt.seed);
      train = std::move(split.train);
      out.val = std::move(split.val);
    }
    if (!have_norm) norm = data::compute_normalization(train);
    if (opt.with_train) {
      out.train = data::normalize(train, norm);
      if (out.val.size() > 0) out.val = data::normalize(out.val, norm);
    }
    info["val"] = opt.val;
    info["split_seed"] = opt.seed;
  }
  nlohmann::json nj = norm.to_json();
  info["mean"] = nj["mean"];
  info["std"] = nj["std"];
  out.test = data::normalize(test, norm);
  out.info = info;
  return out;
}

}  // namespace deftnn::train

namespace deftnn::train {

PreparedData prepare_unlabelled(Net& net, Context& ctx, const std::string& npy_path, int64_t val, uint64_t seed) {
  Tensor x = read_npy(npy_path);
  const Shape want = net.input_shape();  // (C, H, W)
  Shape per_image(x.shape().begin() + (x.ndim() > 0 ? 1 : 0), x.shape().end());
  DEFTNN_CHECK(x.ndim() == int(want.size()) + 1 && per_image == want,
               "{}: an array of shape {}; the model '{}' takes (N, {}) inputs", npy_path, shape_str(x.shape()),
               net.name(), shape_str(want).substr(1, shape_str(want).size() - 2));
  const int64_t n = x.dim(0);
  const int64_t held = std::min(val, n / 4);
  DEFTNN_CHECK(val >= 0 && n - 2 * held >= 8, "{}: {} inputs leave {} for training after {} for validation and {} "
               "for the test split; give at least {}", npy_path, n, n - 2 * held, held, held,
               8 + 2 * held);
  // The dense model's top-1 class of every input (labels zero until then).
  data::Dataset all;
  all.name = npy_path;
  all.images = x;
  all.labels = Tensor::zeros({n}, *Context::cpu(), DType::I32);
  const Tensor logits = predict_logits(net, ctx, all, 64);
  const int64_t classes = logits.dim(1);
  DEFTNN_CHECK(classes >= 2, "{}: the model '{}' gives {} output per input: labelling by its top-1 class needs a "
               "classifier", npy_path, net.name(), classes);
  for (int64_t r = 0; r < n; ++r) {
    const float* row = logits.data<float>() + r * classes;
    all.labels.data<int32_t>()[r] = int32_t(std::max_element(row, row + classes) - row);
  }
  all.classes = classes;
  PreparedData out;
  auto first = data::split_validation(all, held, seed);
  auto second = data::split_validation(first.train, held, seed + 1);
  out.train = std::move(second.train);
  out.val = std::move(second.val);
  out.test = std::move(first.val);
  out.train.name = npy_path + " (train)", out.val.name = npy_path + " (val)", out.test.name = npy_path + " (test)";
  out.info = {{"dataset", "npy"}, {"path", npy_path}, {"labels", "dense top-1"}, {"inputs", n},
              {"val", held}, {"split_seed", seed}};
  return out;
}

}  // namespace deftnn::train
