// Parquet batch sources: a `type: file` source whose path is a `.parquet` file or a directory
// of `.parquet` part files. Which files such a source reads, and each view column's Parquet
// field checked against the dtype the view gives it, before anything is read or written.
// Thread-safety: pure functions over immutable values.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/parquet/parquet_file.h"
#include "engine/rows/catalog.h"
#include "larder/frame.h"
#include "larder/status.h"
#include "larder/types.h"

namespace larder {

// True when a batch source's path names Parquet: it ends in ".parquet" or '/', or it is a
// directory.
bool IsParquetSource(const std::string& path);

// The files of a Parquet source, in the order they are read: the file itself, or the
// directory's regular files named `*.parquet` in byte order of their names. Names starting with
// '.' or '_' (`_SUCCESS`, `.part-0.crc`, `_metadata`) and files not ending in ".parquet" are
// skipped. A subdirectory is refused (kDataSourceError naming it): hive-style partition
// folders (`key=value/`) are not read, and their key would be a column the files lack. So are a
// Delta table (`_delta_log`), a `*.parquet` entry that is not a regular file (links are not
// followed), and a directory holding no `*.parquet` file.
Result<std::vector<std::string>> ParquetSourceFiles(const std::string& path);

// The part files of directory `path` as ParquetSourceFiles lists them, with the same refusals,
// except that a directory holding none is an empty list (an offline push then writes the first).
Result<std::vector<std::string>> ParquetDirectoryParts(const std::string& path);

// Whether values of `field` can be read as `dtype`: Int32 / Int64 from integers, Float32 /
// Float64 from FLOAT, DOUBLE or integers, Bool from BOOLEAN, String from strings, Bytes from
// byte arrays without the STRING annotation (text for Bytes is base64 in CSV and JSON, which
// a STRING column is not known to hold; Feast refuses it too), UnixTimestamp from timestamps (and
// DATE); Array(T) from a list of what T reads, a scalar from a scalar.
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

// The most cells (values and list elements) ReadParquetFrame holds: 2^25 (about 2.7 GB).
inline constexpr uint64_t kMaxParquetFrameCells = uint64_t{1} << 25;

// A whole Parquet file as a frame (the entity dataframe of get-historical-features): every
// top-level column, cells of their own kind (integers, doubles, booleans, strings, bytes,
// arrays; timestamps as RFC 3339 UTC strings, which is what an entity dataframe's
// event_timestamp holds in CSV), nulls as null cells. A column of a type the reader does not
// read is an error naming the file, column and type; so is a file of more than
// `max_cells` cells (InvalidArgument).
Result<Frame> ReadParquetFrame(const std::string& path, uint64_t max_cells = kMaxParquetFrameCells);

// ---- Parquet values packed for later (materialize's winners, historical candidates) ----

// A packed value: a tag, then its payload (int64 / double: 8 bytes; bytes: u32 length, the
// bytes; list: u32 count, then that many tagged elements).
enum PackTag : char { kPackNull = 0, kPackInt = 1, kPackReal = 2, kPackBytes = 3, kPackList = 4 };

// Appends the value of `row` of `c` (a scalar, a list, or null) packed: a tag, then its
// payload (int64 / double: 8 bytes; bytes: u32 length, the bytes; list: u32 count, then that
// many tagged elements). Integers, booleans and timestamps (micros) are int64.
void PackParquetValue(const parquet::Column& c, size_t row, std::string* out);

// Reads packed values (written by PackParquetValue in this process: trusted).
class PackedReader {
 public:
  explicit PackedReader(std::string_view p, size_t pos = 0) : p_(p), pos_(pos) {}
  size_t pos() const { return pos_; }
  char Tag() { return p_[pos_++]; }
  int64_t Int() { return Fixed<int64_t>(); }
  double Real() { return Fixed<double>(); }
  uint32_t Count() { return Fixed<uint32_t>(); }
  std::string_view Bytes() {
    const uint32_t n = Count();
    std::string_view b = p_.substr(pos_, n);
    pos_ += n;
    return b;
  }
  // Skips one whole value.
  void Skip() {
    switch (Tag()) {
      case kPackInt:
      case kPackReal:
        pos_ += 8;
        return;
      case kPackBytes:
        pos_ += Count();
        return;
      case kPackList:
        for (uint32_t n = Count(); n > 0; --n) Skip();
        return;
      default:
        return;
    }
  }

 private:
  template <class T>
  T Fixed() {
    T v;
    std::memcpy(&v, p_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view p_;
  size_t pos_;
};

// The packed value at `in` as a Value of `dtype`, with CellToValueInto's conversions and
// checks (Int32 and Float32 ranges, UTF-8 of strings, nulls inside arrays), except that
// timestamps are micros already (checked to lie in years 1..9999). `scratch` is reused.
Status PackedToValue(PackedReader& in, DType dtype, Cell* scratch, Value* out);

// Appends row `r` of the join-key column `c` to `key` as a part of type `type`: integers as
// AppendKeyPartFromInt does; byte arrays as they are (a String key's UTF-8 checked, as a write
// checks it). InvalidArgument for a null or a value the type refuses.
Status AppendParquetKeyPart(const parquet::Column& c, size_t r, ScalarType type, std::string* key);

// InvalidArgument unless `micros` lies in years 1..9999 (what RFC 3339 text can spell).
Status CheckTimestampRange(int64_t micros);

// Opens a file of a Parquet source (ParquetFile::Open), refusing one whose row groups declare
// 2^40 rows or more in all: a row's number must fit ParquetRowId (the counts of row groups that
// are skipped or fail to decode are believed as declared).
Result<std::unique_ptr<parquet::ParquetFile>> OpenParquetSourceFile(const std::string& path);

// A row of a Parquet source: its file's index and its row in the file (0-based, over row
// groups), in one number; described as "FILE row N" (1-based; an id naming no file of `files`
// is described as such, never read past the list).
uint64_t ParquetRowId(size_t file, uint64_t row);
std::string DescribeParquetRow(const std::vector<std::string>& files, uint64_t id);

}  // namespace larder
