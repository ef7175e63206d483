// RFC 4180 CSV reader: one pass over the input, cells built straight from slices of it.
#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>

#include "engine/values/frame_readers.h"
#include "larder/frame.h"

namespace larder {

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// How a field ended: at a comma (more fields follow in the record), at a line end, or at EOF.
enum class FieldEnd { kComma, kLineEnd, kEof };

class CsvReader {
 public:
  CsvReader(std::string_view text, const std::string& origin)
      : p_(text.data()), end_(text.data() + text.size()), origin_(origin) {}

  Result<Frame> Read() {
    Frame frame;
    frame.origin = origin_;
    if (AtTrailingBlankLines()) return frame;  // empty input (or only newlines)
    LARDER_RETURN_IF_ERROR(ReadHeader(&frame));
    // Upper bound on the record count; avoids regrowing the (large) cell vectors.
    size_t estimate = static_cast<size_t>(std::count(p_, end_, '\n')) + 1;
    for (auto& column : frame.columns) column.reserve(estimate);
    frame.row_lines.reserve(estimate);
    while (!AtTrailingBlankLines()) {
      LARDER_RETURN_IF_ERROR(ReadRecord(&frame));
    }
    return frame;
  }

 private:
  Status Error(uint64_t line, const std::string& what) const {
    return InvalidArgument(origin_ + " line " + std::to_string(line) + ": " + what);
  }

  // True when only line ends remain (or nothing): the reader stops there.
  bool AtTrailingBlankLines() const {
    return std::all_of(p_, end_, [](char c) { return c == '\n' || c == '\r'; });
  }

  bool AtLineEnd() const {
    return p_ < end_ && (*p_ == '\n' || (*p_ == '\r' && p_ + 1 < end_ && p_[1] == '\n'));
  }

  Status ReadHeader(Frame* frame) {
    std::unordered_set<std::string> seen;
    Cell cell;
    for (;;) {
      FieldEnd how;
      LARDER_RETURN_IF_ERROR(ReadField(&cell, &how));
      std::string name = cell.kind == Cell::Kind::kNull ? std::string() : std::move(cell.s);
      if (!seen.insert(name).second) {
        return Error(1, "duplicate column name '" + name + "' in the header");
      }
      frame->names.push_back(std::move(name));
      if (how != FieldEnd::kComma) break;
    }
    frame->columns.resize(frame->names.size());
    return Status::Ok();
  }

  // Reads one record into the frame's columns. On return p_ is at the next record.
  Status ReadRecord(Frame* frame) {
    const size_t want = frame->columns.size();
    const uint64_t record_line = line_;
    if (AtLineEnd() && want > 1) {
      return Error(record_line, "blank line (expected " + std::to_string(want) + " fields)");
    }
    frame->row_lines.push_back(record_line);
    size_t found = 0;
    Cell extra;  // fields beyond the header's count are read here and only counted
    for (;;) {
      Cell* dst = found < want ? &frame->columns[found].emplace_back() : &extra;
      FieldEnd how;
      LARDER_RETURN_IF_ERROR(ReadField(dst, &how));
      ++found;
      if (how != FieldEnd::kComma) break;
    }
    if (found != want) {
      return Error(record_line, "expected " + std::to_string(want) +
                                    " fields (as in the header), found " + std::to_string(found));
    }
    return Status::Ok();
  }

  // Reads the field at p_ into *out and consumes its terminator.
  Status ReadField(Cell* out, FieldEnd* how) {
    if (p_ < end_ && *p_ == '"') return ReadQuotedField(out, how);
    ReadUnquotedField(out, how);
    return Status::Ok();
  }

  // An unquoted field runs to the next comma or LF; a CR before the LF (or EOF) is dropped.
  // Empty means null.
  void ReadUnquotedField(Cell* out, FieldEnd* how) {
    const char* start = p_;
    const char* q = p_;
    while (q < end_ && *q != ',' && *q != '\n') ++q;
    const char* stop = q;
    if (q == end_ || *q == '\n') {
      if (stop > start && stop[-1] == '\r') --stop;
    }
    if (q == end_) {
      *how = FieldEnd::kEof;
      p_ = q;
    } else if (*q == ',') {
      *how = FieldEnd::kComma;
      p_ = q + 1;
    } else {
      *how = FieldEnd::kLineEnd;
      p_ = q + 1;
      ++line_;
    }
    if (stop == start) {
      *out = Cell::Null();
    } else {
      out->kind = Cell::Kind::kString;
      out->s.assign(start, static_cast<size_t>(stop - start));
    }
  }

  // A quoted field: text up to the closing quote, "" standing for one quote; newlines inside
  // count towards line_. The closing quote must be followed by a comma, a line end or EOF.
  Status ReadQuotedField(Cell* out, FieldEnd* how) {
    const uint64_t start_line = line_;
    out->kind = Cell::Kind::kString;
    out->s.clear();
    ++p_;  // opening quote
    for (;;) {
      const auto* q =
          static_cast<const char*>(std::memchr(p_, '"', static_cast<size_t>(end_ - p_)));
      if (q == nullptr) {
        return Error(start_line, "unterminated quoted field (no closing quote before the end)");
      }
      line_ += static_cast<uint64_t>(std::count(p_, q, '\n'));
      out->s.append(p_, static_cast<size_t>(q - p_));
      p_ = q + 1;
      if (p_ < end_ && *p_ == '"') {  // escaped quote
        out->s.push_back('"');
        ++p_;
        continue;
      }
      break;
    }
    if (p_ == end_) {
      *how = FieldEnd::kEof;
    } else if (*p_ == ',') {
      *how = FieldEnd::kComma;
      ++p_;
    } else if (AtLineEnd()) {
      *how = FieldEnd::kLineEnd;
      p_ += *p_ == '\r' ? 2 : 1;
      ++line_;
    } else if (*p_ == '\r' && p_ + 1 == end_) {
      *how = FieldEnd::kEof;
      ++p_;
    } else {
      return Error(line_, std::string("unexpected character '") + *p_ +
                              "' after the closing quote of a field");
    }
    return Status::Ok();
  }

  const char* p_;
  const char* const end_;
  const std::string& origin_;
  uint64_t line_ = 1;  // 1-based line of p_
};

}  // namespace

Result<Frame> ReadCsvFrame(std::string_view text, const std::string& origin) {
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
  return CsvReader(text, origin).Read();
}

}  // namespace larder
