// The one CSV grammar of the project (RFC 4180), for batch-source files far larger than memory
// and for push input held in memory (ReadCsvFrame, engine/values/frame_csv.cc, reads through
// it): yields one record at a time as field slices (no Cell per field). Also the
// record-boundary scanner the offline log uses to find a torn tail, the field writer, and packed
// records (fields kept after the stream moved on, turned into cells without parsing again).
//
// Records end at a line feed outside quotes ("\r\n" is accepted). In a file, a final record
// that is not terminated by a line feed is incomplete: a torn append. The reader does not return
// it and reports where it starts. In memory text the final record may lack its line feed, and an
// unterminated quote is an error. A UTF-8 byte order mark before the first record is skipped.
// Blank lines are skipped. An empty unquoted field is null; a quoted empty field ("") is the
// empty string.
// Thread-safety: a CsvStream belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "larder/frame.h"
#include "larder/status.h"

namespace larder {

// Tracks the quoting state across a byte stream to find record boundaries (line feeds outside
// quoted fields), with the same rules as CsvStream. Start it at a record boundary.
class CsvBoundaryScanner {
 public:
  // Scans `n` bytes that follow the bytes already scanned; returns the number of bytes from
  // the start of this span to just after its last record boundary, or -1 when it has none.
  int64_t Scan(const char* data, size_t n);

 private:
  enum class State : uint8_t { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };
  State state_ = State::kFieldStart;
};

// Offset just after the last record boundary in [from, size) of the file `fd`, scanning from
// `from` (which must be a boundary); `from` when there is none.
Result<uint64_t> FindLastRecordBoundary(int fd, uint64_t from, uint64_t size);

class CsvStream {
 public:
  // Reads bytes [0, limit) of `fd` (not owned; it must outlive the stream). `origin` names the
  // file in errors ("data/stats.csv line 7: ...").
  CsvStream(int fd, uint64_t limit, std::string origin);
  // Reads `text` (not owned; it must outlive the stream), a request body: errors are then
  // kInvalidArgument, "<origin> line N: ...".
  CsvStream(std::string_view text, std::string origin);
  ~CsvStream();
  CsvStream(const CsvStream&) = delete;
  CsvStream& operator=(const CsvStream&) = delete;

  // Reads the next complete record. Returns false at the end (then see torn_*). Errors are
  // kDataSourceError naming the file and line (bad quoting, wrong field count once
  // set_expected_fields was called) or kIoError; for memory text, kInvalidArgument.
  Result<bool> Next();

  // The current record (valid until the next call to Next).
  size_t num_fields() const { return fields_.size(); }
  std::string_view field(size_t i) const { return fields_[i]; }
  bool is_null(size_t i) const { return null_[i] != 0; }
  // The record's raw bytes, without its line end.
  std::string_view record_text() const { return record_; }
  uint64_t line() const { return record_line_; }      // 1-based first line of the record
  uint64_t offset() const { return record_offset_; }  // file offset of its first byte

  // Every later record must have this many fields (the header's count); 0 = no check.
  void set_expected_fields(size_t n) { expected_fields_ = n; }
  // Bytes of the range consumed so far (records returned and blank lines).
  uint64_t bytes_consumed() const { return base_offset_ + pos_; }

  // After Next() returned false: the incomplete final record, if any.
  uint64_t torn_bytes() const { return torn_bytes_; }
  uint64_t torn_offset() const { return torn_offset_; }
  uint64_t torn_line() const { return torn_line_; }
  // The line the next record would start on.
  uint64_t next_line() const { return line_; }
  const std::string& origin() const { return origin_; }

 private:
  enum class Parse { kRecord, kEnd, kNeedMore, kError };
  Parse ParseRecord(Status* error);
  Status Refill(bool* got_more);
  Status Error(uint64_t line, const std::string& what) const;
  const char* data() const { return text_ != nullptr ? text_ : buf_.data(); }
  // True when the end of the loaded bytes ends the record being parsed (memory text only).
  bool EndIsLineEnd(size_t p) const { return text_ != nullptr && p == len_; }

  int fd_ = -1;
  const char* text_ = nullptr;  // memory text, or null for a file
  bool bom_checked_ = false;
  uint64_t limit_;
  std::string origin_;
  std::vector<char> buf_;
  size_t len_ = 0;            // bytes loaded in buf_
  size_t pos_ = 0;            // start of the next record in buf_
  uint64_t base_offset_ = 0;  // file offset of buf_[0]
  uint64_t line_ = 1;         // line of buf_[pos_]
  bool eof_ = false;          // buf_ holds everything up to limit_
  size_t expected_fields_ = 0;

  // The current record.
  std::vector<std::string_view> fields_;
  std::vector<uint8_t> null_;
  std::string_view record_;
  uint64_t record_line_ = 0;
  uint64_t record_offset_ = 0;
  uint64_t open_quote_line_ = 0;  // where the last quoted field opened (for errors)
  std::string scratch_;           // unescaped quoted fields
  struct Span {
    size_t begin, len;
    bool scratch, null;
  };
  std::vector<Span> spans_;

  uint64_t torn_bytes_ = 0;
  uint64_t torn_offset_ = 0;
  uint64_t torn_line_ = 0;
};

// Appends `text` as one CSV field: quoted when it is empty or holds a comma, quote, CR, LF or
// leading/trailing space (quotes doubled); as is otherwise. A null field is written as nothing.
void AppendCsvField(std::string_view text, std::string* out);

// The current record of `cs` packed into *out (replacing it): for each field a 4-byte length
// (kPackedNull for a null field) and its bytes. Materialize keeps each entity's winning record
// packed, the historical join its candidates.
constexpr uint32_t kPackedNull = 0xFFFFFFFF;
void PackRecord(const CsvStream& cs, std::string* out);
// Appends the fields of a packed record to `columns` (one cell each: null, or a string), as
// ReadCsvFrame makes cells. The record must have columns->size() fields.
void AppendPackedRecord(std::string_view packed, std::vector<std::vector<Cell>>* columns);

}  // namespace larder
