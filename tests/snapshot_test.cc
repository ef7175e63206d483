// `larder snapshot` / `larder restore` (engine/snapshot.cc): a snapshot restores to a store
// that passes check and reads exactly as the source did at the snapshot's write batch, even
// when taken during a flat-out writer or after a writer died mid-batch; damaged, foreign and
// mismatched snapshots are refused before anything is created.
#include <gtest/gtest.h>
#include <signal.h>
#include <xxhash.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include "engine/fault.h"
#include "engine/store.h"
#include "larder/repo_config.h"
#include "layout/snapshot_format.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::Features;
using testing::Ints;
using testing::IsError;
using testing::kDriverPreamble;
using testing::kTripsView;
using testing::MakeFrame;
using testing::Repo;
using testing::StoreOptions;
using testing::TempDir;
using testing::TempSegmentPath;
using testing::TripsRows;

// Every feature of driver_stats for ids [0, n): per feature column, per id, the status, value
// and event time, as one comparable string.
std::string ReadAllRows(FeatureStore& fs, int64_t n) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(i);
  auto r = fs.GetOnlineFeatures(Features({"driver_stats:trips", "driver_stats:conv_rate"},
                                         MakeFrame({{"driver_id", Ints(ids)}})));
  if (!r.ok()) return "error: " + r.status().ToString();
  std::string out;
  for (size_t c = 0; c < r->results.size(); ++c) {
    const FeatureColumn& col = r->results[c];
    for (size_t i = 0; i < col.values.size(); ++i) {
      out += r->feature_names[c] + "[" + std::to_string(i) +
             "]=" + std::to_string(static_cast<int>(col.statuses[i])) + "/" +
             std::to_string(col.values[i].i64) + "/" + std::to_string(col.values[i].f64) + "@" +
             std::to_string(col.event_timestamps[i]) + "\n";
    }
  }
  return out;
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Recomputes a snapshot's checksum after a test changed its bytes (so that only the checks
// behind the checksum can catch the change).
void Reseal(std::string* bytes) {
  const size_t body = bytes->size() - layout::kSnapshotChecksumBytes;
  const uint64_t sum = XXH3_64bits(bytes->data(), body);
  std::memcpy(bytes->data() + body, &sum, sizeof(sum));
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

class SnapshotTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    repo_.Write(std::string(kDriverPreamble) + kTripsView, StoreOptions{1000, "64MiB"});
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(*fs);
    snapshot_ = dir_.path() + "/store.snapshot";
  }

  // The repo's config with its store at `path`.
  RepoConfig ConfigAt(const std::string& path) {
    RepoConfig config = fs_->config();
    config.online_store.path = path;
    return config;
  }

  std::unique_ptr<FeatureStore> fs_;
  TempDir dir_;
  std::string snapshot_;
};

TEST_F(SnapshotTest, RestoresEveryRowAsItWas) {
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, 300, 1000, 100)));
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(100, 50, 5000, 200)));  // replaces 50
  const std::string before = ReadAllRows(*fs_, 400);  // ids 300..399: NOT_FOUND
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo source, fs_->Inspect());

  LARDER_ASSERT_OK_AND_ASSIGN(SnapshotInfo taken, fs_->Snapshot(snapshot_));
  EXPECT_EQ(taken.rows, 300u);
  EXPECT_EQ(taken.visible_batch, source.visible_batch);
  EXPECT_EQ(taken.project, "larder_test");
  EXPECT_GE(taken.writers_held_micros, 0);

  LARDER_ASSERT_OK(fs_->Teardown());
  LARDER_ASSERT_OK_AND_ASSIGN(SnapshotInfo restored, fs_->Restore(snapshot_));
  EXPECT_EQ(restored.rows, 300u);
  EXPECT_EQ(restored.visible_batch, taken.visible_batch);
  EXPECT_EQ(restored.taken_micros, taken.taken_micros);
  EXPECT_EQ(ReadAllRows(*fs_, 400), before);
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs_->Check());
  EXPECT_TRUE(check.ok()) << check.violations.front();
  EXPECT_EQ(check.rows, 300u);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs_->Inspect());
  EXPECT_EQ(info.visible_batch, source.visible_batch);
  // Restored rows lie beside their buckets (a bulk load's layout).
  ASSERT_EQ(info.views.size(), 1u);
  EXPECT_EQ(info.views[0].rows_in_runs, 300u);

  // The restored store takes pushes as the source did: the (event, created) rule holds.
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult older, fs_->Push("stats_push", TripsRows(0, 1, 7, 50)));
  EXPECT_EQ(older.rows_written, 0u);
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, 1, 7, 500)));
  LARDER_ASSERT_OK_AND_ASSIGN(check, fs_->Check());
  EXPECT_TRUE(check.ok());
}

