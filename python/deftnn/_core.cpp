// deftnn's Python binding (nanobind): the same library calls as the CLI's
// run, export and bench subcommands (tools/deftnn/cmd_*.cpp), on NumPy arrays
// and DLPack tensors. python/deftnn/__init__.py re-exports it; _core.pyi
// types it. A deftnn::Error becomes deftnn.Error (a RuntimeError) carrying
// the library's message, which names the file and the problem.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bench/net_bench.h"
#include "core/context.h"
#include "core/error.h"
#include "export/onnx_export.h"
#include "net/net.h"
#include "plan/apply.h"
#include "plan/exec_plan.h"
#include "plan/parse.h"
#include "train/prepare.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using deftnn::Device;

Device parse_device(const std::string& name) {
  if (name == "auto") return deftnn::cuda_available() ? Device::CUDA : Device::CPU;
  if (name == "cpu" || name == "cuda" || name == "gpu") return deftnn::device_from_name(name);
  DEFTNN_FAIL("unknown device '{}' (known: cpu, cuda, auto)", name);
}

// A loaded model with one context per device it ran on and the plan it was
// loaded with (each run's precision is applied on top of that plan, so a run
// without one is back to the model's own).
class PyNet {
 public:
  PyNet(const std::string& path, uint64_t seed) : path_(path), net_(deftnn::Net::load(path)) {
    if (path.ends_with(".json")) net_.init(seed);
    base_plan_ = deftnn::plan::plan_of(net_);
  }

  nb::ndarray<nb::numpy, float> run(nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu> x, const std::string& device,
                                    const std::string& precision) {
    using namespace deftnn;
    DEFTNN_CHECK(net_.input_names().size() == 1, "{}: the graph has {} inputs ({}); run feeds one", path_,
                 net_.input_names().size(), fmt::join(net_.input_names(), ", "));
    const bool f32 = x.dtype() == nb::dtype<float>(), f64 = x.dtype() == nb::dtype<double>();
    DEFTNN_CHECK(f32 || f64, "{}: the input array must be float32 or float64 (got dtype code {}, {} bits)", path_,
                 int(x.dtype().code), int(x.dtype().bits));
    Shape shape(x.ndim());
    for (size_t d = 0; d < x.ndim(); ++d) shape[d] = int64_t(x.shape(d));
    const Shape want = net_.tensor_shape(net_.input_names()[0], x.ndim() > 0 ? shape[0] : 1);
    DEFTNN_CHECK(shape == want, "input array of shape {}, but {} takes {} (a batch of any size)", shape_str(shape),
                 path_, shape_str(want));
    Tensor host = Tensor::empty(shape);
    const size_t n = size_t(shape_numel(shape));
    if (f32) {
      std::memcpy(host.data<float>(), x.data(), n * sizeof(float));
    } else {
      const double* src = static_cast<const double*>(x.data());
      float* dst = host.data<float>();
      for (size_t i = 0; i < n; ++i) dst[i] = float(src[i]);
    }
    std::vector<size_t> out_shape;
    float* out = nullptr;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      const Device dev = parse_device(device);
      Context& ctx = prepare(dev, precision);
      const Tensor x_dev = host.to(dev, ctx);
      const std::vector<Tensor> ys = net_.forward(ctx, std::vector<Tensor>{x_dev}, false);
      const Tensor y = ys[0].to(Device::CPU, ctx);
      ctx.synchronize();
      // A copy: y may be the net's own buffer, which the next run overwrites.
      const size_t m = size_t(shape_numel(y.shape()));
      out = new float[m];
      std::memcpy(out, y.data<float>(), m * sizeof(float));
      out_shape.assign(y.shape().begin(), y.shape().end());
    }
    nb::capsule owner(out, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    return nb::ndarray<nb::numpy, float>(out, out_shape.size(), out_shape.data(), owner);
  }

