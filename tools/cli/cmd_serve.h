// larder serve: the HTTP feature server (tools/server/) as a subcommand.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace larder::cli {

struct ServeOptions {
  std::string repo = ".";
  std::string host = "127.0.0.1";
  int port = 6566;
  int threads = 0;
  int write_threads = 2;
  std::string max_body = "16MiB";
  int max_connections = 10000;
  bool reuse_port = false;
  double idle_timeout_s = 60;
  double request_timeout_s = 30;
  double shutdown_timeout_s = 30;
  int busy_poll_us = 0;
  bool strict = false;
};

// Adds `larder serve` and its options to `app`, bound to *options.
CLI::App* AddServeCommand(CLI::App& app, ServeOptions* options);
// Serves until SIGINT/SIGTERM; 0 after a graceful drain, 1 on an error.
int RunServe(const ServeOptions& options);

}  // namespace larder::cli
