// Parquet sources at their edges: sources of many part files under a low descriptor limit,
// two sources naming one file with different timestamp fields, a feature named like the
// timestamp column, timestamps out of RFC 3339's years, entity dataframes over the cell cap.
#include <sys/resource.h>

#include <filesystem>

#include "engine/offline/offline_check.h"
#include "engine/offline/parquet_source.h"
#include "engine/parquet/parquet_writer.h"
#include "larder/timestamp.h"
#include "tests/offline_fixture.h"

namespace larder {
namespace {

using namespace larder::testing;  // NOLINT

std::string Fixture(const std::string& name) {
  return std::string(LARDER_SOURCE_DIR) + "/tests/data/parquet/" + name;
}

constexpr TimestampMicros kMicrosPerSecond = 1'000'000;

// One column of a test file: INT64 (a TIMESTAMP(MICROS, UTC) when `timestamp`) or, when
// `strings` is set, a STRING column of those values.
struct TestColumn {
  std::string name;
  bool timestamp = false;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

// Writes `cols` (all of one length) as one row group, uncompressed, to `path`.
void WriteTestParquet(const std::string& path, const std::vector<TestColumn>& cols) {
  std::vector<parquet::WriteColumn> schema;
  std::vector<parquet::Column> values;
  for (const TestColumn& c : cols) {
    parquet::WriteColumn w{.name = c.name, .optional = false};
    parquet::Column v;
    if (c.strings.empty()) {
      w.type = parquet::PhysicalType::kInt64;
      w.timestamp = c.timestamp;
      v.rows = c.ints.size();
      v.i64 = c.ints;
    } else {
      w.type = parquet::PhysicalType::kByteArray;
      w.string = true;
      v.rows = c.strings.size();
      v.off.push_back(0);
      for (const std::string& s : c.strings) {
        v.bytes += s;
        v.off.push_back(static_cast<uint32_t>(v.bytes.size()));
      }
    }
    schema.push_back(std::move(w));
    values.push_back(std::move(v));
  }
  std::string bytes;
  const Status st =
      parquet::WriteParquet(schema, values, {.codec = parquet::Codec::kUncompressed}, &bytes);
  ASSERT_TRUE(st.ok()) << st.ToString();
  Spit(path, bytes);
}

std::string DriverPreamble(const std::string& path) {
  return "entities:\n  - {name: driver, join_keys: [driver_id], value_type: Int64}\n"
         "sources:\n  - {name: stats, type: file, path: " +
         path + ", timestamp_field: event_timestamp, created_timestamp_column: created}\n";
}

// Lowers the soft limit on open descriptors for the test's scope.
class DescriptorLimit {
 public:
  explicit DescriptorLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~DescriptorLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

size_t OpenDescriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST(ParquetSourceEdges, ManyPartFilesAreReadUnderALowDescriptorLimit) {
  // 120 part files (Feast's example file, copied) read with room for 40 more descriptors:
  // before, every part file stayed open for the whole run (EMFILE past the limit).
  Repo repo;
  repo.Write(DriverPreamble("data/parts") +
             "feature_views:\n  - name: driver_hourly_stats\n    entities: [driver]\n"
             "    ttl: 0\n    source: stats\n    schema:\n"
             "      - {name: conv_rate, dtype: Float32}\n");
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  std::filesystem::create_directories(repo.dir() + "/data/parts");
  constexpr int kParts = 120;
  for (int i = 0; i < kParts; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/part-%03d.parquet", i);
    std::filesystem::copy_file(Fixture("feast_driver_stats.parquet"),
                               repo.dir() + "/data/parts" + name);
  }
  const TimestampMicros start = Ts("2021-01-01T00:00:00Z"), end = Ts("2025-01-01T00:00:00Z");
  DescriptorLimit limit(OpenDescriptors() + 40);
  ASSERT_TRUE(limit.ok());
  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult m, fs->Materialize(start, end, {}));
  ASSERT_EQ(m.views.size(), 1u);
  EXPECT_GT(m.views[0].rows_written, 0u);
  EXPECT_EQ(m.views[0].rows_read % kParts, 0u);  // each part's rows, read once

