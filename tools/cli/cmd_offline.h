// The offline store's commands: materialize, materialize-incremental, get-historical-features,
// and the batch-source part of `larder check`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace larder::cli {

struct OfflineOptions {
  std::string repo = ".";
  std::string start;               // materialize START
  std::string end;                 // END of both materialize commands
  std::vector<std::string> views;  // --views a,b
  // get-historical-features
  std::string entity_df;
  std::vector<std::string> features;
  std::string feature_service;
  bool full_feature_names = false;
  std::string output;  // "" = stdout
};

struct OfflineCommands {
  CLI::App* materialize = nullptr;
  CLI::App* incremental = nullptr;
  CLI::App* historical = nullptr;
};

// Adds the three subcommands to `app`, bound to *options.
OfflineCommands AddOfflineCommands(CLI::App& app, OfflineOptions* options);
// Runs whichever of them was parsed and returns its exit code; -1 when none was.
int RunOfflineCommand(const OfflineCommands& commands, const OfflineOptions& options);

// `larder check` for the repo's batch-source files: prints a "warning:" line per torn tail and
// a "violation:" line per problem (nothing when every file is clean). Returns the number of
// violations.
int CheckOfflineStore(const std::string& repo);

}  // namespace larder::cli
