// Test buffers whose last byte sits right before an inaccessible page, so a
// kernel that reads or writes past the end (beyond 16-byte rounding) faults
// instead of silently touching a neighbour; values are stored as the
// kernels store them (f32, f16, bf16) and read back as floats.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "compiler/ir/types.h"

namespace acnn::sim {

template <class T>
inline T to_storage(float v) {
  if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __float2bfloat16_rn(v);
  else
    return static_cast<T>(v);
}
inline float to_float(float v) { return v; }
inline float to_float(__half v) { return __half2float(v); }
inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, __half>)
    return DType::F16;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return DType::BF16;
  else
    return DType::F32;
}

template <class T>
class Guarded {
 public:
  explicit Guarded(size_t n) : n_(n) {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t bytes = (n * sizeof(T) + 15) / 16 * 16;
    map_bytes_ = (bytes + page - 1) / page * page + page;
    char* base = static_cast<char*>(::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base == MAP_FAILED) throw std::runtime_error("mmap failed");
    if (::mprotect(base + map_bytes_ - page, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    base_ = base;
    data_ = reinterpret_cast<T*>(base + map_bytes_ - page - bytes);
    std::memset(static_cast<void*>(data_), 0xff, bytes);  // NaN in every float format: unwritten outputs show
  }
  ~Guarded() { ::munmap(base_, map_bytes_); }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return n_; }
  void set(size_t i, float v) { data_[i] = to_storage<T>(v); }
  float at(size_t i) const { return to_float(data_[i]); }

 private:
  size_t n_, map_bytes_ = 0;
  char* base_ = nullptr;
  T* data_ = nullptr;
};

}  // namespace acnn::sim
