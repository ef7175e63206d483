// Hostile and bad input: one test per row of the table in docs/reliability.md ("Hostile and
// bad input"). Every refused write is checked to have written nothing (rows_written,
// index_entries and every stored row unchanged), and the store to pass Check() afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "engine/offline/offline_log.h"
#include "engine/store.h"
#include "engine/values/frame_readers.h"
#include "larder/feature_store.h"
#include "larder/timestamp.h"
#include "layout/segment_layout.h"
#include "tests/store_fixture.h"
#include "wire/request_json.h"
#include "wire/response_json.h"

namespace larder {
namespace {

using testing::B;
using testing::Features;
using testing::I;
using testing::Ints;
using testing::IsError;
using testing::MakeFrame;
using testing::Null;
using testing::Repeat;
using testing::S;
using testing::StoreOptions;

constexpr char kView[] = R"(feature_views:
  - name: hv
    entities: [driver]
    ttl: 1d
    source: stats_push
    schema:
      - {name: i32, dtype: Int32}
      - {name: i64, dtype: Int64}
      - {name: f32, dtype: Float32}
      - {name: f64, dtype: Float64}
      - {name: s, dtype: String}
      - {name: ts, dtype: UnixTimestamp}
feature_services:
  - name: svc
    features: [hv]
)";

std::string Repo() { return std::string(testing::kDriverPreamble) + kView; }

// Rows for entities `ids`, every feature derived from `v`, event time `event_s` (epoch seconds).
Frame Rows(const std::vector<int64_t>& ids, int64_t v, int64_t event_s = 0) {
  size_t n = ids.size();
  if (event_s == 0) event_s = testing::NowSeconds();
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"i32", Repeat(I(v), n)},
                    {"i64", Repeat(I(v), n)},
                    {"f32", Repeat(Cell::Double(0.5), n)},
                    {"f64", Repeat(Cell::Double(static_cast<double>(v)), n)},
                    {"s", Repeat(S("v" + std::to_string(v)), n)},
                    {"ts", Repeat(I(event_s), n)},
                    {"event_timestamp", Repeat(I(event_s), n)},
                    {"created", Repeat(Null(), n)}});
}

OnlineRequest AllOf(const std::vector<int64_t>& ids) {
  return Features({"hv:i32", "hv:i64", "hv:f32", "hv:f64", "hv:s", "hv:ts"},
                  MakeFrame({{"driver_id", Ints(ids)}}));
}

// Replaces cell (row, column `name`) of `f`.
Frame With(Frame f, const std::string& name, size_t row, Cell c) {
  f.columns[static_cast<size_t>(f.FindColumn(name))][row] = std::move(c);
  return f;
}

class HostileInput : public testing::StoreFixture {
 protected:
  void SetUp() override { Open(StoreOptions{1000, "64MiB"}); }

  void Open(const StoreOptions& opts) {
    repo_.Write(Repo(), opts);
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
    // Entities 1..5 hold value 1: a refused push must leave them exactly so.
    ASSERT_TRUE(fs_->Push("stats_push", Rows({1, 2, 3, 4, 5}, 1)).ok());
  }

  // Everything a refused write must leave unchanged.
  struct Snapshot {
    uint64_t rows_written = 0;
    uint64_t index_entries = 0;
    std::string rows_json;
  };
  Snapshot Take() {
    Snapshot s;
    auto info = fs_->Inspect();
    EXPECT_TRUE(info.ok());
    if (info.ok()) {
      s.rows_written = info->rows_written;
      s.index_entries = info->index_entries;
    }
    auto r = fs_->GetOnlineFeatures(AllOf({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1000}));
    EXPECT_TRUE(r.ok());
    if (r.ok()) s.rows_json = OnlineResponseToJson(*r);
    return s;
  }

  // Pushes `f`, expects `code` with `parts` in the message, and that nothing was written.
  void ExpectRefused(const Frame& f, ErrorCode code, std::initializer_list<std::string> parts,
                     const std::string& source = "stats_push") {
    Snapshot before = Take();
    auto r = fs_->Push(source, f);
    EXPECT_TRUE(IsError(r, code, parts));
    Snapshot after = Take();
    EXPECT_EQ(after.rows_written, before.rows_written) << "a refused push wrote rows";
    EXPECT_EQ(after.index_entries, before.index_entries) << "a refused push added entities";
    EXPECT_EQ(after.rows_json, before.rows_json) << "a refused push changed stored rows";
    ExpectSound();
  }

