// Tests of push-input frames: the CSV and JSON readers, frame helpers, timestamps, cell → value
// conversion and base64.
#include "larder/frame.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/values/cell_convert.h"
#include "engine/values/frame_readers.h"
#include "engine/values/same_text.h"
#include "larder/timestamp.h"
#include "tests/test_util.h"

namespace larder {
namespace {

using Kind = Cell::Kind;

constexpr DType kInt32{ScalarType::kInt32, false};
constexpr DType kInt64{ScalarType::kInt64, false};
constexpr DType kFloat32{ScalarType::kFloat32, false};
constexpr DType kFloat64{ScalarType::kFloat64, false};
constexpr DType kString{ScalarType::kString, false};
constexpr DType kBytes{ScalarType::kBytes, false};
constexpr DType kBool{ScalarType::kBool, false};
constexpr DType kTimestamp{ScalarType::kUnixTimestamp, false};

constexpr DType ArrayOf(ScalarType t) { return DType{t, true}; }

constexpr int64_t kSec = 1'000'000;
constexpr int64_t k20220513T105942 = 1652439582;

// Asserts that `r` failed with `code` and that its message contains every one of `parts`.
template <typename R>
void ExpectError(const R& r, ErrorCode code, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << *parts.begin() << "'";
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  for (const std::string& part : parts) {
    EXPECT_NE(r.status().message().find(part), std::string::npos)
        << "message '" << r.status().message() << "' lacks '" << part << "'";
  }
}

template <typename R>
void ExpectInvalid(const R& r, std::initializer_list<std::string> parts) {
  ExpectError(r, ErrorCode::kInvalidArgument, parts);
}

Frame Csv(std::string_view text) {
  auto r = ReadCsvFrame(text, "t.csv");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : Frame{};
}

void ExpectStr(const Cell& c, const std::string& s) {
  EXPECT_EQ(c.kind, Kind::kString) << DescribeCell(c);
  EXPECT_EQ(c.s, s);
}

// ---------------------------------------------------------------------------------------------
// DescribeCell and Frame helpers

TEST(DescribeCellTest, EachKind) {
  EXPECT_EQ(DescribeCell(Cell::Null()), "null");
  EXPECT_EQ(DescribeCell(Cell::Bool(true)), "true");
  EXPECT_EQ(DescribeCell(Cell::Bool(false)), "false");
  EXPECT_EQ(DescribeCell(Cell::Int(-12)), "-12");
  EXPECT_EQ(DescribeCell(Cell::Double(1.5)), "1.5");
  EXPECT_EQ(DescribeCell(Cell::Double(2)), "2.0");
  EXPECT_EQ(DescribeCell(Cell::Double(NAN)), "nan");
  EXPECT_EQ(DescribeCell(Cell::String("abc")), "\"abc\"");
  EXPECT_EQ(DescribeCell(Cell::String("a\"b\n")), "\"a\\\"b\\n\"");
  EXPECT_EQ(DescribeCell(Cell::Bytes(std::string("\x01z\xff", 3))), "b\"\\x01z\\xff\"");
  EXPECT_EQ(DescribeCell(Cell::Array({Cell::Int(1), Cell::String("x"), Cell::Null()})),
            "[1, \"x\", null]");
}

TEST(DescribeCellTest, TruncatesLongValues) {
  std::string d = DescribeCell(Cell::String(std::string(1000, 'x')));
  EXPECT_LE(d.size(), 72u);
  EXPECT_NE(d.find("...\""), std::string::npos) << d;
  std::vector<Cell> many(500, Cell::Int(123456));
  d = DescribeCell(Cell::Array(many));
  EXPECT_LE(d.size(), 80u);
  EXPECT_NE(d.find("...]"), std::string::npos) << d;
}

TEST(DescribeCellTest, TruncationKeepsUtf8Whole) {
  std::string s;
  for (int i = 0; i < 100; ++i) s += "\xC3\xA9";  // é
  std::string d = DescribeCell(Cell::String(s));
  // The cut lands between characters: the text before "..." is whole é's.
  std::string body = d.substr(1, d.find("...") - 1);
  EXPECT_EQ(body.size() % 2, 0u) << d;
}

TEST(FrameTest, FindColumn) {
  Frame f;
  f.names = {"a", "b"};
  f.columns.resize(2);
  EXPECT_EQ(f.FindColumn("a"), 0);
  EXPECT_EQ(f.FindColumn("b"), 1);
  EXPECT_EQ(f.FindColumn("c"), -1);
}

TEST(FrameTest, DescribeRow) {
  Frame f;
  f.origin = "request body";
  EXPECT_EQ(f.DescribeRow(2), "request body row 3");
  f.origin = "driver_stats.csv";
  f.row_lines = {2, 7};
  EXPECT_EQ(f.DescribeRow(1), "driver_stats.csv line 7");
}

TEST(FrameTest, CheckShape) {
  Frame f;
  f.origin = "body";
  f.names = {"a", "b"};
  f.columns = {{Cell::Int(1)}, {Cell::Int(2)}};
  EXPECT_TRUE(f.CheckShape().ok());
  EXPECT_EQ(f.num_rows(), 1u);
  f.columns[1].push_back(Cell::Int(3));
  Status st = f.CheckShape();
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("'b' has 2"), std::string::npos) << st.message();
  f.columns[1].pop_back();
  f.names[1] = "a";
  st = f.CheckShape();
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("duplicate column 'a'"), std::string::npos) << st.message();
}

// ---------------------------------------------------------------------------------------------
// CSV

TEST(CsvTest, Basic) {
  Frame f = Csv("driver_id,conv_rate,event_timestamp\n1001,0.5,2022-05-13\n1002,0.7,2022-05-14\n");
  EXPECT_EQ(f.origin, "t.csv");
  ASSERT_EQ(f.names, (std::vector<std::string>{"driver_id", "conv_rate", "event_timestamp"}));
  ASSERT_EQ(f.num_rows(), 2u);
  ExpectStr(f.columns[0][0], "1001");
  ExpectStr(f.columns[1][1], "0.7");
  ExpectStr(f.columns[2][1], "2022-05-14");
  EXPECT_EQ(f.row_lines, (std::vector<uint64_t>{2, 3}));
  EXPECT_TRUE(f.CheckShape().ok());
}

TEST(CsvTest, NoTrailingNewline) {
  Frame f = Csv("a,b\n1,2");
  ASSERT_EQ(f.num_rows(), 1u);
  ExpectStr(f.columns[1][0], "2");
}

TEST(CsvTest, QuotedComma) {
  Frame f = Csv("a,b\n\"x,y\",z\n");
  ASSERT_EQ(f.num_rows(), 1u);
  ExpectStr(f.columns[0][0], "x,y");
  ExpectStr(f.columns[1][0], "z");
}

