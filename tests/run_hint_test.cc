// Run hints (layout/segment_layout.h, docs/design.md "Run hints"): a bulk load lays each index
// bucket's rows side by side and the bucket's hint names them; pushes of unrelated keys do not;
// a replaced row leaves the rest of its run hinted; index growth takes every hint afresh;
// materialize writes in bucket order; and a hint is only ever a prefetch, so garbage hints
// change no answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/index/hash_index.h"
#include "engine/index/index_writer.h"
#include "larder/feature_store.h"
#include "layout/segment_layout.h"
#include "tests/offline_fixture.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::Features;
using testing::Ints;
using testing::MakeFrame;
using testing::StoreOptions;

// Rows of ids [first, first + n): trips = version * 1'000'000 + id.
Frame Rows(int64_t first, int64_t n, int64_t version = 1) {
  return testing::TripsRows(first, n, version * 1'000'000, 1000 + version);
}

class RunHints : public testing::StoreFixture {
 protected:
  void SetUp() override {
    repo_.Write(std::string(testing::kDriverPreamble) + testing::kTripsView,
                StoreOptions{100, "16MiB"});
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
  }

  ViewStats Stats() {
    auto info = fs_->Inspect();
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() && !info->views.empty() ? info->views[0] : ViewStats{};
  }

  // Reads every id in [0, n) one request at a time (the path that follows run hints) and
  // expects trips = version(id) * 1'000'000 + id.
  void ExpectEveryRow(int64_t n, const std::function<int64_t(int64_t)>& version) {
    auto reader = OnlineReader::Attach(repo_.segment());
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    OnlineResponse r;
    for (int64_t id = 0; id < n; ++id) {
      auto st = (*reader)->GetOnlineFeatures(
          Features({"driver_stats:trips"}, MakeFrame({{"driver_id", Ints({id})}})), &r);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_EQ(r.results[1].statuses[0], FieldStatus::kPresent) << "id " << id;
      ASSERT_EQ(r.results[1].values[0].i64, version(id) * 1'000'000 + id) << "id " << id;
    }
  }

  void ExpectCheckOk() {
    auto check = fs_->Check();
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    EXPECT_TRUE(check->ok()) << (check->violations.empty() ? "" : check->violations[0]);
  }

  std::unique_ptr<FeatureStore> fs_;
};

TEST_F(RunHints, BulkPushPutsEveryBucketsRowsInItsRun) {
  constexpr int64_t kRows = 20000;  // one batch, past the initial index: it grows first
  ASSERT_TRUE(fs_->Push("stats_push", Rows(0, kRows)).ok());
  const ViewStats v = Stats();
  ASSERT_EQ(v.rows, static_cast<uint64_t>(kRows));
  // Only buckets whose rows span more than kMaxRunLines lines (many keys) go unhinted. Since
  // rows carry a 16-byte RowVersion (layout 3) a few more buckets do: 92 % here, 95 % before.
  EXPECT_GE(v.rows_in_runs, v.rows * 90 / 100);
  ExpectEveryRow(kRows, [](int64_t) { return 1; });
  ExpectCheckOk();
}

TEST_F(RunHints, SmallPushesOfUnrelatedKeysLeaveMostRowsOutside) {
  // The same rows in batches far smaller than the table: a bucket's rows come from different
  // batches, far apart. Each bucket's hint names at most the row that first filled it.
  constexpr int64_t kRows = 20000, kBatch = 200;
  for (int64_t first = 0; first < kRows; first += kBatch) {
    ASSERT_TRUE(fs_->Push("stats_push", Rows(first, kBatch)).ok());
  }
  const ViewStats v = Stats();
  ASSERT_EQ(v.rows, static_cast<uint64_t>(kRows));
  EXPECT_LT(v.rows_in_runs, v.rows / 2);
  ExpectEveryRow(kRows, [](int64_t) { return 1; });
}

TEST_F(RunHints, AReplacedRowLeavesTheRestOfItsRunHinted) {
  constexpr int64_t kRows = 20000;
  ASSERT_TRUE(fs_->Push("stats_push", Rows(0, kRows)).ok());
  const uint64_t before = Stats().rows_in_runs;
  // Ten rows replaced one push at a time: each new row lands elsewhere (its bucket's rows then
  // span too many lines), and the bucket keeps the hint that names its other rows.
  for (int64_t id = 0; id < 10; ++id) {
    ASSERT_TRUE(fs_->Push("stats_push", Rows(id * 1000, 1, 2)).ok());
  }
  const uint64_t after = Stats().rows_in_runs;
  EXPECT_GE(after + 10, before);
  EXPECT_LE(after, before);
  ExpectEveryRow(kRows, [](int64_t id) { return id % 1000 == 0 && id < 10000 ? 2 : 1; });
  ExpectCheckOk();
}

