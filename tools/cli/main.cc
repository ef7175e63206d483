// The `larder` command: argument parsing (CLI11) and dispatch to tools/cli/cmd_*.cc.
// Exit codes: 0 success, 1 an error from the store, 2 a usage error. Nothing is thrown out of
// main.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "tools/cli/cmd_offline.h"
#include "tools/cli/cmd_serve.h"
#include "tools/cli/commands.h"

namespace larder::cli {
namespace {

constexpr int kUsageError = 2;

int Main(int argc, char** argv) {
  CLI::App app{"larder: an online feature store on one host, served from shared memory", "larder"};
  app.require_subcommand(1);
  std::string repo = ".";
  auto add_repo = [&repo](CLI::App* sub) {
    sub->add_option("--repo", repo, "feature repo directory, holding feature_store.yaml")
        ->capture_default_str();
  };

  bool force = false;
  CLI::App* apply = app.add_subcommand(
      "apply",
      "Create the online store, or bring its registry up to date with the repo (views keep "
      "their rows across compatible changes; see `larder plan`)");
  apply->add_flag("--force", force,
                  "also make changes that discard rows: a view dropped, or re-created empty "
                  "because a join key or a feature's dtype changed");
  add_repo(apply);

  CLI::App* plan = app.add_subcommand(
      "plan",
      "Show what `larder apply` would do (views created, kept, changed, dropped, and the rows "
      "each change would discard), writing nothing");
  add_repo(plan);

  std::string source;
  std::string file;
  std::string view;
  std::string to = "online";
  CLI::App* push = app.add_subcommand(
      "push",
      "Push rows (.csv, .json columns, .jsonl or .parquet) to every feature view of a push source");
  push->add_option("SOURCE", source, "push source name")->required();
  push->add_option("FILE", file, "rows to push: .csv, .json ({\"col\": [...]}), .jsonl or .parquet")
      ->required();
  push->add_option("--to", to, "where the rows go")
      ->check(CLI::IsMember({"online", "offline", "online_and_offline"}))
      ->capture_default_str();
  add_repo(push);

  CLI::App* write = app.add_subcommand(
      "write-to-online-store", "Write rows (.csv, .json, .jsonl or .parquet) to one feature view");
  write->add_option("VIEW", view, "feature view name")->required();
  write->add_option("FILE", file, "rows to write")->required();
  add_repo(write);

  GetOptions get_opts;
  CLI::App* get = app.add_subcommand(
      "get", "Read online features of entity rows; prints the feature server's JSON response");
  CLI::Option* features =
      get->add_option("--features", get_opts.features, "feature refs VIEW:FEATURE[,...]")
          ->delimiter(',');
  CLI::Option* service =
      get->add_option("--feature-service", get_opts.feature_service, "feature service name");
  features->excludes(service);
  service->excludes(features);
  get->add_option("--entity", get_opts.entities,
                  "one entity row KEY=VALUE[,KEY=VALUE...]; repeat for more rows (Bytes keys "
                  "take base64)")
      ->required()
      ->allow_extra_args(false);
  get->add_flag("--full-feature-names", get_opts.full_feature_names, "name features VIEW__FEATURE");
  get->add_option("--repeat", get_opts.repeat,
                  "also time N more lookups; prints median, p99 and min latency to stderr");
  add_repo(get);

  std::vector<std::string> delete_entities;
  CLI::App* del = app.add_subcommand(
      "delete",
      "Remove entities' rows from a feature view (repairs poisoned rows; takes the writer "
      "lock; prints what it removed)");
  del->add_option("--view", view, "feature view name")->required();
  del->add_option("--entity", delete_entities,
                  "one entity row KEY=VALUE[,KEY=VALUE...]; repeat for more rows")
      ->required()
      ->allow_extra_args(false);
  add_repo(del);

  bool json = false;
  CLI::App* inspect = app.add_subcommand("inspect", "Show the online store's figures");
  inspect->add_flag("--json", json, "print a JSON object");
  add_repo(inspect);

  bool repair = false;
  CLI::App* check = app.add_subcommand(
      "check",
      "Verify every invariant of the online store (exit 0 all hold, 1 a violation, 3 a writer "
      "died mid-batch and the store awaits repair)");
  check->add_flag("--repair", repair,
                  "first repair the store if a writer died mid-batch (needs write access)");
  add_repo(check);

  CLI::App* teardown =
      app.add_subcommand("teardown", "Remove the online store's segment and its side files");
  add_repo(teardown);

  std::string snapshot_file;
  CLI::App* snapshot = app.add_subcommand(
      "snapshot",
      "Write the online store's rows and registry, as of one write batch, to a file (writers "
      "wait while the rows are copied; readers never do)");
  snapshot
      ->add_option("OUT", snapshot_file, "the snapshot file (an older snapshot there is replaced)")
      ->required();
  add_repo(snapshot);

  CLI::App* restore = app.add_subcommand(
      "restore", "Create the online store from a snapshot (never replaces an existing store)");
  restore->add_option("IN", snapshot_file, "the snapshot file")->required();
  add_repo(restore);

  ServeOptions serve_opts;
  CLI::App* serve = AddServeCommand(app, &serve_opts);

  OfflineOptions offline_opts;
  OfflineCommands offline = AddOfflineCommands(app, &offline_opts);

  CLI::App* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
    if (get->parsed() && get_opts.features.empty() && get_opts.feature_service.empty()) {
      throw CLI::RequiredError("--features or --feature-service");
    }
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kUsageError;
  }

  get_opts.repo = repo;
  if (apply->parsed()) return RunApply(repo, force);
  if (plan->parsed()) return RunPlan(repo);
  if (push->parsed()) return RunPush(repo, source, file, to);
  if (write->parsed()) return RunWriteToOnlineStore(repo, view, file);
  if (get->parsed()) return RunGet(get_opts);
  if (del->parsed()) return RunDelete(repo, view, delete_entities);
  if (inspect->parsed()) return RunInspect(repo, json);
  if (check->parsed()) return RunCheck(repo, repair);
  if (teardown->parsed()) return RunTeardown(repo);
  if (snapshot->parsed()) return RunSnapshot(repo, snapshot_file);
  if (restore->parsed()) return RunRestore(repo, snapshot_file);
  if (version->parsed()) return RunVersion();
  if (int rc = RunOfflineCommand(offline, offline_opts); rc >= 0) return rc;
  if (serve->parsed()) return RunServe(serve_opts);
  return kUsageError;
}

}  // namespace
}  // namespace larder::cli

int main(int argc, char** argv) {
  try {
    return larder::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "larder: internal error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "larder: internal error\n";
  }
  return 1;
}
