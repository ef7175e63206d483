// Offline pushes to a Parquet batch source that is a directory (engine/offline/parquet_push.h):
// each push adds one part file, atomically, with the schema of the directory's first part file
// (or one from the batch source's dtypes), read back by materialize and get-historical-features
// as the same rows pushed to a CSV source are; values a column cannot hold are refused with
// nothing written.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <set>

#include "engine/offline/file_ops.h"
#include "engine/offline/offline_check.h"
#include "engine/offline/parquet_source.h"
#include "engine/offline/part_file.h"
#include "engine/parquet/parquet_file.h"
#include "engine/parquet/parquet_writer.h"
#include "tests/offline_fixture.h"
#include "tests/other_user.h"
#include "tests/parquet_fixture.h"

namespace larder {
namespace {

using namespace larder::testing;  // NOLINT

// Every entry of `dir` (hidden ones too), by name.
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Rows for drivers 1001..1003 at hours h0.. of 2026-01-01, with a created column.
Frame PushRows(int n, int h0, bool created = true,
               const char* created_at = "2026-01-02T00:00:00Z") {
  std::vector<Cell> ids, ts, cr, conv, acc, trips;
  for (int i = 0; i < n; ++i) {
    ids.push_back(I(1001 + i % 3));
    char buf[64];
    std::snprintf(buf, sizeof buf, "2026-01-01T%02d:00:00.123456Z", h0 + i);
    ts.push_back(S(buf));
    cr.push_back(S(created_at));
    conv.push_back(F(0.25 + i));
    acc.push_back(i == 1 ? Cell::Null() : F(0.5 * i));
    trips.push_back(I(10 * i));
  }
  std::vector<std::pair<std::string, std::vector<Cell>>> cols = {
      {"driver_id", ids}, {"event_timestamp", ts},    {"conv_rate", conv},
      {"acc_rate", acc},  {"avg_daily_trips", trips}, {"not_in_any_view", trips}};
  if (created) cols.push_back({"created", cr});
  return MakeFrame(cols);
}

class ParquetPushTest : public ParquetSourceTest {
 protected:
  // Materializes all of 2021..2027 in both stores and expects the same online rows.
  void ExpectSameOnline(FeatureStore& a, FeatureStore& b, const std::set<int64_t>& ids) {
    LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult x, a.Materialize(Ts("2021-01-01T00:00:00Z"),
                                                                   Ts("2027-01-01T00:00:00Z"), {}));
    LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult y, b.Materialize(Ts("2021-01-01T00:00:00Z"),
                                                                   Ts("2027-01-01T00:00:00Z"), {}));
    EXPECT_EQ(x.views[0].rows_read, y.views[0].rows_read);
    EXPECT_EQ(x.views[0].rows_written, y.views[0].rows_written);
    Online p = ReadAll(a, ids), q = ReadAll(b, ids);
    EXPECT_EQ(p.values, q.values);
    EXPECT_EQ(p.statuses, q.statuses);
    EXPECT_EQ(p.ts, q.ts);
    size_t present = 0;
    for (FieldStatus s : p.statuses) present += s == FieldStatus::kPresent;
    EXPECT_GT(present, 0u);
  }
  // get-historical-features at a few times per driver, compared cell by cell.
  void ExpectSameHistorical(FeatureStore& a, FeatureStore& b, const std::set<int64_t>& ids) {
    ExpectSameDriverHistory(
        a, b, ids, {"2024-08-26T12:30:00Z", "2026-01-01T01:30:00Z", "2026-01-01T05:00:00Z"});
  }
};

// The columns of Feast's driver_stats a first part needs (no created column), then `more`.
std::vector<parquet::WriteColumn> DriverPartColumns(std::vector<parquet::WriteColumn> more) {
  std::vector<parquet::WriteColumn> cols = {
      {.name = "event_timestamp",
       .type = parquet::PhysicalType::kInt64,
       .timestamp = true,
       .optional = false},
      {.name = "driver_id", .type = parquet::PhysicalType::kInt64, .optional = false},
      {.name = "conv_rate", .type = parquet::PhysicalType::kFloat},
      {.name = "acc_rate", .type = parquet::PhysicalType::kFloat},
      {.name = "avg_daily_trips", .type = parquet::PhysicalType::kInt64},
  };
  cols.insert(cols.end(), more.begin(), more.end());
  return cols;
}

