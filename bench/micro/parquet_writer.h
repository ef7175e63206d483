// A minimal Parquet writer for benchmarks only (Larder itself writes no Parquet): required
// INT64 and FLOAT columns, PLAIN encoding, uncompressed, one data page (v1) per column chunk,
// row groups of a fixed size, INT64 timestamp columns as legacy TIMESTAMP_MICROS with min /
// max statistics. Footer in the Thrift compact protocol (parquet.thrift field ids).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace larder::bench {

class ThriftOut {
 public:
  std::string buf;
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      buf.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    buf.push_back(static_cast<char>(v));
  }
  void Zig(int64_t v) { Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void Field(int id, int type) {
    const int delta = id - last_.back();
    if (delta > 0 && delta <= 15) {
      buf.push_back(static_cast<char>((delta << 4) | type));
    } else {
      buf.push_back(static_cast<char>(type));
      Zig(id);
    }
    last_.back() = id;
  }
  void I32(int id, int32_t v) { Field(id, 5), Zig(v); }
  void I64(int id, int64_t v) { Field(id, 6), Zig(v); }
  void Bin(int id, const std::string& s) { Field(id, 8), Varint(s.size()), buf += s; }
  void ListHeader(int id, int elem_type, size_t n) {
    Field(id, 9);
    if (n < 15) {
      buf.push_back(static_cast<char>((n << 4) | static_cast<size_t>(elem_type)));
    } else {
      buf.push_back(static_cast<char>(0xf0 | elem_type));
      Varint(n);
    }
  }
  void BeginStruct(int id) { Field(id, 12), last_.push_back(0); }
  void BeginElem() { last_.push_back(0); }  // a struct inside a list
  void End() { buf.push_back(0), last_.pop_back(); }

 private:
  std::vector<int> last_{0};
};

struct ParquetColumnSpec {
  std::string name;
  bool is_float = false;      // FLOAT, else INT64
  bool is_timestamp = false;  // INT64 TIMESTAMP_MICROS, with statistics
};

// Writes `rows` rows; value(c, r) gives column c's value of row r (as double for FLOAT, int64
// otherwise, via the two callbacks).
template <class IntAt, class FloatAt>
void WriteParquet(const std::string& path, const std::vector<ParquetColumnSpec>& cols, int64_t rows,
                  int64_t rows_per_group, IntAt int_at, FloatAt float_at) {
  std::ofstream out(path, std::ios::binary);
  out << "PAR1";
  uint64_t offset = 4;
  struct Chunk {
    int64_t offset, size;
    int64_t min, max;
  };
  std::vector<std::vector<Chunk>> groups;
  std::vector<int64_t> group_rows;
  std::string values;
  for (int64_t first = 0; first < rows; first += rows_per_group) {
    const int64_t n = std::min(rows_per_group, rows - first);
    group_rows.push_back(n);
    auto& chunks = groups.emplace_back();
    for (size_t c = 0; c < cols.size(); ++c) {
      values.clear();
      int64_t mn = INT64_MAX, mx = INT64_MIN;
      for (int64_t r = first; r < first + n; ++r) {
        if (cols[c].is_float) {
          const float v = float_at(c, r);
          values.append(reinterpret_cast<const char*>(&v), 4);
        } else {
          const int64_t v = int_at(c, r);
          mn = std::min(mn, v), mx = std::max(mx, v);
          values.append(reinterpret_cast<const char*>(&v), 8);
        }
      }
      ThriftOut h;  // PageHeader
      h.I32(1, 0);  // DATA_PAGE
      h.I32(2, static_cast<int32_t>(values.size()));
      h.I32(3, static_cast<int32_t>(values.size()));
      h.BeginStruct(5);  // DataPageHeader
      h.I32(1, static_cast<int32_t>(n));
      h.I32(2, 0);  // PLAIN
      h.I32(3, 3);  // RLE
      h.I32(4, 3);
      h.End();
      h.End();
      out << h.buf << values;
      const auto size = static_cast<int64_t>(h.buf.size() + values.size());
      chunks.push_back({static_cast<int64_t>(offset), size, mn, mx});
      offset += static_cast<uint64_t>(size);
    }
  }
  ThriftOut f;  // FileMetaData
  f.I32(1, 1);
  f.ListHeader(2, 12, cols.size() + 1);
  f.BeginElem();
  f.Bin(4, "schema");
  f.I32(5, static_cast<int32_t>(cols.size()));
  f.End();
  for (const ParquetColumnSpec& c : cols) {
    f.BeginElem();
    f.I32(1, c.is_float ? 4 : 2);  // FLOAT / INT64
    f.I32(3, 0);                   // REQUIRED
    f.Bin(4, c.name);
    if (c.is_timestamp) f.I32(6, 10);  // TIMESTAMP_MICROS
    f.End();
  }
  f.I64(3, rows);
  f.ListHeader(4, 12, groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    f.BeginElem();
    f.ListHeader(1, 12, cols.size());
    int64_t total = 0;
    for (size_t c = 0; c < cols.size(); ++c) {
      const Chunk& k = groups[g][c];
      total += k.size;
      f.BeginElem();       // ColumnChunk
      f.I64(2, k.offset);  // file_offset
      f.BeginStruct(3);    // ColumnMetaData
      f.I32(1, cols[c].is_float ? 4 : 2);
      f.ListHeader(2, 5, 1);
      f.Zig(0);  // PLAIN
      f.ListHeader(3, 8, 1);
      f.Varint(cols[c].name.size());
      f.buf += cols[c].name;
      f.I32(4, 0);  // UNCOMPRESSED
      f.I64(5, group_rows[g]);
      f.I64(6, k.size);
      f.I64(7, k.size);
      f.I64(9, k.offset);
      if (cols[c].is_timestamp) {
        f.BeginStruct(12);  // Statistics: max_value (5), min_value (6), plain-encoded
        f.Bin(5, std::string(reinterpret_cast<const char*>(&k.max), 8));
        f.Bin(6, std::string(reinterpret_cast<const char*>(&k.min), 8));
        f.End();
      }
      f.End();
      f.End();
    }
    f.I64(2, total);
    f.I64(3, group_rows[g]);
    f.End();
  }
  f.Bin(6, "larder bench writer");
  f.buf.push_back(0);  // the FileMetaData's stop byte
  out << f.buf;
  const auto footer_len = static_cast<uint32_t>(f.buf.size());
  out.write(reinterpret_cast<const char*>(&footer_len), 4);
  out << "PAR1";
}

}  // namespace larder::bench
