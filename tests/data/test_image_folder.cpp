// Image folders (src/data/image_folder.h): the resize, crop and channel
// rules against hand-computed values; with libpng and libjpeg, files written
// here by those libraries read back (PNG exactly, JPEG within a bound),
// class-folder labels, flat folders, corrupt / empty / unreadable inputs.
// Seeded, the images random. prepare_image_folder: tests/train/test_prepare_images.cpp.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/image_folder.h"
#include "data/image_test_util.h"
#include "test_util.h"


namespace deftnn::test {
namespace {

namespace fs = std::filesystem;
using namespace deftnn::data;
using namespace deftnn::test::images;

// ---- the geometry and the resampling, by hand ----

TEST(ImageResize, UpsampleIsHalfPixelBilinear) {
  // 1 x 2 -> 1 x 4, scale 1/2: centres 0.25, 0.75, 1.25, 1.75 in input pixels;
  // the first and last fall outside the centres and take the edge pixel.
  const std::vector<float> out = resize_bilinear({0.f, 1.f}, 1, 1, 2, 1, 4);
  EXPECT_EQ(out, (std::vector<float>{0.f, 0.25f, 0.75f, 1.f}));
  // 2 x 2 -> 4 x 4 of v = 2 y + x: separable and linear, so 2 f(y) + f(x), f = (0, 1/4, 3/4, 1).
  const std::vector<float> img = resize_bilinear({0.f, 1.f, 2.f, 3.f}, 1, 2, 2, 4, 4);
  const float f[4] = {0.f, 0.25f, 0.75f, 1.f};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(img[size_t(y * 4 + x)], 2 * f[y] + f[x]) << y << "," << x;
}

TEST(ImageResize, DownsampleIsAntialiased) {
  // 4 -> 2, scale 2: the triangle widened to support 2. Output 0, centre 1:
  // inputs 0, 1, 2 at distances 0.5, 0.5, 1.5 -> 1 - d / 2 = 3/4, 3/4, 1/4,
  // normalised 3/7, 3/7, 1/7; output 1, centre 3: inputs 1, 2, 3 -> 1/7, 3/7, 3/7.
  const std::vector<float> out = resize_bilinear({0.f, 7.f, 14.f, 21.f}, 1, 1, 4, 1, 2);
  EXPECT_FLOAT_EQ(out[0], (0 * 3 + 7 * 3 + 14 * 1) / 7.f);   // 5
  EXPECT_FLOAT_EQ(out[1], (7 * 1 + 14 * 3 + 21 * 3) / 7.f);  // 16
  // 3 -> 2, scale 1.5 (support 1.5): output 0, centre 0.75: inputs 0, 1 at
  // 0.25, 0.75 -> 1 - d / 1.5 = 5/6, 1/2 -> 5/8, 3/8; output 1 mirrored.
  const std::vector<float> odd = resize_bilinear({8.f, 0.f, 16.f}, 1, 1, 3, 1, 2);
  EXPECT_FLOAT_EQ(odd[0], 5.f);   // 8 * 5/8
  EXPECT_FLOAT_EQ(odd[1], 10.f);  // 16 * 5/8
  // 4 x 4 of v = 4 y + x to 2 x 2: 4 g(y) + g(x), g = (5/7, 16/7).
  std::vector<float> grid(16);
  for (int i = 0; i < 16; ++i) grid[size_t(i)] = float(i);
  const std::vector<float> small = resize_bilinear(grid, 1, 4, 4, 2, 2);
  EXPECT_NEAR(small[0], 25 / 7.0, 1e-5);
  EXPECT_NEAR(small[1], 36 / 7.0, 1e-5);
  EXPECT_NEAR(small[2], 69 / 7.0, 1e-5);
  EXPECT_NEAR(small[3], 80 / 7.0, 1e-5);
  // Two channels resample independently; a constant image stays constant.
  const std::vector<float> two = resize_bilinear({1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}, 2, 2, 3, 5, 7);
  for (size_t i = 0; i < 35; ++i) EXPECT_FLOAT_EQ(two[i], 1.f);
  for (size_t i = 35; i < 70; ++i) EXPECT_FLOAT_EQ(two[i], 2.f);
}

TEST(ImageResize, SameSizeIsTheIdentity) {
  const std::vector<float> v = random_vector(3 * 9 * 11, 7, 0.f, 1.f);
  EXPECT_EQ(resize_bilinear(v, 3, 9, 11, 9, 11), v);
  const std::vector<float> wide = resize_bilinear(v, 3, 9, 11, 9, 5);  // only the width pass
  EXPECT_EQ(wide.size(), size_t(3 * 9 * 5));
}

TEST(ImageResize, CoverThenCentreCrop) {
  auto g = resize_crop_geometry(28, 28, 28, 28);
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({28, 28, 0, 0}));
  g = resize_crop_geometry(32, 40, 28, 28);  // landscape: height to 28, width floor(40 * 28 / 32) = 35
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({28, 35, 0, 4}));
  g = resize_crop_geometry(40, 32, 28, 28);  // portrait; round(3.5) = 4 (half to even)
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({35, 28, 4, 0}));
  g = resize_crop_geometry(33, 28, 28, 28);  // round(2.5) = 2
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({33, 28, 2, 0}));
  g = resize_crop_geometry(30, 28, 28, 28);  // round(1) = 1
  EXPECT_EQ(g.top, 1);
  g = resize_crop_geometry(10, 10, 20, 40);  // a wide target: the width binds, 40 x 40, crop rows 10..29
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({40, 40, 10, 0}));
  g = resize_crop_geometry(3, 1000, 2, 2);  // height binds; never narrower than the target
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width}), std::vector<int64_t>({2, 666}));
}