TEST_F(ParquetPushTest, PushesToAMissingDirectoryCreateItAndReadAsTheSamePushesToCsv) {
  Repo pq, csv;
  // A path ending in '/' names a directory source; it does not exist yet.
  auto fs_pq = OpenRepo(pq, "data/driver_stats/");
  auto fs_csv = OpenRepo(csv, "data/driver_stats.csv");
  ASSERT_TRUE(fs_pq && fs_csv);
  // The second push repeats (driver, event time) pairs of the first with a later created time,
  // which decides (parts pushed within one second are in no particular order among themselves).
  for (auto [n, h0, cr] :
       {std::tuple{5, 0, "2026-01-02T00:00:00Z"}, std::tuple{4, 3, "2026-01-03T00:00:00Z"}}) {
    LARDER_ASSERT_OK(
        fs_pq->Push("driver_stats_push", PushRows(n, h0, true, cr), PushMode::kOffline).status());
    LARDER_ASSERT_OK(
        fs_csv->Push("driver_stats_push", PushRows(n, h0, true, cr), PushMode::kOffline).status());
  }
  // Two pushes, two part files, named part-<UTC time>-<16 hex>.parquet; no temp file left.
  const std::string dir = pq.dir() + "/data/driver_stats";
  const std::vector<std::string> names = Entries(dir);
  ASSERT_EQ(names.size(), 2u);
  const std::regex pattern("part-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{16}\\.parquet");
  for (const std::string& n : names) EXPECT_TRUE(std::regex_match(n, pattern)) << n;
  // The schema from the batch source: event time TIMESTAMP(MICROS,UTC) REQUIRED, join key
  // REQUIRED, the created column and features OPTIONAL, Snappy, in the source's column order.
  LARDER_ASSERT_OK_AND_ASSIGN(auto part, parquet::ParquetFile::Open(dir + "/" + names[0]));
  std::vector<std::string> got;
  for (const parquet::Field& f : part->fields()) {
    got.push_back(f.name + " " + f.type_name + (f.shape.max_def > 0 ? " optional" : " required"));
  }
  EXPECT_EQ(
      got, (std::vector<std::string>{"event_timestamp INT64 (TIMESTAMP(MICROS,UTC)) required",
                                     "created INT64 (TIMESTAMP(MICROS,UTC)) optional",
                                     "driver_id INT64 required", "conv_rate FLOAT optional",
                                     "acc_rate FLOAT optional", "avg_daily_trips INT64 optional"}));
  EXPECT_EQ(part->meta().row_groups[0].columns[0].meta.codec,
            static_cast<int32_t>(parquet::Codec::kSnappy));
  EXPECT_EQ(part->meta().created_by, parquet::WriterCreatedBy());
  const std::set<int64_t> ids = {1001, 1002, 1003, 4242};
  ExpectSameOnline(*fs_pq, *fs_csv, ids);
  ExpectSameHistorical(*fs_pq, *fs_csv, ids);
}

TEST_F(ParquetPushTest, APushIntoFeastsDirectoryKeepsItsSchemaAndIsReadBack) {
  Repo pq, csv;
  std::set<int64_t> ids;
  Spit(csv.dir() + "/data/driver_stats.csv",
       ParquetAsCsv({Fixture("feast_driver_stats.parquet")}, &ids));
  auto fs_pq = OpenRepo(pq, "data/stats");
  auto fs_csv = OpenRepo(csv, "data/driver_stats.csv");
  ASSERT_TRUE(fs_pq && fs_csv);
  const std::string dir = pq.dir() + "/data/stats";
  Copy(Fixture("feast_driver_stats.parquet"), dir + "/part-0.parquet");
  LARDER_ASSERT_OK_AND_ASSIGN(auto feast, parquet::ParquetFile::Open(dir + "/part-0.parquet"));
  // Pushed without the created column: written null in the part (the CSV leaves it empty).
  for (auto* fs : {fs_pq.get(), fs_csv.get()}) {
    LARDER_ASSERT_OK(
        fs->Push("driver_stats_push", PushRows(6, 1, false), PushMode::kOffline).status());
  }
  LARDER_ASSERT_OK_AND_ASSIGN(std::vector<std::string> parts, ParquetSourceFiles(dir));
  ASSERT_EQ(parts.size(), 2u);
  LARDER_ASSERT_OK_AND_ASSIGN(auto mine, parquet::ParquetFile::Open(parts[1]));
  // Feast's columns, in its order and with its types (TIMESTAMP(NANOS) events included); the
  // push's column no view reads and Feast's file lacks was dropped.
  ASSERT_EQ(mine->fields().size(), feast->fields().size());
  for (size_t i = 0; i < feast->fields().size(); ++i) {
    const parquet::Field& a = feast->fields()[i];
    const parquet::Field& b = mine->fields()[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.type_name, a.type_name) << a.name;
    EXPECT_EQ(b.shape.max_def, a.shape.max_def) << a.name;
  }
  const parquet::Field* ev = mine->FindField("event_timestamp");
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->leaf_schema->unit, parquet::TimeUnit::kNanos);
  EXPECT_EQ(mine->FindField("not_in_any_view"), nullptr);
  // The new rows, read back: 01:00:00.123456 .. 06:00:00.123456, exact in nanoseconds.
  LARDER_ASSERT_OK_AND_ASSIGN(parquet::Column times, mine->ReadColumn(0, *ev));
  ASSERT_EQ(times.rows, 6u);
  EXPECT_EQ(times.i64[0], Ts("2026-01-01T01:00:00.123456Z"));
  EXPECT_EQ(times.i64[5], Ts("2026-01-01T06:00:00.123456Z"));
  LARDER_ASSERT_OK_AND_ASSIGN(parquet::Column created,
                              mine->ReadColumn(0, *mine->FindField("created")));
  EXPECT_EQ(created.valid, std::vector<uint8_t>(6, 0));
  // `larder check` decodes every row group of both parts and finds nothing wrong.
  LARDER_ASSERT_OK_AND_ASSIGN(auto checks, CheckBatchSources(fs_pq->config()));
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_TRUE(checks[0].violations.empty()) << checks[0].violations[0];
  EXPECT_EQ(checks[0].records, static_cast<uint64_t>(feast->meta().num_rows) + 6);
  ids.insert(1001);
  ExpectSameOnline(*fs_pq, *fs_csv, ids);
  ExpectSameHistorical(*fs_pq, *fs_csv, ids);
}

