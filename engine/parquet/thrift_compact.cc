// Thrift compact protocol: varints, zigzag integers, delta-encoded field ids.
#include "engine/parquet/thrift_compact.h"

#include <cstring>

namespace larder::parquet {

namespace {

int64_t ZigZagDecode(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }
uint64_t ZigZagEncode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

}  // namespace

Status CompactReader::Corrupt(const char* what) const {
  return Status(ErrorCode::kDataSourceError, std::string("corrupt Thrift metadata at byte ") +
                                                 std::to_string(consumed()) + ": " + what);
}

Result<uint64_t> CompactReader::ReadVarint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p_ == end_) return Corrupt("truncated varint");
    uint8_t b = *p_++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  return Corrupt("varint longer than 10 bytes");
}

Result<bool> CompactReader::NextField(int16_t* id, TType* type) {
  if (p_ == end_) return Corrupt("truncated struct (no stop byte)");
  uint8_t b = *p_++;
  if (b == 0) return false;
  *type = static_cast<TType>(b & 0x0f);
  if (*type > TType::kStruct) return Corrupt("unknown field type");
  int delta = b >> 4;
  if (delta != 0) {
    *id = static_cast<int16_t>(last_id_ + delta);
  } else {
    LARDER_ASSIGN_OR_RETURN(uint64_t raw, ReadVarint());
    *id = static_cast<int16_t>(ZigZagDecode(raw));
  }
  last_id_ = *id;
  return true;
}

Status CompactReader::BeginStruct() {
  if (depth_ >= kMaxDepth) return Corrupt("structs nested too deeply");
  stack_[depth_++] = last_id_;
  last_id_ = 0;
  return Status::Ok();
}

void CompactReader::EndStruct() {
  if (depth_ > 0) last_id_ = stack_[--depth_];
}

Result<bool> CompactReader::ReadBool(TType type) {
  if (type == TType::kTrue) return true;
  if (type == TType::kFalse) return false;
  if (p_ == end_) return Corrupt("truncated bool");
  uint8_t b = *p_++;  // a list element: 1 = true
  return b == 1;
}

Result<int8_t> CompactReader::ReadByte() {
  if (p_ == end_) return Corrupt("truncated byte");
  return static_cast<int8_t>(*p_++);
}

Result<int32_t> CompactReader::ReadI32() {
  LARDER_ASSIGN_OR_RETURN(uint64_t raw, ReadVarint());
  int64_t v = ZigZagDecode(raw);
  if (v < INT32_MIN || v > INT32_MAX) return Corrupt("i32 out of range");
  return static_cast<int32_t>(v);
}

Result<int64_t> CompactReader::ReadI64() {
  LARDER_ASSIGN_OR_RETURN(uint64_t raw, ReadVarint());
  return ZigZagDecode(raw);
}

Result<std::string_view> CompactReader::ReadBinary() {
  LARDER_ASSIGN_OR_RETURN(uint64_t n, ReadVarint());
  if (n > left()) return Corrupt("binary length past the end");
  std::string_view s(reinterpret_cast<const char*>(p_), n);
  p_ += n;
  return s;
}

Result<uint32_t> CompactReader::ReadListHeader(TType* elem) {
  if (p_ == end_) return Corrupt("truncated list header");
  uint8_t b = *p_++;
  *elem = static_cast<TType>(b & 0x0f);
  if (*elem > TType::kStruct) return Corrupt("unknown list element type");
  uint64_t n = b >> 4;
  if (n == 15) {
    LARDER_ASSIGN_OR_RETURN(n, ReadVarint());
  }
  // Every element takes at least one byte (a struct its stop byte).
  if (n > left()) return Corrupt("list longer than the bytes left");
  return static_cast<uint32_t>(n);
}

Status CompactReader::Skip(TType type) { return SkipDepth(type, depth_); }

