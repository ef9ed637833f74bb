// An image folder as model inputs (issue 11; `deftnn optimize --data DIR`):
// PNG and JPEG files decoded with libpng and libjpeg (image_decode.cpp),
// converted to the model's channel count, resized and centre-cropped to its
// H x W, scaled to [0, 1] and optionally normalised, into the (N, C, H, W)
// float32 layout of an .npy of inputs.
//
// Two layouts, as torchvision's:
// - flat: DIR holds the images (no subfolders): unlabelled;
// - ImageFolder: DIR holds one subfolder per class (any depth of files
//   below it); the class names sorted (byte order, as Python's sorted())
//   give the class indices 0..C-1.
// Files whose extension is not .png, .jpg or .jpeg (any case) and entries
// whose name starts with '.' are skipped and counted. Every problem is a
// deftnn::Error naming the file (or folder) and what is wrong with it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace deftnn::data {

// Whether this build decodes images (libpng and libjpeg were found by CMake).
// Without them every decode is an error saying so.
bool have_image_support();

// A decoded image: height x width pixels of `channels` interleaved samples
// (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA), each scaled to [0, 1]: an 8-bit
// sample v as v / 255.f, a 16-bit PNG sample as v / 65535.f.
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<float> pixels;  // (height, width, channels)
};

// The largest image decoded (pixels; 8192 x 8192): refuses decompression
// bombs (a small file that claims a huge image) before their memory is
// allocated. A colour image's decode and conversion hold about 24 bytes per
// pixel at their peak (1.6 GB at the limit).
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 26;
// --resize's largest shorter side.
inline constexpr int64_t kMaxResize = 8192;

// Decodes a PNG or JPEG file, chosen by its first bytes (not its name).
// PNG: palettes expanded, grey of 1, 2 or 4 bits expanded to 8, tRNS to an
// alpha channel, interlacing undone, gamma and colour profiles ignored (as
// PIL and torchvision.io do). JPEG: grey stays grey, YCbCr becomes RGB
// (libjpeg's defaults: islow IDCT, fancy upsampling); CMYK is refused; any
// corrupt-data warning of libjpeg (a truncated file among them, which libjpeg
// would otherwise pad with grey) is an error.
Image decode_image(const std::string& path, int64_t max_pixels = kMaxImagePixels);

// `img` as planar (C, H, W) samples in the model's channel count:
//   1: grey as is; grey + alpha: the alpha dropped; RGB(A): ITU-R 601-2 luma
//      0.299 R + 0.587 G + 0.114 B (PIL's convert("L"), torchvision's
//      Grayscale), not rounded to 8 bits;
//   3: grey (+ alpha) replicated; RGB as is; RGBA: the alpha dropped (PIL's
//      convert("RGB"), no compositing);
//   4: RGBA as is; the others get alpha 1 (grey replicated).
// Any other channel count is an error naming `path`.
std::vector<float> to_planar(const Image& img, int64_t channels, const std::string& path);

// Bilinear resampling of planar (c, h, w) to (c, oh, ow) with the
// antialiasing triangle filter of PIL's Image.resize(BILINEAR) and of
// torchvision's Resize (antialias=True): per output pixel x, centre
// (x + 0.5) * s with s = in / out, weights max(0, 1 - |j + 0.5 - centre| / max(s, 1))
// over input pixels j, normalised to sum 1; first along the width, then the
// height, in float (PIL rounds to 8 bits between and after the passes).
// Upsampling is then ordinary bilinear interpolation with half-pixel centres
// (align_corners=False); at s = 1 it is the identity.
std::vector<float> resize_bilinear(const std::vector<float>& chw, int64_t c, int64_t h, int64_t w, int64_t oh,
                                   int64_t ow);

// Resize then centre crop to a target (H, W): the image is scaled, keeping
// its aspect ratio, to the smallest size that covers H x W (if H / h >= W / w:
// height H, width floor(w H / h); else width W, height floor(h W / w)), then
// the centre H x W is cut out at top = round((rh - H) / 2), left =
// round((rw - W) / 2) (Python's round, half to even). For a square target
// this is torchvision's Resize(H) then CenterCrop(H).
// With resize > 0 the shorter side becomes `resize` instead, the longer
// floor(resize * long / short) (torchvision's Resize(resize), an int), then
// the same centre crop: Resize(256) then CenterCrop(224), ImageNet's
// evaluation. Throws when the resized image does not cover H x W.
struct ResizeCrop {
  int64_t height, width;  // the resized image
  int64_t top, left;      // the crop's corner in it
};
ResizeCrop resize_crop_geometry(int64_t h, int64_t w, int64_t target_h, int64_t target_w, int64_t resize = 0);

// What a folder holds, before any decoding.
struct ImageFolderListing {
  std::string dir;
  std::vector<std::string> files;    // paths, sorted (by class, then path)
  std::vector<int32_t> labels;       // per file, class folders only
  std::vector<std::string> classes;  // sorted class-folder names; empty for a flat folder
  int64_t skipped = 0;               // files and hidden entries not taken
  bool labelled() const { return !classes.empty(); }
};
// Throws naming `dir` when it does not exist, is not a folder, holds both
// image files and subfolders, has a class folder without images, or holds no
// images at all (saying how many files were skipped).
ImageFolderListing list_image_folder(const std::string& dir);

// Whether `dir` is a folder that is not one of the built-in datasets'
// (Fashion-MNIST's IDX files or CIFAR-10's binary batches): `--data DIR`
// then means an image folder.
bool is_image_folder_path(const std::string& dir);

struct ImageFolderOptions {
  Shape input;                // the model's (C, H, W)
  std::vector<float> mean;    // empty: none; else one value, or one per channel: x = (x - mean) / std
  std::vector<float> std;     // empty: none (1); else one value, or one per channel, each > 0
  int64_t resize = 0;         // 0: resize to cover (H, W); else the shorter side to this, then the crop
  std::function<void(int64_t done)> progress;  // after each image, when set
  int64_t max_pixels = kMaxImagePixels;        // decode_image's limit
};
// Every listed file decoded, converted, resized and cropped, scaled and
// normalised: (N, C, H, W) float32, in the listing's order.
Tensor read_image_folder(const ImageFolderListing& listing, const ImageFolderOptions& opt);

// One image file as the model's input (C, H, W), as read_image_folder does it.
std::vector<float> load_image_as_input(const std::string& path, const ImageFolderOptions& opt);

}  // namespace deftnn::data