TEST_F(ParquetPushTest, AValueItsColumnCannotHoldWritesNothingAndNamesTheColumn) {
  Repo repo;
  // conv_rate declared Float64 over Feast's FLOAT column: 0.25 fits a FLOAT, 0.1 does not.
  auto fs = OpenRepo(repo, "data/stats", "Float64");
  ASSERT_TRUE(fs);
  const std::string dir = repo.dir() + "/data/stats";
  Copy(Fixture("feast_driver_stats.parquet"), dir + "/part-0.parquet");
  Frame rows = PushRows(2, 0);
  rows.columns[static_cast<size_t>(rows.FindColumn("conv_rate"))][1] = F(0.1);
  for (PushMode mode : {PushMode::kOffline, PushMode::kOnlineAndOffline}) {
    auto r = fs->Push("driver_stats_push", rows, mode);
    EXPECT_TRUE(IsError(r, ErrorCode::kDataSourceError,
                        {dir + "/part-0.parquet", "column 'conv_rate'", "Parquet type FLOAT",
                         "Float64 value 0.1 (not exact as FLOAT)", "nothing was written"}));
  }
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"part-0.parquet"});
  EXPECT_EQ(ReadAll(*fs, {1001}).statuses[0], FieldStatus::kNotFound);  // nor online

  // An Int64 of 2^63 - 1 into FLOAT rounds to 2^63, which no int64 holds: refused before it is
  // cast back (that cast is undefined behaviour; x86 happened to give a refusal).
  {
    Repo ints;
    auto fs3 = OpenRepo(ints, "data/stats", "Int64");
    ASSERT_TRUE(fs3);
    Copy(Fixture("feast_driver_stats.parquet"), ints.dir() + "/data/stats/part-0.parquet");
    Frame big = PushRows(1, 0);
    big.columns[static_cast<size_t>(big.FindColumn("conv_rate"))][0] = I(INT64_MAX);
    auto r = fs3->Push("driver_stats_push", big, PushMode::kOffline);
    EXPECT_TRUE(IsError(r, ErrorCode::kDataSourceError,
                        {"column 'conv_rate'", "9223372036854775807 (not exact as FLOAT)"}));
  }

  // A dtype the column's type cannot take at all: a String feature into INT64.
  Repo typed;
  typed.Write(DriverRepo("data/stats") + "      - {name: avg_daily_trips_s, dtype: String}\n");
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs2, typed.OpenApplied());
  const std::string dir2 = typed.dir() + "/data/stats";
  // A first part written by Larder's writer, with avg_daily_trips_s INT64 and a REQUIRED
  // column `region` no push provides.
  std::vector<parquet::WriteColumn> cols =
      DriverPartColumns({{.name = "avg_daily_trips_s", .type = parquet::PhysicalType::kInt64},
                         {.name = "region",
                          .type = parquet::PhysicalType::kByteArray,
                          .string = true,
                          .optional = false}});
  std::vector<parquet::Column> none(cols.size());
  std::string bytes;
  LARDER_ASSERT_OK(parquet::WriteParquet(cols, none, {}, &bytes));
  Spit(dir2 + "/part-0.parquet", bytes);
  Frame s = PushRows(2, 0);
  s.names.push_back("avg_daily_trips_s");
  s.columns.push_back({S("7"), S("8")});
  EXPECT_TRUE(IsError(fs2->Push("driver_stats_push", s, PushMode::kOffline),
                      ErrorCode::kDataSourceError,
                      {dir2 + "/part-0.parquet", "column 'avg_daily_trips_s'", "Parquet type INT64",
                       "String", "nothing was written"}));
  // With that column a STRING, the REQUIRED `region` the push lacks is the refusal.
  cols[5].type = parquet::PhysicalType::kByteArray, cols[5].string = true;
  LARDER_ASSERT_OK(parquet::WriteParquet(cols, none, {}, &bytes));
  Spit(dir2 + "/part-0.parquet", bytes);
  EXPECT_TRUE(IsError(fs2->Push("driver_stats_push", s, PushMode::kOffline),
                      ErrorCode::kDataSourceError,
                      {"column 'region'", "REQUIRED", "does not have it", "nothing was written"}));
  EXPECT_EQ(Entries(dir2), std::vector<std::string>{"part-0.parquet"});
}