// A restore lays rows out as a bulk load does (bucket order), whatever order the source's
// rows were in: each lookup's run hint then names its row. 40,000 rows fill 2^13 buckets, 128
// run-hint groups, so rows laid out in plain bucket order would lie out of their group's reach.
TEST_F(SnapshotTest, RestoredRowsLieBesideTheirBuckets) {
  constexpr int64_t kRows = 40'000;
  for (int64_t first = 0; first < kRows; first += 500) {  // streaming pushes: rows scattered
    LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows((first * 7919) % kRows, 500, 0, 100)));
  }
  LARDER_ASSERT_OK_AND_ASSIGN(SnapshotInfo taken, fs_->Snapshot(snapshot_));
  LARDER_ASSERT_OK(fs_->Teardown());
  LARDER_ASSERT_OK(fs_->Restore(snapshot_));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs_->Inspect());
  ASSERT_EQ(info.views.size(), 1u);
  EXPECT_EQ(info.views[0].rows, taken.rows);
  EXPECT_GE(info.views[0].rows_in_runs * 100, info.views[0].rows * 95)
      << info.views[0].rows_in_runs << " of " << info.views[0].rows << " rows in runs";
}

TEST_F(SnapshotTest, KeepsRowsWrittenBeforeAFeatureWasAdded) {
  // One feature first; conv_rate is added after the rows were written, so they read NOT_FOUND
  // for it, and must still after a restore (the registry's slots come with the rows).
  repo_.Write(std::string(kDriverPreamble) + R"(feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
)",
              StoreOptions{1000, "64MiB"});
  LARDER_ASSERT_OK(fs_->Teardown());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push(
      "stats_push", MakeFrame({{"driver_id", Ints({1, 2})},
                               {"trips", Ints({10, 20})},
                               {"event_timestamp", std::vector<Cell>(2, Cell::Int(100))}})));
  repo_.Write(std::string(kDriverPreamble) + kTripsView, StoreOptions{1000, "64MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(fs, repo_.OpenApplied());
  const std::string before = ReadAllRows(*fs, 3);
  ASSERT_NE(before.find("conv_rate[1]=3/"), std::string::npos) << before;  // NOT_FOUND

  LARDER_ASSERT_OK(fs->Snapshot(snapshot_));
  LARDER_ASSERT_OK(fs->Teardown());
  LARDER_ASSERT_OK(fs->Restore(snapshot_));
  EXPECT_EQ(ReadAllRows(*fs, 3), before);
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  EXPECT_TRUE(check.ok());
}

TEST_F(SnapshotTest, RestoreNeverReplacesAStore) {
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, 10, 1000, 100)));
  LARDER_ASSERT_OK(fs_->Snapshot(snapshot_));
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, 10, 2000, 200)));
  const std::string live = ReadAllRows(*fs_, 10);
  EXPECT_TRUE(IsError(fs_->Restore(snapshot_).status(), ErrorCode::kInvalidArgument,
                      {"a store exists at", "larder teardown"}));
  EXPECT_EQ(ReadAllRows(*fs_, 10), live);
}

