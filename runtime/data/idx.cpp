#include "runtime/data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace acnn::data {
namespace {

const char* kFix = "install the Debian package dataset-fashion-mnist or pass --data DIR";

struct GzFile {
  gzFile f = nullptr;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Reads up to n bytes; returns how many arrived. Throws on a zlib error
// (corrupt stream), not on a short read (the caller reports truncation).
size_t read_some(GzFile& g, const std::string& path, uint8_t* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    int got = gzread(g.f, dst + done, chunk);
    if (got < 0) {
      int err = 0;
      const char* msg = gzerror(g.f, &err);
      if (err == Z_BUF_ERROR) break;  // gzip stream cut short: reported as truncation
      throw IdxError(path + ": corrupt gzip stream (" + std::string(msg ? msg : "zlib error") +
                     "); the file is damaged: reinstall it (" + kFix + ")");
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

const char* type_name(uint8_t t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return "unknown";
  }
}

}  // namespace

std::string find_idx_file(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  const std::string gz = (fs::path(dir) / (stem + ".gz")).string();
  const std::string raw = (fs::path(dir) / stem).string();
  std::error_code ec;
  if (fs::is_regular_file(gz, ec)) return gz;
  if (fs::is_regular_file(raw, ec)) return raw;
  if (!fs::is_directory(dir, ec))
    throw IdxError(dir + ": data directory does not exist (looking for " + stem + "[.gz]); " + kFix);
  throw IdxError(gz + ": no such file (nor " + raw + "); " + kFix);
}

IdxArray read_idx(const std::string& path, int expected_rank) {
  GzFile g;
  g.f = gzopen(path.c_str(), "rb");
  if (!g.f)
    throw IdxError(path + ": cannot open (" + std::string(errno ? std::strerror(errno) : "zlib error") + "); " + kFix);
  gzbuffer(g.f, 1 << 17);
  uint8_t head[4];
  if (read_some(g, path, head, 4) != 4) throw IdxError(path + ": truncated: shorter than the 4-byte IDX magic");
  if (head[0] != 0 || head[1] != 0 || head[3] == 0 || head[3] > 8) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08X", be32(head));
    throw IdxError(path + ": not an IDX file (magic " + buf + ", expected 0x000008RR with rank RR); is it the right file?");
  }
  if (head[2] != 0x08)
    throw IdxError(path + ": IDX element type " + type_name(head[2]) + " is not supported (only unsigned byte, 0x08)");
  const int rank = head[3];
  if (expected_rank > 0 && rank != expected_rank) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08X", be32(head));
    throw IdxError(path + ": IDX magic " + buf + " has rank " + std::to_string(rank) + ", expected rank " +
                   std::to_string(expected_rank) + (expected_rank == 3 ? " (an images file)" : " (a labels file)") +
                   "; are the images and labels files swapped?");
  }
  IdxArray a;
  std::vector<uint8_t> dimbytes(4 * rank);
  if (read_some(g, path, dimbytes.data(), dimbytes.size()) != dimbytes.size())
    throw IdxError(path + ": truncated inside the header (dimensions)");
  uint64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    a.dims.push_back(be32(&dimbytes[4 * i]));
    total *= a.dims.back();
    if (total > (uint64_t(1) << 36)) throw IdxError(path + ": implausible dimensions in the header (corrupt file?)");
  }
  a.data.resize(total);
  size_t got = read_some(g, path, a.data.data(), total);
  if (got != total) {
    std::string shape;
    for (size_t i = 0; i < a.dims.size(); ++i) shape += (i ? "x" : "") + std::to_string(a.dims[i]);
    throw IdxError(path + ": truncated: the header announces " + shape + " = " + std::to_string(total) +
                   " bytes of data, the file holds " + std::to_string(got) + "; re-download or reinstall it (" + kFix +
                   ")");
  }
  return a;
}

void write_idx(const std::string& path, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  GzFile g;
  g.f = gzopen(path.c_str(), gz ? "wb6" : "wbT");
  if (!g.f) throw IdxError(path + ": cannot create: " + std::strerror(errno));
  std::vector<uint8_t> head = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) head.push_back(static_cast<uint8_t>(d >> s));
  if (gzwrite(g.f, head.data(), static_cast<unsigned>(head.size())) != static_cast<int>(head.size()) ||
      (!data.empty() && gzwrite(g.f, data.data(), static_cast<unsigned>(data.size())) != static_cast<int>(data.size())))
    throw IdxError(path + ": write failed");
  int rc = gzclose(g.f);
  g.f = nullptr;
  if (rc != Z_OK) throw IdxError(path + ": write failed on close");
}

std::shared_ptr<InMemoryDataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                                  int num_classes, std::string name,
                                                  std::vector<std::string> class_names) {
  IdxArray images = read_idx(images_path, 3);
  IdxArray labels = read_idx(labels_path, 1);
  if (images.dims[0] != labels.dims[0])
    throw IdxError(images_path + " holds " + std::to_string(images.dims[0]) + " images but " + labels_path + " holds " +
                   std::to_string(labels.dims[0]) + " labels; the two files must come from the same split");
  std::vector<int32_t> lab(labels.data.begin(), labels.data.end());
  for (size_t i = 0; i < lab.size(); ++i)
    if (lab[i] >= num_classes)
      throw IdxError(labels_path + ": label " + std::to_string(lab[i]) + " at item " + std::to_string(i) +
                     " is outside [0, " + std::to_string(num_classes) + "); wrong file?");
  return std::make_shared<InMemoryDataset>(std::move(name), static_cast<int>(images.dims[1]),
                                           static_cast<int>(images.dims[2]), 1, std::move(images.data), std::move(lab),
                                           num_classes, std::move(class_names));
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

std::shared_ptr<InMemoryDataset> load_fashion_mnist(Split split, const std::string& dir) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  std::string images = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  std::string labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  return load_idx_dataset(images, labels, 10, std::string("fashion-mnist/") + (split == Split::Train ? "train" : "test"),
                          fashion_mnist_classes());
}

}  // namespace acnn::data