  void ExpectSound() {
    auto check = fs_->Check();
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    EXPECT_TRUE(check->ok()) << check->violations[0];
  }

  std::unique_ptr<FeatureStore> fs_;
};

// ---- feature_store.yaml ------------------------------------------------------------------------

// Malformed YAML: kConfigError naming file, line and column; no segment is created.
TEST(HostileYaml, MalformedYaml) {
  struct Case {
    std::string yaml;
    std::string where;
  };
  const Case cases[] = {
      {"project: p\nentities: [\n", ":3:1:"},           // unclosed flow sequence
      {"project: p\n\tentities: []\n", ":2:"},          // a tab in indentation
      {"project: p\n  x: 1\n y: 2\n", ":"},             // inconsistent indentation
      {",\n $psrprojebt", ":"},                         // hung yaml-cpp's LoadAll
      {"project: [p\n", ":"},                           // unterminated
      {"project: p\nproject: q\n", ":2:1:"},            // duplicate key
      {"project: p\n---\nproject: q\n", ":3:1:"},       // two documents
      {"", ":"},                                        // empty
      {std::string("project: p\n\xff\xfe: 1\n"), ":"},  // invalid UTF-8
      {"project: &a p\nentities: *a\n", ":"},           // alias of the wrong shape
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    testing::TempDir dir;
    dir.Write("feature_store.yaml", c.yaml);
    auto fs = FeatureStore::Open(dir.path());
    ASSERT_TRUE(IsError(fs, ErrorCode::kConfigError, {"feature_store.yaml", c.where}));
  }
}

// Unknown names: in the YAML (entities, sources, keys) and in requests (views, features,
// services, push sources, join keys). Each is refused with its own code, naming the name.
TEST(HostileYaml, UnknownNamesInYaml) {
  testing::TempDir dir;
  dir.Write("feature_store.yaml", "project: p\n" + std::string(testing::kDriverPreamble) +
                                      "feature_views:\n  - name: bad\n    entities: [drivr]\n"
                                      "    source: stats_push\n    schema: []\n");
  EXPECT_TRUE(IsError(FeatureStore::Open(dir.path()), ErrorCode::kConfigError, {"drivr"}));
  dir.Write("feature_store.yaml", "project: p\nonline_stor: {}\n");
  EXPECT_TRUE(IsError(FeatureStore::Open(dir.path()), ErrorCode::kConfigError,
                      {"unknown key", "online_stor"}));
}

TEST_F(HostileInput, UnknownNames) {
  ExpectRefused(Rows({9}, 2), ErrorCode::kPushSourceNotFound, {"nope"}, "nope");
  EXPECT_TRUE(
      IsError(fs_->GetOnlineFeatures(Features({"nope:x"}, MakeFrame({{"driver_id", Ints({1})}}))),
              ErrorCode::kFeatureViewNotFound, {"nope"}));
  EXPECT_TRUE(
      IsError(fs_->GetOnlineFeatures(Features({"hv:nope"}, MakeFrame({{"driver_id", Ints({1})}}))),
              ErrorCode::kFeatureNotFound, {"nope", "hv"}));
  EXPECT_TRUE(IsError(
      fs_->GetOnlineFeatures(testing::Service("nope", MakeFrame({{"driver_id", Ints({1})}}))),
      ErrorCode::kFeatureServiceNotFound, {"nope"}));
  EXPECT_TRUE(
      IsError(fs_->GetOnlineFeatures(Features({"hv:i32"}, MakeFrame({{"rider_id", Ints({1})}}))),
              ErrorCode::kMissingJoinKey, {"driver_id", "rider_id"}));
  Snapshot before = Take();
  EXPECT_TRUE(IsError(fs_->WriteToOnlineStore("nope", Rows({9}, 2)),
                      ErrorCode::kFeatureViewNotFound, {"nope"}));
  EXPECT_EQ(Take().rows_written, before.rows_written);
  // An unknown column in a push is ignored (Feast's behaviour); a missing one is refused.
  Frame extra = Rows({9}, 2);
  extra.names.push_back("unknown_column");
  extra.columns.push_back({I(1)});
  EXPECT_TRUE(fs_->Push("stats_push", extra).ok());
}

