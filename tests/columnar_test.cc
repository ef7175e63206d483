// GetOnlineFeaturesColumnar must agree with GetOnlineFeatures for every dtype and status, and
// reusing one ColumnarResponse across requests of different shapes must not leak old values.
#include <gtest/gtest.h>

#include "tests/store_fixture.h"

namespace larder::testing {
namespace {

constexpr char kColumnarRepo[] = R"(feature_views:
  - name: v
    entities: [driver]
    source: stats_push
    ttl: 1d
    schema:
      - {name: i32, dtype: Int32}
      - {name: i64, dtype: Int64}
      - {name: f32, dtype: Float32}
      - {name: f64, dtype: Float64}
      - {name: str, dtype: String}
      - {name: byt, dtype: Bytes}
      - {name: boo, dtype: Bool}
      - {name: ts, dtype: UnixTimestamp}
      - {name: arr, dtype: Array(Float32)}
)";

Frame DriverIds(const std::vector<int64_t>& ids) { return MakeFrame({{"driver_id", Ints(ids)}}); }

const std::vector<std::string> kRefs = {"v:i32", "v:i64", "v:f32", "v:f64", "v:str",
                                        "v:byt", "v:boo", "v:ts",  "v:arr"};

// The columnar cell (row r of feature c) as a Value, to compare with the value path.
Value ColumnarValue(const ColumnarFeature& c, size_t r) {
  if (c.dtype.is_array) return c.arrays[r];
  switch (c.dtype.scalar) {
    case ScalarType::kInt32: return Value::Int32(static_cast<int32_t>(c.ints[r]));
    case ScalarType::kInt64: return Value::Int64(c.ints[r]);
    case ScalarType::kBool: return Value::Bool(c.ints[r] != 0);
    case ScalarType::kUnixTimestamp: return Value::Timestamp(c.ints[r]);
    case ScalarType::kFloat32: return Value::Float32(c.floats[r]);
    case ScalarType::kFloat64: return Value::Float64(c.doubles[r]);
    case ScalarType::kString: return Value::String(c.strings[r]);
    case ScalarType::kBytes: return Value::Bytes(c.strings[r]);
  }
  return {};
}

class ColumnarTest : public StoreFixture {};

TEST_F(ColumnarTest, AgreesWithValuePathForEveryDtypeAndStatus) {
  repo_.Write(std::string(kDriverPreamble) + kColumnarRepo);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  const int64_t now = NowSeconds();
  // 1: all present and fresh; 2: all null; 3: present but older than the ttl.
  std::vector<Column> cols = {
      {"driver_id", Ints({1, 2, 3})},
      {"event_timestamp", {I(now), I(now), I(now - 3 * 86400)}},
      {"i32", {I(-5), Null(), I(7)}},
      {"i64", {I(INT64_MAX), Null(), I(8)}},
      {"f32", {F(1.5), Null(), F(-2.25)}},
      {"f64", {F(1e300), Null(), F(0.125)}},
      {"str", {S("héllo"), Null(), S("")}},
      {"byt", {B(std::string("\0\x01", 2)), Null(), B("z")}},
      {"boo", {Bool(true), Null(), Bool(false)}},
      {"ts", {I(1), Null(), S("2022-05-13T10:59:42Z")}},
      {"arr", {Arr({F(0.5), F(1.5)}), Null(), Arr({})}},
  };
  ASSERT_TRUE(fs->Push("stats_push", MakeFrame(std::move(cols))).ok());

  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  OnlineRequest req = Features(kRefs, DriverIds({1, 2, 3, 4}));
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse values, reader->GetOnlineFeatures(req));
  ColumnarResponse columnar;
  ASSERT_TRUE(reader->GetOnlineFeaturesColumnar(req, &columnar).ok());

