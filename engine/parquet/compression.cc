// Codecs: each decoder writes into a buffer of the size the page header promised and fails
// when the data does not fill it exactly.
#include "engine/parquet/compression.h"

#include <brotli/decode.h>
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "engine/parquet/metadata.h"

namespace larder::parquet {

namespace {

Status Bad(int32_t codec, const std::string& why) {
  return Status(ErrorCode::kDataSourceError,
                std::string("cannot decompress a ") + CodecName(codec) + " page: " + why);
}

Status Gunzip(const uint8_t* data, size_t n, std::string* out) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return Bad(2, "inflateInit2 failed");
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(n);
  zs.next_out = reinterpret_cast<Bytef*>(out->data());
  zs.avail_out = static_cast<uInt>(out->size());
  int rc = Z_OK;
  // Concatenated gzip members are allowed (some writers emit them).
  for (;;) {
    rc = inflate(&zs, Z_FINISH);
    if (rc == Z_STREAM_END && zs.avail_in > 0 && zs.avail_out > 0) {
      if (inflateReset(&zs) != Z_OK) break;
      continue;
    }
    break;
  }
  size_t produced = out->size() - zs.avail_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && zs.avail_out == 0)) {
    return Bad(2, zs.msg != nullptr ? zs.msg : "truncated or corrupt stream");
  }
  if (produced != out->size()) return Bad(2, "output shorter than the page header says");
  return Status::Ok();
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Hadoop's LZ4 framing: blocks of [u32 BE decompressed][u32 BE compressed][LZ4 block].
bool HadoopLz4(const uint8_t* data, size_t n, std::string* out) {
  size_t in = 0, done = 0;
  while (in < n) {
    if (n - in < 8) return false;
    uint32_t raw = BigEndian32(data + in);
    uint32_t comp = BigEndian32(data + in + 4);
    in += 8;
    if (comp > n - in || raw > out->size() - done) return false;
    int got = LZ4_decompress_safe(reinterpret_cast<const char*>(data + in), out->data() + done,
                                  static_cast<int>(comp), static_cast<int>(raw));
    if (got < 0 || static_cast<uint32_t>(got) != raw) return false;
    in += comp;
    done += raw;
  }
  return done == out->size();
}

bool RawLz4(const uint8_t* data, size_t n, std::string* out) {
  if (n > INT32_MAX || out->size() > INT32_MAX) return false;
  int got = LZ4_decompress_safe(reinterpret_cast<const char*>(data), out->data(),
                                static_cast<int>(n), static_cast<int>(out->size()));
  return got >= 0 && static_cast<size_t>(got) == out->size();
}

}  // namespace

Status Decompress(int32_t codec, const uint8_t* data, size_t n, size_t expected, std::string* out) {
  out->resize(expected);
  switch (static_cast<Codec>(codec)) {
    case Codec::kUncompressed:
      if (n != expected) return Bad(codec, "sizes differ");
      out->assign(reinterpret_cast<const char*>(data), n);
      return Status::Ok();
    case Codec::kSnappy: {
      size_t len = 0;
      if (snappy_uncompressed_length(reinterpret_cast<const char*>(data), n, &len) != SNAPPY_OK ||
          len != expected) {
        return Bad(codec, "bad length header");
      }
      size_t out_len = expected;
      if (snappy_uncompress(reinterpret_cast<const char*>(data), n, out->data(), &out_len) !=
              SNAPPY_OK ||
          out_len != expected) {
        return Bad(codec, "corrupt data");
      }
      return Status::Ok();
    }
    case Codec::kGzip:
      return Gunzip(data, n, out);
    case Codec::kZstd: {
      size_t got = ZSTD_decompress(out->data(), expected, data, n);
      if (ZSTD_isError(got)) return Bad(codec, ZSTD_getErrorName(got));
      if (got != expected) return Bad(codec, "output shorter than the page header says");
      return Status::Ok();
    }
    case Codec::kLz4:
      // Hadoop framing (parquet-mr, Arrow); old parquet-cpp wrote bare blocks.
      if (HadoopLz4(data, n, out) || RawLz4(data, n, out)) return Status::Ok();
      return Bad(codec, "corrupt data");
    case Codec::kLz4Raw:
      if (RawLz4(data, n, out)) return Status::Ok();
      return Bad(codec, "corrupt data");
    case Codec::kBrotli: {
      size_t out_len = expected;
      if (BrotliDecoderDecompress(n, data, &out_len, reinterpret_cast<uint8_t*>(out->data())) !=
              BROTLI_DECODER_RESULT_SUCCESS ||
          out_len != expected) {
        return Bad(codec, "corrupt data");
      }
      return Status::Ok();
    }
    case Codec::kLzo:
      break;
  }
  return Status(ErrorCode::kDataSourceError, std::string("compression codec ") + CodecName(codec) +
                                                 " (" + std::to_string(codec) +
                                                 ") is not supported");
}

void SnappyCompress(const char* data, size_t n, std::string* out) {
  size_t len = snappy_max_compressed_length(n);
  out->resize(len);
  snappy_compress(data, n, out->data(), &len);
  out->resize(len);
}

Status Compress(int32_t codec, const char* data, size_t n, std::string* out) {
  switch (static_cast<Codec>(codec)) {
    case Codec::kUncompressed:
      out->assign(data, n);
      return Status::Ok();
    case Codec::kSnappy:
      SnappyCompress(data, n, out);
      return Status::Ok();
    case Codec::kZstd: {
      out->resize(ZSTD_compressBound(n));
      const size_t got = ZSTD_compress(out->data(), out->size(), data, n, 1);
      if (ZSTD_isError(got)) {
        return Status(ErrorCode::kInternal,
                      std::string("ZSTD compression failed: ") + ZSTD_getErrorName(got));
      }
      out->resize(got);
      return Status::Ok();
    }
    default:
      return InvalidArgument(std::string("Larder does not write the ") + CodecName(codec) +
                             " codec (it writes UNCOMPRESSED, SNAPPY and ZSTD)");
  }
}

}  // namespace larder::parquet
