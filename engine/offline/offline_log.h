// A batch-source CSV file used as an append log (docs/offline.md).
//
// Files: PATH (the CSV), PATH.lock (flock'd; holds a hint: the offset of a record boundary
// and the 16 bytes before it, so finding the end of the last complete record scans only what
// was added since), PATH.torn (torn tails removed by appends, kept for inspection).
//
// Appends take flock(LOCK_EX) on PATH.lock, so they never interleave. A record is complete
// once its line feed is written: a crash mid-append leaves an incomplete final record (a torn
// tail), which readers ignore and the next append moves to PATH.torn before writing. Bytes
// before the last record boundary never change, so readers take the lock only to find that
// boundary and then read without it.
// Thread-safety: every function may be called from any thread or process at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "larder/status.h"

namespace larder {

struct AppendOutcome {
  bool created = false;     // the file (or its header) was written by this append
  uint64_t torn_bytes = 0;  // an incomplete final record removed first (moved to .torn)
  uint64_t bytes_written = 0;
};

// Builds the records to append (each ending in '\n') in the column order of `header`, or
// fails (nothing is written then).
using RenderRecords = std::function<Result<std::string>(const std::vector<std::string>& header)>;

// Appends to the CSV at `path` under the exclusive lock (kBusy after `timeout_ms`). A missing
// file (or one without a complete header) is created with `new_header`, creating its directory
// if needed. Files this creates (PATH, PATH.lock, PATH.torn) get exactly `file_mode`, whatever
// the umask; existing files keep theirs. The data is fsync'd (and the directory, for a new
// file) before this returns.
Result<AppendOutcome> AppendRecords(const std::string& path,
                                    const std::vector<std::string>& new_header,
                                    const RenderRecords& render, uint32_t file_mode = 0640,
                                    int timeout_ms = 10000);

// A consistent read of a batch-source file: bytes [0, limit()) hold complete records only
// (plus, when the boundary could not be located cheaply, a final incomplete record that the
// CSV reader detects). Holds the shared lock only in that last case.
class OfflineSnapshot {
 public:
  // kDataSourceNotFound when the file does not exist; kIoError when it cannot be read.
  static Result<std::unique_ptr<OfflineSnapshot>> Open(const std::string& path,
                                                       int timeout_ms = 10000);
  ~OfflineSnapshot();
  OfflineSnapshot(const OfflineSnapshot&) = delete;
  OfflineSnapshot& operator=(const OfflineSnapshot&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  uint64_t limit() const { return limit_; }
  // Bytes of a torn tail already known to lie beyond limit().
  uint64_t torn_beyond_limit() const { return size_ - limit_; }

 private:
  OfflineSnapshot() = default;
  int fd_ = -1;
  int lock_fd_ = -1;  // >= 0 while the shared lock is held
  uint64_t size_ = 0;
  uint64_t limit_ = 0;
};

std::string OfflineLockPath(const std::string& path);
std::string OfflineTornPath(const std::string& path);

}  // namespace larder