  HistoricalRequest req;
  req.features = {"driver_hourly_stats:conv_rate"};
  req.entity_df =
      MakeFrame({{"driver_id", {I(1001)}}, {"event_timestamp", {S("2024-09-01T00:00:00Z")}}});
  LARDER_ASSERT_OK_AND_ASSIGN(Frame out, fs->GetHistoricalFeatures(req));
  EXPECT_EQ(out.num_rows(), 1u);
}

TEST(ParquetSourceEdges, APartFileReplacedAfterItsCheckIsRefused) {
  LARDER_ASSERT_OK_AND_ASSIGN(auto pf,
                              OpenParquetSourceFile(Fixture("feast_driver_stats.parquet")));
  TempDir dir;
  const std::string path = dir.path() + "/part-0.parquet";
  std::filesystem::copy_file(Fixture("feast_driver_stats.parquet"), path);
  LARDER_ASSERT_OK_AND_ASSIGN(auto copy, OpenParquetSourceFile(path));
  copy->Detach();
  EXPECT_EQ(copy->ReadColumn(0, copy->fields()[0]).status().code(), ErrorCode::kInternal);
  LARDER_EXPECT_OK(copy->Attach());
  LARDER_EXPECT_OK(copy->ReadColumn(0, copy->fields()[0]).status());
  copy->Detach();
  // Another file renamed over the path: refused on attach, not read with the old footer.
  std::filesystem::copy_file(Fixture("feast_driver_stats_with_string.parquet"), path + ".new");
  std::filesystem::rename(path + ".new", path);
  Status st = copy->Attach();
  EXPECT_EQ(st.code(), ErrorCode::kDataSourceError);
  EXPECT_NE(st.message().find(path + ": was replaced or changed"), std::string::npos)
      << st.ToString();
  EXPECT_EQ(copy->ReadColumn(0, copy->fields()[0]).status().code(), ErrorCode::kInternal);
}

// Two sources naming one file, each with its own timestamp field: each view reads by its own.
// Entity 1 has two rows; the window keeps row A by ts_a and row B by ts_b.
TEST(ParquetSourceEdges, SourcesSharingAFileReadEachTheirOwnTimestampField) {
  const TimestampMicros in = Ts("2021-06-01T00:00:00Z"), out = Ts("2019-06-01T00:00:00Z");
  const TimestampMicros start = Ts("2021-01-01T00:00:00Z"), end = Ts("2022-01-01T00:00:00Z");
  for (bool parquet : {false, true}) {
    SCOPED_TRACE(parquet ? "Parquet" : "CSV");
    const std::string path = parquet ? "data/s.parquet" : "data/s.csv";
    Repo repo;
    repo.Write(
        "entities:\n  - {name: driver, join_keys: [driver_id], value_type: Int64}\n"
        "sources:\n"
        "  - {name: by_a, type: file, path: " +
        path +
        ", timestamp_field: ts_a}\n"
        "  - {name: by_b, type: file, path: " +
        path +
        ", timestamp_field: ts_b}\n"
        "feature_views:\n"
        "  - {name: va, entities: [driver], ttl: 0, source: by_a,"
        " schema: [{name: x, dtype: Int64}]}\n"
        "  - {name: vb, entities: [driver], ttl: 0, source: by_b,"
        " schema: [{name: x, dtype: Int64}]}\n");
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
    std::filesystem::create_directories(repo.dir() + "/data");
    // Row 0 (x = 10): ts_a in the window, ts_b before it. Row 1 (x = 20): the other way round.
    const std::vector<std::vector<int64_t>> cols = {{in, out}, {out, in}, {1, 1}, {10, 20}};
    if (parquet) {
      WriteTestParquet(repo.dir() + "/" + path, {{"ts_a", true, cols[0]},
                                                 {"ts_b", true, cols[1]},
                                                 {"driver_id", false, cols[2]},
                                                 {"x", false, cols[3]}});
    } else {
      Spit(repo.dir() + "/" + path, "ts_a,ts_b,driver_id,x\n" + FormatTimestamp(in) + "," +
                                        FormatTimestamp(out) + ",1,10\n" + FormatTimestamp(out) +
                                        "," + FormatTimestamp(in) + ",1,20\n");
    }
    LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult m, fs->Materialize(start, end, {}));
    ASSERT_EQ(m.views.size(), 2u);
    OneValue a = ReadOne(*fs, "va:x", 1);
    OneValue b = ReadOne(*fs, "vb:x", 1);
    ASSERT_EQ(a.status, FieldStatus::kPresent);
    ASSERT_EQ(b.status, FieldStatus::kPresent);
    EXPECT_EQ(a.value.i64, 10);
    EXPECT_EQ(b.value.i64, 20);
  }
}

TEST(ParquetSourceEdges, AFeatureNamedLikeTheTimestampColumnIsThatColumn) {
  Repo repo;
  repo.Write(
      DriverPreamble("data/s.parquet") +
      "feature_views:\n  - {name: v, entities: [driver], ttl: 0, source: stats,"
      " schema: [{name: event_timestamp, dtype: UnixTimestamp}, {name: x, dtype: Int64}]}\n");
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  std::filesystem::create_directories(repo.dir() + "/data");
  const TimestampMicros when = Ts("2021-06-01T00:00:00Z");
  WriteTestParquet(repo.dir() + "/data/s.parquet", {{"event_timestamp", true, {when}},
                                                    {"created", true, {when}},
                                                    {"driver_id", false, {7}},
                                                    {"x", false, {42}}});
  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult m, fs->Materialize(Ts("2021-01-01T00:00:00Z"),
                                                                   Ts("2022-01-01T00:00:00Z"), {}));
  ASSERT_EQ(m.views.size(), 1u);
  EXPECT_EQ(m.views[0].rows_written, 1u);
  OneValue ts = ReadOne(*fs, "v:event_timestamp", 7);
  ASSERT_EQ(ts.status, FieldStatus::kPresent);
  EXPECT_EQ(ts.value.i64, when);
  EXPECT_EQ(ReadOne(*fs, "v:x", 7).value.i64, 42);
}

TEST(ParquetSourceEdges, TimestampsPastYear9999AreRefusedNamingTheRow) {
  // An INT64 TIMESTAMP_MICROS of 3e17 µs (year 11476): CSV cannot spell it, and Parquet rows
  // are held to the same range (before, it was compared and written as any other time).
  const TimestampMicros far = 300'000'000'000'000'000;
  Repo repo;
  repo.Write(DriverPreamble("data/s.parquet") +
             "feature_views:\n  - {name: v, entities: [driver], ttl: 0, source: stats,"
             " schema: [{name: x, dtype: Int64}]}\n");
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  std::filesystem::create_directories(repo.dir() + "/data");
  WriteTestParquet(repo.dir() + "/data/s.parquet",
                   {{"event_timestamp", true, {Ts("2021-06-01T00:00:00Z"), far}},
                    {"created", true, {0, 0}},
                    {"driver_id", false, {7, 7}},
                    {"x", false, {42, 42}}});
  // The row group's statistics span [2021, 3e17]: it is decoded for this interval.
  auto m = fs->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2022-01-01T00:00:00Z"), {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kDataSourceError);
  EXPECT_NE(
      m.status().message().find(repo.dir() + "/data/s.parquet row 2, column "
                                             "'event_timestamp': timestamp of 300000000000000000"),
      std::string::npos)
      << m.status().ToString();
  EXPECT_EQ(ReadOne(*fs, "v:x", 7).status, FieldStatus::kNotFound);  // nothing written
}

TEST(ParquetSourceEdges, AStringColumnIsNotReadAsBytes) {
  // Text holding a Bytes value is base64 in CSV and JSON; a STRING column is not known to hold
  // base64, and reading its UTF-8 as the bytes gave another key than the same text in CSV.
  // Refused before anything is written (as Feast refuses str for BYTES).
  for (const char* role : {"feature", "key"}) {
    SCOPED_TRACE(role);
    const bool key = std::string(role) == "key";
    Repo repo;
    repo.Write(
        std::string("entities:\n  - {name: e, join_keys: [") +
        (key ? "string_feature" : "driver_id") + "], value_type: " + (key ? "Bytes" : "Int64") +
        "}\nsources:\n  - {name: stats, type: file, path: data/s.parquet,"
        " timestamp_field: event_timestamp}\n"
        "feature_views:\n  - {name: v, entities: [e], ttl: 0, source: stats, schema: [" +
        (key ? "{name: conv_rate, dtype: Float32}" : "{name: string_feature, dtype: Bytes}") +
        "]}\n");
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
    std::filesystem::create_directories(repo.dir() + "/data");
    std::filesystem::copy_file(Fixture("feast_driver_stats_with_string.parquet"),
                               repo.dir() + "/data/s.parquet");
    auto m = fs->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2025-01-01T00:00:00Z"), {});
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), ErrorCode::kDataSourceError);
    EXPECT_NE(m.status().message().find("column 'string_feature' (" +
                                        std::string(key ? "join key" : "feature") +
                                        " of feature view 'v') has Parquet type"),
              std::string::npos)
        << m.status().ToString();
    EXPECT_NE(m.status().message().find("which cannot be read as Bytes"), std::string::npos)
        << m.status().ToString();
  }
}

