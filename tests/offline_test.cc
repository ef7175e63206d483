// The offline store's write side: push(to=offline | online_and_offline) appending to the
// batch source's CSV, durability and torn tails, concurrent appenders, and every error path.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <set>
#include <thread>

#include "engine/offline/offline_check.h"
#include "engine/offline/offline_push.h"
#include "engine/row_stager.h"
#include "engine/segment/segment_file.h"
#include "engine/store.h"
#include "engine/values/frame_readers.h"
#include "tests/offline_fixture.h"

namespace larder {
namespace {

using namespace larder::testing;  // NOLINT

class OfflinePushTest : public OfflineFixture {};

StatsRow Row(int64_t id, const std::string& ts, double conv = 0.5) {
  return {id, ts, "", conv, id * 10, "city" + std::to_string(id), 1.5};
}

TEST_F(OfflinePushTest, CreatesTheFileWithItsHeaderAndLeavesTheOnlineStoreAlone) {
  Frame f = StatsFrame(
      {{1, "2026-01-01 10:00:00+02:00", "", 0.5, 3, "Paris, FR", 1.25},
       {2, "2026-01-01T09:00:00Z", "2026-01-01T09:00:01.5Z", 0.1, 4, "say \"hi\"\nthere", 2.5}});
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult r, fs_->Push("stats_push", f, PushMode::kOffline));
  EXPECT_EQ(r.rows_in, 2u);
  EXPECT_EQ(r.views, 2u);
  EXPECT_EQ(r.rows_written, 2u);
  EXPECT_EQ(Slurp(csv_), std::string(kOfflineHeader) +
                             "2026-01-01T08:00:00Z,,1,0.5,3,\"Paris, FR\",1.25\n"
                             "2026-01-01T09:00:00Z,2026-01-01T09:00:01.500Z,2,0.1,4,"
                             "\"say \"\"hi\"\"\nthere\",2.5\n");
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 1).status, FieldStatus::kNotFound);
  // An empty frame writes nothing.
  LARDER_ASSERT_OK(fs_->Push("stats_push", StatsFrame({}), PushMode::kOffline));
  const std::string after = Slurp(csv_);
  EXPECT_EQ(std::count(after.begin(), after.end(), '\n'), 4);
}

TEST_F(OfflinePushTest, AppendsInTheColumnOrderOfAnExistingHeader) {
  // No created column, an extra column of the user's, another order.
  Spit(csv_, "driver_id,notes,score,city,trips,conv,event_timestamp\n");
  Frame f = StatsFrame({Row(1, "2026-01-01T08:00:00Z")});
  f.names.push_back("ignored");
  f.columns.push_back({S("x")});
  LARDER_ASSERT_OK(fs_->Push("stats_push", f, PushMode::kOffline));
  EXPECT_EQ(Slurp(csv_),
            "driver_id,notes,score,city,trips,conv,event_timestamp\n"
            "1,,1.5,city1,10,0.5,2026-01-01T08:00:00Z\n");
}

TEST_F(OfflinePushTest, MissingColumnsAreListedAndNothingIsWritten) {
  Frame f = StatsFrame({Row(1, "2026-01-01T08:00:00Z")});
  f.names.erase(f.names.begin() + 4, f.names.end());  // keep id, ts, created, conv
  f.columns.erase(f.columns.begin() + 4, f.columns.end());
  for (PushMode mode : {PushMode::kOffline, PushMode::kOnlineAndOffline}) {
    auto r = fs_->Push("stats_push", f, mode);
    EXPECT_TRUE(IsError(r, ErrorCode::kInvalidArgument,
                        {"'trips' (feature)", "'city' (feature)", "nothing was written"}));
  }
  EXPECT_FALSE(std::filesystem::exists(csv_));
  // The created-timestamp column may be left out (rows get created 0), as online.
  Frame no_created = StatsFrame({Row(1, "2026-01-01T08:00:00Z")});
  no_created.names.erase(no_created.names.begin() + 2);
  no_created.columns.erase(no_created.columns.begin() + 2);
  LARDER_EXPECT_OK(fs_->Push("stats_push", no_created, PushMode::kOffline));
}

