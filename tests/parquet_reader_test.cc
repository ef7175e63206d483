// The Parquet reader (engine/parquet/) over real files from public repositories
// (tests/data/parquet/README.md names each file's origin and writer) and hostile bytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/parquet/parquet_file.h"
#include "larder/timestamp.h"

namespace larder::parquet {
namespace {

std::string Fixture(const std::string& name) {
  return std::string(LARDER_SOURCE_DIR) + "/tests/data/parquet/" + name;
}

std::unique_ptr<ParquetFile> OpenFixture(const std::string& name) {
  auto f = ParquetFile::Open(Fixture(name));
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? std::move(*f) : nullptr;
}

Column Read(const ParquetFile& f, const std::string& field, size_t rg = 0) {
  const Field* fl = f.FindField(field);
  EXPECT_NE(fl, nullptr) << field;
  if (fl == nullptr) return Column{};
  auto c = f.ReadColumn(rg, *fl);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? std::move(*c) : Column{};
}

// Reads parquet-testing's *_expect.csv: cells quoted, no quotes inside, empty = null.
std::vector<std::vector<std::string>> ReadSimpleCsv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (char ch : line) {
      if (ch == '"') {
        quoted = !quoted;
      } else if (ch == ',' && !quoted) {
        cells.emplace_back();
      } else {
        cells.back().push_back(ch);
      }
    }
    rows.push_back(cells);
  }
  return rows;
}

TEST(ParquetReader, ImpalaPlainAndInt96) {
  for (const char* name :
       {"alltypes_plain.parquet", "alltypes_plain.snappy.parquet", "alltypes_dictionary.parquet"}) {
    auto f = OpenFixture(name);
    ASSERT_NE(f, nullptr);
    EXPECT_NE(f->meta().created_by.find("impala"), std::string::npos);
    Column ts = Read(*f, "timestamp_col");
    Column dbl = Read(*f, "double_col");
    Column flt = Read(*f, "float_col");
    Column str = Read(*f, "string_col");
    Column b = Read(*f, "bool_col");
    ASSERT_GE(ts.rows, 2u);
    EXPECT_EQ(ts.kind, ValueKind::kTimestamp);
    // One minute apart, starting at midnight UTC of the file's month.
    EXPECT_EQ(ts.i64[1] - ts.i64[0], 60'000'000);
    EXPECT_EQ(ts.i64[0] % 86'400'000'000, 0);
    EXPECT_DOUBLE_EQ(dbl.f64[1], 10.1);
    EXPECT_FLOAT_EQ(static_cast<float>(flt.f64[1]), 1.1f);
    EXPECT_EQ(str.Bytes(1), "1");
    EXPECT_EQ(b.i64[0], 1);
    EXPECT_EQ(b.i64[1], 0);
  }
  auto f = OpenFixture("alltypes_plain.parquet");
  Column id = Read(*f, "id");
  EXPECT_EQ(id.i64, (std::vector<int64_t>{4, 5, 6, 7, 2, 3, 0, 1}));
  EXPECT_EQ(Read(*f, "timestamp_col").i64[0], 1235865600000000);  // 2009-03-01T00:00:00Z
}

TEST(ParquetReader, SparkInt96AsSparkReadsIt) {
  auto f = OpenFixture("int96_from_spark.parquet");
  Column a = Read(*f, "a");
  ASSERT_EQ(a.rows, 6u);
  EXPECT_EQ(a.valid, (std::vector<uint8_t>{1, 1, 1, 1, 0, 1}));
  // parquet-testing's int96_from_spark.md lists these microseconds.
  EXPECT_EQ(a.i64[0], 1704141296123456);
  EXPECT_EQ(a.i64[1], 1704070800000000);
  EXPECT_EQ(a.i64[2], 253402225200000000);
  EXPECT_EQ(a.i64[3], 1735599600000000);
}

TEST(ParquetReader, FeastDriverStats) {
  // Arrow 17: TIMESTAMP(NANOS, UTC) events, TIMESTAMP(MICROS) created, FLOAT, INT32, INT64.
  auto f = OpenFixture("feast_driver_stats.parquet");
  EXPECT_EQ(f->meta().created_by, "parquet-cpp-arrow version 17.0.0");
  Column ts = Read(*f, "event_timestamp");
  Column id = Read(*f, "driver_id");
  EXPECT_EQ(ts.rows, 1808u);
  EXPECT_EQ(ts.i64[1], 1724666400000000);
  EXPECT_EQ(id.i64[0], 1001);
  auto range = f->TimestampRange(0, *f->FindField("event_timestamp"));
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range->first, 1618210800000000);
  EXPECT_EQ(range->second, 1725983545905768);
  auto g = OpenFixture("feast_driver_stats_with_string.parquet");
  EXPECT_EQ(g->meta().created_by, "parquet-cpp-arrow version 6.0.1");
  EXPECT_EQ(Read(*g, "string_feature").Bytes(0), "test");
  EXPECT_EQ(Read(*g, "string_feature").kind, ValueKind::kString);
}

