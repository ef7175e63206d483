// The offline store through the `larder` binary (push --to, materialize,
// materialize-incremental, get-historical-features, check) and through the C API.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "engine/parquet/parquet_writer.h"
#include "larder/larder.h"
#include "tests/offline_fixture.h"

extern char** environ;

namespace larder {
namespace {

using namespace larder::testing;  // NOLINT

struct Cmd {
  int code = -1;
  std::string out;
  std::string err;
};

class OfflineCliTest : public OfflineFixture {
 protected:
  Cmd Larder(std::vector<std::string> args) {
    args.insert(args.begin(), std::string(LARDER_BIN_DIR) + "/larder");
    args.push_back("--repo");
    args.push_back(repo_.dir());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string out = scratch_.path() + "/out", err = scratch_.path() + "/err";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    Cmd c;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return c;
    int status = WaitChild(pid);
    c.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    c.out = Slurp(out);
    c.err = Slurp(err);
    return c;
  }
  TempDir scratch_;
};

// What get-historical-features gives for drivers 1 and 2 at 10:30 after the rows both tests push.
constexpr char kJoinedAt1030[] =
    "event_timestamp,driver_id,stats__city,quality__score\n"
    "2026-03-01T10:30:00Z,1,\"Lyon, FR\",1.5\n"
    "2026-03-01T10:30:00Z,2,,\n";

TEST_F(OfflineCliTest, PushMaterializeHistoricalAndCheck) {
  const std::string rows = repo_.dir() + "/rows.csv";
  Spit(rows,
       "driver_id,event_timestamp,conv,trips,city,score\n"
       "1,2026-03-01T10:00:00Z,0.5,3,\"Lyon, FR\",1.5\n"
       "2,2026-03-01T11:00:00Z,0.25,4,Paris,2.5\n");
  Cmd push = Larder({"push", "stats_push", rows, "--to", "offline"});
  ASSERT_EQ(push.code, 0) << push.err;
  EXPECT_EQ(push.out,
            "pushed 2 rows to 2 feature views (2 written, 0 skipped as older than "
            "stored rows)\n");

  Cmd mat =
      Larder({"materialize", "2026-03-01T00:00:00Z", "2026-03-01T10:30:00Z", "--views", "quality"});
  ASSERT_EQ(mat.code, 0) << mat.err;
  EXPECT_NE(mat.out.find("materialized feature view 'quality' from 2026-03-01T00:00:00Z to "
                         "2026-03-01T10:30:00Z: 1 rows in range, 1 written, 0 skipped"),
            std::string::npos)
      << mat.out;
  EXPECT_EQ(mat.err, "");  // no progress line when stderr is not a terminal
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 1).status, FieldStatus::kPresent);
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 2).status, FieldStatus::kNotFound);

  Cmd inc = Larder({"materialize-incremental", "2026-03-02T00:00:00Z", "--views", "quality"});
  ASSERT_EQ(inc.code, 0) << inc.err;
  EXPECT_NE(inc.out.find("from 2026-03-01T10:30:00Z to 2026-03-02T00:00:00Z: 1 rows in range"),
            std::string::npos)
      << inc.out;

  const std::string edf = repo_.dir() + "/edf.csv", out = repo_.dir() + "/out.csv";
  Spit(edf, "event_timestamp,driver_id\n2026-03-01T10:30:00Z,1\n2026-03-01T10:30:00Z,2\n");
  Cmd hist = Larder({"get-historical-features", "--entity-df", edf, "--features",
                     "stats:city,quality:score", "--full-feature-names", "--output", out});
  ASSERT_EQ(hist.code, 0) << hist.err;
  EXPECT_EQ(Slurp(out), kJoinedAt1030);
  Cmd usage = Larder({"get-historical-features", "--entity-df", edf});
  EXPECT_EQ(usage.code, 2);

  Cmd ok = Larder({"check"});
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_EQ(ok.out.find("offline"), std::string::npos) << ok.out;
  Spit(csv_, "2026-03-01T12:00:00Z,,3,0.1", /*append=*/true);
  Cmd torn = Larder({"check"});
  EXPECT_EQ(torn.code, 0) << torn.out;
  EXPECT_NE(torn.out.find("warning: offline: " + csv_ + ": incomplete final record at line 4"),
            std::string::npos)
      << torn.out;
  Spit(csv_, "event_timestamp,driver_id\n2026-03-01T12:00:00Z,x\n");
  Cmd bad = Larder({"check"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("violation: offline: " + csv_ + ": the header lacks columns"),
            std::string::npos)
      << bad.out;

  Cmd err = Larder({"materialize", "2026-03-02", "2026-03-01"});
  EXPECT_EQ(err.code, 1);
  EXPECT_EQ(err.err.rfind("larder materialize: InvalidArgument: start 2026-03-02T00:00:00Z is "
                          "after end",
                          0),
            0u)
      << err.err;
  Cmd bad_time = Larder({"materialize-incremental", "tomorrow"});
  EXPECT_EQ(bad_time.code, 1);
  EXPECT_NE(bad_time.err.find("END: invalid timestamp 'tomorrow'"), std::string::npos)
      << bad_time.err;
}

