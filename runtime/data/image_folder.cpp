#include "runtime/data/image_folder.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

#include "runtime/data/codec.h"

namespace fs = std::filesystem;

namespace acnn::data {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> sorted_subdirs(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (!n.empty() && n[0] != '.' && e.is_directory(ec)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool png_has_iend(const uint8_t* d, size_t n) {
  return n >= 12 && std::memcmp(d + n - 8, "IEND", 4) == 0;
}

// Quick check reading only the head (for the header) and the tail (for the
// end marker) of the file.
std::string quick_check_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return std::string("cannot open: ") + std::strerror(errno);
  if (std::fseek(f.get(), 0, SEEK_END) != 0) return "cannot seek";
  long size = std::ftell(f.get());
  if (size <= 0) return "empty file";
  const long head_len = std::min<long>(size, 1 << 16);
  std::vector<uint8_t> head(static_cast<size_t>(head_len));
  std::fseek(f.get(), 0, SEEK_SET);
  if (std::fread(head.data(), 1, head.size(), f.get()) != head.size()) return "read error";
  const long tail_len = std::min<long>(size, 64);
  std::vector<uint8_t> tail(static_cast<size_t>(tail_len));
  std::fseek(f.get(), size - tail_len, SEEK_SET);
  if (std::fread(tail.data(), 1, tail.size(), f.get()) != tail.size()) return "read error";
  ImageFormat fmt = sniff_format(head.data(), head.size());
  if (fmt == ImageFormat::Unknown) return "not a JPEG or PNG file";
  const bool complete = fmt == ImageFormat::Jpeg ? jpeg_has_eoi(tail.data(), tail.size())
                                                  : png_has_iend(tail.data(), tail.size());
  if (!complete) {
    // Some writers append data after the end marker: decode to be sure.
    return verify_image_bytes(read_file(path), Verify::Full);
  }
  try {
    (void)read_image_info(head.data(), head.size());
  } catch (const DecodeError& e) {
    if (head_len == size) return e.what();
    // The header may lie beyond the first 64 KiB (large EXIF blocks).
    try {
      std::vector<uint8_t> all = read_file(path);
      (void)read_image_info(all.data(), all.size());
    } catch (const std::exception& e2) {
      return e2.what();
    }
  }
  return "";
}

}  // namespace

bool is_image_file_name(const std::string& name) {
  std::string ext = lower(fs::path(name).extension().string());
  return ext == ".jpeg" || ext == ".jpg" || ext == ".png";
}

std::string verify_image_bytes(const std::vector<uint8_t>& bytes, Verify level) {
  if (level == Verify::None) return "";
  const uint8_t* d = bytes.data();
  const size_t n = bytes.size();
  ImageFormat fmt = sniff_format(d, n);
  if (fmt == ImageFormat::Unknown) return "not a JPEG or PNG file";
  const bool complete = fmt == ImageFormat::Jpeg ? jpeg_has_eoi(d, n) : png_has_iend(d, n);
  try {
    if (level == Verify::Quick && complete)
      (void)read_image_info(d, n);
    else
      (void)decode_image(d, n, 0);
  } catch (const DecodeError& e) {
    if (!complete) return std::string("truncated ") + (fmt == ImageFormat::Jpeg ? "JPEG" : "PNG") + " (" + e.what() + ")";
    return e.what();
  }
  return "";
}

ImageFolder::ImageFolder(const std::string& dir, ImageFolderOptions options) : dir_(dir), options_(std::move(options)) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec))
    throw std::runtime_error(dir_ + ": no such directory; expected " + dir_ +
                             "/<class>/<image>.JPEG (ImageNet layout: pass --data DIR with train/ and val/ inside)");
  if (options_.channels != 1 && options_.channels != 3)
    throw std::invalid_argument("ImageFolder: channels must be 1 or 3");
  classes_ = options_.classes.empty() ? sorted_subdirs(dir_) : options_.classes;
  if (classes_.empty())
    throw std::runtime_error(dir_ + ": no class subdirectories; expected " + dir_ +
                             "/<class>/<image>.JPEG (a flat val/ folder must first be sorted into class folders)");
  std::vector<Entry> all;
  for (size_t c = 0; c < classes_.size(); ++c) {
    const fs::path cdir = fs::path(dir_) / classes_[c];
    if (!fs::is_directory(cdir, ec)) {
      if (options_.classes.empty()) continue;
      throw std::runtime_error(cdir.string() + ": class folder missing (the class list was given; is this the right root?)");
    }
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(cdir, ec)) {
      std::string n = e.path().filename().string();
      if (!n.empty() && n[0] != '.' && is_image_file_name(n) && e.is_regular_file(ec)) names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    for (auto& n : names) all.push_back(Entry{(cdir / n).string(), static_cast<int>(c)});
  }
  if (all.empty())
    throw std::runtime_error(dir_ + ": no .JPEG/.jpg/.png files under its " + std::to_string(classes_.size()) +
                             " class folders");
  if (options_.verify == Verify::None) {
    files_ = std::move(all);
    return;
  }
  // Verify in parallel; results land per index so the outcome is independent
  // of thread count and timing.
  std::vector<std::string> reason(all.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < all.size();) {
      try {
        reason[i] = options_.verify == Verify::Quick ? quick_check_file(all[i].path)
                                                     : verify_image_bytes(read_file(all[i].path), Verify::Full);
      } catch (const std::exception& e) {
        reason[i] = e.what();
      }
    }
  };
  int nt = options_.threads > 0 ? options_.threads : static_cast<int>(std::thread::hardware_concurrency());
  nt = std::clamp<int>(nt, 1, static_cast<int>(std::min<size_t>(64, all.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < nt; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (size_t i = 0; i < all.size(); ++i) {
    if (reason[i].empty())
      files_.push_back(std::move(all[i]));
    else
      skipped_.push_back(SkippedFile{all[i].path, reason[i]});
  }
  if (files_.empty())
    throw std::runtime_error(dir_ + ": all " + std::to_string(all.size()) + " image files failed verification (first: " +
                             skipped_.front().path + ": " + skipped_.front().reason + ")");
}

Sample ImageFolder::get(size_t i) const {
  const Entry& e = files_.at(i);
  Sample s;
  s.label = e.label;
  s.path = e.path;
  try {
    s.encoded = read_file(e.path);
  } catch (const std::exception& ex) {
    throw DecodeError(ex.what());
  }
  ImageInfo info;
  try {
    info = read_image_info(s.encoded.data(), s.encoded.size());
  } catch (const DecodeError& ex) {
    throw DecodeError(e.path + ": " + ex.what());
  }
  s.width = info.width;
  s.height = info.height;
  s.channels = options_.channels;
  return s;
}

std::shared_ptr<ImageFolder> open_imagenet(const std::string& root, const std::string& split,
                                           ImageFolderOptions options) {
  std::error_code ec;
  const fs::path dir = fs::path(root) / split;
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error(dir.string() + ": no such directory; an ImageNet root holds train/<class>/*.JPEG and "
                             "val/<class>/*.JPEG (pass --data DIR)");
  return std::make_shared<ImageFolder>(dir.string(), std::move(options));
}

ImageNetC::ImageNetC(const std::string& root, ImageFolderOptions options) : root_(root), options_(std::move(options)) {
  std::error_code ec;
  if (!fs::is_directory(root_, ec))
    throw std::runtime_error(root_ + ": no such directory; an ImageNet-C root holds <corruption>/<severity 1-5>/<class>/*");
  for (const std::string& c : sorted_subdirs(root_)) {
    for (const std::string& s : sorted_subdirs((fs::path(root_) / c).string())) {
      if (s.size() != 1 || s[0] < '1' || s[0] > '5') continue;
      layout_[c].push_back(s[0] - '0');
    }
  }
  if (layout_.empty())
    throw std::runtime_error(root_ + ": no <corruption>/<severity>/ folders (severity 1-5) found; is this an ImageNet-C root?");
  if (options_.classes.empty()) {
    const auto& first = *layout_.begin();
    options_.classes = sorted_subdirs((fs::path(root_) / first.first / std::to_string(first.second.front())).string());
  }
}

std::vector<std::string> ImageNetC::corruptions() const {
  std::vector<std::string> out;
  for (const auto& [c, s] : layout_) out.push_back(c);
  return out;
}

std::vector<int> ImageNetC::severities(const std::string& corruption) const {
  auto it = layout_.find(corruption);
  return it == layout_.end() ? std::vector<int>{} : it->second;
}

bool ImageNetC::has(const std::string& corruption, int severity) const {
  auto s = severities(corruption);
  return std::find(s.begin(), s.end(), severity) != s.end();
}

std::shared_ptr<ImageFolder> ImageNetC::open(const std::string& corruption, int severity) const {
  if (!has(corruption, severity))
    throw std::runtime_error((fs::path(root_) / corruption / std::to_string(severity)).string() +
                             ": not present in this ImageNet-C root");
  return std::make_shared<ImageFolder>((fs::path(root_) / corruption / std::to_string(severity)).string(), options_);
}

}  // namespace acnn::data
