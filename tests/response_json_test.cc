// Tests of the JSON writer: Feast's get-online-features response shape, every dtype, nulls,
// non-finite numbers, string escaping, base64, timestamps, error bodies and JsonWriter.
#include "wire/response_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace larder {
namespace {

constexpr int64_t kSec = 1'000'000;
// 2021-12-31T23:00:00Z in epoch seconds.
constexpr int64_t k20211231T23 = 1640991600;

std::string ValueJson(const Value& v) {
  std::string out;
  AppendValueJson(v, &out);
  return out;
}

std::string StringJson(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

Value ArrayValue(ScalarType t) {
  Value v = Value::Null(DType{t, true});
  v.is_null = false;
  return v;
}

TEST(ValueJsonTest, Integers) {
  EXPECT_EQ(ValueJson(Value::Int32(-5)), "-5");
  EXPECT_EQ(ValueJson(Value::Int32(std::numeric_limits<int32_t>::min())), "-2147483648");
  EXPECT_EQ(ValueJson(Value::Int64(0)), "0");
  EXPECT_EQ(ValueJson(Value::Int64(9007199254740993)), "9007199254740993");
  EXPECT_EQ(ValueJson(Value::Int64(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(ValueJson(Value::Int64(std::numeric_limits<int64_t>::max())), "9223372036854775807");
}

TEST(ValueJsonTest, Float32IsShortestFloatText) {
  // A Float32 value is stored widened to double; it prints as the float it came from.
  EXPECT_EQ(ValueJson(Value::Float32(0.1f)), "0.1");
  EXPECT_EQ(ValueJson(Value::Float32(0.91f)), "0.91");
  EXPECT_EQ(ValueJson(Value::Float32(1.0f / 3.0f)), "0.33333334");
  EXPECT_EQ(ValueJson(Value::Float32(2.0f)), "2");
  EXPECT_EQ(ValueJson(Value::Float32(-1.5f)), "-1.5");
  EXPECT_EQ(ValueJson(Value::Float32(3.4028235e38f)), "3.4028235e+38");
  EXPECT_EQ(ValueJson(Value::Float32(1e-45f)), "1e-45");
}

TEST(ValueJsonTest, Float64IsShortestRoundTrip) {
  EXPECT_EQ(ValueJson(Value::Float64(0.1)), "0.1");
  EXPECT_EQ(ValueJson(Value::Float64(1.0 / 3.0)), "0.3333333333333333");
  EXPECT_EQ(ValueJson(Value::Float64(0.1 + 0.2)), "0.30000000000000004");
  EXPECT_EQ(ValueJson(Value::Float64(100)), "100");
  EXPECT_EQ(ValueJson(Value::Float64(1e300)), "1e+300");
  EXPECT_EQ(ValueJson(Value::Float64(-0.0)), "-0");
  EXPECT_EQ(ValueJson(Value::Float64(5e-324)), "5e-324");
  // The same double as Float32 is rounded to float first.
  EXPECT_EQ(ValueJson(Value::Float32(static_cast<float>(0.1))), "0.1");
}

TEST(ValueJsonTest, NonFiniteNumbersAreStrings) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(ValueJson(Value::Float64(nan)), "\"NaN\"");
  EXPECT_EQ(ValueJson(Value::Float64(inf)), "\"Infinity\"");
  EXPECT_EQ(ValueJson(Value::Float64(-inf)), "\"-Infinity\"");
  EXPECT_EQ(ValueJson(Value::Float32(std::numeric_limits<float>::quiet_NaN())), "\"NaN\"");
  EXPECT_EQ(ValueJson(Value::Float32(std::numeric_limits<float>::infinity())), "\"Infinity\"");
  EXPECT_EQ(ValueJson(Value::Float32(-std::numeric_limits<float>::infinity())), "\"-Infinity\"");
  Value arr = ArrayValue(ScalarType::kFloat64);
  arr.f64s = {1.5, nan, -inf};
  EXPECT_EQ(ValueJson(arr), "[1.5,\"NaN\",\"-Infinity\"]");
}

TEST(ValueJsonTest, Bools) {
  EXPECT_EQ(ValueJson(Value::Bool(true)), "true");
  EXPECT_EQ(ValueJson(Value::Bool(false)), "false");
}

TEST(ValueJsonTest, Strings) {
  EXPECT_EQ(ValueJson(Value::String("")), "\"\"");
  EXPECT_EQ(ValueJson(Value::String("Paris")), "\"Paris\"");
  EXPECT_EQ(ValueJson(Value::String("say \"hi\"\\")), R"("say \"hi\"\\")");
}

TEST(ValueJsonTest, BytesAreBase64) {
  EXPECT_EQ(ValueJson(Value::Bytes("")), "\"\"");
  EXPECT_EQ(ValueJson(Value::Bytes("a")), "\"YQ==\"");
  EXPECT_EQ(ValueJson(Value::Bytes("ab")), "\"YWI=\"");
  EXPECT_EQ(ValueJson(Value::Bytes("abc")), "\"YWJj\"");
  EXPECT_EQ(ValueJson(Value::Bytes(std::string("\x00\x01\xfe\xff", 4))), "\"AAH+/w==\"");
}

// Feast's Value.unix_timestamp_val is int64 epoch seconds, and its servers write that integer.
TEST(ValueJsonTest, TimestampsAreEpochSeconds) {
  EXPECT_EQ(ValueJson(Value::Timestamp(0)), "0");
  EXPECT_EQ(ValueJson(Value::Timestamp(k20211231T23 * kSec)), "1640991600");
  EXPECT_EQ(ValueJson(Value::Timestamp(k20211231T23 * kSec + 123000)), "1640991600");
  EXPECT_EQ(ValueJson(Value::Timestamp(-kSec)), "-1");
  EXPECT_EQ(ValueJson(Value::Timestamp(-1)), "-1");
}

TEST(ValueJsonTest, NullOfEveryDtypeIsNull) {
  for (int s = 1; s <= 8; ++s) {
    for (bool array : {false, true}) {
      DType t{static_cast<ScalarType>(s), array};
      EXPECT_EQ(ValueJson(Value::Null(t)), "null") << DTypeName(t);
    }
  }
}

TEST(ValueJsonTest, Arrays) {
  Value i32 = ArrayValue(ScalarType::kInt32);
  i32.i64s = {1, -2, 2147483647};
  EXPECT_EQ(ValueJson(i32), "[1,-2,2147483647]");
  Value i64 = ArrayValue(ScalarType::kInt64);
  EXPECT_EQ(ValueJson(i64), "[]");
  i64.i64s = {-9223372036854775807 - 1};
  EXPECT_EQ(ValueJson(i64), "[-9223372036854775808]");
  Value f32 = ArrayValue(ScalarType::kFloat32);
  f32.f64s = {0.5, static_cast<float>(0.1), static_cast<float>(0.7)};
  EXPECT_EQ(ValueJson(f32), "[0.5,0.1,0.7]");
  Value f64 = ArrayValue(ScalarType::kFloat64);
  f64.f64s = {0.1, 2.0, 1e-7};
  EXPECT_EQ(ValueJson(f64), "[0.1,2,1e-07]");
  Value b = ArrayValue(ScalarType::kBool);
  b.i64s = {1, 0, 1};
  EXPECT_EQ(ValueJson(b), "[true,false,true]");
  Value s = ArrayValue(ScalarType::kString);
  s.strs = {"Paris", "", "a\"b"};
  EXPECT_EQ(ValueJson(s), R"(["Paris","","a\"b"])");
  Value by = ArrayValue(ScalarType::kBytes);
  by.strs = {"\x01", "hello"};
  EXPECT_EQ(ValueJson(by), R"(["AQ==","aGVsbG8="])");
  Value ts = ArrayValue(ScalarType::kUnixTimestamp);
  // Integer epoch seconds, as Feast's servers write unix_timestamp_val; floored (a micro before
  // the epoch is second -1).
  ts.i64s = {0, k20211231T23 * kSec, k20211231T23 * kSec + 999999, -1, -kSec, -kSec - 1};
  EXPECT_EQ(ValueJson(ts), "[0,1640991600,1640991600,-1,-1,-2]");
}

TEST(JsonStringTest, EscapesQuoteBackslashAndControlCharacters) {
  EXPECT_EQ(StringJson("plain"), "\"plain\"");
  EXPECT_EQ(StringJson("\""), R"("\"")");
  EXPECT_EQ(StringJson("\\"), R"("\\")");
  EXPECT_EQ(StringJson("a\nb\tc\rd"), R"("a\u000ab\u0009c\u000dd")");
  EXPECT_EQ(StringJson(std::string("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(StringJson("\x7f"), "\"\x7f\"");  // DEL needs no escape in JSON
  EXPECT_EQ(StringJson("/"), "\"/\"");
}

TEST(JsonStringTest, Utf8PassesThrough) {
  EXPECT_EQ(StringJson("Zürich"), "\"Zürich\"");
  EXPECT_EQ(StringJson("€ 東京 😀"), "\"€ 東京 😀\"");
  EXPECT_EQ(StringJson("é\n"), "\"é\\u000a\"");
}

TEST(JsonStringTest, InvalidUtf8BecomesReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(StringJson("a\xff"
                       "b"),
            "\"a" + fffd + "b\"");
  // A truncated sequence: each of its bytes is replaced.
  EXPECT_EQ(StringJson("\xE2\x82"), "\"" + fffd + fffd + "\"");
  // Overlong encoding of '/', and a UTF-16 surrogate.
  EXPECT_EQ(StringJson("\xC0\xAF"), "\"" + fffd + fffd + "\"");
  EXPECT_EQ(StringJson("\xED\xA0\x80"), "\"" + fffd + fffd + fffd + "\"");
  // Valid parts around an invalid byte are kept and escaped as usual.
  EXPECT_EQ(StringJson("é\"\x80\n"), "\"é\\\"" + fffd + "\\u000a\"");
}

FeatureColumn Column(std::vector<Value> values, std::vector<FieldStatus> statuses,
                     std::vector<TimestampMicros> ts) {
  return FeatureColumn{std::move(values), std::move(statuses), std::move(ts)};
}

TEST(OnlineResponseJsonTest, FeastShape) {
  OnlineResponse r;
  r.feature_names = {"driver_id", "conv_rate", "top_cities"};
  r.results.push_back(Column({Value::Int64(1001), Value::Int64(9999)},
                             {FieldStatus::kPresent, FieldStatus::kPresent}, {0, 0}));
  r.results.push_back(Column({Value::Float32(0.91f), Value::Null({ScalarType::kFloat32, false})},
                             {FieldStatus::kPresent, FieldStatus::kNotFound},
                             {k20211231T23 * kSec, 0}));
  Value cities = ArrayValue(ScalarType::kString);
  cities.strs = {"Paris", "Lyon"};
  r.results.push_back(Column({cities, Value::Null({ScalarType::kString, true})},
                             {FieldStatus::kPresent, FieldStatus::kNotFound},
                             {k20211231T23 * kSec, 0}));
  EXPECT_EQ(OnlineResponseToJson(r),
            R"({"metadata":{"feature_names":["driver_id","conv_rate","top_cities"]},)"
            R"("results":[)"
            R"({"values":[1001,9999],"statuses":["PRESENT","PRESENT"],)"
            R"("event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[0.91,null],"statuses":["PRESENT","NOT_FOUND"],)"
            R"("event_timestamps":["2021-12-31T23:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[["Paris","Lyon"],null],"statuses":["PRESENT","NOT_FOUND"],)"
            R"("event_timestamps":["2021-12-31T23:00:00Z","1970-01-01T00:00:00Z"]}]})");
}

TEST(OnlineResponseJsonTest, StatusDecidesWhetherTheValueIsShown) {
  // A stale value left in a NOT_FOUND / NULL_VALUE / INVALID cell is never shown;
  // OUTSIDE_MAX_AGE keeps its (expired) value, as Feast's Go and Java servers do.
  OnlineResponse r;
  r.feature_names = {"trips"};
  r.results.push_back(
      Column({Value::Int64(1), Value::Int64(2), Value::Int64(3), Value::Int64(4), Value::Int64(5)},
             {FieldStatus::kPresent, FieldStatus::kNullValue, FieldStatus::kNotFound,
              FieldStatus::kOutsideMaxAge, FieldStatus::kInvalid},
             {kSec, 2 * kSec, 0, 4 * kSec, 0}));
  EXPECT_EQ(OnlineResponseToJson(r),
            R"({"metadata":{"feature_names":["trips"]},"results":[{"values":[1,null,null,4,null],)"
            R"("statuses":["PRESENT","NULL_VALUE","NOT_FOUND","OUTSIDE_MAX_AGE","INVALID"],)"
            R"("event_timestamps":["1970-01-01T00:00:01Z","1970-01-01T00:00:02Z",)"
            R"("1970-01-01T00:00:00Z","1970-01-01T00:00:04Z","1970-01-01T00:00:00Z"]}]})");
}

TEST(OnlineResponseJsonTest, EveryDtypeInOneResponse) {
  OnlineResponse r;
  const TimestampMicros ts = k20211231T23 * kSec;
  auto add = [&](const std::string& name, Value v) {
    r.feature_names.push_back(name);
    r.results.push_back(Column({std::move(v)}, {FieldStatus::kPresent}, {ts}));
  };
  add("i32", Value::Int32(7));
  add("i64", Value::Int64(-7));
  add("f32", Value::Float32(0.25f));
  add("f64", Value::Float64(std::numeric_limits<double>::quiet_NaN()));
  add("b", Value::Bool(true));
  add("s", Value::String("line\nbreak"));
  add("by", Value::Bytes("\xff"));
  add("ts", Value::Timestamp(ts));
  Value arr = ArrayValue(ScalarType::kInt32);
  arr.i64s = {1, 2};
  add("arr", arr);
  EXPECT_EQ(
      OnlineResponseToJson(r),
      R"({"metadata":{"feature_names":["i32","i64","f32","f64","b","s","by","ts","arr"]},)"
      R"("results":[)"
      R"({"values":[7],"statuses":["PRESENT"],"event_timestamps":["2021-12-31T23:00:00Z"]},)"
      R"({"values":[-7],"statuses":["PRESENT"],"event_timestamps":["2021-12-31T23:00:00Z"]},)"
      R"({"values":[0.25],"statuses":["PRESENT"],"event_timestamps":["2021-12-31T23:00:00Z"]},)"
      R"({"values":["NaN"],"statuses":["PRESENT"],"event_timestamps":["2021-12-31T23:00:00Z"]},)"
      R"({"values":[true],"statuses":["PRESENT"],"event_timestamps":["2021-12-31T23:00:00Z"]},)"
      R"({"values":["line\u000abreak"],"statuses":["PRESENT"],)"
      R"("event_timestamps":["2021-12-31T23:00:00Z"]},)"
      R"({"values":["/w=="],"statuses":["PRESENT"],"event_timestamps":["2021-12-31T23:00:00Z"]},)"
      R"({"values":[1640991600],"statuses":["PRESENT"],)"
      R"("event_timestamps":["2021-12-31T23:00:00Z"]},)"
      R"({"values":[[1,2]],"statuses":["PRESENT"],"event_timestamps":["2021-12-31T23:00:00Z"]}]})");
}

TEST(OnlineResponseJsonTest, EmptyResponses) {
  EXPECT_EQ(OnlineResponseToJson({}), R"({"metadata":{"feature_names":[]},"results":[]})");
  OnlineResponse r;
  r.feature_names = {"x"};
  r.results.emplace_back();
  EXPECT_EQ(OnlineResponseToJson(r),
            R"({"metadata":{"feature_names":["x"]},"results":[{"values":[],"statuses":[],)"
            R"("event_timestamps":[]}]})");
}

TEST(OnlineResponseJsonTest, FeatureNamesAreEscaped) {
  OnlineResponse r;
  r.feature_names = {"we\"ird"};
  r.results.emplace_back();
  EXPECT_EQ(OnlineResponseToJson(r).substr(0, 40), R"({"metadata":{"feature_names":["we\"ird"])");
}

// Feast's FeastError.to_error_detail object, JSON-encoded as a string (what Feast's server
// sends and its client json.loads), with Larder's code beside module, class and message.
TEST(ErrorJsonTest, FeastErrorDetailWithLarderCode) {
  EXPECT_EQ(ErrorToJson(
                Status(ErrorCode::kFeatureViewNotFound, "feature view 'x' is not in the registry")),
            R"("{\"module\":\"feast.errors\",\"class\":\"FeatureViewNotFoundException\",)"
            R"(\"message\":\"feature view 'x' is not in the registry\",)"
            R"(\"code\":\"FeatureViewNotFound\"}")");
  EXPECT_EQ(ErrorToJson(Status(ErrorCode::kPushSourceNotFound, "")),
            R"("{\"module\":\"feast.errors\",\"class\":\"PushSourceNotFoundException\",)"
            R"(\"message\":\"\",\"code\":\"PushSourceNotFound\"}")");
  // Escapes survive both levels: the inner text holds \", the outer escapes it again.
  EXPECT_EQ(ErrorToJson(InvalidArgument("value \"a\"")),
            R"("{\"module\":\"feast.errors\",\"class\":\"FeastError\",)"
            R"(\"message\":\"value \\\"a\\\"\",\"code\":\"InvalidArgument\"}")");
}

TEST(JsonWriterTest, NestedObjectsAndArrays) {
  JsonWriter w;
  w.BeginObject();
  w.Key("rows").Int(3);
  w.Key("names").BeginArray().String("a").String("b\"").EndArray();
  w.Key("empty").BeginArray().EndArray();
  w.Key("obj").BeginObject().EndObject();
  w.Key("nested").BeginArray();
  w.BeginObject().Key("x").Null().Key("y").Bool(false).EndObject();
  w.BeginArray().UInt(18446744073709551615u).Int(-1).EndArray();
  w.EndArray();
  w.Key("d").Double(0.5).Key("f").Float(0.1f).Key("nan").Double(std::nan(""));
  w.Key("raw").Raw(R"({"k":[1]})");
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"rows":3,"names":["a","b\""],"empty":[],"obj":{},)"
                     R"("nested":[{"x":null,"y":false},[18446744073709551615,-1]],)"
                     R"("d":0.5,"f":0.1,"nan":"NaN","raw":{"k":[1]}})");
}

TEST(JsonWriterTest, TopLevelScalarsAndTake) {
  JsonWriter w;
  w.String("x");
  EXPECT_EQ(w.Take(), "\"x\"");
  JsonWriter a;
  a.BeginArray().Int(1).Int(2).EndArray();
  EXPECT_EQ(a.str(), "[1,2]");
}

}  // namespace
}  // namespace larder
