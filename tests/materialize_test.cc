// Materialization: push → offline file → materialize → online round trips (every dtype),
// interval filtering, latest-per-entity, the ordered write rule against fresher pushes,
// incremental runs and their recorded intervals, and every error.
#include "engine/values/cell_convert.h"
#include "larder/timestamp.h"
#include "tests/offline_fixture.h"

namespace larder {
namespace {

using namespace larder::testing;  // NOLINT

class MaterializeTest : public OfflineFixture {
 protected:
  // The file's header, then `body`.
  void WriteCsv(const std::string& body) { Spit(csv_, std::string(kOfflineHeader) + body); }
  const MaterializeResult::View* ViewOf(const MaterializeResult& r, const std::string& name) {
    for (const auto& v : r.views) {
      if (v.name == name) return &v;
    }
    ADD_FAILURE() << "no result for view " << name;
    return nullptr;
  }
  std::vector<MaterializedInterval> Intervals() {
    auto reader = OnlineReader::Attach(repo_.segment());
    EXPECT_TRUE(reader.ok());
    auto reg = (*reader)->Registry();
    EXPECT_TRUE(reg.ok()) << reg.status().ToString();
    return reg.ok() ? reg->intervals : std::vector<MaterializedInterval>{};
  }
};

TEST_F(MaterializeTest, LatestRowPerEntityWithinTheInterval) {
  WriteCsv(
      "2026-03-01T10:00:00Z,2026-03-01T10:00:00Z,1,0.1,1,a,1\n"
      "2026-03-01T12:00:00Z,2026-03-01T12:30:00Z,1,0.3,3,c,3\n"
      "2026-03-01T12:00:00Z,2026-03-01T12:05:00Z,1,0.2,2,b,2\n"   // older created: loses
      "2026-03-01T12:00:00Z,2026-03-01T12:30:00Z,1,0.35,4,d,4\n"  // same pair, later: wins
      "2026-03-01T09:59:59.999999Z,,2,0.5,5,e,5\n"                // before start
      "2026-03-01T11:00:00Z,,2,0.6,6,f,6\n"
      "2026-03-01T12:00:00.000001Z,,3,0.7,7,g,7\n");  // after end
  LARDER_ASSERT_OK_AND_ASSIGN(
      MaterializeResult r,
      fs_->Materialize(Ts("2026-03-01T10:00:00Z"), Ts("2026-03-01T12:00:00Z"), {"quality"}));
  ASSERT_EQ(r.views.size(), 1u);
  EXPECT_EQ(r.views[0].name, "quality");
  EXPECT_EQ(r.views[0].start, Ts("2026-03-01T10:00:00Z"));
  EXPECT_EQ(r.views[0].rows_read, 5u);
  EXPECT_EQ(r.views[0].rows_written, 2u);
  EXPECT_EQ(r.views[0].rows_skipped, 0u);
  OneValue one = ReadOne(*fs_, "quality:conv", 1);
  EXPECT_EQ(one.status, FieldStatus::kPresent);
  EXPECT_EQ(one.value.f64, static_cast<double>(0.35f));
  EXPECT_EQ(one.ts, Ts("2026-03-01T12:00:00Z"));
  EXPECT_EQ(ReadOne(*fs_, "quality:score", 2).value.f64, 6.0);
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 3).status, FieldStatus::kNotFound);
  // Only the named view was materialized.
  EXPECT_EQ(ReadOne(*fs_, "stats:conv", 1).status, FieldStatus::kNotFound);
}

TEST_F(MaterializeTest, NeverOverwritesFresherPushedRows) {
  LARDER_ASSERT_OK(
      fs_->Push("stats_push", StatsFrame({{1, "2026-01-02T00:00:00Z", "", 0.9, 9, "fresh", 9}})));
  WriteCsv(
      "2026-01-01T00:00:00Z,,1,0.1,1,old,1\n"
      "2026-01-01T00:00:00Z,,2,0.2,2,new,2\n");
  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult r, fs_->Materialize(0, Ts("2026-12-31T00:00:00Z")));
  ASSERT_EQ(r.views.size(), 2u);
  for (const auto& v : r.views) {
    EXPECT_EQ(v.rows_written, 1u) << v.name;
    EXPECT_EQ(v.rows_skipped, 1u) << v.name;
  }
  EXPECT_EQ(ReadOne(*fs_, "quality:score", 1).value.f64, 9.0);
  EXPECT_EQ(ReadOne(*fs_, "quality:score", 2).value.f64, 2.0);
  // Materializing again rewrites equal rows (>= rule) and changes nothing visible.
  LARDER_ASSERT_OK(fs_->Materialize(0, Ts("2026-12-31T00:00:00Z")));
  EXPECT_EQ(ReadOne(*fs_, "quality:score", 1).value.f64, 9.0);
}