  ASSERT_EQ(columnar.features.size(), kRefs.size());
  for (size_t c = 0; c < kRefs.size(); ++c) {
    const ColumnarFeature& col = columnar.features[c];
    const FeatureColumn& want = values.results[c + 1];  // results[0] is driver_id
    EXPECT_EQ(col.name, values.feature_names[c + 1]);
    EXPECT_EQ(col.dtype, want.values[0].dtype);
    ASSERT_EQ(col.statuses.size(), 4u);
    for (size_t r = 0; r < 4; ++r) {
      SCOPED_TRACE(col.name + " row " + std::to_string(r));
      EXPECT_EQ(col.statuses[r], want.statuses[r]);
      EXPECT_EQ(col.event_timestamps[r], want.event_timestamps[r]);
      if (want.statuses[r] == FieldStatus::kPresent ||
          want.statuses[r] == FieldStatus::kOutsideMaxAge) {
        EXPECT_TRUE(SameValue(want.values[r], ColumnarValue(col, r)));
      }
    }
    EXPECT_EQ(col.statuses[0], FieldStatus::kPresent);
    EXPECT_EQ(col.statuses[1], FieldStatus::kNullValue);
    EXPECT_EQ(col.statuses[2], FieldStatus::kOutsideMaxAge);
    EXPECT_EQ(col.statuses[3], FieldStatus::kNotFound);
  }

  // Reuse with a smaller request of other features: no stale rows or columns survive.
  ASSERT_TRUE(reader->GetOnlineFeaturesColumnar(Features({"v:str"}, DriverIds({4})), &columnar)
                  .ok());
  ASSERT_EQ(columnar.features.size(), 1u);
  ASSERT_EQ(columnar.features[0].strings.size(), 1u);
  EXPECT_EQ(columnar.features[0].strings[0], "");
  EXPECT_EQ(columnar.features[0].statuses[0], FieldStatus::kNotFound);

  // Errors are the same as the value path's.
  EXPECT_TRUE(IsError(reader->GetOnlineFeaturesColumnar(Features({"nope:x"}, DriverIds({1})),
                                                        &columnar),
                      ErrorCode::kFeatureViewNotFound, {"nope"}));
}

}  // namespace
}  // namespace larder::testing

namespace larder::testing {
namespace {

// Skipping row verification changes nothing on a healthy store.
TEST_F(ColumnarTest, UnverifiedReaderReadsTheSameRows) {
  repo_.Write(std::string(kDriverPreamble) + kColumnarRepo);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  std::vector<Column> cols = {
      {"driver_id", Ints({1, 2})},        {"event_timestamp", {I(NowSeconds()), I(NowSeconds())}},
      {"i32", {I(1), I(2)}},              {"i64", {I(3), Null()}},
      {"f32", {F(0.5), F(1.5)}},          {"f64", {F(2.5), F(3.5)}},
      {"str", {S("a"), S("b")}},          {"byt", {B("c"), B("d")}},
      {"boo", {Bool(true), Bool(false)}}, {"ts", {I(5), I(6)}},
      {"arr", {Arr({F(1)}), Arr({})}},
  };
  ASSERT_TRUE(fs->Push("stats_push", MakeFrame(std::move(cols))).ok());
  LARDER_ASSERT_OK_AND_ASSIGN(auto checked, OnlineReader::Attach(repo_.segment()));
  LARDER_ASSERT_OK_AND_ASSIGN(auto trusted,
                              OnlineReader::Attach(repo_.segment(), ReaderOptions{false}));
  OnlineRequest req = Features(kRefs, DriverIds({1, 2, 3}));
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse a, checked->GetOnlineFeatures(req));
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse b, trusted->GetOnlineFeatures(req));
  ASSERT_EQ(a.results.size(), b.results.size());
  for (size_t c = 0; c < a.results.size(); ++c) {
    EXPECT_EQ(a.results[c].statuses, b.results[c].statuses) << a.feature_names[c];
    for (size_t r = 0; r < 3; ++r) {
      EXPECT_TRUE(SameValue(a.results[c].values[r], b.results[c].values[r])) << a.feature_names[c];
    }
  }
}

}  // namespace
}  // namespace larder::testing

