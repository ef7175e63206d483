// Tests of the store through the public API (FeatureStore, OnlineReader): apply, the push and
// read paths for every dtype, write ordering, ttl, statuses, fan-out, composite keys, naming,
// every error path, index growth, the memory limit, memory reuse, the read-only mapping and the
// refusal of corrupt or foreign files.
#include <fcntl.h>
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "larder/feature_store.h"
#include "layout/row_generated.h"
#include "layout/segment_layout.h"
#include "tests/store_fixture.h"
#include "tests/test_util.h"

namespace larder {
namespace {

using testing::Arr;
using testing::B;
using testing::Bool;
using testing::Column;
using testing::F;
using testing::Features;
using testing::I;
using testing::Ints;
using testing::IsError;
using testing::kDriverPreamble;
using testing::kMicros;
using testing::MakeFrame;
using testing::Null;
using testing::Range;
using testing::Repeat;
using testing::Repo;
using testing::S;
using testing::SameValue;
using testing::Service;
using testing::StoreOptions;

// One view `driver_stats` (conv_rate Float64, trips Int64) on `stats_push`.
constexpr char kStatsView[] = R"(feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: driver_id, dtype: Int64}
      - {name: conv_rate, dtype: Float64}
      - {name: trips, dtype: Int64}
)";

std::string StatsRepo() { return std::string(kDriverPreamble) + kStatsView; }

// Rows of driver_stats: trips as given, conv_rate = trips / 10, one event and created time.
Frame StatsRows(const std::vector<int64_t>& ids, const std::vector<int64_t>& trips,
                int64_t event_s = 1000, int64_t created_s = 0) {
  std::vector<Cell> conv;
  for (int64_t t : trips) conv.push_back(F(static_cast<double>(t) / 10));
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"conv_rate", std::move(conv)},
                    {"trips", Ints(trips)},
                    {"event_timestamp", Repeat(I(event_s), ids.size())},
                    {"created", Repeat(I(created_s), ids.size())}});
}

Frame DriverIds(const std::vector<int64_t>& ids) { return MakeFrame({{"driver_id", Ints(ids)}}); }

// The `trips` of each id in driver_stats (nullopt when NOT_FOUND); fails the test on errors.
std::vector<std::optional<int64_t>> ReadTrips(FeatureStore& fs, const std::vector<int64_t>& ids,
                                              const std::string& view = "driver_stats") {
  std::vector<std::optional<int64_t>> out(ids.size());
  auto r = fs.GetOnlineFeatures(Features({view + ":trips"}, DriverIds(ids)));
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    return out;
  }
  const FeatureColumn& col = r->results.back();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (col.statuses[i] == FieldStatus::kPresent) out[i] = col.values[i].i64;
  }
  return out;
}

// Number of ids in [0, n) found in driver_stats.
size_t CountPresent(FeatureStore& fs, int64_t n) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(i);
  size_t present = 0;
  for (const auto& v : ReadTrips(fs, ids)) present += v.has_value();
  return present;
}

void ExpectCheckOk(FeatureStore& fs) {
  auto check = fs.Check();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  std::string all;
  for (const std::string& v : check->violations) all += "\n  " + v;
  EXPECT_TRUE(check->ok()) << "Check() found violations:" << all;
}

bool HasMessage(const ApplyReport& r, const std::string& needle) {
  for (const std::string& m : r.messages) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}
std::string Messages(const ApplyReport& r) {
  std::string all;
  for (const std::string& m : r.messages) all += "\n  " + m;
  return all;
}

// ============================================================================================
// Apply

class StoreApply : public testing::StoreFixture {};
class StoreTest : public testing::StoreFixture {};

TEST_F(StoreApply, CreatesTheStoreThenReportsNoChange) {
  repo_.Write(StatsRepo());
  ApplyReport first;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied(&first));
  EXPECT_TRUE(first.created);
  EXPECT_TRUE(first.changed);
  EXPECT_TRUE(HasMessage(first, "created store '" + repo_.segment() + "'")) << Messages(first);
  EXPECT_TRUE(HasMessage(first, "created feature view 'driver_stats'")) << Messages(first);
  struct stat st;
  EXPECT_EQ(::stat(repo_.segment().c_str(), &st), 0);

  LARDER_ASSERT_OK_AND_ASSIGN(ApplyReport second, fs->Apply());
  EXPECT_FALSE(second.created);
  EXPECT_FALSE(second.changed);
  EXPECT_TRUE(HasMessage(second, "no changes")) << Messages(second);

  // A fresh FeatureStore on the same repo sees the same: nothing to do.
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs2, repo_.Open());
  LARDER_ASSERT_OK_AND_ASSIGN(ApplyReport third, fs2->Apply());
  EXPECT_FALSE(third.created);
  EXPECT_FALSE(third.changed);

  // A changed memory_limit alone is no change (the segment keeps its size), but is noted.
  repo_.Write(StatsRepo(), StoreOptions{1000, "32MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs3, repo_.Open());
  LARDER_ASSERT_OK_AND_ASSIGN(ApplyReport fourth, fs3->Apply());
  EXPECT_FALSE(fourth.changed) << Messages(fourth);
  EXPECT_TRUE(HasMessage(fourth, "memory_limit is fixed")) << Messages(fourth);
  ExpectCheckOk(*fs);
}

TEST_F(StoreApply, RegistryChangesKeepOrDropRowsAsDocumented) {
  const std::string other_view = R"(  - name: other_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
)";
  repo_.Write(StatsRepo() + other_view);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1, 2, 3}, {10, 20, 30})));
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{10, 20, 30}));
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}, "other_stats"),
            (std::vector<std::optional<int64_t>>{10, 20, 30}));

  // 1. Adding a view keeps the rows of the others.
  const std::string third_view = R"(  - name: third_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: conv_rate, dtype: Float64}
)";
  repo_.Write(StatsRepo() + other_view + third_view);
  ApplyReport added;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_added, repo_.OpenApplied(&added));
  EXPECT_TRUE(added.changed);
  EXPECT_FALSE(added.created);
  EXPECT_TRUE(HasMessage(added, "created feature view 'third_stats'")) << Messages(added);
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{10, 20, 30}));
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}, "other_stats"),
            (std::vector<std::optional<int64_t>>{10, 20, 30}));

  // 2. A description/ttl-only change keeps every row.
  std::string described = StatsRepo() + other_view + third_view;
  described.replace(described.find("    source: stats_push\n"), 0,
                    "    ttl: 36500d\n    description: changed\n");
  repo_.Write(described);
  ApplyReport meta;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_meta, repo_.OpenApplied(&meta));
  EXPECT_TRUE(meta.changed);
  EXPECT_TRUE(HasMessage(meta,
                         "updated feature view 'driver_stats', keeping its rows: changed "
                         "ttl 0 s -> 3153600000 s, description"))
      << Messages(meta);
  EXPECT_FALSE(HasMessage(meta, "re-created")) << Messages(meta);
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{10, 20, 30}));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo meta_info, fs->Inspect());
  for (const ViewStats& v : meta_info.views) {
    if (v.name == "driver_stats") {
      EXPECT_EQ(v.ttl_seconds, int64_t{36500} * 86400);
    }
  }

  // 3. Adding a feature keeps the rows: those stored before read it as NOT_FOUND, with their
  // timestamp (as Feast reads a feature missing from a stored row), until written again.
  std::string changed = described;
  changed.replace(changed.find("      - {name: trips, dtype: Int64}\n"),
                  std::strlen("      - {name: trips, dtype: Int64}\n"),
                  "      - {name: trips, dtype: Int64}\n      - {name: rating, dtype: Float32}\n");
  repo_.Write(changed);
  ApplyReport grown;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_grown, repo_.OpenApplied(&grown));
  EXPECT_TRUE(grown.changed);
  EXPECT_EQ(grown.rows_discarded, 0u);
  EXPECT_TRUE(HasMessage(grown,
                         "updated feature view 'driver_stats', keeping its rows: added "
                         "feature 'rating' (Float32): NOT_FOUND in the 3 rows stored"))
      << Messages(grown);
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{10, 20, 30}));
  {
    LARDER_ASSERT_OK_AND_ASSIGN(
        OnlineResponse resp, fs->GetOnlineFeatures(Features(
                                 {"driver_stats:trips", "driver_stats:rating"}, DriverIds({1}))));
    EXPECT_EQ(resp.results[2].statuses[0], FieldStatus::kNotFound);
    EXPECT_TRUE(resp.results[2].values[0].is_null);
    EXPECT_EQ(resp.results[2].event_timestamps[0], 1000 * kMicros);
  }
  // A row written now carries it.
  Frame rows = StatsRows({1}, {11});
  rows.names.push_back("rating");
  rows.columns.push_back({F(4.5)});
  LARDER_ASSERT_OK(fs->Push("stats_push", rows));
  {
    LARDER_ASSERT_OK_AND_ASSIGN(
        OnlineResponse resp, fs->GetOnlineFeatures(Features(
                                 {"driver_stats:trips", "driver_stats:rating"}, DriverIds({1}))));
    ASSERT_EQ(resp.results.size(), 3u);
    EXPECT_EQ(resp.results[1].values[0].i64, 11);
    EXPECT_EQ(resp.results[2].values[0].f64, 4.5);
  }
  ExpectCheckOk(*fs);

  // A changed dtype would discard the view's rows: refused without --force, writing nothing.
  std::string retyped = changed;
  retyped.replace(retyped.find("{name: rating, dtype: Float32}"),
                  std::strlen("{name: rating, dtype: Float32}"), "{name: rating, dtype: Int32}");
  repo_.Write(retyped);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before_refusal, fs->Inspect());
  EXPECT_TRUE(IsError(repo_.OpenApplied(), ErrorCode::kInvalidArgument,
                      {"apply would discard 3 rows", "feature view 'driver_stats'",
                       "feature 'rating' changes dtype from Float32 to Int32",
                       "Nothing was changed", "larder apply --force"}));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after_refusal, fs->Inspect());
  EXPECT_EQ(after_refusal.registry_generation, before_refusal.registry_generation);
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{11, 20, 30}));
  // With --force the view is re-created empty; the other views keep their rows.
  ApplyReport recreated;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_recreated,
                              repo_.OpenApplied(&recreated, ApplyOptions{.force = true}));
  EXPECT_EQ(recreated.rows_discarded, 3u);
  EXPECT_TRUE(HasMessage(recreated,
                         "re-created feature view 'driver_stats' empty: feature 'rating' changes "
                         "dtype from Float32 to Int32; its 3 rows were dropped"))
      << Messages(recreated);
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}),
            (std::vector<std::optional<int64_t>>{std::nullopt, std::nullopt, std::nullopt}));
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}, "other_stats"),
            (std::vector<std::optional<int64_t>>{11, 20, 30}));
  // Changing a view's entity keys re-creates it as well (an empty view needs no --force).
  {
    std::string rekeyed = changed;
    rekeyed.replace(rekeyed.find("value_type: Int64"), std::strlen("value_type: Int64"),
                    "value_type: Int32");
    rekeyed.replace(rekeyed.find("{name: driver_id, dtype: Int64}"),
                    std::strlen("{name: driver_id, dtype: Int64}"),
                    "{name: driver_id, dtype: Int32}");
    repo_.Write(rekeyed);
    ApplyReport r;
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs_rekeyed,
                                repo_.OpenApplied(&r, ApplyOptions{.force = true}));
    EXPECT_TRUE(HasMessage(r,
                           "re-created feature view 'driver_stats' empty: its entity key "
                           "columns change from (driver_id Int64) to (driver_id Int32); its 0 "
                           "rows were dropped"))
        << Messages(r);
    EXPECT_EQ(ReadTrips(*fs, {1})[0], std::nullopt);
    // And back (every view is re-created once more); refill driver_stats for step 4.
    repo_.Write(changed);
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs_back,
                                repo_.OpenApplied(nullptr, ApplyOptions{.force = true}));
    EXPECT_EQ(ReadTrips(*fs, {1}, "other_stats")[0], std::nullopt);
    LARDER_ASSERT_OK(fs->Push("stats_push", rows));
    LARDER_ASSERT_OK(fs->Push("stats_push", [] {
      Frame f = StatsRows({2, 3}, {20, 30});
      f.names.push_back("rating");
      f.columns.push_back({Null(), Null()});
      return f;
    }()));
  }

  // 4. Removing a view drops it and its rows; the others keep theirs.
  std::string removed = changed;
  removed.erase(removed.find("  - name: other_stats"), other_view.size());
  repo_.Write(removed);
  EXPECT_TRUE(IsError(repo_.OpenApplied(), ErrorCode::kInvalidArgument,
                      {"apply would discard 3 rows: feature view 'other_stats' would be dropped "
                       "(3 rows)"}));
  ApplyReport dropped;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_dropped,
                              repo_.OpenApplied(&dropped, ApplyOptions{.force = true}));
  EXPECT_TRUE(dropped.changed);
  EXPECT_TRUE(HasMessage(dropped, "dropped feature view 'other_stats' and its 3 rows"))
      << Messages(dropped);
  EXPECT_TRUE(IsError(fs->GetOnlineFeatures(Features({"other_stats:trips"}, DriverIds({1}))),
                      ErrorCode::kFeatureViewNotFound, {"'other_stats'"}));
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{11, 20, 30}));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  // driver_stats' and third_stats' rows; other_stats' were retired with it.
  EXPECT_EQ(info.index_entries, 6u);
  ASSERT_EQ(info.views.size(), 2u);
  for (const ViewStats& v : info.views) EXPECT_EQ(v.rows, 3u) << v.name;
  ExpectCheckOk(*fs);
}

