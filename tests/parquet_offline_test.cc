// Parquet batch sources in the offline store: materialize and materialize-incremental read a
// `.parquet` file or a directory of part files as they read the same rows as CSV (compared on
// Feast's own example file, tests/data/parquet/feast_driver_stats.parquet), refuse Parquet
// types a dtype cannot take before anything is written, and skip row groups whose timestamp
// statistics lie outside the interval without decoding them.
#include <sys/stat.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>

#include "engine/offline/offline_check.h"
#include "engine/offline/parquet_source.h"
#include "engine/parquet/parquet_file.h"
#include "engine/parquet/parquet_writer.h"
#include "engine/values/cell_convert.h"
#include "engine/values/frame_readers.h"
#include "larder/timestamp.h"
#include "tests/offline_fixture.h"
#include "tests/parquet_fixture.h"

namespace larder {
namespace {

using namespace larder::testing;  // NOLINT

TEST_F(ParquetSourceTest, FeastDriverStatsMaterializeAsTheSameRowsInCsv) {
  // The whole file (2021-04-12 .. 2024-09-10), then a window inside it.
  ExpectSameAsCsv({Fixture("feast_driver_stats.parquet")}, "data/driver_stats.parquet",
                  Ts("2021-01-01T00:00:00Z"), Ts("2025-01-01T00:00:00Z"));
  ExpectSameAsCsv({Fixture("feast_driver_stats.parquet")}, "data/driver_stats.parquet",
                  Ts("2024-08-26T00:00:00Z"), Ts("2024-08-27T12:00:00Z"));
}

TEST_F(ParquetSourceTest, ADirectoryOfPartFilesReadsThemInNameOrder) {
  // Two part files from two writers (Arrow 17 and Arrow 6), read as one source.
  ExpectSameAsCsv(
      {Fixture("feast_driver_stats.parquet"), Fixture("feast_driver_stats_with_string.parquet")},
      "data/driver_stats", Ts("2021-01-01T00:00:00Z"), Ts("2025-01-01T00:00:00Z"));
}

TEST_F(ParquetSourceTest, IncrementalRunsReadParquet) {
  Repo pq, csv;
  std::set<int64_t> ids;
  std::unique_ptr<FeatureStore> fs_pq, fs_csv;
  OpenFeastPair(pq, csv, &ids, &fs_pq, &fs_csv);
  ASSERT_FALSE(HasFatalFailure());
  // A first interval, then incremental runs from its end.
  for (FeatureStore* fs : {fs_pq.get(), fs_csv.get()}) {
    ASSERT_TRUE(fs->Materialize(Ts("2024-08-20T00:00:00Z"), Ts("2024-08-26T12:00:00Z"), {}).ok());
  }
  for (const char* end : {"2024-08-30T00:00:00Z", "2024-09-30T00:00:00Z"}) {
    LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult a, fs_pq->MaterializeIncremental(Ts(end), {}));
    LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult b, fs_csv->MaterializeIncremental(Ts(end), {}));
    ASSERT_EQ(a.views.size(), 1u);
    EXPECT_GT(a.views[0].rows_read, 0u) << end;
    EXPECT_EQ(a.views[0].start, b.views[0].start);
    EXPECT_EQ(a.views[0].rows_read, b.views[0].rows_read) << end;
    EXPECT_EQ(a.views[0].rows_written, b.views[0].rows_written) << end;
  }
  Online x = ReadAll(*fs_pq, ids);
  Online y = ReadAll(*fs_csv, ids);
  EXPECT_EQ(x.values, y.values);
  EXPECT_EQ(x.ts, y.ts);
}

TEST_F(ParquetSourceTest, ATypeADtypeCannotTakeIsRefusedBeforeAnythingIsWritten) {
  // conv_rate is FLOAT in the file; declared Int64 it cannot be read: the error names the part
  // file, the column, its Parquet type and the dtype.
  Repo repo;
  auto fs = OpenRepo(repo, "data/driver_stats", "Int64");
  ASSERT_TRUE(fs);
  const std::string dir = repo.dir() + "/data/driver_stats";
  Copy(Fixture("feast_driver_stats.parquet"), dir + "/part-0.parquet");
  auto r = fs->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2025-01-01T00:00:00Z"), {});
  EXPECT_TRUE(IsError(r, ErrorCode::kDataSourceError,
                      {dir + "/part-0.parquet", "column 'conv_rate'", "Parquet type FLOAT",
                       "cannot be read as Int64", "feature view 'driver_hourly_stats'"}));
  // Nothing written, no interval recorded.
  std::set<int64_t> ids = {1001, 1002, 1003, 1004, 1005};
  for (FieldStatus s : ReadAll(*fs, ids).statuses) EXPECT_EQ(s, FieldStatus::kNotFound);
  auto reader = OnlineReader::Attach(repo.segment());
  ASSERT_TRUE(reader.ok());
  auto reg = (*reader)->Registry();
  ASSERT_TRUE(reg.ok());
  EXPECT_TRUE(reg->intervals.empty());
}