// Wrong types: refused whole, the message names the row, the column and the value.
TEST_F(HostileInput, WrongTypes) {
  Frame good = Rows({1, 2, 6, 7}, 2);
  ExpectRefused(With(good, "i64", 3, S("abc")), ErrorCode::kInvalidArgument,
                {"request body row", "'i64'", "\"abc\"", "Int64"});
  ExpectRefused(With(good, "f64", 2, Cell::Bool(true)), ErrorCode::kInvalidArgument,
                {"'f64'", "Float64"});
  ExpectRefused(With(good, "s", 1, I(5)), ErrorCode::kInvalidArgument, {"'s'", "String"});
  ExpectRefused(With(good, "i32", 0, Cell::Array({I(1)})), ErrorCode::kInvalidArgument,
                {"'i32'", "Int32"});
  ExpectRefused(With(good, "driver_id", 3, S("x")), ErrorCode::kInvalidArgument,
                {"'driver_id'", "Int64"});
  ExpectRefused(With(good, "event_timestamp", 3, S("yesterday")), ErrorCode::kInvalidArgument,
                {"'event_timestamp'", "yesterday"});
  // A join-key value of the wrong type in a lookup.
  OnlineRequest bad = AllOf({1});
  bad.entities.columns[0][0] = S("one");
  EXPECT_TRUE(
      IsError(fs_->GetOnlineFeatures(bad), ErrorCode::kInvalidArgument, {"join key 'driver_id'"}));
  // The same through Feast's JSON body.
  auto req = ParseOnlineRequestJson(R"({"features":["hv:i32"],"entities":{"driver_id":[{}]}})");
  EXPECT_FALSE(req.ok() && fs_->GetOnlineFeatures(*req).ok());
}

// Overflowing integers: out of range for Int32 / Int64 / epoch seconds, in cells, CSV text and
// JSON numbers. Refused whole.
TEST_F(HostileInput, OverflowingIntegers) {
  Frame good = Rows({1, 6}, 2);
  ExpectRefused(With(good, "i32", 1, I(int64_t{1} << 31)), ErrorCode::kInvalidArgument,
                {"'i32'", "2147483648", "out of range"});
  ExpectRefused(With(good, "i32", 1, I(-(int64_t{1} << 31) - 1)), ErrorCode::kInvalidArgument,
                {"'i32'", "out of range"});
  ExpectRefused(With(good, "i64", 1, S("9223372036854775808")), ErrorCode::kInvalidArgument,
                {"'i64'", "out of range"});
  ExpectRefused(With(good, "i64", 1, Cell::Double(1e19)), ErrorCode::kInvalidArgument,
                {"'i64'", "out of range"});
  ExpectRefused(With(good, "ts", 1, I(std::numeric_limits<int64_t>::max())),
                ErrorCode::kInvalidArgument, {"'ts'", "out of range"});
  ExpectRefused(With(good, "event_timestamp", 1, I(-9223372036854)), ErrorCode::kInvalidArgument,
                {"'event_timestamp'", "out of range"});
  // A JSON integer beyond int64 in a push body.
  auto body = ParsePushRequestJson(
      R"({"push_source_name":"stats_push","df":{"driver_id":[18446744073709551616],"i32":[1],)"
      R"("i64":[1],"f32":[1],"f64":[1],"s":["a"],"ts":[1],"event_timestamp":[1]}})");
  if (body.ok()) {
    ExpectRefused(body->df, ErrorCode::kInvalidArgument, {"'driver_id'"});
  } else {
    EXPECT_EQ(body.status().code(), ErrorCode::kInvalidArgument);
  }
  // CSV text.
  auto csv = ReadCsvFrame(
      "driver_id,i32,i64,f32,f64,s,ts,event_timestamp\n8,99999999999,1,1,1,a,1,1\n", "x.csv");
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  ExpectRefused(*csv, ErrorCode::kInvalidArgument, {"x.csv line 2", "'i32'", "out of range"});
}