// View `v` (feature x) keyed by two String join keys a and b, over the file source at `path`
// (event time column `ts`).
std::string TwoStringKeysRepo(const std::string& path) {
  return "entities:\n  - {name: e, join_keys: [a, b], value_type: String}\n"
         "sources:\n  - {name: stats, type: file, path: " +
         path +
         ", timestamp_field: ts}\n"
         "feature_views:\n  - {name: v, entities: [e], ttl: 0, source: stats,"
         " schema: [{name: x, dtype: Int64}]}\n";
}

TEST(ParquetSourceEdges, CheckFindsStringKeysAMaterializeRefuses) {
  // A String join key of invalid UTF-8, and an entity key (two String parts) over 4096 bytes:
  // `larder check` reported neither, and materialize refused both.
  Repo repo;
  repo.Write(TwoStringKeysRepo("data/s.csv"));
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  const std::string half(2100, 'k');
  Spit(repo.dir() + "/data/s.csv",
       "ts,a,b,x\n"
       "2021-06-01T00:00:00Z,ok,fine,1\n"
       "2021-06-01T00:00:00Z,bad\xff,fine,2\n"
       "2021-06-01T00:00:00Z," +
           half + "," + half + ",3\n");
  LARDER_ASSERT_OK_AND_ASSIGN(auto checks, CheckBatchSources(fs->config()));
  ASSERT_EQ(checks.size(), 1u);
  ASSERT_EQ(checks[0].violations.size(), 2u);
  EXPECT_NE(checks[0].violations[0].find("data/s.csv line 3, column 'a': "), std::string::npos)
      << checks[0].violations[0];
  EXPECT_NE(checks[0].violations[0].find("UTF-8"), std::string::npos) << checks[0].violations[0];
  EXPECT_NE(checks[0].violations[1].find("data/s.csv line 4: entity key of feature view 'v' is "
                                         "4208 bytes, over the limit of 4096"),
            std::string::npos)
      << checks[0].violations[1];
  // What materialize says of the same rows.
  auto m = fs->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2022-01-01T00:00:00Z"), {});
  EXPECT_FALSE(m.ok());
}

