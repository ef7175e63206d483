// Snapshot reads across a writer's death (issue 22, docs/design.md "Crash model and
// recovery"): the rows a dead batch published are never seen, by a request that starts after
// recovery nor by one that loaded the index before it and its snapshot after the next batch
// (which takes the dead batch's number); and recovery needs no memory, so it works in a full
// store. A dead batch is made here by hand, by putting visible_seq back one batch and marking
// the store dirty (tests/crash_test.cc kills real writers).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/index/hash_index.h"
#include "engine/index/row_version.h"
#include "engine/segment/reader_slots.h"
#include "engine/segment/segment_file.h"
#include "larder/feature_store.h"
#include "layout/segment_layout.h"
#include "tests/store_fixture.h"
#include "tests/test_util.h"

namespace larder {
namespace {

using testing::F;
using testing::Features;
using testing::I;
using testing::Ints;
using testing::MakeFrame;
using testing::Repeat;
using testing::StoreOptions;

Frame StatsRows(const std::vector<int64_t>& ids, int64_t trips, int64_t event_s) {
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"conv_rate", Repeat(F(0.5), ids.size())},
                    {"trips", Repeat(I(trips), ids.size())},
                    {"event_timestamp", Repeat(I(event_s), ids.size())},
                    {"created", Repeat(I(0), ids.size())}});
}

// Makes the last batch look like one whose writer died after publishing its rows.
void KillLastBatch(layout::SegmentHeader* h) {
  h->visible_seq.fetch_sub(1);
  h->writer_pid.store(static_cast<uint64_t>(INT32_MAX));
}

// An Int64 entity key as the store encodes it.
std::string Int64Key(int64_t id) { return std::string(reinterpret_cast<const char*>(&id), 8); }

class SnapshotRecovery : public testing::StoreFixture {
 protected:
  std::vector<FieldStatus> Statuses(FeatureStore& fs, const std::vector<int64_t>& ids) {
    auto r = fs.GetOnlineFeatures(
        Features({"driver_stats:trips"}, MakeFrame({{"driver_id", Ints(ids)}})));
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return {};
    }
    return r->results.back().statuses;
  }
};

