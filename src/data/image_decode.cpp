// PNG and JPEG decoding through libpng and libjpeg (built when CMake finds
// both; image_decode_none.cpp otherwise).
//
// Both libraries report a fatal error through a callback that must not
// return. A C++ exception cannot unwind through their C frames, so the
// callbacks longjmp back to a setjmp in the function that called the
// library, which then cleans up and returns false with the library's
// message; the caller throws. Those functions keep every object with a
// destructor outside the jump's reach: the buffers live in the caller's
// `Image`, and the locals between setjmp and longjmp are plain pointers that
// do not change after setjmp.
#include <cerrno>
#include <csetjmp>
#include <cstddef>
#include <cstdio>  // before jpeglib.h, which uses size_t and FILE without including their headers
#include <cstring>
#include <fstream>

#include <jpeglib.h>
#include <png.h>

#include "core/error.h"
#include "core/input_file.h"
#include "data/image_folder.h"

namespace deftnn::data {

bool have_image_support() { return true; }

namespace {

// The largest image file read (bytes).
constexpr uint64_t kMaxImageFileBytes = uint64_t(1) << 30;

struct Failure {
  std::jmp_buf jump;
  char message[2 * JMSG_LENGTH_MAX + 32];  // a libjpeg error and the warning before it
};

// ---- PNG ----

struct PngInput {
  Failure* failure;
  const unsigned char* data;
  size_t size, at;
  int64_t max_pixels;
};

void too_large(Failure* f, int64_t w, int64_t h, int64_t max_pixels) {
  std::snprintf(f->message, sizeof f->message, "the image is %lld x %lld, more than the %lld pixels an image may have",
                (long long)w, (long long)h, (long long)max_pixels);
}

[[noreturn]] void png_fail(png_structp png, png_const_charp msg) {
  auto* in = static_cast<PngInput*>(png_get_error_ptr(png));
  std::snprintf(in->failure->message, sizeof in->failure->message, "%s", msg ? msg : "unknown libpng error");
  std::longjmp(in->failure->jump, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}

void png_read_memory(png_structp png, png_bytep out, size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (in->size - in->at < n) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, in->data + in->at, n);
  in->at += n;
}

// Decodes into `img` (samples as bytes in img.pixels' storage, converted by
// the caller); false with in->failure->message set on any libpng error.
bool decode_png(PngInput* in, Image* img, std::vector<unsigned char>* raw, int* bit_depth) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, in, png_fail, png_ignore_warning);
  if (!png) {
    std::snprintf(in->failure->message, sizeof in->failure->message, "libpng could not start (out of memory)");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(in->failure->message, sizeof in->failure->message, "libpng could not start (out of memory)");
    return false;
  }
  if (setjmp(in->failure->jump)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, in, png_read_memory);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  const int colour = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (int64_t(w) * int64_t(h) > in->max_pixels) {
    too_large(in->failure, w, h, in->max_pixels);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  const int passes = png_set_interlace_handling(png);  // 7 for an Adam7 image, else 1
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  *bit_depth = png_get_bit_depth(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  if (channels < 1 || channels > 4 || (*bit_depth != 8 && *bit_depth != 16) ||
      row_bytes != size_t(w) * size_t(channels) * size_t(*bit_depth / 8))
    png_error(png, "an unexpected sample layout after expansion");
  raw->resize(row_bytes * h);
  // Row by row (no row-pointer array); an interlaced image takes every pass
  // over every row, each combining its pixels into the row.
  for (int pass = 0; pass < passes; ++pass)
    for (png_uint_32 y = 0; y < h; ++y) png_read_row(png, raw->data() + size_t(y) * row_bytes, nullptr);
  png_read_end(png, nullptr);  // the chunks after the image data, to IEND: a truncated tail is an error too
  img->height = h, img->width = w, img->channels = channels;
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// ---- JPEG ----

struct JpegFailure {
  jpeg_error_mgr mgr;  // first: libjpeg hands back a pointer to it
  Failure* failure;
  int warnings;
  char warning[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  auto* f = reinterpret_cast<JpegFailure*>(cinfo->err);
  char msg[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, msg);
  if (f->warnings > 0)  // the warning is the cause (a file cut short: "Premature end of JPEG file")
    std::snprintf(f->failure->message, sizeof f->failure->message, "%s (after: %s)", msg, f->warning);
  else
    std::snprintf(f->failure->message, sizeof f->failure->message, "%s", msg);
  std::longjmp(f->failure->jump, 1);
}

// Warnings (msg_level -1) are corrupt data libjpeg decodes around (a file
// cut short is padded with grey); they are recorded, not printed, and the
// caller fails on the first. Trace messages (msg_level >= 0) are dropped.
void jpeg_message(j_common_ptr cinfo, int msg_level) {
  auto* f = reinterpret_cast<JpegFailure*>(cinfo->err);
  if (msg_level >= 0) return;
  if (f->warnings++ == 0) (*cinfo->err->format_message)(cinfo, f->warning);
}

bool decode_jpeg(Failure* failure, const std::vector<unsigned char>* bytes, int64_t max_pixels, Image* img,
                 std::vector<unsigned char>* raw) {
  jpeg_decompress_struct cinfo;
  JpegFailure err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  err.failure = failure;
  err.warnings = 0;
  err.warning[0] = 0;
  if (setjmp(failure->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes->data(), static_cast<unsigned long>(bytes->size()));
  if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
    std::snprintf(failure->message, sizeof failure->message, "no image in the JPEG stream (tables only)");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    std::snprintf(failure->message, sizeof failure->message, "a CMYK JPEG; only grey and RGB (YCbCr) JPEGs are read");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  if (int64_t(cinfo.image_width) * int64_t(cinfo.image_height) > max_pixels) {
    too_large(failure, cinfo.image_width, cinfo.image_height, max_pixels);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const size_t stride = size_t(cinfo.output_width) * size_t(cinfo.output_components);
  raw->resize(stride * cinfo.output_height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = raw->data() + size_t(cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  img->height = cinfo.output_height, img->width = cinfo.output_width, img->channels = cinfo.output_components;
  const bool warned = err.warnings > 0;
  if (warned) std::snprintf(failure->message, sizeof failure->message, "%s", err.warning);
  jpeg_destroy_decompress(&cinfo);
  return !warned;
}

// The whole file, through the defensive door (a regular file, a size cap).
std::vector<unsigned char> read_file(const std::string& path) {
  const uint64_t size = require_regular_file(path);
  DEFTNN_CHECK(size <= kMaxImageFileBytes, "{}: {} bytes, more than the {} an image file may hold", path, size,
               kMaxImageFileBytes);
  errno = 0;
  std::ifstream f(path, std::ios::binary);
  DEFTNN_CHECK(f.good(), "{}: cannot open the file: {}", path, errno ? std::strerror(errno) : "unreadable");
  std::vector<unsigned char> bytes(size);
  if (size > 0) f.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size));
  DEFTNN_CHECK(f.good() || (size == 0 && !f.bad()), "{}: cannot read the file ({} bytes)", path, size);
  return bytes;
}

}  // namespace

Image decode_image(const std::string& path, int64_t max_pixels) {
  const std::vector<unsigned char> bytes = read_file(path);
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const bool png = bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0;
  const bool jpeg = bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
  DEFTNN_CHECK(png || jpeg, "{}: not a PNG or JPEG file ({}; neither signature at its start)", path,
               bytes.empty() ? std::string("empty") : std::to_string(bytes.size()) + " bytes");
  Failure failure;
  failure.message[0] = 0;
  Image img;
  std::vector<unsigned char> raw;
  int depth = 8;
  if (png) {
    PngInput in{&failure, bytes.data(), bytes.size(), 0, max_pixels};
    DEFTNN_CHECK(decode_png(&in, &img, &raw, &depth), "{}: not a valid PNG: {}", path, failure.message);
  } else {
    DEFTNN_CHECK(decode_jpeg(&failure, &bytes, max_pixels, &img, &raw), "{}: not a valid JPEG: {}", path, failure.message);
  }
  const size_t n = size_t(img.height * img.width * img.channels);
  img.pixels.resize(n);
  if (depth == 16)
    for (size_t i = 0; i < n; ++i) img.pixels[i] = float((unsigned(raw[2 * i]) << 8) | raw[2 * i + 1]) / 65535.f;
  else
    for (size_t i = 0; i < n; ++i) img.pixels[i] = float(raw[i]) / 255.f;
  return img;
}

}  // namespace deftnn::data