// NaN: a valid Float32/Float64 value (stored and returned as NaN, "NaN" in JSON); refused where
// a number must be finite or integral (integers, timestamps, join keys).
TEST_F(HostileInput, NaN) {
  const double nan = std::nan("");
  Frame f = With(With(Rows({6}, 2), "f32", 0, Cell::Double(nan)), "f64", 0, Cell::Double(nan));
  ASSERT_TRUE(fs_->Push("stats_push", f).ok());
  auto r = fs_->GetOnlineFeatures(AllOf({6}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::isnan(r->results[3].values[0].f64));
  EXPECT_TRUE(std::isnan(r->results[4].values[0].f64));
  EXPECT_NE(OnlineResponseToJson(*r).find("\"NaN\""), std::string::npos);
  Frame good = Rows({1, 7}, 3);
  ExpectRefused(With(good, "i64", 1, Cell::Double(nan)), ErrorCode::kInvalidArgument,
                {"'i64'", "not an integer"});
  ExpectRefused(With(good, "event_timestamp", 1, Cell::Double(nan)), ErrorCode::kInvalidArgument,
                {"'event_timestamp'", "finite"});
  ExpectRefused(With(good, "driver_id", 1, Cell::Double(nan)), ErrorCode::kInvalidArgument,
                {"'driver_id'"});
  ExpectRefused(With(good, "ts", 1, S("NaN")), ErrorCode::kInvalidArgument, {"'ts'"});
}

// Invalid UTF-8: refused in a String feature (Bytes take any bytes); a JSON body that is not
// UTF-8 is refused by the parser; output JSON is always valid UTF-8.
TEST_F(HostileInput, InvalidUtf8) {
  Frame good = Rows({1, 7}, 3);
  ExpectRefused(With(good, "s", 1, S("ok\xff\xfe")), ErrorCode::kInvalidArgument,
                {"'s'", "invalid UTF-8"});
  ExpectRefused(With(good, "s", 1, S("\xc0\xaf")), ErrorCode::kInvalidArgument,
                {"invalid UTF-8"});  // an overlong '/'
  auto body =
      ParsePushRequestJson("{\"push_source_name\":\"stats_push\",\"df\":{\"s\":[\"\xff\"]}}");
  EXPECT_FALSE(body.ok());
  auto req = ParseOnlineRequestJson("{\"features\":[\"hv:\xff\"],\"entities\":{}}");
  EXPECT_FALSE(req.ok());
  // A view name of invalid UTF-8 in an error message still yields valid JSON.
  std::string err = ErrorToJson(Status(ErrorCode::kFeatureViewNotFound, "view '\xff' x"));
  EXPECT_EQ(err.find('\xff'), std::string::npos);
}

// 10 MB strings: a 10 MB String value is stored and read back whole; a 10 MB join key is
// refused (keys are limited to 4096 bytes); 10 MB of JSON or CSV parse.
TEST_F(HostileInput, TenMegabyteStrings) {
  const std::string big(10u << 20, 'x');
  ASSERT_TRUE(fs_->Push("stats_push", With(Rows({6}, 2), "s", 0, S(big))).ok());
  auto r = fs_->GetOnlineFeatures(AllOf({6}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->results[5].values[0].str, big);
  EXPECT_GT(OnlineResponseToJson(*r).size(), big.size());
  ExpectSound();

  // A String join key of 10 MB.
  testing::Repo keyed;
  keyed.Write(R"(entities:
  - {name: doc, join_keys: [doc_id], value_type: String}
sources:
  - {name: f, type: file, path: f.csv, timestamp_field: event_timestamp}
  - {name: p, type: push, batch_source: f}
feature_views:
  - {name: docs, entities: [doc], source: p, schema: [{name: n, dtype: Int64}]}
)",
              StoreOptions{100, "64MiB"});
  auto kfs = keyed.OpenApplied();
  ASSERT_TRUE(kfs.ok()) << kfs.status().ToString();
  Frame kf = MakeFrame({{"doc_id", {S(big)}}, {"n", {I(1)}}, {"event_timestamp", {I(1)}}});
  EXPECT_TRUE(IsError((*kfs)->Push("p", kf), ErrorCode::kInvalidArgument, {"entity key", "4096"}));
  OnlineRequest req = Features({"docs:n"}, MakeFrame({{"doc_id", {S(big)}}}));
  auto lr = (*kfs)->GetOnlineFeatures(req);  // a key no row can have: NOT_FOUND or refused
  if (lr.ok()) {
    EXPECT_EQ(lr->results[1].statuses[0], FieldStatus::kNotFound);
  }

  // 10 MB of JSON body and of CSV.
  std::string body = R"({"push_source_name":"stats_push","df":{"s":[")" + big + R"("]}})";
  auto pb = ParsePushRequestJson(body);
  ASSERT_TRUE(pb.ok()) << pb.status().ToString();
  EXPECT_EQ(pb->df.columns[0][0].s.size(), big.size());
  auto csv = ReadCsvFrame("s\n\"" + big + "\"\n", "big.csv");
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(csv->columns[0][0].s.size(), big.size());
}

// A million columns: a push frame with a million extra columns writes its row (extra columns
// are ignored) in bounded time; a request naming a million features is refused at planning.
TEST_F(HostileInput, AMillionColumns) {
  constexpr size_t kColumns = 1'000'000;
  Frame f = Rows({6}, 2);
  f.names.reserve(f.names.size() + kColumns);
  f.columns.reserve(f.columns.size() + kColumns);
  for (size_t i = 0; i < kColumns; ++i) {
    f.names.push_back("x" + std::to_string(i));
    f.columns.push_back({Null()});
  }
  // (Time is not asserted: work quadratic in the columns, 10^12 steps, would run into the
  // test's ctest timeout instead.)
  auto r = fs_->Push("stats_push", f);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows_written, 1u);
  // A duplicate among them is refused whole.
  f.names.back() = "x0";
  ExpectRefused(f, ErrorCode::kInvalidArgument, {"duplicate column 'x0'"});
  f = Frame();
  // A million feature references (the same one): refused, nothing looked up.
  OnlineRequest req =
      Features(std::vector<std::string>(kColumns, "hv:i32"), MakeFrame({{"driver_id", Ints({1})}}));
  EXPECT_TRUE(
      IsError(fs_->GetOnlineFeatures(req), ErrorCode::kInvalidArgument, {"more than once"}));
}

