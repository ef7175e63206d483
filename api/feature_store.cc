#include "larder/feature_store.h"

#include <chrono>

#include "engine/offline/historical.h"
#include "engine/offline/materialize.h"
#include "engine/offline/offline_push.h"
#include "engine/store.h"
#include "larder/timestamp.h"

namespace larder {

Result<std::unique_ptr<FeatureStore>> FeatureStore::Open(const std::string& repo_dir) {
  LARDER_ASSIGN_OR_RETURN(RepoConfig config, LoadRepoConfig(repo_dir));
  return std::unique_ptr<FeatureStore>(new FeatureStore(std::move(config)));
}

FeatureStore::~FeatureStore() = default;

Result<std::shared_ptr<Store>> FeatureStore::Attached() {
  MutexLock lock(mu_);
  // A segment torn down since (by another process, say `larder teardown` then `larder
  // apply`): follow the store to the segment now at its path.
  if (store_ && store_->Retired()) store_.reset();
  if (!store_) {
    WriterOptions options;
    options.reader_grace_ms = static_cast<int>(config_.online_store.reader_grace_ms);
    options.max_future_skew_seconds = config_.max_future_skew_seconds;
    LARDER_ASSIGN_OR_RETURN(store_,
                            Store::Open(config_.online_store.path, /*writable=*/true, options));
  }
  return store_;
}

Result<ApplyReport> FeatureStore::Plan() const { return Store::Plan(config_); }

Result<ApplyReport> FeatureStore::Apply(ApplyOptions options) {
  LARDER_ASSIGN_OR_RETURN(ApplyReport report, Store::Apply(config_, {}, {}, options));
  MutexLock lock(mu_);
  if (report.created) store_.reset();  // a new segment: re-attach on next use
  return report;
}

Status FeatureStore::Teardown() {
  {
    MutexLock lock(mu_);
    store_.reset();
  }
  return Store::Teardown(config_.online_store.path);
}

Result<PushResult> FeatureStore::Push(const std::string& push_source, const Frame& df,
                                      PushMode to) {
  if (to == PushMode::kOffline) {
    LARDER_ASSIGN_OR_RETURN(auto repo, Catalog::Build(config_, 0));
    return PushToOffline(*repo, push_source, df);
  }
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  if (to == PushMode::kOnline) return store->Push(push_source, df);
  LARDER_ASSIGN_OR_RETURN(auto repo, Catalog::Build(config_, 0));
  return PushOnlineAndOffline(*store, *repo, push_source, df);
}

Result<PushResult> FeatureStore::WriteToOnlineStore(const std::string& feature_view,
                                                    const Frame& df) {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return store->WriteToView(feature_view, df);
}

Result<OnlineResponse> FeatureStore::GetOnlineFeatures(const OnlineRequest& request) {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return store->GetOnlineFeatures(request);
}

Status FeatureStore::GetOnlineFeaturesColumnar(const OnlineRequest& request,
                                               ColumnarResponse* out) {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return store->GetOnlineFeaturesColumnar(request, out);
}

Result<MaterializeResult> FeatureStore::Materialize(TimestampMicros start, TimestampMicros end,
                                                    const std::vector<std::string>& views,
                                                    const MaterializeProgressFn& progress) {
  if (start > end) {
    return InvalidArgument("start " + FormatTimestamp(start) + " is after end " +
                           FormatTimestamp(end));
  }
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return MaterializeRepo(*store, config_, start, end, views, progress);
}

Result<MaterializeResult> FeatureStore::MaterializeAsOfNow(const std::vector<std::string>& views,
                                                           const MaterializeProgressFn& progress) {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  const TimestampMicros now = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  return MaterializeRepo(*store, config_, TimestampMicros{0}, now, views, progress,
                         /*event_time=*/now);
}

Result<MaterializeResult> FeatureStore::MaterializeIncremental(
    TimestampMicros end, const std::vector<std::string>& views,
    const MaterializeProgressFn& progress) {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return MaterializeRepo(*store, config_, std::nullopt, end, views, progress);
}

Result<Frame> FeatureStore::GetHistoricalFeatures(const HistoricalRequest& request) {
  LARDER_ASSIGN_OR_RETURN(auto repo, Catalog::Build(config_, 0));
  return larder::GetHistoricalFeatures(*repo, request);
}

Result<StoreInfo> FeatureStore::Inspect() {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return store->Inspect();
}

Result<SnapshotInfo> FeatureStore::Snapshot(const std::string& out_file) {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return store->Snapshot(out_file);
}

Result<SnapshotInfo> FeatureStore::Restore(const std::string& snapshot_file) {
  LARDER_ASSIGN_OR_RETURN(SnapshotInfo info, Store::Restore(snapshot_file, config_));
  MutexLock lock(mu_);
  store_.reset();  // a new segment: attach to it on next use
  return info;
}

Result<CheckReport> FeatureStore::Check() {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return store->Check();
}

Result<bool> FeatureStore::Repair() {
  LARDER_ASSIGN_OR_RETURN(auto store, Attached());
  return store->Repair();
}

Result<std::unique_ptr<OnlineReader>> OnlineReader::Attach(const std::string& segment_path,
                                                           ReaderOptions options) {
  LARDER_ASSIGN_OR_RETURN(auto store,
                          Store::Open(segment_path, /*writable=*/false, WriterOptions{}, options));
  return std::unique_ptr<OnlineReader>(new OnlineReader(std::move(store)));
}

Result<std::unique_ptr<OnlineReader>> OnlineReader::AttachTo(const RepoConfig& config,
                                                             ReaderOptions options) {
  if (options.segment_owner.empty()) options.segment_owner = config.online_store.owner;
  return Attach(config.online_store.path, options);
}

OnlineReader::~OnlineReader() = default;

Result<OnlineResponse> OnlineReader::GetOnlineFeatures(const OnlineRequest& request) const {
  return store_->GetOnlineFeatures(request);
}
Status OnlineReader::GetOnlineFeatures(const OnlineRequest& request, OnlineResponse* out) const {
  return store_->GetOnlineFeatures(request, out);
}
Status OnlineReader::GetOnlineFeaturesColumnar(const OnlineRequest& request,
                                               ColumnarResponse* out) const {
  return store_->GetOnlineFeaturesColumnar(request, out);
}
Result<StoreInfo> OnlineReader::Inspect() const { return store_->Inspect(); }
Result<CheckReport> OnlineReader::Check() const { return store_->Check(); }

bool OnlineReader::Detached() const { return store_->Detached(); }

Result<RepoConfig> OnlineReader::Registry() const {
  LARDER_ASSIGN_OR_RETURN(auto cat, store_->CurrentCatalog());
  return cat->config();
}

}  // namespace larder