TEST(ParquetReader, DeltaEncodingsMatchTheirExpectedCsv) {
  // parquet-mr 1.10 DELTA_BINARY_PACKED integers and DELTA_BYTE_ARRAY strings with nulls;
  // parquet-testing's DELTA_BINARY_PACKED INT64 of every bit width 0..64.
  for (const char* stem :
       {"delta_encoding_optional_column", "delta_byte_array", "delta_binary_packed"}) {
    auto f = OpenFixture(std::string(stem) + ".parquet");
    auto rows = ReadSimpleCsv(Fixture(std::string(stem) + "_expect.csv"));
    ASSERT_GT(rows.size(), 1u);
    auto header = rows[0];
    for (std::string& h : header) {  // the file's header spells one name " c_customer_id"
      while (!h.empty() && h.front() == ' ') h.erase(0, 1);
    }
    for (size_t c = 0; c < header.size(); ++c) {
      Column col = Read(*f, header[c]);
      ASSERT_EQ(col.rows, rows.size() - 1) << header[c];
      for (size_t r = 0; r < col.rows; ++r) {
        const std::string& want = c < rows[r + 1].size() ? rows[r + 1][c] : "";
        std::string got;
        if (col.valid[r]) {
          got =
              col.kind == ValueKind::kInt ? std::to_string(col.i64[r]) : std::string(col.Bytes(r));
        }
        ASSERT_EQ(got, want) << stem << " row " << r << " column " << header[c];
      }
    }
  }
  auto f = OpenFixture("delta_length_byte_array.parquet");
  Column fruit = Read(*f, "FRUIT");
  EXPECT_EQ(fruit.rows, 1000u);
  EXPECT_EQ(fruit.Bytes(0), "apple_banana_mango0");
  EXPECT_EQ(fruit.Bytes(2), "apple_banana_mango4");
}

TEST(ParquetReader, EveryCodec) {
  // Hadoop-framed LZ4 (parquet-mr), bare LZ4 blocks (old parquet-cpp), LZ4_RAW: same table.
  for (const char* name : {"hadoop_lz4_compressed.parquet", "non_hadoop_lz4_compressed.parquet",
                           "lz4_raw_compressed.parquet"}) {
    auto f = OpenFixture(name);
    Column v = Read(*f, "v11");
    ASSERT_EQ(v.rows, 4u) << name;
    EXPECT_EQ(v.f64[0], 42.0);
    EXPECT_EQ(v.f64[2], 42.125);
    EXPECT_EQ(Read(*f, "c1").Bytes(1), "def");
  }
  // gzip, as several concatenated members.
  auto gz = OpenFixture("concatenated_gzip_members.parquet");
  Column longs = Read(*gz, "long_col");
  ASSERT_EQ(longs.rows, 513u);
  for (size_t i = 0; i < longs.rows; ++i) ASSERT_EQ(longs.i64[i], static_cast<int64_t>(i + 1));
  // zstd with BYTE_STREAM_SPLIT floats (Arrow 14).
  auto bss = OpenFixture("byte_stream_split.zstd.parquet");
  Column f32 = Read(*bss, "f32");
  ASSERT_EQ(f32.rows, 300u);
  EXPECT_FLOAT_EQ(static_cast<float>(f32.f64[0]), 1.7640524f);
  // Brotli: the file is a map (not read), but its footer and schema are.
  auto br = OpenFixture("large_string_map.brotli.parquet");
  EXPECT_EQ(br->FindField("arr")->kind, ValueKind::kUnsupported);
}