TEST(CsvTest, EmbeddedNewlineKeepsLineNumbers) {
  Frame f = Csv("id,text\n1,\"line one\nline two\"\n2,after\n3,\"a\n\nb\"\n4,end\n");
  ASSERT_EQ(f.num_rows(), 4u);
  ExpectStr(f.columns[1][0], "line one\nline two");
  ExpectStr(f.columns[1][1], "after");
  ExpectStr(f.columns[1][2], "a\n\nb");
  EXPECT_EQ(f.row_lines, (std::vector<uint64_t>{2, 4, 5, 8}));
  EXPECT_EQ(f.DescribeRow(3), "t.csv line 8");
}

TEST(CsvTest, DoubledQuotesAreEscapes) {
  Frame f = Csv("a,b\n\"say \"\"hi\"\"\",\"\"\"\"\n");
  ExpectStr(f.columns[0][0], "say \"hi\"");
  ExpectStr(f.columns[1][0], "\"");
}

TEST(CsvTest, Crlf) {
  Frame f = Csv("a,b\r\n1,2\r\n\"q\",\"x\r\ny\"\r\n3,\r\n");
  ASSERT_EQ(f.names, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(f.num_rows(), 3u);
  ExpectStr(f.columns[1][0], "2");
  ExpectStr(f.columns[0][1], "q");
  ExpectStr(f.columns[1][1], "x\r\ny");  // line ends inside quotes are data
  EXPECT_EQ(f.columns[1][2].kind, Kind::kNull);
  EXPECT_EQ(f.row_lines, (std::vector<uint64_t>{2, 3, 5}));
}

TEST(CsvTest, EmptyIsNullQuotedEmptyIsString) {
  Frame f = Csv("a,b,c,d\n,\"\",x,\n");
  ASSERT_EQ(f.num_rows(), 1u);
  EXPECT_EQ(f.columns[0][0].kind, Kind::kNull);
  ExpectStr(f.columns[1][0], "");
  ExpectStr(f.columns[2][0], "x");
  EXPECT_EQ(f.columns[3][0].kind, Kind::kNull);
}

TEST(CsvTest, FieldsKeptExactly) {
  Frame f = Csv(" a ,b\n 1 ,x\"y\n");
  EXPECT_EQ(f.names[0], " a ");
  ExpectStr(f.columns[0][0], " 1 ");
  ExpectStr(f.columns[1][0], "x\"y");  // a quote inside an unquoted field is literal
}

TEST(CsvTest, QuotedHeader) {
  Frame f = Csv("\"a,1\",\"b\"\"\"\n1,2\n");
  EXPECT_EQ(f.names, (std::vector<std::string>{"a,1", "b\""}));
}

TEST(CsvTest, Utf8BomIsStripped) {
  Frame f =
      Csv("\xEF\xBB\xBF"
          "id,v\n1,2\n");
  EXPECT_EQ(f.names[0], "id");
  EXPECT_EQ(f.row_lines, (std::vector<uint64_t>{2}));
}

TEST(CsvTest, EmptyInput) {
  Frame f = Csv("");
  EXPECT_TRUE(f.names.empty());
  EXPECT_EQ(f.num_rows(), 0u);
  f = Csv("\xEF\xBB\xBF");
  EXPECT_TRUE(f.names.empty());
  f = Csv("\n\n");
  EXPECT_TRUE(f.names.empty());
}

TEST(CsvTest, HeaderOnly) {
  for (std::string_view text : {"a,b\n", "a,b", "a,b\r\n\r\n"}) {
    Frame f = Csv(text);
    EXPECT_EQ(f.names, (std::vector<std::string>{"a", "b"}));
    ASSERT_EQ(f.columns.size(), 2u);
    EXPECT_EQ(f.num_rows(), 0u);
    EXPECT_TRUE(f.CheckShape().ok());
  }
}

TEST(CsvTest, TrailingBlankLinesSkipped) {
  Frame f = Csv("a,b\n1,2\n\n\r\n\n");
  EXPECT_EQ(f.num_rows(), 1u);
  f = Csv("a\n1\n\n\n");
  EXPECT_EQ(f.num_rows(), 1u);
}

TEST(CsvTest, BlankLinesInTheMiddleAreSkipped) {
  // Push input is read by the grammar of batch-source files (engine/values/csv_stream.h),
  // which skips blank lines, as pandas' read_csv does; the rows keep their own line numbers.
  Frame f = Csv("a,b\n1,2\n\n3,4\n");
  ASSERT_EQ(f.num_rows(), 2u);
  EXPECT_EQ(f.columns[0][1].s, "3");
  EXPECT_EQ(f.row_lines, (std::vector<uint64_t>{2, 4}));
  f = Csv("a\n1\n\r\n3\n");
  ASSERT_EQ(f.num_rows(), 2u);
  EXPECT_EQ(f.columns[0][1].s, "3");
}

TEST(CsvTest, EndWithoutLineFeedAndByteOrderMark) {
  // In memory the last record may end at the end of the text, after a quote or a CR too.
  Frame f =
      Csv("\xEF\xBB\xBF"
          "a,b\r\n1,\"x\"\r\n2,\"y\"");
  ASSERT_EQ(f.names, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(f.num_rows(), 2u);
  EXPECT_EQ(f.columns[1][1].s, "y");
  f = Csv("a,b\n1,2\r");
  ASSERT_EQ(f.num_rows(), 1u);
  EXPECT_EQ(f.columns[1][0].s, "2");
  f = Csv("a,b\n1,\"2\"\r");
  ASSERT_EQ(f.num_rows(), 1u);
  EXPECT_EQ(f.columns[1][0].s, "2");
  f = Csv("a,b\n1,\n");
  ASSERT_EQ(f.num_rows(), 1u);
  EXPECT_EQ(f.columns[1][0].kind, Kind::kNull);
  f = Csv("a,b\n1,\"\"");
  ASSERT_EQ(f.num_rows(), 1u);
  EXPECT_EQ(f.columns[1][0].kind, Kind::kString);
  // Trailing runs of CRs and LFs end the text, whatever their order.
  f = Csv("a,b\n1,2\n\r\r\n\r");
  ASSERT_EQ(f.num_rows(), 1u);
  EXPECT_EQ(f.columns[1][0].s, "2");
  EXPECT_EQ(Csv("\r\r\n").names.size(), 0u);
  // Errors in memory text are the request's fault; an unterminated quote is named by the line
  // it opens on.
  ExpectInvalid(ReadCsvFrame("a,b\n\"x\ny\",\"z\n", "t.csv"), {"t.csv line 3", "unterminated"});
  auto bad = ReadCsvFrame("a,b\n1,\"2", "t.csv");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
}

TEST(CsvTest, RaggedRows) {
  ExpectInvalid(ReadCsvFrame("a,b\n1,2\n3,4,5\n", "t.csv"),
                {"t.csv line 3", "expected 2 fields", "found 3"});
  ExpectInvalid(ReadCsvFrame("a,b,c\n1,2,3\n\"x\ny\",2\n", "t.csv"),
                {"t.csv line 3", "expected 3", "found 2"});
  ExpectInvalid(ReadCsvFrame("a,b\n1,2\n3", "t.csv"), {"line 3", "found 1"});
}

TEST(CsvTest, UnterminatedQuote) {
  ExpectInvalid(ReadCsvFrame("a,b\n1,2\n3,\"abc\ndef\n4,5\n", "t.csv"),
                {"t.csv line 3", "unterminated quoted field"});
  ExpectInvalid(ReadCsvFrame("\"a,b\n", "t.csv"), {"line 1", "unterminated"});
}

TEST(CsvTest, TextAfterClosingQuote) {
  ExpectInvalid(ReadCsvFrame("a,b\n\"x\"y,2\n", "t.csv"),
                {"t.csv line 2", "after the closing quote"});
}

TEST(CsvTest, DuplicateHeader) {
  ExpectInvalid(ReadCsvFrame("a,b,a\n1,2,3\n", "t.csv"), {"t.csv", "duplicate", "'a'"});
}

TEST(CsvTest, ManyRows) {
  std::string text = "id,name,score\n";
  for (int i = 0; i < 100000; ++i) {
    text +=
        std::to_string(i) + ",\"name " + std::to_string(i) + "\"," + std::to_string(i % 7) + ".5\n";
  }
  Frame f = Csv(text);
  ASSERT_EQ(f.num_rows(), 100000u);
  ExpectStr(f.columns[0][99999], "99999");
  ExpectStr(f.columns[1][12345], "name 12345");
  EXPECT_EQ(f.row_lines[99999], 100001u);
}

// ---------------------------------------------------------------------------------------------
// JSON columns ({"col": [...]})

TEST(JsonColumnsTest, ValuesMapToCells) {
  auto r = ReadJsonColumnsFrame(
      R"({"id": [1, -2], "name": ["a", null], "score": [1.5, 2e0], "ok": [true, false],
          "tags": [[1, "x", [null]], []], "big": [9223372036854775807, -9223372036854775808]})",
      "request body");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Frame& f = *r;
  EXPECT_EQ(f.origin, "request body");
  ASSERT_EQ(f.names, (std::vector<std::string>{"id", "name", "score", "ok", "tags", "big"}));
  ASSERT_EQ(f.num_rows(), 2u);
  EXPECT_TRUE(f.row_lines.empty());
  EXPECT_EQ(f.columns[0][1].kind, Kind::kInt);
  EXPECT_EQ(f.columns[0][1].i, -2);
  ExpectStr(f.columns[1][0], "a");
  EXPECT_EQ(f.columns[1][1].kind, Kind::kNull);
  EXPECT_EQ(f.columns[2][0].kind, Kind::kDouble);
  EXPECT_EQ(f.columns[2][1].kind, Kind::kDouble);  // 2e0 is written as a float
  EXPECT_EQ(f.columns[2][1].d, 2.0);
  EXPECT_EQ(f.columns[3][0].kind, Kind::kBool);
  EXPECT_TRUE(f.columns[3][0].b);
  const Cell& tags = f.columns[4][0];
  ASSERT_EQ(tags.kind, Kind::kArray);
  ASSERT_EQ(tags.arr.size(), 3u);
  EXPECT_EQ(tags.arr[0].i, 1);
  ExpectStr(tags.arr[1], "x");
  EXPECT_EQ(tags.arr[2].arr[0].kind, Kind::kNull);
  EXPECT_EQ(f.columns[4][1].kind, Kind::kArray);
  EXPECT_TRUE(f.columns[4][1].arr.empty());
  EXPECT_EQ(f.columns[5][0].i, INT64_MAX);
  EXPECT_EQ(f.columns[5][1].i, INT64_MIN);
  EXPECT_TRUE(f.CheckShape().ok());
}