namespace larder::testing {
namespace {

constexpr char kScoresView[] = R"(  - name: w
    entities: [driver]
    source: stats_push
    schema:
      - {name: score_level_a, dtype: Int64}
      - {name: score_level_b, dtype: Float64}
)";

// One OnlineResponse reused for requests of different shapes, as a serving loop reuses it: each
// answer follows its own request (names, order, dtypes, statuses), with nothing left over from
// the one before. The feature references "w:score_level_a" and "w:score_level_b" have the same
// length and differ only in their last byte, so a request of one must not be answered with the
// plan, or the names, of the other.
TEST_F(ColumnarTest, ReusedValueResponseFollowsEachRequest) {
  repo_.Write(std::string(kDriverPreamble) + kColumnarRepo + kScoresView);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  const int64_t now = NowSeconds();
  ASSERT_TRUE(fs->Push("stats_push", MakeFrame({{"driver_id", Ints({1, 2})},
                                                {"event_timestamp", {I(now), I(now)}},
                                                {"i32", {I(-5), Null()}},
                                                {"f32", {F(1.5), Null()}},
                                                {"str", {S("a long string value"), Null()}},
                                                {"boo", {Bool(true), Null()}},
                                                {"i64", {I(3), Null()}},
                                                {"f64", {F(2.5), Null()}},
                                                {"byt", {B("b"), Null()}},
                                                {"ts", {I(5), Null()}},
                                                {"arr", {Arr({F(1)}), Null()}},
                                                {"score_level_a", {I(41), I(42)}},
                                                {"score_level_b", {F(0.25), F(0.5)}}}))
                  .ok());
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  OnlineResponse resp;

  // Present (a row without nulls: read class by class), null and not-found rows, for every
  // class the class-by-class path copies.
  ASSERT_TRUE(reader
                  ->GetOnlineFeatures(
                      Features({"v:i32", "v:f32", "v:str", "v:boo"}, DriverIds({1, 2, 9})), &resp)
                  .ok());
  ASSERT_EQ(resp.feature_names,
            (std::vector<std::string>{"driver_id", "i32", "f32", "str", "boo"}));
  const std::vector<Value> want = {Value::Int32(-5), Value::Float32(1.5f),
                                   Value::String("a long string value"), Value::Bool(true)};
  for (size_t c = 0; c < want.size(); ++c) {
    const FeatureColumn& col = resp.results[c + 1];
    SCOPED_TRACE(resp.feature_names[c + 1]);
    EXPECT_EQ(col.statuses,
              (std::vector<FieldStatus>{FieldStatus::kPresent, FieldStatus::kNullValue,
                                        FieldStatus::kNotFound}));
    EXPECT_TRUE(SameValue(want[c], col.values[0]));
    EXPECT_TRUE(col.values[1].is_null);
    EXPECT_TRUE(col.values[2].is_null);
    EXPECT_EQ(col.values[1].dtype, want[c].dtype);
  }

  // The same features in another order, for the row that was null: old values must not show.
  ASSERT_TRUE(
      reader->GetOnlineFeatures(Features({"v:boo", "v:str", "v:i32"}, DriverIds({2})), &resp).ok());
  ASSERT_EQ(resp.feature_names, (std::vector<std::string>{"driver_id", "boo", "str", "i32"}));
  for (size_t c = 1; c < resp.results.size(); ++c) {
    EXPECT_EQ(resp.results[c].statuses[0], FieldStatus::kNullValue) << resp.feature_names[c];
    EXPECT_TRUE(resp.results[c].values[0].is_null) << resp.feature_names[c];
    EXPECT_TRUE(resp.results[c].values[0].str.empty()) << resp.feature_names[c];
  }

  // References that differ only in their last byte, alternately, then with full names.
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(
        reader->GetOnlineFeatures(Features({"w:score_level_a"}, DriverIds({1}), round == 1), &resp)
            .ok());
    EXPECT_EQ(resp.feature_names[1], round == 1 ? "w__score_level_a" : "score_level_a");
    EXPECT_TRUE(SameValue(Value::Int64(41), resp.results[1].values[0]));
    ASSERT_TRUE(
        reader->GetOnlineFeatures(Features({"w:score_level_b"}, DriverIds({2}), round == 1), &resp)
            .ok());
    EXPECT_EQ(resp.feature_names[1], round == 1 ? "w__score_level_b" : "score_level_b");
    EXPECT_TRUE(SameValue(Value::Float64(0.5), resp.results[1].values[0]));
  }
}

}  // namespace
}  // namespace larder::testing