TEST_F(ParquetPushTest, AFirstPartLackingAColumnViewsNeedIsRefusedAsACsvHeaderIs) {
  Repo repo;
  auto fs = OpenRepo(repo, "data/stats");
  ASSERT_TRUE(fs);
  const std::string dir = repo.dir() + "/data/stats";
  // A first part without avg_daily_trips: a part with its schema could not be materialized.
  std::vector<parquet::WriteColumn> cols = {
      {.name = "event_timestamp", .type = parquet::PhysicalType::kInt64, .timestamp = true},
      {.name = "driver_id", .type = parquet::PhysicalType::kInt64},
      {.name = "conv_rate", .type = parquet::PhysicalType::kFloat},
      {.name = "acc_rate", .type = parquet::PhysicalType::kFloat}};
  std::string bytes;
  LARDER_ASSERT_OK(
      parquet::WriteParquet(cols, std::vector<parquet::Column>(cols.size()), {}, &bytes));
  Spit(dir + "/part-0.parquet", bytes);
  EXPECT_TRUE(IsError(fs->Push("driver_stats_push", PushRows(2, 0), PushMode::kOffline),
                      ErrorCode::kDataSourceError,
                      {dir + "/part-0.parquet: the schema lacks column 'avg_daily_trips' (feature)",
                       "batch source 'driver_stats'", "nothing was written"}));
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"part-0.parquet"});
}

TEST_F(ParquetPushTest, NullKeysAndEventTimesAreRefusedAsForCsv) {
  Repo repo;
  auto fs = OpenRepo(repo, "data/stats/");
  ASSERT_TRUE(fs);
  Frame rows = PushRows(3, 0);
  rows.columns[static_cast<size_t>(rows.FindColumn("driver_id"))][2] = Cell::Null();
  EXPECT_TRUE(IsError(fs->Push("driver_stats_push", rows, PushMode::kOffline),
                      ErrorCode::kInvalidArgument, {"row 3", "'driver_id'", "join key is null"}));
  rows = PushRows(3, 0);
  rows.columns[static_cast<size_t>(rows.FindColumn("event_timestamp"))][1] = Cell::Null();
  EXPECT_TRUE(IsError(fs->Push("driver_stats_push", rows, PushMode::kOffline),
                      ErrorCode::kInvalidArgument, {"row 2", "'event_timestamp'"}));
  EXPECT_TRUE(Entries(repo.dir() + "/data/stats").empty());
}

TEST_F(ParquetPushTest, LeftoverHiddenTempFilesAreIgnoredByReadersAndPushes) {
  Repo pq, csv;
  auto fs_pq = OpenRepo(pq, "data/stats");
  auto fs_csv = OpenRepo(csv, "data/driver_stats.csv");
  ASSERT_TRUE(fs_pq && fs_csv);
  const std::string dir = pq.dir() + "/data/stats";
  // What a crash mid-push leaves: a hidden, incomplete temp file.
  Spit(dir + "/.part-20260101T000000Z-0123456789abcdef.parquet.tmp", "PAR1 torn");
  for (auto* fs : {fs_pq.get(), fs_csv.get()}) {
    LARDER_ASSERT_OK(fs->Push("driver_stats_push", PushRows(4, 0), PushMode::kOffline).status());
  }
  LARDER_ASSERT_OK_AND_ASSIGN(std::vector<std::string> parts, ParquetSourceFiles(dir));
  EXPECT_EQ(parts.size(), 1u);
  ExpectSameOnline(*fs_pq, *fs_csv, {1001, 1002, 1003});
}

