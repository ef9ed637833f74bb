// The names of the GPU kernels a piece of work launched, read with CUPTI's
// activity API (CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL). Benchmarks use it to
// record which cuBLAS / cuDNN kernels a library baseline ran: collection is on
// only while a KernelNameRecorder lives, around one extra untimed run, so the
// timed runs are not disturbed.
//
// Built with CUPTI when the CUDA toolkit has it (DEFTNN_WITH_CUPTI); otherwise
// available() is false and take() returns nothing.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.h"

namespace deftnn::bench {

struct KernelRecord {
  std::string name;    // demangled when it is a mangled C++ name
  int64_t calls = 0;   // launches with this name
  double total_us = 0; // summed kernel durations (one untimed run: indicative only)
};

class KernelNameRecorder {
 public:
  // Starts collecting kernels launched on any stream of ctx's device. At most
  // one recorder may live at a time. Throws when CUPTI refuses (another
  // profiler such as compute-sanitizer or ncu may hold it).
  explicit KernelNameRecorder(Context& ctx);
  ~KernelNameRecorder();
  KernelNameRecorder(const KernelNameRecorder&) = delete;
  KernelNameRecorder& operator=(const KernelNameRecorder&) = delete;

  // Waits for ctx's stream, flushes CUPTI and returns the kernels that ran
  // since the previous take() (or construction), grouped by name in order of
  // first launch.
  std::vector<KernelRecord> take();

  // True when this build can record kernel names (CUDA with CUPTI).
  static bool available();

 private:
  Context& ctx_;
};

// [{"name": ..., "calls": ..., "total_us": ...}, ...]
nlohmann::json to_json(const std::vector<KernelRecord>& kernels);

}  // namespace deftnn::bench
