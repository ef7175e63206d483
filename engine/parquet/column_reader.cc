// Column chunk decoding: page headers, decompression, levels, PLAIN / dictionary / DELTA /
// BYTE_STREAM_SPLIT values.
#include "engine/parquet/column_reader.h"

#include <bit>
#include <cstring>

#include "engine/parquet/compression.h"
#include "engine/parquet/encodings.h"

namespace larder::parquet {

namespace {

int BitWidth(int max_level) {
  return max_level == 0 ? 0 : std::bit_width(static_cast<unsigned>(max_level));
}

uint32_t Le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

size_t PlainWidth(const LeafShape& s) {
  switch (s.type) {
    case PhysicalType::kInt32:
    case PhysicalType::kFloat:
      return 4;
    case PhysicalType::kInt64:
    case PhysicalType::kDouble:
      return 8;
    case PhysicalType::kInt96:
      return 12;
    case PhysicalType::kFixedLenByteArray:
      return static_cast<size_t>(s.type_length);
    default:
      return 0;
  }
}

void AppendBytes(const uint8_t* p, size_t n, LeafData* out) {
  if (out->offsets.empty()) out->offsets.push_back(static_cast<uint32_t>(out->bytes.size()));
  out->bytes.append(reinterpret_cast<const char*>(p), n);
  out->offsets.push_back(static_cast<uint32_t>(out->bytes.size()));
}

// PLAIN values: exactly n of them from [p, p + size).
Status DecodePlain(const uint8_t* p, size_t size, size_t n, const LeafShape& s, LeafData* out) {
  switch (s.type) {
    case PhysicalType::kBoolean: {
      if (BitPackedBytes(n, 1) > size) return EncodingError("PLAIN booleans past the page end");
      for (size_t i = 0; i < n; ++i) out->ints.push_back((p[i >> 3] >> (i & 7)) & 1);
      return Status::Ok();
    }
    case PhysicalType::kInt32: {
      if (n * 4 > size) return EncodingError("PLAIN INT32 values past the page end");
      size_t base = out->ints.size();
      out->ints.resize(base + n);
      for (size_t i = 0; i < n; ++i) out->ints[base + i] = static_cast<int32_t>(Le32(p + 4 * i));
      return Status::Ok();
    }
    case PhysicalType::kInt64: {
      if (n * 8 > size) return EncodingError("PLAIN INT64 values past the page end");
      size_t base = out->ints.size();
      out->ints.resize(base + n);
      if (n > 0) std::memcpy(out->ints.data() + base, p, n * 8);  // data() may be null
      return Status::Ok();
    }
    case PhysicalType::kFloat: {
      if (n * 4 > size) return EncodingError("PLAIN FLOAT values past the page end");
      size_t base = out->reals.size();
      out->reals.resize(base + n);
      for (size_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        out->reals[base + i] = f;
      }
      return Status::Ok();
    }
    case PhysicalType::kDouble: {
      if (n * 8 > size) return EncodingError("PLAIN DOUBLE values past the page end");
      size_t base = out->reals.size();
      out->reals.resize(base + n);
      if (n > 0) std::memcpy(out->reals.data() + base, p, n * 8);
      return Status::Ok();
    }
    case PhysicalType::kInt96:
    case PhysicalType::kFixedLenByteArray: {
      size_t w = PlainWidth(s);
      if (w == 0 || n * w > size)
        return EncodingError("PLAIN fixed-width values past the page end");
      if (out->bytes.size() + n * w > kMaxChunkBytes)
        return EncodingError("column chunk too large");
      out->offsets.reserve(out->offsets.size() + n + 1);
      for (size_t i = 0; i < n; ++i) AppendBytes(p + i * w, w, out);
      return Status::Ok();
    }
    case PhysicalType::kByteArray: {
      size_t pos = 0;
      out->offsets.reserve(out->offsets.size() + n + 1);
      for (size_t i = 0; i < n; ++i) {
        if (size - pos < 4) return EncodingError("PLAIN BYTE_ARRAY length past the page end");
        uint32_t len = Le32(p + pos);
        pos += 4;
        if (len > size - pos) return EncodingError("PLAIN BYTE_ARRAY value past the page end");
        if (out->bytes.size() + len > kMaxChunkBytes)
          return EncodingError("column chunk too large");
        AppendBytes(p + pos, len, out);
        pos += len;
      }
      return Status::Ok();
    }
  }
  return EncodingError("unknown physical type");
}

Status DecodeByteStreamSplit(const uint8_t* p, size_t size, size_t n, const LeafShape& s,
                             LeafData* out) {
  size_t w = PlainWidth(s);
  if (w == 0 || s.type == PhysicalType::kInt96) {
    return EncodingError(std::string("BYTE_STREAM_SPLIT on ") + PhysicalTypeName(s.type));
  }
  if (n * w > size) return EncodingError("BYTE_STREAM_SPLIT values past the page end");
  std::string joined(n * w, '\0');
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < w; ++k) joined[i * w + k] = static_cast<char>(p[k * n + i]);
  }
  return DecodePlain(reinterpret_cast<const uint8_t*>(joined.data()), joined.size(), n, s, out);
}

