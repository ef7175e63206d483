// larder snapshot OUT (a copy of the online store as of one write batch) and larder restore IN
// (a new online store made from one).
#include <cstdio>
#include <iostream>

#include "larder/feature_store.h"
#include "larder/timestamp.h"
#include "tools/cli/commands.h"

namespace larder::cli {

namespace {

std::string Millis(int64_t micros) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f ms", static_cast<double>(micros) / 1000.0);
  return buf;
}

}  // namespace

int RunSnapshot(const std::string& repo, const std::string& out) {
  auto fs = FeatureStore::Open(repo);
  if (!fs.ok()) return Fail("snapshot", fs.status());
  auto info = (*fs)->Snapshot(out);
  if (!info.ok()) return Fail("snapshot", info.status());
  std::cout << "wrote " << info->file << ": " << info->rows << " rows of project '" << info->project
            << "' as of write batch " << info->visible_batch << " (" << info->file_bytes
            << " bytes; writers waited " << Millis(info->writers_held_micros)
            << ", readers never)\n";
  return 0;
}

int RunRestore(const std::string& repo, const std::string& in) {
  auto fs = FeatureStore::Open(repo);
  if (!fs.ok()) return Fail("restore", fs.status());
  auto info = (*fs)->Restore(in);
  if (!info.ok()) return Fail("restore", info.status());
  std::cout << "restored " << info->store << " from " << info->file << ": " << info->rows
            << " rows of project '" << info->project << "' as of write batch "
            << info->visible_batch << " (taken " << FormatTimestamp(info->taken_micros)
            << ")\nits registry is the snapshot's: `larder plan` shows what `larder apply` "
               "would change to match this repo\n";
  return 0;
}

}  // namespace larder::cli