TEST_F(ParquetSourceTest, MissingColumnsAndSubdirectoriesAreNamed) {
  Repo repo;
  repo.Write(DriverRepo("data/driver_stats.parquet") +
             "      - {name: not_there, dtype: String}\n");
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  Copy(Fixture("feast_driver_stats.parquet"), repo.dir() + "/data/driver_stats.parquet");
  auto r = fs->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2025-01-01T00:00:00Z"), {});
  EXPECT_TRUE(
      IsError(r, ErrorCode::kDataSourceError, {"driver_stats.parquet", "'not_there' (feature)"}));

  Repo hive;
  auto fs2 = OpenRepo(hive, "data/driver_stats");
  ASSERT_TRUE(fs2);
  Copy(Fixture("feast_driver_stats.parquet"),
       hive.dir() + "/data/driver_stats/year=2024/part-0.parquet");
  auto h = fs2->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2025-01-01T00:00:00Z"), {});
  EXPECT_TRUE(IsError(h, ErrorCode::kDataSourceError, {"subdirectory 'year=2024'", "hive"}));
}

// Materializing with a repo whose dtype differs from the store's registry (edited, not yet
// applied) is refused, naming the column; the online rows stay as they were. Before, values were
// converted for the repo's dtype and staged for the registry's, which found none of its dtype
// and read the placeholder cells: every row was written null over its good value (found by
// review).
TEST_F(ParquetSourceTest, ARepoThatDiffersFromTheStoresRegistryIsRefusedNotWrittenAsNulls) {
  Repo repo;
  auto fs = OpenRepo(repo, "data/driver_stats.parquet");  // conv_rate Float32, applied
  ASSERT_TRUE(fs);
  Copy(Fixture("feast_driver_stats.parquet"), repo.dir() + "/data/driver_stats.parquet");
  LARDER_ASSERT_OK(
      fs->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2024-08-20T00:00:00Z"), {}).status());
  const std::set<int64_t> ids = {1001, 1002, 1003, 1004, 1005};
  const Online before = ReadAll(*fs, ids);
  for (FieldStatus s : before.statuses) ASSERT_EQ(s, FieldStatus::kPresent);
  repo.Write(DriverRepo("data/driver_stats.parquet", "Float64"));  // not applied
  LARDER_ASSERT_OK_AND_ASSIGN(auto edited, repo.Open());
  auto r = edited->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2025-01-01T00:00:00Z"), {});
  EXPECT_TRUE(IsError(r, ErrorCode::kDataSourceError,
                      {"conv_rate", "Float64", "Float32", "run `larder apply` first"}));
  const Online after = ReadAll(*fs, ids);
  EXPECT_EQ(after.statuses, before.statuses);
  EXPECT_EQ(after.ts, before.ts);
  for (const Value& v : after.values) EXPECT_FALSE(v.is_null) << "a value was written as null";
}

// A directory that would be read as holding nothing, or the wrong files, is refused: one with
// no *.parquet file (read as empty, its interval would have been recorded as done), a Delta
// table (its log, unread, decides which files are live), a *.parquet entry that is a symbolic
// link; a FIFO at a file source's path is refused without blocking (found by review).
TEST_F(ParquetSourceTest, DirectoriesThatWouldReadNothingOrTheWrongFilesAreRefused) {
  Repo repo;
  auto fs = OpenRepo(repo, "data/stats");
  ASSERT_TRUE(fs);
  const std::string dir = repo.dir() + "/data/stats";
  std::filesystem::create_directories(dir);
  Spit(dir + "/part-0.csv", "driver_id\n1\n");
  const TimestampMicros from = Ts("2021-01-01T00:00:00Z");
  const TimestampMicros to = Ts("2025-01-01T00:00:00Z");
  EXPECT_TRUE(IsError(fs->Materialize(from, to, {}), ErrorCode::kDataSourceError,
                      {"holds no *.parquet file"}));
  std::filesystem::create_directories(dir + "/_delta_log");
  Copy(Fixture("feast_driver_stats.parquet"), dir + "/part-0.parquet");
  EXPECT_TRUE(IsError(fs->Materialize(from, to, {}), ErrorCode::kDataSourceError, {"Delta table"}));
  std::filesystem::remove_all(dir + "/_delta_log");
  std::filesystem::create_symlink(dir + "/part-0.parquet", dir + "/part-1.parquet");
  EXPECT_TRUE(IsError(fs->Materialize(from, to, {}), ErrorCode::kDataSourceError,
                      {"'part-1.parquet' is not a regular file"}));
  std::filesystem::remove(dir + "/part-1.parquet");
  LARDER_EXPECT_OK(fs->Materialize(from, to, {}).status());

  Repo fifo;
  auto fs2 = OpenRepo(fifo, "data/stats.parquet");
  ASSERT_TRUE(fs2);
  std::filesystem::create_directories(fifo.dir() + "/data");
  ASSERT_EQ(::mkfifo((fifo.dir() + "/data/stats.parquet").c_str(), 0600), 0);
  EXPECT_TRUE(
      IsError(fs2->Materialize(from, to, {}), ErrorCode::kDataSourceError, {"not a regular file"}));
}

// A row id that names no file of the list (a declared row count past 2^40 would carry into the
// file bits) is described as such, not read past the list (found by review).
TEST(ParquetRowIds, AnIdNamingNoFileIsDescribedWithoutReadingPastTheList) {
  const std::vector<std::string> files = {"a.parquet"};
  EXPECT_EQ(DescribeParquetRow(files, ParquetRowId(0, 4)), "a.parquet row 5");
  EXPECT_NE(DescribeParquetRow(files, ParquetRowId(2, 4)).find("no known file"), std::string::npos);
}

TEST_F(ParquetSourceTest, RowGroupsOutsideTheIntervalAreNotDecoded) {
  // The fixture's one row group holds 2021-04-12 .. 2024-09-10 (its statistics). Its column
  // data is overwritten with garbage, the footer kept: a run whose interval lies outside the
  // statistics succeeds without decoding it; one inside fails on the garbage.
  Repo repo;
  auto fs = OpenRepo(repo, "data/driver_stats.parquet");
  ASSERT_TRUE(fs);
  std::string bytes = Slurp(Fixture("feast_driver_stats.parquet"));
  ASSERT_GT(bytes.size(), 12u);
  uint32_t footer = 0;
  std::memcpy(&footer, bytes.data() + bytes.size() - 8, 4);
  ASSERT_LT(footer + 8u, bytes.size());
  for (size_t i = 4; i < bytes.size() - 8 - footer; ++i) bytes[i] = '\xff';
  Spit(repo.dir() + "/data/driver_stats.parquet", bytes);

  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult r, fs->Materialize(Ts("2024-09-11T00:00:00Z"),
                                                                   Ts("2024-09-12T00:00:00Z"), {}));
  ASSERT_EQ(r.views.size(), 1u);
  EXPECT_EQ(r.views[0].row_groups_skipped, 1u);
  EXPECT_EQ(r.views[0].rows_read, 0u);
  LARDER_ASSERT_OK_AND_ASSIGN(
      r, fs->Materialize(Ts("2020-01-01T00:00:00Z"), Ts("2021-04-12T00:00:00Z"), {}));
  EXPECT_EQ(r.views[0].row_groups_skipped, 1u);
  auto bad = fs->Materialize(Ts("2024-09-01T00:00:00Z"), Ts("2024-09-12T00:00:00Z"), {});
  EXPECT_TRUE(IsError(bad, ErrorCode::kDataSourceError, {"driver_stats.parquet", "row group 0"}));
}