// Check() accounts for every arena byte (a live row, the index, the registry, free, in limbo or
// a pad). A view dropped or re-created with 20,000 rows gives their bytes back: they pass
// through limbo to the free lists, and nothing is left that no list or index word holds.
TEST_F(StoreApply, DroppedAndChangedViewsGiveTheirBytesBack) {
  const std::string other_view = R"(  - name: other_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
)";
  repo_.Write(StatsRepo() + other_view);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  constexpr size_t kRows = 20000;
  std::vector<int64_t> ids(kRows), trips(kRows);
  for (size_t i = 0; i < kRows; ++i) {
    ids[i] = static_cast<int64_t>(i);
    trips[i] = static_cast<int64_t>(i) * 3;
  }
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows(ids, trips)));
  // Two more batches end the epochs the first one's reclamation waits on (no reader is in a
  // lookup): limbo is then empty and every byte is a row, the index, the registry or free.
  // (Its rows carry `rating`, which the re-created driver_stats needs; extra columns are
  // ignored by views without it.)
  auto settle = [&](int64_t event_s) {
    for (int64_t k = 0; k < 2; ++k) {
      Frame f = StatsRows({0}, {0}, event_s + k);
      f.names.push_back("rating");
      f.columns.push_back({Null()});
      LARDER_ASSERT_OK(fs->Push("stats_push", f));
    }
  };
  // The check's account, and that it is sound: no leak, the parts add up to the arena, and
  // the live rows are the bytes `inspect` counts per view.
  auto account = [&](const char* when) {
    ArenaAccount a;
    auto check = fs->Check();
    EXPECT_TRUE(check.ok()) << check.status().ToString();
    if (!check.ok()) return a;
    std::string all;
    for (const std::string& v : check->violations) all += "\n  " + v;
    EXPECT_TRUE(check->ok()) << when << ": Check() found violations:" << all;
    EXPECT_TRUE(check->accounted) << when;
    a = check->bytes;
    EXPECT_EQ(a.leaked, 0u) << when;
    EXPECT_EQ(a.rows + a.index + a.registry + a.free + a.limbo + a.pad, a.arena) << when;
    auto info = fs->Inspect();
    EXPECT_TRUE(info.ok());
    if (!info.ok()) return a;
    uint64_t row_bytes = 0;
    for (const ViewStats& v : info->views) row_bytes += v.row_bytes;
    EXPECT_EQ(a.rows, row_bytes) << when;
    EXPECT_EQ(a.arena, info->arena_used) << when;
    EXPECT_EQ(a.free, info->free_list_bytes) << when;
    EXPECT_EQ(a.limbo, info->limbo_bytes) << when;
    EXPECT_EQ(a.index, info->index_bytes + layout::kIndexDataOffset) << when;  // + its head
    return a;
  };
  auto view_bytes = [&](const std::string& name) {
    auto info = fs->Inspect();
    EXPECT_TRUE(info.ok());
    for (const ViewStats& v : info.ok() ? info->views : std::vector<ViewStats>{}) {
      if (v.name == name) return v.row_bytes;
    }
    ADD_FAILURE() << "no view " << name;
    return uint64_t{0};
  };
  settle(2000);
  const ArenaAccount full = account("after the load");
  ASSERT_EQ(full.limbo, 0u);
  const uint64_t stats_bytes = view_bytes("driver_stats");
  const uint64_t other_bytes = view_bytes("other_stats");
  ASSERT_GT(stats_bytes, kRows * 32);
  ASSERT_GT(other_bytes, kRows * 32);
  EXPECT_EQ(full.rows, stats_bytes + other_bytes);

  // 1. driver_stats re-created (a dtype changed): its 20,000 rows are dropped, and once
  // their epoch has passed, their bytes are free.
  std::string changed = StatsRepo() + other_view;
  changed.replace(changed.find("      - {name: trips, dtype: Int64}\n"),
                  std::strlen("      - {name: trips, dtype: Int64}\n"),
                  "      - {name: trips, dtype: Int32}\n      - {name: rating, dtype: Float32}\n");
  repo_.Write(changed);
  ApplyReport recreated;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_recreated,
                              repo_.OpenApplied(&recreated, ApplyOptions{.force = true}));
  ASSERT_TRUE(HasMessage(recreated, "re-created feature view 'driver_stats'"))
      << Messages(recreated);
  const ArenaAccount retired = account("right after the re-creation");
  EXPECT_GE(retired.limbo + retired.free, full.free + stats_bytes);
  settle(3000);  // one row of the new driver_stats, one of other_stats
  const ArenaAccount after_change = account("after the re-creation");
  EXPECT_EQ(after_change.limbo, 0u);
  // The dropped rows are free (less what the two settling batches took back for their rows).
  EXPECT_GE(after_change.free + 2 * 256, full.free + stats_bytes)
      << "the re-created view's rows did not come back";
  EXPECT_EQ(view_bytes("other_stats"), other_bytes);

  // 2. other_stats removed: its rows come back as well.
  std::string removed = changed;
  removed.erase(removed.find("  - name: other_stats"), other_view.size());
  repo_.Write(removed);
  ApplyReport dropped;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_dropped,
                              repo_.OpenApplied(&dropped, ApplyOptions{.force = true}));
  ASSERT_TRUE(HasMessage(dropped, "dropped feature view 'other_stats' and its 20000 rows"))
      << Messages(dropped);
  settle(4000);
  const ArenaAccount after_drop = account("after the drop");
  EXPECT_EQ(after_drop.limbo, 0u);
  EXPECT_GE(after_drop.free + 2 * 256, after_change.free + other_bytes)
      << "the dropped view's rows did not come back";
  // Only driver_stats' one settled row is left.
  EXPECT_EQ(after_drop.rows, view_bytes("driver_stats"));
  EXPECT_LT(after_drop.rows, 256u);
}

// Inspect holds an epoch only while it reads the arena: its listing of the reader table (a
// /proc read per claimed slot, slow on a loaded machine) must not hold reclamation back, so the
// inspecting thread's own slot is listed idle.
TEST_F(StoreTest, InspectListsReadersOutsideItsEpoch) {
  repo_.Write(StatsRepo());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1, 2}, {10, 20})));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  const auto self = std::find_if(info.readers.begin(), info.readers.end(), [](const ReaderInfo& r) {
    return r.pid == static_cast<uint64_t>(::getpid());
  });
  ASSERT_NE(self, info.readers.end()) << "the inspecting thread's slot is not listed";
  EXPECT_TRUE(self->alive);
  EXPECT_EQ(self->epoch, 0u);
}

// ============================================================================================
// Every dtype round trip

constexpr char kAllTypesRepo[] = R"(feature_views:
  - name: all_types
    entities: [driver]
    source: stats_push
    schema:
      - {name: i32, dtype: Int32}
      - {name: i64, dtype: Int64}
      - {name: f32, dtype: Float32}
      - {name: f64, dtype: Float64}
      - {name: str, dtype: String}
      - {name: byt, dtype: Bytes}
      - {name: boo, dtype: Bool}
      - {name: ts, dtype: UnixTimestamp}
      - {name: a_i32, dtype: Array(Int32)}
      - {name: a_i64, dtype: Array(Int64)}
      - {name: a_f32, dtype: Array(Float32)}
      - {name: a_f64, dtype: Array(Float64)}
      - {name: a_str, dtype: Array(String)}
      - {name: a_byt, dtype: Array(Bytes)}
      - {name: a_boo, dtype: Array(Bool)}
      - {name: a_ts, dtype: Array(UnixTimestamp)}
)";

constexpr const char* kAllTypeNames[] = {"i32",   "i64",   "f32",   "f64",   "str",   "byt",
                                         "boo",   "ts",    "a_i32", "a_i64", "a_f32", "a_f64",
                                         "a_str", "a_byt", "a_boo", "a_ts"};

Value ArrInts(ScalarType t, std::vector<int64_t> v) {
  Value x = Value::Null({t, true});
  x.is_null = false;
  x.i64s = std::move(v);
  return x;
}
Value ArrFloats(ScalarType t, std::vector<double> v) {
  Value x = Value::Null({t, true});
  x.is_null = false;
  x.f64s = std::move(v);
  return x;
}
Value ArrStrs(ScalarType t, std::vector<std::string> v) {
  Value x = Value::Null({t, true});
  x.is_null = false;
  x.strs = std::move(v);
  return x;
}

