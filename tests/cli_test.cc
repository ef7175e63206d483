// End-to-end tests of the `larder` command: runs the real binary on a scratch copy of the
// driver_stats example whose segment lives at a unique /dev/shm path.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "layout/segment_layout.h"
#include "tests/store_fixture.h"
#include "tests/test_util.h"

extern char** environ;

namespace larder {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::TempSegmentPath;

namespace fs = std::filesystem;

const std::string kExample = std::string(LARDER_SOURCE_DIR) + "/examples/driver_stats";

struct CmdResult {
  int code = -1;
  std::string out;
  std::string err;
};

// Replaces the `path:` line of the online_store section with `segment`.
std::string WithSegmentPath(const std::string& yaml, const std::string& segment) {
  std::string out =
      std::regex_replace(yaml, std::regex("\n  path: [^\n]*"), "\n  path: " + segment);
  EXPECT_NE(out.find("  path: " + segment), std::string::npos) << "yaml has no online_store.path";
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(std::string(LARDER_BIN_DIR) + "/larder"))
        << "build the larder binary first";
    std::string yaml = ReadFile(kExample + "/feature_store.yaml");
    repo_.Write("feature_store.yaml", WithSegmentPath(yaml, seg_.path()));
    repo_.Write("data/driver_stats.csv", ReadFile(kExample + "/data/driver_stats.csv"));
    repo_.Write("push_rows.csv", ReadFile(kExample + "/push_rows.csv"));
  }

  // Runs `larder args... --repo <repo>` (the --repo is left off with add_repo = false).
  CmdResult Larder(std::vector<std::string> args, bool add_repo = true) {
    if (add_repo) {
      args.push_back("--repo");
      args.push_back(repo_.path());
    }
    std::vector<std::string> argv_s = {std::string(LARDER_BIN_DIR) + "/larder"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);

    const std::string out_path = scratch_.path() + "/stdout";
    const std::string err_path = scratch_.path() + "/stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    CmdResult run;
    EXPECT_EQ(rc, 0) << "posix_spawn failed";
    if (rc != 0) return run;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run.out = ReadFile(out_path);
    run.err = ReadFile(err_path);
    return run;
  }

  void Apply() {
    CmdResult r = Larder({"apply"});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  void ApplyAndPush() {
    Apply();
    CmdResult r = Larder({"push", "driver_stats_push", repo_.path() + "/push_rows.csv"});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  TempSegmentPath seg_;
  TempDir repo_;
  TempDir scratch_;
};

constexpr char kUnknownEpoch[] = "\"1970-01-01T00:00:00Z\"";

// The get of examples/driver_stats/run.sh: three drivers, 9999 missing; 1002's acc_rate is an
// empty CSV cell (NULL_VALUE).
const std::string kThreeDriversJson =
    R"({"metadata":{"feature_names":["driver_id","conv_rate","acc_rate","top_cities"]},)"
    R"("results":[)"
    R"({"values":[1001,1002,9999],"statuses":["PRESENT","PRESENT","PRESENT"],)"
    R"("event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},)"
    R"({"values":[0.91,0.47,null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],)"
    R"("event_timestamps":["2026-11-02T09:00:00Z","2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]},)"
    R"({"values":[0.88,null,null],"statuses":["PRESENT","NULL_VALUE","NOT_FOUND"],)"
    R"("event_timestamps":["2026-11-02T09:00:00Z","2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]},)"
    R"({"values":[["Paris","Lyon","Lille"],["Berlin"],null],)"
    R"("statuses":["PRESENT","PRESENT","NOT_FOUND"],)"
    R"("event_timestamps":["2026-11-02T09:00:00Z",)"
    R"("2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]}]})"
    "\n";

const std::vector<std::string> kThreeDriversArgs = {
    "get",
    "--features",
    "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:top_cities",
    "--entity",
    "driver_id=1001",
    "--entity",
    "driver_id=1002",
    "--entity",
    "driver_id=9999"};

bool IsValidJson(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  return parser.parse(text).get(doc) == simdjson::SUCCESS;
}

TEST_F(CliTest, ApplyCreatesThenReportsNoChanges) {
  CmdResult first = Larder({"apply"});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(first.out, "created store '" + seg_.path() +
                           "' (memory_limit 64.0 MiB, index for 1000 rows)\n"
                           "created feature view 'driver_hourly_stats'\n"
                           "created feature view 'driver_daily_quality'\n");
  EXPECT_EQ(first.err, "");
  EXPECT_TRUE(fs::exists(seg_.path()));
  CmdResult second = Larder({"apply"});
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(second.out, "no changes: the store already matches the repo\n");
}

