// Page decompression through Debian's libraries: libsnappy, zlib (gzip), libzstd, liblz4
// (Hadoop-framed LZ4, bare LZ4 blocks and LZ4_RAW), libbrotli. LZO is not supported.
// Compression (the writer's): Snappy and ZSTD.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "larder/status.h"

namespace larder::parquet {

// Decompresses `n` bytes into exactly `expected` bytes in `*out` (resized). A codec Larder
// does not read, or output of another size, is kDataSourceError.
Status Decompress(int32_t codec, const uint8_t* data, size_t n, size_t expected, std::string* out);

// Compresses with Snappy (Larder's own part files).
void SnappyCompress(const char* data, size_t n, std::string* out);

// Compresses `n` bytes with `codec` (kUncompressed: a copy; kSnappy; kZstd at level 1, Arrow's
// default) into `*out` (replaced). Another codec is kInvalidArgument: Larder writes no other.
Status Compress(int32_t codec, const char* data, size_t n, std::string* out);

}  // namespace larder::parquet
