// Decodes one column chunk (its dictionary page and data pages v1 / v2) into levels and the
// non-null values, by physical type.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/parquet/metadata.h"
#include "larder/status.h"

namespace larder::parquet {

struct LeafShape {
  PhysicalType type = PhysicalType::kInt64;
  int32_t type_length = 0;  // FIXED_LEN_BYTE_ARRAY
  int max_def = 0;
  int max_rep = 0;
};

// A decoded column chunk.
struct LeafData {
  size_t entries = 0;        // level entries (= values including nulls and empty lists)
  std::vector<uint8_t> def;  // one per entry; empty when max_def == 0
  std::vector<uint8_t> rep;  // one per entry; empty when max_rep == 0
  // The non-null values in order, by physical type:
  std::vector<int64_t> ints;      // BOOLEAN (0/1), INT32 (sign-extended), INT64
  std::vector<double> reals;      // FLOAT, DOUBLE
  std::vector<uint32_t> offsets;  // BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY, INT96: values() + 1
  std::string bytes;

  size_t values() const {
    return !ints.empty()     ? ints.size()
           : !reals.empty()  ? reals.size()
           : offsets.empty() ? 0
                             : offsets.size() - 1;
  }
};

// `chunk` is the column chunk's bytes (from its first page to total_compressed_size).
Result<LeafData> ReadLeaf(const uint8_t* chunk, size_t size, const ColumnMeta& meta,
                          const LeafShape& shape);

}  // namespace larder::parquet
