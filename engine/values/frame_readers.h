// Readers of push input into a Frame: CSV (frame_csv.cc), Feast's JSON `df` and JSON lines
// (frame_json.cc), and a file reader that picks one by extension (frame.cc).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "larder/frame.h"
#include "larder/status.h"

namespace larder {

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

}  // namespace larder
