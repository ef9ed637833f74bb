// The image folder's listing, channel conversion, resize and crop, and the
// read loop (the decoders are in image_decode.cpp).
#include "data/image_folder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace deftnn::data {

namespace fs = std::filesystem;

namespace {

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

bool is_hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

// The entries of a folder, sorted by name; errors name the folder.
std::vector<fs::directory_entry> sorted_entries(const fs::path& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  DEFTNN_CHECK(!ec, "{}: cannot list the folder: {}", dir.string(), ec.message());
  std::vector<fs::directory_entry> out;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    DEFTNN_CHECK(!ec, "{}: cannot list the folder: {}", dir.string(), ec.message());
    out.push_back(*it);
  }
  DEFTNN_CHECK(!ec, "{}: cannot list the folder: {}", dir.string(), ec.message());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
  return out;
}

// Image files anywhere below a class folder (symlinked folders followed, as
// torchvision's os.walk(followlinks=True)), sorted by path.
std::vector<std::string> files_below(const fs::path& dir, int64_t& skipped) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
  DEFTNN_CHECK(!ec, "{}: cannot list the folder: {}", dir.string(), ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    DEFTNN_CHECK(!ec, "{}: cannot list the folder: {}", dir.string(), ec.message());
    DEFTNN_CHECK(it.depth() < 64, "{}: folders nested more than 64 deep (a symlink loop?)", it->path().string());
    if (is_hidden(it->path())) {
      ++skipped;
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec)) continue;
    if (is_image_name(it->path()))
      out.push_back(it->path().string());
    else
      ++skipped;
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

ImageFolderListing list_image_folder(const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  DEFTNN_CHECK(fs::exists(st), "{}: no such file or folder", dir);
  DEFTNN_CHECK(fs::is_directory(st), "{}: not a folder (an image folder holds .png / .jpg / .jpeg files, or one "
               "subfolder of them per class)", dir);
  ImageFolderListing out;
  out.dir = dir;
  std::vector<std::string> images, subdirs;
  for (const auto& e : sorted_entries(dir)) {
    if (is_hidden(e.path())) {
      ++out.skipped;
      continue;
    }
    if (e.is_directory(ec))
      subdirs.push_back(e.path().filename().string());
    else if (is_image_name(e.path()))
      images.push_back(e.path().string());
    else
      ++out.skipped;
  }
  if (subdirs.empty()) {
    DEFTNN_CHECK(!images.empty(), "{}: the folder holds no images (.png, .jpg, .jpeg){}", dir,
                 out.skipped ? fmt::format(" ({} other entries skipped)", out.skipped) : std::string());
    out.files = std::move(images);
    return out;
  }
  DEFTNN_CHECK(images.empty(), "{}: the folder holds both image files ({}) and subfolders ({}): give a flat folder "
               "of images (unlabelled) or one subfolder per class (labelled)", dir,
               fs::path(images[0]).filename().string(), subdirs[0]);
  for (size_t c = 0; c < subdirs.size(); ++c) {
    const fs::path cdir = fs::path(dir) / subdirs[c];
    std::vector<std::string> files = files_below(cdir, out.skipped);
    DEFTNN_CHECK(!files.empty(), "{}: the class folder '{}' holds no images (.png, .jpg, .jpeg); every subfolder "
                 "of an image folder is a class", dir, subdirs[c]);
    for (auto& f : files) {
      out.files.push_back(std::move(f));
      out.labels.push_back(int32_t(c));
    }
  }
  out.classes = std::move(subdirs);
  return out;
}

bool is_image_folder_path(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const char* f : {"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "data_batch_1.bin",
                        "test_batch.bin"})
    if (fs::exists(fs::path(dir) / f, ec)) return false;
  return true;
}

std::vector<float> to_planar(const Image& img, int64_t channels, const std::string& path) {
  DEFTNN_CHECK(channels == 1 || channels == 3 || channels == 4, "{}: the model takes {} input channels; images "
               "convert to 1 (grey), 3 (RGB) or 4 (RGBA)", path, channels);
  const int64_t n = img.height * img.width, ic = img.channels;
  DEFTNN_CHECK(ic >= 1 && ic <= 4 && int64_t(img.pixels.size()) == n * ic, "{}: a decoded image of {} x {} x {} "
               "holds {} samples", path, img.height, img.width, ic, img.pixels.size());
  std::vector<float> out(size_t(channels * n));
  const float* p = img.pixels.data();
  const bool colour = ic >= 3, alpha = ic == 2 || ic == 4;
  for (int64_t i = 0; i < n; ++i, p += ic) {
    if (channels == 1) {
      out[i] = colour ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0];
      continue;
    }
    for (int64_t c = 0; c < 3; ++c) out[c * n + i] = colour ? p[c] : p[0];
    if (channels == 4) out[3 * n + i] = alpha ? p[ic - 1] : 1.f;
  }
  return out;
}

