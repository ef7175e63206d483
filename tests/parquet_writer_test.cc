// Larder's Parquet writer (engine/parquet/parquet_writer.h): every type, repetition, list case,
// codec and row-group split read back identically by Larder's own reader, plus byte-level checks
// of the footer (magic, length, created_by, codec, statistics) and refusals of bad input.
#include "engine/parquet/parquet_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/parquet/compression.h"
#include "engine/parquet/parquet_file.h"

namespace larder::parquet {
namespace {

// A column of `rows` rows (lists: 0..3 elements), nulls / empty lists / null elements where
// `s` allows them, values of every sign and a few extremes.
Column Make(const WriteColumn& s, size_t rows, uint32_t seed) {
  Column c;
  c.rows = rows;
  uint32_t x = seed * 2654435761u + 1;
  auto next = [&] { return x = x * 1103515245u + 12345u, x >> 8; };
  size_t slots = rows;
  if (s.optional) {
    for (size_t r = 0; r < rows; ++r) c.valid.push_back(next() % 4 != 0);
  }
  if (s.list) {
    c.list_begin.push_back(0);
    for (size_t r = 0; r < rows; ++r) {
      const bool present = c.valid.empty() || c.valid[r];
      c.list_begin.push_back(c.list_begin.back() + (present ? next() % 4 : 0));
    }
    slots = c.list_begin.back();
    for (size_t e = 0; e < slots; ++e) c.elem_valid.push_back(!s.element_optional || next() % 5);
  }
  c.off.push_back(0);
  for (size_t i = 0; i < slots; ++i) {
    const int64_t v = static_cast<int64_t>(next()) - (1 << 23);
    switch (s.type) {
      case PhysicalType::kBoolean:
        c.i64.push_back(v & 1);
        break;
      case PhysicalType::kInt32:
        c.i64.push_back(i == 1 ? INT32_MIN : i == 2 ? INT32_MAX : v);
        break;
      case PhysicalType::kInt64:
        // Timestamps: whole microseconds in every unit, so the reader's micros are exact.
        c.i64.push_back(s.timestamp ? v * 1'000'000'000 : i == 1 ? INT64_MIN : v * 1'000'003);
        break;
      case PhysicalType::kFloat:
        c.f64.push_back(static_cast<float>(v) / 7.0f);
        break;
      case PhysicalType::kDouble:
        c.f64.push_back(static_cast<double>(v) / 3.0);
        break;
      default: {
        std::string b =
            s.string ? "ü" + std::to_string(v) : std::string("\0\xff", 2) + std::to_string(v);
        if (i % 7 == 3) b.clear();
        c.bytes += b;
        break;
      }
    }
    if (s.type == PhysicalType::kByteArray) c.off.push_back(static_cast<uint32_t>(c.bytes.size()));
  }
  if (s.type != PhysicalType::kByteArray) c.off.clear();
  return c;
}

int64_t ToMicros(const WriteColumn& s, int64_t raw) {
  if (!s.timestamp) return raw;
  return s.unit == TimeUnit::kMillis ? raw * 1000 : s.unit == TimeUnit::kNanos ? raw / 1000 : raw;
}

// Reads every row group of `s.name` and compares it with `want`, slot by slot.
void ExpectSame(const ParquetFile& f, const WriteColumn& s, const Column& want) {
  SCOPED_TRACE(s.name);
  const Field* field = f.FindField(s.name);
  ASSERT_NE(field, nullptr);
  EXPECT_EQ(field->is_list, s.list);
  size_t row = 0;
  for (size_t rg = 0; rg < f.num_row_groups(); ++rg) {
    auto got = f.ReadColumn(rg, *field);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (size_t r = 0; r < got->rows; ++r, ++row) {
      ASSERT_LT(row, want.rows);
      const bool present = want.valid.empty() || want.valid[row];
      ASSERT_EQ(got->valid[r] != 0, present) << row;
      if (!present) continue;
      size_t gb = r, ge = r + 1, wb = row, we = row + 1;
      if (s.list) {
        gb = got->list_begin[r], ge = got->list_begin[r + 1];
        wb = want.list_begin[row], we = want.list_begin[row + 1];
        ASSERT_EQ(ge - gb, we - wb) << row;
      }
      for (size_t g = gb, w = wb; g < ge; ++g, ++w) {
        const bool ev = want.elem_valid.empty() || want.elem_valid[w];
        if (s.list) {
          ASSERT_EQ(got->elem_valid[g] != 0, ev) << row;
        }
        if (!ev) continue;
        switch (s.type) {
          case PhysicalType::kFloat:
            EXPECT_EQ(static_cast<float>(got->f64[g]), static_cast<float>(want.f64[w])) << row;
            break;
          case PhysicalType::kDouble:
            EXPECT_EQ(got->f64[g], want.f64[w]) << row;
            break;
          case PhysicalType::kByteArray:
            EXPECT_EQ(got->Bytes(g), want.Bytes(w)) << row;
            break;
          default:
            EXPECT_EQ(got->i64[g], ToMicros(s, want.i64[w])) << row;
        }
      }
    }
  }
  EXPECT_EQ(row, want.rows);
}

std::vector<WriteColumn> EveryType(bool list) {
  std::vector<WriteColumn> out;
  const std::pair<const char*, PhysicalType> types[] = {
      {"b", PhysicalType::kBoolean}, {"i32", PhysicalType::kInt32},
      {"i64", PhysicalType::kInt64}, {"f", PhysicalType::kFloat},
      {"d", PhysicalType::kDouble},  {"bytes", PhysicalType::kByteArray}};
  for (bool optional : {false, true}) {
    const std::string suffix = optional ? "_opt" : "_req";
    for (auto [name, t] : types) {
      WriteColumn c{.name = name + suffix, .type = t, .optional = optional, .list = list};
      out.push_back(c);
    }
    WriteColumn str{.name = "str" + suffix,
                    .type = PhysicalType::kByteArray,
                    .string = true,
                    .optional = optional,
                    .list = list};
    out.push_back(str);
    for (TimeUnit u : {TimeUnit::kMillis, TimeUnit::kMicros, TimeUnit::kNanos}) {
      for (bool utc : {true, false}) {
        WriteColumn ts{
            .name = "ts" + std::to_string(static_cast<int>(u)) + (utc ? "utc" : "local") + suffix,
            .type = PhysicalType::kInt64,
            .timestamp = true,
            .unit = u,
            .utc = utc,
            .optional = optional,
            .list = list};
        out.push_back(ts);
      }
    }
    if (list) {  // required elements too
      WriteColumn e{.name = "elem_req" + suffix,
                    .type = PhysicalType::kInt64,
                    .optional = optional,
                    .list = true,
                    .element_optional = false};
      out.push_back(e);
    }
  }
  return out;
}

void RoundTrip(const std::vector<WriteColumn>& schema, Codec codec, size_t rows,
               int64_t per_group) {
  std::vector<Column> cols;
  for (size_t i = 0; i < schema.size(); ++i)
    cols.push_back(Make(schema[i], rows, static_cast<uint32_t>(i)));
  std::string bytes;
  ASSERT_TRUE(
      WriteParquet(schema, cols, {.codec = codec, .rows_per_group = per_group}, &bytes).ok());
  auto f = ParquetFile::FromBytes(bytes, "written");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->num_row_groups(), (rows + per_group - 1) / per_group);
  EXPECT_EQ((*f)->meta().num_rows, static_cast<int64_t>(rows));
  for (size_t i = 0; i < schema.size(); ++i) {
    ExpectSame(**f, schema[i], cols[i]);
    const Field* field = (*f)->FindField(schema[i].name);
    ASSERT_NE(field, nullptr);
    const SchemaElement& leaf = *field->leaf_schema;
    EXPECT_EQ(*leaf.type, schema[i].type);
    if (schema[i].timestamp) {
      EXPECT_EQ(leaf.logical, LogicalKind::kTimestamp);
      EXPECT_EQ(leaf.unit, schema[i].unit);
      EXPECT_EQ(leaf.utc, schema[i].utc);
      EXPECT_EQ(leaf.converted.has_value(), schema[i].utc && schema[i].unit != TimeUnit::kNanos);
    }
    if (schema[i].string) {
      EXPECT_EQ(field->kind, ValueKind::kString);
    }
    if (schema[i].type == PhysicalType::kByteArray && !schema[i].string) {
      EXPECT_EQ(field->kind, ValueKind::kBytes);
    }
    for (const RowGroup& rg : (*f)->meta().row_groups) {
      EXPECT_EQ(rg.columns[static_cast<size_t>(field->leaf)].meta.codec,
                static_cast<int32_t>(codec));
    }
  }
}

TEST(ParquetWriter, EveryScalarTypeAndRepetitionRoundTripsInEveryCodec) {
  for (Codec codec : {Codec::kUncompressed, Codec::kSnappy, Codec::kZstd}) {
    SCOPED_TRACE(CodecName(static_cast<int32_t>(codec)));
    RoundTrip(EveryType(false), codec, 100, 1000);  // one row group
    RoundTrip(EveryType(false), codec, 100, 7);     // fifteen, the last short
  }
}

TEST(ParquetWriter, ListsWithNullListsEmptyListsAndNullElementsRoundTrip) {
  for (Codec codec : {Codec::kUncompressed, Codec::kSnappy, Codec::kZstd}) {
    SCOPED_TRACE(CodecName(static_cast<int32_t>(codec)));
    RoundTrip(EveryType(true), codec, 200, 1000);
    RoundTrip(EveryType(true), codec, 200, 33);
  }
  // A hand-made column with each case once: null, [], [null], [1, null, 3].
  WriteColumn s{.name = "l", .type = PhysicalType::kInt64, .list = true};
  Column c;
  c.rows = 4;
  c.valid = {0, 1, 1, 1};
  c.list_begin = {0, 0, 0, 1, 4};
  c.elem_valid = {0, 1, 0, 1};
  c.i64 = {0, 1, 0, 3};
  std::string bytes;
  ASSERT_TRUE(WriteParquet({s}, {c}, {}, &bytes).ok());
  auto f = ParquetFile::FromBytes(bytes, "lists");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ExpectSame(**f, s, c);
  EXPECT_EQ((*f)->FindField("l")->type_name, "list<INT64>");
}

TEST(ParquetWriter, NoRowsWritesAFileWithNoRowGroups) {
  WriteColumn s{.name = "x", .type = PhysicalType::kDouble};
  std::string bytes;
  ASSERT_TRUE(WriteParquet({s}, {Column{}}, {}, &bytes).ok());
  auto f = ParquetFile::FromBytes(bytes, "empty");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->num_row_groups(), 0u);
  EXPECT_NE((*f)->FindField("x"), nullptr);
}

TEST(ParquetWriter, TheFooterNamesLarderAndCarriesStatistics) {
  WriteColumn ts{.name = "event_timestamp",
                 .type = PhysicalType::kInt64,
                 .timestamp = true,
                 .unit = TimeUnit::kNanos,
                 .optional = false};
  WriteColumn d{.name = "d", .type = PhysicalType::kDouble};
  Column t, v;
  t.rows = v.rows = 4;
  t.i64 = {4'000'000'000, 1'000'000'000, 3'000'000'000, 2'000'000'000};
  v.valid = {1, 0, 1, 0};
  v.f64 = {2.5, 0, -1.5, 0};
  std::string bytes;
  ASSERT_TRUE(
      WriteParquet({ts, d}, {t, v}, {.codec = Codec::kSnappy, .rows_per_group = 2}, &bytes).ok());
  // "PAR1" at both ends; the footer's length just before the trailing magic.
  ASSERT_GT(bytes.size(), 12u);
  EXPECT_EQ(bytes.substr(0, 4), "PAR1");
  EXPECT_EQ(bytes.substr(bytes.size() - 4), "PAR1");
  uint32_t footer = 0;
  std::memcpy(&footer, bytes.data() + bytes.size() - 8, 4);
  ASSERT_LT(footer, bytes.size() - 12);
  const std::string created = std::string("larder version ") + LARDER_PROJECT_VERSION;
  EXPECT_NE(bytes.substr(bytes.size() - 8 - footer).find(created), std::string::npos);
  auto f = ParquetFile::FromBytes(bytes, "stats");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->meta().created_by, created);
  ASSERT_EQ((*f)->num_row_groups(), 2u);
  const Field* tf = (*f)->FindField("event_timestamp");
  // Row groups [4 s, 1 s] and [3 s, 2 s]: the reader's skipping sees each group's range.
  EXPECT_EQ((*f)->TimestampRange(0, *tf), std::make_pair(int64_t{1'000'000}, int64_t{4'000'000}));
  EXPECT_EQ((*f)->TimestampRange(1, *tf), std::make_pair(int64_t{2'000'000}, int64_t{3'000'000}));
  const ColumnMeta& dm = (*f)->meta().row_groups[0].columns[1].meta;
  EXPECT_EQ(dm.stats.null_count, 1);
  EXPECT_EQ(dm.num_values, 2);
  EXPECT_EQ(dm.codec, static_cast<int32_t>(Codec::kSnappy));
  double lo = 0, hi = 0;
  ASSERT_TRUE(dm.stats.min && dm.stats.max);
  std::memcpy(&lo, dm.stats.min->data(), 8);
  std::memcpy(&hi, dm.stats.max->data(), 8);
  EXPECT_EQ(lo, 2.5);
  EXPECT_EQ(hi, 2.5);
  // The first column chunk starts right after the leading magic.
  EXPECT_EQ((*f)->meta().row_groups[0].columns[0].meta.data_page_offset, 4);
}

