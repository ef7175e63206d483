// RLE / bit-packed hybrid, BIT_PACKED, and the DELTA encodings.
#include "engine/parquet/encodings.h"

#include <cstring>

namespace larder::parquet {

namespace {

// Reads bit_width bits at bit offset `pos` of `p` (least significant bit first); the caller
// guarantees the bits lie within the span.
inline uint64_t ReadBitsLsb(const uint8_t* p, uint64_t pos, int bit_width) {
  uint64_t v = 0;
  int got = 0;
  while (got < bit_width) {
    uint64_t byte = pos >> 3;
    int shift = static_cast<int>(pos & 7);
    int take = std::min(8 - shift, bit_width - got);
    uint64_t bits = (p[byte] >> shift) & ((1u << take) - 1);
    v |= bits << got;
    got += take;
    pos += static_cast<uint64_t>(take);
  }
  return v;
}

Result<uint64_t> Varint(const uint8_t*& p, const uint8_t* end) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return EncodingError("truncated varint");
    uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  return EncodingError("varint longer than 10 bytes");
}

int64_t ZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

}  // namespace

const char* EncodingName(int32_t e) {
  switch (e) {
    case kPlain:
      return "PLAIN";
    case kPlainDictionary:
      return "PLAIN_DICTIONARY";
    case kRle:
      return "RLE";
    case kBitPacked:
      return "BIT_PACKED";
    case kDeltaBinaryPacked:
      return "DELTA_BINARY_PACKED";
    case kDeltaLengthByteArray:
      return "DELTA_LENGTH_BYTE_ARRAY";
    case kDeltaByteArray:
      return "DELTA_BYTE_ARRAY";
    case kRleDictionary:
      return "RLE_DICTIONARY";
    case kByteStreamSplit:
      return "BYTE_STREAM_SPLIT";
  }
  return "unknown encoding";
}

Status EncodingError(const std::string& what) {
  return Status(ErrorCode::kDataSourceError, "corrupt Parquet page: " + what);
}

Status RleDecoder::NextRun() {
  LARDER_ASSIGN_OR_RETURN(uint64_t header, Varint(p_, end_));
  if (header & 1) {
    uint64_t groups = header >> 1;
    if (groups == 0 || groups > (1ull << 28)) return EncodingError("bad bit-packed run length");
    size_t bytes = BitPackedBytes(groups * 8, width_);
    // A final run may be cut short: writers pad the count, not always the bytes.
    size_t avail = static_cast<size_t>(end_ - p_);
    uint64_t values = groups * 8;
    if (bytes > avail) {
      if (width_ == 0) return EncodingError("bad bit-packed run");
      values = static_cast<uint64_t>(avail) * 8 / static_cast<uint64_t>(width_);
      bytes = avail;
      if (values == 0) return EncodingError("bit-packed run past the end of the data");
    }
    packed_ = p_;
    packed_left_ = values;
    packed_pos_ = 0;
    p_ += bytes;
  } else {
    repeat_ = header >> 1;
    if (repeat_ == 0) return EncodingError("empty RLE run");
    size_t vb = static_cast<size_t>((width_ + 7) / 8);
    if (static_cast<size_t>(end_ - p_) < vb) return EncodingError("truncated RLE run value");
    uint64_t v = 0;
    for (size_t i = 0; i < vb; ++i) v |= static_cast<uint64_t>(p_[i]) << (8 * i);
    p_ += vb;
    if (width_ < 32 && (v >> width_) != 0) return EncodingError("RLE value wider than its bits");
    value_ = static_cast<uint32_t>(v);
  }
  return Status::Ok();
}

Status RleDecoder::Get(uint32_t* out, size_t n) {
  if (width_ < 0 || width_ > 32) return EncodingError("bit width over 32");
  if (width_ == 0) {
    std::memset(out, 0, n * sizeof(uint32_t));
    return Status::Ok();
  }
  size_t i = 0;
  while (i < n) {
    if (repeat_ == 0 && packed_left_ == 0) LARDER_RETURN_IF_ERROR(NextRun());
    if (repeat_ > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(repeat_, n - i));
      std::fill(out + i, out + i + k, value_);
      repeat_ -= k;
      i += k;
    } else {
      size_t k = static_cast<size_t>(std::min<uint64_t>(packed_left_, n - i));
      for (size_t j = 0; j < k; ++j) {
        out[i + j] = static_cast<uint32_t>(ReadBitsLsb(packed_, packed_pos_, width_));
        packed_pos_ += static_cast<uint64_t>(width_);
      }
      packed_left_ -= k;
      i += k;
    }
  }
  return Status::Ok();
}

Status DecodeBitPackedLevels(const uint8_t* data, size_t size, int bit_width, size_t n,
                             uint8_t* out, size_t* consumed) {
  size_t bytes = BitPackedBytes(n, bit_width);
  if (bytes > size) return EncodingError("BIT_PACKED levels past the end of the page");
  uint64_t pos = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = 0;
    for (int b = 0; b < bit_width; ++b, ++pos) {
      v = (v << 1) | ((data[pos >> 3] >> (7 - (pos & 7))) & 1);
    }
    out[i] = static_cast<uint8_t>(v);
  }
  *consumed = bytes;
  return Status::Ok();
}

