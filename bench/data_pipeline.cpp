// Data pipeline throughput. Generates a JPEG tree (256 images of about
// 500x375, the typical ImageNet size, in 4 class folders) in a temporary
// directory, then times the DataLoader end to end (read, decode,
// RandomResizedCrop to 224, flip, optional AutoAugment, normalization into
// the batch tensor) with 1 and 2 worker threads, plus the eval transform and
// bare decoding for reference. Prints a table and writes
// bench/results/data_pipeline.json (or the path given as the first argument).
//
//   build/bench/bench_data_pipeline [out.json] [--images N] [--epochs E]
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "runtime/data/augment.h"
#include "runtime/data/codec.h"
#include "runtime/data/image_folder.h"
#include "runtime/data/loader.h"

using namespace acnn::data;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

// A photo-like image: smooth color fields, edges and fine texture (so that
// JPEG files have realistic sizes, ~60-120 KB at quality 90).
Image photo(int h, int w, uint64_t seed) {
  Image img(h, w, 3);
  Rng rng(seed);
  double f[6];
  for (double& v : f) v = rng.uniform(0.5, 4.0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        double v = 120 + 70 * std::sin(f[c] * x / w * 6.28 + c) * std::cos(f[c + 3] * y / h * 6.28) +
                   ((x / 37 + y / 23) % 2 ? 25 : -25) + rng.uniform(-18, 18);
        img.at(y, x, c) = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
  return img;
}

struct Row {
  std::string variant;
  int threads;
  double images_per_s;
  double per_core;
};

}  // namespace

int main(int argc, char** argv) {
  std::string out = std::string(ACNN_SOURCE_DIR) + "/bench/results/data_pipeline.json";
  int n_images = 256, epochs = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--images" && i + 1 < argc) n_images = std::atoi(argv[++i]);
    else if (a == "--epochs" && i + 1 < argc) epochs = std::atoi(argv[++i]);
    else out = a;
  }
  if (!jpeg_supported()) {
    std::fprintf(stderr, "bench_data_pipeline: built without libjpeg-turbo\n");
    return 1;
  }
  std::string tmpl = (fs::temp_directory_path() / "acnn_bench_data_XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return 1;
  const fs::path root = tmpl;
  size_t bytes = 0;
  for (int i = 0; i < n_images; ++i) {
    const fs::path dir = root / ("class" + std::to_string(i % 4));
    fs::create_directories(dir);
    const bool portrait = i % 5 == 0;
    Image img = photo(portrait ? 500 : 375, portrait ? 375 : 500, 1000 + i);
    auto jpg = encode_jpeg(img, 90);
    bytes += jpg.size();
    write_file((dir / ("img" + std::to_string(i) + ".JPEG")).string(), jpg);
  }
  auto ds = std::make_shared<ImageFolder>(root.string());
  std::printf("%d JPEGs of 500x375 (mean %.0f KB) in %s\n", n_images, bytes / 1024.0 / n_images, root.c_str());

  struct Variant {
    std::string name;
    AugmentConfig cfg;
  };
  std::vector<Variant> variants = {{"decode+rrc224+flip", imagenet_train_config(224, false)},
                                   {"decode+rrc224+flip+autoaugment", imagenet_train_config(224, true)},
                                   {"decode+resize256+center224 (eval)", imagenet_eval_config(256, 224)}};
  std::vector<Row> rows;
  for (const auto& v : variants) {
    auto pipe = std::make_shared<Pipeline>(make_pipeline(v.cfg));
    for (int threads : {1, 2}) {
      LoaderConfig lc;
      lc.batch_size = 32;
      lc.threads = threads;
      lc.prefetch = 4;
      lc.seed = 1;
      DataLoader loader(ds, pipe, lc);
      loader.start_epoch(0);  // warm-up: page cache, allocators
      while (loader.next()) {
      }
      int64_t n = 0;
      auto t0 = Clock::now();
      for (int e = 1; e <= epochs; ++e) {
        loader.start_epoch(e);
        while (auto b = loader.next()) n += b->size();
      }
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      rows.push_back({v.name, threads, n / s, n / s / threads});
    }
  }
  // Bare full-size decoding in one thread, for reference.
  {
    std::vector<std::vector<uint8_t>> files;
    for (size_t i = 0; i < ds->size(); ++i) files.push_back(read_file(ds->path(i)));
    int64_t n = 0;
    auto t0 = Clock::now();
    for (int e = 0; e < epochs; ++e)
      for (const auto& f : files) {
        Image img = decode_image(f.data(), f.size(), 3);
        n += img.width > 0;
      }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    rows.push_back({"decode only (in memory, no loader)", 1, n / s, n / s});
  }
  fs::remove_all(root);

  const std::string machine = cpu_model();
  const unsigned cores = std::thread::hardware_concurrency();
  std::printf("\nmachine: %s, %u cores\n", machine.c_str(), cores);
  std::printf("%-38s %7s %12s %12s\n", "variant", "threads", "images/s", "per core");
  for (const auto& r : rows)
    std::printf("%-38s %7d %12.1f %12.1f\n", r.variant.c_str(), r.threads, r.images_per_s, r.per_core);

  nlohmann::json j;
  j["benchmark"] = "data_pipeline";
  j["machine"] = machine;
  j["cores"] = cores;
  j["images"] = n_images;
  j["image_size"] = "500x375 JPEG q90";
  j["batch_size"] = 32;
  j["epochs_timed"] = epochs;
  j["note"] = "DataLoader end to end: read file, TurboJPEG decode (DCT-scaled when the crop allows), crop/resize "
              "to 224, flip, optional AutoAugment (ImageNet policy), normalize into f32 NCHW batches";
  for (const auto& r : rows)
    j["rows"].push_back({{"variant", r.variant}, {"threads", r.threads}, {"images_per_s", r.images_per_s},
                         {"per_core", r.per_core}});
  fs::create_directories(fs::path(out).parent_path());
  std::ofstream(out) << j.dump(1) << "\n";
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
