// From dataset files to what a model eats: load, pad to the model's input,
// split off validation images, normalise with training-split statistics.
// The choices are recorded as JSON (the model file's "data" metadata) so that
// evaluation later uses the same padding and the same mean and std.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

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