TEST(ParquetWriter, BadInputIsRefusedNamingTheColumnAndNothingIsWritten) {
  WriteColumn req{.name = "driver_id", .type = PhysicalType::kInt64, .optional = false};
  Column c;
  c.rows = 2;
  c.valid = {1, 0};
  c.i64 = {1, 0};
  std::string bytes = "untouched";
  Status st = WriteParquet({req}, {c}, {}, &bytes);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("'driver_id'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("REQUIRED"), std::string::npos) << st.message();
  EXPECT_EQ(bytes, "untouched");
  WriteColumn i32{.name = "small", .type = PhysicalType::kInt32};
  Column big;
  big.rows = 1;
  big.i64 = {int64_t{1} << 40};
  st = WriteParquet({i32}, {big}, {}, &bytes);
  EXPECT_NE(st.message().find("does not fit INT32"), std::string::npos) << st.message();
  WriteColumn other{.name = "other", .type = PhysicalType::kInt32};
  Column one, shorter;
  one.rows = 1;
  one.i64 = {5};
  st = WriteParquet({i32, other}, {one, shorter}, {}, &bytes);
  EXPECT_NE(st.message().find("'other'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("0 rows"), std::string::npos) << st.message();
  EXPECT_FALSE(WriteParquet({req}, {c}, {.codec = Codec::kGzip}, &bytes).ok());
  EXPECT_EQ(bytes, "untouched");
}

TEST(ParquetWriter, RowGroupsEndWherePagesWouldPassWhatTheReaderAccepts) {
  // Each chunk is one page, and the reader refuses a page over 2^23 level entries or 64 MiB:
  // before, a push of long lists or strings wrote (and acknowledged) part files that every
  // later materialize refused.
  WriteColumn list{.name = "embedding", .type = PhysicalType::kBoolean, .list = true};
  Column lists;
  lists.rows = 3;
  lists.list_begin = {0, 3'000'000, 6'000'000, 9'000'000};  // 9M entries > 2^23
  lists.i64.assign(9'000'000, 1);
  lists.i64[8'999'999] = 0;
  WriteColumn text{.name = "blob", .type = PhysicalType::kByteArray, .optional = false};
  Column blobs;
  blobs.rows = 3;
  blobs.off = {0};
  for (char ch : {'a', 'b', 'c'}) {
    blobs.bytes += std::string(25 << 20, ch);  // 75 MiB in all > 64 MiB
    blobs.off.push_back(static_cast<uint32_t>(blobs.bytes.size()));
  }
  for (const auto& [s, c] : {std::pair{list, lists}, std::pair{text, blobs}}) {
    std::string bytes;
    Status st = WriteParquet({s}, {c}, {.codec = Codec::kUncompressed}, &bytes);
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto f = ParquetFile::FromBytes(bytes, "split.parquet");
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_EQ((*f)->num_row_groups(), 2u) << s.name;  // rows 1-2, then row 3
    EXPECT_EQ((*f)->row_group_rows(0), 2);
    ExpectSame(**f, s, c);
  }
  // One row alone over the limit: refused naming the column and the row.
  Column huge;
  huge.rows = 2;
  huge.list_begin = {0, 1, 1 + (1u << 23) + 1};
  huge.i64.assign(huge.list_begin.back(), 0);
  std::string bytes = "untouched";
  Status st = WriteParquet({list}, {huge}, {}, &bytes);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("column 'embedding': row 2 alone holds 8388609 values"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(bytes, "untouched");
}

TEST(ParquetWriter, AFileDescriptorGetsTheSameBytes) {
  WriteColumn s{.name = "s", .type = PhysicalType::kByteArray, .string = true};
  Column c = Make(s, 50, 3);
  std::string bytes;
  ASSERT_TRUE(WriteParquet({s}, {c}, {}, &bytes).ok());
  FILE* tmp = std::tmpfile();
  ASSERT_NE(tmp, nullptr);
  ASSERT_TRUE(WriteParquetToFd(fileno(tmp), {s}, {c}, {}).ok());
  std::string back(bytes.size() + 1, '\0');
  EXPECT_EQ(::pread(fileno(tmp), back.data(), back.size(), 0), static_cast<ssize_t>(bytes.size()));
  back.resize(bytes.size());
  EXPECT_EQ(back, bytes);
  std::fclose(tmp);
}

}  // namespace
}  // namespace larder::parquet
