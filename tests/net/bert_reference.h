// The tiny random BERT of the encoder tests and its plain fp64 reference
// (each sentence alone, its tokens only: BertModel, mean pooling, L2
// normalisation), shared by tests/net/test_bert.cpp and test_bert_sve.cpp.
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"
#include "net/bert.h"
#include "test_util.h"

namespace deftnn::bert {
namespace {

const BertConfig kTiny{8, 2, 2, 12, 23, 20, 2, 1e-12};

// Through 2 encoder layers of width 8 in fp32, outputs of norm 1: the
// layer norms bound every activation to a few units, each stage adds a
// few ulps relative; 2e-5 on each component leaves ample margin above the
// ~1e-6 seen and far below any wrong wiring (which errs by O(0.1)).
constexpr double kTinyAtol = 2e-5;

using Weights = std::map<std::string, std::vector<double>>;

// Every tensor of a BertConfig, random (fp32 values), by Hugging Face name,
// with the shapes bert_graph's layers give them.
std::map<std::string, Tensor> random_weights(const BertConfig& c, uint64_t seed) {
  std::map<std::string, Tensor> t;
  Net shapes = Net::from_graph(bert_graph(c, 1), "shapes");
  for (size_t i = 0; i < shapes.size(); ++i)
    for (Param* p : shapes.layer(i).params()) {
      const std::string name = hf_tensor_name(shapes.layer(i).name(), p->name);
      const bool ln_weight = name.find("LayerNorm.weight") != std::string::npos;
      t[name] = test::random_tensor(p->value.shape(), seed++, ln_weight ? 0.5f : -0.6f, ln_weight ? 1.5f : 0.6f);
    }
  return t;
}

Weights as_doubles(const std::map<std::string, Tensor>& t) {
  Weights w;
  auto cpu = Context::cpu();
  for (const auto& [k, v] : t) {
    auto f = v.to_vector(*cpu);
    w[k] = std::vector<double>(f.begin(), f.end());
  }
  return w;
}

using Mat = std::vector<std::vector<double>>;  // rows of tokens

Mat linear(const Mat& x, const std::vector<double>& w, const std::vector<double>& b) {
  Mat y(x.size(), std::vector<double>(b.size()));
  for (size_t r = 0; r < x.size(); ++r)
    for (size_t o = 0; o < b.size(); ++o) {
      double s = b[o];
      for (size_t i = 0; i < x[r].size(); ++i) s += w[o * x[r].size() + i] * x[r][i];
      y[r][o] = s;
    }
  return y;
}

Mat layernorm(const Mat& x, const std::vector<double>& g, const std::vector<double>& b, double eps) {
  Mat y = x;
  for (auto& row : y) {
    double mean = 0, var = 0;
    for (double v : row) mean += v / double(row.size());
    for (double v : row) var += (v - mean) * (v - mean) / double(row.size());
    for (size_t j = 0; j < row.size(); ++j) row[j] = (row[j] - mean) / std::sqrt(var + eps) * g[j] + b[j];
  }
  return y;
}

Mat add(Mat a, const Mat& b) {
  for (size_t r = 0; r < a.size(); ++r)
    for (size_t j = 0; j < a[r].size(); ++j) a[r][j] += b[r][j];
  return a;
}

// How a linear layer's inputs and weights are rounded before the product
// (nullptr: not at all; the bf16 tests round as the tensor cores' inputs are).
using Rounding = std::function<double(double)>;

// One sentence, its tokens only: BertModel, mean pooling, L2 normalisation.
std::vector<double> reference_embedding(const BertConfig& c, const Weights& w, const std::vector<int32_t>& ids,
                                        const Rounding& round_linear = nullptr) {
  const size_t L = ids.size(), H = size_t(c.hidden), D = H / size_t(c.heads);
  Mat x(L, std::vector<double>(H));
  for (size_t t = 0; t < L; ++t)
    for (size_t j = 0; j < H; ++j)
      x[t][j] = w.at("embeddings.word_embeddings.weight")[size_t(ids[t]) * H + j] +
                w.at("embeddings.position_embeddings.weight")[t * H + j] +
                w.at("embeddings.token_type_embeddings.weight")[j];
  x = layernorm(x, w.at("embeddings.LayerNorm.weight"), w.at("embeddings.LayerNorm.bias"), c.layer_norm_eps);
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto lin = [&](const Mat& in, const std::string& name) {
      if (!round_linear) return linear(in, w.at(p + name + ".weight"), w.at(p + name + ".bias"));
      Mat xr = in;
      for (auto& row : xr)
        for (auto& e : row) e = round_linear(e);
      std::vector<double> wr = w.at(p + name + ".weight");
      for (auto& e : wr) e = round_linear(e);
      return linear(xr, wr, w.at(p + name + ".bias"));
    };
    Mat q = lin(x, "attention.self.query"), k = lin(x, "attention.self.key"), v = lin(x, "attention.self.value");
    Mat a(L, std::vector<double>(H, 0.0));
    for (size_t h = 0; h < size_t(c.heads); ++h)
      for (size_t i = 0; i < L; ++i) {
        std::vector<double> s(L);
        double mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < L; ++j) {
          double dot = 0;
          for (size_t e = 0; e < D; ++e) dot += q[i][h * D + e] * k[j][h * D + e];
          mx = std::max(mx, s[j] = dot / std::sqrt(double(D)));
        }
        for (auto& e : s) sum += e = std::exp(e - mx);
        for (size_t j = 0; j < L; ++j)
          for (size_t e = 0; e < D; ++e) a[i][h * D + e] += s[j] / sum * v[j][h * D + e];
      }
    Mat x1 = layernorm(add(lin(a, "attention.output.dense"), x), w.at(p + "attention.output.LayerNorm.weight"),
                       w.at(p + "attention.output.LayerNorm.bias"), c.layer_norm_eps);
    Mat f = lin(x1, "intermediate.dense");
    for (auto& row : f)
      for (auto& e : row) e = 0.5 * e * (1 + std::erf(e / std::sqrt(2.0)));
    x = layernorm(add(lin(f, "output.dense"), x1), w.at(p + "output.LayerNorm.weight"),
                  w.at(p + "output.LayerNorm.bias"), c.layer_norm_eps);
  }
  std::vector<double> m(H, 0.0);
  for (const auto& row : x)
    for (size_t j = 0; j < H; ++j) m[j] += row[j] / double(L);
  double n = 0;
  for (double e : m) n += e * e;
  for (auto& e : m) e /= std::max(std::sqrt(n), 1e-12);
  return m;
}

// Lengths 1 to 20 (the tiny model's positions): in batches of 2 the padded
// T is 8, 16 and, for 17 tokens, 20 (the multiple of 8 capped at the model).
std::vector<std::vector<int32_t>> tiny_sentences() {
  std::vector<std::vector<int32_t>> s;
  Rng rng(77);
  for (size_t len : {5, 1, 12, 3, 9, 17, 20, 8}) {
    std::vector<int32_t> ids(len);
    for (auto& id : ids) id = int32_t(rng.below(uint64_t(kTiny.vocab)));
    s.push_back(ids);
  }
  return s;
}

}  // namespace
}  // namespace deftnn::bert