TEST(JsonColumnsTest, EmptyObjectAndEmptyColumns) {
  auto r = ReadJsonColumnsFrame("{}", "b");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->names.empty());
  r = ReadJsonColumnsFrame(R"({"a": [], "b": []})", "b");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->names.size(), 2u);
  EXPECT_EQ(r->num_rows(), 0u);
}

TEST(JsonColumnsTest, IntegerOutOfRange) {
  ExpectInvalid(ReadJsonColumnsFrame(R"({"a": [1], "n": [9223372036854775808]})", "body"),
                {"body", "column 'n'", "integer out of range", "9223372036854775808"});
}

TEST(JsonColumnsTest, UnequalLengths) {
  ExpectInvalid(ReadJsonColumnsFrame(R"({"a": [1, 2], "b": [1, 2, 3]})", "body"),
                {"body", "column 'b' has 3", "column 'a' has 2"});
}

TEST(JsonColumnsTest, NonArrayColumn) {
  ExpectInvalid(ReadJsonColumnsFrame(R"({"a": [1], "b": 5})", "body"),
                {"body", "column 'b'", "not an array"});
}

TEST(JsonColumnsTest, NestedObject) {
  ExpectInvalid(ReadJsonColumnsFrame(R"({"a": [1, {"x": 1}]})", "body"),
                {"column 'a'", "element 1", "nested objects are not supported"});
  ExpectInvalid(ReadJsonColumnsFrame(R"({"a": [[{"x": 1}]]})", "body"),
                {"column 'a'", "nested objects are not supported"});
}

TEST(JsonColumnsTest, TopLevelMustBeObject) {
  ExpectInvalid(ReadJsonColumnsFrame("[1, 2]", "body"), {"body", "JSON object", "an array"});
}

TEST(JsonColumnsTest, Malformed) {
  ExpectInvalid(ReadJsonColumnsFrame(R"({"a": [1, 2)", "body"), {"body", "invalid JSON"});
  ExpectInvalid(ReadJsonColumnsFrame("", "body"), {"body", "invalid JSON"});
}

TEST(JsonColumnsTest, DuplicateColumn) {
  ExpectInvalid(ReadJsonColumnsFrame(R"({"a": [1], "a": [2]})", "body"), {"duplicate column 'a'"});
  // Past the first 16 columns duplicates are found through an index: every position.
  for (int dup_at = 15; dup_at <= 40; ++dup_at) {
    for (int first : {0, 7, 14}) {
      std::string json = "{";
      for (int c = 0; c < dup_at; ++c) json += "\"c" + std::to_string(c) + "\": [1],";
      json += "\"c" + std::to_string(first) + "\": [2]}";
      ExpectInvalid(ReadJsonColumnsFrame(json, "body"),
                    {"duplicate column 'c" + std::to_string(first) + "'"});
    }
  }
  auto ok = ReadJsonColumnsFrame(R"({"a":[1],"b":[2],"c":[3],"d":[4],"e":[5],"f":[6],"g":[7],)"
                                 R"("h":[8],"i":[9],"j":[10],"k":[11],"l":[12],"m":[13],"n":[14],)"
                                 R"("o":[15],"p":[16],"q":[17],"r":[18]})",
                                 "body");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->names.size(), 18u);
}

