// Historical retrieval (point-in-time join) against hand-computed expectations: as-of
// semantics, ties on event and created timestamps, ttl edges, entities never seen, null keys,
// row order, full feature names, services, and every error.
#include "tests/offline_fixture.h"

namespace larder {
namespace {

using namespace larder::testing;  // NOLINT

class HistoricalTest : public OfflineFixture {
 protected:
  void SetUp() override {
    OfflineFixture::SetUp();
    // stats: ttl 1d; quality: ttl 0.
    Spit(csv_, std::string(kOfflineHeader) +
                   "2026-03-01T10:00:00Z,2026-03-01T10:00:00Z,1,0.1,1,a,1\n"
                   "2026-03-01T12:00:00Z,2026-03-01T12:05:00Z,1,0.2,2,b,2\n"
                   "2026-03-01T12:00:00Z,2026-03-01T12:01:00Z,1,0.25,25,bb,25\n"  // older created
                   "2026-03-01T14:00:00Z,,1,0.3,3,c,3\n"
                   "2026-01-01T00:00:00Z,,2,0.5,5,e,5\n"
                   "2026-03-01T16:00:00Z,2026-03-01T16:00:00Z,1,0.4,4,d,4\n"
                   "2026-03-01T16:00:00Z,2026-03-01T16:00:00Z,1,0.45,45,dd,45\n");  // later wins
  }