TEST_F(StoreTest, RoundTripsEveryDtypeWithNullsAndExtremes) {
  repo_.Write(std::string(kDriverPreamble) + kAllTypesRepo);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  // UTF-8 text with a NUL inside.
  const std::string text = std::string("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x97 ") +
                           std::string(1, '\0') + " nul";

  // Entity 1: minima, NaNs, empty strings and arrays. Entity 2: maxima, infinities, odd text.
  // Entity 3: every feature null. Entity 4: values given as strings (CSV-style).
  std::vector<Column> cols = {
      {"driver_id", Ints({1, 2, 3, 4})},
      {"event_timestamp", {I(100), I(100), I(100), S("2022-05-13 10:59:42+00:00")}},
      {"created", {Null(), Null(), Null(), Null()}},
      {"i32", {I(INT32_MIN), I(INT32_MAX), Null(), S("-7")}},
      {"i64", {I(INT64_MIN), I(INT64_MAX), Null(), S("9223372036854775807")}},
      {"f32", {F(nan), F(inf), Null(), S("-1.5")}},
      {"f64", {F(nan), F(-DBL_MAX), Null(), S("1e-300")}},
      {"str", {S(""), S(text), Null(), S("x")}},
      {"byt", {B(""), B(all_bytes), Null(), S("AAH/")}},
      {"boo", {Bool(false), Bool(true), Null(), S("true")}},
      {"ts", {I(-1), S("9999-12-31T23:59:59.999999Z"), Null(), S("1970-01-01")}},
      {"a_i32", {Arr({}), Arr({I(INT32_MIN), I(0), I(INT32_MAX)}), Null(), S("[1,2]")}},
      {"a_i64", {Arr({}), Arr({I(INT64_MIN), I(INT64_MAX)}), Null(), S("[3]")}},
      {"a_f32", {Arr({}), Arr({F(nan), F(-inf), F(FLT_MAX), F(FLT_TRUE_MIN)}), Null(), S("[0.5]")}},
      {"a_f64", {Arr({}), Arr({F(nan), F(inf), F(DBL_TRUE_MIN), F(-0.0)}), Null(), S("[2.5]")}},
      {"a_str",
       {Arr({}), Arr({S(""), S("\xc3\xa9"), S(std::string(1000, 'z'))}), Null(),
        S("[\"a\",\"\"]")}},
      {"a_byt", {Arr({}), Arr({B(std::string("\0\xff", 2)), B("")}), Null(), S("[\"AP8=\"]")}},
      {"a_boo", {Arr({}), Arr({Bool(true), Bool(false), Bool(true)}), Null(), S("[true]")}},
      {"a_ts", {Arr({}), Arr({I(0), S("2022-05-13T10:59:42.123456Z")}), Null(), S("[1]")}},
  };
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult pr, fs->Push("stats_push", MakeFrame(std::move(cols))));
  EXPECT_EQ(pr.rows_in, 4u);
  EXPECT_EQ(pr.views, 1u);
  EXPECT_EQ(pr.rows_written, 4u);
  EXPECT_EQ(pr.rows_skipped, 0u);

  using T = ScalarType;
  const int64_t ts_2022 = 1652439582 * kMicros;
  std::vector<std::vector<Value>> want = {
      // entity 1
      {Value::Int32(INT32_MIN), Value::Int64(INT64_MIN), Value::Float32(NAN), Value::Float64(nan),
       Value::String(""), Value::Bytes(""), Value::Bool(false), Value::Timestamp(-kMicros),
       ArrInts(T::kInt32, {}), ArrInts(T::kInt64, {}), ArrFloats(T::kFloat32, {}),
       ArrFloats(T::kFloat64, {}), ArrStrs(T::kString, {}), ArrStrs(T::kBytes, {}),
       ArrInts(T::kBool, {}), ArrInts(T::kUnixTimestamp, {})},
      // entity 2
      {Value::Int32(INT32_MAX), Value::Int64(INT64_MAX), Value::Float32(INFINITY),
       Value::Float64(-DBL_MAX), Value::String(text), Value::Bytes(all_bytes), Value::Bool(true),
       Value::Timestamp(253402300799999999), ArrInts(T::kInt32, {INT32_MIN, 0, INT32_MAX}),
       ArrInts(T::kInt64, {INT64_MIN, INT64_MAX}),
       ArrFloats(T::kFloat32, {nan, -inf, FLT_MAX, FLT_TRUE_MIN}),
       ArrFloats(T::kFloat64, {nan, inf, DBL_TRUE_MIN, -0.0}),
       ArrStrs(T::kString, {"", "\xc3\xa9", std::string(1000, 'z')}),
       ArrStrs(T::kBytes, {std::string("\0\xff", 2), ""}), ArrInts(T::kBool, {1, 0, 1}),
       ArrInts(T::kUnixTimestamp, {0, ts_2022 + 123456})},
      // entity 3: nulls (filled below)
      {},
      // entity 4
      {Value::Int32(-7), Value::Int64(INT64_MAX), Value::Float32(-1.5f), Value::Float64(1e-300),
       Value::String("x"), Value::Bytes(std::string("\0\x01\xff", 3)), Value::Bool(true),
       Value::Timestamp(0), ArrInts(T::kInt32, {1, 2}), ArrInts(T::kInt64, {3}),
       ArrFloats(T::kFloat32, {0.5}), ArrFloats(T::kFloat64, {2.5}), ArrStrs(T::kString, {"a", ""}),
       ArrStrs(T::kBytes, {std::string("\0\xff", 2)}), ArrInts(T::kBool, {1}),
       ArrInts(T::kUnixTimestamp, {kMicros})},
  };
  for (const Value& v : want[0]) want[2].push_back(Value::Null(v.dtype));

  std::vector<std::string> refs;
  for (const char* n : kAllTypeNames) refs.push_back(std::string("all_types:") + n);
  // Also read through a read-only reader: both paths decode the same bytes.
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  for (int pass = 0; pass < 2; ++pass) {
    auto got = pass == 0 ? fs->GetOnlineFeatures(Features(refs, DriverIds({1, 2, 3, 4, 5})))
                         : reader->GetOnlineFeatures(Features(refs, DriverIds({1, 2, 3, 4, 5})));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->results.size(), 17u);
    EXPECT_EQ(got->feature_names[0], "driver_id");
    for (size_t f = 0; f < 16; ++f) {
      const FeatureColumn& col = got->results[f + 1];
      EXPECT_EQ(got->feature_names[f + 1], kAllTypeNames[f]);
      ASSERT_EQ(col.values.size(), 5u);
      for (size_t e = 0; e < 4; ++e) {
        SCOPED_TRACE("pass " + std::to_string(pass) + " entity " + std::to_string(e + 1) +
                     " feature " + kAllTypeNames[f]);
        EXPECT_TRUE(SameValue(want[e][f], col.values[e]));
        EXPECT_EQ(col.statuses[e], e == 2 ? FieldStatus::kNullValue : FieldStatus::kPresent);
        EXPECT_EQ(col.event_timestamps[e], e == 3 ? ts_2022 : 100 * kMicros);
      }
      // Entity 5 was never pushed.
      EXPECT_EQ(col.statuses[4], FieldStatus::kNotFound);
      EXPECT_TRUE(col.values[4].is_null);
      EXPECT_EQ(col.event_timestamps[4], 0);
    }
  }
  ExpectCheckOk(*fs);
}

// ============================================================================================
// Write ordering

TEST_F(StoreTest, OrderingRuleOnEventThenCreatedTimestamp) {
  repo_.Write(StatsRepo());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  auto push = [&](int64_t trips, int64_t event_s, int64_t created_s) {
    auto r = fs->Push("stats_push", StatsRows({1}, {trips}, event_s, created_s));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : PushResult{};
  };
  auto trips = [&] { return ReadTrips(*fs, {1})[0]; };

  EXPECT_EQ(push(1, 100, 0).rows_written, 1u);
  // Older event: skipped, whatever its created time.
  PushResult older = push(2, 50, 999);
  EXPECT_EQ(older.rows_written, 0u);
  EXPECT_EQ(older.rows_skipped, 1u);
  EXPECT_EQ(trips(), 1);
  // Same event, newer created: wins.
  EXPECT_EQ(push(3, 100, 5).rows_written, 1u);
  EXPECT_EQ(trips(), 3);
  // Same event, older created: skipped.
  EXPECT_EQ(push(4, 100, 4).rows_skipped, 1u);
  EXPECT_EQ(trips(), 3);
  // Exactly the same pair: the replay wins.
  EXPECT_EQ(push(5, 100, 5).rows_written, 1u);
  EXPECT_EQ(trips(), 5);
  // Newer event with an older created time: wins (event time decides first).
  EXPECT_EQ(push(6, 101, 0).rows_written, 1u);
  EXPECT_EQ(trips(), 6);
  LARDER_ASSERT_OK_AND_ASSIGN(
      OnlineResponse r, fs->GetOnlineFeatures(Features({"driver_stats:trips"}, DriverIds({1}))));
  EXPECT_EQ(r.results[1].event_timestamps[0], 101 * kMicros);

  // Duplicate entity rows in one push: the later-ordered one wins, whatever the frame order.
  Frame dup = MakeFrame({{"driver_id", Ints({2, 2, 2, 3, 3, 4, 4})},
                         {"conv_rate", Repeat(F(0), 7)},
                         {"trips", Ints({10, 30, 20, 41, 42, 51, 52})},
                         {"event_timestamp", Ints({10, 30, 20, 40, 40, 60, 60})},
                         {"created", {Null(), Null(), Null(), I(1), I(1), I(2), I(1)}}});
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult pr, fs->Push("stats_push", dup));
  EXPECT_EQ(pr.rows_in, 7u);
  // 2: 10 then 30 written, 20 skipped; 3: both written (equal pair); 4: 51 written, 52 skipped.
  EXPECT_EQ(pr.rows_written, 5u);
  EXPECT_EQ(pr.rows_skipped, 2u);
  EXPECT_EQ(ReadTrips(*fs, {2, 3, 4}), (std::vector<std::optional<int64_t>>{30, 42, 51}));

  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  EXPECT_EQ(info.rows_skipped_older, 4u);
  EXPECT_EQ(info.index_entries, 4u);
  ExpectCheckOk(*fs);
}

// ============================================================================================
// ttl, statuses, fan-out

constexpr char kTtlViews[] = R"(feature_views:
  - name: stats_1h
    entities: [driver]
    ttl: 1h
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
  - name: stats_forever
    entities: [driver]
    ttl: 0
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
  - name: stats_offline
    entities: [driver]
    source: stats_push
    online: false
    schema:
      - {name: trips, dtype: Int64}
  - name: stats_other_source
    entities: [driver]
    source: stats_file
    schema:
      - {name: trips, dtype: Int64}
)";