// ---------------------------------------------------------------------------------------------
// JSON lines

TEST(JsonLinesTest, UnionOfKeysInFirstSeenOrder) {
  auto r = ReadJsonLinesFrame(
      "{\"id\": 1, \"v\": 1.5}\n"
      "\n"
      "{\"v\": 2.5, \"id\": 2, \"extra\": \"x\"}\r\n"
      "   \n"
      "{\"id\": 3}\n",
      "rows.jsonl");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Frame& f = *r;
  ASSERT_EQ(f.names, (std::vector<std::string>{"id", "v", "extra"}));
  ASSERT_EQ(f.num_rows(), 3u);
  EXPECT_TRUE(f.CheckShape().ok());
  EXPECT_EQ(f.columns[0][1].i, 2);
  EXPECT_EQ(f.columns[1][1].d, 2.5);
  EXPECT_EQ(f.columns[2][0].kind, Kind::kNull);  // key first seen on a later line
  ExpectStr(f.columns[2][1], "x");
  EXPECT_EQ(f.columns[1][2].kind, Kind::kNull);  // key missing on this line
  EXPECT_EQ(f.columns[2][2].kind, Kind::kNull);
  EXPECT_EQ(f.row_lines, (std::vector<uint64_t>{1, 3, 5}));
  EXPECT_EQ(f.DescribeRow(2), "rows.jsonl line 5");
}

TEST(JsonLinesTest, EmptyAndBom) {
  auto r = ReadJsonLinesFrame("", "x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->num_rows(), 0u);
  r = ReadJsonLinesFrame("\xEF\xBB\xBF{\"a\": [1, 2]}", "x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->names, (std::vector<std::string>{"a"}));
  EXPECT_EQ(r->columns[0][0].arr.size(), 2u);
}

TEST(JsonLinesTest, NonObjectLine) {
  ExpectInvalid(ReadJsonLinesFrame("{\"a\": 1}\n[1, 2]\n", "rows.jsonl"),
                {"rows.jsonl line 2", "expected a JSON object", "an array"});
}

TEST(JsonLinesTest, MalformedLine) {
  ExpectInvalid(ReadJsonLinesFrame("{\"a\": 1}\n\n{\"a\": }\n", "rows.jsonl"),
                {"rows.jsonl line 3", "invalid JSON"});
  // An object split across lines is two malformed lines.
  ExpectInvalid(ReadJsonLinesFrame("{\"a\":\n1}\n", "rows.jsonl"), {"line 1", "invalid JSON"});
}

TEST(JsonLinesTest, BadValues) {
  ExpectInvalid(ReadJsonLinesFrame("{\"a\": 1}\n{\"a\": {\"b\": 2}}\n", "rows.jsonl"),
                {"line 2", "column 'a'", "nested objects are not supported"});
  ExpectInvalid(ReadJsonLinesFrame("{\"a\": 18446744073709551615}\n", "rows.jsonl"),
                {"line 1", "column 'a'", "integer out of range"});
  ExpectInvalid(ReadJsonLinesFrame("{\"a\": 1, \"a\": 2}\n", "rows.jsonl"),
                {"line 1", "duplicate key 'a'"});
}

// ---------------------------------------------------------------------------------------------
// ReadFrameFile

TEST(ReadFrameFileTest, DispatchesOnExtension) {
  testing::TempDir dir;
  std::string csv = dir.Write("a.csv", "x,y\n1,2\n");
  std::string json = dir.Write("b.json", R"({"x": [1, 2]})");
  std::string jsonl = dir.Write("c.JSONL", "{\"x\": 1}\n{\"x\": 2}\n{\"x\": 3}\n");
  auto r = ReadFrameFile(csv);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->origin, csv);
  EXPECT_EQ(r->num_rows(), 1u);
  r = ReadFrameFile(json);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->num_rows(), 2u);
  r = ReadFrameFile(jsonl);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->num_rows(), 3u);
}

TEST(ReadFrameFileTest, ErrorsNameTheFile) {
  testing::TempDir dir;
  std::string missing = dir.path() + "/missing.csv";
  ExpectError(ReadFrameFile(missing), ErrorCode::kIoError, {missing, "No such file"});
  std::string txt = dir.Write("data.txt", "x\n1\n");
  ExpectInvalid(ReadFrameFile(txt), {txt, "extension"});
  ExpectInvalid(ReadFrameFile(dir.path() + "/noext"), {"noext", "extension"});
  std::string bad = dir.Write("bad.csv", "x,y\n1\n");
  ExpectInvalid(ReadFrameFile(bad), {bad + " line 2"});
  std::string subdir = dir.path() + "/sub.csv";
  dir.Write("sub.csv/inner", "");
  ExpectError(ReadFrameFile(subdir), ErrorCode::kIoError, {subdir});
}

// ---------------------------------------------------------------------------------------------
// Timestamps

