// RowStager (engine/row_stager.h) on its own: the columns a view needs, the conversion of one
// row to key bytes, timestamps and values, and the errors push and offline push share.
#include "engine/row_stager.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/rows/catalog.h"
#include "larder/repo_config.h"
#include "layout/entity_key.h"
#include "tests/store_fixture.h"

namespace larder::testing {
namespace {

constexpr char kRepo[] = R"(project: stager_test
entities:
  - name: driver
    join_keys: [driver_id]
    value_type: Int64
  - name: user
    join_keys: [user_id]
    value_type: String
sources:
  - name: stats_file
    type: file
    path: data/stats.csv
    timestamp_field: event_timestamp
    created_timestamp_column: created
  - name: stats_push
    type: push
    batch_source: stats_file
feature_views:
  - name: stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
      - {name: city, dtype: String}
  - name: by_user
    entities: [user]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
)";

class RowStagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = ParseRepoConfig(kRepo, "feature_store.yaml", "/tmp");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto cat = Catalog::Build(*config, 0);
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    cat_ = *cat;
  }
  const ViewInfo& View(const std::string& name) const { return *cat_->FindView(name); }

  std::shared_ptr<const Catalog> cat_;
};

std::string Int64Key(int64_t id) {
  std::string key;
  EXPECT_TRUE(layout::AppendEntityKeyPart(Value::Int64(id), ScalarType::kInt64, &key).ok());
  return key;
}

TEST_F(RowStagerTest, StagesEachRowIntoKeyTimestampsAndValues) {
  Frame f = MakeFrame({{"city", {S("Oslo"), Null()}},
                       {"driver_id", {S("7"), I(8)}},
                       {"event_timestamp", {I(5), S("1970-01-01T00:00:06Z")}},
                       {"created", {I(3), Null()}},
                       {"trips", {S("12"), Null()}}});
  auto stager = RowStager::Make(View("stats"), f);
  ASSERT_TRUE(stager.ok()) << stager.status().ToString();
  ASSERT_TRUE(stager->Stage(0).ok());
  EXPECT_EQ(stager->key(), Int64Key(7));
  EXPECT_EQ(stager->event_ts(), 5'000'000);
  EXPECT_EQ(stager->created_ts(), 3'000'000);
  ASSERT_EQ(stager->values().size(), 2u);
  EXPECT_TRUE(SameValue(Value::Int64(12), stager->values()[0]));
  EXPECT_EQ(stager->values()[1].str, "Oslo");
  EXPECT_TRUE(stager->any_value());
  // The second row reuses the buffers: nothing of the first row may show through.
  ASSERT_TRUE(stager->Stage(1).ok());
  EXPECT_EQ(stager->key(), Int64Key(8));
  EXPECT_EQ(stager->event_ts(), 6'000'000);
  EXPECT_EQ(stager->created_ts(), 0);  // a null created cell
  EXPECT_TRUE(stager->values()[0].is_null);
  EXPECT_TRUE(stager->values()[1].is_null);
  EXPECT_TRUE(stager->values()[1].str.empty());
  EXPECT_FALSE(stager->any_value());
}

TEST_F(RowStagerTest, CreatedColumnIsOptional) {
  Frame f = MakeFrame(
      {{"driver_id", {I(1)}}, {"event_timestamp", {I(9)}}, {"trips", {I(2)}}, {"city", {S("x")}}});
  auto stager = RowStager::Make(View("stats"), f);
  ASSERT_TRUE(stager.ok());
  ASSERT_TRUE(stager->Stage(0).ok());
  EXPECT_EQ(stager->created_ts(), 0);
}

TEST_F(RowStagerTest, NamesEveryMissingColumn) {
  Frame f = MakeFrame({{"city", {S("x")}}});
  EXPECT_TRUE(IsError(RowStager::Make(View("stats"), f), ErrorCode::kInvalidArgument,
                      {"request body: feature view 'stats' needs columns 'driver_id' (join key), "
                       "'trips' (feature), 'event_timestamp' (timestamp field), missing from the "
                       "request (nothing was written)"}));
}

TEST_F(RowStagerTest, BadCellsNameRowAndColumnInStagingOrder) {
  // Row 2 has a bad key and a bad feature: the key is reported (keys are converted first).
  Frame f = MakeFrame({{"driver_id", {I(1), S("abc")}},
                       {"event_timestamp", {I(1), S("never")}},
                       {"created", {Null(), S("later")}},
                       {"trips", {I(1), S("many")}},
                       {"city", {S("x"), S("y")}}});
  auto stager = RowStager::Make(View("stats"), f);
  ASSERT_TRUE(stager.ok());
  ASSERT_TRUE(stager->Stage(0).ok());
  EXPECT_TRUE(IsError(stager->Stage(1), ErrorCode::kInvalidArgument,
                      {"request body row 2, column 'driver_id': "}));
  f.columns[0][1] = I(2);
  EXPECT_TRUE(IsError(stager->Stage(1), ErrorCode::kInvalidArgument,
                      {"request body row 2, column 'event_timestamp': "}));
  f.columns[1][1] = I(2);
  EXPECT_TRUE(IsError(stager->Stage(1), ErrorCode::kInvalidArgument,
                      {"request body row 2, column 'created': "}));
  f.columns[2][1] = Null();
  EXPECT_TRUE(IsError(stager->Stage(1), ErrorCode::kInvalidArgument,
                      {"request body row 2, column 'trips': "}));
  f.columns[3][1] = I(2);
  EXPECT_TRUE(stager->Stage(1).ok());
}

