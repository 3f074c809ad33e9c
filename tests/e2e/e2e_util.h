// Helpers of the end-to-end tests, which run the `acnn` binary as a user
// does: a command runner that captures exit status and output, a synthetic
// ImageNet-style JPEG tree (class-dependent colors and stripes, so that a
// model can tell the classes apart), and readers for metrics.jsonl.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/data/codec.h"
#include "runtime/data/image.h"
#include "tests/paths.h"

namespace acnn::e2e {

struct CommandResult {
  int status = -1;     // exit code (-1: did not exit normally)
  std::string output;  // stdout and stderr together
};

// Runs `args` (already shell-quoted where needed) with the acnn binary.
inline CommandResult run_acnn(const std::string& args) {
  std::string cmd = acnn::testing::acnn_binary() + " " + args + " 2>&1";
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

// root/<split>/class<k>/img<i>.JPEG for k < classes, i < per_class, h x w RGB.
inline void write_jpeg_tree(const std::filesystem::path& root, const std::vector<std::string>& splits, int classes,
                            int per_class, int h, int w) {
  for (const std::string& split : splits)
    for (int k = 0; k < classes; ++k) {
      std::filesystem::path dir = root / split / ("class" + std::to_string(k));
      std::filesystem::create_directories(dir);
      for (int i = 0; i < per_class; ++i) {
        data::Image img(h, w, 3);
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) {
              int stripes = ((x + y * k) / (4 + k)) % 2 ? 60 : 0;
              int v = (c == k % 3 ? 150 : 40) + stripes + (i * 13 + x * 3 + y * 5 + c * 7) % 23;
              img.at(y, x, c) = static_cast<uint8_t>(std::min(v, 255));
            }
        data::write_file((dir / ("img" + std::to_string(i) + ".JPEG")).string(), data::encode_jpeg(img, 90));
      }
    }
}

// The "loss" of each step record of a metrics.jsonl file, in order.
inline std::vector<double> step_losses(const std::string& path) {
  std::vector<double> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"type\":\"step\"") == std::string::npos) continue;
    size_t at = line.find("\"loss\":");
    if (at != std::string::npos) out.push_back(std::stod(line.substr(at + 7)));
  }
  return out;
}

}  // namespace acnn::e2e
