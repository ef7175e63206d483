// Parquet's value and level encodings: the RLE / bit-packed hybrid (levels, dictionary
// indices, booleans), the deprecated BIT_PACKED levels, DELTA_BINARY_PACKED,
// DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT. PLAIN is in column_reader.cc.
//
// Every decoder reads a bounded span and is told how many values to produce; a span too short
// for them, a bit width over 32 (64 for deltas) or a header that disagrees is an error, never a
// read past the span or an allocation beyond the count asked for.
// Thread-safety: a decoder belongs to one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "larder/status.h"

namespace larder::parquet {

enum Encoding : int32_t {
  kPlain = 0,
  kPlainDictionary = 2,
  kRle = 3,
  kBitPacked = 4,
  kDeltaBinaryPacked = 5,
  kDeltaLengthByteArray = 6,
  kDeltaByteArray = 7,
  kRleDictionary = 8,
  kByteStreamSplit = 9,
};
const char* EncodingName(int32_t e);

// Bounds on what one hostile page or column chunk can make the reader allocate.
inline constexpr size_t kMaxPageValues = size_t{1} << 23;   // values (levels) of one page
inline constexpr size_t kMaxPageBytes = size_t{64} << 20;   // a page, uncompressed
inline constexpr size_t kMaxChunkValues = size_t{1} << 26;  // values of one column chunk
inline constexpr size_t kMaxChunkBytes = size_t{1} << 30;   // byte-array bytes of one chunk

Status EncodingError(const std::string& what);

class RleDecoder {
 public:
  RleDecoder(const uint8_t* data, size_t size, int bit_width)
      : p_(data), end_(data + size), width_(bit_width) {}
  // Decodes the next n values into out[0..n).
  Status Get(uint32_t* out, size_t n);

 private:
  Status NextRun();

  const uint8_t* p_;
  const uint8_t* end_;
  int width_;
  // Current run: a repeated value (repeat_ > 0) or bit-packed values [packed_, packed_ + left).
  uint64_t repeat_ = 0;
  uint32_t value_ = 0;
  const uint8_t* packed_ = nullptr;
  uint64_t packed_left_ = 0;  // values left in the bit-packed run
  uint64_t packed_pos_ = 0;   // bit offset in the run
};

// The deprecated BIT_PACKED level encoding (most significant bit first).
Status DecodeBitPackedLevels(const uint8_t* data, size_t size, int bit_width, size_t n,
                             uint8_t* out, size_t* consumed);

// DELTA_BINARY_PACKED: exactly `n` values into `out` (appended); `*consumed` gets the bytes
// used (DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY need where the block ends).
Status DecodeDeltaBinaryPacked(const uint8_t* data, size_t size, size_t n,
                               std::vector<int64_t>* out, size_t* consumed);

// Variable-length values as offsets (n + 1 of them, appended relative to `bytes->size()`) and
// bytes.
Status DecodeDeltaLengthByteArray(const uint8_t* data, size_t size, size_t n,
                                  std::vector<uint32_t>* offsets, std::string* bytes);
Status DecodeDeltaByteArray(const uint8_t* data, size_t size, size_t n,
                            std::vector<uint32_t>* offsets, std::string* bytes);

// The number of bytes bit_width-bit values take when bit-packed in groups of 8.
inline size_t BitPackedBytes(uint64_t n, int bit_width) {
  return static_cast<size_t>((n * static_cast<uint64_t>(bit_width) + 7) / 8);
}

}  // namespace larder::parquet