TEST_F(StoreTest, TtlStatusesAndFanOut) {
  repo_.Write(std::string(kDriverPreamble) + kTtlViews);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  const int64_t now = testing::NowSeconds();
  // 1: two hours old; 2: ten minutes old; 3: in the future; 4: at the epoch (1970); 5: null trips.
  Frame rows = MakeFrame({{"driver_id", Ints({1, 2, 3, 4, 5})},
                          {"trips", {I(1), I(2), I(3), I(4), Null()}},
                          {"event_timestamp", Ints({now - 7200, now - 600, now + 86400, 1, now})},
                          {"created", Repeat(Null(), 5)}});
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult pr, fs->Push("stats_push", rows));
  // Fan-out: the two online views reading stats_push; not the online: false one.
  EXPECT_EQ(pr.views, 2u);
  EXPECT_EQ(pr.rows_written, 10u);

  LARDER_ASSERT_OK_AND_ASSIGN(
      OnlineResponse r,
      fs->GetOnlineFeatures(Features({"stats_1h:trips", "stats_forever:trips",
                                      "stats_offline:trips", "stats_other_source:trips"},
                                     DriverIds({1, 2, 3, 4, 5, 6}), /*full=*/true)));
  ASSERT_EQ(r.feature_names,
            (std::vector<std::string>{"driver_id", "stats_1h__trips", "stats_forever__trips",
                                      "stats_offline__trips", "stats_other_source__trips"}));
  using FS = FieldStatus;
  // Join-key column first: the request's values, PRESENT, timestamp 0.
  for (size_t e = 0; e < 6; ++e) {
    EXPECT_EQ(r.results[0].statuses[e], FS::kPresent);
    EXPECT_EQ(r.results[0].event_timestamps[e], 0);
    EXPECT_TRUE(SameValue(Value::Int64(static_cast<int64_t>(e + 1)), r.results[0].values[e]));
  }
  EXPECT_EQ(r.results[1].statuses,
            (std::vector<FS>{FS::kOutsideMaxAge, FS::kPresent, FS::kPresent, FS::kOutsideMaxAge,
                             FS::kNullValue, FS::kNotFound}));
  EXPECT_EQ(r.results[2].statuses, (std::vector<FS>{FS::kPresent, FS::kPresent, FS::kPresent,
                                                    FS::kPresent, FS::kNullValue, FS::kNotFound}));
  // Values are returned even when outside max age; timestamps are the rows' event times.
  EXPECT_EQ(r.results[1].values[0].i64, 1);
  EXPECT_FALSE(r.results[1].values[0].is_null);
  EXPECT_EQ(r.results[1].event_timestamps[0], (now - 7200) * kMicros);
  EXPECT_EQ(r.results[2].event_timestamps[3], 1 * kMicros);
  EXPECT_TRUE(r.results[2].values[4].is_null);
  EXPECT_EQ(r.results[2].event_timestamps[4], now * kMicros);
  // NOT_FOUND: value null (of the feature's dtype), timestamp 0.
  EXPECT_TRUE(r.results[2].values[5].is_null);
  EXPECT_EQ(r.results[2].values[5].dtype, (DType{ScalarType::kInt64, false}));
  EXPECT_EQ(r.results[2].event_timestamps[5], 0);
  for (int c : {3, 4}) {
    EXPECT_EQ(r.results[c].statuses, std::vector<FS>(6, FS::kNotFound)) << r.feature_names[c];
  }

  // WriteToOnlineStore writes one view, even one whose source is a file source.
  LARDER_ASSERT_OK_AND_ASSIGN(
      PushResult w, fs->WriteToOnlineStore("stats_other_source", StatsRows({7}, {70}, now)));
  EXPECT_EQ(w.views, 1u);
  EXPECT_EQ(w.rows_written, 1u);
  EXPECT_EQ(ReadTrips(*fs, {7}, "stats_other_source")[0], 70);
  EXPECT_EQ(ReadTrips(*fs, {7}, "stats_forever")[0], std::nullopt);

  // An empty frame writes nothing (and is no error).
  LARDER_ASSERT_OK_AND_ASSIGN(
      PushResult empty,
      fs->Push(
          "stats_push",
          MakeFrame({{"driver_id", {}}, {"trips", {}}, {"event_timestamp", {}}, {"created", {}}})));
  EXPECT_EQ(empty.rows_written, 0u);

  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  for (const ViewStats& v : info.views) {
    uint64_t want = v.name == "stats_offline" ? 0 : v.name == "stats_other_source" ? 1 : 5;
    EXPECT_EQ(v.rows, want) << v.name;
    if (v.name == "stats_1h") {
      EXPECT_EQ(v.ttl_seconds, 3600);
    }
  }
  ExpectCheckOk(*fs);
}

// ============================================================================================
// Composite and string keys

constexpr char kCompositeRepo[] = R"(entities:
  - name: driver
    join_keys: [driver_id]
    value_type: Int64
  - name: city
    join_keys: [city_id]
    value_type: String
  - name: route
    join_keys: [from_stop, to_stop]
    value_type: Int32
  - name: blob
    value_type: Bytes
sources:
  - name: trips_file
    type: file
    path: data/trips.csv
    timestamp_field: ts
  - name: trips_push
    type: push
    batch_source: trips_file
feature_views:
  - name: driver_city
    entities: [driver, city]
    source: trips_push
    schema:
      - {name: city_id, dtype: String}
      - {name: dc_trips, dtype: Int64}
  - name: route_stats
    entities: [route]
    source: trips_push
    schema:
      - {name: minutes, dtype: Float64}
  - name: blob_stats
    entities: [blob]
    source: trips_push
    schema:
      - {name: size, dtype: Int64}
)";

TEST_F(StoreTest, CompositeAndStringKeys) {
  repo_.Write(kCompositeRepo);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  const std::string long_city(3000, 'c');
  Frame rows = MakeFrame({
      {"driver_id", Ints({1, 1, 2, 2})},
      {"city_id", {S("paris"), S(""), S("paris"), S(long_city)}},
      {"dc_trips", Ints({11, 10, 21, 22})},
      {"from_stop", Ints({1, 2, 1, -5})},
      {"to_stop", Ints({2, 1, 1, INT32_MAX})},
      {"minutes", {F(1.5), F(2.5), F(0), F(9)}},
      {"blob", {B("a"), B(std::string("a\0", 2)), B(""), B("\xff")}},
      {"size", Ints({1, 2, 0, 255})},
      {"ts", Repeat(I(1000), 4)},
  });
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult pr, fs->Push("trips_push", rows));
  EXPECT_EQ(pr.views, 3u);
  EXPECT_EQ(pr.rows_written, 12u);

  // Two entities: every (driver, city) pair is its own row.
  Frame dc = MakeFrame(
      {{"city_id", {S("paris"), S(""), S("paris"), S(long_city), S("rome"), S(long_city + "x")}},
       {"driver_id", Ints({1, 1, 2, 2, 1, 2})}});
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r,
                              fs->GetOnlineFeatures(Features({"driver_city:dc_trips"}, dc)));
  // Entity columns come first, in the request's order.
  ASSERT_EQ(r.feature_names, (std::vector<std::string>{"city_id", "driver_id", "dc_trips"}));
  EXPECT_TRUE(SameValue(Value::String("paris"), r.results[0].values[0]));
  EXPECT_TRUE(SameValue(Value::Int64(2), r.results[1].values[3]));
  std::vector<int64_t> want = {11, 10, 21, 22};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.results[2].statuses[i], FieldStatus::kPresent) << i;
    EXPECT_EQ(r.results[2].values[i].i64, want[i]) << i;
  }
  EXPECT_EQ(r.results[2].statuses[4], FieldStatus::kNotFound);
  EXPECT_EQ(r.results[2].statuses[5], FieldStatus::kNotFound);

  // One entity with two join keys: (1, 2) and (2, 1) differ.
  Frame routes = MakeFrame(
      {{"from_stop", Ints({1, 2, 1, -5, 2})}, {"to_stop", Ints({2, 1, 1, INT32_MAX, 2})}});
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse rr,
                              fs->GetOnlineFeatures(Features({"route_stats:minutes"}, routes)));
  ASSERT_EQ(rr.results.size(), 3u);
  EXPECT_TRUE(SameValue(Value::Int32(-5), rr.results[0].values[3]));
  std::vector<double> minutes = {1.5, 2.5, 0, 9};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(rr.results[2].values[i].f64, minutes[i]) << i;
  EXPECT_EQ(rr.results[2].statuses[4], FieldStatus::kNotFound);

  // Bytes keys: "a" and "a\0" differ; the empty key is a key.
  Frame blobs = MakeFrame({{"blob", {B("a"), B(std::string("a\0", 2)), B(""), B("\xff"), B("b")}}});
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse br,
                              fs->GetOnlineFeatures(Features({"blob_stats:size"}, blobs)));
  EXPECT_EQ(br.results[1].values[0].i64, 1);
  EXPECT_EQ(br.results[1].values[1].i64, 2);
  EXPECT_EQ(br.results[1].values[2].i64, 0);
  EXPECT_EQ(br.results[1].statuses[2], FieldStatus::kPresent);
  EXPECT_EQ(br.results[1].values[3].i64, 255);
  EXPECT_EQ(br.results[1].statuses[4], FieldStatus::kNotFound);

  // A request reading two views with different keys needs every key column.
  LARDER_ASSERT_OK_AND_ASSIGN(
      OnlineResponse both,
      fs->GetOnlineFeatures(Features({"driver_city:dc_trips", "route_stats:minutes"},
                                     MakeFrame({{"driver_id", Ints({1})},
                                                {"city_id", {S("paris")}},
                                                {"from_stop", Ints({1})},
                                                {"to_stop", Ints({2})}}))));
  ASSERT_EQ(both.results.size(), 6u);
  EXPECT_EQ(both.results[4].values[0].i64, 11);
  EXPECT_EQ(both.results[5].values[0].f64, 1.5);

  // An entity key over the 4096-byte limit is refused, naming the row.
  Frame huge = rows;
  huge.columns[1][0] = S(std::string(5000, 'h'));
  EXPECT_TRUE(IsError(fs->Push("trips_push", huge), ErrorCode::kInvalidArgument,
                      {"request body row 1", "exceeds the limit of 4096"}));
  ExpectCheckOk(*fs);
}

// ============================================================================================
// Naming: full_feature_names, ambiguous short names, feature services

constexpr char kNamingViews[] = R"(feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: conv_rate, dtype: Float64}
      - {name: trips, dtype: Int64}
  - name: driver_quality
    entities: [driver]
    source: stats_push
    schema:
      - {name: conv_rate, dtype: Float64}
      - {name: rating, dtype: Float64}
feature_services:
  - name: ranking_v1
    features:
      - driver_stats: [trips]
      - driver_quality
  - name: ambiguous_v1
    features:
      - driver_stats
      - driver_quality: [conv_rate]
)";

