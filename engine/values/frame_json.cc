// JSON readers of push input (simdjson DOM, error-code API only: nothing throws).
#include <simdjson.h>

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>

#include "engine/quote.h"
#include "engine/values/frame_readers.h"
#include "engine/values/json_cell.h"
#include "larder/frame.h"

namespace larder {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string_view StripBom(std::string_view text) {
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
  return text;
}

const char* JsonKindName(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown value";
}

// Converts `el` into *out, which must be a null (default) cell. Types were checked by the
// switch, so value_unsafe() reads are valid.
Status ConvertJson(element el, Cell* out) {
  switch (el.type()) {
    case element_type::NULL_VALUE:
      return Status::Ok();
    case element_type::BOOL:
      *out = Cell::Bool(el.get_bool().value_unsafe());
      return Status::Ok();
    case element_type::INT64:
      *out = Cell::Int(el.get_int64().value_unsafe());
      return Status::Ok();
    case element_type::UINT64:
      // Only integers above INT64_MAX are typed UINT64; a double would silently round them.
      return InvalidArgument(
          "integer out of range: " + std::to_string(el.get_uint64().value_unsafe()) +
          " does not fit in a signed 64-bit integer");
    case element_type::DOUBLE:
      *out = Cell::Double(el.get_double().value_unsafe());
      return Status::Ok();
    case element_type::STRING: {
      std::string_view s = el.get_string().value_unsafe();
      out->kind = Cell::Kind::kString;
      out->s.assign(s.data(), s.size());
      return Status::Ok();
    }
    case element_type::ARRAY: {
      simdjson::dom::array arr = el.get_array().value_unsafe();
      out->kind = Cell::Kind::kArray;
      out->arr.reserve(arr.size());
      for (element child : arr) {
        LARDER_RETURN_IF_ERROR(ConvertJson(child, &out->arr.emplace_back()));
      }
      return Status::Ok();
    }
    case element_type::OBJECT:
      return InvalidArgument("nested objects are not supported");
  }
  return InternalError("unknown JSON element type");
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using ColumnIndex = std::unordered_map<std::string, size_t, StringHash, std::equal_to<>>;

// Reads one JSON object per line into a frame. Invariant after each line: every column has
// one cell per row read so far.
class JsonLinesReader {
 public:
  explicit JsonLinesReader(const std::string& origin) { frame_.origin = origin; }

  Result<Frame> Read(std::string_view text) {
    uint64_t line = 0;
    while (!text.empty()) {
      ++line;
      size_t nl = text.find('\n');
      std::string_view one = text.substr(0, nl);
      text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
      if (IsBlank(one)) continue;
      LARDER_RETURN_IF_ERROR(ReadLine(one, line));
    }
    return std::move(frame_);
  }

 private:
  static bool IsBlank(std::string_view s) {
    return s.find_first_not_of(" \t\r") == std::string_view::npos;
  }

  Status Error(uint64_t line, const std::string& what) const {
    return InvalidArgument(frame_.origin + " line " + std::to_string(line) + ": " + what);
  }

  Status ReadLine(std::string_view text, uint64_t line) {
    element doc;
    if (auto err = parser_.parse(text.data(), text.size()).get(doc)) {
      return Error(line, std::string("invalid JSON: ") + simdjson::error_message(err));
    }
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) {
      return Error(line, std::string("expected a JSON object, got ") + JsonKindName(doc.type()));
    }
    const size_t row = frame_.row_lines.size();
    for (auto& column : frame_.columns) column.emplace_back();
    frame_.row_lines.push_back(line);
    size_t guess = 0;  // keys usually come in the same order on every line
    for (auto field : obj) {
      size_t col = ColumnFor(field.key, guess, row);
      guess = col + 1;
      if (last_set_[col] == row + 1) {
        return Error(line, "duplicate key " + QuoteInput(field.key));
      }
      last_set_[col] = row + 1;
      Status st = ConvertJson(field.value, &frame_.columns[col][row]);
      if (!st.ok())
        return Error(line, "column " + QuoteInput(frame_.names[col]) + ": " + st.message());
    }
    return Status::Ok();
  }

  // Index of the column named `key`, adding it (null in earlier rows) when new.
  size_t ColumnFor(std::string_view key, size_t guess, size_t row) {
    if (guess < frame_.names.size() && frame_.names[guess] == key) return guess;
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    size_t col = frame_.names.size();
    frame_.names.emplace_back(key);
    frame_.columns.emplace_back(row + 1);
    last_set_.push_back(0);
    index_.emplace(std::string(key), col);
    return col;
  }

  Frame frame_;
  simdjson::dom::parser parser_;
  ColumnIndex index_;
  std::vector<size_t> last_set_;  // per column: 1 + the last row that set it, 0 = none
};

}  // namespace

namespace frame_internal {

Result<Cell> ParseJsonCell(std::string_view text) {
  // Array cells are small and frequent (one per CSV row): keep one parser per thread.
  thread_local simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(text.data(), text.size()).get(doc)) {
    return InvalidArgument(std::string("invalid JSON: ") + simdjson::error_message(err));
  }
  Cell cell;
  LARDER_RETURN_IF_ERROR(ConvertJson(doc, &cell));
  return cell;
}

}  // namespace frame_internal

