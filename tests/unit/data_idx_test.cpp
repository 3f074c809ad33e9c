#include <zlib.h>

#include <array>
#include <filesystem>
#include <functional>

#include "runtime/data/codec.h"

#include "runtime/data/idx.h"
#include "tests/catch.h"
#include "tests/unit/data_test_util.h"

using namespace acnn::data;
using acnn::data::testing::TempDir;

namespace {

std::vector<uint8_t> raw_idx(uint8_t type, const std::vector<uint32_t>& dims, size_t data_bytes) {
  std::vector<uint8_t> b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i * 7));
  return b;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(f);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const IdxError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("data: IDX files round-trip gzipped and plain", "[unit]") {
  TempDir dir;
  std::vector<uint8_t> pixels(3 * 4 * 5);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i);
  write_idx(dir / "imgs-idx3-ubyte.gz", {3, 4, 5}, pixels);
  write_idx(dir / "labs-idx1-ubyte", {3}, {2, 0, 9});
  IdxArray a = read_idx(dir / "imgs-idx3-ubyte.gz", 3);
  CHECK(a.dims == std::vector<uint32_t>{3, 4, 5});
  CHECK(a.data == pixels);
  // Really gzipped (magic 1f 8b) and really plain.
  auto head = [](const std::string& p) {
    std::FILE* f = std::fopen(p.c_str(), "rb");
    uint8_t b[2] = {0, 0};
    REQUIRE(std::fread(b, 1, 2, f) == 2);
    std::fclose(f);
    return std::pair<int, int>(b[0], b[1]);
  };
  CHECK(head(dir / "imgs-idx3-ubyte.gz") == std::pair<int, int>(0x1f, 0x8b));
  CHECK(head(dir / "labs-idx1-ubyte") == std::pair<int, int>(0, 0));

  auto ds = load_idx_dataset(dir / "imgs-idx3-ubyte.gz", dir / "labs-idx1-ubyte", 10, "tiny");
  REQUIRE(ds->size() == 3);
  CHECK(ds->height() == 4);
  CHECK(ds->width() == 5);
  CHECK(ds->channels() == 1);
  CHECK(ds->label(2) == 9);
  Sample s = ds->get(1);
  CHECK(s.label == 0);
  CHECK(s.decoded.at(0, 0) == 20);
  CHECK(s.decoded.at(3, 4) == 39);
}

TEST_CASE("data: IDX errors name the file and the problem", "[unit]") {
  TempDir dir;
  // Missing file / directory.
  std::string e = error_of([&] { read_idx(dir / "nope.gz"); });
  CHECK(e.find("nope.gz") != std::string::npos);
  CHECK(e.find("dataset-fashion-mnist") != std::string::npos);
  e = error_of([&] { load_fashion_mnist(Split::Train, dir / "missing_dir"); });
  CHECK(e.find("missing_dir") != std::string::npos);
  CHECK(e.find("--data") != std::string::npos);
  e = error_of([&] { load_fashion_mnist(Split::Test, dir.path.string()); });
  CHECK(e.find("t10k-images-idx3-ubyte") != std::string::npos);

  // Wrong magic.
  write_gz(dir / "bad.gz", {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0});
  e = error_of([&] { read_idx(dir / "bad.gz"); });
  CHECK(e.find("bad.gz") != std::string::npos);
  CHECK(e.find("not an IDX file") != std::string::npos);
  CHECK(e.find("0x12345678") != std::string::npos);

  // Unsupported element type, rank mismatch (images and labels swapped).
  write_gz(dir / "float.gz", raw_idx(0x0D, {2}, 8));
  CHECK(error_of([&] { read_idx(dir / "float.gz"); }).find("float") != std::string::npos);
  write_gz(dir / "labels.gz", raw_idx(0x08, {4}, 4));
  CHECK(error_of([&] { read_idx(dir / "labels.gz", 3); }).find("swapped") != std::string::npos);

  // Truncated data, gzipped and plain.
  write_gz(dir / "short.gz", raw_idx(0x08, {10, 28, 28}, 1000));
  e = error_of([&] { read_idx(dir / "short.gz"); });
  CHECK(e.find("short.gz") != std::string::npos);
  CHECK(e.find("truncated") != std::string::npos);
  CHECK(e.find("10x28x28") != std::string::npos);
  write_file(dir / "short_raw", raw_idx(0x08, {10, 28, 28}, 1000));
  CHECK(error_of([&] { read_idx(dir / "short_raw"); }).find("truncated") != std::string::npos);
  // A gzip stream cut in the middle.
  {
    std::vector<uint8_t> gz;
    write_gz(dir / "full.gz", raw_idx(0x08, {50, 28, 28}, 50 * 784));
    gz = read_file(dir / "full.gz");
    gz.resize(gz.size() / 2);
    write_file(dir / "cut.gz", gz);
  }
  e = error_of([&] { read_idx(dir / "cut.gz"); });
  CHECK(e.find("cut.gz") != std::string::npos);
  CHECK(e.find("truncated") != std::string::npos);

  // Count mismatch between images and labels.
  write_idx(dir / "i.gz", {3, 2, 2}, std::vector<uint8_t>(12));
  write_idx(dir / "l.gz", {4}, {0, 1, 2, 3});
  e = error_of([&] { load_idx_dataset(dir / "i.gz", dir / "l.gz", 10, "x"); });
  CHECK(e.find("3 images") != std::string::npos);
  CHECK(e.find("4 labels") != std::string::npos);
  // Labels out of range.
  write_idx(dir / "l3.gz", {3}, {0, 11, 2});
  CHECK(error_of([&] { load_idx_dataset(dir / "i.gz", dir / "l3.gz", 10, "x"); }).find("label 11") != std::string::npos);

  // Un-gzipped Fashion-style files are found when no .gz exists.
  write_idx(dir / "t10k-images-idx3-ubyte", {2, 28, 28}, std::vector<uint8_t>(2 * 784, 3));
  write_idx(dir / "t10k-labels-idx1-ubyte", {2}, {1, 7});
  auto ds = load_fashion_mnist(Split::Test, dir.path.string());
  CHECK(ds->size() == 2);
  CHECK(ds->label(1) == 7);
  CHECK(ds->class_names().at(7) == "Sneaker");
}

TEST_CASE("data: the installed Fashion-MNIST loads (when present)", "[unit]") {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) {
    WARN("Fashion-MNIST not installed (dataset-fashion-mnist): skipped");
    return;
  }
  auto train = load_fashion_mnist(Split::Train);
  auto test = load_fashion_mnist(Split::Test);
  CHECK(train->size() == 60000);
  CHECK(test->size() == 10000);
  CHECK(train->height() == 28);
  CHECK(train->width() == 28);
  std::array<int, 10> counts{};
  for (int32_t y : test->labels()) {
    REQUIRE(y >= 0);
    REQUIRE(y < 10);
    ++counts[static_cast<size_t>(y)];
  }
  for (int c : counts) CHECK(c == 1000);  // the test split is balanced
  double mean = 0;
  for (size_t i = 0; i < 1000; ++i)
    for (int k = 0; k < 784; ++k) mean += train->pixels(i)[k];
  mean /= 1000.0 * 784 * 255;
  CHECK(std::abs(mean - 0.286) < 0.02);  // the usual normalization mean
}