TEST_F(ParquetPushTest, PartFilesGetExactlyTheFileModeWhateverTheUmask) {
  for (const char* mode : {"0600", "0644"}) {
    Repo repo;
    repo.Write(ViewOnPushSource(DriverRepo("data/stats/")), StoreOptions{.file_mode = mode});
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
    const mode_t old = ::umask(0077);
    auto r = fs->Push("driver_stats_push", PushRows(2, 0), PushMode::kOnlineAndOffline);
    ::umask(old);
    LARDER_ASSERT_OK(r.status());
    const std::vector<std::string> names = Entries(repo.dir() + "/data/stats");
    ASSERT_EQ(names.size(), 1u);
    struct stat st {};
    ASSERT_EQ(::stat((repo.dir() + "/data/stats/" + names[0]).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, std::stoul(mode, nullptr, 8)) << mode;
    EXPECT_EQ(ReadAll(*fs, {1001}).statuses[0], FieldStatus::kPresent);  // and online
  }
}

// Records the order of writes and syncs, and fails the sync of `fail_nth` (1-based; 0: none).
class SyncOps : public FileOps {
 public:
  std::vector<std::string> calls;
  int fail_nth = 0;
  ssize_t Write(int fd, const void* data, size_t n) override {
    if (calls.empty() || calls.back() != "write") calls.push_back("write");
    return FileOps::Write(fd, data, n);
  }
  int Fsync(int fd) override {
    struct stat st {};
    ::fstat(fd, &st);
    calls.push_back(S_ISDIR(st.st_mode) ? "fsync dir" : "fsync file");
    if (++syncs_ == fail_nth) {
      errno = EIO;
      return -1;
    }
    return FileOps::Fsync(fd);
  }

 private:
  int syncs_ = 0;
};

TEST_F(ParquetPushTest, APartIsSyncedThenRenamedAndAFailedSyncLeavesNothing) {
  Repo repo;
  repo.Write(ViewOnPushSource(DriverRepo("data/stats/")));
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  const std::string dir = repo.dir() + "/data/stats";
  SyncOps ops;
  FileOps* previous = SetFileOpsForTesting(&ops);
  LARDER_EXPECT_OK(fs->Push("driver_stats_push", PushRows(3, 0), PushMode::kOffline).status());
  // The new directories' entries (data/ in the repo, stats/ in data/), then the file's bytes,
  // synced, then (after the link) the file's link count and the directory.
  EXPECT_EQ(ops.calls, (std::vector<std::string>{"fsync dir", "fsync dir", "write", "fsync file",
                                                 "fsync file", "fsync dir"}));
  ASSERT_EQ(Entries(dir).size(), 1u);
  // A failed sync of the file, of its link, then of the directory: the push fails, no file is left
  // (hidden or not), and with online_and_offline nothing is written online.
  for (int nth : {1, 2, 3}) {
    SyncOps failing;
    failing.fail_nth = nth;
    SetFileOpsForTesting(&failing);
    auto r = fs->Push("driver_stats_push", PushRows(3, 10), PushMode::kOnlineAndOffline);
    EXPECT_TRUE(IsError(r, ErrorCode::kIoError, {"cannot sync", dir})) << nth;
    EXPECT_EQ(Entries(dir).size(), 1u) << nth;
  }
  SetFileOpsForTesting(previous);
  EXPECT_EQ(ReadAll(*fs, {1001}).statuses[0], FieldStatus::kNotFound);
}

// Ends the process in the middle of its first write (what a crash or kill -9 does).
class DieOnWrite : public FileOps {
 public:
  ssize_t Write(int, const void*, size_t) override { ::_exit(7); }
};

TEST_F(ParquetPushTest, AProcessKilledMidWriteLeavesNoFileBehind) {
  // The part is an unnamed file (O_TMPFILE) until it is complete and synced: before, a crash
  // mid-write left a hidden .part-*.parquet.tmp that nothing ever removed.
  TempDir tmp;
  const std::string dir = tmp.path() + "/parts";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  const int probe = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (probe < 0) GTEST_SKIP() << "no O_TMPFILE here: the hidden-name fallback is used";
  ::close(probe);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    DieOnWrite ops;
    SetFileOpsForTesting(&ops);
    (void)InstallNewFile(dir, "part-0.parquet", std::string(1 << 20, 'x'), 0640);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);  // it died in the write
  EXPECT_EQ(Entries(dir), std::vector<std::string>{});
  // And a whole install still gives the file, with its mode.
  LARDER_ASSERT_OK(InstallNewFile(dir, "part-0.parquet", "PAR1", 0640));
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"part-0.parquet"});
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/part-0.parquet").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_FALSE(InstallNewFile(dir, "part-0.parquet", "PAR1", 0640).ok());  // never replaced
}

TEST_F(ParquetPushTest, ListsKeepTheFirstPartsNamesAndLegacyLayoutsAreRefused) {
  // A first part whose list column names its element "item" (pyarrow before 13, Spark): the
  // pushed part keeps that spelling, so the dataset keeps one list type. Before, the push
  // wrote list<element>, a different type to pyarrow.dataset and Spark's schema merge.
  Repo repo;
  auto fs = OpenRepo(repo, "data/stats");
  ASSERT_TRUE(fs);
  const std::string dir = repo.dir() + "/data/stats";
  std::vector<parquet::WriteColumn> cols =
      DriverPartColumns({{.name = "tags",
                          .type = parquet::PhysicalType::kByteArray,
                          .string = true,
                          .list = true,
                          .element_name = "item"}});
  std::vector<parquet::Column> none(cols.size());
  none.back().list_begin = {0};
  std::string bytes;
  LARDER_ASSERT_OK(parquet::WriteParquet(cols, none, {}, &bytes));
  Spit(dir + "/part-0.parquet", bytes);
  LARDER_ASSERT_OK(fs->Push("driver_stats_push", PushRows(2, 0), PushMode::kOffline).status());
  const std::vector<std::string> names = Entries(dir);
  ASSERT_EQ(names.size(), 2u);
  LARDER_ASSERT_OK_AND_ASSIGN(auto pushed, parquet::ParquetFile::Open(dir + "/" + names[1]));
  const parquet::Field* tags = pushed->FindField("tags");
  ASSERT_NE(tags, nullptr);
  EXPECT_EQ(tags->path, (std::vector<std::string>{"tags", "list", "item"}));

  // A first part with a legacy two-level list (parquet-avro's, Impala's fixture): refused.
  Repo legacy;
  auto fs2 = OpenRepo(legacy, "data/stats");
  ASSERT_TRUE(fs2);
  const std::string dir2 = legacy.dir() + "/data/stats";
  Copy(Fixture("AvroPrimitiveInList.parquet"), dir2 + "/part-0.parquet");
  EXPECT_TRUE(IsError(fs2->Push("driver_stats_push", PushRows(2, 0), PushMode::kOffline),
                      ErrorCode::kDataSourceError,
                      {dir2 + "/part-0.parquet", "column 'list_of_ints'", "legacy two-level layout",
                       "nothing was written"}));
  EXPECT_EQ(Entries(dir2), std::vector<std::string>{"part-0.parquet"});
}

