// Writes that cannot poison the store for good (issue 17, part 3; docs/reliability.md):
// max_future_skew refuses rows from the far future (which would win over every later push of
// their entity), and `larder delete` lets an operator remove rows already written.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "engine/store.h"
#include "larder/feature_store.h"
#include "larder/timestamp.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::Ints;
using testing::MakeFrame;

constexpr char kFarFuture[] = "9999-12-31T23:59:59Z";

std::string Body() { return std::string(testing::kDriverPreamble) + testing::kTripsView; }

Frame RowAt(int64_t id, int64_t trips, Cell event) {
  return MakeFrame({{"driver_id", Ints({id})},
                    {"trips", Ints({trips})},
                    {"conv_rate", {Cell::Double(0.5)}},
                    {"event_timestamp", {std::move(event)}}});
}

// The stored trips of driver `id`, or -1 when it has none.
int64_t TripsOf(FeatureStore& fs, int64_t id) {
  OnlineRequest req;
  req.features = {"driver_stats:trips"};
  req.entities = MakeFrame({{"driver_id", Ints({id})}});
  auto r = fs.GetOnlineFeatures(req);
  if (!r.ok() || r->results[1].statuses[0] != FieldStatus::kPresent) return -1;
  return r->results[1].values[0].i64;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SafeWrites : public testing::StoreFixture {};

// With max_future_skew, a row whose event time lies further ahead of the clock is refused,
// naming its row and column, and nothing of its batch is written (online, offline, or both);
// rows within the skew go in. Before, any event time was taken and the row won for ever.
TEST_F(SafeWrites, MaxFutureSkewRefusesRowsFromTheFarFuture) {
  repo_.Write("max_future_skew: 1h\n" + Body());
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  // Row 2 of the batch is from the far future: the whole batch is refused.
  Frame batch = MakeFrame({{"driver_id", Ints({1, 2})},
                           {"trips", Ints({7, 8})},
                           {"conv_rate", {Cell::Double(0.5), Cell::Double(0.5)}},
                           {"event_timestamp", {Cell::Int(1000), Cell::String(kFarFuture)}}});
  auto pushed = (*fs)->Push("stats_push", batch);
  ASSERT_FALSE(pushed.ok());
  EXPECT_EQ(pushed.status().code(), ErrorCode::kInvalidArgument);
  const std::string& msg = pushed.status().message();
  EXPECT_NE(msg.find("row 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("column 'event_timestamp'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(kFarFuture), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_future_skew"), std::string::npos) << msg;
  EXPECT_EQ(TripsOf(**fs, 1), -1) << "a row of the refused batch was written";
  EXPECT_EQ(TripsOf(**fs, 2), -1) << "the refused row was written";
  EXPECT_FALSE(
      (*fs)->WriteToOnlineStore("driver_stats", RowAt(1, 7, Cell::String(kFarFuture))).ok());
  // The offline log refuses it too (materialize would bring it online later).
  const std::string log = repo_.dir() + "/data/stats.csv";
  for (PushMode to : {PushMode::kOffline, PushMode::kOnlineAndOffline}) {
    auto both = (*fs)->Push("stats_push", batch, to);
    ASSERT_FALSE(both.ok()) << "push to " << static_cast<int>(to) << " took a far-future row";
    EXPECT_NE(both.status().message().find("max_future_skew"), std::string::npos)
        << both.status().ToString();
    EXPECT_EQ(ReadText(log).find("9999"), std::string::npos) << ReadText(log);
  }
  EXPECT_EQ(TripsOf(**fs, 1), -1);
  const int64_t soon = std::time(nullptr) + 1800;  // within the hour
  LARDER_ASSERT_OK((*fs)->Push("stats_push", RowAt(1, 8, Cell::Int(soon))));
  EXPECT_EQ(TripsOf(**fs, 1), 8);
  // Without the setting any time is taken (Feast's behaviour).
  repo_.Write(Body());
  auto plain = repo_.Open();
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  LARDER_ASSERT_OK((*plain)->Push("stats_push", RowAt(2, 9, Cell::String(kFarFuture))));
  // A bad value is a config error naming the key, its line and the value.
  repo_.Write("max_future_skew: soon\n" + Body());
  auto bad = repo_.Open();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kConfigError);
  EXPECT_NE(bad.status().message().find("feature_store.yaml:"), std::string::npos)
      << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("max_future_skew 'soon'"), std::string::npos)
      << bad.status().ToString();
}

// Store::DeleteRows removes exactly the given entities' rows of one view and reports each with
// its event time; a later push of the entity is written again; the store stays sound.
TEST_F(SafeWrites, DeleteRemovesPoisonedRows) {
  repo_.Write(Body());
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  LARDER_ASSERT_OK((*fs)->Push("stats_push", testing::TripsRows(1, 100, 0, 1)));
  LARDER_ASSERT_OK((*fs)->Push("stats_push", RowAt(5, 555, Cell::String(kFarFuture))));
  // The poisoned row wins over a fresh push.
  LARDER_ASSERT_OK((*fs)->Push("stats_push", RowAt(5, 6, Cell::Int(std::time(nullptr)))));
  EXPECT_EQ(TripsOf(**fs, 5), 555);
  auto store = Store::Open(repo_.segment(), /*writable=*/true);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // Unknown view, missing key column, a bad key value: errors, nothing removed.
  EXPECT_EQ((*store)->DeleteRows("nope", MakeFrame({{"driver_id", Ints({5})}})).status().code(),
            ErrorCode::kFeatureViewNotFound);
  EXPECT_EQ((*store)->DeleteRows("driver_stats", MakeFrame({{"x", Ints({5})}})).status().code(),
            ErrorCode::kMissingJoinKey);
  auto bad_key = (*store)->DeleteRows(
      "driver_stats", MakeFrame({{"driver_id", {Cell::Int(5), Cell::String("a")}}}));
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(bad_key.status().message().find("row 2"), std::string::npos)
      << bad_key.status().ToString();
  EXPECT_EQ(TripsOf(**fs, 5), 555) << "a refused delete removed a row";

  auto deleted = (*store)->DeleteRows("driver_stats", MakeFrame({{"driver_id", Ints({5, 4242})}}));
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  ASSERT_EQ(deleted->removed.size(), 1u);
  EXPECT_EQ(deleted->removed[0].entity, "driver_id=5");
  EXPECT_EQ(FormatTimestamp(deleted->removed[0].event_ts), kFarFuture);
  ASSERT_EQ(deleted->not_found.size(), 1u);
  EXPECT_EQ(deleted->not_found[0], "driver_id=4242");
  EXPECT_EQ(TripsOf(**fs, 5), -1);
  for (int64_t id : {1, 4, 6, 100}) EXPECT_EQ(TripsOf(**fs, id), id) << id;  // the others stay
  LARDER_ASSERT_OK((*fs)->Push("stats_push", RowAt(5, 6, Cell::Int(std::time(nullptr)))));
  EXPECT_EQ(TripsOf(**fs, 5), 6);
  auto check = (*fs)->Check();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->ok());
}