// Copies values [i] of `dict` for each index into `out`.
Status Gather(const LeafData& dict, const std::vector<uint32_t>& idx, LeafData* out) {
  const size_t n = dict.values();
  for (uint32_t i : idx) {
    if (i >= n) return EncodingError("dictionary index " + std::to_string(i) + " out of range");
  }
  if (!dict.ints.empty()) {
    for (uint32_t i : idx) out->ints.push_back(dict.ints[i]);
  } else if (!dict.reals.empty()) {
    for (uint32_t i : idx) out->reals.push_back(dict.reals[i]);
  } else {
    uint64_t total = 0;
    for (uint32_t i : idx) total += dict.offsets[i + 1] - dict.offsets[i];
    if (out->bytes.size() + total > kMaxChunkBytes) return EncodingError("column chunk too large");
    out->bytes.reserve(out->bytes.size() + total);
    out->offsets.reserve(out->offsets.size() + idx.size() + 1);
    for (uint32_t i : idx) {
      AppendBytes(reinterpret_cast<const uint8_t*>(dict.bytes.data()) + dict.offsets[i],
                  dict.offsets[i + 1] - dict.offsets[i], out);
    }
  }
  return Status::Ok();
}

Status DecodeValues(int32_t encoding, const uint8_t* p, size_t size, size_t n, const LeafShape& s,
                    const LeafData* dict, LeafData* out) {
  switch (encoding) {
    case kPlain:
      return DecodePlain(p, size, n, s, out);
    case kPlainDictionary:
    case kRleDictionary: {
      if (dict == nullptr) return EncodingError("dictionary-encoded page without a dictionary");
      if (n == 0) return Status::Ok();
      if (size < 1) return EncodingError("missing dictionary index bit width");
      std::vector<uint32_t> idx(n);
      RleDecoder rle(p + 1, size - 1, p[0]);
      LARDER_RETURN_IF_ERROR(rle.Get(idx.data(), n));
      return Gather(*dict, idx, out);
    }
    case kRle: {
      if (s.type != PhysicalType::kBoolean) return EncodingError("RLE values on a non-boolean");
      if (size < 4) return EncodingError("truncated RLE boolean length");
      uint32_t len = Le32(p);
      if (len > size - 4) return EncodingError("RLE booleans past the page end");
      std::vector<uint32_t> v(n);
      RleDecoder rle(p + 4, len, 1);
      LARDER_RETURN_IF_ERROR(rle.Get(v.data(), n));
      for (uint32_t b : v) out->ints.push_back(b);
      return Status::Ok();
    }
    case kDeltaBinaryPacked: {
      if (s.type != PhysicalType::kInt32 && s.type != PhysicalType::kInt64) {
        return EncodingError("DELTA_BINARY_PACKED on a non-integer column");
      }
      size_t used = 0;
      size_t base = out->ints.size();
      LARDER_RETURN_IF_ERROR(DecodeDeltaBinaryPacked(p, size, n, &out->ints, &used));
      if (s.type == PhysicalType::kInt32) {
        for (size_t i = base; i < out->ints.size(); ++i) {
          out->ints[i] = static_cast<int32_t>(static_cast<uint32_t>(out->ints[i]));
        }
      }
      return Status::Ok();
    }
    case kDeltaLengthByteArray:
      if (s.type != PhysicalType::kByteArray) return EncodingError("DELTA_LENGTH_BYTE_ARRAY type");
      return DecodeDeltaLengthByteArray(p, size, n, &out->offsets, &out->bytes);
    case kDeltaByteArray: {
      if (s.type != PhysicalType::kByteArray && s.type != PhysicalType::kFixedLenByteArray) {
        return EncodingError("DELTA_BYTE_ARRAY type");
      }
      return DecodeDeltaByteArray(p, size, n, &out->offsets, &out->bytes);
    }
    case kByteStreamSplit:
      return DecodeByteStreamSplit(p, size, n, s, out);
    default:
      break;
  }
  return Status(ErrorCode::kDataSourceError, std::string("encoding ") + EncodingName(encoding) +
                                                 " (" + std::to_string(encoding) +
                                                 ") is not supported");
}