TEST_F(ParquetPushTest, OfflineFilesAreNeverWrittenThroughALink) {
  // A symbolic link planted at the CSV log, at its lock file, or as the Parquet directory: the
  // push is refused naming it, and the file it points to is left as it was. Before, the CSV
  // append followed the link (as root: any file on the host took the rows).
  TempDir outside;
  const std::string victim = outside.path() + "/victim";
  Spit(victim, "keep\n");
  auto refused = [&](FeatureStore& fs, const std::string& what) {
    auto r = fs.Push("driver_stats_push", PushRows(2, 0), PushMode::kOffline);
    EXPECT_TRUE(IsError(r, ErrorCode::kIoError, {what, "symbolic link"})) << what;
    EXPECT_EQ(Slurp(victim), "keep\n");
  };
  Repo csv;
  auto fs_csv = OpenRepo(csv, "data/stats.csv");
  ASSERT_TRUE(fs_csv);
  const std::string log = csv.dir() + "/data/stats.csv";
  std::filesystem::create_directories(csv.dir() + "/data");
  ASSERT_EQ(::symlink(victim.c_str(), log.c_str()), 0);
  refused(*fs_csv, log);
  ASSERT_EQ(::unlink(log.c_str()), 0);
  ASSERT_EQ(::unlink((log + ".lock").c_str()), 0);  // the refused push's own lock file
  ASSERT_EQ(::symlink(victim.c_str(), (log + ".lock").c_str()), 0);
  refused(*fs_csv, log + ".lock");
  EXPECT_FALSE(std::filesystem::exists(log));

  Repo pq;
  auto fs_pq = OpenRepo(pq, "data/stats/");
  ASSERT_TRUE(fs_pq);
  const std::string real = outside.path() + "/real_parts";
  ASSERT_EQ(::mkdir(real.c_str(), 0755), 0);
  std::filesystem::create_directories(pq.dir() + "/data");
  ASSERT_EQ(::symlink(real.c_str(), (pq.dir() + "/data/stats").c_str()), 0);
  auto r = fs_pq->Push("driver_stats_push", PushRows(2, 0), PushMode::kOffline);
  EXPECT_TRUE(
      IsError(r, ErrorCode::kIoError, {"data/stats", "symbolic link", "nothing was written"}));
  EXPECT_EQ(Entries(real), std::vector<std::string>{});
}

TEST_F(ParquetPushTest, ATornTailIsNeverCutWithoutItsCopyAndFifosNeverBlockAPush) {
  // A CSV log with a torn tail: the append cuts it only once PATH.torn holds its copy. With a
  // link or a FIFO planted at PATH.torn the push is refused and the tail stays in the log
  // (before, the copy was skipped silently and the tail cut: lost; a FIFO blocked the open,
  // lock held, every later push timed out). A FIFO at the lock path is refused too.
  Repo csv;
  auto fs = OpenRepo(csv, "data/stats.csv");
  ASSERT_TRUE(fs);
  LARDER_ASSERT_OK(fs->Push("driver_stats_push", PushRows(2, 0), PushMode::kOffline).status());
  const std::string log = csv.dir() + "/data/stats.csv";
  Spit(log, "2026-01-01T09:00:00Z,,1001,0.5,\"torn", /*append=*/true);
  const std::string torn_log = Slurp(log);
  TempDir outside;
  const std::string victim = outside.path() + "/victim";
  Spit(victim, "keep\n");
  ASSERT_EQ(::symlink(victim.c_str(), (log + ".torn").c_str()), 0);
  auto r = fs->Push("driver_stats_push", PushRows(2, 5), PushMode::kOffline);
  EXPECT_TRUE(IsError(r, ErrorCode::kIoError, {log + ".torn", "symbolic link"}));
  EXPECT_EQ(Slurp(log), torn_log);
  EXPECT_EQ(Slurp(victim), "keep\n");
  ASSERT_EQ(::unlink((log + ".torn").c_str()), 0);
  ASSERT_EQ(::mkfifo((log + ".torn").c_str(), 0600), 0);
  r = fs->Push("driver_stats_push", PushRows(2, 5), PushMode::kOffline);
  // (A FIFO with no reader fails a non-blocking write-only open: ENXIO; either way, no wait.)
  EXPECT_TRUE(IsError(r, ErrorCode::kIoError, {log + ".torn"}));
  EXPECT_EQ(Slurp(log), torn_log);
  ASSERT_EQ(::unlink((log + ".torn").c_str()), 0);
  // With PATH.torn free again, the tail is copied there and cut from the log.
  LARDER_ASSERT_OK(fs->Push("driver_stats_push", PushRows(2, 5), PushMode::kOffline).status());
  EXPECT_NE(Slurp(log + ".torn").find("\"torn"), std::string::npos);
  EXPECT_EQ(Slurp(log).find("\"torn"), std::string::npos);
  ASSERT_EQ(::unlink((log + ".lock").c_str()), 0);
  ASSERT_EQ(::mkfifo((log + ".lock").c_str(), 0600), 0);
  r = fs->Push("driver_stats_push", PushRows(2, 9), PushMode::kOffline);
  EXPECT_TRUE(IsError(r, ErrorCode::kIoError, {log + ".lock", "not a regular file"}));
}