TEST_F(SnapshotTest, RefusesToReplaceAFileThatIsNotASnapshot) {
  const std::string yaml = repo_.dir() + "/feature_store.yaml";
  const std::string text = ReadFileBytes(yaml);
  EXPECT_TRUE(IsError(fs_->Snapshot(yaml).status(), ErrorCode::kInvalidArgument,
                      {"is not a Larder snapshot"}));
  EXPECT_EQ(ReadFileBytes(yaml), text);
  // Nor the store's own segment, which a rename would have replaced.
  EXPECT_TRUE(IsError(fs_->Snapshot(repo_.segment()).status(), ErrorCode::kInvalidArgument,
                      {"is not a Larder snapshot"}));
  LARDER_ASSERT_OK(fs_->Inspect());
  // Nor through a symbolic link.
  const std::string link = dir_.path() + "/link.snapshot";
  ASSERT_EQ(::symlink(yaml.c_str(), link.c_str()), 0);
  EXPECT_TRUE(IsError(fs_->Snapshot(link).status(), ErrorCode::kInvalidArgument,
                      {"is not a Larder snapshot"}));
  // An older snapshot is replaced.
  LARDER_ASSERT_OK(fs_->Snapshot(snapshot_));
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, 5, 1000, 100)));
  LARDER_ASSERT_OK_AND_ASSIGN(SnapshotInfo again, fs_->Snapshot(snapshot_));
  EXPECT_EQ(again.rows, 5u);
  EXPECT_FALSE(Exists(snapshot_ + ".tmp"));
}

TEST_F(SnapshotTest, DamagedOrForeignSnapshotsAreRefusedAndCreateNothing) {
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, 20, 1000, 100)));
  LARDER_ASSERT_OK(fs_->Snapshot(snapshot_));
  const std::string good = ReadFileBytes(snapshot_);
  TempSegmentPath other;
  const RepoConfig config = ConfigAt(other.path());
  auto restore = [&](const std::string& bytes) {
    const std::string file = dir_.path() + "/bad.snapshot";
    WriteFileBytes(file, bytes);
    Status st = Store::Restore(file, config).status();
    EXPECT_FALSE(Exists(other.path())) << "a refused snapshot created a store";
    return st;
  };

  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x20;
  EXPECT_TRUE(IsError(restore(flipped), ErrorCode::kCorruptStore, {"checksum"}));
  EXPECT_TRUE(
      IsError(restore(good.substr(0, good.size() - 100)), ErrorCode::kCorruptStore, {"checksum"}));
  EXPECT_TRUE(IsError(restore(good.substr(0, 40)), ErrorCode::kCorruptStore, {"truncated"}));
  EXPECT_TRUE(IsError(restore("feature_views: []\n"), ErrorCode::kIncompatibleStore,
                      {"not a Larder snapshot"}));

  std::string old_layout = good;
  layout::SnapshotHeader h;
  std::memcpy(&h, old_layout.data(), sizeof(h));
  h.segment_layout_version = layout::kLayoutVersion - 1;
  std::memcpy(old_layout.data(), &h, sizeof(h));
  Reseal(&old_layout);
  EXPECT_TRUE(IsError(restore(old_layout), ErrorCode::kIncompatibleStore,
                      {"segment layout version " + std::to_string(layout::kLayoutVersion - 1)}));

  // Damage behind a valid checksum: the checks of each row catch it.
  std::memcpy(&h, good.data(), sizeof(h));
  const size_t first_row = sizeof(h) + layout::SnapshotPad8(h.registry_bytes);
  layout::SnapshotRow row;
  std::memcpy(&row, good.data() + first_row, sizeof(row));
  std::string bad_view = good;
  layout::SnapshotRow unknown = row;
  unknown.view_id = 999;
  std::memcpy(bad_view.data() + first_row, &unknown, sizeof(unknown));
  Reseal(&bad_view);
  EXPECT_TRUE(
      IsError(restore(bad_view), ErrorCode::kCorruptStore, {"row record 0", "view id 999"}));
  std::string bad_payload = good;
  const size_t payload = first_row + sizeof(row) + layout::SnapshotPad8(row.key_len);
  std::memset(bad_payload.data() + payload, 0xff, 4);  // the FlatBuffer's root offset
  Reseal(&bad_payload);
  EXPECT_TRUE(IsError(restore(bad_payload), ErrorCode::kCorruptStore,
                      {"row record 0", "fails verification"}));
  std::string bad_count = good;
  h.row_count += 1;
  std::memcpy(bad_count.data(), &h, sizeof(h));
  Reseal(&bad_count);
  EXPECT_TRUE(IsError(restore(bad_count), ErrorCode::kCorruptStore, {"row record 20"}));

  std::string twice = good;
  const size_t record = layout::SnapshotRowBytes(row.key_len, row.payload_len);
  twice.insert(first_row, good.substr(first_row, record));
  layout::SnapshotHeader th;
  std::memcpy(&th, good.data(), sizeof(th));
  th.row_count += 1;
  th.rows_bytes += record;
  std::memcpy(twice.data(), &th, sizeof(th));
  Reseal(&twice);
  EXPECT_TRUE(IsError(restore(twice), ErrorCode::kCorruptStore,
                      {"row record 1: a second row of the entity of row record 0"}));

  // The good one restores there.
  LARDER_ASSERT_OK_AND_ASSIGN(SnapshotInfo info, Store::Restore(snapshot_, config));
  EXPECT_EQ(info.rows, 20u);
  LARDER_ASSERT_OK(Store::Teardown(other.path()));
}