TEST_F(ParquetSourceTest, HistoricalRetrievalReadsParquetAsCsv) {
  // The same entity rows joined against Feast's file as Parquet (a file, then a directory of
  // two part files) and as CSV, with ttl 0 and with a ttl of one hour.
  for (const char* ttl : {"0", "1h"}) {
    for (bool dir : {false, true}) {
      SCOPED_TRACE(std::string("ttl ") + ttl + (dir ? ", directory" : ", file"));
      std::vector<std::string> parts = {Fixture("feast_driver_stats.parquet")};
      if (dir) parts.push_back(Fixture("feast_driver_stats_with_string.parquet"));
      Repo pq, csv;
      std::set<int64_t> ids;
      Spit(csv.dir() + "/data/driver_stats.csv", ParquetAsCsv(parts, &ids));
      auto fs_pq = OpenRepo(pq, dir ? "data/stats" : "data/stats.parquet", "Float32", ttl);
      auto fs_csv = OpenRepo(csv, "data/driver_stats.csv", "Float32", ttl);
      ASSERT_TRUE(fs_pq && fs_csv);
      for (size_t i = 0; i < parts.size(); ++i) {
        Copy(parts[i], dir ? pq.dir() + "/data/stats/part-" + std::to_string(i) + ".parquet"
                           : pq.dir() + "/data/stats.parquet");
      }
      ids.insert(99999);  // no rows
      ExpectSameDriverHistory(*fs_pq, *fs_csv, ids,
                              {"2021-04-12T07:30:00Z", "2024-08-26T12:30:00Z",
                               "2024-09-10T15:52:25.905768Z", "2026-01-01T00:00:00Z"});
    }
  }
}

