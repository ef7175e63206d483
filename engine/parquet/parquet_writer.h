// Larder's Parquet writer: whole files of top-level columns, each a scalar or a list of a scalar
// (the standard 3-level LIST layout), written so that Larder's reader (parquet_file.h), pyarrow
// and Spark read them.
//
// What it writes: "PAR1", then per row group and column one column chunk of one v1 data page
// (repetition then definition levels, each RLE-encoded and prefixed with its 4-byte length;
// values PLAIN; the page compressed with the file's codec), then the footer (FileMetaData in
// the Thrift compact protocol, with per-chunk Statistics and created_by "larder version X"), its
// 4-byte length and "PAR1".
//
// Input is checked before a byte is produced: a null in a REQUIRED column, a null element of a
// list whose elements are required, columns of different row counts, a value vector of the
// wrong length or a page over 2 GiB is kInvalidArgument naming the column; nothing is written.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/parquet/metadata.h"
#include "engine/parquet/parquet_file.h"
#include "larder/status.h"

namespace larder::parquet {

// One top-level column's schema.
struct WriteColumn {
  std::string name;
  // BOOLEAN, INT32, INT64, FLOAT, DOUBLE or BYTE_ARRAY.
  PhysicalType type = PhysicalType::kInt64;
  // INT64 only: TIMESTAMP(unit, utc) (plus the legacy TIMESTAMP_MILLIS / _MICROS converted type
  // when utc, as parquet-cpp writes it). Values are stored as given, in `unit`.
  bool timestamp = false;
  TimeUnit unit = TimeUnit::kMicros;
  bool utc = true;
  // BYTE_ARRAY only: STRING (logical STRING, converted UTF8); else plain bytes.
  bool string = false;
  // OPTIONAL (may be null) or REQUIRED. For a list: the list itself.
  bool optional = true;
  // A list: optional group <name> (LIST) { repeated group list { <elem> <type> element; } }.
  bool list = false;
  bool element_optional = true;  // lists: the element's repetition
  // Lists: the names of the repeated group and of the element (pyarrow before 13 and Spark
  // write "list" / "item", Hive "bag" / "array_element"; a dataset keeps one spelling).
  std::string list_group_name = "list";
  std::string element_name = "element";
};

struct WriteOptions {
  Codec codec = Codec::kSnappy;  // kUncompressed, kSnappy or kZstd
  int64_t rows_per_group = int64_t{1} << 20;
};

// A column's values use the reader's Column layout (parquet_file.h): `rows` rows; `valid` per
// row (empty: all present); lists: `list_begin` (rows + 1 offsets into the slots) and
// `elem_valid` per slot (empty: all present); scalars have one slot per row. Each slot has a
// value (ignored when null) in: `i64` for BOOLEAN (0 / 1), INT32, INT64 and timestamps (raw, in
// the column's unit); `f64` for FLOAT and DOUBLE; `off` + `bytes` for BYTE_ARRAY (`off` may be
// empty when there are no slots). `kind` is not read.
//
// Writes the file into `*out` (replacing its contents).
Status WriteParquet(const std::vector<WriteColumn>& schema, const std::vector<Column>& columns,
                    const WriteOptions& options, std::string* out);

// The same, written to `fd` from its current offset (a short write or an error is kIoError).
Status WriteParquetToFd(int fd, const std::vector<WriteColumn>& schema,
                        const std::vector<Column>& columns, const WriteOptions& options);

// "larder version <project version>": the footer's created_by.
const char* WriterCreatedBy();

}  // namespace larder::parquet