Status DecodeDeltaBinaryPacked(const uint8_t* data, size_t size, size_t n,
                               std::vector<int64_t>* out, size_t* consumed) {
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  LARDER_ASSIGN_OR_RETURN(uint64_t block_size, Varint(p, end));
  LARDER_ASSIGN_OR_RETURN(uint64_t miniblocks, Varint(p, end));
  LARDER_ASSIGN_OR_RETURN(uint64_t total, Varint(p, end));
  LARDER_ASSIGN_OR_RETURN(uint64_t first_raw, Varint(p, end));
  if (block_size == 0 || block_size % 128 != 0 || block_size > (1u << 20) || miniblocks == 0 ||
      block_size % miniblocks != 0 || (block_size / miniblocks) % 32 != 0) {
    return EncodingError("bad DELTA_BINARY_PACKED block header");
  }
  if (total != n) {
    return EncodingError("DELTA_BINARY_PACKED holds " + std::to_string(total) +
                         " values where the page needs " + std::to_string(n));
  }
  const uint64_t per_mini = block_size / miniblocks;
  out->reserve(out->size() + n);
  uint64_t last = static_cast<uint64_t>(ZigZag(first_raw));
  if (n > 0) out->push_back(static_cast<int64_t>(last));
  size_t produced = n > 0 ? 1 : 0;
  while (produced < n) {
    LARDER_ASSIGN_OR_RETURN(uint64_t min_raw, Varint(p, end));
    const uint64_t min_delta = static_cast<uint64_t>(ZigZag(min_raw));
    if (static_cast<uint64_t>(end - p) < miniblocks) return EncodingError("truncated bit widths");
    const uint8_t* widths = p;
    p += miniblocks;
    for (uint64_t m = 0; m < miniblocks && produced < n; ++m) {
      int w = widths[m];
      if (w > 64) return EncodingError("DELTA_BINARY_PACKED bit width over 64");
      size_t bytes = BitPackedBytes(per_mini, w);
      size_t take = static_cast<size_t>(std::min<uint64_t>(per_mini, n - produced));
      // The last miniblock may be cut short of its padding.
      if (static_cast<size_t>(end - p) < BitPackedBytes(take, w)) {
        return EncodingError("truncated DELTA_BINARY_PACKED miniblock");
      }
      for (size_t j = 0; j < take; ++j) {
        uint64_t pos = static_cast<uint64_t>(j) * static_cast<uint64_t>(w);
        uint64_t d = w == 0 ? 0 : ReadBitsLsb(p, pos, w);
        last += min_delta + d;  // wraps, as the encoding defines
        out->push_back(static_cast<int64_t>(last));
      }
      produced += take;
      p += std::min(bytes, static_cast<size_t>(end - p));
    }
  }
  *consumed = static_cast<size_t>(p - data);
  return Status::Ok();
}

Status DecodeDeltaLengthByteArray(const uint8_t* data, size_t size, size_t n,
                                  std::vector<uint32_t>* offsets, std::string* bytes) {
  std::vector<int64_t> lens;
  size_t used = 0;
  LARDER_RETURN_IF_ERROR(DecodeDeltaBinaryPacked(data, size, n, &lens, &used));
  const uint8_t* p = data + used;
  size_t left = size - used;
  uint64_t sum = 0;
  for (int64_t l : lens) {
    if (l < 0) return EncodingError("negative byte array length");
    sum += static_cast<uint64_t>(l);
    if (sum > left) return EncodingError("byte array lengths past the end of the page");
  }
  if (bytes->size() + sum > kMaxChunkBytes)
    return EncodingError("column chunk over 1 GiB of bytes");
  if (offsets->empty()) offsets->push_back(static_cast<uint32_t>(bytes->size()));
  bytes->append(reinterpret_cast<const char*>(p), sum);
  uint64_t off = offsets->back();
  for (int64_t l : lens) {
    off += static_cast<uint64_t>(l);
    offsets->push_back(static_cast<uint32_t>(off));
  }
  return Status::Ok();
}

Status DecodeDeltaByteArray(const uint8_t* data, size_t size, size_t n,
                            std::vector<uint32_t>* offsets, std::string* bytes) {
  std::vector<int64_t> prefix;
  size_t used = 0;
  LARDER_RETURN_IF_ERROR(DecodeDeltaBinaryPacked(data, size, n, &prefix, &used));
  std::vector<uint32_t> soff;
  std::string sbytes;
  LARDER_RETURN_IF_ERROR(DecodeDeltaLengthByteArray(data + used, size - used, n, &soff, &sbytes));
  if (offsets->empty()) offsets->push_back(static_cast<uint32_t>(bytes->size()));
  std::string prev;
  for (size_t i = 0; i < n; ++i) {
    if (prefix[i] < 0 || static_cast<uint64_t>(prefix[i]) > prev.size()) {
      return EncodingError("DELTA_BYTE_ARRAY prefix longer than the previous value");
    }
    prev.resize(static_cast<size_t>(prefix[i]));
    prev.append(sbytes, soff[i], soff[i + 1] - soff[i]);
    if (bytes->size() + prev.size() > kMaxChunkBytes) {
      return EncodingError("column chunk over 1 GiB of bytes");
    }
    bytes->append(prev);
    offsets->push_back(static_cast<uint32_t>(bytes->size()));
  }
  return Status::Ok();
}

}  // namespace larder::parquet
