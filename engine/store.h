// The engine's store: one segment, attached read-only (a reader) or read-write (a process that
// may write). Everything the public API offers goes through here.
//
// Thread-safety: every method may be called from any number of threads at once. Reads never
// block and never wait on a writer. Writes serialize on the store's writer lock (a flock on
// PATH.lock, so across processes as well), one batch at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/rows/catalog.h"
#include "larder/frame.h"
#include "engine/segment/reader_slots.h"
#include "larder/repo_config.h"
#include "engine/segment/segment_file.h"
#include "larder/online.h"
#include "larder/repo_config.h"
#include "larder/status.h"
#include "larder/store_info.h"

namespace larder {

class ConvertedCells;  // engine/row_stager.h

struct WriterOptions {
  int lock_timeout_ms = 10000;  // how long a write waits for another writer's batch
  // How long a reader may hold one epoch inside one lookup before a writer that needs the
  // memory withdraws its hold (docs/design.md, "Withdrawn holds"). A write that runs out of
  // memory while readers hold some back waits up to about this long for it.
  int reader_grace_ms = 1000;
  // > 0: a push or write refuses (whole) a batch with a row whose event time lies more than
  // this far ahead of the clock (feature_store.yaml's max_future_skew).
  int64_t max_future_skew_seconds = 0;
};

class Store {
 public:
  // Attaches to the segment at `path`. Writable stores may push; readers map read-only.
  static Result<std::shared_ptr<Store>> Open(const std::string& path, bool writable,
                                             WriterOptions options = {},
                                             ReaderOptions read_options = {});

  // Creates the segment described by `config`, or brings an existing one up to date (see
  // engine/schema_plan.h). A change that would discard rows is refused, with nothing written,
  // unless `apply.force`.
  static Result<ApplyReport> Apply(const RepoConfig& config, const FileModes& modes = {},
                                   WriterOptions options = {}, ApplyOptions apply = {});
  // What Apply would do (`larder plan`): one line per change, in the future tense, with the
  // rows each discards. Reads the store (if any) as a reader; writes nothing.
  static Result<ApplyReport> Plan(const RepoConfig& config);
  // Removes the segment, its reader table and lock file, under the writer lock: a batch in
  // progress finishes first, and the segment is marked retired before it is unlinked, so that
  // every process still attached finds out (writers refuse it, lookups answer kStoreNotFound).
  static Status Teardown(const std::string& path);

  // Creates the store at target.online_store.path from the snapshot file `snapshot_path`
  // (engine/snapshot.cc): the snapshot's registry (with target's online_store settings) and
  // every row, as they were. The snapshot is checked whole (checksum, versions, every row
  // against its view) before anything is created. Errors: kInvalidArgument (a store already
  // exists at the path; the snapshot is of another project), kIncompatibleStore (not a
  // snapshot, or of another format or segment layout version), kCorruptStore (damaged),
  // kStoreFull (it does not fit memory_limit), kIoError.
  static Result<SnapshotInfo> Restore(const std::string& snapshot_path, const RepoConfig& target,
                                      const FileModes& modes = {});

  ~Store();

  // What a write does when the features (those of the view written) of every row are null.
  enum class AllNullRows : uint8_t {
    kSkip,   // when every row's are: none written, counted in rows_all_null (as Feast)
    kWrite,  // written as a row of nulls (materialization, as Feast's)
  };
  // Pushes rows to every online view reading `push_source` (validated whole first). With
  // `cells` (made for `frame`), the rows are staged from its converted columns (converting
  // there only what it lacks) rather than cell by cell.
  Result<PushResult> Push(const std::string& push_source, const Frame& frame,
                          ConvertedCells* cells = nullptr);
  // Writes rows to one view (Feast's write_to_online_store). With `cells` (made for `frame`),
  // the rows are staged from its columns (materialize of Parquet sources provides them).
  Result<PushResult> WriteToView(const std::string& view, const Frame& frame,
                                 AllNullRows all_null = AllNullRows::kSkip,
                                 ConvertedCells* cells = nullptr);
  // Removes the rows of `view` for the entity rows of `entities` (its join-key columns), in one
  // batch under the writer lock (engine/delete_rows.cc): an operator's repair of poisoned rows.
  // The index is rebuilt without them (one pass over it). Every key is validated before
  // anything is removed. Errors: kFeatureViewNotFound, kMissingJoinKey, kInvalidArgument (a
  // key value of the wrong type: row and column named), kBusy.
  struct DeletedRow {
    std::string entity;        // "driver_id=1001"
    TimestampMicros event_ts;  // of the removed row (0 if its bytes fail verification)
  };
  struct DeleteResult {
    std::vector<DeletedRow> removed;
    std::vector<std::string> not_found;  // entities the view held no row for
  };
  Result<DeleteResult> DeleteRows(const std::string& view, const Frame& entities);
  // Adds materialized intervals to the registry (engine/intervals.cc): each view's intervals
  // are merged with the new ones (overlapping or touching intervals coalesce). Errors:
  // kFeatureViewNotFound, kInvalidArgument (start > end).
  Status RecordIntervals(const std::vector<MaterializedInterval>& intervals);

  Result<OnlineResponse> GetOnlineFeatures(const OnlineRequest& request) const;
  // Same, into `*out`, reusing its buffers: a caller that keeps one response per thread makes
  // steady-state lookups without allocating.
  Status GetOnlineFeatures(const OnlineRequest& request, OnlineResponse* out) const;
  Status GetOnlineFeaturesColumnar(const OnlineRequest& request, ColumnarResponse* out) const;

  Result<StoreInfo> Inspect() const;
  // Checks every invariant of the segment, holding the writer lock (waiting up to
  // WriterOptions::lock_timeout_ms for a running batch), so the verdict is of a state between
  // batches. A store whose last writer died mid-batch is reported as such
  // (CheckReport::dead_writer_pid), not as violations: its published state is whole and the
  // next writer repairs the rest.
  Result<CheckReport> Check() const;
  // Takes the writer lock and, if a writer died mid-batch, repairs the store (the recovery
  // every writer runs first). True when a repair was made. Needs a writable store.
  Result<bool> Repair();

  // Writes every row and the registry, as of one write batch, to the snapshot file `out_path`
  // (layout/snapshot_format.h; replacing an older snapshot there atomically, never another
  // kind of file). Writers are held off (the writer lock) while the rows are copied into
  // memory, not while the file is written; readers never are. Only the segment's owner may.
  Result<SnapshotInfo> Snapshot(const std::string& out_path) const;

  // The registry as of now (a consistent snapshot).
  Result<std::shared_ptr<const Catalog>> CurrentCatalog() const;

  const std::string& path() const;
  bool writable() const;
  // True once the segment this store maps is no longer the live one at path(): torn down
  // (retired mark), or removed or replaced (another file at the path). Attach again.
  bool Detached() const;
  // The cheap half of Detached(): the retired mark teardown sets (one load, no system call).
  bool Retired() const;

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace larder
