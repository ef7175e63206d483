// Timestamps as Feast's bodies and files spell them: parsing RFC 3339 / ISO 8601 text or epoch
// seconds into microseconds since the Unix epoch (UTC), and formatting them back.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "larder/frame.h"
#include "larder/status.h"
#include "larder/types.h"

namespace larder {

// Parses RFC 3339 / ISO 8601: "2022-05-13 10:59:42+00:00", "2022-05-13T10:59:42.123Z",
// "2022-05-13T10:59:42" (naive = UTC), "2022-05-13" (midnight UTC); fractional seconds to
// microseconds; offsets +HH:MM / +HHMM / Z. Out-of-range fields are errors naming the text.
Result<TimestampMicros> ParseTimestamp(std::string_view text);
// "2022-05-13T10:59:42Z", with ".ffffff" only when micros are non-zero (trailing zeros trimmed
// to 3 or 6 digits).
std::string FormatTimestamp(TimestampMicros ts);
// A timestamp cell: a string as above, or a number of epoch seconds (fraction allowed).
Result<TimestampMicros> CellToTimestamp(const Cell& c);

}  // namespace larder