TEST_F(ParquetSourceTest, OfflinePushesToASingleParquetFileAreRefused) {
  // A push would have to rewrite the whole file: refused, saying why and what to do instead.
  Repo repo;
  repo.Write(ViewOnPushSource(DriverRepo("data/driver_stats.parquet")));
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  const std::string path = repo.dir() + "/data/driver_stats.parquet";
  Copy(Fixture("feast_driver_stats.parquet"), path);
  const std::string before = Slurp(path);
  Frame rows = MakeFrame({{"driver_id", Ints({1001})},
                          {"event_timestamp", {S("2026-01-01T00:00:00Z")}},
                          {"conv_rate", {F(0.5)}},
                          {"acc_rate", {F(0.25)}},
                          {"avg_daily_trips", Ints({7})}});
  for (PushMode mode : {PushMode::kOffline, PushMode::kOnlineAndOffline}) {
    auto r = fs->Push("driver_stats_push", rows, mode);
    EXPECT_TRUE(
        IsError(r, ErrorCode::kDataSourceError,
                {"batch source 'driver_stats'", "single Parquet file", path, "nothing was written",
                 "rewriting the whole file", "directory of part files"}));
  }
  EXPECT_EQ(Slurp(path), before);
  EXPECT_EQ(ReadAll(*fs, {1001}).statuses[0], FieldStatus::kNotFound);  // nor online
  // Nothing else appeared next to it either.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(repo.dir() + "/data"))
    entries += !e.path().empty();
  EXPECT_EQ(entries, 1u);
}

TEST_F(ParquetSourceTest, CheckValidatesParquetSources) {
  Repo good;
  auto fs = OpenRepo(good, "data/stats");
  ASSERT_TRUE(fs);
  Copy(Fixture("feast_driver_stats.parquet"), good.dir() + "/data/stats/part-0.parquet");
  Copy(Fixture("feast_driver_stats_with_string.parquet"),
       good.dir() + "/data/stats/part-1.parquet");
  LARDER_ASSERT_OK_AND_ASSIGN(auto checks, CheckBatchSources(fs->config()));
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_TRUE(checks[0].exists);
  EXPECT_GT(checks[0].records, 1808u);  // both part files' rows
  EXPECT_TRUE(checks[0].violations.empty()) << checks[0].violations[0];

  // A column type the dtype cannot take; then column data overwritten with garbage.
  Repo bad;
  auto fs2 = OpenRepo(bad, "data/stats.parquet", "Int64");
  ASSERT_TRUE(fs2);
  const std::string path = bad.dir() + "/data/stats.parquet";
  Copy(Fixture("feast_driver_stats.parquet"), path);
  LARDER_ASSERT_OK_AND_ASSIGN(checks, CheckBatchSources(fs2->config()));
  ASSERT_EQ(checks[0].violations.size(), 1u);
  EXPECT_NE(checks[0].violations[0].find("'conv_rate'"), std::string::npos);
  EXPECT_NE(checks[0].violations[0].find("Parquet type FLOAT"), std::string::npos);
  Repo torn;
  auto fs3 = OpenRepo(torn, "data/stats.parquet");
  ASSERT_TRUE(fs3);
  std::string bytes = Slurp(Fixture("feast_driver_stats.parquet"));
  uint32_t footer = 0;
  std::memcpy(&footer, bytes.data() + bytes.size() - 8, 4);
  for (size_t i = 4; i < bytes.size() - 8 - footer; ++i) bytes[i] = '\xff';
  Spit(torn.dir() + "/data/stats.parquet", bytes);
  LARDER_ASSERT_OK_AND_ASSIGN(checks, CheckBatchSources(fs3->config()));
  ASSERT_FALSE(checks[0].violations.empty());
  EXPECT_NE(checks[0].violations[0].find("row group 0"), std::string::npos);
}