// A Parquet file of the given columns (INT64, TIMESTAMP(MICROS), FLOAT, DOUBLE or STRING),
// all REQUIRED, as pandas would hand them over.
struct ParquetInputColumn {
  std::string name;
  parquet::PhysicalType type;
  bool timestamp = false;
  std::vector<int64_t> ints = {};
  std::vector<double> reals = {};
  std::vector<std::string> strings = {};
};

void WriteParquetInput(const std::string& path, const std::vector<ParquetInputColumn>& cols) {
  std::vector<parquet::WriteColumn> schema;
  std::vector<parquet::Column> values;
  for (const ParquetInputColumn& c : cols) {
    schema.push_back({.name = c.name,
                      .type = c.type,
                      .timestamp = c.timestamp,
                      .string = c.type == parquet::PhysicalType::kByteArray,
                      .optional = false});
    parquet::Column v;
    v.i64 = c.ints;
    v.f64 = c.reals;
    if (!c.strings.empty()) v.off.push_back(0);
    for (const std::string& str : c.strings) {
      v.bytes += str;
      v.off.push_back(static_cast<uint32_t>(v.bytes.size()));
    }
    v.rows = std::max({c.ints.size(), c.reals.size(), c.strings.size()});
    values.push_back(std::move(v));
  }
  std::string bytes;
  const Status st = parquet::WriteParquet(schema, values, {}, &bytes);
  ASSERT_TRUE(st.ok()) << st.ToString();
  Spit(path, bytes);
}

TEST_F(OfflineCliTest, PushAndEntityDataframeFromParquetFiles) {
  // `larder push` and `--entity-df` take .parquet files (Snappy, as pyarrow writes): the same
  // rows as the CSV test above give the same results.
  using parquet::PhysicalType;
  const TimestampMicros t1 = Ts("2026-03-01T10:00:00Z"), t2 = Ts("2026-03-01T11:00:00Z");
  const std::string rows = repo_.dir() + "/rows.parquet";
  WriteParquetInput(rows, {{"driver_id", PhysicalType::kInt64, false, {1, 2}},
                           {"event_timestamp", PhysicalType::kInt64, true, {t1, t2}},
                           {"conv", PhysicalType::kFloat, false, {}, {0.5, 0.25}},
                           {"trips", PhysicalType::kInt64, false, {3, 4}},
                           {"city", PhysicalType::kByteArray, false, {}, {}, {"Lyon, FR", "Paris"}},
                           {"score", PhysicalType::kDouble, false, {}, {1.5, 2.5}}});
  Cmd push = Larder({"push", "stats_push", rows, "--to", "online_and_offline"});
  ASSERT_EQ(push.code, 0) << push.err;
  EXPECT_EQ(push.out,
            "pushed 2 rows to 2 feature views (4 written, 0 skipped as older than "
            "stored rows)\n");
  OneValue score = ReadOne(*fs_, "quality:score", 1);  // ttl 0: never too old to serve
  ASSERT_EQ(score.status, FieldStatus::kPresent);
  EXPECT_EQ(score.value.f64, 1.5);

  const std::string edf = repo_.dir() + "/edf.parquet", out = repo_.dir() + "/out.csv";
  const TimestampMicros at = Ts("2026-03-01T10:30:00Z");
  WriteParquetInput(edf, {{"event_timestamp", PhysicalType::kInt64, true, {at, at}},
                          {"driver_id", PhysicalType::kInt64, false, {1, 2}}});
  Cmd hist = Larder({"get-historical-features", "--entity-df", edf, "--features",
                     "stats:city,quality:score", "--full-feature-names", "--output", out});
  ASSERT_EQ(hist.code, 0) << hist.err;
  EXPECT_EQ(Slurp(out), kJoinedAt1030);

  // A file that is not Parquet is refused naming it, and nothing is pushed.
  const std::string bad = repo_.dir() + "/bad.parquet";
  Spit(bad, "driver_id,event_timestamp\n3,2026-03-01T10:00:00Z\n");
  Cmd refused = Larder({"push", "stats_push", bad});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find(bad), std::string::npos) << refused.err;
  EXPECT_EQ(ReadOne(*fs_, "quality:score", 3).status, FieldStatus::kNotFound);
}