TEST_F(OfflinePushTest, AHeaderLackingColumnsIsADataSourceError) {
  const std::string before = "event_timestamp,driver_id,conv\n2026-01-01T00:00:00Z,1,0.5\n";
  Spit(csv_, before);
  auto r =
      fs_->Push("stats_push", StatsFrame({Row(1, "2026-01-01T08:00:00Z")}), PushMode::kOffline);
  EXPECT_TRUE(IsError(r, ErrorCode::kDataSourceError,
                      {csv_, "header lacks columns", "'trips' (feature)", "'city' (feature)",
                       "'score' (feature)", "nothing was written"}));
  EXPECT_EQ(Slurp(csv_), before);
}

TEST_F(OfflinePushTest, BadValuesNameRowAndColumnAndWriteNothingAnywhere) {
  Frame bad = StatsFrame({Row(1, "2026-01-01T08:00:00Z"), Row(2, "2026-01-01T08:00:00Z")});
  bad.columns[4][1] = S("many");  // trips
  for (PushMode mode : {PushMode::kOffline, PushMode::kOnlineAndOffline}) {
    EXPECT_TRUE(IsError(fs_->Push("stats_push", bad, mode), ErrorCode::kInvalidArgument,
                        {"request body row 2", "column 'trips'", "not a valid Int64"}));
  }
  Frame bad_ts = StatsFrame({Row(1, "yesterday")});
  EXPECT_TRUE(IsError(fs_->Push("stats_push", bad_ts, PushMode::kOffline),
                      ErrorCode::kInvalidArgument,
                      {"row 1", "column 'event_timestamp'", "invalid timestamp 'yesterday'"}));
  Frame null_key = StatsFrame({Row(1, "2026-01-01T08:00:00Z")});
  null_key.columns[0][0] = Null();
  EXPECT_TRUE(IsError(fs_->Push("stats_push", null_key, PushMode::kOffline),
                      ErrorCode::kInvalidArgument, {"row 1", "column 'driver_id'", "null"}));
  EXPECT_FALSE(std::filesystem::exists(csv_));
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 1).status, FieldStatus::kNotFound);
  for (PushMode mode : {PushMode::kOffline, PushMode::kOnlineAndOffline}) {
    EXPECT_TRUE(IsError(fs_->Push("nope", bad, mode), ErrorCode::kPushSourceNotFound, {"'nope'"}));
    EXPECT_TRUE(IsError(fs_->Push("stats_file", bad, mode), ErrorCode::kPushSourceNotFound,
                        {"'stats_file'"}));
  }
}

TEST_F(OfflinePushTest, OnlineAndOfflineWritesTheLogThenTheOnlineStore) {
  Frame f = StatsFrame({Row(1, "2026-01-01T08:00:00Z", 0.25), Row(2, "2026-01-01T09:00:00Z")});
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult r,
                              fs_->Push("stats_push", f, PushMode::kOnlineAndOffline));
  EXPECT_EQ(r.rows_written, 4u);  // 2 rows x 2 views online
  EXPECT_EQ(Slurp(csv_), std::string(kOfflineHeader) +
                             "2026-01-01T08:00:00Z,,1,0.25,10,city1,1.5\n"
                             "2026-01-01T09:00:00Z,,2,0.5,20,city2,1.5\n");
  OneValue v = ReadOne(*fs_, "quality:conv", 1);
  EXPECT_EQ(v.status, FieldStatus::kPresent);
  EXPECT_EQ(v.value.f64, 0.25);
}

TEST_F(OfflinePushTest, AnOnlineWriteFailingAfterTheOfflineAppendSaysTheRowsAreOffline) {
  // online_and_offline appends offline first; when the online write then fails (here: Busy,
  // another descriptor holds the writer lock), the error says the rows are in the offline
  // store, so that a caller does not retry the whole push and append them twice.
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig config, LoadRepoConfig(repo_.dir()));
  LARDER_ASSERT_OK_AND_ASSIGN(auto repo, Catalog::Build(config, 0));
  WriterOptions quick;
  quick.lock_timeout_ms = 200;
  LARDER_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(repo_.segment(), /*writable=*/true, quick));
  const int fd = ::open(LockPath(repo_.segment()).c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  Frame f = StatsFrame({Row(1, "2026-01-01T08:00:00Z", 0.25)});
  auto r = PushOnlineAndOffline(*store, *repo, "stats_push", f, 10000);
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kBusy) << r.status().ToString();
  EXPECT_NE(r.status().message().find("the rows were already written to the offline store (" +
                                      csv_ + ") and stay there: retry writing them online only"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(Slurp(csv_),
            std::string(kOfflineHeader) + "2026-01-01T08:00:00Z,,1,0.25,10,city1,1.5\n");
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 1).status, FieldStatus::kNotFound);
}