constexpr char kAllTypes[] = R"(entities:
  - {name: driver, join_keys: [driver_id], value_type: Int64}
  - {name: region, join_keys: [region], value_type: String}
sources:
  - {name: all_file, type: file, path: data/all.csv, timestamp_field: ts}
  - {name: all_push, type: push, batch_source: all_file}
feature_views:
  - name: all
    entities: [driver, region]
    source: all_push
    schema:
      - {name: i32, dtype: Int32}
      - {name: i64, dtype: Int64}
      - {name: f32, dtype: Float32}
      - {name: f64, dtype: Float64}
      - {name: s, dtype: String}
      - {name: b, dtype: Bytes}
      - {name: flag, dtype: Bool}
      - {name: when, dtype: UnixTimestamp}
      - {name: tags, dtype: Array(String)}
      - {name: xs, dtype: Array(Float32)}
      - {name: ns, dtype: Array(Int64)}
)";

TEST(MaterializeRoundTrip, EveryDtypeSurvivesPushOfflineThenMaterialize) {
  Repo repo;
  repo.Write(kAllTypes);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  const std::vector<std::string> names = {"i32",  "i64",  "f32",  "f64", "s", "b",
                                          "flag", "when", "tags", "xs",  "ns"};
  std::vector<std::vector<Cell>> rows = {
      {I(-7), I(1LL << 40), F(0.1), F(1e-300), S("comma, \"quote\"\nnewline"),
       B(std::string("\0\xff", 2)), Bool(true), S("2026-05-01T01:02:03.000004Z"),
       Arr({S("a,b"), S("")}), Arr({F(1.5), F(-0.25)}), Arr({I(1), I(-2)})},
      {Null(), Null(), F(std::nan("")), F(-INFINITY), S(""), B(""), Bool(false), Null(), Arr({}),
       Arr({F(INFINITY)}), Null()},
  };
  Frame f = MakeFrame({{"driver_id", Ints({1, 2})},
                       {"region", {S("eu"), S("us \"east\"")}},
                       {"ts", {S("2026-01-01T00:00:00Z"), S("2026-01-01T00:00:00Z")}}});
  for (size_t c = 0; c < names.size(); ++c) {
    f.names.push_back(names[c]);
    f.columns.push_back({rows[0][c], rows[1][c]});
  }
  LARDER_ASSERT_OK(fs->Push("all_push", f, PushMode::kOffline));
  LARDER_ASSERT_OK_AND_ASSIGN(auto r, fs->Materialize(0, Ts("2027-01-01T00:00:00Z")));
  EXPECT_EQ(r.views[0].rows_written, 2u);

  std::vector<std::string> refs;
  for (const std::string& n : names) refs.push_back("all:" + n);
  LARDER_ASSERT_OK_AND_ASSIGN(
      OnlineResponse resp,
      fs->GetOnlineFeatures(Features(refs, MakeFrame({{"driver_id", Ints({1, 2})},
                                                      {"region", {S("eu"), S("us \"east\"")}}}))));
  auto view = fs->config().FindView("all");
  for (size_t c = 0; c < names.size(); ++c) {
    for (size_t r2 = 0; r2 < 2; ++r2) {
      auto want = CellToValue(rows[r2][c], view->features[c].dtype);
      ASSERT_TRUE(want.ok()) << names[c];
      EXPECT_TRUE(SameValue(*want, resp.results[2 + c].values[r2])) << names[c] << " row " << r2;
    }
  }
}