TEST_F(StoreTest, FeatureNamingAndServices) {
  repo_.Write(std::string(kDriverPreamble) + kNamingViews);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  Frame rows = StatsRows({1, 2}, {10, 20});
  rows.names.push_back("rating");
  rows.columns.push_back({F(4.5), F(3.5)});
  LARDER_ASSERT_OK(fs->Push("stats_push", rows));

  LARDER_ASSERT_OK_AND_ASSIGN(
      OnlineResponse shortn, fs->GetOnlineFeatures(Features(
                                 {"driver_stats:trips", "driver_quality:rating"}, DriverIds({2}))));
  EXPECT_EQ(shortn.feature_names, (std::vector<std::string>{"driver_id", "trips", "rating"}));
  EXPECT_EQ(shortn.results[1].values[0].i64, 20);
  EXPECT_EQ(shortn.results[2].values[0].f64, 3.5);

  LARDER_ASSERT_OK_AND_ASSIGN(
      OnlineResponse full,
      fs->GetOnlineFeatures(Features({"driver_stats:conv_rate", "driver_quality:conv_rate"},
                                     DriverIds({1}), /*full=*/true)));
  EXPECT_EQ(full.feature_names, (std::vector<std::string>{"driver_id", "driver_stats__conv_rate",
                                                          "driver_quality__conv_rate"}));
  EXPECT_EQ(full.results[1].values[0].f64, 1.0);
  EXPECT_EQ(full.results[2].values[0].f64, 1.0);

  // Two features with one short name and no full names: an error naming both views.
  EXPECT_TRUE(IsError(fs->GetOnlineFeatures(Features(
                          {"driver_stats:conv_rate", "driver_quality:conv_rate"}, DriverIds({1}))),
                      ErrorCode::kInvalidArgument,
                      {"'conv_rate'", "'driver_stats'", "'driver_quality'", "full_feature_names"}));

  // A service: projections in order, a whole view expands to all its features.
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse svc,
                              fs->GetOnlineFeatures(Service("ranking_v1", DriverIds({1, 3}))));
  EXPECT_EQ(svc.feature_names,
            (std::vector<std::string>{"driver_id", "trips", "conv_rate", "rating"}));
  EXPECT_EQ(svc.results[1].values[0].i64, 10);
  EXPECT_EQ(svc.results[3].values[0].f64, 4.5);
  EXPECT_EQ(svc.results[3].statuses[1], FieldStatus::kNotFound);
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse svc_full,
                              fs->GetOnlineFeatures(Service("ranking_v1", DriverIds({1}), true)));
  EXPECT_EQ(svc_full.feature_names,
            (std::vector<std::string>{"driver_id", "driver_stats__trips",
                                      "driver_quality__conv_rate", "driver_quality__rating"}));
  // A service whose projections collide needs full names.
  EXPECT_TRUE(IsError(fs->GetOnlineFeatures(Service("ambiguous_v1", DriverIds({1}))),
                      ErrorCode::kInvalidArgument, {"'conv_rate'", "full_feature_names"}));
  LARDER_EXPECT_OK(fs->GetOnlineFeatures(Service("ambiguous_v1", DriverIds({1}), true)));
  ExpectCheckOk(*fs);
}

// ============================================================================================
// Errors

TEST_F(StoreTest, PushErrorsWriteNothing) {
  repo_.Write(StatsRepo());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1}, {1})));
  auto untouched = [&] {
    EXPECT_EQ(ReadTrips(*fs, {1, 2, 3, 4}),
              (std::vector<std::optional<int64_t>>{1, std::nullopt, std::nullopt, std::nullopt}));
  };
  auto without = [](Frame f, const std::string& col) {
    int c = f.FindColumn(col);
    f.names.erase(f.names.begin() + c);
    f.columns.erase(f.columns.begin() + c);
    return f;
  };
  // Rows 1..3 are valid in every frame below except where noted; entity 1 gets a new value.
  Frame good = StatsRows({2, 3, 1}, {20, 30, 100}, 5000);

  EXPECT_TRUE(IsError(fs->Push("no_such_source", good), ErrorCode::kPushSourceNotFound,
                      {"push source 'no_such_source' is not in the registry"}));
  // A file source is not a push source.
  EXPECT_TRUE(
      IsError(fs->Push("stats_file", good), ErrorCode::kPushSourceNotFound, {"'stats_file'"}));
  EXPECT_TRUE(IsError(fs->Push("stats_push", without(good, "driver_id")),
                      ErrorCode::kInvalidArgument,
                      {"request body: feature view 'driver_stats' needs column 'driver_id' "
                       "(join key), missing from the request (nothing was written)"}));
  EXPECT_TRUE(IsError(fs->Push("stats_push", without(good, "trips")), ErrorCode::kInvalidArgument,
                      {"needs column 'trips' (feature)"}));
  EXPECT_TRUE(IsError(fs->Push("stats_push", without(good, "event_timestamp")),
                      ErrorCode::kInvalidArgument,
                      {"needs column 'event_timestamp' (timestamp field)"}));
  // Every missing column is named at once.
  EXPECT_TRUE(IsError(fs->Push("stats_push", without(without(good, "trips"), "driver_id")),
                      ErrorCode::kInvalidArgument,
                      {"needs columns 'driver_id' (join key), 'trips' (feature)"}));
  untouched();

  // A bad value in row 3: rows 1 and 2 (valid) are not written either.
  Frame bad_value = StatsRows({2, 3, 4}, {20, 30, 40}, 5000);
  bad_value.columns[2][2] = S("forty");
  EXPECT_TRUE(IsError(fs->Push("stats_push", bad_value), ErrorCode::kInvalidArgument,
                      {"request body row 3, column 'trips'", "\"forty\"", "Int64"}));
  Frame bad_float = StatsRows({2, 3, 4}, {20, 30, 40}, 5000);
  bad_float.columns[1][1] = Bool(true);
  EXPECT_TRUE(IsError(fs->Push("stats_push", bad_float), ErrorCode::kInvalidArgument,
                      {"row 2, column 'conv_rate'", "Float64"}));
  Frame bad_key = StatsRows({2, 3, 4}, {20, 30, 40}, 5000);
  bad_key.columns[0][2] = S("x");
  EXPECT_TRUE(IsError(fs->Push("stats_push", bad_key), ErrorCode::kInvalidArgument,
                      {"row 3, column 'driver_id'"}));
  Frame null_key = StatsRows({2, 3, 4}, {20, 30, 40}, 5000);
  null_key.columns[0][1] = Null();
  EXPECT_TRUE(IsError(fs->Push("stats_push", null_key), ErrorCode::kInvalidArgument,
                      {"row 2, column 'driver_id'"}));
  // CSV origins name the line.
  Frame csv_bad = bad_value;
  csv_bad.origin = "push.csv";
  csv_bad.row_lines = {2, 3, 7};
  EXPECT_TRUE(IsError(fs->Push("stats_push", csv_bad), ErrorCode::kInvalidArgument,
                      {"push.csv line 7, column 'trips'"}));
  // Unparsable and missing timestamps.
  Frame bad_ts = StatsRows({2, 3, 4}, {20, 30, 40}, 5000);
  bad_ts.columns[3][1] = S("2022-13-01 00:00:00");
  EXPECT_TRUE(IsError(
      fs->Push("stats_push", bad_ts), ErrorCode::kInvalidArgument,
      {"row 2, column 'event_timestamp'", "invalid timestamp '2022-13-01 00:00:00'", "month 13"}));
  Frame null_ts = StatsRows({2, 3, 4}, {20, 30, 40}, 5000);
  null_ts.columns[3][2] = Null();
  EXPECT_TRUE(IsError(fs->Push("stats_push", null_ts), ErrorCode::kInvalidArgument,
                      {"row 3, column 'event_timestamp'", "null"}));
  Frame bad_created = StatsRows({2, 3, 4}, {20, 30, 40}, 5000);
  bad_created.columns[4][0] = S("yesterday");
  EXPECT_TRUE(IsError(fs->Push("stats_push", bad_created), ErrorCode::kInvalidArgument,
                      {"row 1, column 'created'", "invalid timestamp 'yesterday'"}));
  // Columns of unequal length.
  Frame ragged = StatsRows({2, 3, 4}, {20, 30, 40}, 5000);
  ragged.columns[2].pop_back();
  EXPECT_TRUE(IsError(fs->Push("stats_push", ragged), ErrorCode::kInvalidArgument,
                      {"column 'trips' has 2"}));
  // Duplicate column names.
  Frame dup_col = StatsRows({2}, {20}, 5000);
  dup_col.names.push_back("trips");
  dup_col.columns.push_back({I(1)});
  EXPECT_TRUE(IsError(fs->Push("stats_push", dup_col), ErrorCode::kInvalidArgument,
                      {"duplicate column 'trips'"}));
  // Offline targets refuse bad requests too (tests/offline_test.cc covers them).
  for (PushMode mode : {PushMode::kOffline, PushMode::kOnlineAndOffline}) {
    EXPECT_TRUE(IsError(fs->Push("stats_push", bad_value, mode), ErrorCode::kInvalidArgument,
                        {"request body row 3, column 'trips'"}));
  }
  EXPECT_TRUE(IsError(fs->WriteToOnlineStore("no_view", good), ErrorCode::kFeatureViewNotFound,
                      {"feature view 'no_view' is not in the registry"}));
  untouched();

  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  EXPECT_EQ(info.rows_written, 1u);
  EXPECT_EQ(info.index_entries, 1u);
  ExpectCheckOk(*fs);
  // And the store still takes the good frame.
  LARDER_ASSERT_OK(fs->Push("stats_push", good));
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{100, 20, 30}));
  // The created-timestamp column is optional: without it every row's created time is 0, so an
  // equal event time replaces a row created at 0 but not one created later.
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1, 2}, {101, 21}, 5000, 3)));
  LARDER_ASSERT_OK_AND_ASSIGN(
      PushResult pr, fs->Push("stats_push", without(StatsRows({2, 3}, {22, 31}, 5000), "created")));
  EXPECT_EQ(pr.rows_written, 1u);
  EXPECT_EQ(pr.rows_skipped, 1u);
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{101, 21, 31}));
}

