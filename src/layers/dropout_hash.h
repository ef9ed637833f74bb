// The dropout mask as a pure function of (seed, call counter, element index),
// the same on the host and the device: a splitmix64 stream keyed by the seed
// and the counter, read at the element's index. No state, no generator to
// keep in step, and CPU and CUDA masks are identical bit for bit.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define DEFTNN_HD __host__ __device__
#else
#define DEFTNN_HD
#endif

namespace deftnn {

constexpr uint64_t kGolden64 = 0x9E3779B97F4A7C15ull;

// splitmix64's output function (Steele, Lea, Flood 2014).
DEFTNN_HD inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The key of one forward call's mask.
DEFTNN_HD inline uint64_t dropout_key(uint64_t seed, uint64_t counter) {
  return splitmix64_mix(splitmix64_mix(seed) ^ ((counter + 1) * kGolden64));
}

// Keep element `index` iff the top 32 bits of its draw are below `threshold`
// (= round((1 - ratio) * 2^32), so P(keep) = 1 - ratio within 2^-33).
DEFTNN_HD inline bool dropout_keep(uint64_t key, uint64_t index, uint64_t threshold) {
  return (splitmix64_mix(key + (index + 1) * kGolden64) >> 32) < threshold;
}

inline uint64_t dropout_threshold(double ratio) { return uint64_t(std::llround((1.0 - ratio) * 4294967296.0)); }

}  // namespace deftnn
