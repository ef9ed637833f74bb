#include "synapse/sve_apply.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "synapse/input_transform.h"

namespace deftnn {

void check_sve(const SveState& s, int64_t K, const std::string& layer) {
  DEFTNN_CHECK(s.original_k == K, "layer '{}': SVE state is for K = {}, the layer's input has K = {}", layer,
               s.original_k, K);
  const int64_t Kp = int64_t(s.kept.size());
  DEFTNN_CHECK(Kp > 0 && Kp <= K, "layer '{}': SVE keeps {} of {} rows", layer, Kp, K);
  std::vector<char> seen(size_t(K), 0);
  for (int32_t k : s.kept) {
    DEFTNN_CHECK(k >= 0 && k < K, "layer '{}': SVE kept row {} outside [0, {})", layer, k, K);
    DEFTNN_CHECK(!seen[size_t(k)], "layer '{}': SVE kept row {} listed twice", layer, k);
    seen[size_t(k)] = 1;
  }
  if (s.group > 1) {
    DEFTNN_CHECK(K % s.group == 0, "layer '{}': SVE group of {} rows does not divide K = {}", layer, s.group, K);
    for (int64_t g = 0; g < K; g += s.group)
      for (int64_t t = 1; t < s.group; ++t)
        DEFTNN_CHECK(seen[size_t(g + t)] == seen[size_t(g)],
                     "layer '{}': SVE state says channel granularity (groups of {} rows) but keeps row {} and not "
                     "row {} of the same group",
                     layer, s.group, seen[size_t(g)] ? g : g + t, seen[size_t(g)] ? g + t : g);
  } else {
    DEFTNN_CHECK(s.group == 1, "layer '{}': SVE group must be >= 1, got {}", layer, s.group);
  }
  if (s.transform != SveTransform::Swap) return;
  std::vector<int32_t> perm(static_cast<size_t>(K));
  std::iota(perm.begin(), perm.end(), 0);
  std::vector<char> touched(size_t(K), 0);
  for (auto [a, b] : s.swaps) {
    DEFTNN_CHECK(a >= Kp && a < K && b >= 0 && b < Kp,
                 "layer '{}': SVE swap ({}, {}) is not (kept row >= K'={}, discarded row < K')", layer, a, b, Kp);
    DEFTNN_CHECK(!touched[size_t(a)] && !touched[size_t(b)], "layer '{}': SVE swaps reuse a row ({}, {})", layer, a,
                 b);
    touched[size_t(a)] = touched[size_t(b)] = 1;
    std::swap(perm[size_t(a)], perm[size_t(b)]);
  }
  DEFTNN_CHECK(std::equal(s.kept.begin(), s.kept.end(), perm.begin()),
               "layer '{}': the SVE swaps do not leave the kept rows, in weight-column order, in rows 0..{} "
               "(build them with sve::make_plan)",
               layer, Kp - 1);
}

namespace {
Tensor upload_i32(const std::vector<int32_t>& v, Context& ctx) {
  if (v.empty()) return {};
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::I32, Device::CPU);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(int32_t));
  return ctx.is_cuda() ? t.to(Device::CUDA, ctx) : t;
}
}  // namespace

void sve_upload(SveState& s, Context& ctx) {
  s.kept_device = upload_i32(s.kept, ctx);
  s.swaps_device = upload_i32(sve::flatten_pairs(s.swaps), ctx);
}

nlohmann::json sve_to_json(const SveState& s) {
  nlohmann::json swaps = nlohmann::json::array();
  for (auto [a, b] : s.swaps) swaps.push_back({a, b});
  nlohmann::json j = {{"original_k", s.original_k},
                      {"kept", s.kept},
                      {"swaps", swaps},
                      {"transform", sve_transform_name(s.transform)}};
  if (s.group > 1) j["group"] = s.group;  // tap-granular states stay as they were written before
  return j;
}

SveState sve_from_json(const nlohmann::json& j) {
  SveState s;
  s.original_k = j.at("original_k").get<int64_t>();
  s.kept = j.at("kept").get<std::vector<int32_t>>();
  if (j.contains("swaps"))
    for (const auto& p : j.at("swaps")) s.swaps.emplace_back(p.at(0).get<int32_t>(), p.at(1).get<int32_t>());
  s.transform = sve_transform_from_name(j.value("transform", std::string("fused")));
  s.group = j.value("group", int64_t(1));  // files before channel granularity: taps
  return s;
}

}  // namespace deftnn