TEST_F(ParquetPushTest, OfflineFilesAnotherUserOwnsAreRefused) {
  // A CSV log, its lock file or a Parquet directory another user owns (they created it first,
  // or can replace what is in it): refused naming the owner, nothing written.
  OtherUser other;
  if (!other.ok()) GTEST_SKIP() << other.why_not();
  Repo csv;
  auto fs_csv = OpenRepo(csv, "data/stats.csv");
  ASSERT_TRUE(fs_csv);
  LARDER_ASSERT_OK(fs_csv->Push("driver_stats_push", PushRows(2, 0), PushMode::kOffline).status());
  const std::string log = csv.dir() + "/data/stats.csv";
  const std::string before = Slurp(log);
  for (const std::string& file : {log, log + ".lock"}) {
    ASSERT_EQ(::chown(file.c_str(), other.uid(), static_cast<gid_t>(-1)), 0) << file;
    auto r = fs_csv->Push("driver_stats_push", PushRows(2, 5), PushMode::kOffline);
    EXPECT_TRUE(IsError(r, ErrorCode::kIoError, {file, "is owned by " + other.name()})) << file;
    EXPECT_EQ(Slurp(log), before);
    ASSERT_EQ(::chown(file.c_str(), ::geteuid(), static_cast<gid_t>(-1)), 0) << file;
  }
  Repo pq;
  auto fs_pq = OpenRepo(pq, "data/stats/");
  ASSERT_TRUE(fs_pq);
  const std::string dir = pq.dir() + "/data/stats";
  std::filesystem::create_directories(dir);
  ASSERT_EQ(::chown(dir.c_str(), other.uid(), static_cast<gid_t>(-1)), 0);
  auto r = fs_pq->Push("driver_stats_push", PushRows(2, 0), PushMode::kOffline);
  EXPECT_TRUE(IsError(r, ErrorCode::kIoError, {dir, "is owned by " + other.name()}));
  EXPECT_EQ(Entries(dir), std::vector<std::string>{});
}

TEST_F(ParquetPushTest, DirectoriesAPushCreatesAreSyncedIntoTheirParents) {
  // data/a/b/ does not exist: the push creates data, data/a and data/a/b, and syncs the
  // directory holding each (the repo, data, data/a) before the part's own write and syncs.
  // Before, a power loss could take an acknowledged part away with its new directory. The CSV
  // append creates its file's missing directories the same way.
  for (const char* path : {"data/a/b/", "data/a/b/stats.csv"}) {
    SCOPED_TRACE(path);
    Repo repo;
    repo.Write(ViewOnPushSource(DriverRepo(path)));
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
    SyncOps ops;
    FileOps* previous = SetFileOpsForTesting(&ops);
    auto r = fs->Push("driver_stats_push", PushRows(3, 0), PushMode::kOffline);
    SetFileOpsForTesting(previous);
    LARDER_ASSERT_OK(r.status());
    ASSERT_GE(ops.calls.size(), 4u);
    EXPECT_EQ(std::vector<std::string>(ops.calls.begin(), ops.calls.begin() + 4),
              (std::vector<std::string>{"fsync dir", "fsync dir", "fsync dir", "write"}));
    EXPECT_TRUE(std::filesystem::is_directory(repo.dir() + "/data/a/b"));
  }
}

