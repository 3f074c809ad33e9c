// Interoperability with the Python safetensors package, driven by
// tests/python/check_safetensors_interop.py (hidden tag: not part of [unit],
// needs no Python itself). With ACNN_INTEROP_WRITE=<dir> it writes files for
// Python to load; with ACNN_INTEROP_READ=<file> it checks a file Python wrote.
// Both sides agree on the tensors: for dtype number d (in the order below),
// a tensor named after its code ("F32", ...) of shape [3, 5] whose byte i is
// (7 * d + 1 + 31 * i) mod 256.
#include <cstdlib>
#include <cstring>

#include "runtime/train/checkpoint.h"
#include "tests/catch.h"

using namespace acnn;
using namespace acnn::train;

namespace {

const DType kAll[] = {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32, DType::I64, DType::U8};

TensorMap pattern_tensors() {
  TensorMap m;
  int d = 0;
  for (DType t : kAll) {
    Tensor x(t, {3, 5});
    auto* p = x.data<uint8_t>();
    for (size_t i = 0; i < x.bytes(); ++i) p[i] = static_cast<uint8_t>(7 * d + 1 + 31 * i);
    m[safetensors_dtype(t)] = x;
    ++d;
  }
  return m;
}

}  // namespace

TEST_CASE("safetensors files interoperate with Python", "[.interop]") {
  if (const char* dir = std::getenv("ACNN_INTEROP_WRITE")) {
    std::string d = dir;
    save_safetensors(d + "/acnn_dtypes.safetensors", pattern_tensors(), {{"producer", "acnn"}});
    TensorMap ck;
    Tensor w(DType::F32, {4, 3, 3, 3});
    for (int64_t i = 0; i < w.numel(); ++i) w.set(i, 0.5 * static_cast<double>(i) - 7.0);
    ck["layer1.0.conv1.weight"] = w;
    Tensor m = w.clone();
    m.fill(0.25);
    ck[momentum_name("layer1.0.conv1.weight")] = m;
    Tensor rv(DType::F32, {4});
    rv.fill(1.0);
    ck["layer1.0.bn1.running_var"] = rv;
    Tensor nb(DType::I64, {});
    nb.set(0, 1234567890123.0);
    ck["layer1.0.bn1.num_batches_tracked"] = nb;
    TrainState s;
    s.epoch = 3;
    s.step_in_epoch = 17;
    s.global_step = 317;
    s.seed = 42;
    s.best_metric = 0.8125;
    s.best_metric_name = "val_top1";
    s.recipe_hash = "abc123";
    save_checkpoint(d + "/acnn_checkpoint.safetensors", ck, s);
  }
  if (const char* file = std::getenv("ACNN_INTEROP_READ")) {
    auto c = load_safetensors(file);
    auto expected = pattern_tensors();
    CHECK(c.metadata.at("producer") == "torch");
    for (const auto& [name, t] : expected) {
      INFO(name);
      REQUIRE(c.tensors.count(name));
      const Tensor& got = c.tensors.at(name);
      CHECK(got.dtype() == t.dtype());
      CHECK(got.shape() == t.shape());
      CHECK(std::memcmp(got.raw(), t.raw(), t.bytes()) == 0);
    }
    CHECK(c.tensors.at("scalar").shape().empty());
    CHECK(c.tensors.at("scalar").at(0) == 2.5);
    CHECK(c.tensors.at("empty").numel() == 0);
  }
}
