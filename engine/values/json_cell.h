// Internal JSON-to-cell conversions of engine/values/frame_json.cc, shared with cell_convert.cc and
// wire/request_json.cc.
#pragma once

#include <simdjson.h>

#include <functional>
#include <string>
#include <string_view>

#include "larder/frame.h"

namespace larder::frame_internal {
// Parses `text` as one JSON value and converts it to a cell (cell_convert.cc uses this for
// array cells given as JSON text). Errors: malformed JSON, objects, integers beyond int64.
Result<Cell> ParseJsonCell(std::string_view text);
// What a column given as a single value (not an array) means.
enum class ScalarColumns : uint8_t {
  kRefuse,     // an error naming the column
  kBroadcast,  // the value repeated on every row, as pandas.DataFrame(dict) does; at least one
               // column must be an array (it gives the row count; pandas refuses an all-scalar
               // dict too)
};
// The number of elements of `arr`, exact (simdjson's size() stops counting at 0xFFFFFF).
size_t ArrayLength(simdjson::dom::array arr);
// The size of a frame before any of its cells is built: its rows, and an upper bound of the
// cells it would take (each column's values, nested values included).
struct FrameSize {
  size_t rows = 0;
  size_t cells = 0;
};
// Judges a frame's size before any of its cells is built; an error refuses the frame.
using RowCheck = std::function<Status(const FrameSize& size)>;
// Converts a parsed JSON object of columns ({"col": [values, ...], ...}) into a Frame; errors
// name `origin`, the column and the element. The row count is that of the first array column;
// `check_rows` (when given) is called with the row count and the cells the frame would take
// (FrameSize) before any value is converted or any column allocated.
Result<Frame> FrameFromJsonColumns(simdjson::dom::element doc, const std::string& origin,
                                   ScalarColumns scalars = ScalarColumns::kRefuse,
                                   const RowCheck& check_rows = {});
}  // namespace larder::frame_internal