TEST(ParquetSourceEdges, CheckFindsStringKeysAMaterializeRefusesInParquet) {
  // The same rows as above in a Parquet file of STRING keys: check names the file and row of
  // each, and materialize's refusal of the long key names them too (it said only "entity key
  // too long", with no row, before rows carried their file and row into the write stage).
  Repo repo;
  repo.Write(TwoStringKeysRepo("data/s.parquet"));
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  std::filesystem::create_directories(repo.dir() + "/data");
  const std::string path = repo.dir() + "/data/s.parquet";
  const std::string half(2100, 'k');
  const TimestampMicros when = Ts("2021-06-01T00:00:00Z");
  WriteTestParquet(path, {{"ts", true, {when, when, when}},
                          {"a", false, {}, {"ok", "bad\xff", half}},
                          {"b", false, {}, {"fine", "fine", half}},
                          {"x", false, {1, 2, 3}}});
  LARDER_ASSERT_OK_AND_ASSIGN(auto checks, CheckBatchSources(fs->config()));
  ASSERT_EQ(checks.size(), 1u);
  ASSERT_EQ(checks[0].violations.size(), 2u);
  EXPECT_NE(checks[0].violations[0].find(path + " row 2, column 'a': "), std::string::npos)
      << checks[0].violations[0];
  EXPECT_NE(checks[0].violations[0].find("UTF-8"), std::string::npos) << checks[0].violations[0];
  EXPECT_NE(checks[0].violations[1].find(path + " row 3: entity key of feature view 'v' is "
                                                "4208 bytes, over the limit of 4096"),
            std::string::npos)
      << checks[0].violations[1];

  // Only the long key left: materialize refuses it naming the file and row, writing nothing.
  WriteTestParquet(path, {{"ts", true, {when, when}},
                          {"a", false, {}, {"ok", half}},
                          {"b", false, {}, {"fine", half}},
                          {"x", false, {1, 3}}});
  auto m = fs->Materialize(Ts("2021-01-01T00:00:00Z"), Ts("2022-01-01T00:00:00Z"), {});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find(path + " row 2"), std::string::npos) << m.status().ToString();
}