// A reader that loaded the index table before recovery and its snapshot after the next batch
// (numbered as the dead one was) still reads the dead batch's first row of a key as absent:
// recovery withdraws it in place, in the table that reader holds.
TEST_F(SnapshotRecovery, AReaderStalledAcrossRecoveryNeverSeesTheDeadBatch) {
  repo_.Write(std::string(testing::kDriverPreamble) + testing::kTripsView,
              StoreOptions{100, "1MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1}, 10, 1000)));   // batch 1
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({2}, 666, 2000)));  // batch 2: dies
  LARDER_ASSERT_OK_AND_ASSIGN(
      auto mapped, SegmentMapping::Open(repo_.segment(), SegmentMapping::Mode::kReadWrite));
  const SegmentMapping& seg = *mapped;
  layout::SegmentHeader* h = seg.header();
  ASSERT_EQ(h->visible_seq.load(), 2u);
  KillLastBatch(h);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  ASSERT_EQ(info.views.size(), 1u);
  const uint32_t view = info.views[0].id;
  const std::string key = Int64Key(2);

  // The stalled reader: its hold, then the index table.
  auto table = ReaderTableMapping::Open(repo_.segment(), h->segment_uid, false, ::getuid());
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  auto pool = std::make_shared<ReaderSlotPool>(*table);
  auto slot = pool->SlotForThisThread();
  ASSERT_TRUE(slot.ok()) << slot.status().ToString();
  EpochGuard guard(*slot, h->global_epoch);
  const HashIndex held = HashIndex::FromDesc(seg.base(), h->index_desc.load());
  const layout::BlockHeader* dead =
      held.FindRow(seg.base(), seg.size(), HashEntityKey(view, key), view, key);
  ASSERT_NE(dead, nullptr);
  EXPECT_TRUE(VersionAt(seg.base(), seg.size(), dead, view, key, 1, h->visible_seq).row == nullptr);

  // The next writer recovers and runs its own batch, numbered 2 again.
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({3}, 30, 1000)));
  const uint64_t snapshot = h->visible_seq.load(std::memory_order_acquire);
  ASSERT_EQ(snapshot, 2u);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after, fs->Inspect());
  EXPECT_EQ(after.recoveries, info.recoveries + 1);
  EXPECT_EQ(after.views[0].rows, 2u) << "a withdrawn row is no row";

  // The stalled reader resumes with the new snapshot, in the table it holds.
  const layout::BlockHeader* again =
      held.FindRow(seg.base(), seg.size(), HashEntityKey(view, key), view, key);
  ASSERT_NE(again, nullptr);
  const SnapshotRow seen =
      VersionAt(seg.base(), seg.size(), again, view, key, snapshot, h->visible_seq);
  EXPECT_FALSE(seen.broken);
  EXPECT_EQ(seen.row, nullptr) << "the dead batch's row of entity 2 was read";
  EXPECT_TRUE(guard.End()) << "the reader's hold was withdrawn (its read would be retried)";

  // New requests: 2 absent, 1 and 3 present; with snapshot reads off too.
  EXPECT_EQ(Statuses(*fs, {1, 2, 3}),
            (std::vector<FieldStatus>{FieldStatus::kPresent, FieldStatus::kNotFound,
                                      FieldStatus::kPresent}));
  ReaderOptions newest;
  newest.snapshot_reads = false;
  LARDER_ASSERT_OK_AND_ASSIGN(auto plain, OnlineReader::Attach(repo_.segment(), newest));
  LARDER_ASSERT_OK_AND_ASSIGN(
      OnlineResponse r, plain->GetOnlineFeatures(Features({"driver_stats:trips"},
                                                          MakeFrame({{"driver_id", Ints({2})}}))));
  EXPECT_EQ(r.results.back().statuses[0], FieldStatus::kNotFound);
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);

  // A push of entity 2 older than the dead row is written: the withdrawn row is no row.
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult res, fs->Push("stats_push", StatsRows({2}, 7, 500)));
  EXPECT_EQ(res.rows_written, 1u);
  EXPECT_EQ(Statuses(*fs, {2})[0], FieldStatus::kPresent);
  LARDER_ASSERT_OK_AND_ASSIGN(check, fs->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
}

// Recovery allocates nothing: in a store too full for another index table, a writer that died
// in a batch of new keys is recovered by the next one, and the store goes on serving.
TEST_F(SnapshotRecovery, RecoveryWorksInAFullStore) {
  repo_.Write(std::string(testing::kDriverPreamble) + testing::kTripsView,
              StoreOptions{20000, "1MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  int64_t next = 0;
  for (;; next += 100) {
    std::vector<int64_t> ids;
    for (int64_t i = next; i < next + 100; ++i) ids.push_back(i);
    if (!fs->Push("stats_push", StatsRows(ids, 1, 1000)).ok()) break;
  }
  ASSERT_GT(next, 0);
  LARDER_ASSERT_OK_AND_ASSIGN(
      auto mapped, SegmentMapping::Open(repo_.segment(), SegmentMapping::Mode::kReadWrite));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before, fs->Inspect());
  KillLastBatch(mapped->header());  // the last 100 new keys: the first rows of their keys
  // Whether or not it finds room for its own rows, the push recovers first.
  (void)fs->Push("stats_push", StatsRows({0}, 2, 2000));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after, fs->Inspect());
  EXPECT_EQ(after.recoveries, before.recoveries + 1);
  EXPECT_EQ(after.writer_pid, 0u) << "recovery failed: the store stays dirty";
  const std::vector<FieldStatus> dead = Statuses(*fs, {next - 1, next - 100});
  EXPECT_EQ(dead, std::vector<FieldStatus>(2, FieldStatus::kNotFound));
  EXPECT_EQ(Statuses(*fs, {next - 101})[0], FieldStatus::kPresent);
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
}

}  // namespace
}  // namespace larder