namespace {

// PIL's precompute_coeffs (Resample.c) for the bilinear filter: per output
// index, the first input index and the normalised weights.
struct Coeffs {
  std::vector<int64_t> first, count;
  std::vector<std::vector<double>> w;
};

Coeffs bilinear_coeffs(int64_t in, int64_t out) {
  const double scale = double(in) / double(out);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // the triangle's support is 1
  Coeffs k;
  k.first.resize(size_t(out)), k.count.resize(size_t(out)), k.w.resize(size_t(out));
  for (int64_t x = 0; x < out; ++x) {
    const double centre = (double(x) + 0.5) * scale;
    int64_t xmin = int64_t(centre - support + 0.5);  // truncation, as PIL's (int) cast
    if (xmin < 0) xmin = 0;
    int64_t xmax = int64_t(centre + support + 0.5);
    if (xmax > in) xmax = in;
    std::vector<double> w;
    double sum = 0;
    for (int64_t j = xmin; j < xmax; ++j) {
      const double t = std::abs((double(j) - centre + 0.5) / filterscale);
      const double v = t < 1.0 ? 1.0 - t : 0.0;
      w.push_back(v);
      sum += v;
    }
    if (sum != 0)
      for (double& v : w) v /= sum;
    k.first[x] = xmin, k.count[x] = int64_t(w.size()), k.w[x] = std::move(w);
  }
  return k;
}

}  // namespace

std::vector<float> resize_bilinear(const std::vector<float>& chw, int64_t c, int64_t h, int64_t w, int64_t oh,
                                   int64_t ow) {
  DEFTNN_CHECK(c > 0 && h > 0 && w > 0 && oh > 0 && ow > 0 && int64_t(chw.size()) == c * h * w,
               "resize_bilinear: {} samples for ({}, {}, {}) to ({}, {})", chw.size(), c, h, w, oh, ow);
  if (oh == h && ow == w) return chw;
  // Along the width: (c, h, w) -> (c, h, ow).
  std::vector<float> mid;
  if (ow == w) {
    mid = chw;
  } else {
    const Coeffs k = bilinear_coeffs(w, ow);
    mid.resize(size_t(c * h * ow));
    for (int64_t r = 0; r < c * h; ++r) {
      const float* src = chw.data() + r * w;
      float* dst = mid.data() + r * ow;
      for (int64_t x = 0; x < ow; ++x) {
        double s = 0;
        for (int64_t j = 0; j < k.count[x]; ++j) s += k.w[x][j] * src[k.first[x] + j];
        dst[x] = float(s);
      }
    }
  }
  if (oh == h) return mid;
  // Along the height: (c, h, ow) -> (c, oh, ow).
  const Coeffs k = bilinear_coeffs(h, oh);
  std::vector<float> out(size_t(c * oh * ow));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < oh; ++y) {
      float* dst = out.data() + (ch * oh + y) * ow;
      for (int64_t x = 0; x < ow; ++x) {
        double s = 0;
        for (int64_t j = 0; j < k.count[y]; ++j) s += k.w[y][j] * mid[size_t((ch * h + k.first[y] + j) * ow + x)];
        dst[x] = float(s);
      }
    }
  return out;
}

namespace {

// Python's round(d / 2) for d >= 0: half to even.
int64_t half_round_even(int64_t d) {
  const int64_t k = d / 2;
  if (d % 2 == 0) return k;
  return k % 2 == 0 ? k : k + 1;
}

}  // namespace

