// The streaming CSV reader of batch-source files (engine/values/csv_stream.h): RFC 4180 quoting,
// null vs empty, line numbers, torn final records, chunk boundaries, and the boundary scanner
// the offline log uses (it must agree with the reader on where complete records end).
#include "engine/values/csv_stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/offline_fixture.h"
#include "tests/test_util.h"

namespace larder {
namespace {

using testing::TempDir;

struct Parsed {
  std::vector<std::vector<std::string>> records;
  std::vector<std::vector<bool>> nulls;
  std::vector<uint64_t> lines;
  std::vector<std::string> raw;
  uint64_t torn_bytes = 0;
  uint64_t torn_line = 0;
  uint64_t boundary = 0;  // FindLastRecordBoundary over the whole file
  Status error;
};

Parsed Parse(const std::string& content, size_t expected_fields = 0) {
  TempDir dir;
  std::string path = dir.Write("f.csv", content);
  int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  Parsed p;
  {
    CsvStream cs(fd, content.size(), "f.csv");
    cs.set_expected_fields(expected_fields);
    for (;;) {
      auto more = cs.Next();
      if (!more.ok()) {
        p.error = more.status();
        break;
      }
      if (!*more) break;
      std::vector<std::string> rec;
      std::vector<bool> nulls;
      for (size_t i = 0; i < cs.num_fields(); ++i) {
        rec.emplace_back(cs.field(i));
        nulls.push_back(cs.is_null(i));
      }
      p.records.push_back(rec);
      p.nulls.push_back(nulls);
      p.lines.push_back(cs.line());
      p.raw.emplace_back(cs.record_text());
    }
    p.torn_bytes = cs.torn_bytes();
    p.torn_line = cs.torn_line();
  }
  auto b = FindLastRecordBoundary(fd, 0, content.size());
  EXPECT_TRUE(b.ok());
  p.boundary = b.ok() ? *b : 0;
  ::close(fd);
  return p;
}

using Rec = std::vector<std::string>;

TEST(CsvStreamTest, QuotedFieldsWithCommasNewlinesAndQuotes) {
  Parsed p = Parse("a,b,c\n1,\"x,y\",\"he said \"\"hi\"\"\"\n2,\"multi\nline\",\n3,,\"\"\n");
  ASSERT_TRUE(p.error.ok()) << p.error.ToString();
  ASSERT_EQ(p.records.size(), 4u);
  EXPECT_EQ(p.records[1], (Rec{"1", "x,y", "he said \"hi\""}));
  EXPECT_EQ(p.records[2], (Rec{"2", "multi\nline", ""}));
  EXPECT_EQ(p.nulls[2], (std::vector<bool>{false, false, true}));
  // "" is the empty string, an empty unquoted field is null.
  EXPECT_EQ(p.records[3], (Rec{"3", "", ""}));
  EXPECT_EQ(p.nulls[3], (std::vector<bool>{false, true, false}));
  EXPECT_EQ(p.lines, (std::vector<uint64_t>{1, 2, 3, 5}));
  EXPECT_EQ(p.raw[2], "2,\"multi\nline\",");
  EXPECT_EQ(p.torn_bytes, 0u);
}

TEST(CsvStreamTest, CrLfAndBlankLines) {
  Parsed p = Parse("a,b\r\n\r\n1,\"q\"\r\n\n2,3\r\n");
  ASSERT_TRUE(p.error.ok()) << p.error.ToString();
  ASSERT_EQ(p.records.size(), 3u);
  EXPECT_EQ(p.records[1], (Rec{"1", "q"}));
  EXPECT_EQ(p.records[2], (Rec{"2", "3"}));
  EXPECT_EQ(p.lines, (std::vector<uint64_t>{1, 3, 5}));
  EXPECT_EQ(p.raw[2], "2,3");
}

TEST(CsvStreamTest, FinalRecordWithoutLineFeedIsTorn) {
  Parsed p = Parse("a,b\n1,2\n3,4");
  ASSERT_TRUE(p.error.ok());
  EXPECT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.torn_bytes, 3u);
  EXPECT_EQ(p.torn_line, 3u);
  EXPECT_EQ(p.boundary, 8u);
}

TEST(CsvStreamTest, TornInsideAQuotedFieldAfterAnEmbeddedNewline) {
  // The file ends with a line feed, but it is inside an open quote: still torn.
  Parsed p = Parse("a,b\n1,2\n3,\"par\n");
  ASSERT_TRUE(p.error.ok());
  EXPECT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.torn_bytes, 7u);
  EXPECT_EQ(p.boundary, 8u);
  // A closing quote at the very end, without a line feed: torn too.
  Parsed q = Parse("a,b\n1,\"x\"");
  EXPECT_EQ(q.records.size(), 1u);
  EXPECT_EQ(q.torn_bytes, 5u);
  EXPECT_EQ(q.boundary, 4u);
}

