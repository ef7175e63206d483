// Parquet batch sources: a `type: file` source whose path is a `.parquet` file or a directory
// of `.parquet` part files. Which files such a source reads, and each view column's Parquet
// field checked against the dtype the view gives it, before anything is read or written.
// Thread-safety: pure functions over immutable values.
#pragma once

#include <string>
#include <vector>

#include "engine/parquet/parquet_file.h"
#include "engine/rows/catalog.h"
#include "larder/status.h"

namespace larder {

// True when a batch source's path names Parquet: it ends in ".parquet", or it is a directory.
bool IsParquetSource(const std::string& path);

// The files of a Parquet source, in the order they are read: the file itself, or the
// directory's regular files named `*.parquet` in byte order of their names. Names starting with
// '.' or '_' (`_SUCCESS`, `.part-0.crc`, `_metadata`) and files not ending in ".parquet" are
// skipped. A subdirectory is refused (kDataSourceError naming it): hive-style partition
// folders (`key=value/`) are not read, and their key would be a column the files lack.
Result<std::vector<std::string>> ParquetSourceFiles(const std::string& path);

// Whether values of `field` can be read as `dtype`: Int32 / Int64 from integers, Float32 /
// Float64 from FLOAT, DOUBLE or integers, Bool from BOOLEAN, String from strings, Bytes from
// byte arrays or strings, UnixTimestamp from timestamps (and DATE); Array(T) from a list of
// what T reads, a scalar from a scalar.
bool ParquetFieldFits(const parquet::Field& field, DType dtype);

// A view's fields in one Parquet file (pointers into the file's fields()).
struct ParquetViewFields {
  const parquet::Field* timestamp = nullptr;
  const parquet::Field* created = nullptr;  // nullptr: the file has no created column
  std::vector<const parquet::Field*> keys;
  std::vector<const parquet::Field*> features;
};

// kDataSourceError naming the file, the view and every missing column; or naming the file,
// the column, its Parquet type and the dtype it cannot be read as.
Result<ParquetViewFields> LocateParquetViewFields(const ViewInfo& view,
                                                  const parquet::ParquetFile& file);

}  // namespace larder
