// Shared by the image-folder tests (tests/data/test_image_folder.cpp,
// tests/train/test_prepare_images.cpp): a temporary folder, byte files, and
// with libpng and libjpeg (DEFTNN_TEST_WITH_IMAGES) writers of valid PNG and
// JPEG files and seeded sample generators.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/rng.h"

#ifdef DEFTNN_TEST_WITH_IMAGES
#include <csetjmp>
#include <cstddef>  // before jpeglib.h, which uses size_t and FILE without including their headers
#include <jpeglib.h>
#include <png.h>
#endif

namespace deftnn::test::images {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards (permissions restored first).
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / (std::string("deftnn_img_") + info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

#ifdef DEFTNN_TEST_WITH_IMAGES

// 8- or 16-bit samples (h, w, channels) interleaved; colour type from channels.
inline void write_png(const std::string& path, int w, int h, int channels, int depth,
                      const std::vector<uint16_t>& s, bool interlace = false) {
  fs::create_directories(fs::path(path).parent_path());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  ASSERT_EQ(setjmp(png_jmpbuf(png)), 0) << "libpng failed writing " << path;
  png_init_io(png, f);
  const int type[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGBA};
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), depth, type[channels],
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t row = size_t(w) * size_t(channels) * size_t(depth / 8);
  std::vector<unsigned char> bytes(row * size_t(h));
  for (size_t i = 0; i < s.size(); ++i)
    if (depth == 16)
      bytes[2 * i] = (unsigned char)(s[i] >> 8), bytes[2 * i + 1] = (unsigned char)(s[i] & 255);
    else
      bytes[i] = (unsigned char)s[i];
  std::vector<png_bytep> rows(static_cast<size_t>(h));
  for (int y = 0; y < h; ++y) rows[size_t(y)] = bytes.data() + size_t(y) * row;
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

// A palette PNG (4-bit indices) with one transparent entry.
inline void write_palette_png(const std::string& path, int w, int h, const std::vector<uint8_t>& idx,
                              const std::vector<png_color>& palette, uint8_t alpha0) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  ASSERT_EQ(setjmp(png_jmpbuf(png)), 0);
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_PLTE(png, info, palette.data(), int(palette.size()));
  png_byte trans[1] = {alpha0};
  png_set_tRNS(png, info, trans, 1, nullptr);
  png_write_info(png, info);
  png_set_packing(png);  // one index per byte in our rows
  for (int y = 0; y < h; ++y) png_write_row(png, const_cast<uint8_t*>(idx.data() + size_t(y * w)));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

// Quality 100, no chroma subsampling (4:4:4): every quantisation step is 1.
inline void write_jpeg(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& s) {
  fs::create_directories(fs::path(path).parent_path());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = JDIMENSION(w), c.image_height = JDIMENSION(h), c.input_components = channels;
  c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  for (int i = 0; i < c.num_components; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(s.data() + size_t(c.next_scanline) * size_t(w * channels));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

inline std::vector<uint16_t> random_samples(size_t n, uint64_t seed, int max) {
  Rng rng(seed);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = uint16_t(rng.below(uint64_t(max) + 1));
  return v;
}

// Smooth random content (a JPEG of white noise is the worst case, not the usual one):
// a few random low-frequency waves plus +-8 levels of noise, clamped to 0..255.
inline std::vector<uint8_t> smooth_samples(int w, int h, int channels, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> v(size_t(w * h * channels));
  for (int c = 0; c < channels; ++c) {
    const double a = rng.uniform() * 0.3, b = rng.uniform() * 0.3, p = rng.uniform() * 6;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const double val = 128 + 90 * std::sin(a * x + b * y + p) + (rng.uniform() * 16 - 8);
        v[size_t((y * w + x) * channels + c)] = uint8_t(std::clamp(val, 0.0, 255.0));
      }
  }
  return v;
}

#endif  // DEFTNN_TEST_WITH_IMAGES

}  // namespace deftnn::test::images
