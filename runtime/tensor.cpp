#include "runtime/tensor.h"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace acnn {

Storage::~Storage() {
  if (owned && !device) std::free(data);
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  auto s = std::make_shared<Storage>();
  size_t n = bytes();
  size_t rounded = (std::max<size_t>(n, 1) + 63) / 64 * 64;
  s->data = std::aligned_alloc(64, rounded);
  if (!s->data) throw std::bad_alloc();
  std::memset(s->data, 0, rounded);
  s->bytes = rounded;
  s->owned = true;
  storage_ = std::move(s);
}

Tensor Tensor::view(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->bytes = t.bytes();
  t.storage_ = std::move(s);
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  assert(acnn::numel(shape) == numel());
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  assert(layout_ == Layout::Plain && !storage_->device);
  Tensor t(dtype_, shape_);
  std::memcpy(t.raw(), raw(), bytes());
  return t;
}

void Tensor::fill(double value) {
  int64_t n = numel();
  for (int64_t i = 0; i < n; ++i) set(i, value);
}

double Tensor::at(int64_t i) const {
  switch (dtype_) {
    case DType::F32: return data<float>()[i];
    case DType::F64: return data<double>()[i];
    case DType::I32: return data<int32_t>()[i];
    case DType::I64: return static_cast<double>(data<int64_t>()[i]);
    case DType::U8: return data<uint8_t>()[i];
    case DType::BF16: {
      uint32_t bits = static_cast<uint32_t>(data<uint16_t>()[i]) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case DType::F16: break;
  }
  assert(false && "Tensor::at: unsupported dtype");
  return 0;
}

void Tensor::set(int64_t i, double v) {
  switch (dtype_) {
    case DType::F32: data<float>()[i] = static_cast<float>(v); return;
    case DType::F64: data<double>()[i] = v; return;
    case DType::I32: data<int32_t>()[i] = static_cast<int32_t>(v); return;
    case DType::I64: data<int64_t>()[i] = static_cast<int64_t>(v); return;
    case DType::U8: data<uint8_t>()[i] = static_cast<uint8_t>(v); return;
    default: break;
  }
  assert(false && "Tensor::set: unsupported dtype");
}

float ExecContext::scalar(const std::string& name) const {
  auto it = scalars.find(name);
  assert(it != scalars.end() && "runtime scalar not fed");
  return it->second;
}

// SplitMix64-style mixing of the four coordinates: cheap, stateless and good
// enough for dropout masks and augmentation draws.
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t counter_hash(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index) {
  uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ull);
  h = mix64(h ^ (step + 0x632be59bd9b4e019ull));
  h = mix64(h ^ (stream * 0x8cb92ba72f3d8dd7ull));
  return mix64(h ^ index);
}

}  // namespace acnn
