// The `larder` command's subcommands. main.cc parses the arguments (CLI11) and calls one Run*
// function, whose return value is the process's exit code: 0 success, 1 an error (printed to
// stderr as "larder <cmd>: <status>"). Usage errors (exit 2) are main.cc's.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "larder/frame.h"
#include "larder/repo_config.h"
#include "larder/status.h"

namespace larder::cli {

// Prints "larder <cmd>: <status>" to stderr and returns 1.
int Fail(std::string_view cmd, const Status& status);

// Rows from a file: .csv, .json (columns), .jsonl or .parquet (by its extension).
Result<Frame> ReadInputFrame(const std::string& path);

int RunApply(const std::string& repo, bool force);
// Prints what apply would do; writes nothing.
int RunPlan(const std::string& repo);
int RunPush(const std::string& repo, const std::string& source, const std::string& file,
            const std::string& to);
int RunWriteToOnlineStore(const std::string& repo, const std::string& view,
                          const std::string& file);

struct GetOptions {
  std::string repo = ".";
  std::vector<std::string> features;  // "view:feature" refs (comma lists already split)
  std::string feature_service;
  std::vector<std::string> entities;  // one "k1=v1,k2=v2" entity row each
  bool full_feature_names = false;
  uint64_t repeat = 0;  // > 0: also time this many lookups (stats to stderr)
};
int RunGet(const GetOptions& options);

// The entity frame of `--entity k1=v1,k2=v2` rows (every row giving the same keys), values
// typed by the join keys' types (String and Bytes keys as text).
Result<Frame> EntityFrame(const std::vector<std::string>& rows,
                          const std::map<std::string, ScalarType>& key_types);
// Join key name -> its type, from every view of `registry`.
std::map<std::string, ScalarType> JoinKeyTypes(const RepoConfig& registry);

// larder delete --view V --entity K=V ...: removes those entities' rows from the view (an
// operator's repair; takes the writer lock) and prints each row removed.
int RunDelete(const std::string& repo, const std::string& view,
              const std::vector<std::string>& entities);

int RunInspect(const std::string& repo, bool json);
// Exit codes: 0 every invariant holds; 1 a violation (or an error); 3 a writer died mid-batch
// and the store awaits the repair the next writer (or --repair) makes.
constexpr int kCheckAwaitsRepair = 3;
int RunCheck(const std::string& repo, bool repair);
int RunTeardown(const std::string& repo);
// larder snapshot OUT: writes the online store's rows and registry, as of one write batch, to
// OUT. larder restore IN: creates the online store from the snapshot IN.
int RunSnapshot(const std::string& repo, const std::string& out);
int RunRestore(const std::string& repo, const std::string& in);

int RunVersion();

}  // namespace larder::cli