// Levels of a v1 page: RLE with a 4-byte length prefix, or BIT_PACKED.
Status DecodeV1Levels(int32_t encoding, int max_level, const uint8_t*& p, const uint8_t* end,
                      size_t n, uint8_t* out) {
  const int w = BitWidth(max_level);
  size_t left = static_cast<size_t>(end - p);
  if (encoding == kBitPacked) {
    size_t used = 0;
    LARDER_RETURN_IF_ERROR(DecodeBitPackedLevels(p, left, w, n, out, &used));
    p += used;
  } else {
    if (left < 4) return EncodingError("truncated level length");
    uint32_t len = Le32(p);
    if (len > left - 4) return EncodingError("levels past the page end");
    std::vector<uint32_t> v(n);
    RleDecoder rle(p + 4, len, w);
    LARDER_RETURN_IF_ERROR(rle.Get(v.data(), n));
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(v[i]);
    p += 4 + len;
  }
  for (size_t i = 0; i < n; ++i) {
    if (out[i] > max_level) return EncodingError("level above the column's maximum");
  }
  return Status::Ok();
}

Status DecodeRawLevels(int max_level, const uint8_t* p, size_t size, size_t n, uint8_t* out) {
  std::vector<uint32_t> v(n);
  RleDecoder rle(p, size, BitWidth(max_level));
  LARDER_RETURN_IF_ERROR(rle.Get(v.data(), n));
  for (size_t i = 0; i < n; ++i) {
    if (v[i] > static_cast<uint32_t>(max_level)) {
      return EncodingError("level above the column's maximum");
    }
    out[i] = static_cast<uint8_t>(v[i]);
  }
  return Status::Ok();
}

}  // namespace