// Empty frames: no rows is a successful push of nothing; no columns is refused (missing
// columns named); a lookup of no entity rows returns empty columns.
TEST_F(HostileInput, EmptyFrames) {
  Frame none = Rows({}, 2);
  auto r = fs_->Push("stats_push", none);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows_written, 0u);
  ExpectRefused(Frame(), ErrorCode::kInvalidArgument, {"missing", "driver_id"});
  auto lr = fs_->GetOnlineFeatures(AllOf({}));
  ASSERT_TRUE(lr.ok()) << lr.status().ToString();
  for (const FeatureColumn& c : lr->results) EXPECT_TRUE(c.values.empty());
  auto csv = ReadCsvFrame("driver_id,i32\n", "empty.csv");  // a header only: no rows
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  EXPECT_EQ(csv->num_rows(), 0u);
  auto no_header = ReadCsvFrame("", "empty.csv");
  if (no_header.ok()) {
    EXPECT_EQ(no_header->num_rows(), 0u);
  }
  auto json = ParsePushRequestJson(R"({"push_source_name":"stats_push","df":{}})");
  if (json.ok()) {
    ExpectRefused(json->df, ErrorCode::kInvalidArgument, {"missing"});
  }
}

// Duplicate entity rows in one push: applied in order under the write rule, so the newest
// (event, created) wins and an equal one replaces (the last wins); older ones are skipped.
TEST_F(HostileInput, DuplicateEntityRowsInOnePush) {
  int64_t now = testing::NowSeconds();
  Frame f = MakeFrame({{"driver_id", Ints({8, 8, 8, 9, 9})},
                       {"i32", Ints({1, 2, 3, 4, 5})},
                       {"i64", Ints({1, 2, 3, 4, 5})},
                       {"f32", Repeat(Cell::Double(1), 5)},
                       {"f64", Repeat(Cell::Double(1), 5)},
                       {"s", Repeat(S("d"), 5)},
                       {"ts", Repeat(I(now), 5)},
                       {"event_timestamp", Ints({now - 10, now, now - 5, now, now})},
                       {"created", Repeat(Null(), 5)}});
  auto r = fs_->Push("stats_push", f);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows_skipped, 1u);  // entity 8's third row is older than its second
  EXPECT_EQ(r->rows_written, 4u);
  auto lr = fs_->GetOnlineFeatures(AllOf({8, 9}));
  ASSERT_TRUE(lr.ok());
  EXPECT_EQ(lr->results[2].values[0].i64, 2);  // newest of entity 8
  EXPECT_EQ(lr->results[2].values[1].i64, 5);  // equal times: the last wins
  ExpectSound();
}