TimestampMicros MustParse(std::string_view text) {
  auto r = ParseTimestamp(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : 0;
}

TEST(TimestampTest, Formats) {
  constexpr int64_t t = k20220513T105942 * kSec;
  EXPECT_EQ(MustParse("2022-05-13"), 1652400000 * kSec);
  EXPECT_EQ(MustParse("2022-05-13T10:59:42Z"), t);
  EXPECT_EQ(MustParse("2022-05-13t10:59:42z"), t);
  EXPECT_EQ(MustParse("2022-05-13 10:59:42+00:00"), t);
  EXPECT_EQ(MustParse("2022-05-13T10:59:42"), t);  // naive = UTC
  EXPECT_EQ(MustParse("2022-05-13T10:59"), t - 42 * kSec);
  EXPECT_EQ(MustParse("2022-05-13T10:59Z"), t - 42 * kSec);
  EXPECT_EQ(MustParse("2022-05-13T12:59:42+02:00"), t);
  EXPECT_EQ(MustParse("2022-05-13T12:59:42+0200"), t);
  EXPECT_EQ(MustParse("2022-05-13T12:59:42+02"), t);
  EXPECT_EQ(MustParse("2022-05-13T09:29:42-01:30"), t);
  EXPECT_EQ(MustParse("2022-05-13T09:29:42-0130"), t);
  EXPECT_EQ(MustParse("2022-05-13 10:59:42.123Z"), t + 123000);
  EXPECT_EQ(MustParse("2022-05-13T10:59:42.1"), t + 100000);
  EXPECT_EQ(MustParse("2022-05-13T10:59:42.123456+00:00"), t + 123456);
  EXPECT_EQ(MustParse("2022-05-13T10:59:42.123456789Z"), t + 123456);  // truncated
  EXPECT_EQ(MustParse("2022-05-13T10:59:42.000001"), t + 1);
}

TEST(TimestampTest, Calendar) {
  EXPECT_EQ(MustParse("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(MustParse("2024-02-29"), 1709164800 * kSec);
  EXPECT_EQ(MustParse("2000-02-29"), MustParse("2000-03-01") - 86400 * kSec);
  EXPECT_EQ(MustParse("1900-03-01"), -2203891200 * kSec);
  EXPECT_EQ(MustParse("0001-01-01"), -62135596800 * kSec);
  EXPECT_EQ(MustParse("9999-12-31T23:59:59Z"), 253402300799 * kSec);
  EXPECT_EQ(MustParse("1969-12-31T23:59:59Z"), -kSec);
  EXPECT_EQ(MustParse("1969-12-31T23:59:59.5Z"), -500000);
  EXPECT_EQ(MustParse("1970-01-01T01:00:00+01:00"), 0);
}

TEST(TimestampTest, Errors) {
  struct Case {
    const char* text;
    const char* why;
  };
  const Case cases[] = {
      {"", "expected YYYY-MM-DD"},
      {"2022-5-13", "expected YYYY-MM-DD"},
      {"22-05-13", "expected YYYY-MM-DD"},
      {"2022/05/13", "expected YYYY-MM-DD"},
      {"0000-01-01", "year 0"},
      {"2022-13-01", "month 13"},
      {"2022-00-10", "month 0"},
      {"2022-04-31", "day 31"},
      {"2022-01-00", "day 0"},
      {"2023-02-29", "day 29 is out of range for 2023-02"},
      {"1900-02-29", "day 29"},
      {"2022-05-13T24:00:00", "hour 24"},
      {"2022-05-13T10:60:00", "minute 60"},
      {"2022-05-13T10:59:60", "second 60"},
      {"2022-05-13T10:59:61", "second 61"},
      {"2022-05-13T", "expected HH:MM"},
      {"2022-05-13T1:00", "expected HH:MM"},
      {"2022-05-13T10:59:4", "seconds"},
      {"2022-05-13T10:59:42.", "digits after the decimal point"},
      {"2022-05-13T10:59:42.1234567890", "more than 9"},
      {"2022-05-13T10:59:42+24:00", "offset"},
      {"2022-05-13T10:59:42+05:60", "offset"},
      {"2022-05-13T10:59:42+5", "offset"},
      {"2022-05-13T10:59:42+05:3", "offset"},
      {"2022-05-13T10:59:42Zjunk", "trailing text 'junk'"},
      {"2022-05-13T10:59:42 ", "trailing"},
      {"2022-05-13x", "after the date"},
      {"2022-05-13Z", "after the date"},
      {" 2022-05-13", "expected YYYY-MM-DD"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    ExpectInvalid(ParseTimestamp(c.text),
                  {std::string("invalid timestamp '") + c.text + "'", c.why});
  }
}

// An error quotes at most kQuotedInputBytes of the text, and its length: the whole text and the
// trailing part the parser stopped at are both cut (before, a valid date followed by 1 MiB of
// text was quoted whole as "unexpected trailing text": found by review).
TEST(TimestampTest, ErrorTextIsClipped) {
  std::string junk(500, 'x');
  auto r = ParseTimestamp(junk);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 300u);
  EXPECT_NE(r.status().message().find("(500 bytes)"), std::string::npos) << r.status().ToString();
  const std::string trailing = "2024-01-01T00:00:00Z" + std::string(1 << 20, 'x');
  r = ParseTimestamp(trailing);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 700u) << r.status().message().substr(0, 300);
  EXPECT_NE(r.status().message().find("unexpected trailing text"), std::string::npos);
  r = ParseTimestamp("2024-01-01" + std::string(1 << 20, '#'));
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 700u) << r.status().message().substr(0, 300);
}

TEST(TimestampTest, Format) {
  constexpr int64_t t = k20220513T105942 * kSec;
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(t), "2022-05-13T10:59:42Z");
  EXPECT_EQ(FormatTimestamp(t + 123000), "2022-05-13T10:59:42.123Z");
  EXPECT_EQ(FormatTimestamp(t + 100000), "2022-05-13T10:59:42.100Z");
  EXPECT_EQ(FormatTimestamp(t + 123456), "2022-05-13T10:59:42.123456Z");
  EXPECT_EQ(FormatTimestamp(t + 100), "2022-05-13T10:59:42.000100Z");
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatTimestamp(-500000), "1969-12-31T23:59:59.500Z");
  EXPECT_EQ(FormatTimestamp(-kSec), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatTimestamp(-86400 * kSec), "1969-12-31T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(-2203891200 * kSec), "1900-03-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(-62135596800 * kSec), "0001-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(253402300799 * kSec + 999999), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatTimestamp(1709164800 * kSec), "2024-02-29T00:00:00Z");
  // Extreme values do not crash.
  EXPECT_FALSE(FormatTimestamp(INT64_MIN).empty());
  EXPECT_FALSE(FormatTimestamp(INT64_MAX).empty());
}

TEST(TimestampTest, RoundTrip) {
  for (const char* text :
       {"2022-05-13T10:59:42Z", "2022-05-13T10:59:42.123Z", "2022-05-13T10:59:42.000001Z",
        "1969-07-20T20:17:40Z", "1600-02-29T12:00:00.500Z", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z", "2024-02-29T23:59:59Z"}) {
    EXPECT_EQ(FormatTimestamp(MustParse(text)), text);
  }
  EXPECT_EQ(FormatTimestamp(MustParse("2022-05-13 12:59:42.5+02:00")), "2022-05-13T10:59:42.500Z");
  // Every instant in years 1..9999 survives Format then Parse.
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> dist(-62135596800 * kSec, 253402300799 * kSec);
  for (int i = 0; i < 20000; ++i) {
    int64_t ts = dist(rng);
    if (i % 3 == 0) ts -= ts % kSec;  // some whole seconds
    ASSERT_EQ(MustParse(FormatTimestamp(ts)), ts) << FormatTimestamp(ts);
  }
}

TEST(CellToTimestampTest, Kinds) {
  constexpr int64_t t = k20220513T105942 * kSec;
  auto r = CellToTimestamp(Cell::String("2022-05-13 10:59:42+00:00"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, t);
  r = CellToTimestamp(Cell::Int(k20220513T105942));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, t);
  r = CellToTimestamp(Cell::Int(-1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, -kSec);
  r = CellToTimestamp(Cell::Double(1652439582.25));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, t + 250000);
  r = CellToTimestamp(Cell::Double(-0.5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, -500000);
  r = CellToTimestamp(Cell::Double(0.0000004));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0);
}

TEST(CellToTimestampTest, Errors) {
  ExpectInvalid(CellToTimestamp(Cell::Null()), {"timestamp is null"});
  ExpectInvalid(CellToTimestamp(Cell::String("yesterday")),
                {"invalid timestamp 'yesterday'", "YYYY-MM-DD"});
  ExpectInvalid(CellToTimestamp(Cell::Int(INT64_MAX)), {"9223372036854775807", "out of range"});
  ExpectInvalid(CellToTimestamp(Cell::Int(9223372036855)), {"9223372036855", "out of range"});
  ExpectInvalid(CellToTimestamp(Cell::Double(NAN)), {"nan", "UnixTimestamp"});
  ExpectInvalid(CellToTimestamp(Cell::Double(INFINITY)), {"inf", "UnixTimestamp"});
  ExpectInvalid(CellToTimestamp(Cell::Double(1e300)), {"1e+300", "out of range"});
  ExpectInvalid(CellToTimestamp(Cell::Bool(true)), {"true", "UnixTimestamp"});
  ExpectInvalid(CellToTimestamp(Cell::Array({})), {"[]", "UnixTimestamp"});
}

// ---------------------------------------------------------------------------------------------
// CellToValue

Value MustConvert(const Cell& c, DType t) {
  auto r = CellToValue(c, t);
  EXPECT_TRUE(r.ok()) << DescribeCell(c) << " as " << DTypeName(t) << ": " << r.status().ToString();
  if (!r.ok()) return Value::Null(t);
  EXPECT_EQ(r->dtype, t);
  EXPECT_FALSE(r->is_null);
  return std::move(r).value();
}

TEST(CellToValueTest, NullGivesNullValue) {
  for (DType t :
       {kInt32, kFloat64, kString, kBytes, kBool, kTimestamp, ArrayOf(ScalarType::kFloat32)}) {
    auto r = CellToValue(Cell::Null(), t);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->is_null);
    EXPECT_EQ(r->dtype, t);
  }
}

