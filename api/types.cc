#include "larder/types.h"

namespace larder {

const char* ScalarTypeName(ScalarType t) {
  switch (t) {
    case ScalarType::kBytes: return "Bytes";
    case ScalarType::kString: return "String";
    case ScalarType::kInt32: return "Int32";
    case ScalarType::kInt64: return "Int64";
    case ScalarType::kFloat64: return "Float64";
    case ScalarType::kFloat32: return "Float32";
    case ScalarType::kBool: return "Bool";
    case ScalarType::kUnixTimestamp: return "UnixTimestamp";
  }
  return "?";
}

std::string DTypeName(DType t) {
  std::string s = ScalarTypeName(t.scalar);
  return t.is_array ? "Array(" + s + ")" : s;
}

static Result<ScalarType> ParseScalar(std::string_view text) {
  for (int i = 1; i <= 8; ++i) {
    auto t = static_cast<ScalarType>(i);
    if (text == ScalarTypeName(t)) return t;
  }
  return InvalidArgument("unknown type '" + std::string(text) +
                         "' (expected Int32, Int64, Float32, Float64, String, Bytes, Bool, "
                         "UnixTimestamp or Array(T) of one)");
}

Result<DType> ParseDType(std::string_view text) {
  constexpr std::string_view kArray = "Array(";
  if (text.substr(0, kArray.size()) == kArray && !text.empty() && text.back() == ')') {
    auto inner = ParseScalar(text.substr(kArray.size(), text.size() - kArray.size() - 1));
    if (!inner.ok()) {
      return InvalidArgument("unknown type '" + std::string(text) + "': " +
                             inner.status().message());
    }
    return DType{*inner, true};
  }
  LARDER_ASSIGN_OR_RETURN(ScalarType s, ParseScalar(text));
  return DType{s, false};
}

Result<DType> DType::Decode(uint8_t byte) {
  uint8_t scalar = byte & 0x7f;
  if (scalar < 1 || scalar > 8) return CorruptStore("invalid dtype byte " + std::to_string(byte));
  return DType{static_cast<ScalarType>(scalar), (byte & 0x80) != 0};
}

const char* FieldStatusName(FieldStatus s) {
  switch (s) {
    case FieldStatus::kInvalid: return "INVALID";
    case FieldStatus::kPresent: return "PRESENT";
    case FieldStatus::kNullValue: return "NULL_VALUE";
    case FieldStatus::kNotFound: return "NOT_FOUND";
    case FieldStatus::kOutsideMaxAge: return "OUTSIDE_MAX_AGE";
  }
  return "INVALID";
}

}  // namespace larder