TEST(ParquetSourceEdges, WinnersOverSeveralWriteBatchesAreAllWritten) {
  // 70,000 distinct entities: three write batches of at most 32,768 rows, the last one shorter
  // (the batches share one frame of placeholder cells, cut for the last).
  constexpr int64_t kRows = 70'000;
  Repo repo;
  repo.Write(DriverPreamble("data/s.parquet") +
             "feature_views:\n  - {name: v, entities: [driver], ttl: 0, source: stats,"
             " schema: [{name: x, dtype: Int64}]}\n");
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  std::filesystem::create_directories(repo.dir() + "/data");
  const TimestampMicros when = Ts("2021-06-01T00:00:00Z");
  TestColumn ts{"event_timestamp", true}, created{"created", true}, id{"driver_id"}, x{"x"};
  for (int64_t i = 0; i < kRows; ++i) {
    ts.ints.push_back(when + i);
    created.ints.push_back(when);
    id.ints.push_back(i);
    x.ints.push_back(3 * i + 1);
  }
  WriteTestParquet(repo.dir() + "/data/s.parquet", {ts, created, id, x});
  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult m, fs->Materialize(Ts("2021-01-01T00:00:00Z"),
                                                                   Ts("2022-01-01T00:00:00Z"), {}));
  ASSERT_EQ(m.views.size(), 1u);
  EXPECT_EQ(m.views[0].rows_written, static_cast<uint64_t>(kRows));
  for (int64_t i : {int64_t{0}, int64_t{32'767}, int64_t{32'768}, int64_t{65'536}, kRows - 1}) {
    OneValue v = ReadOne(*fs, "v:x", i);
    ASSERT_EQ(v.status, FieldStatus::kPresent) << i;
    EXPECT_EQ(v.value.i64, 3 * i + 1) << i;
  }
}

TEST(ParquetSourceEdges, AnEntityDataframeOverTheCellCapIsRefused) {
  // list_columns.parquet: 3 rows of 2 list columns; its cells include the lists' elements.
  const std::string path = Fixture("list_columns.parquet");
  LARDER_ASSERT_OK_AND_ASSIGN(Frame whole, ReadParquetFrame(path));
  size_t cells = 0;
  for (const auto& col : whole.columns) {
    for (const Cell& c : col) cells += 1 + c.arr.size();
  }
  ASSERT_GT(cells, whole.num_rows() * whole.columns.size());
  LARDER_EXPECT_OK(ReadParquetFrame(path, cells).status());
  // Rows x columns fit, the elements do not: refused while decoding.
  auto decoded = ReadParquetFrame(path, whole.num_rows() * whole.columns.size());
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find(path + ": row group 0 brings it to"), std::string::npos)
      << decoded.status().ToString();
  // Rows x columns do not fit: refused from the footer, before decoding.
  auto declared = ReadParquetFrame(path, whole.num_rows() * whole.columns.size() - 1);
  ASSERT_FALSE(declared.ok());
  EXPECT_NE(declared.status().message().find(path + ": its row groups declare 3 rows of 2 columns, "
                                                    "more than the 5 cells"),
            std::string::npos)
      << declared.status().ToString();
}

}  // namespace
}  // namespace larder
