#include "runtime/train/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <vector>

#include "runtime/train/atomic_file.h"

namespace acnn::train {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; a big-endian host would need byte swapping");

namespace {

using ojson = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& file, const std::string& msg) {
  throw std::runtime_error(file + ": invalid safetensors file: " + msg);
}

// One tensor of a header, in the order the writer lays out the buffer.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

struct Header {
  std::vector<Entry> entries;  // sorted by offset after parsing
  Metadata metadata;
};

// Writer's layout: larger elements first (alignment), then name.
std::vector<Entry> layout(const TensorMap& tensors) {
  std::vector<Entry> out;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw std::runtime_error("safetensors: '__metadata__' cannot name a tensor");
    if (!t.defined()) throw std::runtime_error("safetensors: tensor '" + name + "' is undefined");
    if (t.layout() != Layout::Plain) throw std::runtime_error("safetensors: tensor '" + name + "' is not in the plain layout");
    if (t.storage()->device) throw std::runtime_error("safetensors: tensor '" + name + "' lives in device memory");
    out.push_back(Entry{name, t.dtype(), t.shape(), 0, 0});
  }
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return dtype_size(a.dtype) > dtype_size(b.dtype);
  });
  uint64_t off = 0;
  for (auto& e : out) {
    e.begin = off;
    off += tensors.at(e.name).bytes();
    e.end = off;
  }
  return out;
}

std::string header_for(const std::vector<Entry>& entries, const Metadata& metadata) {
  ojson j = ojson::object();
  if (!metadata.empty()) {
    ojson m = ojson::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    j["__metadata__"] = std::move(m);
  }
  for (const auto& e : entries) {
    ojson t = ojson::object();
    t["dtype"] = safetensors_dtype(e.dtype);
    t["shape"] = e.shape;
    t["data_offsets"] = {e.begin, e.end};
    j[e.name] = std::move(t);
  }
  std::string text;
  try {
    text = j.dump();
  } catch (const nlohmann::json::exception& ex) {
    throw std::runtime_error(std::string("safetensors: a tensor name or metadata string is not valid UTF-8: ") + ex.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint64_t as_u64(const nlohmann::json& v, const std::string& file, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  bad(file, what + " must be a non-negative integer, got " + v.dump());
}

// Parses and validates the JSON header against a buffer of `buffer_len` bytes.
Header parse_header(std::string_view text, uint64_t buffer_len, const std::string& file) {
  if (text.empty() || text.front() != '{') bad(file, "header does not start with '{'");
  // Duplicate keys are silently merged by JSON parsers; a safetensors header
  // with two entries of one name is corrupt, so they are caught while parsing.
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  auto cb = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) keys.emplace_back();
    else if (ev == E::object_end) keys.pop_back();
    else if (ev == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::json::exception& ex) {
    bad(file, std::string("header is not valid JSON: ") + ex.what());
  }
  if (!duplicate.empty()) bad(file, "header has the key '" + duplicate + "' twice");
  if (!j.is_object()) bad(file, "header is not a JSON object");

  Header h;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) bad(file, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) bad(file, "__metadata__ value of '" + m.key() + "' is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    std::string where = "tensor '" + name + "'";
    if (!v.is_object()) bad(file, where + " is not an object");
    for (auto f = v.begin(); f != v.end(); ++f)
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
        bad(file, where + " has an unknown field '" + f.key() + "'");
    if (!v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      bad(file, where + " needs dtype, shape and data_offsets");
    Entry e;
    e.name = name;
    if (!v["dtype"].is_string()) bad(file, where + ": dtype is not a string");
    std::string code = v["dtype"].get<std::string>();
    if (!parse_safetensors_dtype(code, &e.dtype)) bad(file, where + ": unknown or unsupported dtype '" + code + "'");
    const auto& shape = v["shape"];
    if (!shape.is_array()) bad(file, where + ": shape is not an array");
    uint64_t count = 1;
    for (const auto& d : shape) {
      uint64_t n = as_u64(d, file, where + ": shape dimension");
      if (n > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(count, n, &count))
        bad(file, where + ": shape " + shape.dump() + " overflows");
      e.shape.push_back(static_cast<int64_t>(n));
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(dtype_size(e.dtype)), &bytes))
      bad(file, where + ": shape " + shape.dump() + " overflows");
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2) bad(file, where + ": data_offsets is not [begin, end]");
    e.begin = as_u64(off[0], file, where + ": data_offsets");
    e.end = as_u64(off[1], file, where + ": data_offsets");
    if (e.end < e.begin) bad(file, where + ": data_offsets " + off.dump() + " end before they begin");
    if (e.end - e.begin != bytes)
      bad(file, where + ": data_offsets " + off.dump() + " span " + std::to_string(e.end - e.begin) + " bytes but " +
                    code + shape.dump() + " needs " + std::to_string(bytes));
    if (e.end > buffer_len)
      bad(file, where + ": data_offsets " + off.dump() + " reach past the end of the data (" + std::to_string(buffer_len) +
                    " bytes): the file is truncated or the offsets are corrupt");
    h.entries.push_back(std::move(e));
  }
  // The tensors must tile the buffer: no overlap, no gap, nothing after.
  std::sort(h.entries.begin(), h.entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const auto& e : h.entries) {
    if (e.begin < pos)
      bad(file, "tensors '" + prev->name + "' and '" + e.name + "' overlap (bytes " + std::to_string(e.begin) + ".." +
                    std::to_string(pos) + ")");
    if (e.begin > pos)
      bad(file, "a gap of " + std::to_string(e.begin - pos) + " bytes before tensor '" + e.name + "' (at " +
                    std::to_string(pos) + ")");
    pos = e.end;
    if (e.end > e.begin || !prev) prev = &e;
  }
  if (pos != buffer_len)
    bad(file, std::to_string(buffer_len - pos) + " bytes after the last tensor are not described by the header");
  return h;
}

