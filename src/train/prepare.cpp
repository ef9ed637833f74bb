#include "train/prepare.h"

#include <cblas.h>

#include <algorithm>

#include "data/image_folder.h"
#include "net/npy.h"
#include "train/distill.h"
#include "train/progress.h"

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

namespace {

// At most a quarter each for validation and test, at least 8 to train.
int64_t held_count(int64_t n, int64_t val, const std::string& what) {
  DEFTNN_CHECK(val >= 0, "{}: a validation count of {}", what, val);
  const int64_t held = std::min(val, n / 4);
  int64_t least = 8;  // the fewest inputs that leave 8 (the held share grows with n)
  while (least - 2 * std::min(val, least / 4) < 8) ++least;
  DEFTNN_CHECK(n - 2 * held >= 8, "{}: {} inputs leave {} for training after {} for validation and {} for the "
               "test split; give at least {}", what, n, n - 2 * held, held, held, least);
  return held;
}

// The model's output width, from its first graph output (N, classes).
int64_t output_width(const Net& net) {
  const std::vector<std::string> outs = net.output_names();
  DEFTNN_CHECK(!outs.empty(), "the model '{}' has no output", net.name());
  const Shape s = net.tensor_shape(outs[0], 1);
  DEFTNN_CHECK(s.size() == 2, "the model '{}' gives outputs of shape {} per batch of 1: labelled inputs need a "
               "classifier's (N, classes) logits", net.name(), shape_str(s));
  return s[1];
}

// Labels from the dense model's top-1 class of every input.
void label_by_dense_model(Net& net, Context& ctx, data::Dataset& all, const std::string& what) {
  const int64_t n = all.images.dim(0);
  all.labels = Tensor::zeros({n}, *Context::cpu(), DType::I32);
  const Tensor logits = predict_logits(net, ctx, all, 64);
  const int64_t classes = logits.dim(1);
  DEFTNN_CHECK(classes >= 2, "{}: the model '{}' gives {} output per input: labelling by its top-1 class needs a "
               "classifier", what, net.name(), classes);
  for (int64_t r = 0; r < n; ++r) {
    const float* row = logits.data<float>() + r * classes;
    all.labels.data<int32_t>()[r] = int32_t(std::max_element(row, row + classes) - row);
  }
  all.classes = classes;
}

// Shuffled with `seed`, then `held` for the test split, `held` for validation, the rest to train.
PreparedData split_inputs(const data::Dataset& all, int64_t held, uint64_t seed, const std::string& what) {
  PreparedData out;
  auto first = data::split_validation(all, held, seed);
  auto second = data::split_validation(first.train, held, seed + 1);
  out.train = std::move(second.train);
  out.val = std::move(second.val);
  out.test = std::move(first.val);
  out.train.name = what + " (train)", out.val.name = what + " (val)", out.test.name = what + " (test)";
  return out;
}

}  // namespace

PreparedData prepare_unlabelled(Net& net, Context& ctx, const std::string& npy_path, int64_t val, uint64_t seed) {
  Tensor x = read_npy(npy_path);
  const Shape want = net.input_shape();  // (C, H, W)
  Shape per_image(x.shape().begin() + (x.ndim() > 0 ? 1 : 0), x.shape().end());
  DEFTNN_CHECK(x.ndim() == int(want.size()) + 1 && per_image == want,
               "{}: an array of shape {}; the model '{}' takes (N, {}) inputs", npy_path, shape_str(x.shape()),
               net.name(), shape_str(want).substr(1, shape_str(want).size() - 2));
  const int64_t n = x.dim(0);
  const int64_t held = held_count(n, val, npy_path);
  data::Dataset all;
  all.name = npy_path;
  all.images = x;
  label_by_dense_model(net, ctx, all, npy_path);
  PreparedData out = split_inputs(all, held, seed, npy_path);
  out.info = {{"dataset", "npy"}, {"path", npy_path}, {"labels", "dense top-1"}, {"inputs", n},
              {"val", held}, {"split_seed", seed}};
  return out;
}

PreparedData prepare_image_folder(Net& net, Context& ctx, const std::string& dir, const ImageFolderPrepare& opt,
                                  int64_t val, uint64_t seed) {
  DEFTNN_CHECK(data::have_image_support(), "{}: this deftnn was built without image support (libpng and libjpeg "
               "were not both found at build time); install libpng-dev and libjpeg-dev and rebuild, or give an "
               ".npy of inputs", dir);
  const Shape want = net.input_shape();
  DEFTNN_CHECK(want.size() == 3, "{}: the model '{}' takes inputs of shape {}, not images (C, H, W)", dir,
               net.name(), shape_str(want));
  const data::ImageFolderListing listing = data::list_image_folder(dir);
  const int64_t n = int64_t(listing.files.size());
  if (listing.labelled()) {
    const int64_t width = output_width(net);
    const int64_t classes = int64_t(listing.classes.size());
    DEFTNN_CHECK(classes == width, "{}: {} class folders ({}{}) but the model '{}' has {} outputs: the class "
                 "folders, sorted by name, are the classes 0..{}", dir, classes, listing.classes.front(),
                 classes > 1 ? " ... " + listing.classes.back() : std::string(), net.name(), width, width - 1);
  }
  const int64_t held = held_count(n, val, dir);  // before the decoding
  data::ImageFolderOptions io;
  io.input = want;
  io.mean = opt.mean;
  io.std = opt.std;
  io.resize = opt.resize;
  ItemProgress progress(opt.progress, "decode " + dir, "images", n);
  io.progress = [&](int64_t done) { progress.update(done); };
  data::Dataset all;
  all.name = dir;
  all.images = data::read_image_folder(listing, io);
  progress.finish();
  if (listing.labelled()) {
    all.labels = Tensor::empty({n}, DType::I32);
    std::copy(listing.labels.begin(), listing.labels.end(), all.labels.data<int32_t>());
    all.classes = int64_t(listing.classes.size());
  } else {
    label_by_dense_model(net, ctx, all, dir);
  }
  PreparedData out = split_inputs(all, held, seed, dir);
  out.info = {{"dataset", "image-folder"},
              {"path", dir},
              {"labels", listing.labelled() ? "class folders" : "dense top-1"},
              {"inputs", n},
              {"skipped", listing.skipped},
              {"resize", opt.resize > 0 ? fmt::format("bilinear (antialiased), shorter side to {}, centre crop", opt.resize)
                                        : std::string("bilinear (antialiased) to cover H x W, centre crop")},
              {"mean", opt.mean},
              {"std", opt.std},
              {"val", held},
              {"split_seed", seed}};
  if (listing.labelled()) out.info["classes"] = listing.classes;
  return out;
}

}  // namespace deftnn::train