// --resize S: torchvision's Resize(S) (shorter side S, the longer
// int(S * long / short)) then CenterCrop, figures worked out by hand.
TEST(ImageResize, ShorterSideThenCentreCrop) {
  auto g = resize_crop_geometry(375, 500, 224, 224, 256);  // 256 x int(341.33) = 341; left round(58.5) = 58
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({256, 341, 16, 58}));
  g = resize_crop_geometry(640, 480, 224, 224, 256);  // portrait: 341 x 256
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({341, 256, 58, 16}));
  g = resize_crop_geometry(300, 300, 224, 224, 256);
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({256, 256, 16, 16}));
  g = resize_crop_geometry(28, 28, 28, 28, 28);  // resize = the input's size: as without --resize
  EXPECT_EQ(std::vector<int64_t>({g.height, g.width, g.top, g.left}), std::vector<int64_t>({28, 28, 0, 0}));
  expect_words(error_of([] { resize_crop_geometry(375, 500, 224, 224, 200); }),
               {"--resize 200", "375 x 500 image becomes 200 x 266", "smaller than the model's 224 x 224 input",
                "give --resize >= 224"});
  expect_words(error_of([] { resize_crop_geometry(1, 60000, 224, 224, 256); }), {"more than 67108864 pixels"});
  expect_words(error_of([] { resize_crop_geometry(10, 10, 2, 2, -1); }), {"must lie in [1, 8192]"});
  expect_words(error_of([] { resize_crop_geometry(10, 10, 2, 2, 9000); }), {"must lie in [1, 8192]"});
}

TEST(ImageResize, ChannelRules) {
  Image rgba{1, 2, 4, {0.2f, 0.4f, 0.6f, 0.5f, 1.f, 0.f, 0.f, 1.f}};
  EXPECT_EQ(to_planar(rgba, 3, "x.png"), (std::vector<float>{0.2f, 1.f, 0.4f, 0.f, 0.6f, 0.f}));  // alpha dropped
  EXPECT_EQ(to_planar(rgba, 4, "x.png"), (std::vector<float>{0.2f, 1.f, 0.4f, 0.f, 0.6f, 0.f, 0.5f, 1.f}));
  const std::vector<float> luma = to_planar(rgba, 1, "x.png");
  EXPECT_NEAR(luma[0], 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6, 1e-6);
  EXPECT_NEAR(luma[1], 0.299, 1e-6);
  Image ga{1, 2, 2, {0.25f, 0.5f, 0.75f, 1.f}};
  EXPECT_EQ(to_planar(ga, 1, "x.png"), (std::vector<float>{0.25f, 0.75f}));
  EXPECT_EQ(to_planar(ga, 3, "x.png"), (std::vector<float>{0.25f, 0.75f, 0.25f, 0.75f, 0.25f, 0.75f}));
  EXPECT_EQ(to_planar(ga, 4, "x.png"), (std::vector<float>{0.25f, 0.75f, 0.25f, 0.75f, 0.25f, 0.75f, 0.5f, 1.f}));
  Image grey{1, 1, 1, {0.5f}};
  EXPECT_EQ(to_planar(grey, 4, "x.png"), (std::vector<float>{0.5f, 0.5f, 0.5f, 1.f}));
  expect_words(error_of([&] { to_planar(grey, 2, "x.png"); }), {"x.png", "2 input channels", "1 (grey), 3 (RGB)"});
}