TEST_F(MaterializeTest, IncrementalRunsStartWhereTheLastEndedAndRecordIntervals) {
  const TimestampMicros now = NowSeconds() * kMicros;
  constexpr int64_t kHour = 3600 * kMicros, kDay = 24 * kHour;
  auto line = [](TimestampMicros ts, int id, double conv) {
    return FormatTimestamp(ts) + ",," + std::to_string(id) + "," + std::to_string(conv) +
           ",1,x,1\n";
  };
  WriteCsv(line(now - 3 * kDay, 1, 0.1) + line(now - 2 * kHour, 2, 0.2) +
           line(now - 400 * kDay, 3, 0.3) + line(now - 200 * kDay, 4, 0.4));
  LARDER_ASSERT_OK_AND_ASSIGN(MaterializeResult r, fs_->MaterializeIncremental(now - kHour));
  const auto* stats = ViewOf(r, "stats");      // ttl 1d: from now - 1d
  const auto* quality = ViewOf(r, "quality");  // ttl 0: from now - 365d
  ASSERT_TRUE(stats && quality);
  EXPECT_NEAR(static_cast<double>(stats->start), static_cast<double>(now - kDay), 5e6);
  EXPECT_NEAR(static_cast<double>(quality->start), static_cast<double>(now - 365 * kDay), 5e6);
  EXPECT_EQ(stats->rows_written, 1u);    // entity 2
  EXPECT_EQ(quality->rows_written, 3u);  // 1, 2, 4
  EXPECT_EQ(ReadOne(*fs_, "stats:conv", 1).status, FieldStatus::kNotFound);
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 3).status, FieldStatus::kNotFound);
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 4).status, FieldStatus::kPresent);

  Spit(csv_, line(now - 30 * 60 * kMicros, 5, 0.5), /*append=*/true);
  LARDER_ASSERT_OK_AND_ASSIGN(r, fs_->MaterializeIncremental(now));
  for (const auto& v : r.views) {
    EXPECT_EQ(v.start, now - kHour) << v.name;
    EXPECT_EQ(v.rows_read, 1u) << v.name;  // entity 5 only
  }
  std::vector<MaterializedInterval> iv = Intervals();
  ASSERT_EQ(iv.size(), 2u);  // one per view: touching intervals merged
  for (const auto& i : iv) EXPECT_EQ(i.end, now) << i.view;

  EXPECT_TRUE(IsError(fs_->MaterializeIncremental(now - 2 * kHour), ErrorCode::kInvalidArgument,
                      {"already materialized up to", FormatTimestamp(now)}));
  // An older, disjoint range adds an interval; incremental still starts at the latest end.
  LARDER_ASSERT_OK(fs_->Materialize(now - 500 * kDay, now - 450 * kDay, {"quality"}));
  EXPECT_EQ(Intervals().size(), 3u);
  LARDER_ASSERT_OK_AND_ASSIGN(r, fs_->MaterializeIncremental(now + kHour, {"quality"}));
  EXPECT_EQ(r.views[0].start, now);
  // Apply keeps the intervals of views whose schema did not change.
  LARDER_ASSERT_OK(fs_->Apply());
  EXPECT_EQ(Intervals().size(), 3u);
  // A view that gains a feature keeps its rows but forgets its intervals (its rows lack the
  // feature's history), so materialize-incremental loads it afresh; the other view's stay.
  std::string grown = kOfflineViews;
  const std::string score = "      - {name: score, dtype: Float64}\n";
  grown.replace(grown.find(score), score.size(), score + "      - {name: trips, dtype: Int64}\n");
  SetUpRepo(grown);
  iv = Intervals();
  ASSERT_EQ(iv.size(), 1u);
  EXPECT_EQ(iv[0].view, "stats");
  EXPECT_EQ(ReadOne(*fs_, "quality:trips", 5).status, FieldStatus::kNotFound);
  LARDER_ASSERT_OK_AND_ASSIGN(r, fs_->MaterializeIncremental(now + 2 * kHour, {"quality"}));
  EXPECT_LT(r.views[0].start, now - 300 * kDay);  // ttl 0: a year back, not the old end
  EXPECT_EQ(ReadOne(*fs_, "quality:trips", 5).status, FieldStatus::kPresent);
}

TEST_F(MaterializeTest, ArgumentErrors) {
  WriteCsv("2026-01-01T00:00:00Z,,1,0.1,1,a,1\n");
  EXPECT_TRUE(IsError(fs_->Materialize(Ts("2026-02-01"), Ts("2026-01-01")),
                      ErrorCode::kInvalidArgument,
                      {"start 2026-02-01T00:00:00Z is after end 2026-01-01T00:00:00Z"}));
  EXPECT_TRUE(IsError(fs_->Materialize(0, 1, {"stats", "nope"}), ErrorCode::kFeatureViewNotFound,
                      {"'nope'", "not in the feature repo"}));
  // A view added to the YAML but not applied.
  std::string views = kOfflineViews;
  views.insert(views.find("feature_services:"),
               "  - name: later\n    entities: [driver]\n    source: stats_push\n"
               "    schema: [{name: conv, dtype: Float32}]\n");
  repo_.Write(std::string(kDriverPreamble) + views);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fresh, repo_.Open());
  EXPECT_TRUE(IsError(fresh->Materialize(0, 1, {"later"}), ErrorCode::kFeatureViewNotFound,
                      {"'later'", "run `larder apply`"}));
  EXPECT_TRUE(Intervals().empty());
}