TEST_F(ParquetSourceTest, ManyColumnsAndRowGroupsMatchCsv) {
  // 13 columns in 3 row groups of 1000 rows (written by Larder's writer, uncompressed), 10
  // Float32 features for 100 entities; the interval covers the middle row group only, so the
  // other two are skipped by their statistics. Same results as the same rows in CSV.
  constexpr TimestampMicros kBase = 1'767'225'600'000'000;  // 2026-01-01
  constexpr int64_t kRows = 3000;
  auto value = [](int64_t i, int f) {
    return static_cast<float>((i * 7 + f * 13) % 100'000) / 1000.0f;
  };
  std::string views =
      "feature_views:\n  - name: v\n    entities: [driver]\n    ttl: 0\n"
      "    source: stats_file\n    schema:\n";
  using parquet::PhysicalType;
  std::vector<parquet::WriteColumn> cols;
  for (const char* name : {"event_timestamp", "created"}) {
    cols.push_back(
        {.name = name, .type = PhysicalType::kInt64, .timestamp = true, .optional = false});
  }
  cols.push_back({.name = "driver_id", .type = PhysicalType::kInt64, .optional = false});
  std::string csv = "event_timestamp,created,driver_id";
  std::vector<std::string> refs;
  for (int f = 0; f < 10; ++f) {
    cols.push_back(
        {.name = "f" + std::to_string(f), .type = PhysicalType::kFloat, .optional = false});
    views += "      - {name: f" + std::to_string(f) + ", dtype: Float32}\n";
    csv += ",f" + std::to_string(f);
    refs.push_back("v:f" + std::to_string(f));
  }
  csv += "\n";
  for (int64_t i = 0; i < kRows; ++i) {
    const std::string ts = FormatTimestamp(kBase + i * 1'000'000);
    csv += ts + "," + ts + "," + std::to_string(i % 100);
    for (int f = 0; f < 10; ++f) {
      char buf[32];
      auto res = std::to_chars(buf, buf + sizeof buf, value(i, f));
      csv += "," + std::string(buf, res.ptr);
    }
    csv += "\n";
  }
  auto preamble = [](const std::string& path) {
    return "entities:\n  - {name: driver, join_keys: [driver_id], value_type: Int64}\n"
           "sources:\n  - {name: stats_file, type: file, path: " +
           path + ", timestamp_field: event_timestamp, created_timestamp_column: created}\n";
  };
  Repo pq, plain;
  pq.Write(preamble("data/s.parquet") + views);
  plain.Write(preamble("data/s.csv") + views);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_pq, pq.OpenApplied());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_csv, plain.OpenApplied());
  std::filesystem::create_directories(pq.dir() + "/data");
  std::vector<parquet::Column> values(cols.size());
  for (size_t c = 0; c < cols.size(); ++c) {
    values[c].rows = kRows;
    for (int64_t i = 0; i < kRows; ++i) {
      if (c < 3)
        values[c].i64.push_back(c < 2 ? kBase + i * 1'000'000 : i % 100);
      else
        values[c].f64.push_back(value(i, static_cast<int>(c) - 3));
    }
  }
  std::string bytes;
  ASSERT_TRUE(
      parquet::WriteParquet(
          cols, values, {.codec = parquet::Codec::kUncompressed, .rows_per_group = 1000}, &bytes)
          .ok());
  Spit(pq.dir() + "/data/s.parquet", bytes);
  Spit(plain.dir() + "/data/s.csv", csv);
  const TimestampMicros start = kBase + 1000 * 1'000'000;
  const TimestampMicros end = kBase + 1999 * 1'000'000;
  MaterializeProgress last;
  LARDER_ASSERT_OK_AND_ASSIGN(
      MaterializeResult a,
      fs_pq->Materialize(start, end, {}, [&last](const MaterializeProgress& p) { last = p; }));
  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult b, fs_csv->Materialize(start, end, {}));
  // Progress counts the file's bytes, all of them once it is read.
  EXPECT_EQ(last.bytes_total, std::filesystem::file_size(pq.dir() + "/data/s.parquet"));
  EXPECT_EQ(last.bytes_done, last.bytes_total);
  EXPECT_EQ(a.views[0].row_groups_skipped, 2u);
  EXPECT_EQ(a.views[0].rows_read, 1000u);
  EXPECT_EQ(a.views[0].rows_read, b.views[0].rows_read);
  EXPECT_EQ(a.views[0].rows_written, 100u);
  EXPECT_EQ(a.views[0].rows_written, b.views[0].rows_written);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 100; ++i) ids.push_back(i);
  auto x = fs_pq->GetOnlineFeatures(Features(refs, MakeFrame({{"driver_id", Ints(ids)}})));
  auto y = fs_csv->GetOnlineFeatures(Features(refs, MakeFrame({{"driver_id", Ints(ids)}})));
  ASSERT_TRUE(x.ok() && y.ok());
  for (size_t i = 1; i < x->results.size(); ++i) {
    EXPECT_EQ(x->results[i].values, y->results[i].values) << i;
    EXPECT_EQ(x->results[i].event_timestamps, y->results[i].event_timestamps) << i;
  }
  // Entity 5's latest row in the interval is row 1905.
  EXPECT_EQ(x->results[1].values[5].f64, static_cast<double>(value(1905, 0)));
}