ResizeCrop resize_crop_geometry(int64_t h, int64_t w, int64_t target_h, int64_t target_w, int64_t resize) {
  DEFTNN_CHECK(h > 0 && w > 0 && target_h > 0 && target_w > 0, "resize_crop_geometry: sizes {} x {} to {} x {}", h,
               w, target_h, target_w);
  DEFTNN_CHECK(resize >= 0 && resize <= kMaxResize, "--resize {}: must lie in [1, {}] (0: resize to cover the input)",
               resize, kMaxResize);
  ResizeCrop g{};
  if (resize > 0) {
    // torchvision: the shorter side to `resize`, the longer int(resize * long / short).
    if (h <= w) g.height = resize, g.width = resize * w / h;
    else g.width = resize, g.height = resize * h / w;
    DEFTNN_CHECK(g.height >= target_h && g.width >= target_w, "--resize {}: a {} x {} image becomes {} x {}, smaller "
                 "than the model's {} x {} input (give --resize >= {})", resize, h, w, g.height, g.width, target_h,
                 target_w, std::max(target_h, target_w));
    // A long thin image would become a huge one: the same cap as decoding.
    DEFTNN_CHECK(g.height * g.width <= kMaxImagePixels, "--resize {}: a {} x {} image would become {} x {}, more than "
                 "{} pixels", resize, h, w, g.height, g.width, kMaxImagePixels);
  } else if (target_h * w >= target_w * h) {  // the height binds: H / h >= W / w
    g.height = target_h;
    g.width = std::max(target_w, target_h * w / h);
  } else {
    g.width = target_w;
    g.height = std::max(target_h, target_w * h / w);
  }
  g.top = half_round_even(g.height - target_h);
  g.left = half_round_even(g.width - target_w);
  return g;
}

namespace {

void check_stats(const std::vector<float>& v, int64_t channels, const char* flag) {
  DEFTNN_CHECK(v.empty() || v.size() == 1 || int64_t(v.size()) == channels, "{}: {} values for a model of {} input "
               "channels (give one value, or one per channel)", flag, v.size(), channels);
  for (float x : v) DEFTNN_CHECK(std::isfinite(x), "{}: {} is not a finite number", flag, x);
}

}  // namespace

std::vector<float> load_image_as_input(const std::string& path, const ImageFolderOptions& opt) {
  DEFTNN_CHECK(opt.input.size() == 3, "{}: an image folder feeds models of (C, H, W) inputs, not {}", path,
               shape_str(opt.input));
  const int64_t c = opt.input[0], th = opt.input[1], tw = opt.input[2];
  Image img = decode_image(path, opt.max_pixels);
  std::vector<float> planar = to_planar(img, c, path);
  img.pixels = {};  // freed before the resize: one full-size copy at a time
  const ResizeCrop g = resize_crop_geometry(img.height, img.width, th, tw, opt.resize);
  const std::vector<float> big = resize_bilinear(planar, c, img.height, img.width, g.height, g.width);
  planar = {};
  std::vector<float> out(size_t(c * th * tw));
  for (int64_t ch = 0; ch < c; ++ch) {
    const float mean = opt.mean.empty() ? 0.f : opt.mean[opt.mean.size() == 1 ? 0 : size_t(ch)];
    const float sd = opt.std.empty() ? 1.f : opt.std[opt.std.size() == 1 ? 0 : size_t(ch)];
    const bool norm = !opt.mean.empty() || !opt.std.empty();
    for (int64_t y = 0; y < th; ++y) {
      const float* src = big.data() + (ch * g.height + g.top + y) * g.width + g.left;
      float* dst = out.data() + (ch * th + y) * tw;
      for (int64_t x = 0; x < tw; ++x) dst[x] = norm ? (src[x] - mean) / sd : src[x];
    }
  }
  return out;
}

Tensor read_image_folder(const ImageFolderListing& listing, const ImageFolderOptions& opt) {
  DEFTNN_CHECK(opt.input.size() == 3, "{}: an image folder feeds models of (C, H, W) inputs, not {}", listing.dir,
               shape_str(opt.input));
  check_stats(opt.mean, opt.input[0], "--mean");
  check_stats(opt.std, opt.input[0], "--std");
  for (float s : opt.std) DEFTNN_CHECK(s > 0, "--std: {} is not positive", s);
  const int64_t n = int64_t(listing.files.size());
  DEFTNN_CHECK(n > 0, "{}: no images to read", listing.dir);
  const int64_t per = shape_numel(opt.input);
  Tensor x = Tensor::empty({n, opt.input[0], opt.input[1], opt.input[2]}, DType::F32);
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<float> one = load_image_as_input(listing.files[size_t(i)], opt);
    std::memcpy(x.data<float>() + i * per, one.data(), sizeof(float) * size_t(per));
    if (opt.progress) opt.progress(i + 1);
  }
  return x;
}

}  // namespace deftnn::data