TEST(ImageFolderList, LayoutsAndErrors) {
  TempDir t;
  // Listing needs no decoder: the files need not be images.
  expect_words(error_of([&] { list_image_folder(t.file("missing")); }), {"missing", "no such"});
  write_bytes(t.file("plain.txt"), "x");
  expect_words(error_of([&] { list_image_folder(t.file("plain.txt")); }), {"plain.txt", "not a folder"});
  fs::create_directories(t.file("empty"));
  expect_words(error_of([&] { list_image_folder(t.file("empty")); }), {"empty", "holds no images"});
  write_bytes(t.file("other/notes.txt"), "x");
  write_bytes(t.file("other/.hidden.png"), "x");
  expect_words(error_of([&] { list_image_folder(t.file("other")); }),
               {"other", "holds no images", "2 other entries skipped"});
  // Flat: sorted, unlabelled, extension case ignored.
  for (const char* f : {"b.PNG", "a.jpg", "c.jpeg", "d.gif", "e.png.bak"}) write_bytes(t.file(std::string("flat/") + f), "x");
  const ImageFolderListing flat = list_image_folder(t.file("flat"));
  EXPECT_FALSE(flat.labelled());
  ASSERT_EQ(flat.files.size(), 3u);
  EXPECT_EQ(fs::path(flat.files[0]).filename(), "a.jpg");
  EXPECT_EQ(fs::path(flat.files[2]).filename(), "c.jpeg");
  EXPECT_EQ(flat.skipped, 2);
  // Classes: sorted names, files at any depth, hidden entries and others skipped.
  for (const char* f : {"cls/zebra/1.png", "cls/ant/x/2.png", "cls/ant/1.jpg", "cls/bee/3.png", "cls/bee/read.me",
                        "cls/.ipynb_checkpoints/4.png", "cls/LICENSE"})
    write_bytes(t.file(f), "x");
  const ImageFolderListing cls = list_image_folder(t.file("cls"));
  EXPECT_EQ(cls.classes, (std::vector<std::string>{"ant", "bee", "zebra"}));
  ASSERT_EQ(cls.files.size(), 4u);
  EXPECT_EQ(cls.labels, (std::vector<int32_t>{0, 0, 1, 2}));
  EXPECT_EQ(fs::path(cls.files[0]).filename(), "1.jpg");  // ant/1.jpg before ant/x/2.png
  EXPECT_EQ(cls.skipped, 3);                               // read.me, .ipynb_checkpoints, LICENSE
  // Images beside class folders, and a class folder without images.
  write_bytes(t.file("mixed/a.png"), "x");
  write_bytes(t.file("mixed/cat/b.png"), "x");
  expect_words(error_of([&] { list_image_folder(t.file("mixed")); }), {"mixed", "both image files (a.png)", "cat"});
  write_bytes(t.file("hollow/cat/b.png"), "x");
  write_bytes(t.file("hollow/dog/readme.txt"), "x");
  expect_words(error_of([&] { list_image_folder(t.file("hollow")); }), {"hollow", "class folder 'dog' holds no images"});
  // Which --data folders are image folders.
  EXPECT_TRUE(is_image_folder_path(t.file("flat")));
  EXPECT_FALSE(is_image_folder_path(t.file("plain.txt")));
  write_bytes(t.file("fm/train-images-idx3-ubyte.gz"), "x");
  EXPECT_FALSE(is_image_folder_path(t.file("fm")));
}

