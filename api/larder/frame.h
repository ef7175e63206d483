// A push request's table: named columns of equal length holding loosely typed cells, as read
// from CSV, JSON or a language binding. The writer converts cells to each view's dtypes and
// refuses the whole request on the first bad cell.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "larder/status.h"
#include "larder/types.h"

namespace larder {

// One input cell. CSV produces kString (or kNull for an empty cell); JSON produces whatever the
// JSON value is; bindings produce kBytes for raw byte strings.
struct Cell {
  enum class Kind : uint8_t { kNull, kBool, kInt, kDouble, kString, kBytes, kArray };
  Kind kind = Kind::kNull;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;          // kString (UTF-8 text) and kBytes (raw bytes)
  std::vector<Cell> arr;  // kArray

  static Cell Null() { return Cell{}; }
  static Cell Bool(bool v) {
    Cell c;
    c.kind = Kind::kBool;
    c.b = v;
    return c;
  }
  static Cell Int(int64_t v) {
    Cell c;
    c.kind = Kind::kInt;
    c.i = v;
    return c;
  }
  static Cell Double(double v) {
    Cell c;
    c.kind = Kind::kDouble;
    c.d = v;
    return c;
  }
  static Cell String(std::string v) {
    Cell c;
    c.kind = Kind::kString;
    c.s = std::move(v);
    return c;
  }
  static Cell Bytes(std::string v) {
    Cell c;
    c.kind = Kind::kBytes;
    c.s = std::move(v);
    return c;
  }
  static Cell Array(std::vector<Cell> v) {
    Cell c;
    c.kind = Kind::kArray;
    c.arr = std::move(v);
    return c;
  }
};

// A short human description of a cell for error messages: `"abc"`, `12`, `null`, `[...]`.
std::string DescribeCell(const Cell& c);

struct Frame {
  std::vector<std::string> names;
  std::vector<std::vector<Cell>> columns;  // columns[i] holds the cells of names[i]
  // Where the rows came from, for error messages: "driver_stats.csv" or "request body".
  std::string origin;
  // Optional: the 1-based source line of each row (CSV, JSONL). Empty = describe rows by index.
  std::vector<uint64_t> row_lines;
  // Optional: names row i in errors when the rows come from several places (materialize's rows
  // from the part files of a Parquet source: "part-1.parquet row 7"); used before the above.
  std::function<std::string(size_t)> describe_row;

  size_t num_rows() const { return columns.empty() ? 0 : columns[0].size(); }
  // Index of a column, or -1.
  int FindColumn(std::string_view name) const;
  // "driver_stats.csv line 7" or "request body row 3" (0-based index in, human text out).
  std::string DescribeRow(size_t row) const;
  // OK when every column has num_rows() cells and names are unique; else names the column.
  Status CheckShape() const;
};

}  // namespace larder
