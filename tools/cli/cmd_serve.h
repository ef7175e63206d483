// larder serve: the HTTP feature server (tools/server/) as a subcommand.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace larder::cli {

struct ServeOptions {
  std::string repo = ".";
  std::string host = "127.0.0.1";
  int port = 6566;
  int threads = 0;
  int write_threads = 2;
  std::string max_body = "16MiB";
  int max_connections = 10000;
  uint64_t max_entities = 100000;
  uint64_t max_values = 2000000;
  std::string max_reply = "64MiB";
  std::string max_queued = "256MiB";
  std::vector<std::string> allow_origins;
  std::vector<std::string> allow_hosts;
  std::string auth_token_file;
  std::string auth = "all";
  bool no_auth = false;
  bool reuse_port = false;
  double idle_timeout_s = 60;
  double request_timeout_s = 30;
  double shutdown_timeout_s = 30;
  double stall_timeout_s = 5;
  int busy_poll_us = 0;
  bool strict = false;
};

// Adds `larder serve` and its options to `app`, bound to *options.
CLI::App* AddServeCommand(CLI::App& app, ServeOptions* options);
// Serves until SIGINT/SIGTERM; 0 after a graceful drain, 1 on an error.
int RunServe(const ServeOptions& options);

}  // namespace larder::cli
