// From dataset files to what a model eats: load, pad to the model's input,
// split off validation images, normalise with training-split statistics.
// The choices are recorded as JSON (the model file's "data" metadata) so that
// evaluation later uses the same padding and the same mean and std.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "net/net.h"

namespace deftnn::train {

struct PreparedData {
  data::Dataset train, val, test;  // F32, normalised; val may be empty
  // {"dataset": "fashion-mnist", "pad": 2, "mean": [...], "std": [...], "val": 5000, "split_seed": 1}
  nlohmann::json info;
};

struct PrepareOptions {
  std::string dataset = "fashion-mnist";
  std::string dir;        // "" = data::default_data_dir(dataset)
  int64_t val = 5000;     // validation images taken from the training set
  uint64_t seed = 1;      // validation split seed
  bool with_train = true; // false: test split only (normalisation from `stored` or the training file)
};

// `stored` is a model's "data" metadata (or null): when it holds mean and std
// those are used instead of recomputing them.
PreparedData prepare_data(const Shape& model_input, const std::string& model_name, const PrepareOptions& opt,
                          const nlohmann::json& stored = nullptr);

// Fixes OpenBLAS's thread count (results of a seeded CPU run depend on it).
void set_cpu_threads(int threads);

}  // namespace deftnn::train

namespace deftnn::train {

// Calibration and distillation data without labels (issue 11): an array of
// model inputs (N, C, H, W) as the model takes them (already preprocessed;
// net/npy.h reads float32 or float64), labelled by the dense model itself
// with its top-1 class, so that the optimiser's "accuracy" is agreement with
// the dense model and its fine-tuning distils it. Shuffled with `seed`, then
// split: `val` images for validation and as many for the test split (each
// at most a quarter of N), the rest for training; at least 8 training
// images. info: {"dataset": "npy", "path": ..., "labels": "dense top-1", ...}.
PreparedData prepare_unlabelled(Net& net, Context& ctx, const std::string& npy_path, int64_t val, uint64_t seed);

// An image folder (data/image_folder.h: PNG and JPEG files, flat or one
// subfolder per class), decoded to the model's (C, H, W) and split as
// prepare_unlabelled splits an array. A flat folder is labelled by the dense
// model's top-1 class as an .npy is; class folders give the labels (sorted
// names -> 0..C-1), and their count must be the model's output width. The
// folder is listed and the split checked before anything is decoded.
// info: {"dataset": "image-folder", "path", "labels": "class folders" |
// "dense top-1", "classes", "inputs", "skipped", "mean", "std", ...}.
struct ImageFolderPrepare {
  std::vector<float> mean, std;  // data::ImageFolderOptions's: empty = none
  int64_t resize = 0;            // data::ImageFolderOptions's: 0 = resize to cover the input
  bool progress = false;         // an ItemProgress bar on stderr while decoding
};
PreparedData prepare_image_folder(Net& net, Context& ctx, const std::string& dir, const ImageFolderPrepare& opt,
                                  int64_t val, uint64_t seed);

}  // namespace deftnn::train