TEST_F(ParquetPushTest, EveryDtypeMapsToItsParquetTypeAndReadsBackAsCsv) {
  // A view with a feature of every dtype, arrays included; the directory has no part file, so
  // the schema comes from the dtypes. Materialized and retrieved as the same pushes to CSV.
  const std::string features =
      "      - {name: i32, dtype: Int32}\n      - {name: f64, dtype: Float64}\n"
      "      - {name: flag, dtype: Bool}\n      - {name: name, dtype: String}\n"
      "      - {name: blob, dtype: Bytes}\n      - {name: seen, dtype: UnixTimestamp}\n"
      "      - {name: tags, dtype: Array(String)}\n      - {name: nums, dtype: Array(Int64)}\n"
      "      - {name: reals, dtype: Array(Float32)}\n";
  Repo pq, csv;
  pq.Write(DriverRepo("data/stats/") + features);
  csv.Write(DriverRepo("data/stats.csv") + features);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_pq, pq.OpenApplied());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs_csv, csv.OpenApplied());
  Frame rows = PushRows(4, 0);
  auto arr = [](std::vector<Cell> v) {
    Cell c;
    c.kind = Cell::Kind::kArray;
    c.arr = std::move(v);
    return c;
  };
  rows.names.insert(rows.names.end(),
                    {"i32", "f64", "flag", "name", "blob", "seen", "tags", "nums", "reals"});
  rows.columns.push_back({I(-7), I(2147483647), Cell::Null(), I(0)});
  rows.columns.push_back({F(0.1), F(-2.5e300), F(0), Cell::Null()});
  rows.columns.push_back({Cell::Bool(true), Cell::Bool(false), Cell::Null(), Cell::Bool(true)});
  rows.columns.push_back({S("ü"), S(""), Cell::Null(), S("x,y")});
  rows.columns.push_back(
      {Cell::Bytes(std::string("\0\xff", 2)), Cell::Null(), Cell::Bytes(""), Cell::Bytes("b")});
  rows.columns.push_back({S("2025-05-05T05:05:05.5Z"), Cell::Null(), S("1970-01-01T00:00:00Z"),
                          S("2026-01-01T00:00:00Z")});
  rows.columns.push_back({arr({S("a"), S("b")}), arr({}), Cell::Null(), arr({S("")})});
  rows.columns.push_back({arr({I(1), I(-2)}), Cell::Null(), arr({}), arr({I(INT64_MAX)})});
  rows.columns.push_back({arr({F(0.5)}), arr({F(1.25), F(-3)}), Cell::Null(), arr({})});
  LARDER_ASSERT_OK(fs_pq->Push("driver_stats_push", rows, PushMode::kOffline).status());
  LARDER_ASSERT_OK(fs_csv->Push("driver_stats_push", rows, PushMode::kOffline).status());
  const std::vector<std::string> names = Entries(pq.dir() + "/data/stats");
  ASSERT_EQ(names.size(), 1u);
  LARDER_ASSERT_OK_AND_ASSIGN(auto part,
                              parquet::ParquetFile::Open(pq.dir() + "/data/stats/" + names[0]));
  std::vector<std::string> got;
  for (size_t i = 6; i < part->fields().size(); ++i) {
    got.push_back(part->fields()[i].name + " " + part->fields()[i].type_name);
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "i32 INT32", "f64 DOUBLE", "flag BOOLEAN", "name BYTE_ARRAY (STRING)",
                     "blob BYTE_ARRAY", "seen INT64 (TIMESTAMP(MICROS,UTC))",
                     "tags list<BYTE_ARRAY (STRING)>", "nums list<INT64>", "reals list<FLOAT>"}));
  LARDER_ASSERT_OK_AND_ASSIGN(auto checks, CheckBatchSources(fs_pq->config()));
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_TRUE(checks[0].violations.empty()) << checks[0].violations[0];
  for (auto* fs : {fs_pq.get(), fs_csv.get()}) {
    LARDER_ASSERT_OK(
        fs->Materialize(Ts("2025-01-01T00:00:00Z"), Ts("2027-01-01T00:00:00Z"), {}).status());
  }
  std::vector<std::string> refs;
  for (const char* f : {"conv_rate", "acc_rate", "avg_daily_trips", "i32", "f64", "flag", "name",
                        "blob", "seen", "tags", "nums", "reals"}) {
    refs.push_back(std::string("driver_hourly_stats:") + f);
  }
  auto x = fs_pq->GetOnlineFeatures(
      Features(refs, MakeFrame({{"driver_id", Ints({1001, 1002, 1003})}})));
  auto y = fs_csv->GetOnlineFeatures(
      Features(refs, MakeFrame({{"driver_id", Ints({1001, 1002, 1003})}})));
  ASSERT_TRUE(x.ok() && y.ok());
  size_t present = 0;
  for (size_t i = 1; i < x->results.size(); ++i) {
    EXPECT_EQ(x->results[i].values, y->results[i].values) << refs[i - 1];
    EXPECT_EQ(x->results[i].statuses, y->results[i].statuses) << refs[i - 1];
    for (FieldStatus st : x->results[i].statuses) present += st == FieldStatus::kPresent;
  }
  EXPECT_GT(present, 20u);
}

}  // namespace
}  // namespace larder