TEST(ImageFolderRead, BadOptions) {
  ImageFolderListing l;
  l.dir = "d";
  l.files = {"d/a.png"};
  ImageFolderOptions o;
  o.input = {3, 4, 4};
  o.mean = {0.5f, 0.5f};
  expect_words(error_of([&] { read_image_folder(l, o); }), {"--mean", "2 values", "3 input channels"});
  o.mean = {};
  o.std = {0.f};
  expect_words(error_of([&] { read_image_folder(l, o); }), {"--std", "not positive"});
  o.std = {};
  o.input = {16};
  expect_words(error_of([&] { read_image_folder(l, o); }), {"d", "(C, H, W)"});
}

#ifdef DEFTNN_TEST_WITH_IMAGES

// The expected (C, H, W) input of samples (h, w, ic) at 8 bits, no resize.
std::vector<float> planar_of(const std::vector<uint16_t>& s, int h, int w, int ic, int oc, float scale) {
  std::vector<float> out(size_t(oc * h * w));
  for (int i = 0; i < h * w; ++i)
    for (int c = 0; c < oc; ++c) {
      const int src = ic >= 3 ? std::min(c, 2) : 0;
      out[size_t(c * h * w + i)] = (c == 3 ? (ic == 2 || ic == 4 ? float(s[size_t(i * ic + ic - 1)]) / scale : 1.f)
                                           : float(s[size_t(i * ic + src)]) / scale);
    }
  return out;
}

TEST(ImageFolderDecode, PngIsExact) {
  TempDir t;
  Rng rng(20261207);
  for (int ic = 1; ic <= 4; ++ic)
    for (int depth : {8, 16})
      for (bool interlace : {false, true}) {
        const int h = 3 + int(rng.below(20)), w = 3 + int(rng.below(20));
        const std::vector<uint16_t> s = random_samples(size_t(h * w * ic), rng.next_u64(), depth == 8 ? 255 : 65535);
        const std::string path = t.file(fmt::format("p{}_{}_{}.png", ic, depth, int(interlace)));
        write_png(path, w, h, ic, depth, s, interlace);
        const Image img = decode_image(path);
        ASSERT_EQ(std::vector<int64_t>({img.height, img.width, img.channels}), std::vector<int64_t>({h, w, ic}));
        for (int oc : {3, 4}) {
          ImageFolderOptions o;
          o.input = {oc, h, w};
          const std::vector<float> got = load_image_as_input(path, o);
          EXPECT_EQ(got, planar_of(s, h, w, ic, oc, depth == 8 ? 255.f : 65535.f))
              << path << " as " << oc << " channels";
        }
        if (ic <= 2) {  // grey to 1 channel: exact too
          ImageFolderOptions o;
          o.input = {1, h, w};
          EXPECT_EQ(load_image_as_input(path, o), planar_of(s, h, w, ic, 1, depth == 8 ? 255.f : 65535.f)) << path;
        }
      }
  // Low bit depths and palettes expand to 8 bits: 4-bit palette indices, entry 0 transparent.
  std::vector<png_color> pal = {{10, 20, 30}, {200, 100, 0}, {255, 255, 255}};
  std::vector<uint8_t> idx = {0, 1, 2, 1, 0, 2};
  write_palette_png(t.file("pal.png"), 3, 2, idx, pal, 7);
  const Image p = decode_image(t.file("pal.png"));
  ASSERT_EQ(p.channels, 4);
  for (size_t i = 0; i < idx.size(); ++i) {
    EXPECT_EQ(p.pixels[4 * i + 0], float(pal[idx[i]].red) / 255.f);
    EXPECT_EQ(p.pixels[4 * i + 3], idx[i] == 0 ? 7 / 255.f : 1.f);
  }
}

