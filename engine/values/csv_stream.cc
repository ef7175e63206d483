// Chunked RFC 4180 reader for batch-source files and memory text, the record-boundary scanner,
// and packed records.
#include "engine/values/csv_stream.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace larder {

namespace {

constexpr size_t kMinChunk = 64 << 10;
constexpr size_t kMaxChunk = 4 << 20;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// pread until `n` bytes or end of file; returns the count read.
Result<size_t> PreadFull(int fd, char* dst, size_t n, uint64_t offset, const std::string& what) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, dst + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return IoError("cannot read '" + what + "': " + std::strerror(errno));
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

}  // namespace

int64_t CsvBoundaryScanner::Scan(const char* data, size_t n) {
  int64_t last = -1;
  size_t i = 0;
  while (i < n) {
    char c = data[i];
    switch (state_) {
      case State::kQuoted: {
        const void* q = std::memchr(data + i, '"', n - i);
        if (q == nullptr) return last;
        i = static_cast<size_t>(static_cast<const char*>(q) - data) + 1;
        state_ = State::kQuoteInQuoted;
        continue;
      }
      case State::kQuoteInQuoted:
        if (c == '"') {
          state_ = State::kQuoted;
        } else if (c == ',') {
          state_ = State::kFieldStart;
        } else if (c == '\n') {
          state_ = State::kFieldStart;
          last = static_cast<int64_t>(i) + 1;
        } else if (c != '\r') {
          state_ = State::kUnquoted;  // malformed; the reader reports it
        }
        break;
      case State::kFieldStart:
        if (c == '"') {
          state_ = State::kQuoted;
          break;
        }
        [[fallthrough]];
      case State::kUnquoted:
        if (c == ',') {
          state_ = State::kFieldStart;
        } else if (c == '\n') {
          state_ = State::kFieldStart;
          last = static_cast<int64_t>(i) + 1;
        } else {
          state_ = State::kUnquoted;
        }
        break;
    }
    ++i;
  }
  return last;
}

Result<uint64_t> FindLastRecordBoundary(int fd, uint64_t from, uint64_t size) {
  CsvBoundaryScanner scanner;
  std::vector<char> buf(std::min<uint64_t>(kMaxChunk, std::max<uint64_t>(size - from, 1)));
  uint64_t boundary = from;
  for (uint64_t off = from; off < size;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - off));
    LARDER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd, buf.data(), want, off, "batch source"));
    if (got == 0) break;
    int64_t last = scanner.Scan(buf.data(), got);
    if (last >= 0) boundary = off + static_cast<uint64_t>(last);
    off += got;
  }
  return boundary;
}

CsvStream::CsvStream(int fd, uint64_t limit, std::string origin)
    : fd_(fd), limit_(limit), origin_(std::move(origin)) {
  buf_.resize(static_cast<size_t>(std::clamp<uint64_t>(limit + 1, kMinChunk, kMaxChunk)));
  eof_ = limit_ == 0;
}

CsvStream::CsvStream(std::string_view text, std::string origin)
    : text_(text.data() != nullptr ? text.data() : ""),
      limit_(text.size()),
      origin_(std::move(origin)),
      len_(text.size()),
      eof_(true) {}

CsvStream::~CsvStream() = default;

Status CsvStream::Error(uint64_t line, const std::string& what) const {
  return Status(text_ != nullptr ? ErrorCode::kInvalidArgument : ErrorCode::kDataSourceError,
                origin_ + " line " + std::to_string(line) + ": " + what);
}

Status CsvStream::Refill(bool* got_more) {
  *got_more = false;
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, len_ - pos_);
    base_offset_ += pos_;
    len_ -= pos_;
    pos_ = 0;
  }
  if (len_ == buf_.size()) buf_.resize(buf_.size() * 2);  // one record longer than a chunk
  uint64_t at = base_offset_ + len_;
  size_t want = static_cast<size_t>(std::min<uint64_t>(buf_.size() - len_, limit_ - at));
  LARDER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd_, buf_.data() + len_, want, at, origin_));
  len_ += got;
  // A file that shrank under us ends where it ends.
  eof_ = got < want || base_offset_ + len_ == limit_;
  *got_more = got > 0;
  return Status::Ok();
}

