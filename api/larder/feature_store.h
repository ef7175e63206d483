// Larder's C++ API: a feature store on one host, served from shared memory.
//
//   auto store = larder::FeatureStore::Open("examples/driver_stats");   // reads the YAML
//   store.value()->Apply();                                            // creates the segment
//   store.value()->Push("driver_stats_push", frame);                   // fans out to views
//   auto reader = larder::OnlineReader::Attach("/dev/shm/larder-driver_stats");
//   auto resp = reader.value()->GetOnlineFeatures(request);            // ~ a microsecond
//
// No exception crosses this API: fallible calls return Status or Result<T>.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "larder/frame.h"
#include "larder/mutex.h"
#include "larder/online.h"
#include "larder/repo_config.h"
#include "larder/status.h"
#include "larder/store_info.h"

namespace larder {

class Store;

// What one materialization run did, per feature view.
struct MaterializeResult {
  struct View {
    std::string name;
    TimestampMicros start = 0;  // the interval materialized, [start, end]
    TimestampMicros end = 0;
    uint64_t rows_read = 0;     // batch-source rows in the interval
    uint64_t rows_written = 0;  // rows written online (latest per entity, ordered write rule)
    uint64_t rows_skipped = 0;  // older than the stored row of their entity
    // Parquet sources: row groups not decoded because their timestamp statistics lie wholly
    // outside the intervals of the views reading the source.
    uint64_t row_groups_skipped = 0;
  };
  std::vector<View> views;
};

// Progress of a materialization, reported about every 64k rows read (see docs/offline.md).
struct MaterializeProgress {
  uint64_t rows_scanned = 0;  // batch-source rows read so far
  uint64_t bytes_done = 0;    // of bytes_total, the batch-source bytes of this run
  uint64_t bytes_total = 0;
  double seconds = 0;  // since the run started
};
using MaterializeProgressFn = std::function<void(const MaterializeProgress&)>;

// Feast's get_historical_features: for each entity row (its join keys and `event_timestamp`)
// the feature values as of that time (a point-in-time join against the batch sources).
struct HistoricalRequest {
  std::vector<std::string> features;  // "view:feature" refs; or
  std::string feature_service;        // a feature service name (exactly one of the two)
  Frame entity_df;                    // join-key columns + event_timestamp (+ any others, kept)
  bool full_feature_names = false;
};

// A feature repo opened for writing and reading. Owns its YAML config; attaches to the segment
// at online_store.path on first use (after Apply created it).
// Thread-safety: all methods may be called concurrently. Writes (Push, WriteToOnlineStore,
// Apply) serialize on the store's writer lock, which other processes share; reads never wait.
class FeatureStore {
 public:
  // Parses <repo_dir>/feature_store.yaml. Errors: kConfigError naming file, line and column.
  static Result<std::unique_ptr<FeatureStore>> Open(const std::string& repo_dir);
  ~FeatureStore();

  // Creates the segment, or updates its registry to match the repo (see ApplyReport). Views
  // keep their rows across compatible changes (features added or removed, ttl, description);
  // a change that would discard rows (a view dropped, a join key or feature dtype changed) is
  // refused with kInvalidArgument, writing nothing, unless `options.force`.
  Result<ApplyReport> Apply(ApplyOptions options = {});
  // What Apply would do, writing nothing (`larder plan`): one line per change, with the rows
  // each would discard (ApplyReport::rows_discarded).
  Result<ApplyReport> Plan() const;
  // Removes the segment and its side files. kStoreNotFound if there is none.
  Status Teardown();

  // Pushes `df` to every feature view reading `push_source`. The whole request is validated
  // before anything is written. Errors: kPushSourceNotFound, kInvalidArgument (missing column,
  // bad value: message names row and column), kStoreFull, kBusy (writer lock timeout).
  // kOffline appends the rows to the push source's batch source (docs/offline.md): to its CSV
  // file, or as one new part file of a Parquet directory source; with kOnlineAndOffline the
  // request is validated for both stores first, then appended offline, then written online.
  // Offline errors: kDataSourceError (the file's header or first part's schema lacks columns;
  // a value its Parquet column cannot hold; a single-file Parquet source), kIoError.
  Result<PushResult> Push(const std::string& push_source, const Frame& df,
                          PushMode to = PushMode::kOnline);
  // Writes `df` to one feature view. Errors as Push, and kFeatureViewNotFound.
  Result<PushResult> WriteToOnlineStore(const std::string& feature_view, const Frame& df);

  // Feast's get_online_features. Errors: kFeatureViewNotFound, kFeatureNotFound,
  // kFeatureServiceNotFound, kMissingJoinKey, kInvalidArgument (bad reference, entity value of
  // the wrong type, ambiguous short names).
  Result<OnlineResponse> GetOnlineFeatures(const OnlineRequest& request);

  // Same, as one typed array per feature (see ColumnarResponse).
  Status GetOnlineFeaturesColumnar(const OnlineRequest& request, ColumnarResponse* out);

