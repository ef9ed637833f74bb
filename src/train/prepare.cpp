#include "train/prepare.h"

#include <cblas.h>

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
