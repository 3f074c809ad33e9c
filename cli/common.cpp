#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "compiler/passes/pipeline.h"

namespace acnn::cli {

void add_pass_options(CLI::App* cmd, std::string& list, bool& no_fuse, double& remat_min_mib) {
  std::string names;
  for (const std::string& n : passes::pass_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--passes", list, "graph passes to run (comma list of " + names + "; `none`; default all)");
  cmd->add_flag("--no-fuse", no_fuse, "do not fuse kernels (the fusion pass is skipped)");
  add_remat_option(cmd, remat_min_mib);
}

void add_remat_option(CLI::App* cmd, double& remat_min_mib) {
  cmd->add_option("--remat-min-mib", remat_min_mib,
                  "recompute (remat) only activations of at least this many MiB (default " +
                      std::to_string(passes::kRematMinBytes >> 20) + " on the CPU, " +
                      std::to_string(passes::kRematMinBytesCuda >> 20) +
                      " on the GPU and for --stage device; larger: more memory, fewer recomputations)")
      ->check(CLI::Range(0.0, 1048576.0));
}

void add_model_options(CLI::App* cmd, ModelOptions& o, bool file_required) {
  auto* f = cmd->add_option("file", o.file, "the .acnn model file");
  if (file_required) f->required();
  cmd->add_option("-I,--include", o.include_dirs, "extra import search directory (repeatable)");
  cmd->add_option("--max-errors", o.max_errors, "stop after this many errors")->default_val(20);
  cmd->add_option("--model-arg", o.model_args,
                  "override an argument of the file's network: --model-arg size=64 (repeatable; dotted keys reach "
                  "into records, t.resnet_d=true; the value is an .acnn expression; also applied to a distillation "
                  "teacher model file)");
}

CompileOptions compile_options(const ModelOptions& o) {
  CompileOptions c;
  c.include_dirs = o.include_dirs;
  c.max_errors = o.max_errors;
  return c;
}

bool load(ModelFile& mf, const ModelOptions& o) {
  mf.diags().set_stream(&std::cerr);
  return mf.load(o.file) && mf.apply_model_args(o.model_args);
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string human(double n) {
  const char* units[] = {"", " K", " M", " G", " T"};
  int u = 0;
  while (n >= 1000 && u < 4) n /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f%s" : "%.0f%s", n, units[u]);
  return buf;
}

}  // namespace acnn::cli
