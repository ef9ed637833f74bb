#include "bench/kernel_names.h"

#include "core/error.h"

#ifdef DEFTNN_WITH_CUPTI
#include <cupti.h>
#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "core/cuda_check.h"
#endif

namespace deftnn::bench {

nlohmann::json to_json(const std::vector<KernelRecord>& kernels) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& k : kernels) a.push_back({{"name", k.name}, {"calls", k.calls}, {"total_us", k.total_us}});
  return a;
}

#ifdef DEFTNN_WITH_CUPTI

namespace {

// CUPTI delivers activity buffers to plain C callbacks, so the records they
// carry have to land somewhere static. The collector exists only while a
// KernelNameRecorder does (the constructor checks there is one at a time).
struct Launch {
  uint64_t start, end;
  std::string name;
};
std::mutex g_mutex;
std::vector<Launch> g_launches;
bool g_recording = false;

constexpr size_t kBufferBytes = size_t(8) << 20;
constexpr size_t kBufferAlign = 8;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kBufferAlign, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;
}

std::string demangle(const char* name) {
  if (!name) return "?";
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = (status == 0 && d) ? d : name;
  std::free(d);
  return out;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* rec = nullptr;
  std::vector<Launch> got;
  while (cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
    if (rec->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || rec->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
      auto* k = reinterpret_cast<CUpti_ActivityKernel10*>(rec);
      got.push_back({k->start, k->end, demangle(k->name)});
    }
  }
  std::free(buffer);
  std::lock_guard<std::mutex> lock(g_mutex);
  for (auto& l : got) g_launches.push_back(std::move(l));
}

void cupti_check(CUptiResult r, const char* stmt, const char* file, int line) {
  if (r == CUPTI_SUCCESS) return;
  const char* s = "?";
  cuptiGetResultString(r, &s);
  throw Error(fmt::format("CUPTI error: {} (is another profiler or compute-sanitizer attached?)", s), stmt, file,
              line);
}
#define DEFTNN_CUPTI_CHECK(stmt) cupti_check((stmt), #stmt, __FILE__, __LINE__)

}  // namespace

bool KernelNameRecorder::available() { return true; }

KernelNameRecorder::KernelNameRecorder(Context& ctx) : ctx_(ctx) {
  DEFTNN_CHECK(ctx.is_cuda(), "kernel names can only be recorded on a CUDA context");
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    DEFTNN_CHECK(!g_recording, "a KernelNameRecorder is already recording");
    g_recording = true;
    g_launches.clear();
  }
  try {
    ctx.synchronize();
    DEFTNN_CUPTI_CHECK(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed));
    DEFTNN_CUPTI_CHECK(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL));
  } catch (...) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_recording = false;
    throw;
  }
}

KernelNameRecorder::~KernelNameRecorder() {
  cudaStreamSynchronize(ctx_.stream());
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  cuptiActivityFlushAll(1);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_launches.clear();
  g_recording = false;
}

std::vector<KernelRecord> KernelNameRecorder::take() {
  ctx_.synchronize();
  DEFTNN_CUDA_CHECK(cudaDeviceSynchronize());
  DEFTNN_CUPTI_CHECK(cuptiActivityFlushAll(1));
  std::vector<Launch> launches;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    launches.swap(g_launches);
  }
  std::stable_sort(launches.begin(), launches.end(), [](const Launch& a, const Launch& b) { return a.start < b.start; });
  std::vector<KernelRecord> out;
  for (const auto& l : launches) {
    auto it = std::find_if(out.begin(), out.end(), [&](const KernelRecord& r) { return r.name == l.name; });
    if (it == out.end()) it = out.insert(out.end(), KernelRecord{l.name, 0, 0.0});
    it->calls += 1;
    it->total_us += double(l.end - l.start) * 1e-3;
  }
  return out;
}

#else  // no CUPTI

bool KernelNameRecorder::available() { return false; }
KernelNameRecorder::KernelNameRecorder(Context& ctx) : ctx_(ctx) {}
KernelNameRecorder::~KernelNameRecorder() = default;
std::vector<KernelRecord> KernelNameRecorder::take() { return {}; }

#endif

}  // namespace deftnn::bench
