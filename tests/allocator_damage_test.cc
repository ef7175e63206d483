// The writer does not follow the allocator's free and limbo lists blindly (engine/segment/arena.h): a
// link that leaves the arena, names a block that is not free (or not retired), or has the
// wrong size is caught before it is used. The batch that meets it rebuilds the lists as after
// a writer crash, the push still applies, and every row stays as it was acknowledged.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "larder/feature_store.h"
#include "layout/segment_layout.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::Features;
using testing::Ints;
using testing::MakeFrame;
using testing::StoreOptions;

constexpr int64_t kRows = 100;

// Rows 0..n-1 with trips = k * 1000 + id, at event time k seconds.
Frame Rows(int64_t n, int64_t k) { return testing::TripsRows(0, n, k * 1000, k); }

class AllocatorDamage : public testing::StoreFixture {
 protected:
  // A store of kRows rows rewritten three times: the old rows are on the free lists.
  void SetUp() override {
    repo_.Write(std::string(testing::kDriverPreamble) + testing::kTripsView,
                StoreOptions{200, "4MiB"});
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
    for (int64_t k = 1; k <= 3; ++k) ASSERT_TRUE(fs_->Push("stats_push", Rows(kRows, k)).ok());
    segment_.emplace(repo_.segment());
    ASSERT_NE(h(), nullptr);
    ASSERT_EQ(h()->writer_pid.load(), 0u);
    for (uint32_t u = 1; u <= layout::kSmallClasses; ++u) {
      if (h()->alloc.free_heads[u] != 0) free_class_ = u;
    }
    ASSERT_NE(free_class_, 0u) << "no free list to damage";
    auto info = fs_->Inspect();
    ASSERT_TRUE(info.ok());
    recoveries_before_ = info->recoveries;
  }

  // After the damage: the next push (event time k) of kRows + 50 rows (existing rows rewritten, new
  // ones added) applies, every row reads back as pushed, the store checks clean and one rebuild was
  // counted.
  void ExpectRepairedByNextPush(int64_t k = 4) {
    auto pushed = fs_->Push("stats_push", Rows(kRows + 50, k));
    ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
    EXPECT_EQ(pushed->rows_written, static_cast<uint64_t>(kRows + 50));
    std::vector<int64_t> ids;
    for (int64_t id = 0; id < kRows + 50; ++id) ids.push_back(id);
    auto r = fs_->GetOnlineFeatures(
        Features({"driver_stats:trips"}, MakeFrame({{"driver_id", Ints(ids)}})));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const FeatureColumn& trips = r->results.back();
    for (size_t i = 0; i < ids.size(); ++i) {
      ASSERT_EQ(trips.statuses[i], FieldStatus::kPresent) << "id " << ids[i];
      EXPECT_EQ(trips.values[i].i64, k * 1000 + ids[i]) << "id " << ids[i];
    }
    auto check = fs_->Check();
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    EXPECT_TRUE(check->ok()) << (check->violations.empty() ? "" : check->violations[0]);
    auto info = fs_->Inspect();
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->recoveries, recoveries_before_ + 1) << "the lists were not rebuilt";
    EXPECT_EQ(info->writer_pid, 0u) << "the store was left dirty";
  }

  layout::SegmentHeader* h() { return segment_->header(); }
  // A block of the arena that is not free: the index table's.
  uint64_t IndexBlock() {
    return layout::DescDataOffset(h()->index_desc.load()) - layout::kIndexDataOffset;
  }

  std::unique_ptr<FeatureStore> fs_;
  std::optional<testing::RawSegment> segment_;
  uint32_t free_class_ = 0;
  uint64_t recoveries_before_ = 0;
};

TEST_F(AllocatorDamage, FreeListHeadOutsideTheArena) {
  h()->alloc.free_heads[free_class_] = h()->arena_top.load() + 4096;
  ExpectRepairedByNextPush();
}

TEST_F(AllocatorDamage, FreeListHeadOnABlockInUse) {
  h()->alloc.free_heads[free_class_] = IndexBlock();
  ExpectRepairedByNextPush();
}

TEST_F(AllocatorDamage, FreeListHeadMisaligned) {
  h()->alloc.free_heads[free_class_] += 8;
  ExpectRepairedByNextPush();
}

// A list whose first block links to itself would hand the same block out twice: the second
// time it is no longer free.
TEST_F(AllocatorDamage, FreeListThatLoops) {
  const uint64_t head = h()->alloc.free_heads[free_class_];
  segment_->block(head)->link = head;
  ExpectRepairedByNextPush();
}

// A limbo list whose epoch has passed is freed at the end of the next batch: a link out of
// the arena stops that walk, and the batch's end rebuilds the lists.
TEST_F(AllocatorDamage, LimboListOutsideTheArena) {
  const uint64_t epoch = h()->global_epoch.load();
  ASSERT_GT(epoch, 1u);
  const uint32_t slot = static_cast<uint32_t>((epoch - 1) % layout::kLimboRing);
  ASSERT_EQ(h()->alloc.limbo_head[slot], 0u) << "limbo not empty with no reader";
  h()->alloc.limbo_head[slot] = h()->arena_top.load() + 4096;
  h()->alloc.limbo_epoch[slot] = epoch - 1;
  ExpectRepairedByNextPush();
}

// A limbo list that links back to its own first block passes every per-block check (each
// step names a block of the arena), so only the walk's length shows the loop: without that
// bound the writer would spin at the end of the batch. The block is the last of a free list,
// which the next push does not reach.
TEST_F(AllocatorDamage, LimboListThatLoops) {
  // Two rewrites of more rows than the next push writes: it leaves free blocks untouched.
  for (int64_t k = 4; k <= 5; ++k) ASSERT_TRUE(fs_->Push("stats_push", Rows(kRows + 100, k)).ok());
  const uint64_t epoch = h()->global_epoch.load();
  const uint32_t slot = static_cast<uint32_t>((epoch - 1) % layout::kLimboRing);
  ASSERT_EQ(h()->alloc.limbo_head[slot], 0u) << "limbo not empty with no reader";
  uint64_t head = h()->alloc.free_heads[free_class_];
  int free_blocks = 1;
  for (; segment_->block(head)->link != 0; ++free_blocks) head = segment_->block(head)->link;
  ASSERT_GT(free_blocks, kRows + 50) << "the next push would reach the list's last block";
  segment_->block(head)->link = head;
  h()->alloc.limbo_head[slot] = head;
  h()->alloc.limbo_epoch[slot] = epoch - 1;
  ExpectRepairedByNextPush(6);
}

TEST_F(AllocatorDamage, LimboListMisaligned) {
  const uint64_t epoch = h()->global_epoch.load();
  const uint32_t slot = static_cast<uint32_t>((epoch - 1) % layout::kLimboRing);
  h()->alloc.limbo_head[slot] = h()->arena_begin + 8;  // no block starts off the 16-byte grid
  h()->alloc.limbo_epoch[slot] = epoch - 1;
  ExpectRepairedByNextPush();
}

}  // namespace
}  // namespace larder
