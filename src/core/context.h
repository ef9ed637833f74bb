// Context: everything a computation needs that is not a tensor: the device,
// the CUDA stream, the cuBLAS and cuDNN handles and a scratch workspace.
//
// There is no process-global state: every call that computes takes a Context.
// CUDA types are forward-declared here so that CPU-only code never needs the
// CUDA headers (the declarations match the toolkit's own).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

struct CUstream_st;
struct cublasContext;
struct cudnnContext;

namespace deftnn {

enum class Device { CPU, CUDA };
const char* device_name(Device d);
Device device_from_name(const std::string& name);  // "cpu" | "cuda" | "gpu"

// True when this build has CUDA and the machine has at least one usable GPU.
bool cuda_available();
// A one-line reason why cuda_available() is false ("built without CUDA",
// "the driver says: <its message>"), or "" when it is true.
std::string cuda_unavailable_reason();

class Context {
 public:
  // A CPU context. Cheap.
  static std::unique_ptr<Context> cpu();
  // A CUDA context on `device`: creates a stream and cuBLAS/cuDNN handles.
  // Throws deftnn::Error naming the reason when there is no usable GPU.
  static std::unique_ptr<Context> cuda(int device = 0);
  static std::unique_ptr<Context> make(Device d) { return d == Device::CPU ? cpu() : cuda(); }

  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Device device() const { return device_; }
  bool is_cuda() const { return device_ == Device::CUDA; }
  int device_index() const { return device_index_; }

  CUstream_st* stream() const { return stream_; }  // cudaStream_t
  cublasContext* cublas() const { return cublas_; }  // cublasHandle_t, math mode pinned to fp32
  cudnnContext* cudnn();                            // cudnnHandle_t, created on first use

  // Scratch memory on the context's device, valid until the next request for
  // the same slot. Grows, never shrinks. Not for results that outlive one
  // operation. Two independent slots: layers take Layer (e.g. a conv's column
  // matrix) while the GEMM backends they call take Gemm, so a backend's
  // scratch never moves or overwrites the buffer its caller is reading.
  enum class Scratch : int { Layer = 0, Gemm = 1 };
  void* workspace(size_t bytes, Scratch slot = Scratch::Layer);
  size_t workspace_size(Scratch slot = Scratch::Layer) const { return workspace_bytes_[int(slot)]; }

  // State a subsystem keeps per context and creates on first use (gemm/'s
  // cuBLASLt handle, workspace and per-shape algorithm cache), owned by the
  // context and destroyed, after the stream is drained, before the stream and
  // the handles. One slot per subsystem; core knows only the base class.
  struct BackendState {
    virtual ~BackendState() = default;
  };
  enum class StateSlot : int { CublasLt = 0, Mixed, Count };
  BackendState* backend_state(StateSlot slot) const { return states_[int(slot)].get(); }
  void set_backend_state(StateSlot slot, std::unique_ptr<BackendState> s) { states_[int(slot)] = std::move(s); }

  // Waits for all work queued on the stream (no-op on the CPU).
  void synchronize() const;

 private:
  Context() = default;
  Device device_ = Device::CPU;
  int device_index_ = 0;
  CUstream_st* stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  cudnnContext* cudnn_ = nullptr;
  void* workspace_[2] = {nullptr, nullptr};
  size_t workspace_bytes_[2] = {0, 0};
  std::unique_ptr<BackendState> states_[int(StateSlot::Count)];
};

}  // namespace deftnn