// CellToValueInto reuses a Value: whatever it held before is gone after a conversion, and a
// refused conversion leaves it as it was.
TEST(CellToValueTest, IntoReusesAValueAndLeavesItOnError) {
  Value v = MustConvert(Cell::Array({Cell::String("a"), Cell::String("b")}),
                        ArrayOf(ScalarType::kString));
  ASSERT_TRUE(CellToValueInto(Cell::Int(7), kInt64, &v).ok());
  EXPECT_EQ(v, Value::Int64(7));
  EXPECT_TRUE(v.strs.empty());
  ASSERT_TRUE(CellToValueInto(Cell::String("x"), kString, &v).ok());
  EXPECT_EQ(v, Value::String("x"));
  Status st = CellToValueInto(Cell::String("not a number"), kInt64, &v);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(v, Value::String("x"));
  ASSERT_TRUE(CellToValueInto(Cell::Null(), kFloat64, &v).ok());
  EXPECT_TRUE(v.is_null);
  EXPECT_EQ(v.dtype, kFloat64);
  EXPECT_TRUE(v.str.empty());
}

TEST(CellToValueTest, Int64) {
  EXPECT_EQ(MustConvert(Cell::Int(INT64_MIN), kInt64), Value::Int64(INT64_MIN));
  EXPECT_EQ(MustConvert(Cell::Double(3.0), kInt64), Value::Int64(3));
  EXPECT_EQ(MustConvert(Cell::Double(-9223372036854775808.0), kInt64), Value::Int64(INT64_MIN));
  EXPECT_EQ(MustConvert(Cell::String("42"), kInt64), Value::Int64(42));
  EXPECT_EQ(MustConvert(Cell::String("+42"), kInt64), Value::Int64(42));
  EXPECT_EQ(MustConvert(Cell::String("-42"), kInt64), Value::Int64(-42));
  EXPECT_EQ(MustConvert(Cell::String("9223372036854775807"), kInt64), Value::Int64(INT64_MAX));
}

TEST(CellToValueTest, Int64Errors) {
  ExpectInvalid(CellToValue(Cell::String("4.5"), kInt64), {"value \"4.5\"", "Int64"});
  ExpectInvalid(CellToValue(Cell::String("abc"), kInt64), {"value \"abc\"", "Int64"});
  ExpectInvalid(CellToValue(Cell::String(" 42"), kInt64), {"value \" 42\"", "Int64"});
  ExpectInvalid(CellToValue(Cell::String("42 "), kInt64), {"\"42 \"", "Int64"});
  ExpectInvalid(CellToValue(Cell::String(""), kInt64), {"value \"\"", "Int64"});
  ExpectInvalid(CellToValue(Cell::String("+-1"), kInt64), {"\"+-1\"", "Int64"});
  ExpectInvalid(CellToValue(Cell::String("+"), kInt64), {"\"+\"", "Int64"});
  ExpectInvalid(CellToValue(Cell::String("0x10"), kInt64), {"\"0x10\"", "Int64"});
  ExpectInvalid(CellToValue(Cell::String("9223372036854775808"), kInt64),
                {"9223372036854775808", "Int64", "out of range"});
  ExpectInvalid(CellToValue(Cell::Double(1.5), kInt64), {"value 1.5", "Int64", "not an integer"});
  ExpectInvalid(CellToValue(Cell::Double(NAN), kInt64), {"nan", "Int64"});
  ExpectInvalid(CellToValue(Cell::Double(1e19), kInt64), {"1e+19", "Int64", "out of range"});
  ExpectInvalid(CellToValue(Cell::Bool(true), kInt64), {"value true", "Int64"});
  ExpectInvalid(CellToValue(Cell::Array({Cell::Int(1)}), kInt64), {"[1]", "Int64"});
}

TEST(CellToValueTest, Int32) {
  EXPECT_EQ(MustConvert(Cell::Int(2147483647), kInt32), Value::Int32(2147483647));
  EXPECT_EQ(MustConvert(Cell::Int(-2147483648LL), kInt32), Value::Int32(INT32_MIN));
  EXPECT_EQ(MustConvert(Cell::String("-7"), kInt32), Value::Int32(-7));
  EXPECT_EQ(MustConvert(Cell::Double(12.0), kInt32), Value::Int32(12));
  ExpectInvalid(CellToValue(Cell::Int(2147483648LL), kInt32),
                {"value 2147483648", "Int32", "out of range"});
  ExpectInvalid(CellToValue(Cell::Int(-2147483649LL), kInt32), {"-2147483649", "Int32"});
  ExpectInvalid(CellToValue(Cell::String("3000000000"), kInt32), {"\"3000000000\"", "Int32"});
  ExpectInvalid(CellToValue(Cell::Double(3e9), kInt32), {"3e+09", "Int32"});
  ExpectInvalid(CellToValue(Cell::Double(0.25), kInt32), {"0.25", "Int32", "not an integer"});
}