TEST_F(OfflinePushTest, BothStoresAreWrittenFromOneConversionOfEachCell) {
  // Engine level, the steps of online_and_offline (engine/offline/offline_push.cc): validate
  // into ConvertedCells, append offline, push online. The frame's cells are changed after the
  // conversion: were the offline records or the online rows converted again, they would show
  // (or fail on) the new cells.
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig config, LoadRepoConfig(repo_.dir()));
  LARDER_ASSERT_OK_AND_ASSIGN(auto repo, Catalog::Build(config, 0));
  LARDER_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(repo_.segment(), /*writable=*/true));
  LARDER_ASSERT_OK_AND_ASSIGN(auto registry, store->CurrentCatalog());
  Frame f = StatsFrame({Row(1, "2026-01-01T08:00:00Z", 0.25)});
  ConvertedCells cells(f);
  LARDER_ASSERT_OK(ValidatePushFrame(registry->ViewsOfSource("stats_push"), f, &cells));
  for (std::vector<Cell>& column : f.columns) {
    if (column[0].kind != Cell::Kind::kNull) column[0] = S("changed");
  }
  LARDER_ASSERT_OK(PushToOffline(*repo, "stats_push", f, 10000, &cells));
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult r, store->Push("stats_push", f, &cells));
  EXPECT_EQ(r.rows_written, 2u);
  EXPECT_EQ(Slurp(csv_),
            std::string(kOfflineHeader) + "2026-01-01T08:00:00Z,,1,0.25,10,city1,1.5\n");
  OneValue v = ReadOne(*fs_, "quality:conv", 1);
  EXPECT_EQ(v.status, FieldStatus::kPresent);
  EXPECT_EQ(v.value.f64, 0.25);
  EXPECT_EQ(v.ts, Ts("2026-01-01T08:00:00Z"));
  EXPECT_EQ(ReadOne(*fs_, "stats:city", 1).value.str, "city1");
}

TEST_F(OfflinePushTest, ATornTailIsIgnoredReportedAndRemovedByTheNextAppend) {
  LARDER_ASSERT_OK(
      fs_->Push("stats_push", StatsFrame({Row(1, "2026-01-01T08:00:00Z")}), PushMode::kOffline));
  const std::string good = Slurp(csv_);
  const std::string torn = "2026-01-01T09:00:00Z,,2,0.7,1,\"Par\n";  // newline inside quotes
  Spit(csv_, torn, /*append=*/true);

  LARDER_ASSERT_OK_AND_ASSIGN(auto checks, CheckBatchSources(fs_->config()));
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_TRUE(checks[0].violations.empty()) << checks[0].violations[0];
  EXPECT_EQ(checks[0].records, 1u);
  EXPECT_EQ(checks[0].torn_bytes, torn.size());
  EXPECT_EQ(checks[0].torn_line, 3u);

  LARDER_ASSERT_OK_AND_ASSIGN(auto m, fs_->Materialize(0, Ts("2027-01-01T00:00:00Z")));
  EXPECT_EQ(m.views[0].rows_read, 1u);
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 2).status, FieldStatus::kNotFound);

  LARDER_ASSERT_OK(
      fs_->Push("stats_push", StatsFrame({Row(3, "2026-01-01T10:00:00Z")}), PushMode::kOffline));
  EXPECT_EQ(Slurp(csv_), good + "2026-01-01T10:00:00Z,,3,0.5,30,city3,1.5\n");
  EXPECT_EQ(Slurp(csv_ + ".torn"), torn + "\n");
  LARDER_ASSERT_OK_AND_ASSIGN(checks, CheckBatchSources(fs_->config()));
  EXPECT_EQ(checks[0].torn_bytes, 0u);
  EXPECT_EQ(checks[0].records, 2u);
}

TEST_F(OfflinePushTest, AFileWithoutACompleteHeaderIsRecreated) {
  Spit(csv_, "event_timestamp,cre");  // a crash while the header was written
  LARDER_ASSERT_OK(
      fs_->Push("stats_push", StatsFrame({Row(1, "2026-01-01T08:00:00Z")}), PushMode::kOffline));
  EXPECT_EQ(Slurp(csv_),
            std::string(kOfflineHeader) + "2026-01-01T08:00:00Z,,1,0.5,10,city1,1.5\n");
}

