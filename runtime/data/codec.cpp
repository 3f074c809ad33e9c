#include "runtime/data/codec.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#ifdef ACNN_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif
#ifdef ACNN_HAVE_PNG
#include <png.h>
#endif

namespace acnn::data {

ImageFormat sniff_format(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat::Jpeg;
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 8 && std::memcmp(d, png_sig, 8) == 0) return ImageFormat::Png;
  return ImageFormat::Unknown;
}

bool jpeg_has_eoi(const uint8_t* d, size_t n) {
  while (n > 0 && d[n - 1] == 0) --n;
  return n >= 4 && d[n - 2] == 0xFF && d[n - 1] == 0xD9;
}

// ------------------------------------------------------------------ JPEG
#ifdef ACNN_HAVE_TURBOJPEG
namespace {

struct TjHandle {
  tjhandle h = nullptr;
  explicit TjHandle(bool compress) : h(compress ? tjInitCompress() : tjInitDecompress()) {}
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
};

// One handle per thread and direction: TurboJPEG handles are not thread-safe.
tjhandle decompressor() {
  thread_local TjHandle t(false);
  if (!t.h) throw DecodeError("cannot create a TurboJPEG decompressor");
  return t.h;
}
tjhandle compressor() {
  thread_local TjHandle t(true);
  if (!t.h) throw DecodeError("cannot create a TurboJPEG compressor");
  return t.h;
}

struct JpegHeader {
  int w, h, subsamp, colorspace;
};

JpegHeader jpeg_header(const uint8_t* d, size_t n) {
  JpegHeader hd{};
  tjhandle h = decompressor();
  if (tjDecompressHeader3(h, d, static_cast<unsigned long>(n), &hd.w, &hd.h, &hd.subsamp, &hd.colorspace) != 0)
    throw DecodeError(std::string("bad JPEG header: ") + tjGetErrorStr2(h));
  if (hd.w <= 0 || hd.h <= 0) throw DecodeError("bad JPEG header: zero size");
  return hd;
}

Image decode_jpeg(const uint8_t* d, size_t n, int channels, int min_w, int min_h) {
  JpegHeader hd = jpeg_header(d, n);
  const bool cmyk = hd.colorspace == TJCS_CMYK || hd.colorspace == TJCS_YCCK;
  if (channels == 0) channels = hd.colorspace == TJCS_GRAY ? 1 : 3;
  int denom = 1;
  for (int cand : {2, 4, 8}) {
    if (min_w <= 0 && min_h <= 0) break;
    if (jpeg_scaled(hd.w, cand) >= min_w && jpeg_scaled(hd.h, cand) >= min_h) denom = cand;
  }
  const int W = jpeg_scaled(hd.w, denom), H = jpeg_scaled(hd.h, denom);
  tjhandle h = decompressor();
  const int flags = TJFLAG_STOPONWARNING;
  if (cmyk) {
    // TurboJPEG cannot convert CMYK to RGB itself. Adobe writes inverted CMYK,
    // so channel * K / 255 recovers R, G, B.
    std::vector<uint8_t> buf(static_cast<size_t>(W) * H * 4);
    if (tjDecompress2(h, d, static_cast<unsigned long>(n), buf.data(), W, 0, H, TJPF_CMYK, flags) != 0)
      throw DecodeError(std::string("corrupt JPEG: ") + tjGetErrorStr2(h));
    Image rgb(H, W, 3);
    for (size_t i = 0; i < static_cast<size_t>(W) * H; ++i)
      for (int c = 0; c < 3; ++c) rgb.pixels[3 * i + c] = static_cast<uint8_t>((buf[4 * i + c] * buf[4 * i + 3] + 127) / 255);
    return to_channels(rgb, channels);
  }
  Image out(H, W, channels);
  const int pf = channels == 1 ? TJPF_GRAY : TJPF_RGB;
  if (tjDecompress2(h, d, static_cast<unsigned long>(n), out.data(), W, 0, H, pf, flags) != 0)
    throw DecodeError(std::string("corrupt JPEG: ") + tjGetErrorStr2(h));
  return out;
}

}  // namespace

bool jpeg_supported() { return true; }

std::vector<uint8_t> encode_jpeg(const Image& img, int quality) {
  if (img.channels != 1 && img.channels != 3) throw DecodeError("encode_jpeg: needs 1 or 3 channels");
  tjhandle h = compressor();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int pf = img.channels == 1 ? TJPF_GRAY : TJPF_RGB;
  const int ss = img.channels == 1 ? TJSAMP_GRAY : TJSAMP_420;
  if (tjCompress2(h, img.data(), img.width, 0, img.height, pf, &buf, &size, ss, quality, TJFLAG_ACCURATEDCT) != 0) {
    if (buf) tjFree(buf);
    throw DecodeError(std::string("JPEG encoding failed: ") + tjGetErrorStr2(h));
  }
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  return out;
}
#else
bool jpeg_supported() { return false; }
static Image decode_jpeg(const uint8_t*, size_t, int, int, int) {
  throw DecodeError("this acnn was built without libjpeg-turbo: install libturbojpeg0-dev and rebuild");
}
std::vector<uint8_t> encode_jpeg(const Image&, int) {
  throw DecodeError("this acnn was built without libjpeg-turbo: install libturbojpeg0-dev and rebuild");
}
#endif