  // Entity rows (driver_id, event_timestamp, label) and their expected stats:conv /
  // quality:score.
  Frame EntityDf() {
    return MakeFrame({{"driver_id", {I(1), I(1), I(1), I(2), I(2), I(3), I(1), Null()}},
                      {"event_timestamp",
                       {S("2026-03-01T11:59:59Z"),         // r0: 10:00 row
                        S("2026-03-01T12:00:00Z"),         // r1: 12:00, created 12:05 wins
                        S("2026-03-01T09:00:00Z"),         // r2: before any row
                        S("2026-01-02T00:00:00Z"),         // r3: ts == T - 1d: outside stats ttl
                        S("2026-01-01T23:59:59.999999Z"),  // r4: ts > T - 1d: inside
                        S("2026-03-01T12:00:00Z"),         // r5: entity never seen
                        I(1772380800),                     // r6: 2026-03-01T16:00:00Z, epoch s
                        S("2026-03-01T12:00:00Z")}},       // r7: null key
                      {"label", {I(0), I(1), I(2), I(3), I(4), I(5), I(6), I(7)}}},
                     "entity_df");
  }
};

std::vector<Cell> Col(const Frame& f, const std::string& name) {
  int c = f.FindColumn(name);
  EXPECT_GE(c, 0) << name;
  return c >= 0 ? f.columns[c] : std::vector<Cell>{};
}

TEST_F(HistoricalTest, PointInTimeCorrectWithTiesTtlEdgesAndUnknownEntities) {
  HistoricalRequest req;
  req.features = {"stats:conv", "stats:city", "quality:score"};
  req.entity_df = EntityDf();
  LARDER_ASSERT_OK_AND_ASSIGN(Frame out, fs_->GetHistoricalFeatures(req));
  EXPECT_EQ(out.names, (std::vector<std::string>{"driver_id", "event_timestamp", "label", "conv",
                                                 "city", "score"}));
  ASSERT_EQ(out.num_rows(), 8u);
  EXPECT_EQ(out.columns[2][5].i, 5);  // entity rows keep their order and columns
  const std::vector<Cell> conv = Col(out, "conv");
  const std::vector<Cell> city = Col(out, "city");
  const std::vector<Cell> score = Col(out, "score");
  auto is_null = [](const Cell& c) { return c.kind == Cell::Kind::kNull; };
  EXPECT_EQ(conv[0].d, 0.1);  // Float32 values come back as their shortest decimal
  EXPECT_EQ(city[0].s, "a");
  EXPECT_EQ(conv[1].d, 0.2);
  EXPECT_EQ(city[1].s, "b");
  EXPECT_TRUE(is_null(conv[2]) && is_null(city[2]) && is_null(score[2]));
  EXPECT_TRUE(is_null(conv[3]));  // stats ttl: 2026-01-01 is not > T - 1d
  EXPECT_EQ(score[3].d, 5.0);     // quality has no ttl
  EXPECT_EQ(conv[4].d, 0.5);
  EXPECT_TRUE(is_null(conv[5]) && is_null(score[5]));
  EXPECT_EQ(conv[6].d, 0.45);
  EXPECT_EQ(score[6].d, 45.0);
  EXPECT_TRUE(is_null(conv[7]) && is_null(score[7]));
}

TEST_F(HistoricalTest, FeatureServicesAndFullFeatureNames) {
  HistoricalRequest req;
  req.feature_service = "svc";
  req.entity_df = EntityDf();
  req.full_feature_names = true;
  LARDER_ASSERT_OK_AND_ASSIGN(Frame out, fs_->GetHistoricalFeatures(req));
  EXPECT_EQ(out.names,
            (std::vector<std::string>{"driver_id", "event_timestamp", "label", "stats__conv",
                                      "stats__trips", "stats__city", "quality__score"}));
  EXPECT_EQ(Col(out, "stats__trips")[1].i, 2);
  req.feature_service.clear();
  req.features = {"stats:conv", "quality:conv"};
  LARDER_ASSERT_OK_AND_ASSIGN(out, fs_->GetHistoricalFeatures(req));
  EXPECT_EQ(Col(out, "quality__conv")[3].d, 0.5);
  EXPECT_TRUE(Col(out, "stats__conv")[3].kind == Cell::Kind::kNull);
  req.full_feature_names = false;
  EXPECT_TRUE(IsError(fs_->GetHistoricalFeatures(req), ErrorCode::kInvalidArgument,
                      {"'conv' is requested more than once", "full_feature_names"}));
}

TEST_F(HistoricalTest, NeedsNoOnlineStore) {
  LARDER_ASSERT_OK(fs_->Teardown());
  HistoricalRequest req;
  req.features = {"quality:score"};
  req.entity_df = EntityDf();
  LARDER_ASSERT_OK_AND_ASSIGN(Frame out, fs_->GetHistoricalFeatures(req));
  EXPECT_EQ(Col(out, "score")[1].d, 2.0);
}

TEST_F(HistoricalTest, Errors) {
  HistoricalRequest req;
  req.features = {"stats:conv"};
  req.entity_df = EntityDf();
  auto check = [&](const HistoricalRequest& r, ErrorCode code,
                   std::initializer_list<std::string> parts) {
    EXPECT_TRUE(IsError(fs_->GetHistoricalFeatures(r), code, parts));
  };
  HistoricalRequest r = req;
  r.entity_df.names[1] = "ts";
  check(r, ErrorCode::kInvalidArgument, {"needs an 'event_timestamp' column"});
  r = req;
  r.entity_df.names[0] = "driver";
  check(r, ErrorCode::kMissingJoinKey, {"join key 'driver_id'", "feature view 'stats'"});
  r = req;
  r.entity_df.columns[1][2] = S("noon");
  check(r, ErrorCode::kInvalidArgument, {"entity_df row 3", "'event_timestamp'", "'noon'"});
  r = req;
  r.entity_df.columns[0][1] = S("x");
  check(r, ErrorCode::kInvalidArgument, {"entity_df row 2", "join key 'driver_id'"});
  r = req;
  r.entity_df.names[2] = "conv";
  check(r, ErrorCode::kInvalidArgument, {"'conv' is also a column of the entity dataframe"});
  r = req;
  r.features = {"nope:conv"};
  check(r, ErrorCode::kFeatureViewNotFound, {"'nope'"});
  r.features = {"stats:nope"};
  check(r, ErrorCode::kFeatureNotFound, {"'nope'", "'stats'"});
  r.features = {"conv"};
  check(r, ErrorCode::kInvalidArgument, {"'conv' is not of the form"});
  r.features.clear();
  r.feature_service = "nope";
  check(r, ErrorCode::kFeatureServiceNotFound, {"'nope'"});
  r.feature_service.clear();
  check(r, ErrorCode::kInvalidArgument, {"either a list of features or a feature service"});
  std::filesystem::remove(csv_);
  check(req, ErrorCode::kDataSourceNotFound, {csv_});
  Spit(csv_, std::string(kOfflineHeader) + "2026-03-01T10:00:00Z,,1,fast,1,a,1\n");
  check(req, ErrorCode::kDataSourceError, {csv_ + " line 2", "column 'conv'", "Float32"});
}

}  // namespace
}  // namespace larder