Status CompactReader::SkipDepth(TType type, int depth) {
  if (depth >= kMaxDepth) return Corrupt("values nested too deeply");
  switch (type) {
    case TType::kTrue:
    case TType::kFalse:
      return Status::Ok();  // a field's bool lives in its header
    case TType::kByte:
      if (p_ == end_) return Corrupt("truncated byte");
      ++p_;
      return Status::Ok();
    case TType::kI16:
    case TType::kI32:
    case TType::kI64:
      return ReadVarint().status();
    case TType::kDouble:
      if (left() < 8) return Corrupt("truncated double");
      p_ += 8;
      return Status::Ok();
    case TType::kBinary:
      return ReadBinary().status();
    case TType::kList:
    case TType::kSet: {
      TType elem;
      LARDER_ASSIGN_OR_RETURN(uint32_t n, ReadListHeader(&elem));
      for (uint32_t i = 0; i < n; ++i) {
        if (elem == TType::kTrue || elem == TType::kFalse) {
          if (p_ == end_) return Corrupt("truncated bool list");
          ++p_;
        } else {
          LARDER_RETURN_IF_ERROR(SkipDepth(elem, depth + 1));
        }
      }
      return Status::Ok();
    }
    case TType::kMap: {
      LARDER_ASSIGN_OR_RETURN(uint64_t n, ReadVarint());
      if (n == 0) return Status::Ok();
      if (n > left()) return Corrupt("map longer than the bytes left");
      if (p_ == end_) return Corrupt("truncated map header");
      uint8_t kv = *p_++;
      TType k = static_cast<TType>(kv >> 4);
      TType v = static_cast<TType>(kv & 0x0f);
      if (k > TType::kStruct || v > TType::kStruct) return Corrupt("unknown map type");
      for (uint64_t i = 0; i < n; ++i) {
        LARDER_RETURN_IF_ERROR(SkipDepth(k, depth + 1));
        LARDER_RETURN_IF_ERROR(SkipDepth(v, depth + 1));
      }
      return Status::Ok();
    }
    case TType::kStruct: {
      LARDER_RETURN_IF_ERROR(BeginStruct());
      for (;;) {
        int16_t id;
        TType t;
        auto more = NextField(&id, &t);
        if (!more.ok()) return more.status();
        if (!*more) break;
        LARDER_RETURN_IF_ERROR(SkipDepth(t, depth + 1));
      }
      EndStruct();
      return Status::Ok();
    }
    case TType::kStop:
      break;
  }
  return Corrupt("unexpected stop type");
}

// ---- writer ----

void CompactWriter::Varint(uint64_t v) {
  while (v >= 0x80) {
    out_->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_->push_back(static_cast<char>(v));
}

void CompactWriter::Header(int16_t id, TType type) {
  int delta = id - last_id_;
  if (delta > 0 && delta <= 15) {
    out_->push_back(static_cast<char>((delta << 4) | static_cast<int>(type)));
  } else {
    out_->push_back(static_cast<char>(type));
    Varint(ZigZagEncode(id));
  }
  last_id_ = id;
}

void CompactWriter::FieldI32(int16_t id, int32_t v) {
  Header(id, TType::kI32);
  Varint(ZigZagEncode(v));
}

void CompactWriter::FieldI64(int16_t id, int64_t v) {
  Header(id, TType::kI64);
  Varint(ZigZagEncode(v));
}

void CompactWriter::FieldBool(int16_t id, bool v) { Header(id, v ? TType::kTrue : TType::kFalse); }

void CompactWriter::FieldBinary(int16_t id, std::string_view v) {
  Header(id, TType::kBinary);
  Varint(v.size());
  out_->append(v);
}

void CompactWriter::BeginStructField(int16_t id) {
  Header(id, TType::kStruct);
  stack_[depth_++] = last_id_;
  last_id_ = 0;
}

void CompactWriter::BeginListField(int16_t id, TType elem, uint32_t n) {
  Header(id, TType::kList);
  if (n < 15) {
    out_->push_back(static_cast<char>((n << 4) | static_cast<uint32_t>(elem)));
  } else {
    out_->push_back(static_cast<char>(0xf0 | static_cast<int>(elem)));
    Varint(n);
  }
}

void CompactWriter::BeginListStruct() {
  stack_[depth_++] = last_id_;
  last_id_ = 0;
}

void CompactWriter::ListI32(int32_t v) { Varint(ZigZagEncode(v)); }

void CompactWriter::ListBinary(std::string_view v) {
  Varint(v.size());
  out_->append(v);
}

void CompactWriter::EndStruct() {
  out_->push_back(0);
  if (depth_ > 0) last_id_ = stack_[--depth_];
}

}  // namespace larder::parquet