TEST_F(StoreTest, ReadErrors) {
  repo_.Write(std::string(kDriverPreamble) + kNamingViews);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  const Frame ids = DriverIds({1});
  // Every error is the same through the writer's store and a read-only reader.
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "FeatureStore" : "OnlineReader");
    auto get = [&](const OnlineRequest& req) {
      return pass == 0 ? fs->GetOnlineFeatures(req) : reader->GetOnlineFeatures(req);
    };
    EXPECT_TRUE(IsError(get(Features({"nope:trips"}, ids)), ErrorCode::kFeatureViewNotFound,
                        {"feature view 'nope' is not in the registry"}));
    EXPECT_TRUE(IsError(get(Features({"driver_stats:nope"}, ids)), ErrorCode::kFeatureNotFound,
                        {"feature 'nope' is not in feature view 'driver_stats'"}));
    EXPECT_TRUE(IsError(get(Service("nope_v1", ids)), ErrorCode::kFeatureServiceNotFound,
                        {"feature service 'nope_v1' is not in the registry"}));
    for (const char* bad : {"driver_stats", "driver_stats:", ":trips", ""}) {
      EXPECT_TRUE(IsError(get(Features({bad}, ids)), ErrorCode::kInvalidArgument,
                          {"feature reference '" + std::string(bad) + "'", "feature_view:feature"}))
          << bad;
    }
    // Neither features nor a service; or both.
    EXPECT_TRUE(IsError(get(Features({}, ids)), ErrorCode::kInvalidArgument, {"feature service"}));
    OnlineRequest both = Service("ranking_v1", ids);
    both.features = {"driver_stats:trips"};
    EXPECT_TRUE(IsError(get(both), ErrorCode::kInvalidArgument, {"not both"}));
    EXPECT_TRUE(IsError(get(Features({"driver_stats:trips"}, MakeFrame({{"rider_id", Ints({1})}}))),
                        ErrorCode::kMissingJoinKey,
                        {"join key 'driver_id'", "'driver_stats'", "rider_id"}));
    EXPECT_TRUE(IsError(get(Features({"driver_stats:trips"}, MakeFrame({}))),
                        ErrorCode::kMissingJoinKey, {"'driver_id'", "none"}));
    EXPECT_TRUE(IsError(
        get(Features({"driver_stats:trips"}, MakeFrame({{"driver_id", {I(1), S("two")}}}))),
        ErrorCode::kInvalidArgument, {"entity row 2, join key 'driver_id'", "\"two\"", "Int64"}));
    EXPECT_TRUE(IsError(get(Features({"driver_stats:trips"}, MakeFrame({{"driver_id", {Null()}}}))),
                        ErrorCode::kInvalidArgument, {"entity row 1, join key 'driver_id'"}));
    Frame ragged = MakeFrame({{"driver_id", Ints({1, 2})}, {"other", Ints({1})}});
    EXPECT_TRUE(IsError(get(Features({"driver_stats:trips"}, ragged)), ErrorCode::kInvalidArgument,
                        {"column 'other' has 1"}));
    // Zero entity rows is a valid, empty answer.
    auto none = get(Features({"driver_stats:trips"}, DriverIds({})));
    ASSERT_TRUE(none.ok()) << none.status().ToString();
    EXPECT_EQ(none->results.size(), 2u);
    EXPECT_TRUE(none->results[1].values.empty());
  }
  ExpectCheckOk(*fs);
}

// ============================================================================================
// Index growth, memory limit, memory reuse

TEST_F(StoreTest, IndexGrowsOnline) {
  repo_.Write(StatsRepo(), StoreOptions{100, "64MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before, fs->Inspect());
  EXPECT_LT(before.index_capacity, 1000u);
  constexpr int64_t kTotal = 20000, kBatch = 1000;
  for (int64_t first = 0; first < kTotal; first += kBatch) {
    std::vector<int64_t> ids, trips;
    for (int64_t i = first; i < first + kBatch; ++i) {
      ids.push_back(i);
      trips.push_back(i * 3);
    }
    LARDER_ASSERT_OK_AND_ASSIGN(PushResult pr, fs->Push("stats_push", StatsRows(ids, trips)));
    ASSERT_EQ(pr.rows_written, static_cast<uint64_t>(kBatch));
    // Readers see every row written so far, across growths.
    auto r = reader->GetOnlineFeatures(Features({"driver_stats:trips"}, DriverIds({0, first})));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->results[1].statuses[0], FieldStatus::kPresent);
    EXPECT_EQ(r->results[1].values[1].i64, first * 3);
  }
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kTotal + 10; ++i) ids.push_back(i);
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse all, reader->GetOnlineFeatures(Features(
                                                      {"driver_stats:trips"}, DriverIds(ids))));
  for (int64_t i = 0; i < kTotal + 10; ++i) {
    if (i < kTotal) {
      ASSERT_EQ(all.results[1].statuses[i], FieldStatus::kPresent) << i;
      ASSERT_EQ(all.results[1].values[i].i64, i * 3) << i;
    } else {
      ASSERT_EQ(all.results[1].statuses[i], FieldStatus::kNotFound) << i;
    }
  }
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  EXPECT_GT(info.index_growths, 0u);
  EXPECT_EQ(info.index_entries, static_cast<uint64_t>(kTotal));
  EXPECT_GE(info.index_capacity, static_cast<uint64_t>(kTotal));
  ASSERT_EQ(info.views.size(), 1u);
  EXPECT_EQ(info.views[0].rows, static_cast<uint64_t>(kTotal));
  ExpectCheckOk(*fs);
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport rc, reader->Check());
  EXPECT_TRUE(rc.ok());
  EXPECT_EQ(rc.rows, static_cast<uint64_t>(kTotal));
}

TEST_F(StoreTest, MemoryLimitRefusesWholePush) {
  repo_.Write(StatsRepo(), StoreOptions{100, "2MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  constexpr int64_t kBatch = 500;
  int64_t acked = 0;
  Status full;
  for (int round = 0; round < 1000 && full.ok(); ++round) {
    std::vector<int64_t> ids, trips;
    for (int64_t i = acked; i < acked + kBatch; ++i) {
      ids.push_back(i);
      trips.push_back(i);
    }
    auto r = fs->Push("stats_push", StatsRows(ids, trips));
    if (r.ok()) {
      acked += kBatch;
    } else {
      full = r.status();
    }
  }
  ASSERT_TRUE(IsError(full, ErrorCode::kStoreFull, {"memory_limit"}));
  ASSERT_GT(acked, 0);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  EXPECT_EQ(info.index_entries, static_cast<uint64_t>(acked));
  EXPECT_EQ(info.rows_written, static_cast<uint64_t>(acked));
  EXPECT_LE(info.arena_used + 4096, info.file_size);
  // The failing push wrote nothing: exactly the acknowledged rows are readable.
  EXPECT_EQ(CountPresent(*fs, acked + kBatch), static_cast<size_t>(acked));
  ExpectCheckOk(*fs);
  // The store stays usable: a smaller overwrite of existing rows fits in reclaimed space or is
  // refused whole, never half-written.
  for (int round = 0; round < 5; ++round) {
    std::vector<int64_t> ids, trips;
    for (int64_t i = 0; i < 50; ++i) {
      ids.push_back(i);
      trips.push_back(1000000 + round);
    }
    auto r = fs->Push("stats_push", StatsRows(ids, trips, 2000 + round));
    auto got = ReadTrips(*fs, ids);
    if (r.ok()) {
      for (const auto& v : got) EXPECT_EQ(v, 1000000 + round);
    } else {
      EXPECT_TRUE(IsError(r, ErrorCode::kStoreFull, {"nothing was written"}));
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NE(got[i], 1000000 + round);
    }
  }
  EXPECT_EQ(CountPresent(*fs, acked + kBatch), static_cast<size_t>(acked));
  ExpectCheckOk(*fs);
}

TEST_F(StoreTest, OverwritesReuseMemory) {
  constexpr char kView[] = R"(feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
      - {name: conv_rate, dtype: Float64}
      - {name: note, dtype: String}
)";
  repo_.Write(std::string(kDriverPreamble) + kView, StoreOptions{1000, "64MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  // An attached, idle reader must not hold reclamation back.
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  LARDER_ASSERT_OK(reader->GetOnlineFeatures(Features({"driver_stats:trips"}, DriverIds({1}))));
  constexpr int kEntities = 1000, kRounds = 200;
  std::vector<int64_t> ids;
  for (int i = 0; i < kEntities; ++i) ids.push_back(i);
  std::mt19937 rng(7);
  uint64_t used_early = 0;
  for (int round = 1; round <= kRounds; ++round) {
    // Rounds alternate between fixed-size rows and rows with notes of varying length.
    std::vector<Cell> notes;
    for (int i = 0; i < kEntities; ++i) {
      notes.push_back(S(round % 2 ? std::string("n") : std::string(rng() % 48, 'x')));
    }
    Frame f = MakeFrame({{"driver_id", Ints(ids)},
                         {"trips", Repeat(I(round), kEntities)},
                         {"conv_rate", Repeat(F(round), kEntities)},
                         {"note", std::move(notes)},
                         {"event_timestamp", Repeat(I(round), kEntities)},
                         {"created", Repeat(Null(), kEntities)}});
    LARDER_ASSERT_OK_AND_ASSIGN(PushResult pr, fs->Push("stats_push", f));
    ASSERT_EQ(pr.rows_written, static_cast<uint64_t>(kEntities));
    if (round == 20) {
      LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
      used_early = info.arena_used;
    }
  }
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  // Replaced rows went through limbo to the free lists and were reused: the arena stopped
  // growing (a little slack for size classes that first appear late).
  EXPECT_LE(info.arena_used, used_early + used_early / 5)
      << "arena grew from " << used_early << " to " << info.arena_used;
  EXPECT_EQ(info.limbo_bytes, 0u);  // no reader was inside a lookup at the end of the batch
  EXPECT_GT(info.free_list_bytes, 0u);
  EXPECT_EQ(info.index_entries, static_cast<uint64_t>(kEntities));
  // Less than ~3 generations of rows: one live, one freed, plus size-class slack.
  EXPECT_LT(info.arena_used, 3u * kEntities * 256u + info.index_bytes + 65536u);
  EXPECT_EQ(ReadTrips(*fs, {0, 999}), (std::vector<std::optional<int64_t>>{kRounds, kRounds}));
  ExpectCheckOk(*fs);
}

// ============================================================================================
// The read-only mapping

// The start address of this process's mapping of `path` whose permissions are `perms`
// (e.g. "r--s"), or 0.
uintptr_t FindMapping(const std::string& path, const std::string& perms) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, p, offset, dev, inode, file;
    in >> range >> p >> offset >> dev >> inode >> file;
    if (file == path && p == perms && offset == "00000000") {
      return static_cast<uintptr_t>(std::stoull(range.substr(0, range.find('-')), nullptr, 16));
    }
  }
  return 0;
}

TEST_F(StoreTest, ReaderMappingIsReadOnly) {
  repo_.Write(StatsRepo());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1}, {10})));
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    auto reader = OnlineReader::Attach(repo_.segment());
    if (!reader.ok()) ::_exit(2);
    auto r = (*reader)->GetOnlineFeatures(Features({"driver_stats:trips"}, DriverIds({1})));
    if (!r.ok() || r->results[1].values[0].i64 != 10) ::_exit(3);
    // The reader's mapping is shared and read-only; no writable private copy either.
    uintptr_t ro = FindMapping(repo_.segment(), "r--s");
    if (ro == 0) ::_exit(4);
    // Writing into it must kill the process (the header's first byte: the magic).
    *reinterpret_cast<volatile char*>(ro) = 'X';
    ::_exit(5);  // the write went through: the mapping is writable
  }
  int status = testing::WaitChild(pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
      << "child ended with " << testing::DescribeWait(status);
  // The store is intact.
  EXPECT_EQ(ReadTrips(*fs, {1})[0], 10);
  LARDER_ASSERT_OK(OnlineReader::Attach(repo_.segment()));
  ExpectCheckOk(*fs);
}

