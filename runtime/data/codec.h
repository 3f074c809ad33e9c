// Image file decoding and encoding. JPEG goes through libjpeg-turbo's
// TurboJPEG API with DCT-domain downscaling (1/2, 1/4, 1/8) when the caller
// says how many pixels it actually needs; PNG through libpng's simplified API.
// The format is sniffed from the bytes, not the file name (ImageNet has PNGs
// named .JPEG). Every failure, including libjpeg warnings such as a truncated
// scan, is a DecodeError so that callers can skip the file and count it. The
// encoders exist for tests, benchmarks and JPEG-compression corruptions.
// Without libjpeg-turbo (or libpng) at build time the corresponding calls
// throw a DecodeError that says so.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/data/image.h"

namespace acnn::data {

struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class ImageFormat { Unknown, Jpeg, Png };
ImageFormat sniff_format(const uint8_t* data, size_t size);

struct ImageInfo {
  int width = 0, height = 0;
  int channels = 0;  // 1 or 3 as decoded by default
  ImageFormat format = ImageFormat::Unknown;
};

// Header only: dimensions and channels. Throws DecodeError.
ImageInfo read_image_info(const uint8_t* data, size_t size);

// Decodes to `channels` (1 or 3; 0 keeps the file's: gray stays gray, anything
// else becomes RGB). For JPEG, picks the smallest scale in {1, 1/2, 1/4, 1/8}
// whose output is still at least min_w x min_h (0 = full size); the result's
// dimensions tell the scale actually used. Throws DecodeError.
Image decode_image(const uint8_t* data, size_t size, int channels = 0, int min_w = 0, int min_h = 0);

// A JPEG's scaled size for scale 1/denom, as the decoder produces it.
inline int jpeg_scaled(int dim, int denom) { return (dim + denom - 1) / denom; }

// True when the bytes end with the JPEG end-of-image marker (trailing zero
// padding allowed): a cheap test that catches truncated files.
bool jpeg_has_eoi(const uint8_t* data, size_t size);

bool jpeg_supported();
bool png_supported();

// Baseline JPEG, 4:2:0 for RGB. Throws DecodeError when unsupported.
std::vector<uint8_t> encode_jpeg(const Image& img, int quality = 90);
std::vector<uint8_t> encode_png(const Image& img);

// Whole file into memory; throws std::runtime_error naming the path.
std::vector<uint8_t> read_file(const std::string& path);
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace acnn::data