CsvStream::Parse CsvStream::ParseRecord(Status* error) {
  const char* b = data();
  if (!bom_checked_) {  // only the file's first bytes can hold a byte order mark
    if (len_ < kUtf8Bom.size() && !eof_) return Parse::kNeedMore;
    bom_checked_ = true;
    if (std::string_view(b, len_).substr(0, kUtf8Bom.size()) == kUtf8Bom) pos_ = kUtf8Bom.size();
  }
  size_t p = pos_;
  // Blank lines. In memory text, whatever run of CRs and LFs ends the text too (line ends
  // converted twice, "\r\r\n", leave such runs).
  for (;;) {
    if (p < len_ && b[p] == '\n') {
      ++p;
    } else if (p + 1 < len_ && b[p] == '\r' && b[p + 1] == '\n') {
      p += 2;
    } else if (p < len_ && b[p] == '\r' && text_ != nullptr &&
               std::all_of(b + p, b + len_, [](char c) { return c == '\r' || c == '\n'; })) {
      line_ += static_cast<uint64_t>(std::count(b + p, b + len_, '\n'));
      pos_ = p = len_;
      break;
    } else {
      break;
    }
    ++line_;
    pos_ = p;
  }
  if (p == len_) return eof_ ? Parse::kEnd : Parse::kNeedMore;
  const size_t start = p;
  size_t n = 0;  // fields so far (spans_ keeps its size between records: no reallocation)
  auto add = [this, &n](const Span& span) {
    if (n == spans_.size()) {
      spans_.push_back(span);
    } else {
      spans_[n] = span;
    }
    ++n;
  };
  scratch_.clear();
  uint64_t inner_lines = 0;  // line feeds inside quoted fields
  size_t end = 0;            // end of the record's text (before its line end)
  for (;;) {
    if (p < len_ && b[p] == '"') {
      open_quote_line_ = line_ + inner_lines;
      size_t seg = p + 1;
      size_t q = seg;
      bool escaped = false;
      const size_t sbegin = scratch_.size();
      size_t close = 0;
      for (;;) {
        const void* hit = std::memchr(b + q, '"', len_ - q);
        if (hit == nullptr) return Parse::kNeedMore;
        size_t h = static_cast<size_t>(static_cast<const char*>(hit) - b);
        if (h + 1 == len_ && !EndIsLineEnd(h + 1)) {
          return Parse::kNeedMore;  // a closing quote or half of ""?
        }
        if (h + 1 < len_ && b[h + 1] == '"') {
          scratch_.append(b + seg, h + 1 - seg);
          q = seg = h + 2;
          escaped = true;
          continue;
        }
        close = h;
        break;
      }
      inner_lines += static_cast<uint64_t>(std::count(b + p + 1, b + close, '\n'));
      if (escaped) {
        scratch_.append(b + seg, close - seg);
        add({sbegin, scratch_.size() - sbegin, true, false});
      } else {
        add({p + 1, close - p - 1, false, false});
      }
      p = close + 1;
      if (EndIsLineEnd(p)) {
        end = p;
        break;
      }
      if (p == len_) return Parse::kNeedMore;
      if (b[p] == ',') {
        ++p;
        continue;
      }
      if (b[p] == '\n') {
        end = p++;
        break;
      }
      if (b[p] == '\r') {
        if (EndIsLineEnd(p + 1)) {
          end = p++;
          break;
        }
        if (p + 1 == len_) return Parse::kNeedMore;
        if (b[p + 1] == '\n') {
          end = p;
          p += 2;
          break;
        }
      }
      *error = Error(line_ + inner_lines, std::string("unexpected character '") + b[p] +
                                              "' after the closing quote of a field");
      return Parse::kError;
    }
    size_t q = p;
    while (q < len_ && b[q] != ',' && b[q] != '\n') ++q;
    const bool at_end = EndIsLineEnd(q);
    if (q == len_ && !at_end) return Parse::kNeedMore;
    size_t stop = q;
    if ((at_end || b[q] == '\n') && stop > p && b[stop - 1] == '\r') --stop;
    add({p, stop - p, false, stop == p});
    if (at_end) {
      p = q;
      end = stop;
      break;
    }
    p = q + 1;
    if (b[q] == '\n') {
      end = stop;
      break;
    }
  }
  if (expected_fields_ != 0 && n != expected_fields_) {
    *error = Error(line_, "expected " + std::to_string(expected_fields_) +
                              " fields (as in the header), found " + std::to_string(n));
    return Parse::kError;
  }
  fields_.resize(n);
  null_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Span& s = spans_[i];
    fields_[i] = s.scratch ? std::string_view(scratch_).substr(s.begin, s.len)
                           : std::string_view(b + s.begin, s.len);
    null_[i] = s.null ? 1 : 0;
  }
  record_ = std::string_view(b + start, end - start);
  record_line_ = line_;
  record_offset_ = base_offset_ + start;
  line_ += inner_lines + 1;
  pos_ = p;
  return Parse::kRecord;
}

Result<bool> CsvStream::Next() {
  for (;;) {
    Status error;
    Parse r = ParseRecord(&error);
    if (r == Parse::kError) return error;
    if (r == Parse::kRecord) return true;
    if (r == Parse::kEnd) return false;
    // kNeedMore.
    if (eof_ && text_ != nullptr) {
      return Error(open_quote_line_, "unterminated quoted field (no closing quote before the end)");
    }
    if (eof_) {
      // The rest of the range is an incomplete record: a torn append.
      torn_offset_ = base_offset_ + pos_;
      torn_bytes_ = base_offset_ + len_ - torn_offset_;
      torn_line_ = line_;
      pos_ = len_;
      return false;
    }
    bool got_more = false;
    LARDER_RETURN_IF_ERROR(Refill(&got_more));
  }
}

void AppendCsvField(std::string_view text, std::string* out) {
  bool quote = text.empty() || text.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quote) {
    out->append(text);
    return;
  }
  out->push_back('"');
  for (char c : text) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void PackRecord(const CsvStream& cs, std::string* out) {
  out->clear();
  for (size_t i = 0; i < cs.num_fields(); ++i) {
    const std::string_view f = cs.field(i);
    const uint32_t len = cs.is_null(i) ? kPackedNull : static_cast<uint32_t>(f.size());
    out->append(reinterpret_cast<const char*>(&len), sizeof(len));
    if (len != kPackedNull) out->append(f);
  }
}

void AppendPackedRecord(std::string_view packed, std::vector<std::vector<Cell>>* columns) {
  size_t at = 0;
  for (std::vector<Cell>& column : *columns) {
    uint32_t len = 0;
    std::memcpy(&len, packed.data() + at, sizeof(len));
    at += sizeof(len);
    if (len == kPackedNull) {
      column.push_back(Cell::Null());
    } else {
      column.push_back(Cell::String(std::string(packed.substr(at, len))));
      at += len;
    }
  }
}

}  // namespace larder
