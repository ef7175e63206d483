// The layout Feast's Redis online store uses (feast/infra/online_stores/redis.py), so the
// comparison stores the same bytes a Feast deployment would:
//
//   key   = serialize_entity_key(entity_key, v3) + project          (one hash per entity key)
//   field = _mmh3("<view>:<feature>")  (4 bytes: MurmurHash3_x86_32, seed 0, little-endian)
//   value = ValueProto.SerializeToString()                          (feast/types/Value.proto)
//   field "_ts:<view>" = google.protobuf.Timestamp.SerializeToString()
//
// serialize_entity_key v3 (feast/infra/key_encoding_utils.py), for sorted join keys:
//   u32 n_keys; per key: u32 ValueType.STRING(2), u32 len, name bytes;
//   per value: u32 value type, u32 len, value bytes (INT64 = 4: 8 bytes little-endian).
// Protobuf encodings are written and parsed by hand (a few tags): Value.string_val = field 2,
// float_val = field 6; Timestamp.seconds = field 1, nanos = field 2.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "larder/timestamp.h"

namespace larder::loadtest::feast {

inline uint32_t Murmur3_32(std::string_view data, uint32_t seed = 0) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  uint32_t h = seed;
  const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
  auto rotl = [](uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t k;
    std::memcpy(&k, p + i, 4);
    k *= c1;
    k = rotl(k, 15);
    k *= c2;
    h ^= k;
    h = rotl(h, 13);
    h = h * 5 + 0xe6546b64;
  }
  uint32_t k = 0;
  switch (n & 3) {
    case 3: k ^= uint32_t{p[i + 2]} << 16; [[fallthrough]];
    case 2: k ^= uint32_t{p[i + 1]} << 8; [[fallthrough]];
    case 1:
      k ^= p[i];
      k *= c1;
      k = rotl(k, 15);
      k *= c2;
      h ^= k;
  }
  h ^= static_cast<uint32_t>(n);
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

inline void PutU32(std::string* out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out->append(b, 4);
}

// Feast's hash field name of a feature: 4 bytes.
inline std::string FieldName(std::string_view view, std::string_view feature) {
  std::string s;
  s.append(view).append(":").append(feature);
  std::string out;
  PutU32(&out, Murmur3_32(s));
  return out;
}

inline std::string TimestampField(std::string_view view) { return "_ts:" + std::string(view); }

// The Redis key of an Int64 single-join-key entity. kIdOffset: where the 8 id bytes sit, so a
// caller can patch a template instead of rebuilding it.
struct EntityKeyTemplate {
  std::string bytes;
  size_t id_offset = 0;

  EntityKeyTemplate(std::string_view join_key, std::string_view project) {
    PutU32(&bytes, 1);  // one join key
    PutU32(&bytes, 2);  // ValueType.STRING
    PutU32(&bytes, static_cast<uint32_t>(join_key.size()));
    bytes.append(join_key);
    PutU32(&bytes, 4);  // ValueType.INT64
    PutU32(&bytes, 8);
    id_offset = bytes.size();
    bytes.append(8, '\0');
    bytes.append(project);
  }
  void Set(int64_t id) { std::memcpy(bytes.data() + id_offset, &id, 8); }
};

inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

inline std::string FloatValue(float f) {
  std::string out(1, static_cast<char>((6 << 3) | 5));  // float_val, fixed32
  char b[4];
  std::memcpy(b, &f, 4);
  out.append(b, 4);
  return out;
}

inline std::string StringValue(std::string_view s) {
  std::string out(1, static_cast<char>((2 << 3) | 2));  // string_val, length-delimited
  PutVarint(&out, s.size());
  out.append(s);
  return out;
}

inline std::string TimestampValue(int64_t micros) {
  std::string out;
  const int64_t seconds = micros / 1000000;
  const int64_t nanos = (micros % 1000000) * 1000;
  if (seconds != 0) {
    out.push_back(static_cast<char>((1 << 3) | 0));
    PutVarint(&out, static_cast<uint64_t>(seconds));
  }
  if (nanos != 0) {
    out.push_back(static_cast<char>((2 << 3) | 0));
    PutVarint(&out, static_cast<uint64_t>(nanos));
  }
  return out;
}

// ---- Parsing (what a Feast reader does with the bytes: ValueProto.ParseFromString) ----

inline bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t b = *p++;
    r |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) {
      *v = r;
      return true;
    }
  }
  return false;
}

// One ValueProto holding a float_val or a string_val. Returns false on anything else.
struct ParsedValue {
  enum class Kind { kNull, kFloat, kString } kind = Kind::kNull;
  float f = 0;
  std::string_view s;
};
inline bool ParseValue(std::string_view bytes, ParsedValue* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const auto* end = p + bytes.size();
  out->kind = ParsedValue::Kind::kNull;
  while (p < end) {
    uint64_t tag;
    if (!ReadVarint(p, end, &tag)) return false;
    const uint32_t field = static_cast<uint32_t>(tag >> 3), wire = tag & 7;
    if (field == 6 && wire == 5) {
      if (end - p < 4) return false;
      std::memcpy(&out->f, p, 4);
      p += 4;
      out->kind = ParsedValue::Kind::kFloat;
    } else if (field == 2 && wire == 2) {
      uint64_t len;
      if (!ReadVarint(p, end, &len) || len > static_cast<uint64_t>(end - p)) return false;
      out->s = std::string_view(reinterpret_cast<const char*>(p), len);
      p += len;
      out->kind = ParsedValue::Kind::kString;
    } else {
      return false;
    }
  }
  return true;
}

inline bool ParseTimestamp(std::string_view bytes, int64_t* micros) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const auto* end = p + bytes.size();
  uint64_t seconds = 0, nanos = 0;
  while (p < end) {
    uint64_t tag, v;
    if (!ReadVarint(p, end, &tag) || (tag & 7) != 0 || !ReadVarint(p, end, &v)) return false;
    if ((tag >> 3) == 1) seconds = v;
    else if ((tag >> 3) == 2) nanos = v;
  }
  *micros = static_cast<int64_t>(seconds) * 1000000 + static_cast<int64_t>(nanos) / 1000;
  return true;
}

}  // namespace larder::loadtest::feast