// Timestamps out of range: refused, naming the text; years 1..9999 only (the RFC 3339 range).
TEST_F(HostileInput, TimestampsOutOfRange) {
  Frame good = Rows({1, 7}, 3);
  for (const char* text : {"10000-01-01T00:00:00Z", "0000-12-31", "2024-13-01", "2024-02-30",
                           "2024-01-01T24:00:01Z", "2024-01-01T00:00:00+25:00", "-2024-01-01",
                           "9999-12-31T23:00:00-02:00", "0001-01-01T00:30:00+01:00"}) {
    SCOPED_TRACE(text);
    ExpectRefused(With(good, "event_timestamp", 1, S(text)), ErrorCode::kInvalidArgument,
                  {"'event_timestamp'", std::string(text).substr(0, 8)});
  }
  ExpectRefused(With(good, "event_timestamp", 1, Cell::Double(1e300)), ErrorCode::kInvalidArgument,
                {"out of range"});
  ExpectRefused(With(good, "ts", 1, I(253402300800)), ErrorCode::kInvalidArgument,
                {"'ts'", "out of range"});  // 10000-01-01
  // The extremes of the range are accepted and read back exactly.
  Frame edge = With(With(Rows({7}, 3), "ts", 0, S("9999-12-31T23:59:59.999999Z")),
                    "event_timestamp", 0, S("0001-01-01T00:00:00Z"));
  ASSERT_TRUE(fs_->Push("stats_push", edge).ok());
  auto r = fs_->GetOnlineFeatures(AllOf({7}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FormatTimestamp(r->results[6].values[0].i64), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(r->results[6].statuses[0], FieldStatus::kOutsideMaxAge);  // ttl 1d, year 1
  EXPECT_NE(OnlineResponseToJson(*r).find("0001-01-01T00:00:00Z"), std::string::npos);
}

// ---- Segments --------------------------------------------------------------------------------

void PatchFile(const std::string& path, off_t at, const void* bytes, size_t n) {
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes, n, at), static_cast<ssize_t>(n));
  ::close(fd);
}

// A segment from another layout version (or ABI, or not a segment, or truncated): refused at
// attach with kIncompatibleStore / kCorruptStore and a message saying what to do; never read.
TEST_F(HostileInput, SegmentFromAnotherVersion) {
  fs_.reset();
  const std::string seg = repo_.segment();
  uint32_t v2 = layout::kLayoutVersion + 1;
  PatchFile(seg, offsetof(layout::SegmentHeader, layout_version), &v2, sizeof(v2));
  EXPECT_TRUE(IsError(OnlineReader::Attach(seg), ErrorCode::kIncompatibleStore,
                      {"layout version " + std::to_string(v2), "larder teardown"}));
  auto fs = repo_.Open();
  ASSERT_TRUE(fs.ok());
  EXPECT_TRUE(IsError((*fs)->Push("stats_push", Rows({1}, 5)), ErrorCode::kIncompatibleStore,
                      {"layout version"}));
  EXPECT_TRUE(IsError((*fs)->Apply(), ErrorCode::kIncompatibleStore, {"layout version"}));
  uint32_t v1 = layout::kLayoutVersion;
  PatchFile(seg, offsetof(layout::SegmentHeader, layout_version), &v1, sizeof(v1));
  uint64_t abi = 12345;
  PatchFile(seg, offsetof(layout::SegmentHeader, abi_fingerprint), &abi, sizeof(abi));
  EXPECT_TRUE(IsError(OnlineReader::Attach(seg), ErrorCode::kIncompatibleStore, {"ABI"}));
  PatchFile(seg, 0, "NOTLARDR", 8);
  EXPECT_TRUE(IsError(OnlineReader::Attach(seg), ErrorCode::kIncompatibleStore, {"magic"}));
  ASSERT_EQ(::truncate(seg.c_str(), 100), 0);
  EXPECT_TRUE(IsError(OnlineReader::Attach(seg), ErrorCode::kCorruptStore, {"truncated"}));
}

