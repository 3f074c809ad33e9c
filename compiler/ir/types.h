// Element types and shapes of IR values and runtime tensors. Shapes are static:
// every dimension is known when the graph is built (the batch size included).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace acnn {

enum class DType : uint8_t { F32, F64, F16, BF16, I32, I64, U8 };

const char* dtype_name(DType t);             // "f32"
bool parse_dtype(const std::string& s, DType* out);
size_t dtype_size(DType t);
inline bool is_float(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16; }

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);       // "[1,3,224,224]"
std::string type_str(DType t, const Shape& s);  // "f32[1,3,224,224]"

}  // namespace acnn