Result<LeafData> ReadLeaf(const uint8_t* chunk, size_t size, const ColumnMeta& meta,
                          const LeafShape& shape) {
  if (shape.max_def > 255 || shape.max_rep > 255) return EncodingError("nesting too deep");
  if (shape.type == PhysicalType::kFixedLenByteArray &&
      (shape.type_length <= 0 || shape.type_length > (1 << 20))) {
    return EncodingError("bad FIXED_LEN_BYTE_ARRAY length " + std::to_string(shape.type_length));
  }
  if (meta.num_values < 0 || static_cast<uint64_t>(meta.num_values) > kMaxChunkValues) {
    return EncodingError("column chunk of " + std::to_string(meta.num_values) +
                         " values (at most " + std::to_string(kMaxChunkValues) + " are read)");
  }
  const size_t want = static_cast<size_t>(meta.num_values);
  LeafData out;
  LeafData dict;
  bool have_dict = false;
  std::string page;  // decompressed page
  size_t pos = 0;
  while (out.entries < want) {
    if (pos >= size) return EncodingError("column chunk ends before all its values");
    size_t hlen = 0;
    LARDER_ASSIGN_OR_RETURN(PageHeader h, ParsePageHeader(chunk + pos, size - pos, &hlen));
    pos += hlen;
    if (static_cast<size_t>(h.compressed_size) > size - pos) {
      return EncodingError("page past the end of the column chunk");
    }
    if (static_cast<size_t>(h.uncompressed_size) > kMaxPageBytes) {
      return EncodingError("page of " + std::to_string(h.uncompressed_size) +
                           " bytes (at most 64 MiB are read)");
    }
    if (static_cast<size_t>(h.num_values) > kMaxPageValues) {
      return EncodingError("page of " + std::to_string(h.num_values) + " values");
    }
    const uint8_t* body = chunk + pos;
    pos += static_cast<size_t>(h.compressed_size);
    const size_t n = static_cast<size_t>(h.num_values);

    if (h.type == PageType::kIndexPage) continue;
    if (h.type == PageType::kDictionaryPage) {
      if (have_dict) return EncodingError("two dictionary pages in one column chunk");
      LARDER_RETURN_IF_ERROR(Decompress(meta.codec, body, static_cast<size_t>(h.compressed_size),
                                        static_cast<size_t>(h.uncompressed_size), &page));
      if (h.encoding != kPlain && h.encoding != kPlainDictionary) {
        return EncodingError(std::string("dictionary page encoded ") + EncodingName(h.encoding));
      }
      LARDER_RETURN_IF_ERROR(
          DecodePlain(reinterpret_cast<const uint8_t*>(page.data()), page.size(), n, shape, &dict));
      if (!dict.offsets.empty() && dict.offsets.size() == 1) dict.offsets.clear();
      have_dict = true;
      continue;
    }
    if (n > want - out.entries) return EncodingError("pages hold more values than the chunk");

    const uint8_t* p = nullptr;
    const uint8_t* end = nullptr;
    size_t base = out.entries;
    if (shape.max_def > 0) out.def.resize(base + n);
    if (shape.max_rep > 0) out.rep.resize(base + n);
    if (h.type == PageType::kDataPage) {
      LARDER_RETURN_IF_ERROR(Decompress(meta.codec, body, static_cast<size_t>(h.compressed_size),
                                        static_cast<size_t>(h.uncompressed_size), &page));
      p = reinterpret_cast<const uint8_t*>(page.data());
      end = p + page.size();
      if (shape.max_rep > 0) {
        LARDER_RETURN_IF_ERROR(
            DecodeV1Levels(h.rep_encoding, shape.max_rep, p, end, n, out.rep.data() + base));
      }
      if (shape.max_def > 0) {
        LARDER_RETURN_IF_ERROR(
            DecodeV1Levels(h.def_encoding, shape.max_def, p, end, n, out.def.data() + base));
      }
    } else {  // v2: levels uncompressed before the (maybe compressed) values
      const size_t lv = static_cast<size_t>(h.rep_bytes) + static_cast<size_t>(h.def_bytes);
      if (lv > static_cast<size_t>(h.compressed_size) ||
          lv > static_cast<size_t>(h.uncompressed_size)) {
        return EncodingError("v2 page levels longer than the page");
      }
      if (shape.max_rep > 0) {
        LARDER_RETURN_IF_ERROR(DecodeRawLevels(
            shape.max_rep, body, static_cast<size_t>(h.rep_bytes), n, out.rep.data() + base));
      }
      if (shape.max_def > 0) {
        LARDER_RETURN_IF_ERROR(DecodeRawLevels(shape.max_def, body + h.rep_bytes,
                                               static_cast<size_t>(h.def_bytes), n,
                                               out.def.data() + base));
      }
      const size_t vsize = static_cast<size_t>(h.compressed_size) - lv;
      const size_t vraw = static_cast<size_t>(h.uncompressed_size) - lv;
      if (vsize == 0 && vraw == 0) {
        // No values section at all (every value null): there is nothing to decompress, and
        // zero bytes are no valid stream for most codecs (parquet-mr writes such pages).
        page.clear();
      } else if (h.is_compressed && meta.codec != 0) {
        LARDER_RETURN_IF_ERROR(Decompress(meta.codec, body + lv, vsize, vraw, &page));
      } else {
        page.assign(reinterpret_cast<const char*>(body + lv), vsize);
      }
      p = reinterpret_cast<const uint8_t*>(page.data());
      end = p + page.size();
    }
    size_t present = n;
    if (shape.max_def > 0) {
      present = 0;
      for (size_t i = base; i < base + n; ++i) present += out.def[i] == shape.max_def;
    }
    if (shape.max_rep > 0 && n > 0 && base == 0 && out.rep[0] != 0) {
      return EncodingError("first value of a column chunk continues a list");
    }
    LARDER_RETURN_IF_ERROR(DecodeValues(h.encoding, p, static_cast<size_t>(end - p), present, shape,
                                        have_dict ? &dict : nullptr, &out));
    out.entries += n;
  }
  if (out.values() == 0) {
    out.offsets.clear();
  }
  return out;
}

}  // namespace larder::parquet