TEST_F(SnapshotTest, RestoreRefusesAnotherProjectAndAStoreTooSmall) {
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, 2000, 1000, 100)));
  LARDER_ASSERT_OK(fs_->Snapshot(snapshot_));
  TempSegmentPath other;
  RepoConfig config = ConfigAt(other.path());
  config.project = "another";
  EXPECT_TRUE(IsError(Store::Restore(snapshot_, config).status(), ErrorCode::kInvalidArgument,
                      {"is of project 'larder_test'", "'another'"}));
  config = ConfigAt(other.path());
  config.online_store.memory_limit = 64 << 10;
  EXPECT_TRUE(
      IsError(Store::Restore(snapshot_, config).status(), ErrorCode::kStoreFull, {"memory_limit"}));
  EXPECT_FALSE(Exists(other.path()));
  EXPECT_FALSE(Exists(other.path() + ".readers"));
  EXPECT_FALSE(Exists(other.path() + ".lock"));
}

// The rows of one snapshot are of one moment: a writer pushes batch after batch, each setting
// every entity's trips to the batch's number, while snapshots are taken; each snapshot, once
// restored, holds one number for all entities (without the writer lock it would hold two).
TEST_F(SnapshotTest, IsOfOneWriteBatchDuringAFlatOutWriter) {
  constexpr int64_t kEntities = 2000;
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, kEntities, 0, 1)));
  std::atomic<bool> stop{false};
  std::atomic<int64_t> batches{0};
  std::thread writer([&] {
    auto fs = repo_.Open();
    if (!fs.ok()) return;
    for (int64_t k = 1; !stop.load(); ++k) {
      // trips = k * 10000 + id: conv_rate = trips / 4; event time k + 1 (always newer).
      if (!(*fs)->Push("stats_push", TripsRows(0, kEntities, k * 10000, k + 1)).ok()) return;
      batches.store(k);
    }
  });
  std::vector<std::string> files;
  for (int i = 0; i < 6; ++i) {
    while (batches.load() < 2 * (i + 1)) std::this_thread::yield();
    files.push_back(dir_.path() + "/during." + std::to_string(i));
    auto taken = fs_->Snapshot(files.back());
    ASSERT_TRUE(taken.ok()) << taken.status().ToString();
    EXPECT_EQ(taken->rows, static_cast<uint64_t>(kEntities));
  }
  stop.store(true);
  writer.join();
  ASSERT_GE(batches.load(), 12);

  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kEntities; ++i) ids.push_back(i);
  int64_t last_k = -1;
  uint64_t last_batch = 0;
  for (const std::string& file : files) {
    TempSegmentPath restored_path;
    LARDER_ASSERT_OK_AND_ASSIGN(SnapshotInfo info,
                                Store::Restore(file, ConfigAt(restored_path.path())));
    LARDER_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(restored_path.path(), true));
    LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, store->Check());
    EXPECT_TRUE(check.ok());
    LARDER_ASSERT_OK_AND_ASSIGN(
        OnlineResponse r, store->GetOnlineFeatures(Features(
                              {"driver_stats:trips"}, MakeFrame({{"driver_id", Ints(ids)}}))));
    const FeatureColumn& trips = r.results[testing::ColumnIndex(r, "trips")];
    const int64_t k = trips.values[0].i64 / 10000;
    for (int64_t i = 0; i < kEntities; ++i) {
      ASSERT_EQ(trips.values[i].i64, k * 10000 + i)
          << file << ": entity " << i << " is of another batch than entity 0";
    }
    // Later snapshots are of later batches.
    EXPECT_GT(k, last_k) << file;
    EXPECT_GT(info.visible_batch, last_batch) << file;
    last_k = k;
    last_batch = info.visible_batch;
    store.reset();
    LARDER_ASSERT_OK(Store::Teardown(restored_path.path()));
  }
}