TEST(CellToValueTest, Float64) {
  EXPECT_EQ(MustConvert(Cell::Int(3), kFloat64), Value::Float64(3.0));
  EXPECT_EQ(MustConvert(Cell::Double(0.1), kFloat64), Value::Float64(0.1));
  EXPECT_EQ(MustConvert(Cell::String("1.5"), kFloat64), Value::Float64(1.5));
  EXPECT_EQ(MustConvert(Cell::String("-1e3"), kFloat64), Value::Float64(-1000));
  EXPECT_EQ(MustConvert(Cell::String("+2.5"), kFloat64), Value::Float64(2.5));
  EXPECT_EQ(MustConvert(Cell::String("7"), kFloat64), Value::Float64(7));
  for (const char* nan : {"nan", "NaN"}) {
    EXPECT_TRUE(std::isnan(MustConvert(Cell::String(nan), kFloat64).f64)) << nan;
  }
  EXPECT_TRUE(std::isnan(MustConvert(Cell::Double(NAN), kFloat64).f64));
  EXPECT_EQ(MustConvert(Cell::String("inf"), kFloat64).f64, INFINITY);
  EXPECT_EQ(MustConvert(Cell::String("Infinity"), kFloat64).f64, INFINITY);
  EXPECT_EQ(MustConvert(Cell::String("-inf"), kFloat64).f64, -INFINITY);
  EXPECT_EQ(MustConvert(Cell::String("-Infinity"), kFloat64).f64, -INFINITY);
}

TEST(CellToValueTest, Float64Errors) {
  ExpectInvalid(CellToValue(Cell::String("abc"), kFloat64),
                {"value \"abc\" is not a valid Float64"});
  ExpectInvalid(CellToValue(Cell::String("1.5x"), kFloat64), {"\"1.5x\"", "Float64"});
  ExpectInvalid(CellToValue(Cell::String(""), kFloat64), {"\"\"", "Float64"});
  ExpectInvalid(CellToValue(Cell::String("0x1p3"), kFloat64), {"\"0x1p3\"", "Float64"});
  ExpectInvalid(CellToValue(Cell::String("1e400"), kFloat64), {"\"1e400\"", "out of range"});
  ExpectInvalid(CellToValue(Cell::Bool(false), kFloat64), {"false", "Float64"});
  ExpectInvalid(CellToValue(Cell::Bytes("x"), kFloat64), {"b\"x\"", "Float64"});
}

TEST(CellToValueTest, Float32) {
  Value v = MustConvert(Cell::Double(1.1), kFloat32);
  EXPECT_EQ(v, Value::Float32(1.1f));
  EXPECT_EQ(v.f64, static_cast<double>(1.1f));
  EXPECT_EQ(MustConvert(Cell::String("2.5"), kFloat32), Value::Float32(2.5f));
  EXPECT_EQ(MustConvert(Cell::Int(16777217), kFloat32).f64, 16777216.0);
  EXPECT_TRUE(std::isnan(MustConvert(Cell::String("NaN"), kFloat32).f64));
  EXPECT_EQ(MustConvert(Cell::String("-inf"), kFloat32).f64, -INFINITY);
  ExpectInvalid(CellToValue(Cell::Double(1e39), kFloat32), {"1e+39", "Float32", "out of range"});
  ExpectInvalid(CellToValue(Cell::String("-1e39"), kFloat32), {"\"-1e39\"", "Float32"});
  ExpectInvalid(CellToValue(Cell::String("abc"), kFloat32),
                {"value \"abc\" is not a valid Float32"});
}

TEST(CellToValueTest, String) {
  EXPECT_EQ(MustConvert(Cell::String("h\xC3\xA9llo"), kString), Value::String("h\xC3\xA9llo"));
  EXPECT_EQ(MustConvert(Cell::String(""), kString), Value::String(""));
  ExpectInvalid(CellToValue(Cell::String("ab\xff"), kString), {"String", "invalid UTF-8"});
  ExpectInvalid(CellToValue(Cell::String("\xC0\xAF"), kString), {"invalid UTF-8"});  // overlong
  ExpectInvalid(CellToValue(Cell::Int(5), kString), {"value 5", "String"});
  ExpectInvalid(CellToValue(Cell::Bytes("x"), kString), {"b\"x\"", "String"});
}

TEST(CellToValueTest, Bytes) {
  EXPECT_EQ(MustConvert(Cell::Bytes(std::string("\0\xff", 2)), kBytes),
            Value::Bytes(std::string("\0\xff", 2)));
  EXPECT_EQ(MustConvert(Cell::String("aGVsbG8="), kBytes), Value::Bytes("hello"));
  EXPECT_EQ(MustConvert(Cell::String(""), kBytes), Value::Bytes(""));
  ExpectInvalid(CellToValue(Cell::String("not base64!"), kBytes),
                {"\"not base64!\"", "Bytes", "base64"});
  ExpectInvalid(CellToValue(Cell::String("aGVsbG8"), kBytes), {"\"aGVsbG8\"", "base64"});
  ExpectInvalid(CellToValue(Cell::Int(1), kBytes), {"value 1", "Bytes"});
}

TEST(CellToValueTest, Bool) {
  EXPECT_EQ(MustConvert(Cell::Bool(true), kBool), Value::Bool(true));
  EXPECT_EQ(MustConvert(Cell::Int(0), kBool), Value::Bool(false));
  EXPECT_EQ(MustConvert(Cell::Int(1), kBool), Value::Bool(true));
  for (const char* t : {"true", "True", "TRUE", "1"}) {
    EXPECT_EQ(MustConvert(Cell::String(t), kBool), Value::Bool(true)) << t;
  }
  for (const char* f : {"false", "False", "FALSE", "0"}) {
    EXPECT_EQ(MustConvert(Cell::String(f), kBool), Value::Bool(false)) << f;
  }
  ExpectInvalid(CellToValue(Cell::String("yes"), kBool), {"value \"yes\" is not a valid Bool"});
  ExpectInvalid(CellToValue(Cell::String("tRUE"), kBool), {"\"tRUE\"", "Bool"});
  ExpectInvalid(CellToValue(Cell::Int(2), kBool), {"value 2", "Bool"});
  ExpectInvalid(CellToValue(Cell::Double(1.0), kBool), {"1.0", "Bool"});
}

TEST(CellToValueTest, UnixTimestamp) {
  constexpr int64_t t = k20220513T105942 * kSec;
  EXPECT_EQ(MustConvert(Cell::String("2022-05-13 10:59:42+00:00"), kTimestamp),
            Value::Timestamp(t));
  EXPECT_EQ(MustConvert(Cell::Int(k20220513T105942), kTimestamp), Value::Timestamp(t));
  EXPECT_EQ(MustConvert(Cell::Double(1.5), kTimestamp), Value::Timestamp(1500000));
  ExpectInvalid(CellToValue(Cell::String("2023-02-29"), kTimestamp),
                {"value \"2023-02-29\" is not a valid UnixTimestamp", "day 29"});
  ExpectInvalid(CellToValue(Cell::Bool(true), kTimestamp), {"value true", "UnixTimestamp"});
  ExpectInvalid(CellToValue(Cell::Int(INT64_MIN), kTimestamp),
                {"-9223372036854775808", "UnixTimestamp", "out of range"});
}