// ------------------------------------------------------------------ PNG
#ifdef ACNN_HAVE_PNG
namespace {
struct PngImage {
  png_image img;
  PngImage() {
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
  }
  ~PngImage() { png_image_free(&img); }
};

Image decode_png(const uint8_t* d, size_t n, int channels, ImageInfo* info_only) {
  PngImage p;
  if (!png_image_begin_read_from_memory(&p.img, d, n)) throw DecodeError(std::string("bad PNG: ") + p.img.message);
  const bool color = (p.img.format & PNG_FORMAT_FLAG_COLOR) != 0;
  if (channels == 0) channels = color ? 3 : 1;
  if (info_only) {
    *info_only = ImageInfo{static_cast<int>(p.img.width), static_cast<int>(p.img.height), color ? 3 : 1,
                           ImageFormat::Png};
    return {};
  }
  p.img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image out(static_cast<int>(p.img.height), static_cast<int>(p.img.width), channels);
  if (!png_image_finish_read(&p.img, nullptr, out.data(), 0, nullptr) || PNG_IMAGE_FAILED(p.img))
    throw DecodeError(std::string("corrupt PNG: ") + p.img.message);
  return out;
}
}  // namespace

bool png_supported() { return true; }

std::vector<uint8_t> encode_png(const Image& img) {
  PngImage p;
  p.img.width = img.width;
  p.img.height = img.height;
  p.img.format = img.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&p.img, nullptr, &size, 0, img.data(), 0, nullptr))
    throw DecodeError(std::string("PNG encoding failed: ") + p.img.message);
  std::vector<uint8_t> out(size);
  if (!png_image_write_to_memory(&p.img, out.data(), &size, 0, img.data(), 0, nullptr))
    throw DecodeError(std::string("PNG encoding failed: ") + p.img.message);
  out.resize(size);
  return out;
}
#else
bool png_supported() { return false; }
static Image decode_png(const uint8_t*, size_t, int, ImageInfo*) {
  throw DecodeError("this acnn was built without libpng: install libpng-dev and rebuild");
}
std::vector<uint8_t> encode_png(const Image&) {
  throw DecodeError("this acnn was built without libpng: install libpng-dev and rebuild");
}
#endif

// ------------------------------------------------------------------ common
ImageInfo read_image_info(const uint8_t* d, size_t n) {
  switch (sniff_format(d, n)) {
    case ImageFormat::Jpeg: {
#ifdef ACNN_HAVE_TURBOJPEG
      JpegHeader hd = jpeg_header(d, n);
      return ImageInfo{hd.w, hd.h, hd.colorspace == TJCS_GRAY ? 1 : 3, ImageFormat::Jpeg};
#else
      decode_jpeg(d, n, 0, 0, 0);
      return {};
#endif
    }
    case ImageFormat::Png: {
      ImageInfo info;
      decode_png(d, n, 0, &info);
      return info;
    }
    default: throw DecodeError("not a JPEG or PNG file (unknown signature)");
  }
}

Image decode_image(const uint8_t* d, size_t n, int channels, int min_w, int min_h) {
  if (channels != 0 && channels != 1 && channels != 3)
    throw std::invalid_argument("decode_image: channels must be 0, 1 or 3");
  switch (sniff_format(d, n)) {
    case ImageFormat::Jpeg: return decode_jpeg(d, n, channels, min_w, min_h);
    case ImageFormat::Png: return decode_png(d, n, channels, nullptr);
    default: throw DecodeError("not a JPEG or PNG file (unknown signature)");
  }
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> out;
  long size = -1;
  if (std::fseek(f.get(), 0, SEEK_END) == 0) {
    size = std::ftell(f.get());
    std::fseek(f.get(), 0, SEEK_SET);
  }
  if (size >= 0) {
    out.resize(static_cast<size_t>(size));
    size_t got = out.empty() ? 0 : std::fread(out.data(), 1, out.size(), f.get());
    out.resize(got);
  } else {  // not seekable: read in chunks
    uint8_t buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f.get())) > 0) out.insert(out.end(), buf, buf + got);
  }
  if (std::ferror(f.get())) throw std::runtime_error(path + ": read error: " + std::strerror(errno));
  return out;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw std::runtime_error(path + ": cannot create: " + std::strerror(errno));
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    throw std::runtime_error(path + ": write error: " + std::strerror(errno));
}

}  // namespace acnn::data