TEST_F(OfflineCliTest, CApiMaterializesAndJoins) {
  Spit(csv_, std::string(kOfflineHeader) + "2026-03-01T10:00:00Z,,1,0.5,3,a,1.5\n");
  larder_store* store = nullptr;
  char* error = nullptr;
  ASSERT_EQ(larder_store_open(repo_.dir().c_str(), &store, &error), LARDER_OK);
  std::string body = R"({"start_ts": "2026-03-01T00:00:00Z", "end_ts": "2026-03-02T00:00:00Z",
                         "feature_views": ["quality"]})";
  char* report = nullptr;
  ASSERT_EQ(larder_store_materialize_json(store, body.data(), body.size(), &report, &error),
            LARDER_OK)
      << error;
  EXPECT_STREQ(
      report, R"({"views":[{"name":"quality","start":"2026-03-01T00:00:00Z",)"
              R"("end":"2026-03-02T00:00:00Z","rows_read":1,"rows_written":1,"rows_skipped":0}]})");
  larder_free(report);
  body = R"({"end_ts": "2030-01-01T00:00:00Z", "feature_views": null})";
  ASSERT_EQ(
      larder_store_materialize_incremental_json(store, body.data(), body.size(), nullptr, &error),
      LARDER_OK)
      << error;
  body = R"({"start_ts": "2026-03-03T00:00:00Z", "end_ts": "2026-03-01T00:00:00Z"})";
  EXPECT_EQ(larder_store_materialize_json(store, body.data(), body.size(), nullptr, &error),
            LARDER_INVALID_ARGUMENT);
  EXPECT_NE(std::string(error).find("is after end"), std::string::npos) << error;
  larder_free(error);

  body = R"({"features": ["quality:score", "stats:city"],
             "entity_df": {"driver_id": [1, 2],
                           "event_timestamp": ["2026-03-01T11:00:00Z", 1772362800]}})";
  char* response = nullptr;
  ASSERT_EQ(
      larder_store_get_historical_features_json(store, body.data(), body.size(), &response, &error),
      LARDER_OK)
      << error;
  EXPECT_STREQ(response,
               R"({"driver_id":[1,2],"event_timestamp":["2026-03-01T11:00:00Z",1772362800],)"
               R"("score":[1.5,null],"city":["a",null]})");
  larder_free(response);
  body = R"({"features": ["quality:score"], "entity_df": {"driver_id": [1]}})";
  EXPECT_EQ(
      larder_store_get_historical_features_json(store, body.data(), body.size(), &response, &error),
      LARDER_INVALID_ARGUMENT);
  larder_free(error);
  body = R"({"features": ["quality:score"], "entities": {}})";
  EXPECT_EQ(
      larder_store_get_historical_features_json(store, body.data(), body.size(), &response, &error),
      LARDER_INVALID_ARGUMENT);
  EXPECT_NE(std::string(error).find("unknown field 'entities'"), std::string::npos) << error;
  larder_free(error);
  larder_store_close(store);
}

}  // namespace
}  // namespace larder