// ============================================================================================
// Corrupt and foreign files

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
void Poke(std::string* bytes, size_t offset, T value) {
  std::memcpy(bytes->data() + offset, &value, sizeof(T));
}
template <typename T>
T Peek(const std::string& bytes, size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

// The offset of the last row block of a segment image (0: none). A block of 0 units would stop
// the walk: it fails the test.
uint64_t LastRowBlock(const std::string& s) {
  const uint64_t top = Peek<uint64_t>(s, offsetof(layout::SegmentHeader, arena_top));
  uint64_t last = 0;
  for (uint64_t off = 4096; off < top;) {
    const auto b = Peek<layout::BlockHeader>(s, off);
    if (b.units == 0) {
      ADD_FAILURE() << "a block of 0 units at offset " << off;
      return 0;
    }
    if (b.kind == layout::BlockKind::kRow) last = off;
    off += uint64_t{b.units} * 16;
  }
  return last;
}

TEST_F(StoreTest, RefusesCorruptAndForeignFiles) {
  repo_.Write(StatsRepo(), StoreOptions{100, "1MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1, 2, 3}, {10, 20, 30})));
  const std::string good = testing::ReadFile(repo_.segment());
  const std::string readers = testing::ReadFile(repo_.segment() + ".readers");
  ASSERT_EQ(good.size(), 1u << 20);

  testing::TempSegmentPath bad;
  Repo writer_repo;  // a repo whose online store path is the bad file
  writer_repo.Write(StatsRepo(), StoreOptions{100, "1MiB", bad.path()});
  std::mt19937_64 rng(42);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  using layout::SegmentHeader;
  struct Case {
    std::string name;
    std::string bytes;
    ErrorCode code;
    std::string needle;
  };
  std::vector<Case> cases;
  cases.push_back({"empty file", "", ErrorCode::kCorruptStore, "truncated"});
  cases.push_back(
      {"random bytes", random_bytes(1 << 16), ErrorCode::kIncompatibleStore, "bad magic"});
  cases.push_back({"a YAML file",
                   testing::ReadFile(repo_.dir() + "/feature_store.yaml") + std::string(4096, ' '),
                   ErrorCode::kIncompatibleStore, "bad magic"});
  cases.push_back({"header only", good.substr(0, 4096), ErrorCode::kCorruptStore, "truncated"});
  cases.push_back({"100 bytes", good.substr(0, 100), ErrorCode::kCorruptStore, "truncated"});
  cases.push_back({"truncated to half", good.substr(0, good.size() / 2), ErrorCode::kCorruptStore,
                   "truncated or extended"});
  cases.push_back({"extended", good + std::string(4096, '\0'), ErrorCode::kCorruptStore,
                   "truncated or extended"});
  {
    std::string s = good;
    s[0] = 'X';
    cases.push_back({"wrong magic", s, ErrorCode::kIncompatibleStore, "bad magic"});
  }
  {
    std::string s = good;
    Poke<uint32_t>(&s, offsetof(SegmentHeader, layout_version), layout::kLayoutVersion + 1);
    cases.push_back({"newer version", s, ErrorCode::kIncompatibleStore,
                     "segment layout version " + std::to_string(layout::kLayoutVersion + 1)});
    s = good;
    Poke<uint32_t>(&s, offsetof(SegmentHeader, layout_version),
                   layout::kLayoutVersion ^ 0x01000000);
    cases.push_back({"flipped version bit", s, ErrorCode::kIncompatibleStore, "layout version"});
  }
  {
    std::string s = good;
    Poke<uint64_t>(&s, offsetof(SegmentHeader, abi_fingerprint), layout::AbiFingerprint() + 1);
    cases.push_back({"other ABI", s, ErrorCode::kIncompatibleStore, "another ABI"});
  }
  {
    std::string s = good;
    Poke<uint64_t>(&s, offsetof(SegmentHeader, ready), 0);
    cases.push_back({"never ready", s, ErrorCode::kCorruptStore, "never completely initialized"});
  }
  {
    std::string s = good;
    Poke<uint64_t>(&s, offsetof(SegmentHeader, arena_top), good.size() + 16);
    cases.push_back({"arena past the end", s, ErrorCode::kCorruptStore, "arena bounds"});
  }
  {
    std::string s = good;
    Poke<uint64_t>(&s, offsetof(SegmentHeader, index_desc), layout::MakeIndexDesc(1ull << 40, 3));
    cases.push_back({"index out of bounds", s, ErrorCode::kCorruptStore, "index descriptor"});
    s = good;
    Poke<uint64_t>(&s, offsetof(SegmentHeader, index_desc), layout::MakeIndexDesc(4096, 60));
    cases.push_back({"index too large", s, ErrorCode::kCorruptStore, "index descriptor"});
  }
  {
    std::string s = good;
    Poke<uint64_t>(&s, offsetof(SegmentHeader, registry_block), 16);
    cases.push_back({"registry in the header", s, ErrorCode::kCorruptStore, "registry"});
    s = good;
    uint64_t reg = Peek<uint64_t>(good, offsetof(SegmentHeader, registry_block));
    // A registry block whose FlatBuffer is garbage.
    for (size_t i = reg + 24; i < reg + 64 && i < s.size(); ++i) s[i] = static_cast<char>(rng());
    cases.push_back({"garbage registry", s, ErrorCode::kCorruptStore, ""});
    s = good;
    Poke<uint32_t>(&s, reg, 0xffffffffu);  // the registry block's size runs past the file
    cases.push_back({"registry block size", s, ErrorCode::kCorruptStore, "registry block"});
  }

  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    WriteBytes(bad.path(), c.bytes);
    WriteBytes(bad.path() + ".readers", readers);
    auto r = OnlineReader::Attach(bad.path());
    EXPECT_TRUE(IsError(r, c.code, {c.needle, bad.path()}));
    // A writer refuses it the same way.
    LARDER_ASSERT_OK_AND_ASSIGN(auto w, writer_repo.Open());
    EXPECT_TRUE(IsError(w->Push("stats_push", StatsRows({1}, {1})), c.code, {c.needle}));
    EXPECT_TRUE(IsError(w->Inspect(), c.code, {c.needle}));
  }

  // A reader table of another segment, or none, is refused too.
  WriteBytes(bad.path(), good);
  {
    std::string other = readers;
    Poke<uint64_t>(&other, offsetof(layout::ReaderTableHeader, segment_uid),
                   Peek<uint64_t>(readers, offsetof(layout::ReaderTableHeader, segment_uid)) + 1);
    WriteBytes(bad.path() + ".readers", other);
    EXPECT_TRUE(IsError(OnlineReader::Attach(bad.path()), ErrorCode::kCorruptStore,
                        {"belongs to another segment"}));
    other = readers;
    other[0] = 'x';
    WriteBytes(bad.path() + ".readers", other);
    EXPECT_TRUE(IsError(OnlineReader::Attach(bad.path()), ErrorCode::kIncompatibleStore,
                        {"reader table", "not compatible"}));
    WriteBytes(bad.path() + ".readers", readers.substr(0, 100));
    EXPECT_TRUE(
        IsError(OnlineReader::Attach(bad.path()), ErrorCode::kCorruptStore, {"wrong size"}));
    ::unlink((bad.path() + ".readers").c_str());
    // No reader table: as a store half torn down looks (teardown unlinks the segment first).
    EXPECT_TRUE(IsError(OnlineReader::Attach(bad.path()), ErrorCode::kStoreNotFound,
                        {"no reader table", ".readers"}));
  }
  testing::TempSegmentPath missing;
  EXPECT_TRUE(IsError(OnlineReader::Attach(missing.path()), ErrorCode::kStoreNotFound,
                      {missing.path(), "larder apply"}));

  // The original is untouched by all of this.
  EXPECT_EQ(ReadTrips(*fs, {1, 2, 3}), (std::vector<std::optional<int64_t>>{10, 20, 30}));
  ExpectCheckOk(*fs);
}

// Rows and index words full of garbage behind a valid header: a reader validates before it
// dereferences, so it reports INVALID / NOT_FOUND instead of crashing, never a wrong value, and
// Check() lists violations. Variant 3 damages rows so that reading them unverified stays inside
// the mapping but returns a wrong value: a reader that skipped the verifier fails an assertion
// there rather than crashing.
TEST_F(StoreTest, ReadersSurviveGarbageRowsAndIndex) {
  repo_.Write(StatsRepo(), StoreOptions{100, "1MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  std::vector<int64_t> ids, trips;
  for (int64_t i = 0; i < 300; ++i) {
    ids.push_back(i);
    trips.push_back(i);
  }
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows(ids, trips)));
  const std::string good = testing::ReadFile(repo_.segment());
  const std::string readers = testing::ReadFile(repo_.segment() + ".readers");
  using layout::BlockHeader;
  using layout::SegmentHeader;
  const uint64_t top = Peek<uint64_t>(good, offsetof(SegmentHeader, arena_top));
  const uint64_t desc = Peek<uint64_t>(good, offsetof(SegmentHeader, index_desc));
  std::mt19937_64 rng(1234);

  testing::TempSegmentPath copy;
  constexpr int64_t kPlanted = 0x5EED5EED;  // variant 3's value where the trips were
  // Variant 3 first: a reader that skipped the verifier fails its value assertions there, and
  // the test stops before the garbage variants, where such a reader would crash.
  for (int variant : {3, 0, 1, 2}) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    std::string s = good;
    if (variant == 0) {
      // Row payloads (after the key) are garbage.
      for (uint64_t off = 4096; off < top;) {
        BlockHeader b = Peek<BlockHeader>(s, off);
        ASSERT_GT(b.units, 0u);
        if (b.kind == layout::BlockKind::kRow) {
          for (uint64_t i = off + layout::RowPayloadOffset(b.key_len); i < off + b.units * 16u;
               ++i) {
            s[i] = static_cast<char>(rng());
          }
        }
        off += uint64_t{b.units} * 16;
      }
    } else if (variant == 1) {
      // Index words point anywhere.
      uint64_t data = layout::DescDataOffset(desc);
      uint64_t words = (uint64_t{1} << layout::DescLog2Buckets(desc)) * layout::kBucketWords;
      for (uint64_t w = 0; w < words; ++w) Poke<uint64_t>(&s, data + 8 * w, rng());
    } else if (variant == 2) {
      // Row headers lie about their sizes and key lengths.
      for (uint64_t off = 4096; off < top;) {
        BlockHeader b = Peek<BlockHeader>(s, off);
        uint64_t next = off + uint64_t{b.units} * 16;
        if (b.kind == layout::BlockKind::kRow) {
          b.key_len = static_cast<uint16_t>(rng());
          b.payload_len = static_cast<uint32_t>(rng());
          b.units = static_cast<uint32_t>(rng() % 3 == 0 ? rng() : b.units);
          Poke(&s, off, b);
        }
        off = next;
      }
    } else {
      // Each row's buffer ends (payload_len) where its Int64 vector begins, and the bytes past
      // that end, still inside the block, hold kPlanted for every Int64 value. The verifier
      // finds the vector outside the buffer; an unverified read finds kPlanted.
      int damaged = 0;
      for (uint64_t off = 4096; off < top;) {
        BlockHeader b = Peek<BlockHeader>(s, off);
        ASSERT_GT(b.units, 0u);
        if (b.kind == layout::BlockKind::kRow) {
          const uint64_t payload = off + layout::RowPayloadOffset(b.key_len);
          const auto* data = reinterpret_cast<const uint8_t*>(good.data() + payload);
          const fb::Row* row = fb::GetRow(data);
          ASSERT_NE(row->i64(), nullptr);
          const uint64_t values = static_cast<uint64_t>(row->i64()->Data() - data);
          for (uint32_t i = 0; i < row->i64()->size(); ++i) {
            Poke<int64_t>(&s, payload + values + 8 * i, kPlanted);
          }
          b.payload_len = static_cast<uint32_t>(values - sizeof(uint32_t));  // before the length
          Poke(&s, off, b);
          ++damaged;
        }
        off += uint64_t{b.units} * 16;
      }
      ASSERT_EQ(damaged, 300);
    }
    WriteBytes(copy.path(), s);
    WriteBytes(copy.path() + ".readers", readers);
    LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(copy.path()));
    std::vector<int64_t> probe = ids;
    for (int64_t i = 0; i < 100; ++i) probe.push_back(static_cast<int64_t>(rng()));
    LARDER_ASSERT_OK_AND_ASSIGN(
        OnlineResponse r, reader->GetOnlineFeatures(Features(
                              {"driver_stats:trips", "driver_stats:conv_rate"}, DriverIds(probe))));
    ASSERT_EQ(r.results.size(), 3u);
    size_t present = 0;
    for (size_t i = 0; i < probe.size(); ++i) {
      for (size_t f = 1; f <= 2; ++f) {
        const FieldStatus st = r.results[f].statuses[i];
        EXPECT_TRUE(st == FieldStatus::kPresent || st == FieldStatus::kInvalid ||
                    st == FieldStatus::kNotFound)
            << "entity " << probe[i] << " feature " << f;
      }
      if (r.results[1].statuses[i] != FieldStatus::kPresent) continue;
      ++present;
      // Whatever is present decoded from a verified buffer: the entity's own, pushed values.
      ASSERT_TRUE(probe[i] >= 0 && probe[i] < 300) << "a row for unknown entity " << probe[i];
      const Value& trips_value = r.results[1].values[i];
      EXPECT_FALSE(trips_value.is_null);
      EXPECT_EQ(trips_value.i64, probe[i]) << "entity " << probe[i] << ": trips";
      ASSERT_EQ(r.results[2].statuses[i], FieldStatus::kPresent) << "entity " << probe[i];
      EXPECT_EQ(r.results[2].values[i].f64, static_cast<double>(probe[i]) / 10)
          << "entity " << probe[i] << ": conv_rate";
    }
    if (variant == 0 || variant == 3) {
      EXPECT_EQ(present, 0u) << "a damaged row was read as PRESENT";
    }
    ASSERT_FALSE(HasFailure()) << "variant " << variant << " returned wrong values";
    LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, reader->Check());
    EXPECT_FALSE(check.ok());
    LARDER_ASSERT_OK(reader->Inspect());
  }
  ExpectCheckOk(*fs);
}