TEST_F(RowStagerTest, NullKeyAndOversizedKeyAreRefused) {
  Frame f = MakeFrame({{"user_id", {Null(), S(std::string(5000, 'u'))}},
                       {"event_timestamp", {I(1), I(1)}},
                       {"trips", {I(1), I(1)}}});
  f.row_lines = {3, 4};
  auto stager = RowStager::Make(View("by_user"), f);
  ASSERT_TRUE(stager.ok());
  EXPECT_TRUE(IsError(stager->Stage(0), ErrorCode::kInvalidArgument,
                      {"request body line 3, column 'user_id': "}));
  EXPECT_TRUE(IsError(stager->Stage(1), ErrorCode::kInvalidArgument,
                      {"request body line 4: entity key of 5004 bytes exceeds the limit of 4096"}));
}

TEST_F(RowStagerTest, ConvertedCellsConvertEachColumnOncePerDtype) {
  Frame f = MakeFrame({{"driver_id", {S("7"), I(8)}},
                       {"event_timestamp", {I(5), I(6)}},
                       {"trips", {S("12"), Null()}},
                       {"city", {S("Oslo"), S("Rome")}}});
  ConvertedCells cells(f);
  auto trips = cells.Values(2, DType{ScalarType::kInt64, false}, "trips");
  ASSERT_TRUE(trips.ok()) << trips.status().ToString();
  ASSERT_EQ((*trips)->size(), 2u);
  EXPECT_TRUE(SameValue(Value::Int64(12), (**trips)[0]));
  EXPECT_TRUE((**trips)[1].is_null);
  EXPECT_EQ(cells.conversions(), 1u);
  // Asked again (another view, or the offline records): the same conversion.
  auto again = cells.Values(2, DType{ScalarType::kInt64, false}, "trips");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *trips);
  EXPECT_EQ(cells.conversions(), 1u);
  // Another dtype of the column is another conversion.
  ASSERT_TRUE(cells.Values(2, DType{ScalarType::kString, false}, "trips").ok());
  EXPECT_EQ(cells.conversions(), 2u);
  // A view converts only the columns not converted yet; a view whose columns are missing
  // (by_user: user_id) is refused before anything is converted.
  auto stats = RowStager::Make(View("stats"), f, &cells);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(cells.conversions(), 5u);  // + driver_id, event_timestamp, city
  EXPECT_FALSE(RowStager::Make(View("by_user"), f, &cells).ok());
  EXPECT_EQ(cells.conversions(), 5u);
}

TEST_F(RowStagerTest, AStagerMadeWithConvertedCellsConvertsNothingMore) {
  Frame f = MakeFrame({{"driver_id", {S("7")}},
                       {"event_timestamp", {S("1970-01-01T00:00:05Z")}},
                       {"created", {Null()}},
                       {"trips", {S("12")}},
                       {"city", {S("Oslo")}}});
  ConvertedCells cells(f);
  auto stager = RowStager::Make(View("stats"), f, &cells);
  ASSERT_TRUE(stager.ok()) << stager.status().ToString();
  // Were Stage to convert the cells again it would see these, and fail or stage them.
  f.columns[0][0] = S("not a key");
  f.columns[1][0] = S("never");
  f.columns[3][0] = S("many");
  f.columns[4][0] = S("Rome");
  ASSERT_TRUE(stager->Stage(0).ok());
  EXPECT_EQ(stager->key(), Int64Key(7));
  EXPECT_EQ(stager->event_ts(), 5'000'000);
  EXPECT_EQ(stager->created_ts(), 0);
  EXPECT_TRUE(SameValue(Value::Int64(12), stager->values()[0]));
  EXPECT_EQ(stager->values()[1].str, "Oslo");
}

TEST_F(RowStagerTest, ConvertedCellsNameTheFirstBadCellOfAColumn) {
  Frame f = MakeFrame({{"driver_id", {I(1), I(2)}},
                       {"event_timestamp", {I(1), Null()}},
                       {"trips", {I(1), S("many")}},
                       {"city", {S("x"), S("y")}}});
  ConvertedCells cells(f);
  EXPECT_TRUE(IsError(RowStager::Make(View("stats"), f, &cells), ErrorCode::kInvalidArgument,
                      {"request body row 2, column 'trips': "}));
  // A null event timestamp converts (to nothing) and is refused when its row is staged.
  f.columns[2][1] = I(2);
  ConvertedCells fixed(f);
  auto stager = RowStager::Make(View("stats"), f, &fixed);
  ASSERT_TRUE(stager.ok()) << stager.status().ToString();
  ASSERT_TRUE(stager->Stage(0).ok());
  EXPECT_TRUE(IsError(stager->Stage(1), ErrorCode::kInvalidArgument,
                      {"request body row 2, column 'event_timestamp': "}));
}

TEST(CellErrorTest, KeepsTheCodeAndPrefixesRowAndColumn) {
  Frame f = MakeFrame({{"a", {I(1)}}}, "data.csv");
  Status st = CellError(f, 0, "a", Status(ErrorCode::kDataSourceError, "bad"));
  EXPECT_EQ(st.code(), ErrorCode::kDataSourceError);
  EXPECT_EQ(st.message(), "data.csv row 1, column 'a': bad");
}

TEST(ColumnRequirementTest, OneOrManyMissingColumns) {
  Frame f = MakeFrame({{"a", {I(1)}}});
  ColumnRequirement one(f);
  EXPECT_EQ(one.Need("a", "feature"), 0);
  EXPECT_TRUE(one.Check("batch source 'b'").ok());
  EXPECT_EQ(one.Need("x", "join key"), -1);
  EXPECT_EQ(one.Check("batch source 'b'").message(),
            "request body: batch source 'b' needs column 'x' (join key), missing from the "
            "request (nothing was written)");
  EXPECT_EQ(DescribeColumnList({{"x", "join key"}, {"y", "feature"}}),
            "columns 'x' (join key), 'y' (feature)");
}

}  // namespace
}  // namespace larder::testing