TEST_F(RunHints, IndexGrowthTakesEveryHintAfresh) {
  // A bulk load that nearly fills the table (600 rows: 128 buckets), then 300 more rows,
  // which make the index grow (256 buckets) before they are placed. The first load's rows stay
  // in their runs at the new size: rows written in bucket order are side by side at every
  // table size, and the rebuild takes each bucket's hint from its rows. The second load's rows
  // land far from them, so a bucket holding rows of both keeps the rebuild's hint; without it,
  // only the buckets that got none of the first load's rows (about a tenth) would be hinted.
  constexpr int64_t kFirst = 600, kSecond = 300;
  ASSERT_TRUE(fs_->Push("stats_push", Rows(0, kFirst)).ok());
  auto before = fs_->Inspect();
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->index_buckets, 128u);
  ASSERT_GE(Stats().rows_in_runs, static_cast<uint64_t>(kFirst) * 95 / 100);
  ASSERT_TRUE(fs_->Push("stats_push", Rows(kFirst, kSecond)).ok());
  auto after = fs_->Inspect();
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->index_buckets, 256u);
  EXPECT_GE(Stats().rows_in_runs, static_cast<uint64_t>(kFirst) * 90 / 100);
  ExpectEveryRow(kFirst + kSecond, [](int64_t) { return 1; });
  ExpectCheckOk();
}

TEST_F(RunHints, GarbageHintsChangeNoAnswer) {
  constexpr int64_t kRows = 5000;
  ASSERT_TRUE(fs_->Push("stats_push", Rows(0, kRows)).ok());
  {
    testing::RawSegment seg(repo_.segment());
    ASSERT_NE(seg.base(), nullptr);
    // The hints are damaged in place, as layout/segment_layout.h lays them out.
    const uint64_t desc = seg.header()->index_desc.load(std::memory_order_acquire);
    const uint32_t log2 = layout::DescLog2Buckets(desc);
    uint8_t* data = seg.base() + layout::DescDataOffset(desc);
    auto* groups = reinterpret_cast<std::atomic<uint32_t>*>(data + layout::RunGroupsOffset(log2));
    auto* hints = reinterpret_cast<std::atomic<uint16_t>*>(data + layout::RunHintsOffset(log2));
    std::mt19937_64 rng(99);
    // Group bases anywhere: inside the file, near its end (hints then reach past it), and the
    // largest there is; hints of every value.
    for (uint64_t g = 0; g < layout::RunGroups(log2); ++g) {
      const uint32_t bases[] = {static_cast<uint32_t>(rng() % (seg.size() / 64)),
                                static_cast<uint32_t>(seg.size() / 64 - 1), UINT32_MAX};
      groups[g].store(bases[g % 3], std::memory_order_relaxed);
    }
    for (uint64_t b = 0; b < (uint64_t{1} << log2); ++b) {
      hints[b].store(static_cast<uint16_t>(rng()), std::memory_order_relaxed);
    }
  }
  ExpectEveryRow(kRows, [](int64_t) { return 1; });
  ExpectCheckOk();
  // Absent ids read as NOT_FOUND whatever the hints say.
  auto r = fs_->GetOnlineFeatures(
      Features({"driver_stats:trips"}, MakeFrame({{"driver_id", Ints({kRows + 1})}})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->results[1].statuses[0], FieldStatus::kNotFound);
}

TEST(RunHintLayout, BucketOrderKeyGroupsEveryBucketAtEveryTableSize) {
  std::mt19937_64 rng(5);
  std::vector<uint64_t> hashes(4096);
  for (uint64_t& h : hashes) h = rng();
  std::sort(hashes.begin(), hashes.end(),
            [](uint64_t a, uint64_t b) { return BucketOrderKey(a) < BucketOrderKey(b); });
  for (uint32_t log2 = 0; log2 <= 12; ++log2) {
    const uint64_t mask = (uint64_t{1} << log2) - 1;
    // In sorted order each bucket appears as one contiguous stretch.
    std::vector<bool> seen(mask + 1, false);
    for (size_t i = 0; i < hashes.size(); ++i) {
      const uint64_t b = hashes[i] & mask;
      if (i > 0 && (hashes[i - 1] & mask) == b) continue;
      ASSERT_FALSE(seen[b]) << "bucket " << b << " of 2^" << log2 << " comes back";
      seen[b] = true;
    }
  }
}

TEST(RunHintLayout, HintsRoundTripWithinTheirGroupsReach) {
  for (int64_t delta : {-2047, -100, 0, 1, 2047}) {
    for (uint32_t lines : {1u, 7u, layout::kMaxRunLines}) {
      const uint16_t h = layout::MakeRunHint(delta, lines);
      ASSERT_NE(h, 0) << delta << " " << lines;
      EXPECT_EQ(layout::RunHintDelta(h), delta);
      EXPECT_EQ(layout::RunHintLines(h), lines);
    }
  }
  EXPECT_EQ(layout::MakeRunHint(2048, 3), 0);
  EXPECT_EQ(layout::MakeRunHint(-2049, 3), 0);
  EXPECT_EQ(layout::MakeRunHint(0, layout::kMaxRunLines + 1), 0);
  // 8 buckets: buckets, one group base, hints. 2^10: 16 group bases.
  EXPECT_EQ(layout::IndexDataBytes(3), 8u * 64 + 4 + 8 * 2);
  EXPECT_EQ(layout::IndexDataBytes(10), 1024u * 64 + 16 * 4 + 1024 * 2);
}

TEST(RunHintLayout, ARunBeyondItsGroupsReachGetsNoHint) {
  // An index of 128 buckets in a private buffer: 2 groups, buckets 0 and 2 share group 0.
  const uint32_t log2 = 7;
  std::vector<uint64_t> table(layout::IndexDataBytes(log2) / 8 + 1, 0);
  uint8_t* data = reinterpret_cast<uint8_t*>(table.data());
  const HashIndex idx = HashIndex::FromDesc(data, 0 | log2);
  const IndexWriter writer(idx);
  const auto* group0 = reinterpret_cast<const uint32_t*>(data + layout::RunGroupsOffset(log2));
  ASSERT_TRUE(writer.StoreRunHint(0, LineRun{100000, 11}));  // sets group 0's base
  EXPECT_EQ(*group0, 100000u);
  ASSERT_TRUE(writer.StoreRunHint(2, LineRun{100000 - 2048, 3}));
  EXPECT_FALSE(writer.StoreRunHint(2, LineRun{100000 + 2048, 3}));  // kept the hint before
  LineRun run;
  ASSERT_TRUE(idx.HintedRun(2, &run));
  EXPECT_EQ(run.first_line, 100000u - 2048);
  EXPECT_EQ(run.lines, 3u);
  EXPECT_FALSE(idx.HintedRun(1, &run));  // group 1: no base, no hint
  ASSERT_TRUE(writer.StoreRunHint(1, LineRun{7, 4}));
  ASSERT_TRUE(idx.HintedRun(1, &run));
  EXPECT_EQ(run.first_line, 7u);
  EXPECT_TRUE(run.Contains(7 * 64 + 63));
  EXPECT_FALSE(run.Contains(11 * 64));
}

}  // namespace
}  // namespace larder