TEST(CellToValueTest, ArrayFromJsonText) {
  Value v = MustConvert(Cell::String("[1.5,2.5]"), ArrayOf(ScalarType::kFloat32));
  EXPECT_EQ(v.f64s, (std::vector<double>{1.5, 2.5}));
  EXPECT_TRUE(v.i64s.empty());
  v = MustConvert(Cell::String("[0.1]"), ArrayOf(ScalarType::kFloat32));
  EXPECT_EQ(v.f64s, (std::vector<double>{static_cast<double>(0.1f)}));
  v = MustConvert(Cell::String(" [1, 2, -3] "), ArrayOf(ScalarType::kInt64));
  EXPECT_EQ(v.i64s, (std::vector<int64_t>{1, 2, -3}));
  v = MustConvert(Cell::String(R"(["a", "b"])"), ArrayOf(ScalarType::kString));
  EXPECT_EQ(v.strs, (std::vector<std::string>{"a", "b"}));
  v = MustConvert(Cell::String(R"(["aGk=", ""])"), ArrayOf(ScalarType::kBytes));
  EXPECT_EQ(v.strs, (std::vector<std::string>{"hi", ""}));
  v = MustConvert(Cell::String("[true, false, 1]"), ArrayOf(ScalarType::kBool));
  EXPECT_EQ(v.i64s, (std::vector<int64_t>{1, 0, 1}));
  v = MustConvert(Cell::String(R"(["1970-01-01T00:00:01Z", 2])"),
                  ArrayOf(ScalarType::kUnixTimestamp));
  EXPECT_EQ(v.i64s, (std::vector<int64_t>{kSec, 2 * kSec}));
  v = MustConvert(Cell::String("[]"), ArrayOf(ScalarType::kInt32));
  EXPECT_TRUE(v.i64s.empty());
}

TEST(CellToValueTest, ArrayFromArrayCell) {
  Value v = MustConvert(Cell::Array({Cell::Int(1), Cell::Double(2.0), Cell::String("3")}),
                        ArrayOf(ScalarType::kInt32));
  EXPECT_EQ(v.i64s, (std::vector<int64_t>{1, 2, 3}));
  v = MustConvert(Cell::Array({Cell::Int(1), Cell::Double(2.5)}), ArrayOf(ScalarType::kFloat64));
  EXPECT_EQ(v.f64s, (std::vector<double>{1.0, 2.5}));
  v = MustConvert(Cell::Array({Cell::Bytes("raw")}), ArrayOf(ScalarType::kBytes));
  EXPECT_EQ(v.strs, (std::vector<std::string>{"raw"}));
  v = MustConvert(Cell::Array({}), ArrayOf(ScalarType::kString));
  EXPECT_TRUE(v.strs.empty());
}

TEST(CellToValueTest, ArrayErrors) {
  const DType ai32 = ArrayOf(ScalarType::kInt32);
  const DType af32 = ArrayOf(ScalarType::kFloat32);
  ExpectInvalid(CellToValue(Cell::Array({Cell::Int(1), Cell::Int(3000000000LL)}), ai32),
                {"Array(Int32)", "element 1", "value 3000000000", "out of range"});
  ExpectInvalid(CellToValue(Cell::Array({Cell::Int(1), Cell::Null()}), ai32),
                {"Array(Int32)", "element 1", "null inside an array"});
  ExpectInvalid(CellToValue(Cell::String("[1, null]"), ai32), {"null inside an array"});
  ExpectInvalid(CellToValue(Cell::String("[1.5, 1e39]"), af32),
                {"\"[1.5, 1e39]\"", "Array(Float32)", "element 1", "out of range"});
  ExpectInvalid(CellToValue(Cell::String("[1, \"x\"]"), ai32),
                {"Array(Int32)", "value \"x\" is not a valid Int32"});
  ExpectInvalid(CellToValue(Cell::String("1.5,2.5"), af32),
                {"\"1.5,2.5\"", "Array(Float32)", "invalid JSON"});
  ExpectInvalid(CellToValue(Cell::String("[1.5"), af32), {"Array(Float32)", "invalid JSON"});
  ExpectInvalid(CellToValue(Cell::String("5"), af32),
                {"value \"5\" is not a valid Array(Float32)", "expected a JSON array"});
  ExpectInvalid(CellToValue(Cell::String("[{\"a\": 1}]"), af32),
                {"Array(Float32)", "nested objects are not supported"});
  ExpectInvalid(CellToValue(Cell::String("[[1]]"), ai32), {"[1]", "Int32"});
  ExpectInvalid(CellToValue(Cell::Int(1), ai32), {"value 1 is not a valid Array(Int32)"});
  ExpectInvalid(CellToValue(Cell::Array({Cell::String("\xff")}), ArrayOf(ScalarType::kString)),
                {"Array(String)", "invalid UTF-8"});
}

TEST(CellToValueTest, ErrorNamesLongValuesBriefly) {
  auto r = CellToValue(Cell::String(std::string(10000, '7') + "x"), kInt64);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 150u);
  EXPECT_NE(r.status().message().find("...\""), std::string::npos);
  EXPECT_NE(r.status().message().find("Int64"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Base64

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    auto r = Base64Decode(encoded);
    ASSERT_TRUE(r.ok()) << encoded;
    EXPECT_EQ(*r, plain);
  }
}

TEST(Base64Test, AllBytesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    std::string part = all.substr(all.size() - n);
    auto r = Base64Decode(Base64Encode(part));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, part);
  }
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
}

TEST(Base64Test, DecodeRejectsInvalid) {
  for (const char* bad : {"Zm9", "Zm9v!A==", "Zm=v", "====", "Zg=", "Z===", "Zm9v\n",
                          "Zg==Zg==", "Zm9v YmFy", "Zm9vYmF-"}) {
    auto r = Base64Decode(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    }
  }
}

// SameText (engine/values/same_text.h) agrees with == for every length up to 40 and a difference at
// every position: the 1-3 byte loop, the two 4-byte words, the 8-byte words and the last one.
TEST(SameText, AgreesWithEqualityAtEveryLengthAndPosition) {
  for (size_t n = 0; n <= 40; ++n) {
    std::string a(n, 'x');
    for (size_t i = 0; i < n; ++i) a[i] = static_cast<char>('a' + i % 26);
    EXPECT_TRUE(SameText(a, std::string(a))) << n;
    EXPECT_FALSE(SameText(a, a + "!")) << n;
    for (size_t i = 0; i < n; ++i) {
      std::string b = a;
      b[i] = static_cast<char>(b[i] ^ 0x20);
      EXPECT_FALSE(SameText(a, b)) << "length " << n << ", position " << i;
    }
  }
  Frame f;
  f.names = {"ab", "abc", "user", "user_id", "user_ie", "driver_id"};
  for (size_t i = 0; i < f.names.size(); ++i) {
    EXPECT_EQ(f.FindColumn(f.names[i]), static_cast<int>(i)) << f.names[i];
  }
  EXPECT_EQ(f.FindColumn("user_if"), -1);
  EXPECT_EQ(f.FindColumn(""), -1);
}

}  // namespace
}  // namespace larder