// A full segment (memory_limit reached): kStoreFull, nothing of the push is written, the
// stored rows stay readable, the store stays sound, and smaller writes go on.
TEST_F(HostileInput, FullSegment) {
  repo_.Write(Repo(), StoreOptions{16, "1MiB", testing::TempSegmentPath().path() + "-full"});
  fs_.reset();
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  fs_ = std::move(fs).value();
  ASSERT_TRUE(fs_->Push("stats_push", Rows({1, 2, 3, 4, 5}, 1)).ok());
  const std::string seg = fs_->config().online_store.path;
  const std::string fat(20000, 'f');
  int64_t next = 100;
  Status full;
  for (int i = 0; i < 200; ++i) {
    std::vector<int64_t> ids;
    for (int j = 0; j < 5; ++j) ids.push_back(next++);
    Frame f = Rows(ids, 2);
    f.columns[static_cast<size_t>(f.FindColumn("s"))] = Repeat(S(fat), ids.size());
    Snapshot before = Take();
    auto r = fs_->Push("stats_push", f);
    if (r.ok()) continue;
    full = r.status();
    Snapshot after = Take();
    EXPECT_EQ(after.rows_written, before.rows_written);
    EXPECT_EQ(after.index_entries, before.index_entries);
    EXPECT_EQ(after.rows_json, before.rows_json);
    break;
  }
  EXPECT_TRUE(IsError(full, ErrorCode::kStoreFull, {"memory_limit"}));
  ExpectSound();
  auto lr = fs_->GetOnlineFeatures(AllOf({1, 100}));
  ASSERT_TRUE(lr.ok());
  EXPECT_EQ(lr->results[1].statuses[0], FieldStatus::kPresent);
  EXPECT_EQ(lr->results[1].statuses[1], FieldStatus::kPresent);
  // Small rewrites of existing entities still fit (replaced rows are reclaimed).
  EXPECT_TRUE(fs_->Push("stats_push", Rows({1, 2}, 9)).ok());
  ExpectSound();
  fs_.reset();
  (void)Store::Teardown(seg);
}

// A full segment, from index rebuilds: every apply that re-creates a view rebuilds the index
// (a new 64-aligned table). Freed tables must be reused, so that 100 rebuilds of a 128 KiB table
// fit a 4 MiB segment whose live data is a few KiB (they used to move arena_top up by a table
// each, until apply failed with StoreFull and the arena nearly all free).
TEST(HostileFull, RepeatedIndexRebuildsReuseFreedSpace) {
  testing::Repo a, b;
  auto repo_with = [](const char* dtype) {
    return std::string(testing::kDriverPreamble) + "feature_views:\n  - name: flip\n" +
           "    entities: [driver]\n    source: stats_push\n    schema:\n" +
           "      - {name: x, dtype: " + dtype + "}\n";
  };
  a.Write(repo_with("Int64"), StoreOptions{10000, "4MiB"});
  b.Write(repo_with("Float64"), StoreOptions{10000, "4MiB", a.segment()});
  auto fa = a.OpenApplied();
  ASSERT_TRUE(fa.ok()) << fa.status().ToString();
  auto fb = b.Open();
  ASSERT_TRUE(fb.ok());
  uint64_t first_arena = 0;
  for (int i = 0; i < 100; ++i) {
    SCOPED_TRACE("apply " + std::to_string(i));
    auto r = (i % 2 == 0 ? *fb : *fa)->Apply();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->changed);
    auto info = (*fa)->Inspect();
    ASSERT_TRUE(info.ok());
    if (i == 1) first_arena = info->arena_used;
    if (i > 1) {
      EXPECT_LE(info->arena_used, first_arena + info->index_bytes + 4096);
    }
  }
  auto check = (*fa)->Check();
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok()) << check->violations[0];
}

// ---- Offline log ------------------------------------------------------------------------------

// Disk full for the offline log: an append that cannot be written whole is refused and leaves
// the file exactly as it was (the next append succeeds). The child's file-size limit makes
// write() fail part-way (EFBIG) exactly as a full disk (ENOSPC) does.
TEST(HostileOffline, DiskFullForTheOfflineLog) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/stats.csv";
  auto render = [](std::string records) {
    return [records](const std::vector<std::string>&) -> Result<std::string> { return records; };
  };
  ASSERT_TRUE(AppendRecords(path, {"id", "v"}, render("1,a\n")).ok());
  const std::string before = testing::ReadFile(path);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{before.size() + 4096, before.size() + 4096};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(2);
    std::string big;
    for (int i = 2; i < 20000; ++i) big += std::to_string(i) + "," + std::string(50, 'b') + "\n";
    auto r = AppendRecords(path, {"id", "v"}, render(big));
    if (r.ok()) ::_exit(3);
    if (r.status().code() != ErrorCode::kIoError) ::_exit(4);
    ::_exit(0);
  }
  int status = testing::WaitChild(pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::DescribeWait(status);
  EXPECT_EQ(testing::ReadFile(path), before) << "a failed append left bytes behind";
  auto next = AppendRecords(path, {"id", "v"}, render("2,c\n"));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->torn_bytes, 0u);
  EXPECT_EQ(testing::ReadFile(path), before + "2,c\n");
}

}  // namespace
}  // namespace larder