TEST_F(MaterializeTest, OfflineViewsCannotBeMaterialized) {
  std::string views = kOfflineViews;
  views.replace(views.find("    ttl: 0\n"), 10, "    ttl: 0\n    online: false\n");
  SetUpRepo(views);
  WriteCsv("2026-01-01T00:00:00Z,,1,0.1,1,a,1\n");
  LARDER_ASSERT_OK_AND_ASSIGN(auto r, fs_->Materialize(0, Ts("2027-01-01")));
  EXPECT_EQ(r.views.size(), 1u);  // every online view: stats only
  EXPECT_TRUE(IsError(fs_->Materialize(0, Ts("2027-01-01"), {"quality"}),
                      ErrorCode::kInvalidArgument, {"'quality'", "not online"}));
}

TEST_F(MaterializeTest, FileErrorsNameFileLineAndColumnAndWriteNothing) {
  const TimestampMicros end = Ts("2027-01-01");
  EXPECT_TRUE(
      IsError(fs_->Materialize(0, end), ErrorCode::kDataSourceNotFound, {csv_, "does not exist"}));
  struct Case {
    std::string body;
    std::vector<std::string> parts;
  };
  const std::string ok_line = "2026-01-01T00:00:00Z,,1,0.1,1,a,1\n";
  const std::vector<Case> cases = {
      {ok_line + "2026-01-01T00:00:00Z,,2,0.1,1,\"a\"b,1\n", {"line 3", "after the closing quote"}},
      {ok_line + "2026-01-01T00:00:00Z,,2,0.1\n", {"line 3", "expected 7 fields", "found 4"}},
      {ok_line + "soon,,2,0.1,1,a,1\n",
       {"line 3", "column 'event_timestamp'", "invalid timestamp 'soon'"}},
      {ok_line + ",,2,0.1,1,a,1\n", {"line 3", "column 'event_timestamp'", "timestamp is null"}},
      {ok_line + "2026-01-01T00:00:00Z,later,2,0.1,1,a,1\n", {"line 3", "column 'created'"}},
      {ok_line + "2026-01-01T00:00:00Z,,two,0.1,1,a,1\n",
       {"line 3", "column 'driver_id'", "not a valid Int64"}},
  };
  for (const Case& c : cases) {
    WriteCsv(c.body);
    std::vector<std::string> parts = c.parts;
    parts.push_back(csv_);
    auto r = fs_->Materialize(0, end);
    EXPECT_EQ(r.status().code(), ErrorCode::kDataSourceError) << c.body;
    for (const std::string& p : parts) {
      EXPECT_NE(r.status().message().find(p), std::string::npos)
          << r.status().message() << " lacks " << p;
    }
    EXPECT_EQ(ReadOne(*fs_, "quality:conv", 1).status, FieldStatus::kNotFound) << c.body;
  }
  // A bad value in a winning row is found when it is written.
  WriteCsv("2026-01-01T00:00:00Z,,1,0.1,lots,a,1\n");
  EXPECT_TRUE(IsError(fs_->Materialize(0, end), ErrorCode::kDataSourceError,
                      {"materializing feature view 'stats'", csv_ + " line 2", "column 'trips'",
                       "not a valid Int64"}));
  Spit(csv_, "event_timestamp,driver_id,conv\n2026-01-01T00:00:00Z,1,0.5\n");
  EXPECT_TRUE(IsError(
      fs_->Materialize(0, end), ErrorCode::kDataSourceError,
      {csv_, "lacks columns", "'trips' (feature)", "'city' (feature)", "feature view 'stats'"}));
  // A column named twice is ambiguous.
  Spit(csv_, "event_timestamp,created,driver_id,conv,trips,city,score,conv\n" +
                 ok_line.substr(0, ok_line.size() - 1) + ",0.9\n");
  EXPECT_TRUE(IsError(fs_->Materialize(0, end), ErrorCode::kDataSourceError,
                      {csv_ + ": duplicate column name 'conv' in the header"}));
  EXPECT_TRUE(Intervals().empty());
}

TEST_F(MaterializeTest, AByteOrderMarkBeforeTheHeaderIsSkipped) {
  // Spreadsheet tools write one; the header's first column is still the timestamp field.
  Spit(csv_, "\xEF\xBB\xBF" + std::string(kOfflineHeader) + "2026-01-01T00:00:00Z,,1,0.25,1,a,1\n");
  LARDER_ASSERT_OK(fs_->Materialize(0, Ts("2027-01-01")));
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 1).value.f64, 0.25);
}

TEST_F(MaterializeTest, AnEmptyFileMaterializesNothing) {
  Spit(csv_, "");
  LARDER_ASSERT_OK_AND_ASSIGN(auto r, fs_->Materialize(0, Ts("2027-01-01")));
  for (const auto& v : r.views) EXPECT_EQ(v.rows_read, 0u);
  EXPECT_EQ(Intervals().size(), 2u);
}

}  // namespace
}  // namespace larder
