// The snapshot file (layout/snapshot_format.h): building its bytes, checking them, and writing
// and reading the file. Nothing here knows the store: the rows and registry are bytes, and
// Store::Snapshot / Store::Restore (engine/snapshot.cc) decide what they mean.
// Thread-safety: SnapshotBuilder is single-threaded; the functions are pure or touch only the
// file they are given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "larder/status.h"
#include "layout/snapshot_format.h"

namespace larder {

// Appends row records to an in-memory snapshot; Finish() fills the header and the checksum.
class SnapshotBuilder {
 public:
  SnapshotBuilder(uint64_t visible_batch, int64_t taken_micros, std::string_view registry);
  void AddRow(uint32_t view_id, std::string_view key, std::string_view payload);
  // Makes room for `bytes` more without reallocating.
  void Reserve(uint64_t bytes) { bytes_.reserve(bytes_.size() + bytes); }
  uint64_t rows() const { return rows_; }
  // The file's bytes. The builder is spent.
  std::string Finish() &&;

 private:
  std::string bytes_;
  size_t rows_begin_ = 0;
  uint64_t rows_ = 0;
};

struct SnapshotRowRef {
  uint32_t view_id = 0;
  std::string_view key;
  std::string_view payload;  // 8-byte aligned within the parsed buffer
};

// A snapshot's sections, pointing into the buffer it was parsed from.
struct ParsedSnapshot {
  layout::SnapshotHeader header{};
  std::string_view registry;
  std::vector<SnapshotRowRef> rows;
};

// Checks a snapshot's structure: magic, format and segment layout versions and ABI, every
// length inside the file, the padding, and the checksum. Errors name `file_name`:
// kIncompatibleStore (not a snapshot, or written by another format or layout version),
// kCorruptStore (truncated, damaged). It does not decode the registry or the rows.
// `bytes` must be 8-byte aligned (a std::string's buffer is).
Result<ParsedSnapshot> ParseSnapshot(std::string_view bytes, const std::string& file_name);

// Writes `bytes` to `path` so that `path` holds either its old content or all of `bytes`:
// PATH.tmp is created (never through a symbolic link, mode 0600), written, synced and renamed
// over `path`, and the directory synced.
Status WriteSnapshotFile(const std::string& path, std::string_view bytes);

// Reads the whole snapshot file at `path` (a regular file, never through a symbolic link) of
// at most `max_bytes`; a larger one is refused with kStoreFull naming both sizes.
Result<std::string> ReadSnapshotFile(const std::string& path, uint64_t max_bytes);

}  // namespace larder