TEST(ParquetReader, PageV2AndRleBooleans) {
  auto f = OpenFixture("datapage_v2.snappy.parquet");
  EXPECT_EQ(Read(*f, "a").Bytes(0), "abc");
  EXPECT_EQ(Read(*f, "b").i64, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  Column e = Read(*f, "e");
  ASSERT_TRUE(e.is_list);
  EXPECT_EQ(e.list_begin[1] - e.list_begin[0], 3u);
  auto rle = OpenFixture("rle_boolean_encoding.parquet");
  Column b = Read(*rle, "datatype_boolean");
  ASSERT_EQ(b.rows, 68u);
  EXPECT_EQ(b.valid[2], 0);
  EXPECT_EQ(b.i64[0], 1);
  EXPECT_EQ(b.i64[1], 0);
}

TEST(ParquetReader, ListsWithNullsAndEmpties) {
  auto f = OpenFixture("list_columns.parquet");  // parquet-cpp 1.5.1, three-level lists
  Column ints = Read(*f, "int64_list");
  ASSERT_EQ(ints.rows, 3u);
  EXPECT_EQ(ints.list_begin, (std::vector<uint32_t>{0, 3, 5, 6}));
  EXPECT_EQ(ints.elem_valid, (std::vector<uint8_t>{1, 1, 1, 0, 1, 1}));
  EXPECT_EQ(ints.i64[4], 1);
  Column strs = Read(*f, "utf8_list");
  EXPECT_EQ(strs.valid, (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(strs.Bytes(strs.list_begin[2] + 3), "xyz");
  auto n = OpenFixture("nullable.impala.parquet");
  Column arr = Read(*n, "int_array");
  EXPECT_EQ(arr.list_begin[1], 3u);
  EXPECT_EQ(arr.list_begin[2] - arr.list_begin[1], 6u);
  EXPECT_EQ(arr.list_begin[3], arr.list_begin[2]);  // an empty list
  auto e = OpenFixture("null_list.parquet");        // parquet-rs: one empty list
  Column empty = Read(*e, "emptylist");
  EXPECT_EQ(empty.valid[0], 1);
  EXPECT_EQ(empty.list_begin, (std::vector<uint32_t>{0, 0}));
}

TEST(ParquetReader, LegacyListEncodingsReadAsLists) {
  // The same list [34, 35, 36] in Avro's and Thrift's two-level encodings and as a bare
  // repeated column (Impala's fixtures).
  for (const char* name : {"AvroPrimitiveInList.parquet", "ThriftPrimitiveInList.parquet",
                           "UnannotatedListOfPrimitives.parquet"}) {
    SCOPED_TRACE(name);
    auto f = OpenFixture(name);
    Column c = Read(*f, "list_of_ints");
    ASSERT_TRUE(c.is_list);
    EXPECT_EQ(c.list_begin, (std::vector<uint32_t>{0, 3}));
    EXPECT_EQ(c.i64, (std::vector<int64_t>{34, 35, 36}));
  }
  // parquet-rs: repeated primitives with no LIST group, one of them empty; a repeated group of
  // two lists is refused.
  auto r = OpenFixture("repeated_primitive_no_list.parquet");
  Column ints = Read(*r, "Int32_list");
  EXPECT_EQ(ints.list_begin, (std::vector<uint32_t>{0, 4, 4, 5, 9}));
  EXPECT_EQ(ints.i64[3], 3);
  Column strs = Read(*r, "String_list");
  EXPECT_EQ(strs.list_begin, (std::vector<uint32_t>{0, 4, 5, 6, 10}));
  EXPECT_EQ(strs.Bytes(0), "foo");
  EXPECT_EQ(strs.Bytes(1), "zero");
  EXPECT_EQ(r->FindField("group_of_lists")->kind, ValueKind::kUnsupported);
  // Hive's arrays of INT and STRING (Impala's ComplexTypesTbl).
  auto h = OpenFixture("hive_arrays.parquet");
  Column ids = Read(*h, "id");
  ASSERT_EQ(ids.rows, 11u);
  EXPECT_EQ(ids.i64[0], 1);
  Column arr1 = Read(*h, "arr1");
  EXPECT_EQ(arr1.list_begin[1], 5u);
  EXPECT_EQ(arr1.i64[0], 1);
  Column arr2 = Read(*h, "arr2");
  EXPECT_EQ(arr2.Bytes(arr2.list_begin[0]), "one");
  EXPECT_EQ(arr2.Bytes(arr2.list_begin[0] + 2), "three");
}

TEST(ParquetReader, DatesAndMillisecondTimestampsAsDuckDbReadsThem) {
  // DuckDB's test/parquet/test_parquet_reader.test_slow gives these files' values.
  auto d = OpenFixture("date.parquet");
  std::vector<std::string> got;
  for (size_t rg = 0; rg < d->num_row_groups(); ++rg) {
    Column c = Read(*d, "d", rg);
    for (size_t r = 0; r < c.rows; ++r) {
      got.push_back(c.valid[r] ? FormatTimestamp(c.i64[r]).substr(0, 10) : "NULL");
    }
  }
  const std::vector<std::string> want = {
      "1970-01-01", "1971-01-01", "1972-01-01", "1973-01-01", "1974-01-01", "1975-01-01",
      "1975-02-01", "1975-03-01", "1975-04-01", "1975-05-01", "1976-01-01", "1977-01-01",
      "NULL",       "NULL",       "1982-01-01", "1983-01-01", "1984-01-01", "1985-01-01",
      "1985-02-01", "1985-03-01", "1985-04-01", "1985-05-01", "NULL",       "NULL",
      "1990-01-01", "1991-01-01", "1992-01-01", "1993-01-01", "1994-01-01", "NULL",
      "NULL",       "NULL",       "NULL",       "NULL",       "1996-01-01", "1997-01-01"};
  EXPECT_EQ(got, want);
  // test/sql/copy/parquet/parquet_stats.test: 1900-01-01 and 2030-12-31 (23:59:59).
  auto s = OpenFixture("date_stats.parquet");
  EXPECT_EQ(FormatTimestamp(Read(*s, "date_val").i64[0]), "1900-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(Read(*s, "date_val").i64[1]), "2030-12-31T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(Read(*s, "timestamp_val").i64[0]), "1990-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(Read(*s, "timestampms_val").i64[1]), "2030-12-31T23:59:59Z");
  EXPECT_EQ(s->FindField("time_val")->kind, ValueKind::kUnsupported);  // TIME of day
  // test/sql/copy/parquet/parquet_arrow_timestamp.test: TIMESTAMP(MILLIS).
  auto ms = OpenFixture("timestamp-ms.parquet");
  EXPECT_EQ(FormatTimestamp(Read(*ms, "Time").i64[0]), "2020-10-05T17:21:49Z");
  // Spark's DATE (fastparquet's spark-date-empty-rg.parq part 5).
  auto sp = OpenFixture("spark_date.parquet");
  EXPECT_EQ(FormatTimestamp(Read(*sp, "Date").i64[0]), "2020-01-01T00:00:00Z");
}

TEST(ParquetReader, EmptyAndManyRowGroups) {
  // Arrow 11 (parquet-java's fixture): row groups of 1, 0 and 3 rows; the empty one is read as
  // no rows (its chunk offsets point at no page: reading them was an error before).
  auto e = OpenFixture("test-empty-row-group_2.parquet");
  ASSERT_EQ(e->num_row_groups(), 3u);
  EXPECT_EQ(Read(*e, "a", 0).i64, (std::vector<int64_t>{0}));
  EXPECT_EQ(Read(*e, "a", 1).rows, 0u);
  EXPECT_EQ(Read(*e, "a", 2).i64, (std::vector<int64_t>{2, 2, 2}));
  auto kv = OpenFixture("column_chunk_key_value_metadata.parquet");  // one empty row group
  EXPECT_EQ(Read(*kv, "column1").rows, 0u);
  // Spark's part file with no row group at all: the schema alone.
  auto none = OpenFixture("spark_date_no_row_group.parquet");
  EXPECT_EQ(none->num_row_groups(), 0u);
  EXPECT_EQ(none->FindField("Date")->kind, ValueKind::kTimestamp);
  // Impala: 8 row groups of one BYTE_ARRAY column.
  auto m = OpenFixture("multiple_rowgroups.parquet");
  ASSERT_EQ(m->num_row_groups(), 8u);
  for (size_t rg = 0; rg < m->num_row_groups(); ++rg) {
    Column c = Read(*m, "field", rg);
    EXPECT_EQ(static_cast<int64_t>(c.rows), m->row_group_rows(rg));
    EXPECT_EQ(c.off.size(), c.rows + 1);
  }
  EXPECT_EQ(Read(*m, "field", 0).Bytes(0).substr(0, 10), "us depths.");
  // parquet-cpp-arrow with sorting columns: a null then 2, 1 in each of two row groups.
  auto sc = OpenFixture("sort_columns.parquet");
  Column a = Read(*sc, "a", 1);
  EXPECT_EQ(a.valid, (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ(a.i64[1], 2);
  EXPECT_EQ(Read(*sc, "b", 1).Bytes(2), "c");
  // fastparquet 0.8.2 with non-standard key-value metadata; DuckDB's CloudTrail extract.
  EXPECT_EQ(Read(*OpenFixture("non-std-kvm.fp-0.8.2.parquet"), "a").i64, (std::vector<int64_t>{1}));
  auto ct = OpenFixture("internal_5994.parquet");
  Column ids = Read(*ct, "eventId");
  EXPECT_EQ(ids.rows, 121u);
  EXPECT_EQ(ids.Bytes(0).substr(0, 8), "f9be51fb");
}

TEST(ParquetReader, AnAllNullPageWithNoValuesSection) {
  // parquet-testing: a v2 page of one null FLOAT whose values section is zero bytes, marked
  // compressed (Snappy). Decompressing zero bytes failed before.
  auto f = OpenFixture("datapage_v2_empty_datapage.snappy.parquet");
  Column c = Read(*f, "value");
  ASSERT_EQ(c.rows, 1u);
  EXPECT_EQ(c.valid, (std::vector<uint8_t>{0}));
}

TEST(ParquetReader, UnsupportedShapesAreNamed) {
  auto f = OpenFixture("nested_lists.snappy.parquet");
  const Field* a = f->FindField("a");
  auto c = f->ReadColumn(0, *a);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("nested lists"), std::string::npos);
  EXPECT_NE(c.status().message().find("nested_lists.snappy.parquet"), std::string::npos);
  auto d = OpenFixture("int32_decimal.parquet");
  auto v = d->ReadColumn(0, *d->FindField("value"));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("INT32 (DECIMAL)"), std::string::npos);
  auto flba = OpenFixture("fixed_length_byte_array.parquet");
  EXPECT_EQ(Read(*flba, "flba_field").kind, ValueKind::kBytes);
  auto st = OpenFixture("nulls.snappy.parquet");
  EXPECT_EQ(st->FindField("b_struct")->kind, ValueKind::kUnsupported);  // a struct
  auto old = OpenFixture("old_list_structure.parquet");                 // a list of lists
  EXPECT_EQ(old->FindField("a")->kind, ValueKind::kUnsupported);
  auto rep = OpenFixture("repeated_no_annotation.parquet");  // footer num_rows 0, row group 6
  EXPECT_EQ(Read(*rep, "id").i64, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  // parquet-rs 53.2: a map with keys and no values has a single leaf; it is no list.
  auto mnv = OpenFixture("map_no_value.parquet");
  EXPECT_EQ(mnv->FindField("my_map_no_v")->kind, ValueKind::kUnsupported);
  EXPECT_EQ(mnv->FindField("my_map")->kind, ValueKind::kUnsupported);
  EXPECT_EQ(Read(*mnv, "my_list").list_begin, (std::vector<uint32_t>{0, 3, 6, 9}));
  auto z = OpenFixture("dict-page-offset-zero.parquet");
  EXPECT_EQ(Read(*z, "l_partkey").i64[0], 1552);
}

TEST(ParquetReader, HostileBytesGiveErrors) {
  std::ifstream in(Fixture("alltypes_plain.parquet"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string good = ss.str();
  EXPECT_FALSE(ParquetFile::FromBytes("PAR1", "x").ok());
  EXPECT_FALSE(ParquetFile::FromBytes("hello,world\n1,2\n", "x").ok());
  // Every single-byte corruption and every truncation: an error or a result, never a crash.
  size_t errors = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ x);
      auto f = ParquetFile::FromBytes(bad, "bad");
      if (!f.ok()) {
        ++errors;
        continue;
      }
      for (size_t rg = 0; rg < (*f)->num_row_groups(); ++rg) {
        for (const Field& fl : (*f)->fields()) errors += !(*f)->ReadColumn(rg, fl).ok();
      }
    }
  }
  EXPECT_GT(errors, 0u);
  for (size_t n = 0; n < good.size(); n += 7) {
    EXPECT_FALSE(ParquetFile::FromBytes(good.substr(0, n), "cut").ok()) << n;
  }
}

TEST(ParquetReader, SymlinksAreNotFollowed) {
  std::string link = ::testing::TempDir() + "/parquet_link.parquet";
  std::remove(link.c_str());
  ASSERT_EQ(::symlink(Fixture("alltypes_plain.parquet").c_str(), link.c_str()), 0);
  auto f = ParquetFile::Open(link);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("symbolic link"), std::string::npos);
  std::remove(link.c_str());
}

}  // namespace
}  // namespace larder::parquet
