// CSV push input: the header and records read by the project's one CSV grammar
// (CsvStream, engine/values/csv_stream.h), each field made a cell.
#include <algorithm>
#include <string>
#include <unordered_set>

#include "engine/values/csv_stream.h"
#include "engine/values/frame_readers.h"
#include "larder/frame.h"

namespace larder {

Result<Frame> ReadCsvFrame(std::string_view text, const std::string& origin) {
  Frame frame;
  frame.origin = origin;
  CsvStream cs(text, origin);
  LARDER_ASSIGN_OR_RETURN(bool has_header, cs.Next());
  if (!has_header) return frame;  // empty input (or only blank lines)
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < cs.num_fields(); ++i) frame.names.emplace_back(cs.field(i));
  for (const std::string& name : frame.names) {
    if (!seen.insert(name).second) {
      return InvalidArgument(origin + " line " + std::to_string(cs.line()) +
                             ": duplicate column name '" + name + "' in the header");
    }
  }
  frame.columns.resize(frame.names.size());
  cs.set_expected_fields(frame.names.size());
  // Upper bound on the record count; avoids regrowing the (large) cell vectors.
  const size_t estimate = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (auto& column : frame.columns) column.reserve(estimate);
  frame.row_lines.reserve(estimate);
  for (;;) {
    LARDER_ASSIGN_OR_RETURN(bool more, cs.Next());
    if (!more) break;
    frame.row_lines.push_back(cs.line());
    for (size_t i = 0; i < frame.columns.size(); ++i) {
      if (cs.is_null(i)) {
        frame.columns[i].push_back(Cell::Null());
      } else {
        frame.columns[i].push_back(Cell::String(std::string(cs.field(i))));
      }
    }
  }
  return frame;
}

}  // namespace larder