namespace frame_internal {

size_t ArrayLength(simdjson::dom::array arr) {
  // simdjson's size() saturates at 0xFFFFFF: past it, count the elements (no allocation).
  constexpr size_t kSaturated = 0xFFFFFF;
  size_t n = arr.size();
  if (n < kSaturated) return n;
  n = 0;
  for ([[maybe_unused]] element e : arr) ++n;
  return n;
}

namespace {

// An upper bound of the cells the columns of `obj` would take as a frame of `rows` rows, from
// simdjson's tape alone (nothing converted): a column of scalars takes one cell a value (its
// tape has two words for the array and one or two a scalar), one holding nested arrays or
// objects at most one a tape word; a single value is repeated on every row.
size_t CellsOf(simdjson::dom::object obj, size_t rows) {
  size_t cells = 0;
  for (auto field : obj) {
    simdjson::dom::array arr;
    if (field.value.get_array().get(arr)) {
      cells += rows;
      continue;
    }
    const size_t length = ArrayLength(arr);
    const size_t words = arr.number_of_slots();
    cells += words > 2 * length + 2 ? words : length;
  }
  return cells;
}

}  // namespace

Result<Frame> FrameFromJsonColumns(simdjson::dom::element doc, const std::string& origin,
                                   ScalarColumns scalars, const RowCheck& check_rows) {
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) {
    return InvalidArgument(origin +
                           ": expected a JSON object of columns ({\"column\": [values"
                           ", ...], ...}), got " +
                           JsonKindName(doc.type()));
  }
  Frame frame;
  frame.origin = origin;
  // The row count and the column that sets it: the first array column.
  size_t rows = 0;
  std::string rows_from;
  for (auto field : obj) {
    simdjson::dom::array arr;
    if (!field.value.get_array().get(arr)) {
      rows = ArrayLength(arr);
      rows_from = std::string(field.key);
      break;
    }
  }
  // Before any cell is built: a caller's limit refuses the frame without its memory.
  if (check_rows) LARDER_RETURN_IF_ERROR(check_rows(FrameSize{rows, CellsOf(obj, rows)}));
  // Duplicate names: a linear scan while there are few columns (a request's entities: no
  // allocation), a hash index once there are many (a push of a million columns stays linear).
  constexpr size_t kScanColumns = 16;
  ColumnIndex seen;
  auto is_duplicate = [&](const std::string& name) {
    if (frame.names.size() < kScanColumns) {
      return std::find(frame.names.begin(), frame.names.end(), name) != frame.names.end();
    }
    if (seen.empty()) {
      for (size_t k = 0; k < frame.names.size(); ++k) seen.emplace(frame.names[k], k);
    }
    return !seen.emplace(name, frame.names.size()).second;
  };
  for (auto field : obj) {
    std::string name(field.key);
    if (is_duplicate(name)) {
      return InvalidArgument(origin + ": duplicate column " + QuoteInput(name));
    }
    simdjson::dom::array arr;
    if (field.value.get_array().get(arr)) {
      if (scalars == ScalarColumns::kRefuse) {
        return InvalidArgument(origin + ": column " + QuoteInput(name) + " is not an array (got " +
                               JsonKindName(field.value.type()) + ")");
      }
      if (rows_from.empty()) {
        return InvalidArgument(origin + ": every column is a single value (column " +
                               QuoteInput(name) +
                               "): give at least one column as an array of values");
      }
      Cell cell;
      Status st = ConvertJson(field.value, &cell);
      if (!st.ok()) {
        return InvalidArgument(origin + ": column " + QuoteInput(name) + ": " + st.message());
      }
      frame.columns.emplace_back(rows, cell);
      frame.names.push_back(std::move(name));
      continue;
    }
    // The length is compared before the column is allocated (a short first column and a long
    // second one would otherwise take the long one's cells).
    const size_t length = ArrayLength(arr);
    if (length != rows) {
      return InvalidArgument(origin + ": column " + QuoteInput(name) + " has " +
                             std::to_string(length) + " values but column " +
                             QuoteInput(rows_from) + " has " + std::to_string(rows));
    }
    std::vector<Cell>& column = frame.columns.emplace_back(rows);
    size_t i = 0;
    for (element value : arr) {
      Status st = ConvertJson(value, &column[i]);
      if (!st.ok()) {
        return InvalidArgument(origin + ": column " + QuoteInput(name) + " element " +
                               std::to_string(i) + ": " + st.message());
      }
      ++i;
    }
    frame.names.push_back(std::move(name));
  }
  return frame;
}

}  // namespace frame_internal

Result<Frame> ReadJsonColumnsFrame(std::string_view json, const std::string& origin) {
  json = StripBom(json);
  simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(json.data(), json.size()).get(doc)) {
    return InvalidArgument(origin + ": invalid JSON: " + simdjson::error_message(err));
  }
  return frame_internal::FrameFromJsonColumns(doc, origin);
}

Result<Frame> ReadJsonLinesFrame(std::string_view text, const std::string& origin) {
  return JsonLinesReader(origin).Read(StripBom(text));
}

}  // namespace larder
