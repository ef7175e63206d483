#include "layout/entity_key.h"

#include <cstring>

namespace larder::layout {

namespace {

template <typename T>
void AppendLittleEndian(T v, std::string* out) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "key encoding assumes little-endian");
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

template <typename T>
bool ReadLittleEndian(std::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

}  // namespace

void AppendInt64EntityKeyPart(int64_t v, std::string* out) { AppendLittleEndian<int64_t>(v, out); }

Status AppendEntityKeyPart(const Value& v, ScalarType type, std::string* out) {
  if (v.is_null) return InvalidArgument("a join key value is null");
  if (v.dtype.is_array || v.dtype.scalar != type) {
    return InvalidArgument("join key value of type " + DTypeName(v.dtype) + " where " +
                           ScalarTypeName(type) + " is expected");
  }
  switch (type) {
    case ScalarType::kInt64:
      AppendInt64EntityKeyPart(v.i64, out);
      return Status::Ok();
    case ScalarType::kInt32:
      AppendLittleEndian<int32_t>(static_cast<int32_t>(v.i64), out);
      return Status::Ok();
    case ScalarType::kString:
    case ScalarType::kBytes:
      AppendLittleEndian<uint32_t>(static_cast<uint32_t>(v.str.size()), out);
      out->append(v.str);
      return Status::Ok();
    default:
      return InvalidArgument(std::string("join keys cannot be of type ") + ScalarTypeName(type));
  }
}

Result<std::vector<Value>> DecodeEntityKey(std::string_view key,
                                           const std::vector<ScalarType>& types) {
  std::vector<Value> out;
  out.reserve(types.size());
  for (ScalarType t : types) {
    switch (t) {
      case ScalarType::kInt64: {
        int64_t v;
        if (!ReadLittleEndian(&key, &v)) return CorruptStore("entity key too short for Int64");
        out.push_back(Value::Int64(v));
        break;
      }
      case ScalarType::kInt32: {
        int32_t v;
        if (!ReadLittleEndian(&key, &v)) return CorruptStore("entity key too short for Int32");
        out.push_back(Value::Int32(v));
        break;
      }
      case ScalarType::kString:
      case ScalarType::kBytes: {
        uint32_t len;
        if (!ReadLittleEndian(&key, &len) || key.size() < len) {
          return CorruptStore("entity key string length out of bounds");
        }
        std::string s(key.substr(0, len));
        key.remove_prefix(len);
        out.push_back(t == ScalarType::kString ? Value::String(std::move(s))
                                                : Value::Bytes(std::move(s)));
        break;
      }
      default:
        return CorruptStore("entity key of a type that cannot be a key");
    }
  }
  if (!key.empty()) return CorruptStore("entity key has trailing bytes");
  return out;
}

}  // namespace larder::layout