TEST(CsvStreamTest, WrongFieldCountAndStrayQuoteAreErrorsNamingTheLine) {
  Parsed p = Parse("a,b\n1,2\n3,4,5\n", 2);
  EXPECT_TRUE(testing::IsError(p.error, ErrorCode::kDataSourceError,
                               {"f.csv line 3", "expected 2 fields", "found 3"}));
  Parsed q = Parse("a,b\n1,\"x\"y\n");
  EXPECT_TRUE(testing::IsError(q.error, ErrorCode::kDataSourceError,
                               {"f.csv line 2", "after the closing quote"}));
}

TEST(CsvStreamTest, RecordsAcrossChunkBoundariesAndLongerThanAChunk) {
  std::string content = "id,text\n";
  std::vector<std::string> texts;
  for (int i = 0; i < 3000; ++i) {
    std::string t = "v" + std::to_string(i) + ",\"q\"\n" + std::string(i % 7 == 0 ? 3000 : 10, 'x');
    texts.push_back(t);
    std::string quoted = "\"";
    for (char c : t) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    content += std::to_string(i) + "," + quoted + "\"\n";
  }
  std::string huge(5 << 20, 'h');  // one field longer than the 4 MiB chunk
  content += "3000,\"" + huge + "\"\n";
  Parsed p = Parse(content, 2);
  ASSERT_TRUE(p.error.ok()) << p.error.ToString();
  ASSERT_EQ(p.records.size(), 3002u);
  for (int i = 0; i < 3000; ++i) {
    ASSERT_EQ(p.records[i + 1][1], texts[i]) << i;
    ASSERT_EQ(p.lines[i + 1], static_cast<uint64_t>(2 + 2 * i)) << i;
  }
  EXPECT_EQ(p.records[3001][1], huge);
  EXPECT_EQ(p.boundary, content.size());
}

TEST(CsvStreamTest, ScannerAgreesWithReaderOnEveryPrefix) {
  const std::string content = "a,b,c\n1,\"x,\"\"y\"\"\n\",z\r\n\n2,,\"\"\n3,\"\"\"\",\"a\nb\"\n";
  for (size_t n = 0; n <= content.size(); ++n) {
    Parsed p = Parse(content.substr(0, n));
    ASSERT_TRUE(p.error.ok()) << n << ": " << p.error.ToString();
    EXPECT_EQ(p.boundary + p.torn_bytes, n) << "prefix of " << n << " bytes";
  }
}

TEST(CsvStreamTest, ByteOrderMarkBeforeTheHeaderIsSkipped) {
  Parsed p = Parse(
      "\xEF\xBB\xBF"
      "a,b\n1,2\n");
  ASSERT_TRUE(p.error.ok()) << p.error.ToString();
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0], (Rec{"a", "b"}));
  EXPECT_EQ(p.lines, (std::vector<uint64_t>{1, 2}));
  // Only before the first record: elsewhere the bytes are data.
  p = Parse("a\n\xEF\xBB\xBFx\n");
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[1], (Rec{"\xEF\xBB\xBFx"}));
}

TEST(CsvStreamTest, PackedRecordsKeepNullsEmptiesAndQuotedText) {
  TempDir dir;
  const std::string content = "a,b,c,d\n,\"\",\"x,\"\"y\"\"\nz\",plain\n";
  std::string path = dir.Write("f.csv", content);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  CsvStream cs(fd, content.size(), "f.csv");
  std::vector<std::string> packed(2);
  for (std::string& rec : packed) {
    auto more = cs.Next();
    ASSERT_TRUE(more.ok() && *more);
    PackRecord(cs, &rec);
  }
  ::close(fd);
  std::vector<std::vector<Cell>> columns(4);
  AppendPackedRecord(packed[1], &columns);
  AppendPackedRecord(packed[0], &columns);
  EXPECT_EQ(columns[0][0].kind, Cell::Kind::kNull);
  EXPECT_EQ(columns[1][0].kind, Cell::Kind::kString);
  EXPECT_EQ(columns[1][0].s, "");
  EXPECT_EQ(columns[2][0].s, "x,\"y\"\nz");
  EXPECT_EQ(columns[3][0].s, "plain");
  EXPECT_EQ(columns[3][1].s, "d");
}

TEST(CsvStreamTest, AppendCsvFieldQuotesOnlyWhenNeeded) {
  std::string out;
  for (std::string_view f : {"plain", "", "a,b", "say \"x\"", "two\nlines", "cr\r"}) {
    AppendCsvField(f, &out);
    out.push_back('|');
  }
  EXPECT_EQ(out, "plain|\"\"|\"a,b\"|\"say \"\"x\"\"\"|\"two\nlines\"|\"cr\r\"|");
}

}  // namespace
}  // namespace larder
