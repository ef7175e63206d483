// `larder check` for the offline store: every batch-source file of a repo is read whole and
// its header, records and values verified; a torn final record is reported (not a violation:
// readers ignore it and the next append removes it). A Parquet source (a `.parquet` file or a
// directory of part files) has every part file's column types checked against their dtypes
// and every row group decoded and its values verified; `records` counts its rows.
// Thread-safety: pure function (reads files under their shared lock when needed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "larder/repo_config.h"
#include "larder/status.h"

namespace larder {

struct OfflineFileCheck {
  std::string source;  // the file source's name
  std::string path;
  bool exists = false;
  uint64_t records = 0;     // complete records after the header
  uint64_t torn_bytes = 0;  // an incomplete final record (a crash mid-append)
  uint64_t torn_line = 0;
  std::vector<std::string> violations;  // at most kMaxViolations per file
};

inline constexpr size_t kMaxOfflineViolations = 10;

// One entry per `type: file` source of `repo`. Errors only when the repo is inconsistent.
Result<std::vector<OfflineFileCheck>> CheckBatchSources(const RepoConfig& repo);

}  // namespace larder
