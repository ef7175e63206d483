// Helpers for the offline-store tests (tests/offline_test.cc): a repo whose push source's batch
// source is data/stats.csv, file helpers, timestamps and one-value online reads.
// Header-only (tests/CMakeLists.txt compiles *_test.cc and test_util.cc only).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "larder/feature_store.h"
#include "larder/timestamp.h"
#include "tests/store_fixture.h"

namespace larder::testing {

// Views over kDriverPreamble's stats_push (batch source data/stats.csv with `created`):
// `stats` (ttl 1d) and `quality` (ttl 0) share `conv`; service `svc` = stats + quality:[score].
inline constexpr char kOfflineViews[] = R"(feature_views:
  - name: stats
    entities: [driver]
    ttl: 1d
    source: stats_push
    schema:
      - {name: conv, dtype: Float32}
      - {name: trips, dtype: Int64}
      - {name: city, dtype: String}
  - name: quality
    entities: [driver]
    ttl: 0
    source: stats_push
    schema:
      - {name: conv, dtype: Float32}
      - {name: score, dtype: Float64}
feature_services:
  - name: svc
    features: [stats, {quality: [score]}]
)";

// The batch-source file's header when Larder creates it for kOfflineViews.
inline constexpr char kOfflineHeader[] =
    "event_timestamp,created,driver_id,conv,trips,city,score\n";

inline TimestampMicros Ts(const std::string& text) {
  auto ts = ParseTimestamp(text);
  EXPECT_TRUE(ts.ok()) << ts.status().ToString();
  return ts.ok() ? *ts : 0;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void Spit(const std::string& path, const std::string& content, bool append = false) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out << content;
}

// Rows for kOfflineViews: (driver_id, event ts, created ts, conv, trips, city, score).
struct StatsRow {
  int64_t id;
  std::string ts;
  std::string created;  // "" = null
  double conv;
  int64_t trips;
  std::string city;
  double score;
};
inline Frame StatsFrame(const std::vector<StatsRow>& rows) {
  std::vector<Cell> id, ts, created, conv, trips, city, score;
  for (const StatsRow& r : rows) {
    id.push_back(I(r.id));
    ts.push_back(S(r.ts));
    created.push_back(r.created.empty() ? Null() : S(r.created));
    conv.push_back(F(r.conv));
    trips.push_back(I(r.trips));
    city.push_back(S(r.city));
    score.push_back(F(r.score));
  }
  return MakeFrame({{"driver_id", id},
                    {"event_timestamp", ts},
                    {"created", created},
                    {"conv", conv},
                    {"trips", trips},
                    {"city", city},
                    {"score", score}});
}

// One feature of one entity read online: its value and status.
struct OneValue {
  Value value;
  FieldStatus status = FieldStatus::kInvalid;
  TimestampMicros ts = 0;
};
inline OneValue ReadOne(FeatureStore& fs, const std::string& ref, int64_t id) {
  OneValue out;
  auto r = fs.GetOnlineFeatures(Features({ref}, MakeFrame({{"driver_id", Ints({id})}})));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return out;
  out.value = r->results[1].values[0];
  out.status = r->results[1].statuses[0];
  out.ts = r->results[1].event_timestamps[0];
  return out;
}

// A repo with kDriverPreamble + `views` (default kOfflineViews), applied.
class OfflineFixture : public ::testing::Test {
 protected:
  void SetUpRepo(const std::string& views = kOfflineViews, const StoreOptions& opts = {}) {
    repo_.Write(std::string(kDriverPreamble) + views, opts);
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
    csv_ = repo_.dir() + "/data/stats.csv";
  }
  void SetUp() override { SetUpRepo(); }

  Repo repo_;
  std::unique_ptr<FeatureStore> fs_;
  std::string csv_;
};

}  // namespace larder::testing
