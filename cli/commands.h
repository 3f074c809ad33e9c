// The acnn command line: each subcommand registers its options on the CLI11
// app and returns the exit code of its run (0 ok, 1 user error, 2 usage).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "compiler/elaborate/model_file.h"

namespace acnn::cli {

// Options every command that reads a model file shares.
struct ModelOptions {
  std::string file;
  std::vector<std::string> include_dirs;
  int max_errors = 20;
  std::vector<std::string> model_args;  // --model-arg KEY=VALUE: `model with { KEY: VALUE }`
};

void add_model_options(CLI::App* cmd, ModelOptions& o, bool file_required = true);
// --passes (the pipeline's pass names listed in the help), --no-fuse and
// --remat-min-mib.
void add_pass_options(CLI::App* cmd, std::string& list, bool& no_fuse, double& remat_min_mib);
// --remat-min-mib alone (PipelineOptions::set_remat_min_mib takes the value).
void add_remat_option(CLI::App* cmd, double& remat_min_mib);
// Loads the model file and applies --model-arg; prints diagnostics to
// stderr. False on errors.
bool load(ModelFile& mf, const ModelOptions& o);
CompileOptions compile_options(const ModelOptions& o);

// "25,557,032"
std::string with_commas(int64_t n);
// "4.09 G", "118.0 M"
std::string human(double n);

using Command = std::function<int()>;
Command register_check(CLI::App& app);
Command register_dump(CLI::App& app);
Command register_run(CLI::App& app);
Command register_train(CLI::App& app);
Command register_eval(CLI::App& app);
Command register_bench(CLI::App& app);
Command register_teacher_logits(CLI::App& app);
Command register_ablate(CLI::App& app);

}  // namespace acnn::cli
