// Seeded random numbers. Every random choice in deftnn (weight init, data
// shuffling, dropout masks, test inputs) draws from an Rng built from an
// explicit seed, never from the clock. The normal draw is our own Box-Muller
// so results do not depend on the standard library's distribution code.
#pragma once

#include <cstdint>
#include <random>

namespace deftnn {

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t next_u64() { return gen_(); }
  // Uniform in [0, 1).
  double uniform() { return double(gen_() >> 11) * (1.0 / 9007199254740992.0); }
  float uniform(float lo, float hi) { return lo + float(uniform()) * (hi - lo); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n ? gen_() % n : 0; }
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    double r = std::sqrt(-2.0 * std::log(u1)), th = 6.283185307179586 * u2;
    spare_ = r * std::sin(th);
    has_spare_ = true;
    return r * std::cos(th);
  }
  float normal(float mean, float stddev) { return mean + stddev * float(normal()); }
  // An independent stream derived from this one (for per-worker or per-layer use).
  Rng fork() { return Rng(gen_() ^ 0x9E3779B97F4A7C15ull); }

 private:
  std::mt19937_64 gen_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace deftnn