// A well-formed row whose class vector is shorter than its view's schema needs: a row written
// before a feature was added to its view (by an apply that kept the rows) has no value for it.
// Both response shapes report the features past the vector's end NOT_FOUND, with the row's
// timestamp, as Feast reports a feature missing from a stored row
// (sdk/python/feast/utils.py, _populate_response_from_feature_data), and read the others.
TEST_F(StoreTest, ShortClassVectorsReadAsNotFound) {
  repo_.Write(StatsRepo(), StoreOptions{100, "1MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1}, {10})));
  std::string s = testing::ReadFile(repo_.segment());
  const std::string readers = testing::ReadFile(repo_.segment() + ".readers");
  using layout::BlockHeader;
  const uint64_t row_off = LastRowBlock(s);
  ASSERT_NE(row_off, 0u);
  // The view's i64 vector holds trips (slot 0): this row's is empty.
  flatbuffers::FlatBufferBuilder fbb;
  auto i64 = fbb.CreateVector(std::vector<int64_t>{});
  auto f64 = fbb.CreateVector(std::vector<double>{2.5});
  fb::RowBuilder rb(fbb);
  rb.add_event_ts(1000 * kMicros);
  rb.add_i64(i64);
  rb.add_f64(f64);
  fbb.Finish(rb.Finish());
  BlockHeader b = Peek<BlockHeader>(s, row_off);
  ASSERT_LE(fbb.GetSize(), b.payload_len);
  std::memcpy(s.data() + row_off + layout::RowPayloadOffset(b.key_len), fbb.GetBufferPointer(),
              fbb.GetSize());
  b.payload_len = fbb.GetSize();
  Poke(&s, row_off, b);
  testing::TempSegmentPath copy;
  WriteBytes(copy.path(), s);
  WriteBytes(copy.path() + ".readers", readers);

  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(copy.path()));
  const OnlineRequest req =
      Features({"driver_stats:conv_rate", "driver_stats:trips"}, DriverIds({1}));
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse values, reader->GetOnlineFeatures(req));
  EXPECT_EQ(values.results[1].statuses[0], FieldStatus::kPresent);
  EXPECT_EQ(values.results[1].values[0].f64, 2.5);
  EXPECT_EQ(values.results[2].statuses[0], FieldStatus::kNotFound);
  EXPECT_TRUE(values.results[2].values[0].is_null);
  EXPECT_EQ(values.results[2].event_timestamps[0], 1000 * kMicros);
  ColumnarResponse columns;
  LARDER_ASSERT_OK(reader->GetOnlineFeaturesColumnar(req, &columns));
  EXPECT_EQ(columns.features[0].statuses[0], FieldStatus::kPresent);
  EXPECT_EQ(columns.features[0].doubles[0], 2.5);
  EXPECT_EQ(columns.features[1].statuses[0], FieldStatus::kNotFound);
  EXPECT_EQ(columns.features[1].ints[0], 0);
  EXPECT_EQ(columns.features[1].event_timestamps[0], 1000 * kMicros);
}

// `larder check` is what one runs on a suspect store: a row header whose key length runs past
// the end of the file must be reported, not read.
TEST_F(StoreTest, CheckSurvivesRowHeadersThatRunPastTheFile) {
  repo_.Write(StatsRepo(), StoreOptions{20000, "1MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  // Fill the file, so the last row block ends close to its end (the index is sized for more
  // rows than fit, so it never grows: its table is not the last block).
  for (int64_t first = 0;; first += 100) {
    std::vector<int64_t> ids, trips;
    for (int64_t i = first; i < first + 100; ++i) {
      ids.push_back(i);
      trips.push_back(i);
    }
    auto r = fs->Push("stats_push", StatsRows(ids, trips));
    if (!r.ok()) {
      ASSERT_EQ(r.status().code(), ErrorCode::kStoreFull) << r.status().ToString();
      break;
    }
  }
  // Small pushes until even one row does not fit.
  for (int64_t id = 1'000'000; fs->Push("stats_push", StatsRows({id}, {id})).ok(); ++id) {
  }
  std::string s = testing::ReadFile(repo_.segment());
  const std::string readers = testing::ReadFile(repo_.segment() + ".readers");
  using layout::BlockHeader;
  const uint64_t last_row = LastRowBlock(s);
  ASSERT_GT(last_row, 0u);
  ASSERT_GT(last_row + layout::kRowKeyOffset + 65535, s.size())
      << "the last row is not near the end of the file";
  BlockHeader b = Peek<BlockHeader>(s, last_row);
  b.key_len = 65535;
  Poke(&s, last_row, b);
  testing::TempSegmentPath copy;
  WriteBytes(copy.path(), s);
  WriteBytes(copy.path() + ".readers", readers);
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(copy.path()));
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, reader->Check());
  ASSERT_FALSE(check.ok());
  bool named = false;
  for (const std::string& v : check.violations) {
    named = named || v.find("key and payload overrun its block") != std::string::npos;
  }
  EXPECT_TRUE(named) << check.violations[0];
  LARDER_ASSERT_OK(reader->Inspect());
  LARDER_ASSERT_OK(
      reader->GetOnlineFeatures(Features({"driver_stats:trips"}, DriverIds({0, 1, 2}))));
}

// Snapshot reads on a damaged segment: a row stamped with a batch past visible_seq is read
// through its `prev` link, which must name an earlier row of the same key. A link to another
// key's row, or to a row no older than the one it leaves, reads INVALID; no link reads
// NOT_FOUND; `check` names the row; other entities read as before.
TEST_F(StoreTest, DamagedVersionLinksReadAsInvalidOrAbsent) {
  repo_.Write(StatsRepo(), StoreOptions{100, "1MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({1}, {10})));
  const uint64_t row1 = LastRowBlock(testing::ReadFile(repo_.segment()));
  LARDER_ASSERT_OK(fs->Push("stats_push", StatsRows({2}, {20})));
  const std::string original = testing::ReadFile(repo_.segment());
  const std::string readers = testing::ReadFile(repo_.segment() + ".readers");
  const uint64_t row2 = LastRowBlock(original);
  ASSERT_GT(row2, row1);
  ASSERT_GT(row1, 0u);
  const uint64_t visible = Peek<uint64_t>(original, offsetof(layout::SegmentHeader, visible_seq));
  ASSERT_EQ(visible, 2u);
  ASSERT_EQ(Peek<layout::RowVersion>(original, row2 + layout::kRowVersionOffset).seq, 2u);

  struct Case {
    const char* what;
    layout::RowVersion version;  // entity 2's row's
    FieldStatus status;          // what a snapshot read of entity 2 gives
  };
  const Case cases[] = {
      {"link to another key's row", {visible + 1, row1}, FieldStatus::kInvalid},
      {"link to itself", {visible + 1, row2}, FieldStatus::kInvalid},
      {"link outside the file", {visible + 1, uint64_t{1} << 40}, FieldStatus::kInvalid},
      {"no link", {visible + 1, 0}, FieldStatus::kNotFound},
  };
  const OnlineRequest req = Features({"driver_stats:trips"}, DriverIds({1, 2}));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string s = original;
    Poke(&s, row2 + layout::kRowVersionOffset, c.version);
    testing::TempSegmentPath copy;
    WriteBytes(copy.path(), s);
    WriteBytes(copy.path() + ".readers", readers);
    LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(copy.path()));
    LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r, reader->GetOnlineFeatures(req));
    EXPECT_EQ(r.results[1].statuses[0], FieldStatus::kPresent);
    EXPECT_EQ(r.results[1].values[0].i64, 10);
    EXPECT_EQ(r.results[1].statuses[1], c.status);
    // Without snapshot reads the newest row is read, whatever its version says.
    ReaderOptions newest;
    newest.snapshot_reads = false;
    LARDER_ASSERT_OK_AND_ASSIGN(auto plain, OnlineReader::Attach(copy.path(), newest));
    LARDER_ASSERT_OK_AND_ASSIGN(r, plain->GetOnlineFeatures(req));
    EXPECT_EQ(r.results[1].statuses[1], FieldStatus::kPresent);
    EXPECT_EQ(r.results[1].values[1].i64, 20);
    LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, reader->Check());
    ASSERT_FALSE(check.ok());
    bool named = false;
    for (const std::string& v : check.violations) {
      named =
          named || v.find("row of write batch 3, past the visible batch 2") != std::string::npos;
    }
    EXPECT_TRUE(named) << check.violations[0];
  }
}

}  // namespace
}  // namespace larder