// A writer killed after publishing part of its batch leaves rows of a batch never made
// visible: the snapshot holds the versions before it, as every reader sees them.
TEST_F(SnapshotTest, LeavesOutTheBatchOfAWriterThatDied) {
  LARDER_ASSERT_OK(fs_->Push("stats_push", TripsRows(0, 100, 1000, 100)));
  const std::string before = ReadAllRows(*fs_, 100);
  testing::Child child = testing::ForkChild([&](int) {
    ::setenv("LARDER_CRASH_AT", "after_publish_row:40", 1);
    EnableFaultInjection();
    auto fs = repo_.Open();
    if (!fs.ok()) ::_exit(2);
    (void)(*fs)->Push("stats_push", TripsRows(0, 100, 9000, 200));
    ::_exit(3);  // not killed
  });
  ASSERT_GT(child.pid, 0);
  ::close(child.report_fd);
  const int status = testing::WaitChild(child.pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << testing::DescribeWait(status);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo dead, fs_->Inspect());
  ASSERT_NE(dead.writer_pid, 0u) << "the child died outside its batch";

  LARDER_ASSERT_OK_AND_ASSIGN(SnapshotInfo taken, fs_->Snapshot(snapshot_));
  EXPECT_EQ(taken.rows, 100u);
  TempSegmentPath other;
  LARDER_ASSERT_OK(Store::Restore(snapshot_, ConfigAt(other.path())));
  LARDER_ASSERT_OK_AND_ASSIGN(auto restored, Store::Open(other.path(), true));
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 100; ++i) ids.push_back(i);
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r,
                              restored->GetOnlineFeatures(Features(
                                  {"driver_stats:trips"}, MakeFrame({{"driver_id", Ints(ids)}}))));
  const FeatureColumn& trips = r.results[testing::ColumnIndex(r, "trips")];
  for (int64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(trips.values[i].i64, 1000 + i) << "entity " << i;
  }
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, restored->Check());
  EXPECT_TRUE(check.ok());
  restored.reset();
  LARDER_ASSERT_OK(Store::Teardown(other.path()));
  EXPECT_EQ(ReadAllRows(*fs_, 100), before);
}

}  // namespace
}  // namespace larder
