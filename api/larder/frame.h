// A push request's table: named columns of equal length holding loosely typed cells, as read
// from CSV, JSON or a language binding. The writer converts cells to each view's dtypes and
// refuses the whole request on the first bad cell.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
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
  static Cell Bool(bool v) { Cell c; c.kind = Kind::kBool; c.b = v; return c; }
  static Cell Int(int64_t v) { Cell c; c.kind = Kind::kInt; c.i = v; return c; }
  static Cell Double(double v) { Cell c; c.kind = Kind::kDouble; c.d = v; return c; }
  static Cell String(std::string v) { Cell c; c.kind = Kind::kString; c.s = std::move(v); return c; }
  static Cell Bytes(std::string v) { Cell c; c.kind = Kind::kBytes; c.s = std::move(v); return c; }
  static Cell Array(std::vector<Cell> v) { Cell c; c.kind = Kind::kArray; c.arr = std::move(v); return c; }
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

  size_t num_rows() const { return columns.empty() ? 0 : columns[0].size(); }
  // Index of a column, or -1.
  int FindColumn(std::string_view name) const;
  // "driver_stats.csv line 7" or "request body row 3" (0-based index in, human text out).
  std::string DescribeRow(size_t row) const;
  // OK when every column has num_rows() cells and names are unique; else names the column.
  Status CheckShape() const;
};

// ---- Readers of push input (engine/values/frame_csv.cc, engine/values/frame_json.cc) ----

// CSV with a header row (RFC 4180: quoted fields, "" escapes, embedded commas and newlines).
// An empty unquoted cell is null; every other cell is kString. Fills row_lines.
Result<Frame> ReadCsvFrame(std::string_view text, const std::string& origin);
// Feast's `df` object: {"col": [v, ...], ...}. JSON null/bool/number/string/array map to cells
// (integers that fit int64 become kInt, other numbers kDouble).
Result<Frame> ReadJsonColumnsFrame(std::string_view json, const std::string& origin);
// One JSON object per line ({"col": v, ...}); blank lines skipped; a key missing on a line is
// null for that row. Fills row_lines.
Result<Frame> ReadJsonLinesFrame(std::string_view text, const std::string& origin);
// Picks the reader by extension (.csv, .json, .jsonl); errors name the file.
Result<Frame> ReadFrameFile(const std::string& path);

// ---- Conversions (engine/values/cell_convert.cc) ----

// Parses RFC 3339 / ISO 8601: "2022-05-13 10:59:42+00:00", "2022-05-13T10:59:42.123Z",
// "2022-05-13T10:59:42" (naive = UTC), "2022-05-13" (midnight UTC); fractional seconds to
// microseconds; offsets +HH:MM / +HHMM / Z. Out-of-range fields are errors naming the text.
Result<TimestampMicros> ParseTimestamp(std::string_view text);
// "2022-05-13T10:59:42Z", with ".ffffff" only when micros are non-zero (trailing zeros trimmed
// to 3 or 6 digits).
std::string FormatTimestamp(TimestampMicros ts);
// A timestamp cell: a string as above, or a number of epoch seconds (fraction allowed).
Result<TimestampMicros> CellToTimestamp(const Cell& c);

// Converts a cell to a value of `dtype`. Null cells give a null Value. Strings are parsed for
// numeric/bool/timestamp dtypes (CSV); an array dtype accepts a kArray or a string holding a JSON
// array. Bytes accept kBytes, or kString holding base64. Integers are range-checked (Int32);
// numbers out of an integer dtype's range, fractions for integers, and wrong kinds are errors
// whose message names the value and the dtype (the caller adds row and column).
Result<Value> CellToValue(const Cell& c, DType dtype);
// The same conversion into `*out`, reusing its buffers (no Value built and moved per call: the
// read path converts every entity row's join keys). On error `*out` is unchanged.
Status CellToValueInto(const Cell& c, DType dtype, Value* out);

// Standard base64 (RFC 4648) with padding.
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace larder
