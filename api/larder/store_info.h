// Reports of apply, inspect and check.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace larder {

// A reader thread's slot in PATH.readers.
struct ReaderInfo {
  uint32_t slot = 0;
  uint64_t pid = 0;
  uint64_t tid = 0;
  uint64_t epoch = 0;
  uint64_t lookups = 0;
  bool alive = false;
};

struct ApplyReport {
  bool created = false;               // a new segment was created
  bool changed = false;               // the registry changed
  std::vector<std::string> messages;  // one line per action, for the CLI
};

struct ViewStats {
  std::string name;
  uint32_t id = 0;
  uint64_t rows = 0;
  uint64_t row_bytes = 0;  // bytes of row blocks
  // Rows that start inside the lines their index bucket's run hint names: a single lookup of
  // one of them loads its row together with the bucket, in one memory round trip instead of
  // two (docs/design.md, "Run hints"). Rows written by a bulk load into fresh space are; rows
  // replaced one at a time since mostly are not.
  uint64_t rows_in_runs = 0;
  int64_t ttl_seconds = 0;
  std::string source;
};

struct StoreInfo {
  std::string path;
  std::string project;
  uint64_t file_size = 0;        // memory_limit
  uint64_t arena_used = 0;       // bytes below arena_top (blocks in use, free and in limbo)
  uint64_t free_list_bytes = 0;  // reusable bytes on free lists
  uint64_t limbo_bytes = 0;      // retired bytes awaiting readers
  uint64_t index_buckets = 0;
  uint64_t index_capacity = 0;   // entries before the index grows
  uint64_t index_entries = 0;
  uint64_t index_bytes = 0;
  uint64_t index_growths = 0;
  uint64_t registry_generation = 0;
  uint64_t global_epoch = 0;
  uint64_t visible_batch = 0;  // the last write batch new read requests see whole
  uint64_t write_batches = 0;
  uint64_t rows_written = 0;
  uint64_t rows_skipped_older = 0;
  uint64_t recoveries = 0;
  uint64_t last_recovery_micros = 0;
  uint64_t writer_pid = 0;       // non-zero: a batch is in progress (or its writer died)
  std::vector<ViewStats> views;
  std::vector<ReaderInfo> readers;
};

struct CheckReport {
  std::vector<std::string> violations;  // empty = every invariant holds
  uint64_t blocks = 0;
  uint64_t rows = 0;
  bool ok() const { return violations.empty(); }
};

}  // namespace larder