  std::vector<int64_t> input_shape() const { return net_.input_shape(); }
  std::vector<std::pair<std::string, std::string>> layers() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t i = 0; i < net_.size(); ++i) out.emplace_back(net_.layer(i).name(), net_.layer(i).type());
    return out;
  }

  nb::dict export_onnx(const std::string& path) {
    deftnn::onnx_export::ExportSummary s;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      to_cpu();
      s = deftnn::onnx_export::export_onnx(net_, path_, path);
    }
    nb::dict d;
    d["nodes"] = s.nodes, d["parameters"] = s.parameters, d["dense_parameters"] = s.dense_parameters;
    d["gathers"] = s.gathers, d["shrunk_producers"] = s.shrunk_producers;
    return d;
  }

  void save(const std::string& path) {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    if (net_.device() == Device::CPU) {
      net_.save(path);
    } else {
      net_.save(path, context(net_.device()));
    }
  }

  nb::dict bench(int64_t batch, const std::string& device, const std::string& precision, int reps, int warmup,
                 uint64_t seed) {
    using namespace deftnn;
    bench::NetRun r;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      DEFTNN_CHECK(batch > 0 && reps > 0 && warmup >= 0, "bench: batch ({}) and reps ({}) must be positive, warmup "
                   "({}) not negative", batch, reps, warmup);
      const Device dev = parse_device(device);
      Context& ctx = prepare(dev, precision);
      bench::NetBenchOptions opt;
      opt.batch = batch;
      opt.timer.reps = reps;
      opt.timer.warmup = warmup;
      opt.seed = seed;
      opt.kernel_names = false;
      bench::NetConfig cfg;
      cfg.tag = precision.empty() ? "python" : "python-" + precision;
      r = bench::bench_net(ctx, net_, path_, cfg, opt);
    }
    nb::dict layers;
    for (const bench::LayerResult& l : r.layers) layers[nb::str(l.name.c_str())] = l.time.median_ms;
    nb::dict d;
    d["model"] = r.model, d["batch"] = r.batch, d["device"] = std::string(device_name(net_.device()));
    d["layers_median_ms"] = layers;
    d["layer_sum_median_ms"] = r.layer_sum.median_ms;
    d["total_median_ms"] = r.total.median_ms;
    d["total_method"] = r.total_method;
    return d;
  }

  const std::string& path() const { return path_; }
  std::string name() const { return net_.name(); }
  int64_t classes() const { return net_.classes(); }
  std::vector<std::string> input_names() const { return net_.input_names(); }
  std::vector<std::string> output_names() const { return net_.output_names(); }
  int64_t parameter_count() const { return net_.parameter_count(); }

 private:
  // The net planned in `precision` over the plan it was loaded with, on dev;
  // the caller holds mutex_.
  deftnn::Context& prepare(Device dev, const std::string& precision) {
    deftnn::Context& ctx = context(dev);
    deftnn::plan::PlanFlags flags;
    flags.precision = precision;
    deftnn::plan::apply_plan(net_, deftnn::plan::from_flags(flags, base_plan_), dev);
    net_.to(ctx);
    return ctx;
  }
  deftnn::Context& context(Device dev) {
    auto& c = contexts_[int(dev)];
    if (!c) {
      try {
        c = deftnn::Context::make(dev);
      } catch (const deftnn::Error& e) {  // cuda without a GPU: the driver's reason, in Python's terms
        DEFTNN_FAIL("{}: device '{}' is not usable: {}", path_, deftnn::device_name(dev),
                    e.message());
      }
    }
    return *c;
  }
  void to_cpu() {
    if (net_.device() != Device::CPU) net_.to(context(Device::CPU));
  }

  std::string path_;
  deftnn::Net net_;
  deftnn::ExecPlan base_plan_;
  std::map<int, std::unique_ptr<deftnn::Context>> contexts_;
  std::mutex mutex_;  // one call at a time per net (the GIL is released during them)
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "deftnn's engine: load, run, export and benchmark models (graph JSON, safetensors, ONNX)";
  nb::exception<deftnn::Error>(m, "Error", PyExc_RuntimeError);
  // OpenBLAS threads as the CLI's default (--threads 2): seeded CPU results
  // depend on the count, and run() matches `deftnn run` bit for bit.
  deftnn::train::set_cpu_threads(2);

  m.def("cuda_available", &deftnn::cuda_available, "Whether a CUDA GPU is usable.");
  m.def("cuda_unavailable_reason", &deftnn::cuda_unavailable_reason, "Why cuda_available() is false.");
  m.def("set_threads", &deftnn::train::set_cpu_threads, "threads"_a, "OpenBLAS threads of CPU runs (default 2, as the CLI's).");
  m.attr("with_onnx") =
#ifdef DEFTNN_PY_WITH_ONNX
      true;
#else
      false;
#endif

  nb::class_<PyNet>(m, "Net")
      .def(nb::init<const std::string&, uint64_t>(), "path"_a, "seed"_a = 1)
      .def("run", &PyNet::run, "x"_a, "device"_a = "cpu", "precision"_a = "")
      .def("bench", &PyNet::bench, "batch"_a = 1, "device"_a = "cpu", "precision"_a = "", "reps"_a = 50,
           "warmup"_a = 10, "seed"_a = 1)
      .def("export_onnx", &PyNet::export_onnx, "path"_a)
      .def("save", &PyNet::save, "path"_a)
      .def_prop_ro("input_shape", &PyNet::input_shape)
      .def_prop_ro("layers", &PyNet::layers)
      .def_prop_ro("path", &PyNet::path)
      .def_prop_ro("name", &PyNet::name)
      .def_prop_ro("classes", &PyNet::classes)
      .def_prop_ro("input_names", &PyNet::input_names)
      .def_prop_ro("output_names", &PyNet::output_names)
      .def_prop_ro("parameter_count", &PyNet::parameter_count);
}