// Validates the 8-byte prefix against the total size; returns N.
uint64_t header_length(const char* prefix, uint64_t total, const std::string& file) {
  uint64_t n = read_u64_le(prefix);
  if (n > kSafetensorsMaxHeader)
    bad(file, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kSafetensorsMaxHeader) +
                  " bytes");
  if (n > total - 8)
    bad(file, "header length " + std::to_string(n) + " exceeds the file (" + std::to_string(total) +
                  " bytes): truncated");
  return n;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void pread_all(int fd, void* dst, uint64_t n, uint64_t off, const std::string& file) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(file + ": read failed: " + std::strerror(errno));
    }
    if (r == 0) bad(file, "unexpected end of file (truncated while reading)");
    p += r;
    n -= static_cast<uint64_t>(r);
    off += static_cast<uint64_t>(r);
  }
}

// Opens `path` and parses its header; `data_start` receives the buffer offset.
Header read_header(const std::string& path, Fd& f, uint64_t* data_start) {
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(f.fd, &st) != 0) throw std::runtime_error(path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) bad(path, "not a regular file");
  uint64_t total = static_cast<uint64_t>(st.st_size);
  if (total < 8) bad(path, "file is " + std::to_string(total) + " bytes, shorter than the 8-byte header length");
  char prefix[8];
  pread_all(f.fd, prefix, 8, 0, path);
  uint64_t n = header_length(prefix, total, path);
  std::string text(n, '\0');
  pread_all(f.fd, text.data(), n, 8, path);
  *data_start = 8 + n;
  return parse_header(text, total - 8 - n, path);
}

}  // namespace

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

bool parse_safetensors_dtype(std::string_view code, DType* out) {
  static const std::pair<const char*, DType> table[] = {
      {"F32", DType::F32}, {"F64", DType::F64}, {"F16", DType::F16}, {"BF16", DType::BF16},
      {"I32", DType::I32}, {"I64", DType::I64}, {"U8", DType::U8}};
  for (const auto& [name, t] : table)
    if (code == name) {
      *out = t;
      return true;
    }
  return false;
}

std::string safetensors_header(const TensorMap& tensors, const Metadata& metadata) {
  return header_for(layout(tensors), metadata);
}

std::string encode_safetensors(const TensorMap& tensors, const Metadata& metadata) {
  auto entries = layout(tensors);
  std::string out = header_for(entries, metadata);
  for (const auto& e : entries) out.append(tensors.at(e.name).data<char>(), e.end - e.begin);
  return out;
}

SafetensorsContents decode_safetensors(std::string_view bytes, const std::string& name) {
  if (bytes.size() < 8)
    bad(name, "file is " + std::to_string(bytes.size()) + " bytes, shorter than the 8-byte header length");
  uint64_t n = header_length(bytes.data(), bytes.size(), name);
  Header h = parse_header(bytes.substr(8, n), bytes.size() - 8 - n, name);
  SafetensorsContents out;
  out.metadata = std::move(h.metadata);
  const char* data = bytes.data() + 8 + n;
  for (const auto& e : h.entries) {
    Tensor t(e.dtype, e.shape);
    if (e.end > e.begin) std::memcpy(t.raw(), data + e.begin, e.end - e.begin);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  std::vector<Entry> entries;
  std::string header;
  try {
    entries = layout(tensors);
    header = header_for(entries, metadata);
  } catch (const std::runtime_error& ex) {
    throw std::runtime_error(path + ": " + ex.what());
  }
  AtomicFile f(path);
  f.write(header);
  for (const auto& e : entries) f.write(tensors.at(e.name).raw(), e.end - e.begin);
  f.commit();
}

SafetensorsContents load_safetensors(const std::string& path) {
  Fd f;
  uint64_t start = 0;
  Header h = read_header(path, f, &start);
  SafetensorsContents out;
  out.metadata = std::move(h.metadata);
  for (const auto& e : h.entries) {
    Tensor t(e.dtype, e.shape);
    pread_all(f.fd, t.raw(), e.end - e.begin, start + e.begin, path);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

Metadata load_safetensors_metadata(const std::string& path) {
  Fd f;
  uint64_t start = 0;
  return read_header(path, f, &start).metadata;
}

}  // namespace acnn::train