// Materialize writes a bulk load in bucket order (engine/offline/materialize.cc), so its rows land
// in their runs as a bulk push's do.
namespace larder {
namespace {

class MaterializeRuns : public testing::OfflineFixture {};

TEST_F(MaterializeRuns, AMaterializedStoreHasItsRowsInTheirRuns) {
  // More rows than materialize writes per batch (32,768): only a bucket-ordered stream keeps
  // each bucket's rows within one batch, and so side by side.
  constexpr int64_t kRows = 70000;
  std::string csv(testing::kOfflineHeader);
  for (int64_t id = 0; id < kRows; ++id) {
    csv +=
        "2026-03-01T10:00:00Z,," + std::to_string(id) + ",0.5," + std::to_string(id) + ",c,1.5\n";
  }
  testing::Spit(csv_, csv);
  auto r = fs_->Materialize(testing::Ts("2026-03-01T00:00:00Z"),
                            testing::Ts("2026-03-02T00:00:00Z"), {"quality"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->views[0].rows_written, static_cast<uint64_t>(kRows));
  auto info = fs_->Inspect();
  ASSERT_TRUE(info.ok());
  for (const ViewStats& v : info->views) {
    if (v.name != "quality") continue;
    ASSERT_EQ(v.rows, static_cast<uint64_t>(kRows));
    // ~95 %: the rest are buckets whose rows span more than kMaxRunLines lines. Written in
    // the order the file has them, about half would be (each bucket's rows then spread over
    // the three write batches).
    EXPECT_GE(v.rows_in_runs, v.rows * 90 / 100);
  }
  for (int64_t id = 0; id < kRows; id += 97) {
    testing::OneValue one = testing::ReadOne(*fs_, "quality:score", id);
    ASSERT_EQ(one.status, FieldStatus::kPresent) << id;
    EXPECT_EQ(one.value.f64, 1.5);
  }
}

}  // namespace
}  // namespace larder