TEST(ImageFolderDecode, ResizeCropAndNormalise) {
  TempDir t;
  // 4 x 4 grey of v = 4 y + x (times 15, to 8 bits) to a 2 x 2 model:
  // 15 (4 g(y) + g(x)) / 255, g = (5/7, 16/7) (ImageResize.DownsampleIsAntialiased).
  std::vector<uint16_t> s(16);
  for (int i = 0; i < 16; ++i) s[size_t(i)] = uint16_t(15 * i);
  write_png(t.file("grid.png"), 4, 4, 1, 8, s);
  ImageFolderOptions o;
  o.input = {1, 2, 2};
  std::vector<float> got = load_image_as_input(t.file("grid.png"), o);
  const double want[4] = {25 / 7.0, 36 / 7.0, 69 / 7.0, 80 / 7.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[size_t(i)], 15 * want[i] / 255, 1e-6) << i;
  // 2 x 4 to 2 x 2: no resize (the height binds at 2), columns 1 and 2 kept.
  write_png(t.file("wide.png"), 4, 2, 1, 8, {0, 10, 20, 30, 40, 50, 60, 70});
  got = load_image_as_input(t.file("wide.png"), o);
  EXPECT_EQ(got, (std::vector<float>{10 / 255.f, 20 / 255.f, 50 / 255.f, 60 / 255.f}));
  // --mean / --std: (x - m) / s per channel, after scaling to [0, 1]; one value means every channel.
  const std::vector<uint16_t> rgb = random_samples(3 * 5 * 6, 9, 255);
  write_png(t.file("rgb.png"), 6, 5, 3, 8, rgb);
  ImageFolderOptions n;
  n.input = {3, 5, 6};
  n.mean = {0.485f, 0.456f, 0.406f};
  n.std = {0.229f, 0.224f, 0.225f};
  got = load_image_as_input(t.file("rgb.png"), n);
  const std::vector<float> raw = planar_of(rgb, 5, 6, 3, 3, 255.f);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], (raw[i] - n.mean[i / 30]) / n.std[i / 30]) << i;
  n.mean = {0.5f};
  n.std = {};
  got = load_image_as_input(t.file("rgb.png"), n);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], raw[i] - 0.5f) << i;
}

// Tolerance: at quality 100 every quantisation step is 1, so each 8x8
// block's orthonormal DCT coefficients are rounded to integers (error <= 1/2
// each); the IDCT is orthonormal, so the mean squared pixel error is at most
// 64 (1/2)^2 / 64 = 1/4 level^2 (RMS 0.5 levels; about 0.29 for uniform
// rounding) before the integer DCTs' own rounding and the final rounding to
// 8 bits (1/2 level each). A pixel's worst case is 64 * 1/2 * max|basis| =
// 64 * 1/2 * 1/4 = 8 levels + 1. For RGB, Y, Cb and Cr each carry that
// error and R = Y + 1.402 Cr, B = Y + 1.772 Cb add up to 2.8x it, plus the
// colour conversion's rounding both ways (1 level each). So: grey max <= 9,
// RGB max <= 2.8 * 9 + 2 ~ 27 levels; and the mean absolute error, which
// the RMS bounds, <= 1 level (grey) and 2 levels (RGB).
TEST(ImageFolderDecode, JpegWithinTolerance) {
  TempDir t;
  Rng rng(77);
  for (int ic : {1, 3})
    for (int rep = 0; rep < 3; ++rep) {
      const int h = 8 + int(rng.below(40)), w = 8 + int(rng.below(40));
      const std::vector<uint8_t> s = smooth_samples(w, h, ic, rng.next_u64());
      const std::string path = t.file(fmt::format("j{}_{}.jpg", ic, rep));
      write_jpeg(path, w, h, ic, s);
      const Image img = decode_image(path);
      ASSERT_EQ(std::vector<int64_t>({img.height, img.width, img.channels}), std::vector<int64_t>({h, w, ic}));
      double worst = 0, sum = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        const double d = std::abs(double(img.pixels[i]) * 255 - s[i]);
        worst = std::max(worst, d), sum += d;
      }
      const double mean = sum / double(s.size());
      EXPECT_LE(worst, ic == 1 ? 9.0 : 27.0) << path;
      EXPECT_LE(mean, ic == 1 ? 1.0 : 2.0) << path;
      // The same pixels arrive in the model's layout: a 3-channel model reads a grey JPEG replicated.
      ImageFolderOptions o;
      o.input = {3, h, w};
      const std::vector<float> in = load_image_as_input(path, o);
      for (int64_t c = 0; c < 3; ++c)
        EXPECT_EQ(in[size_t(c * h * w + 5)], img.pixels[size_t(5 * ic + (ic == 3 ? c : 0))]) << path;
    }
}