// With max_future_skew, a materialization whose end lies past what a push may carry is refused
// before anything is read (a far-future row of the batch source would otherwise stop it
// part-way, after earlier batches were written); an end within the skew runs.
TEST_F(SafeWrites, MaxFutureSkewRefusesAMaterializationEndingTooFarAhead) {
  repo_.Write("max_future_skew: 1h\n" + Body());
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  // The batch source: an ordinary row and one from the far future.
  LARDER_ASSERT_OK((*fs)->Push("stats_push", RowAt(1, 7, Cell::Int(1000)), PushMode::kOffline));
  {
    // The row in the file's own column order.
    const std::string path = repo_.dir() + "/data/stats.csv";
    const std::string text = ReadText(path);
    std::stringstream header(text.substr(0, text.find('\n')));
    const std::map<std::string, std::string> cells = {
        {"driver_id", "2"}, {"trips", "99"}, {"conv_rate", "0.5"}, {"event_timestamp", kFarFuture}};
    std::string line, name;
    for (bool first = true; std::getline(header, name, ','); first = false) {
      auto it = cells.find(name);
      if (!first) line += ",";
      if (it != cells.end()) line += it->second;
    }
    std::ofstream out(path, std::ios::app);
    out << line << "\n";
  }
  const TimestampMicros now = static_cast<TimestampMicros>(std::time(nullptr)) * 1000000;
  auto far = (*fs)->Materialize(0, now + 2 * 3600 * 1000000LL);
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(far.status().message().find("max_future_skew"), std::string::npos)
      << far.status().ToString();
  EXPECT_EQ(TripsOf(**fs, 1), -1) << "a refused materialization wrote rows";
  auto ok = (*fs)->Materialize(0, now);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(TripsOf(**fs, 1), 7);
  EXPECT_EQ(TripsOf(**fs, 2), -1);
}

// A delete of entities that have no row rebuilds nothing (the index is rebuilt beside the old
// one only when something is removed).
TEST_F(SafeWrites, DeletingNothingRebuildsNothing) {
  repo_.Write(Body());
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  LARDER_ASSERT_OK((*fs)->Push("stats_push", testing::TripsRows(1, 10, 0, 1)));
  auto before = (*fs)->Inspect();
  ASSERT_TRUE(before.ok());
  auto store = Store::Open(repo_.segment(), /*writable=*/true);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto deleted = (*store)->DeleteRows("driver_stats", MakeFrame({{"driver_id", Ints({77, 78})}}));
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_TRUE(deleted->removed.empty());
  EXPECT_EQ(deleted->not_found.size(), 2u);
  auto after = (*fs)->Inspect();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->index_growths, before->index_growths) << "the index was rebuilt for nothing";
  auto one = (*store)->DeleteRows("driver_stats", MakeFrame({{"driver_id", Ints({3})}}));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->removed.size(), 1u);
  EXPECT_EQ(TripsOf(**fs, 3), -1);
}

// The CLI: `larder delete --view V --entity K=V ...` prints what it removed.
TEST_F(SafeWrites, TheDeleteCommandReportsWhatItRemoved) {
  repo_.Write(Body());
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  LARDER_ASSERT_OK((*fs)->Push("stats_push", RowAt(7, 70, Cell::String("2026-01-02T03:04:05Z"))));
  const std::string cmd = std::string(LARDER_BIN_DIR) + "/larder delete --repo " + repo_.dir() +
                          " --view driver_stats --entity driver_id=7 --entity driver_id=8 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_EQ(out,
            "removed the row of driver_id=7 from 'driver_stats' (event time "
            "2026-01-02T03:04:05Z)\n"
            "no row of driver_id=8 in 'driver_stats'\n"
            "removed 1 row from 'driver_stats'\n");
  EXPECT_EQ(TripsOf(**fs, 7), -1);
}

}  // namespace
}  // namespace larder
