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
  bool alive = false;            // uncertain (its /proc is not ours to read) counts as alive
  bool withdrawn = false;        // a writer withdrew its hold: stopped or stuck inside a lookup
  uint64_t held_back_bytes = 0;  // retired bytes its epoch keeps from reuse (0 outside a lookup)
};

struct ApplyReport {
  bool created = false;               // a new segment was created
  bool changed = false;               // the registry changed (a plan: would change)
  uint64_t rows_discarded = 0;        // rows of re-created and dropped views (a plan: would be)
  std::vector<std::string> messages;  // one line per action, for the CLI
};

struct ApplyOptions {
  // Apply changes that discard rows (a view dropped, or re-created because a join key or a
  // feature's dtype changed). Without it such an apply is refused and writes nothing.
  bool force = false;
};

// A snapshot written (FeatureStore::Snapshot, `larder snapshot`) or restored
// (FeatureStore::Restore, `larder restore`).
struct SnapshotInfo {
  std::string file;   // the snapshot file
  std::string store;  // the segment it was taken from or restored to
  std::string project;
  uint64_t rows = 0;
  uint64_t file_bytes = 0;
  uint64_t visible_batch = 0;  // the write batch it is of: every batch up to it, none after
  int64_t taken_micros = 0;    // when the copy was made (Unix microseconds)
  // Snapshot: how long writers were held off while the rows were copied (readers never are).
  int64_t writers_held_micros = 0;
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
  uint64_t index_words = 0;     // entries the table has room for (buckets x words per bucket)
  uint64_t index_capacity = 0;  // entries before the index grows
  uint64_t index_entries = 0;
  // Entries whose row a writer that died mid-batch had written as the first of its key; recovery
  // withdrew them (no read sees them; the next write of the key replaces them).
  uint64_t index_withdrawn_rows = 0;
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
  uint64_t writer_pid = 0;  // non-zero: a batch is in progress (or its writer died)
  // Holds withdrawn from readers stuck in one lookup for the writer's grace period.
  uint64_t stuck_reader_reports = 0;
  // Lookups this process read again because its hold was withdrawn (or its slot lost) during
  // them.
  uint64_t lookups_retried = 0;
  std::vector<ViewStats> views;
  std::vector<ReaderInfo> readers;
};

// Where the arena's bytes are, by what holds each block (`larder check` accounts for every
// block between arena_begin and arena_top; a block nothing holds is a leak and a violation).
struct ArenaAccount {
  uint64_t arena = 0;     // arena_top - arena_begin: the sum of every field below
  uint64_t rows = 0;      // row blocks the index points at
  uint64_t index = 0;     // the published index table
  uint64_t registry = 0;  // the published registry
  uint64_t free = 0;      // on the free lists
  uint64_t limbo = 0;     // retired, waiting for readers (limbo lists)
  uint64_t pad = 0;       // alignment fillers before index tables
  uint64_t leaked = 0;    // held by nothing (0 in a sound store)
};

struct CheckReport {
  std::vector<std::string> violations;  // empty = every invariant holds
  uint64_t blocks = 0;
  uint64_t rows = 0;
  // Filled when no write batch was in progress (the lists are then complete).
  bool accounted = false;
  ArenaAccount bytes;
  // Not 0: the writer of this pid died mid-batch. Published state (rows, index, registry) was
  // checked and is whole; the allocator lists it left are not trusted until the next writer
  // (or `larder check --repair`) rebuilds them, so they were not checked.
  uint64_t dead_writer_pid = 0;
  bool ok() const { return violations.empty(); }
};

}  // namespace larder
