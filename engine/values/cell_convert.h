// Cell -> typed value conversion (the write path's staging and the read path's join keys), and
// base64. Implemented in cell_convert.cc.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "larder/frame.h"
#include "larder/status.h"
#include "larder/types.h"

namespace larder {

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