  // Feast's materialize: for each view (all with a batch source when `views` is empty), the
  // rows of its batch source with start <= ts <= end, the latest per entity, written through
  // the ordered write path; records the interval. Errors: kInvalidArgument (start > end, an
  // offline view), kFeatureViewNotFound, kDataSourceNotFound (no file), kDataSourceError (a
  // malformed file: file, line and column named), kIoError.
  Result<MaterializeResult> Materialize(TimestampMicros start, TimestampMicros end,
                                        const std::vector<std::string>& views = {},
                                        const MaterializeProgressFn& progress = nullptr);
  // Feast's materialize(disable_event_timestamp=True): every row of each view's batch source
  // up to now (1970-01-01 <= ts <= now), the latest per entity, written with now as its event
  // timestamp instead of its own; records the interval. Errors as Materialize.
  Result<MaterializeResult> MaterializeAsOfNow(const std::vector<std::string>& views = {},
                                               const MaterializeProgressFn& progress = nullptr);
  // From the end of each view's last materialized interval (or now - ttl; a year when ttl is
  // 0) to `end`. kInvalidArgument when a view is already materialized past `end`.
  Result<MaterializeResult> MaterializeIncremental(TimestampMicros end,
                                                   const std::vector<std::string>& views = {},
                                                   const MaterializeProgressFn& progress = nullptr);

  // Point-in-time join (reads the batch sources; needs no online store). The result holds the
  // entity_df's columns, then one column per feature (view__feature with full_feature_names);
  // values as cells (see ValueToCell in docs/offline.md), null where no row qualifies.
  // Errors: as GetOnlineFeatures, kInvalidArgument (no event_timestamp column, bad
  // timestamps), kDataSourceNotFound, kDataSourceError.
  Result<Frame> GetHistoricalFeatures(const HistoricalRequest& request);

  // Writes a snapshot of the online store (every row and the registry as of one write batch)
  // to `out_file`, replacing an older snapshot there atomically (never another kind of file).
  // Writers wait while the rows are copied into memory (SnapshotInfo::writers_held_micros);
  // readers never do. Needs the store's owner. Errors: kStoreNotFound, kInvalidArgument (a
  // file that is not a snapshot at `out_file`), kBusy (a write batch did not end in time),
  // kCorruptStore (a row fails verification: nothing is written), kIoError.
  Result<SnapshotInfo> Snapshot(const std::string& out_file);
  // Creates the online store at this repo's online_store.path from a snapshot of the same
  // project: the snapshot's registry and rows exactly (then `Apply` brings the registry up to
  // this repo's definitions). Never replaces an existing store (kInvalidArgument); a damaged
  // snapshot (kCorruptStore) or one of another format or layout version (kIncompatibleStore)
  // is refused before anything is created.
  Result<SnapshotInfo> Restore(const std::string& snapshot_file);

  Result<StoreInfo> Inspect();
  Result<CheckReport> Check();
  // Repairs the online store if a writer died mid-batch (what the next writer would do first).
  // True when a repair was made.
  Result<bool> Repair();

  const RepoConfig& config() const { return config_; }

 private:
  explicit FeatureStore(RepoConfig config) : config_(std::move(config)) {}
  Result<std::shared_ptr<Store>> Attached();

  RepoConfig config_;
  Mutex mu_;
  std::shared_ptr<Store> store_ LARDER_GUARDED_BY(mu_);
};

// A read-only attachment to a segment: all a model server needs is the segment's path.
// The data is mapped read-only; the process only writes its own slot in PATH.readers.
// Thread-safety: share one per process; each thread that reads takes a reader slot of its own
// on first use (1024 per store) and returns it when the thread exits.
class OnlineReader {
 public:
  // Errors: kStoreNotFound, kIncompatibleStore (foreign file, other version), kCorruptStore.
  static Result<std::unique_ptr<OnlineReader>> Attach(const std::string& segment_path,
                                                      ReaderOptions options = {});
  // The same, for a repo's online store: its path, trusting its online_store.owner.
  static Result<std::unique_ptr<OnlineReader>> AttachTo(const RepoConfig& config,
                                                        ReaderOptions options = {});
  ~OnlineReader();

  Result<OnlineResponse> GetOnlineFeatures(const OnlineRequest& request) const;
  // Same, into `*out`, reusing its buffers (no allocation in steady state for fixed-width
  // features): keep one response per thread on a hot path.
  Status GetOnlineFeatures(const OnlineRequest& request, OnlineResponse* out) const;
  // Same, as one typed array per feature (see ColumnarResponse): for large batches.
  Status GetOnlineFeaturesColumnar(const OnlineRequest& request, ColumnarResponse* out) const;
  Result<StoreInfo> Inspect() const;
  Result<CheckReport> Check() const;
  // The registry stored in the segment.
  Result<RepoConfig> Registry() const;
  // True once the segment this reader maps is no longer the store's live one (torn down, or
  // removed or replaced at its path): its lookups answer kStoreNotFound; attach again to
  // read the segment now at the path.
  bool Detached() const;

 private:
  explicit OnlineReader(std::shared_ptr<Store> store) : store_(std::move(store)) {}
  std::shared_ptr<Store> store_;
};

}  // namespace larder