TEST_F(ParquetSourceTest, AParquetEntityDataframeJoinsAsItsCsv) {
  // Feast's file as the entity dataframe (its driver_id and event_timestamp; its other columns
  // are kept), read as Parquet and as the same rows in CSV: the same features join.
  Repo repo;
  auto fs = OpenRepo(repo, "data/driver_stats.parquet");
  ASSERT_TRUE(fs);
  Copy(Fixture("feast_driver_stats.parquet"), repo.dir() + "/data/driver_stats.parquet");
  std::set<int64_t> ids;
  const std::string csv_path = repo.dir() + "/entities.csv";
  Spit(csv_path, ParquetAsCsv({Fixture("feast_driver_stats.parquet")}, &ids));
  LARDER_ASSERT_OK_AND_ASSIGN(Frame pq_df, ReadParquetFrame(Fixture("feast_driver_stats.parquet")));
  LARDER_ASSERT_OK_AND_ASSIGN(Frame csv_df, ReadFrameFile(csv_path));
  ASSERT_EQ(pq_df.num_rows(), 1808u);
  HistoricalRequest req;
  req.features = {"driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"};
  req.full_feature_names = true;
  req.entity_df = pq_df;
  LARDER_ASSERT_OK_AND_ASSIGN(Frame a, fs->GetHistoricalFeatures(req));
  req.entity_df = csv_df;
  LARDER_ASSERT_OK_AND_ASSIGN(Frame b, fs->GetHistoricalFeatures(req));
  ASSERT_EQ(a.num_rows(), b.num_rows());
  for (const char* name :
       {"driver_hourly_stats__conv_rate", "driver_hourly_stats__avg_daily_trips"}) {
    const int ca = a.FindColumn(name);
    const int cb = b.FindColumn(name);
    ASSERT_GE(ca, 0);
    ASSERT_GE(cb, 0);
    for (size_t r = 0; r < a.num_rows(); ++r) {
      ASSERT_EQ(CellText(a.columns[ca][r]), CellText(b.columns[cb][r])) << name << r;
      ASSERT_NE(a.columns[ca][r].kind, Cell::Kind::kNull) << r;  // each row joins itself
    }
  }
}

TEST_F(ParquetSourceTest, MaterializeAsOfNowReadsParquetAsCsv) {
  // Feast's disable_event_timestamp: every row up to now, written with now as its event time.
  Repo pq, csv;
  std::set<int64_t> ids;
  std::unique_ptr<FeatureStore> fs_pq, fs_csv;
  OpenFeastPair(pq, csv, &ids, &fs_pq, &fs_csv);
  ASSERT_FALSE(HasFatalFailure());
  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult a, fs_pq->MaterializeAsOfNow());
  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult b, fs_csv->MaterializeAsOfNow());
  EXPECT_EQ(a.views[0].rows_read, 1808u);
  EXPECT_EQ(a.views[0].rows_written, b.views[0].rows_written);
  Online x = ReadAll(*fs_pq, ids);
  Online y = ReadAll(*fs_csv, ids);
  EXPECT_EQ(x.values, y.values);
  ASSERT_FALSE(x.ts.empty());
  EXPECT_GT(x.ts[0], Ts("2026-01-01T00:00:00Z"));  // now, not the row's own time
}

}  // namespace
}  // namespace larder