TEST_F(OfflinePushTest, ConcurrentAppendsNeverInterleave) {
  constexpr int kThreads = 4, kPushes = 25, kRows = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto fs = repo_.Open();  // its own FeatureStore, as another process would have
      ASSERT_TRUE(fs.ok());
      for (int p = 0; p < kPushes; ++p) {
        std::vector<StatsRow> rows;
        for (int r = 0; r < kRows; ++r) {
          int64_t id = (t * kPushes + p) * kRows + r;
          rows.push_back({id, "2026-01-01T08:00:00Z", "", 0.5, id, std::string(200, 'a' + t), 1});
        }
        auto st = (*fs)->Push("stats_push", StatsFrame(rows), PushMode::kOffline);
        ASSERT_TRUE(st.ok()) << st.status().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  LARDER_ASSERT_OK_AND_ASSIGN(Frame all, ReadCsvFrame(Slurp(csv_), csv_));
  ASSERT_EQ(all.num_rows(), static_cast<size_t>(kThreads * kPushes * kRows));
  std::set<std::string> ids;
  for (size_t r = 0; r < all.num_rows(); ++r) {
    ids.insert(all.columns[2][r].s);
    const std::string& city = all.columns[5][r].s;
    ASSERT_EQ(city, std::string(200, city[0])) << "record " << r << " is mixed";
  }
  EXPECT_EQ(ids.size(), all.num_rows());
}

// Appenders killed with SIGKILL while they append: the kill comes a random 0-20 ms after the
// child reported its first acknowledged append (so some appends are always acknowledged,
// however slow the build, sanitizers included), usually in the middle of a later one.
TEST_F(OfflinePushTest, AppendersKilledMidWriteLeaveOnlyCompleteOrTornRecords) {
  std::mt19937 rng(42);
  int64_t next_id = 0;
  uint64_t acknowledged = 0;
  for (int round = 0; round < 4; ++round) {
    testing::Child child = testing::ForkChild([&](int report_fd) {
      auto fs = repo_.Open();
      if (!fs.ok()) ::_exit(2);
      for (int64_t id = 1'000'000 * (round + 1);; id += 5000) {
        std::vector<StatsRow> rows;
        for (int r = 0; r < 5000; ++r) {
          rows.push_back({id + r, "2026-01-01T08:00:00Z", "", 0.5, 1, std::string(100, 'z'), 1});
        }
        if (!(*fs)->Push("stats_push", StatsFrame(rows), PushMode::kOffline).ok()) ::_exit(3);
        const char ack = 'a';
        testing::WriteAll(report_fd, &ack, 1);
      }
    });
    ASSERT_GE(child.pid, 0);
    char ack = 0;
    ASSERT_EQ(testing::ReadAll(child.report_fd, &ack, 1), 1u) << "the appender never acknowledged";
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    ::kill(child.pid, SIGKILL);
    EXPECT_EQ(WaitChild(child.pid), SIGKILL);
    char acks[4096];
    acknowledged += 1 + testing::ReadAll(child.report_fd, acks, sizeof(acks));
    ::close(child.report_fd);
    // Whatever the child left, the next append leaves a file of complete records only.
    LARDER_ASSERT_OK(fs_->Push("stats_push", StatsFrame({Row(next_id++, "2026-01-01T08:00:00Z")}),
                               PushMode::kOffline));
    LARDER_ASSERT_OK_AND_ASSIGN(auto checks, CheckBatchSources(fs_->config()));
    EXPECT_TRUE(checks[0].violations.empty()) << checks[0].violations[0];
    EXPECT_EQ(checks[0].torn_bytes, 0u);
  }
  // Every acknowledged append is in the file: 5000 rows each, plus the parent's 4. (A killed
  // write() may also leave complete records of the batch it was writing: unacknowledged, but
  // whole, as docs/offline.md says.)
  LARDER_ASSERT_OK_AND_ASSIGN(Frame all, ReadCsvFrame(Slurp(csv_), csv_));
  EXPECT_GE(all.num_rows(), acknowledged * 5000 + 4);
}

}  // namespace
}  // namespace larder
