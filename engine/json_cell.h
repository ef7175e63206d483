// Internal: one JSON value to a Cell (engine/frame_json.cc), shared with cell_convert.cc.
#pragma once

#include <string_view>

#include "larder/frame.h"

namespace larder::frame_internal {
// Parses `text` as one JSON value and converts it to a cell (cell_convert.cc uses this for
// array cells given as JSON text). Errors: malformed JSON, objects, integers beyond int64.
Result<Cell> ParseJsonCell(std::string_view text);
}  // namespace larder::frame_internal
