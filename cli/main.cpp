// acnn: compile, inspect, run, train and evaluate .acnn models.
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "dsl/diagnostics.h"

int main(int argc, char** argv) {
  CLI::App app{"acnn: a graph compiler and runtime for convolutional networks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "acnn 0.1");
  std::map<CLI::App*, acnn::cli::Command> commands;
  auto add = [&](acnn::cli::Command (*reg)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    acnn::cli::Command run = reg(app);
    commands[app.get_subcommands({})[before]] = std::move(run);
  };
  add(acnn::cli::register_check);
  add(acnn::cli::register_dump);
  add(acnn::cli::register_run);
  add(acnn::cli::register_train);
  add(acnn::cli::register_eval);
  add(acnn::cli::register_bench);
  add(acnn::cli::register_teacher_logits);
  add(acnn::cli::register_ablate);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  for (auto& [cmd, run] : commands) {
    if (!cmd->parsed()) continue;
    try {
      return run();
    } catch (const acnn::FatalError&) {
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "acnn: error: " << e.what() << "\n";
      return 1;
    }
  }
  return 2;
}
