// The writer does not follow the allocator's free and limbo lists blindly (engine/arena.h): a
// link that leaves the arena, names a block that is not free (or not retired), or has the
// wrong size is caught before it is used. The batch that meets it rebuilds the lists as after
// a writer crash, the push still applies, and every row stays as it was acknowledged.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
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

using testing::F;
using testing::Features;
using testing::I;
using testing::Ints;
using testing::MakeFrame;
using testing::Repeat;
using testing::StoreOptions;

constexpr char kView[] = R"(feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
      - {name: conv_rate, dtype: Float64}
)";

constexpr int64_t kRows = 100;

// Rows 0..n-1 with trips = k * 1000 + id, at event time k seconds.
Frame Rows(int64_t n, int64_t k) {
  std::vector<int64_t> ids, trips;
  std::vector<Cell> conv;
  for (int64_t id = 0; id < n; ++id) {
    ids.push_back(id);
    trips.push_back(k * 1000 + id);
    conv.push_back(F(static_cast<double>(id) / 8));
  }
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"trips", Ints(trips)},
                    {"conv_rate", std::move(conv)},
                    {"event_timestamp", Repeat(I(k), ids.size())},
                    {"created", Repeat(I(0), ids.size())}});
}

// The segment's header page, mapped read-write: the test damages the allocator state there.
class HeaderMapping {
 public:
  explicit HeaderMapping(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    void* p = ::mmap(nullptr, layout::kHeaderSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p != MAP_FAILED) h_ = static_cast<layout::SegmentHeader*>(p);
  }
  ~HeaderMapping() {
    if (h_ != nullptr) ::munmap(h_, layout::kHeaderSize);
  }
  layout::SegmentHeader* get() const { return h_; }

 private:
  layout::SegmentHeader* h_ = nullptr;
};

class AllocatorDamage : public testing::StoreFixture {
 protected:
  // A store of kRows rows rewritten three times: the old rows are on the free lists.
  void SetUp() override {
    repo_.Write(std::string(testing::kDriverPreamble) + kView, StoreOptions{200, "4MiB"});
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
    for (int64_t k = 1; k <= 3; ++k) ASSERT_TRUE(fs_->Push("stats_push", Rows(kRows, k)).ok());
    header_.emplace(repo_.segment());
    ASSERT_NE(header_->get(), nullptr);
    ASSERT_EQ(header_->get()->writer_pid.load(), 0u);
    for (uint32_t u = 1; u <= layout::kSmallClasses; ++u) {
      if (header_->get()->alloc.free_heads[u] != 0) free_class_ = u;
    }
    ASSERT_NE(free_class_, 0u) << "no free list to damage";
    auto info = fs_->Inspect();
    ASSERT_TRUE(info.ok());
    recoveries_before_ = info->recoveries;
  }

  // After the damage: the next push of kRows + 50 rows (existing rows rewritten, new ones
  // added) applies, every row reads back as pushed, the store checks clean and one rebuild
  // was counted.
  void ExpectRepairedByNextPush() {
    auto pushed = fs_->Push("stats_push", Rows(kRows + 50, 4));
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
      EXPECT_EQ(trips.values[i].i64, 4000 + ids[i]) << "id " << ids[i];
    }
    auto check = fs_->Check();
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    EXPECT_TRUE(check->ok()) << (check->violations.empty() ? "" : check->violations[0]);
    auto info = fs_->Inspect();
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->recoveries, recoveries_before_ + 1) << "the lists were not rebuilt";
    EXPECT_EQ(info->writer_pid, 0u) << "the store was left dirty";
  }

  layout::SegmentHeader* h() { return header_->get(); }
  // A block of the arena that is not free: the index table's.
  uint64_t IndexBlock() {
    return layout::DescDataOffset(h()->index_desc.load()) - layout::kIndexDataOffset;
  }

  std::unique_ptr<FeatureStore> fs_;
  std::optional<HeaderMapping> header_;
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
  // The block header lies beyond the mapped header page: map the whole segment for it.
  const int fd = ::open(repo_.segment().c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const uint64_t size = h()->file_size;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(p, MAP_FAILED);
  reinterpret_cast<layout::BlockHeader*>(static_cast<uint8_t*>(p) + head)->link = head;
  ::munmap(p, size);
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

TEST_F(AllocatorDamage, LimboListMisaligned) {
  const uint64_t epoch = h()->global_epoch.load();
  const uint32_t slot = static_cast<uint32_t>((epoch - 1) % layout::kLimboRing);
  h()->alloc.limbo_head[slot] = h()->arena_begin + 8;  // no block starts off the 16-byte grid
  h()->alloc.limbo_epoch[slot] = epoch - 1;
  ExpectRepairedByNextPush();
}

}  // namespace
}  // namespace larder