// `larder plan` prints what apply would do and writes nothing; a compatible change keeps the
// rows; a change that would discard rows needs `apply --force`.
TEST_F(CliTest, PlanShowsWhatApplyWouldDoAndForceIsNeededToDiscardRows) {
  CmdResult before = Larder({"plan"});
  ASSERT_EQ(before.code, 0) << before.err;
  EXPECT_EQ(before.out, "create store '" + seg_.path() +
                            "' (memory_limit 64.0 MiB)\n"
                            "create feature view 'driver_hourly_stats'\n"
                            "create feature view 'driver_daily_quality'\n");
  EXPECT_FALSE(fs::exists(seg_.path())) << "plan created the store";
  ASSERT_EQ(Larder({"apply"}).code, 0);
  CmdResult pushed = Larder({"push", "driver_stats_push", repo_.path() + "/push_rows.csv"});
  ASSERT_EQ(pushed.code, 0) << pushed.err;
  const std::string yaml = ReadFile(repo_.path() + "/feature_store.yaml");
  // driver_daily_quality loses avg_daily_trips and gains rating; driver_hourly_stats' acc_rate
  // becomes a Float64.
  std::string changed = yaml;
  const std::string daily =
      "      - {name: conv_rate, dtype: Float32}\n"
      "      - {name: avg_daily_trips, dtype: Int64}\n\n";
  ASSERT_NE(changed.find(daily), std::string::npos);
  changed.replace(changed.find(daily), daily.size(),
                  "      - {name: conv_rate, dtype: Float32}\n"
                  "      - {name: rating, dtype: Float64}\n\n");
  changed.replace(changed.find("{name: acc_rate, dtype: Float32}"),
                  std::strlen("{name: acc_rate, dtype: Float32}"),
                  "{name: acc_rate, dtype: Float64}");
  // The feature service asked for avg_daily_trips of driver_hourly_stats only: still valid.
  repo_.Write("feature_store.yaml", changed);
  CmdResult plan = Larder({"plan"});
  ASSERT_EQ(plan.code, 0) << plan.err;
  EXPECT_EQ(plan.out,
            "re-create feature view 'driver_hourly_stats' empty: feature 'acc_rate' changes "
            "dtype from Float32 to Float64; discards its 3 rows\n"
            "update feature view 'driver_daily_quality', keeping its rows: add feature 'rating' "
            "(Float64): NOT_FOUND in the 3 rows stored until each is written again; "
            "materialized intervals forgotten, so materialize-incremental reloads the view; "
            "remove feature 'avg_daily_trips': its values in the 3 rows stored become "
            "unreadable, even if it is added back\n"
            "apply would discard 3 rows: it needs `larder apply --force`\n");
  CmdResult refused = Larder({"apply"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("apply would discard 3 rows: feature view 'driver_hourly_stats' "
                             "would be re-created empty"),
            std::string::npos)
      << refused.err;
  CmdResult still =
      Larder({"get", "--features", "driver_hourly_stats:acc_rate", "--entity", "driver_id=1001"});
  ASSERT_EQ(still.code, 0) << still.err;
  EXPECT_NE(still.out.find("0.88"), std::string::npos) << "a refused apply changed the store";
  CmdResult forced = Larder({"apply", "--force"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_NE(forced.out.find("re-created feature view 'driver_hourly_stats' empty"),
            std::string::npos)
      << forced.out;
  CmdResult kept = Larder({"get", "--features",
                           "driver_daily_quality:conv_rate,"
                           "driver_daily_quality:rating",
                           "--entity", "driver_id=1001"});
  ASSERT_EQ(kept.code, 0) << kept.err;
  EXPECT_NE(kept.out.find("0.91"), std::string::npos) << kept.out;
  EXPECT_NE(kept.out.find("NOT_FOUND"), std::string::npos) << kept.out;
  CmdResult after = Larder({"plan"});
  ASSERT_EQ(after.code, 0) << after.err;
  EXPECT_EQ(after.out,
            "keep feature view 'driver_hourly_stats' unchanged\n"
            "keep feature view 'driver_daily_quality' unchanged\n"
            "no changes: the store already matches the repo\n");
}

TEST_F(CliTest, ApplyReportsConfigErrors) {
  repo_.Write("feature_store.yaml", "project: x\nbogus_key: 1\n");
  CmdResult r = Larder({"apply"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("larder apply: ConfigError: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("feature_store.yaml"), std::string::npos) << r.err;
}

TEST_F(CliTest, PushCsvThenGetPrintsFeastJson) {
  Apply();
  CmdResult push = Larder({"push", "driver_stats_push", repo_.path() + "/push_rows.csv"});
  ASSERT_EQ(push.code, 0) << push.err;
  EXPECT_EQ(push.out,
            "pushed 3 rows to 2 feature views (6 written, 0 skipped as older than stored rows)\n");
  CmdResult get = Larder(kThreeDriversArgs);
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, kThreeDriversJson);
  EXPECT_EQ(get.err, "");
  EXPECT_TRUE(IsValidJson(get.out));

  // Replaying the same rows writes them again: an equal (event, created) pair is a correction
  // and wins.
  CmdResult again = Larder({"push", "driver_stats_push", repo_.path() + "/push_rows.csv"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out,
            "pushed 3 rows to 2 feature views (6 written, 0 skipped as older than stored rows)\n");
  // Older rows are skipped.
  repo_.Write("old.csv",
              "event_timestamp,created,driver_id,conv_rate,acc_rate,avg_daily_trips,top_cities\n"
              "2026-01-01 00:00:00,,1001,0.1,0.1,1,[]\n");
  CmdResult old =
      Larder({"push", "driver_stats_push", repo_.path() + "/old.csv", "--to", "online"});
  ASSERT_EQ(old.code, 0) << old.err;
  EXPECT_EQ(old.out,
            "pushed 1 row to 2 feature views (0 written, 2 skipped as older than stored rows)\n");
  EXPECT_EQ(Larder(kThreeDriversArgs).out, kThreeDriversJson);
}

TEST_F(CliTest, TheCrashSwitchOfTheTestsCannotKillAProductionProcess) {
  // Fault points (engine/fault.h) obey LARDER_CRASH_AT only in a process that enabled them,
  // which only the crash tests' children do. The `larder` command, started with the variable
  // naming the point every push passes, must push and exit normally (it was killed before).
  Apply();
  ::setenv("LARDER_CRASH_AT", "before_publish_row", 1);
  CmdResult push = Larder({"push", "driver_stats_push", repo_.path() + "/push_rows.csv"});
  CmdResult get = Larder(kThreeDriversArgs);
  ::unsetenv("LARDER_CRASH_AT");
  ASSERT_EQ(push.code, 0) << push.err;
  EXPECT_EQ(push.out,
            "pushed 3 rows to 2 feature views (6 written, 0 skipped as older than stored rows)\n");
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, kThreeDriversJson);
}

TEST_F(CliTest, PushJsonColumnsAndJsonLines) {
  Apply();
  repo_.Write("rows.json",
              R"({"driver_id": [1004], "event_timestamp": ["2026-11-03T10:00:00Z"],)"
              R"( "created": [null], "conv_rate": [0.5], "acc_rate": [0.25],)"
              R"( "avg_daily_trips": [7], "top_cities": [["Rome", "Milano"]], "extra": [1]})");
  CmdResult json = Larder({"push", "driver_stats_push", repo_.path() + "/rows.json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(json.out,
            "pushed 1 row to 2 feature views (2 written, 0 skipped as older than stored rows)\n");
  repo_.Write(
      "rows.jsonl",
      R"({"driver_id": 1005, "event_timestamp": "2026-11-03 11:00:00+01:00", "created": null, )"
      R"("conv_rate": 0.75, "acc_rate": null, "avg_daily_trips": 3, "top_cities": []})"
      "\n\n"
      R"({"driver_id": 1001, "event_timestamp": 1793700000, "conv_rate": 1, )"
      R"("acc_rate": 0.5, "avg_daily_trips": 4, "top_cities": ["Nice"]})"
      "\n");
  CmdResult jsonl = Larder({"push", "driver_stats_push", repo_.path() + "/rows.jsonl"});
  ASSERT_EQ(jsonl.code, 0) << jsonl.err;
  EXPECT_EQ(jsonl.out,
            "pushed 2 rows to 2 feature views (4 written, 0 skipped as older than stored rows)\n");

  CmdResult get = Larder({"get", "--features",
                          "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,"
                          "driver_hourly_stats:top_cities",
                          "--entity", "driver_id=1004", "--entity", "driver_id=1005", "--entity",
                          "driver_id=1001"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(
      get.out,
      R"({"metadata":{"feature_names":["driver_id","conv_rate","acc_rate","top_cities"]},)"
      R"("results":[)"
      R"({"values":[1004,1005,1001],"statuses":["PRESENT","PRESENT","PRESENT"],)"
      R"("event_timestamps":["1970-01-01T00:00:00Z",)"
      R"("1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},)"
      R"({"values":[0.5,0.75,1],"statuses":["PRESENT","PRESENT","PRESENT"],)"
      R"("event_timestamps":["2026-11-03T10:00:00Z",)"
      R"("2026-11-03T10:00:00Z","2026-11-03T10:00:00Z"]},)"
      R"({"values":[0.25,null,0.5],"statuses":["PRESENT","NULL_VALUE","PRESENT"],)"
      R"("event_timestamps":["2026-11-03T10:00:00Z",)"
      R"("2026-11-03T10:00:00Z","2026-11-03T10:00:00Z"]},)"
      R"({"values":[["Rome","Milano"],[],["Nice"]],"statuses":["PRESENT","PRESENT","PRESENT"],)"
      R"("event_timestamps":["2026-11-03T10:00:00Z",)"
      R"("2026-11-03T10:00:00Z","2026-11-03T10:00:00Z"]}]})"
      "\n");
}

TEST_F(CliTest, WriteToOnlineStoreWritesOneView) {
  Apply();
  CmdResult w =
      Larder({"write-to-online-store", "driver_daily_quality", repo_.path() + "/push_rows.csv"});
  ASSERT_EQ(w.code, 0) << w.err;
  EXPECT_EQ(w.out,
            "wrote 3 rows to feature view 'driver_daily_quality' (3 written, 0 skipped as older "
            "than stored rows)\n");
  CmdResult get = Larder({"get", "--features",
                          "driver_daily_quality:avg_daily_trips,driver_hourly_stats:conv_rate",
                          "--entity", "driver_id=1003"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, R"({"metadata":{"feature_names":["driver_id","avg_daily_trips","conv_rate"]},)"
                     R"("results":[)"
                     R"({"values":[1003],"statuses":["PRESENT"],"event_timestamps":[)" +
                         std::string(kUnknownEpoch) + "]}," +
                         R"({"values":[31],"statuses":["PRESENT"],)"
                         R"("event_timestamps":["2026-11-02T09:30:00Z"]},)"
                         R"({"values":[null],"statuses":["NOT_FOUND"],"event_timestamps":[)" +
                         kUnknownEpoch + "]}]}\n");
  CmdResult bad = Larder({"write-to-online-store", "nope", repo_.path() + "/push_rows.csv"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err,
            "larder write-to-online-store: FeatureViewNotFound: feature view 'nope' is not in "
            "the registry\n");
}

TEST_F(CliTest, FeatureService) {
  ApplyAndPush();
  CmdResult get = Larder({"get", "--feature-service", "driver_activity_v1", "--full-feature-names",
                          "--entity", "driver_id=1001"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(
      get.out,
      R"({"metadata":{"feature_names":["driver_id","driver_hourly_stats__conv_rate",)"
      R"("driver_hourly_stats__avg_daily_trips","driver_daily_quality__conv_rate",)"
      R"("driver_daily_quality__avg_daily_trips"]},"results":[)"
      R"({"values":[1001],"statuses":["PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z"]},)"
      R"({"values":[0.91],"statuses":["PRESENT"],"event_timestamps":["2026-11-02T09:00:00Z"]},)"
      R"({"values":[27],"statuses":["PRESENT"],"event_timestamps":["2026-11-02T09:00:00Z"]},)"
      R"({"values":[0.91],"statuses":["PRESENT"],"event_timestamps":["2026-11-02T09:00:00Z"]},)"
      R"({"values":[27],"statuses":["PRESENT"],"event_timestamps":["2026-11-02T09:00:00Z"]}]})"
      "\n");
  // Without full names the two views' conv_rate collide, as in Feast.
  CmdResult clash =
      Larder({"get", "--feature-service", "driver_activity_v1", "--entity", "driver_id=1001"});
  EXPECT_EQ(clash.code, 1);
  EXPECT_NE(clash.err.find("larder get: InvalidArgument: feature name 'conv_rate' is requested "
                           "more than once"),
            std::string::npos)
      << clash.err;
  CmdResult missing = Larder({"get", "--feature-service", "nope", "--entity", "driver_id=1001"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err,
            "larder get: FeatureServiceNotFound: feature service 'nope' is not in the registry\n");
}

TEST_F(CliTest, GetRepeatPrintsLatency) {
  ApplyAndPush();
  CmdResult get = Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity",
                          "driver_id=1001", "--repeat", "50"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_TRUE(IsValidJson(get.out)) << get.out;
  EXPECT_TRUE(std::regex_match(
      get.err, std::regex("lookup latency over 50 runs: median [0-9]+ ns, p99 [0-9]+ ns, "
                          "min [0-9]+ ns\n")))
      << get.err;
}

TEST_F(CliTest, PushErrorsWriteNothing) {
  Apply();
  CmdResult unknown = Larder({"push", "nope", repo_.path() + "/push_rows.csv"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.out, "");
  EXPECT_EQ(unknown.err,
            "larder push: PushSourceNotFound: push source 'nope' is not in the registry\n");

  // A file missing the acc_rate column: refused whole, naming the column.
  repo_.Write("no_acc.csv",
              "event_timestamp,created,driver_id,conv_rate,avg_daily_trips,top_cities\n"
              "2026-11-02 09:00:00,,1001,0.5,3,[]\n");
  CmdResult missing = Larder({"push", "driver_stats_push", repo_.path() + "/no_acc.csv"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("column 'acc_rate'"), std::string::npos) << missing.err;
  EXPECT_EQ(missing.err.rfind("larder push: InvalidArgument: ", 0), 0u) << missing.err;

  // A bad value in the second row: nothing is written, not even the good first row.
  repo_.Write("bad_value.csv",
              "event_timestamp,created,driver_id,conv_rate,acc_rate,avg_daily_trips,top_cities\n"
              "2026-11-02 09:00:00,,1001,0.5,0.5,3,[]\n"
              "2026-11-02 09:00:00,,1002,0.5,0.5,three,[]\n");
  CmdResult bad = Larder({"push", "driver_stats_push", repo_.path() + "/bad_value.csv"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("avg_daily_trips"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("line 3"), std::string::npos) << bad.err;

  CmdResult nofile = Larder({"push", "driver_stats_push", repo_.path() + "/absent.csv"});
  EXPECT_EQ(nofile.code, 1);
  EXPECT_NE(nofile.err.find("absent.csv"), std::string::npos) << nofile.err;

  // With the offline store as a target too, nothing is written anywhere.
  const std::string batch = ReadFile(repo_.path() + "/data/driver_stats.csv");
  CmdResult offline = Larder(
      {"push", "driver_stats_push", repo_.path() + "/bad_value.csv", "--to", "online_and_offline"});
  EXPECT_EQ(offline.code, 1);
  EXPECT_EQ(offline.err.rfind("larder push: InvalidArgument: ", 0), 0u) << offline.err;
  EXPECT_EQ(ReadFile(repo_.path() + "/data/driver_stats.csv"), batch);

  CmdResult json = Larder({"inspect", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_NE(json.out.find("\"rows_written\":0,"), std::string::npos) << json.out;
  CmdResult get =
      Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id=1001"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_NE(get.out.find(R"("statuses":["NOT_FOUND"])"), std::string::npos) << get.out;
}

TEST_F(CliTest, GetErrors) {
  ApplyAndPush();
  CmdResult view = Larder({"get", "--features", "nope:conv_rate", "--entity", "driver_id=1001"});
  EXPECT_EQ(view.code, 1);
  EXPECT_EQ(view.out, "");
  EXPECT_EQ(view.err,
            "larder get: FeatureViewNotFound: feature view 'nope' is not in the registry\n");

  CmdResult feature =
      Larder({"get", "--features", "driver_hourly_stats:nope", "--entity", "driver_id=1001"});
  EXPECT_EQ(feature.code, 1);
  EXPECT_EQ(feature.err.rfind("larder get: FeatureNotFound: ", 0), 0u) << feature.err;

  CmdResult ref = Larder({"get", "--features", "conv_rate", "--entity", "driver_id=1001"});
  EXPECT_EQ(ref.code, 1);
  EXPECT_NE(ref.err.find("is not of the form 'feature_view:feature'"), std::string::npos)
      << ref.err;

  CmdResult syntax =
      Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id"});
  EXPECT_EQ(syntax.code, 1);
  EXPECT_EQ(syntax.err,
            "larder get: InvalidArgument: --entity 'driver_id' (entity row 1): 'driver_id' is "
            "not of the form KEY=VALUE\n");

  CmdResult twice = Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity",
                            "driver_id=1,driver_id=2"});
  EXPECT_EQ(twice.code, 1);
  EXPECT_NE(twice.err.find("key 'driver_id' is given twice"), std::string::npos) << twice.err;

  CmdResult rows = Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity",
                           "driver_id=1001", "--entity", "driver=1002"});
  EXPECT_EQ(rows.code, 1);
  EXPECT_EQ(rows.err,
            "larder get: InvalidArgument: --entity 'driver=1002' (entity row 2) gives keys "
            "driver but entity row 1 gives driver_id; every entity row must give the same keys\n");

  // An entity's name stands for its join key (Feast accepts it, deprecated); a key nobody uses
  // is ignored, so the view's join key is then missing.
  CmdResult name =
      Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver=1002"});
  EXPECT_EQ(name.code, 0) << name.err;
  EXPECT_NE(name.out.find(R"({"feature_names":["driver_id","conv_rate"]})"), std::string::npos)
      << name.out;
  CmdResult key =
      Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity", "rider=1002"});
  EXPECT_EQ(key.code, 1);
  EXPECT_EQ(key.err.rfind("larder get: MissingJoinKey: ", 0), 0u) << key.err;

  CmdResult type =
      Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id=abc"});
  EXPECT_EQ(type.code, 1);
  EXPECT_NE(type.err.find("\"abc\" is not a valid Int64"), std::string::npos) << type.err;

  // Keys may come in any order; extra keys are ignored, as Feast ignores them.
  CmdResult order = Larder({"get", "--features", "driver_hourly_stats:avg_daily_trips", "--entity",
                            "driver_id=1001,trip=a", "--entity", "trip=b,driver_id=1003"});
  ASSERT_EQ(order.code, 0) << order.err;
  EXPECT_NE(order.out.find(R"({"feature_names":["driver_id","avg_daily_trips"]})"),
            std::string::npos)
      << order.out;
  EXPECT_EQ(order.out.find(R"({"values":["a","b"],)"), std::string::npos) << order.out;
  EXPECT_NE(order.out.find(R"({"values":[27,31],)"), std::string::npos) << order.out;
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  CmdResult none = Larder({}, false);
  EXPECT_EQ(none.code, 2);
  CmdResult unknown = Larder({"frobnicate"}, false);
  EXPECT_EQ(unknown.code, 2);
  CmdResult no_features = Larder({"get", "--entity", "driver_id=1"});
  EXPECT_EQ(no_features.code, 2);
  EXPECT_NE(no_features.err.find("--features or --feature-service"), std::string::npos)
      << no_features.err;
  CmdResult both =
      Larder({"get", "--features", "a:b", "--feature-service", "s", "--entity", "x=1"});
  EXPECT_EQ(both.code, 2);
  CmdResult no_entity = Larder({"get", "--features", "a:b"});
  EXPECT_EQ(no_entity.code, 2);
  CmdResult no_file = Larder({"push", "driver_stats_push"});
  EXPECT_EQ(no_file.code, 2);
  CmdResult bad_to = Larder({"push", "driver_stats_push", "x.csv", "--to", "nowhere"});
  EXPECT_EQ(bad_to.code, 2);
  CmdResult help = Larder({"--help"}, false);
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("write-to-online-store"), std::string::npos) << help.out;
}

TEST_F(CliTest, InspectShowsViewsAndRows) {
  ApplyAndPush();
  CmdResult text = Larder({"inspect"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("project          driver_stats\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("path             " + seg_.path() + "\n"), std::string::npos);
  EXPECT_NE(text.out.find("memory limit     64.0 MiB (67108864 bytes)\n"), std::string::npos);
  EXPECT_NE(text.out.find("rows             written 6, skipped 0 as older than stored rows\n"),
            std::string::npos)
      << text.out;
  EXPECT_TRUE(std::regex_search(text.out, std::regex("\n  driver_hourly_stats +1 +3 ")))
      << text.out;
  EXPECT_TRUE(std::regex_search(text.out, std::regex("\n  driver_daily_quality +2 +3 ")))
      << text.out;
  EXPECT_NE(text.out.find("(this command)"), std::string::npos) << text.out;

  CmdResult json = Larder({"inspect", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_TRUE(IsValidJson(json.out)) << json.out;
  EXPECT_EQ(json.out.rfind(R"({"project":"driver_stats","path":")" + seg_.path() +
                               R"(","memory_limit":67108864,)",
                           0),
            0u)
      << json.out;
  EXPECT_NE(json.out.find(R"("rows_written":6,"rows_skipped_older":0,)"), std::string::npos);
  EXPECT_NE(json.out.find(R"({"name":"driver_hourly_stats","id":1,"rows":3,)"), std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find(R"("ttl_seconds":315360000,"source":"driver_stats_push"})"),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find(R"("entries":6,)"), std::string::npos) << json.out;
}

TEST_F(CliTest, CheckPasses) {
  ApplyAndPush();
  CmdResult check = Larder({"check"});
  EXPECT_EQ(check.code, 0) << check.out << check.err;
  EXPECT_TRUE(std::regex_match(
      check.out, std::regex("ok: [0-9]+ blocks, 6 rows, every invariant holds\n"
                            "arena: [0-9]+ bytes = rows [0-9]+ \\+ index [0-9]+ \\+ registry "
                            "[0-9]+ \\+ free [0-9]+ \\+ limbo [0-9]+ \\+ pad [0-9]+\n")))
      << check.out;
}

// A writer that died mid-batch is named as such, with its own exit code, not reported as
// violations; `check --repair` makes the repair the next writer would make.
TEST_F(CliTest, CheckNamesADeadWriterAndRepairsIt) {
  ApplyAndPush();
  {
    testing::RawSegment raw(seg_.path());
    ASSERT_NE(raw.header(), nullptr);
    raw.header()->writer_pid.store(4194304);  // above any pid_max: no live writer
  }
  CmdResult check = Larder({"check"});
  EXPECT_EQ(check.code, 3) << check.out << check.err;
  EXPECT_NE(check.out.find("a writer died mid-batch (pid 4194304); the next writer (or `larder "
                           "check --repair`) repairs it"),
            std::string::npos)
      << check.out;
  EXPECT_EQ(check.out.find("violation:"), std::string::npos) << check.out;

  CmdResult repair = Larder({"check", "--repair"});
  EXPECT_EQ(repair.code, 0) << repair.out << repair.err;
  EXPECT_NE(repair.out.find("repaired: a writer had died mid-batch"), std::string::npos)
      << repair.out;
  EXPECT_NE(repair.out.find("every invariant holds"), std::string::npos) << repair.out;

  CmdResult again = Larder({"check", "--repair"});
  EXPECT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("no repair needed"), std::string::npos) << again.out;
}

TEST_F(CliTest, TeardownRemovesTheStore) {
  Apply();
  CmdResult down = Larder({"teardown"});
  ASSERT_EQ(down.code, 0) << down.err;
  EXPECT_EQ(down.out, "removed " + seg_.path() + "\n");
  EXPECT_FALSE(fs::exists(seg_.path()));
  EXPECT_FALSE(fs::exists(seg_.path() + ".readers"));
  EXPECT_FALSE(fs::exists(seg_.path() + ".lock"));

  CmdResult again = Larder({"teardown"});
  EXPECT_EQ(again.code, 1);
  EXPECT_EQ(again.err.rfind("larder teardown: StoreNotFound: ", 0), 0u) << again.err;
  for (const char* cmd : {"inspect", "check"}) {
    CmdResult r = Larder({cmd});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err.rfind(std::string("larder ") + cmd + ": StoreNotFound: ", 0), 0u) << r.err;
  }
  CmdResult get =
      Larder({"get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id=1"});
  EXPECT_EQ(get.code, 1);
  EXPECT_EQ(get.err.rfind("larder get: StoreNotFound: ", 0), 0u) << get.err;
}

TEST_F(CliTest, SnapshotThenRestoreServesTheSameRows) {
  Apply();
  ASSERT_EQ(Larder({"push", "driver_stats_push", repo_.path() + "/push_rows.csv"}).code, 0);
  const std::string file = scratch_.path() + "/store.snapshot";
  CmdResult snap = Larder({"snapshot", file});
  ASSERT_EQ(snap.code, 0) << snap.err;
  EXPECT_TRUE(std::regex_search(
      snap.out, std::regex("^wrote " + file +
                           ": 6 rows of project '[a-z_]+' as of write batch [0-9]+ \\([0-9]+ "
                           "bytes; writers waited [0-9.]+ ms, readers never\\)\n$")))
      << snap.out;
  CmdResult exists = Larder({"restore", file});
  EXPECT_EQ(exists.code, 1);
  EXPECT_EQ(exists.err.rfind("larder restore: InvalidArgument: a store exists at", 0), 0u)
      << exists.err;

  ASSERT_EQ(Larder({"teardown"}).code, 0);
  CmdResult restore = Larder({"restore", file});
  ASSERT_EQ(restore.code, 0) << restore.err;
  EXPECT_EQ(restore.out.rfind("restored " + seg_.path() + " from " + file + ": 6 rows", 0), 0u)
      << restore.out;
  EXPECT_EQ(Larder(kThreeDriversArgs).out, kThreeDriversJson);
  CmdResult check = Larder({"check"});
  EXPECT_EQ(check.code, 0) << check.out << check.err;

  CmdResult missing = Larder({"restore", scratch_.path() + "/none"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("cannot open snapshot"), std::string::npos) << missing.err;
  EXPECT_EQ(Larder({"snapshot"}).code, 2);  // OUT is required
}

TEST_F(CliTest, Version) {
  CmdResult v = Larder({"version"}, false);
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("larder 0.1.0 ", 0), 0u) << v.out;
}

// A repo with a String join key and the remaining dtypes: `--entity user_id=1001` must reach
// the engine as the string "1001".
TEST_F(CliTest, StringJoinKeysAndOtherDtypes) {
  repo_.Write("feature_store.yaml",
              "project: cli_strings\n"
              "online_store:\n"
              "  path: " +
                  seg_.path() +
                  "\n"
                  "  memory_limit: 4MiB\n"
                  "entities:\n"
                  "  - {name: user, join_keys: [user_id], value_type: String}\n"
                  "sources:\n"
                  "  - {name: users, type: file, path: users.csv, "
                  "timestamp_field: ts}\n"
                  "  - {name: user_push, type: push, batch_source: users}\n"
                  "feature_views:\n"
                  "  - name: user_stats\n"
                  "    entities: [user]\n"
                  "    ttl: 0\n"
                  "    source: user_push\n"
                  "    schema:\n"
                  "      - {name: score, dtype: Float64}\n"
                  "      - {name: blob, dtype: Bytes}\n"
                  "      - {name: seen, dtype: UnixTimestamp}\n"
                  "      - {name: flags, dtype: Array(Bool)}\n"
                  "      - {name: small, dtype: Int32}\n");
  Apply();
  repo_.Write("users.jsonl",
              R"({"user_id": "1001", "ts": "2026-05-01T12:00:00Z", "score": 0.1, "blob": "AAH/",)"
              R"( "seen": "2026-04-30 23:59:59.5+00:00", "flags": [true, false], "small": -3})"
              "\n"
              R"({"user_id": "ann", "ts": "2026-05-01T12:00:00Z", "score": 1e300, "blob": null,)"
              R"( "seen": null, "flags": [], "small": 2147483647})"
              "\n");
  CmdResult push = Larder({"push", "user_push", repo_.path() + "/users.jsonl"});
  ASSERT_EQ(push.code, 0) << push.err;
  CmdResult get = Larder({"get", "--features",
                          "user_stats:score,user_stats:blob,user_stats:seen,user_stats:flags,"
                          "user_stats:small",
                          "--entity", "user_id=1001", "--entity", "user_id=ann"});
  ASSERT_EQ(get.code, 0) << get.err;
  const std::string ts = R"("2026-05-01T12:00:00Z")";
  EXPECT_EQ(get.out,
            R"({"metadata":{"feature_names":["user_id","score","blob","seen","flags","small"]},)"
            R"("results":[)"
            R"({"values":["1001","ann"],"statuses":["PRESENT","PRESENT"],)"
            R"("event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[0.1,1e+300],"statuses":["PRESENT","PRESENT"],"event_timestamps":[)" +
                ts + "," + ts + "]}," +
                R"({"values":["AAH/",null],"statuses":["PRESENT","NULL_VALUE"],)"
                R"("event_timestamps":[)" +
                ts + "," + ts + "]}," +
                R"({"values":[1777593599,null],)"
                R"("statuses":["PRESENT","NULL_VALUE"],"event_timestamps":[)" +
                ts + "," + ts + "]}," +
                R"({"values":[[true,false],[]],"statuses":["PRESENT","PRESENT"],)"
                R"("event_timestamps":[)" +
                ts + "," + ts + "]}," +
                R"({"values":[-3,2147483647],"statuses":["PRESENT","PRESENT"],)"
                R"("event_timestamps":[)" +
                ts + "," + ts + "]}]}\n");
}

}  // namespace
}  // namespace larder
