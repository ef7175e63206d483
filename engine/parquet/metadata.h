// Parquet's footer (FileMetaData) and page headers, the fields Larder reads, decoded from the
// Thrift compact protocol (parquet.thrift field ids). Unknown fields are skipped.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "larder/status.h"

namespace larder::parquet {

enum class PhysicalType : int32_t {
  kBoolean = 0,
  kInt32 = 1,
  kInt64 = 2,
  kInt96 = 3,
  kFloat = 4,
  kDouble = 5,
  kByteArray = 6,
  kFixedLenByteArray = 7,
};
const char* PhysicalTypeName(PhysicalType t);

enum class Repetition : int32_t { kRequired = 0, kOptional = 1, kRepeated = 2 };

// Legacy ConvertedType values Larder interprets.
enum ConvertedType : int32_t {
  kUtf8 = 0,
  kMap = 1,
  kMapKeyValue = 2,
  kList = 3,
  kEnum = 4,
  kDecimal = 5,
  kDate = 6,
  kTimeMillis = 7,
  kTimeMicros = 8,
  kTimestampMillis = 9,
  kTimestampMicros = 10,
  kUint8 = 11,
  kUint16 = 12,
  kUint32 = 13,
  kUint64 = 14,
  kInt8 = 15,
  kInt16 = 16,
  kInt32Conv = 17,
  kInt64Conv = 18,
  kJson = 19,
  kBson = 20,
  kInterval = 21,
};

// The LogicalType union's members Larder interprets (others are kOther).
enum class LogicalKind : uint8_t {
  kNone,
  kString,
  kMap,
  kList,
  kEnum,
  kDecimal,
  kDate,
  kTime,
  kTimestamp,
  kInteger,
  kJson,
  kBson,
  kUuid,
  kOther,
};
enum class TimeUnit : uint8_t { kMillis, kMicros, kNanos };

struct SchemaElement {
  std::optional<PhysicalType> type;  // absent for groups
  int32_t type_length = 0;
  Repetition repetition = Repetition::kRequired;
  bool has_repetition = false;
  std::string name;
  int32_t num_children = 0;
  std::optional<int32_t> converted;
  LogicalKind logical = LogicalKind::kNone;
  TimeUnit unit = TimeUnit::kMicros;  // kTimestamp / kTime
  bool utc = true;                    // kTimestamp: isAdjustedToUTC
  int8_t int_bits = 0;                // kInteger
  bool int_signed = true;             // kInteger
};

enum class Codec : int32_t {
  kUncompressed = 0,
  kSnappy = 1,
  kGzip = 2,
  kLzo = 3,
  kBrotli = 4,
  kLz4 = 5,  // Hadoop's framing (or a bare block, from old writers)
  kZstd = 6,
  kLz4Raw = 7,
};
const char* CodecName(int32_t codec);

struct Statistics {
  std::optional<std::string> min, max;  // min_value/max_value, else the legacy min/max
  bool legacy = false;                  // from the deprecated min/max fields
  std::optional<int64_t> null_count;
};

struct ColumnMeta {
  PhysicalType type = PhysicalType::kBoolean;
  std::vector<std::string> path;
  int32_t codec = 0;
  int64_t num_values = 0;
  int64_t total_compressed_size = 0;
  int64_t data_page_offset = 0;
  std::optional<int64_t> dictionary_page_offset;
  Statistics stats;
};

struct ColumnChunk {
  std::string file_path;  // non-empty: the data lives in another file (not supported)
  bool has_meta = false;
  ColumnMeta meta;
};

struct RowGroup {
  std::vector<ColumnChunk> columns;
  int64_t num_rows = 0;
};

struct FileMetaData {
  int32_t version = 0;
  std::vector<SchemaElement> schema;  // depth-first; schema[0] is the root
  int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
  std::string created_by;
};

Result<FileMetaData> ParseFileMetaData(const uint8_t* data, size_t size);

enum class PageType : int32_t {
  kDataPage = 0,
  kIndexPage = 1,
  kDictionaryPage = 2,
  kDataPageV2 = 3
};

struct PageHeader {
  PageType type = PageType::kDataPage;
  int32_t uncompressed_size = 0;
  int32_t compressed_size = 0;
  int32_t num_values = 0;
  int32_t encoding = 0;
  int32_t def_encoding = 3;  // v1 only
  int32_t rep_encoding = 3;
  // v2 only:
  int32_t num_nulls = 0;
  int32_t num_rows = 0;
  int32_t def_bytes = 0;
  int32_t rep_bytes = 0;
  bool is_compressed = true;
};

// Parses a page header at `data`; `*consumed` gets its length in bytes.
Result<PageHeader> ParsePageHeader(const uint8_t* data, size_t size, size_t* consumed);

}  // namespace larder::parquet
