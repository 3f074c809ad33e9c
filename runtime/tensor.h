// Runtime tensors: a dtype, a shape, a layout tag and a view into reference-
// counted storage. Layout::Plain is dense row-major in logical (NCHW) order,
// the only layout the reference backend and the runtime's I/O understand;
// backends may hold tensors in their own layouts (oneDNN blocked formats) and
// must convert at their boundaries. ExecContext carries what a kernel may need
// beyond its operands: the step and seed for random ops, runtime scalars
// (learning rate, DropBlock keep probability) and the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "compiler/ir/types.h"

namespace acnn {

enum class Layout : uint8_t { Plain = 0, Backend = 1 };  // Backend: opaque, owned by a backend

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  bool owned = false;       // freed by ~Storage
  bool device = false;      // lives in GPU memory
  ~Storage();
};

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialized host memory (64-byte aligned).
  Tensor(DType dtype, Shape shape);
  // Wraps external memory (not owned).
  static Tensor view(DType dtype, Shape shape, void* data);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i]; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return acnn::numel(shape_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  Layout layout() const { return layout_; }
  void set_layout(Layout l) { layout_ = l; }
  bool defined() const { return storage_ != nullptr; }

  void* raw() const { return static_cast<char*>(storage_->data) + offset_; }
  template <class T> T* data() const { return static_cast<T*>(raw()); }

  // Same storage, new shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // A deep copy (host, plain).
  Tensor clone() const;
  void fill(double value);
  // Element i (row-major) read as double, for tests and small tensors.
  double at(int64_t i) const;
  void set(int64_t i, double v);

  std::shared_ptr<Storage> storage() const { return storage_; }
  size_t offset() const { return offset_; }  // byte offset into storage()
  void set_storage(std::shared_ptr<Storage> s, size_t offset = 0) { storage_ = std::move(s); offset_ = offset; }

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  Layout layout_ = Layout::Plain;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
};

struct ExecContext {
  uint64_t seed = 0;     // run seed
  int64_t step = 0;      // training step: random ops draw a new stream per step
  bool training = true;
  int threads = 0;       // 0: library default
  std::map<std::string, float> scalars;  // runtime_scalar values by name
  float scalar(const std::string& name) const;  // asserts presence
};

// Counter-based random numbers: the same (seed, step, stream, index) gives the
// same value on every backend and thread count.
uint64_t counter_hash(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index);
inline float uniform01(uint64_t h) { return static_cast<float>(h >> 40) * (1.0f / 16777216.0f); }

}  // namespace acnn
