// safetensors reader and writer, the checkpoint format PyTorch users load with
// `safetensors.torch.load_file`. A file is: an 8-byte little-endian header
// length N, N bytes of JSON (padded with spaces so that 8 + N is a multiple of
// 8), then the byte buffer. The JSON object maps each tensor name to
// {"dtype": "F32"|"F64"|"BF16"|"F16"|"I32"|"I64"|"U8", "shape": [...],
// "data_offsets": [begin, end)} relative to the buffer, plus an optional
// "__metadata__" object of string -> string. The writer emits "__metadata__"
// first, then tensors in buffer order: larger element sizes first (so every
// tensor is aligned to its element size), then by name; the buffer has no
// gaps. The reader validates everything (header size, JSON, keys, dtypes,
// shapes, that the offsets tile the buffer exactly, file length) and throws
// std::runtime_error with a message that starts with the file name. Tensors
// must be host tensors in Layout::Plain; data is written in the host byte
// order, which must be little-endian. Files are written atomically
// (AtomicFile): a crash leaves the previous file intact.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "runtime/tensor.h"

namespace acnn::train {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// The reader refuses headers above this size (as the reference implementation
// does): a corrupt length must not make us allocate gigabytes.
inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

struct SafetensorsContents {
  TensorMap tensors;
  Metadata metadata;
};

// "F32" etc. and back; parse returns false for an unknown code.
const char* safetensors_dtype(DType t);
bool parse_safetensors_dtype(std::string_view code, DType* out);

// The header (length prefix + padded JSON) the writer emits for these tensors.
std::string safetensors_header(const TensorMap& tensors, const Metadata& metadata = {});
// The whole file as bytes (header + buffer), for tests and small files.
std::string encode_safetensors(const TensorMap& tensors, const Metadata& metadata = {});
// Parses file bytes; `name` is used in error messages.
SafetensorsContents decode_safetensors(std::string_view bytes, const std::string& name = "<memory>");

// Writes atomically (see atomic_file.h); data is streamed, not copied.
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});
// Reads and validates a file; each tensor gets its own host allocation.
SafetensorsContents load_safetensors(const std::string& path);
// Reads only the metadata (cheap: the buffer is not read, but the header is
// validated against the file size).
Metadata load_safetensors_metadata(const std::string& path);

}  // namespace acnn::train
