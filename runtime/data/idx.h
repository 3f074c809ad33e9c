// IDX files (the MNIST format: big-endian magic 0x0000TTRR with element type
// TT and rank RR, RR big-endian uint32 dimensions, then the data) and the
// Fashion-MNIST data set built from them. Files are read through zlib, so the
// gzipped files Debian's dataset-fashion-mnist package installs and plain
// uncompressed copies both work. Every problem (missing file, wrong magic,
// truncated data, image/label count mismatch, labels out of range) is an
// IdxError whose message names the path, says what is wrong and how to fix it.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/data/dataset.h"

namespace acnn::data {

struct IdxError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;  // unsigned-byte elements (type 0x08), row-major
};

// Reads an unsigned-byte IDX file (gzipped or not). `expected_rank` (if > 0)
// is checked against the header.
IdxArray read_idx(const std::string& path, int expected_rank = 0);

// Writes an unsigned-byte IDX file, gzipped when the path ends in ".gz"
// (tests and tools).
void write_idx(const std::string& path, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data);

// Images (rank 3, n x h x w) and labels (rank 1, n) into a gray dataset.
std::shared_ptr<InMemoryDataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                                  int num_classes, std::string name,
                                                  std::vector<std::string> class_names = {});

enum class Split { Train, Test };

// Fashion-MNIST from `dir` (train-*/t10k-*-idx?-ubyte[.gz]); 60000 / 10000
// images of 28x28, 10 classes.
std::shared_ptr<InMemoryDataset> load_fashion_mnist(Split split, const std::string& dir = kFashionMnistDir);
const std::vector<std::string>& fashion_mnist_classes();

// Resolves `dir/stem.gz`, then `dir/stem`; throws IdxError naming both and the fix.
std::string find_idx_file(const std::string& dir, const std::string& stem);

}  // namespace acnn::data