TEST(ImageFolderDecode, CorruptFilesNameTheFile) {
  TempDir t;
  const std::vector<uint16_t> s = random_samples(3 * 16 * 16, 3, 255);
  write_png(t.file("ok.png"), 16, 16, 3, 8, s);
  // 64 x 64 of noise: the entropy-coded scan is most of the file (its tables are ~600 bytes).
  std::vector<uint8_t> noise(3 * 64 * 64);
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = uint8_t(s[i % s.size()] ^ (i * 37));
  write_jpeg(t.file("ok.jpg"), 64, 64, 3, noise);
  const std::string png = read_bytes(t.file("ok.png")), jpg = read_bytes(t.file("ok.jpg"));
  for (size_t keep : {png.size() / 2, png.size() - 4, size_t(40)}) {  // in IDAT, in IEND, in the header
    write_bytes(t.file("cut.png"), png.substr(0, keep));
    expect_words(error_of([&] { decode_image(t.file("cut.png")); }), {"cut.png", "not a valid PNG", "truncated"});
  }
  std::string flipped = png;
  flipped[png.size() / 2] = char(flipped[png.size() / 2] ^ 0x55);  // in the compressed data: CRC or zlib error
  write_bytes(t.file("flip.png"), flipped);
  expect_words(error_of([&] { decode_image(t.file("flip.png")); }), {"flip.png", "not a valid PNG"});
  // In the scan and just before EOI, libjpeg would pad the image with grey and
  // warn; the warning is the error. In the tables it fails outright.
  ASSERT_GT(jpg.size(), size_t(4000));
  for (size_t keep : {jpg.size() / 2, jpg.size() - 2, size_t(100)}) {
    write_bytes(t.file("cut.jpg"), jpg.substr(0, keep));
    expect_words(error_of([&] { decode_image(t.file("cut.jpg")); }),
                 {"cut.jpg", "not a valid JPEG", "Premature end of JPEG file"});
  }
  // Too many pixels for the limit (the default is 2^26): refused from the header.
  expect_words(error_of([&] { decode_image(t.file("ok.png"), 255); }), {"ok.png", "16 x 16, more than the 255 pixels"});
  expect_words(error_of([&] { decode_image(t.file("ok.jpg"), 4095); }), {"ok.jpg", "64 x 64, more than the 4095 pixels"});
  EXPECT_EQ(decode_image(t.file("ok.jpg"), 4096).height, 64);
  write_bytes(t.file("text.png"), "hello, not an image");
  expect_words(error_of([&] { decode_image(t.file("text.png")); }), {"text.png", "not a PNG or JPEG"});
  write_bytes(t.file("zero.jpg"), "");
  expect_words(error_of([&] { decode_image(t.file("zero.jpg")); }), {"zero.jpg", "empty"});
  fs::create_directories(t.file("dir.png"));
  expect_words(error_of([&] { decode_image(t.file("dir.png")); }), {"dir.png"});
  // Unreadable (permissions mean nothing to root).
  write_bytes(t.file("locked.png"), png);
  fs::permissions(t.file("locked.png"), fs::perms::none);
  if (::access(t.file("locked.png").c_str(), R_OK) != 0)
    expect_words(error_of([&] { decode_image(t.file("locked.png")); }), {"locked.png", "cannot open"});
  fs::permissions(t.file("locked.png"), fs::perms::owner_all);
  // Through the folder reader: the bad file is named, wherever it is in the list.
  fs::create_directories(t.file("set"));
  fs::copy_file(t.file("ok.png"), t.file("set/a.png"));
  fs::copy_file(t.file("ok.jpg"), t.file("set/b.jpg"));
  write_bytes(t.file("set/c.png"), png.substr(0, png.size() / 3));
  ImageFolderOptions o;
  o.input = {3, 8, 8};
  int64_t seen = 0;
  o.progress = [&](int64_t done) { seen = done; };
  expect_words(error_of([&] { read_image_folder(list_image_folder(t.file("set")), o); }), {"set/c.png", "truncated"});
  EXPECT_EQ(seen, 2);
}

#else  // a build without libpng / libjpeg

TEST(ImageFolderDecode, WithoutImageSupportSaysSo) {
  EXPECT_FALSE(have_image_support());
  expect_words(error_of([] { decode_image("x.png"); }), {"x.png", "built without image support"});
}

#endif

}  // namespace
}  // namespace deftnn::test
