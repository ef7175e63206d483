// A Parquet file opened for reading: its footer, its top-level fields (scalar columns and
// lists of scalars), and whole columns of a row group decoded into row-aligned values with
// their logical types applied (timestamps in microseconds, dates at midnight UTC, INT96 as
// Spark writes it, unsigned integers widened).
//
// The file's bytes are untrusted: every offset and length from the footer is checked against
// the file's size, and column chunks are read with pread (a file truncated under the reader
// gives an error, not a fault). Files are opened with O_NOFOLLOW.
// Thread-safety: a ParquetFile may be read from one thread at a time.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/parquet/column_reader.h"
#include "engine/parquet/metadata.h"
#include "larder/status.h"

namespace larder::parquet {

// What a field's values are, once logical types are applied.
enum class ValueKind : uint8_t {
  kBool,
  kInt,        // INT32 / INT64 / unsigned (fits int64)
  kFloat,      // FLOAT
  kDouble,     // DOUBLE
  kString,     // BYTE_ARRAY annotated UTF8 / STRING / ENUM / JSON
  kBytes,      // BYTE_ARRAY without annotation, FIXED_LEN_BYTE_ARRAY
  kTimestamp,  // TIMESTAMP(any unit), legacy TIMESTAMP_MILLIS/MICROS, INT96, DATE: micros
  kUnsupported,
};

struct Field {
  std::string name;  // the top-level column name
  int leaf = -1;     // its column chunk index in each row group
  ValueKind kind = ValueKind::kUnsupported;
  bool is_list = false;
  std::string type_name;        // "INT64 (TIMESTAMP(MICROS,UTC))", "list<BYTE_ARRAY (STRING)>"
  std::string unsupported_why;  // kind == kUnsupported: why
  LeafShape shape;
  const SchemaElement* leaf_schema = nullptr;
  // The schema names from the top-level column down to its (first) leaf: {"x"} for a scalar,
  // {"x", "list", "element"} for a standard list, two names for a legacy two-level one.
  std::vector<std::string> path;
  std::vector<Repetition> path_repetition;  // of each node of `path`
  int def_present = 0;   // lists: def level at which the list is non-null
  int def_repeated = 0;  // lists: def level at which the list has an element
};

// One field's values over the rows of one row group. Slots are rows (scalars) or list
// elements (lists); every slot has a value in the vector its kind uses (zero when null).
struct Column {
  ValueKind kind = ValueKind::kInt;
  bool is_list = false;
  size_t rows = 0;
  std::vector<uint8_t> valid;        // per row: 0 = null
  std::vector<uint32_t> list_begin;  // lists: rows + 1 offsets into slots
  std::vector<uint8_t> elem_valid;   // lists: per element
  std::vector<int64_t> i64;          // kBool, kInt, kTimestamp (micros)
  std::vector<double> f64;           // kFloat, kDouble
  std::vector<uint32_t> off;         // kString, kBytes: slots + 1 offsets into bytes
  std::string bytes;

  std::string_view Bytes(size_t slot) const {
    return std::string_view(bytes).substr(off[slot], off[slot + 1] - off[slot]);
  }
};

class ParquetFile {
 public:
  // Opens `path` (O_NOFOLLOW) and parses its footer. kDataSourceError names the file.
  static Result<std::unique_ptr<ParquetFile>> Open(const std::string& path);
  // The same over bytes in memory (tests, fuzzing); `origin` names it in errors.
  static Result<std::unique_ptr<ParquetFile>> FromBytes(std::string bytes, std::string origin);
  ~ParquetFile();
  ParquetFile(const ParquetFile&) = delete;
  ParquetFile& operator=(const ParquetFile&) = delete;

  const std::string& origin() const { return origin_; }
  const FileMetaData& meta() const { return meta_; }
  const std::vector<Field>& fields() const { return fields_; }
  const Field* FindField(std::string_view name) const;
  size_t num_row_groups() const { return meta_.row_groups.size(); }
  int64_t row_group_rows(size_t rg) const { return meta_.row_groups[rg].num_rows; }

  // Decodes `field` of row group `rg`. Errors name the file, row group and column. A detached
  // file reads nothing (kInternal): Attach it first.
  Result<Column> ReadColumn(size_t rg, const Field& field) const;

  // Closes the file's descriptor and keeps its footer, so that a source of many part files can
  // be checked whole before it is read with one file open at a time (no EMFILE past the
  // descriptor limit). Attach reopens the path and refuses it (kDataSourceError naming the
  // file) unless it is still the file that was opened: same device, inode, size and
  // modification time. No-ops for a file already attached or read from memory.
  void Detach();
  Status Attach();

  // The [min, max] of a timestamp field in row group `rg` from its statistics, in micros; empty
  // when the statistics are absent or not trustworthy (INT96; a width that does not match).
  std::optional<std::pair<int64_t, int64_t>> TimestampRange(size_t rg, const Field& field) const;

 private:
  ParquetFile() = default;
  Status Init();
  Status ReadAt(uint64_t offset, size_t n, std::string* out) const;
  Status ResolveSchema();

  // Opens origin_ as Open does and checks it is a regular file; fills `st`.
  Status OpenFd(struct stat* st);

  std::string origin_;
  int fd_ = -1;
  bool detached_ = false;  // fd_ was closed by Detach (else fd_ < 0 means bytes in mem_)
  std::string mem_;        // FromBytes
  uint64_t size_ = 0;
  // The identity of the file opened, checked again by Attach.
  uint64_t dev_ = 0;
  uint64_t ino_ = 0;
  int64_t mtime_ns_ = 0;
  FileMetaData meta_;
  std::vector<Field> fields_;
};

// Converts a timestamp-kind raw value to micros (for statistics and INT96 bytes).
Result<int64_t> TimestampToMicros(const Field& f, int64_t raw);

}  // namespace larder::parquet
