// Value types shared by the registry, the push path and the read path.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "larder/status.h"

namespace larder {

// Scalar types; the numbers are Feast's ValueType numbers (lists are +10 there).
enum class ScalarType : uint8_t {
  kBytes = 1,
  kString = 2,
  kInt32 = 3,
  kInt64 = 4,
  kFloat64 = 5,
  kFloat32 = 6,
  kBool = 7,
  kUnixTimestamp = 8,
};

// A feature's dtype: a scalar or Array(scalar).
struct DType {
  ScalarType scalar = ScalarType::kInt64;
  bool is_array = false;

  // One byte for the registry: scalar | 0x80 when an array.
  uint8_t Encode() const { return static_cast<uint8_t>(scalar) | (is_array ? 0x80 : 0); }
  static Result<DType> Decode(uint8_t byte);
  friend bool operator==(const DType&, const DType&) = default;
};

// "Int64", "Array(String)", ...: the spelling feature_store.yaml uses.
std::string DTypeName(DType t);
const char* ScalarTypeName(ScalarType t);
// Parses the YAML spelling; error names the bad text.
Result<DType> ParseDType(std::string_view text);

// Feast's FieldStatus numbering.
enum class FieldStatus : uint8_t {
  kInvalid = 0,
  kPresent = 1,
  kNullValue = 2,
  kNotFound = 3,
  kOutsideMaxAge = 4,
};
// "PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE", "INVALID".
const char* FieldStatusName(FieldStatus s);

// Timestamps inside Larder are microseconds since the Unix epoch, UTC.
using TimestampMicros = int64_t;

// One typed value (a feature value or a join-key value). Scalars live inline; strings and
// bytes in `str`; arrays in the vector matching their scalar's storage class.
struct Value {
  DType dtype;
  bool is_null = true;
  int64_t i64 = 0;              // Int32, Int64, Bool (0/1), UnixTimestamp (micros)
  double f64 = 0;               // Float32 (exactly widened), Float64
  std::string str;              // String (UTF-8), Bytes (raw)
  std::vector<int64_t> i64s;    // Array of Int32, Int64, Bool, UnixTimestamp
  std::vector<double> f64s;     // Array of Float32, Float64
  std::vector<std::string> strs;  // Array of String, Bytes

  static Value Null(DType t) {
    Value v;
    v.dtype = t;
    return v;
  }
  static Value Int64(int64_t x) { return Scalar(ScalarType::kInt64, x); }
  static Value Int32(int32_t x) { return Scalar(ScalarType::kInt32, x); }
  static Value Bool(bool x) { return Scalar(ScalarType::kBool, x ? 1 : 0); }
  static Value Timestamp(TimestampMicros x) { return Scalar(ScalarType::kUnixTimestamp, x); }
  static Value Float64(double x) {
    Value v = Null({ScalarType::kFloat64, false});
    v.is_null = false;
    v.f64 = x;
    return v;
  }
  static Value Float32(float x) {
    Value v = Null({ScalarType::kFloat32, false});
    v.is_null = false;
    v.f64 = x;
    return v;
  }
  static Value String(std::string s) { return Text(ScalarType::kString, std::move(s)); }
  static Value Bytes(std::string s) { return Text(ScalarType::kBytes, std::move(s)); }

  friend bool operator==(const Value&, const Value&) = default;

 private:
  static Value Scalar(ScalarType t, int64_t x) {
    Value v = Null({t, false});
    v.is_null = false;
    v.i64 = x;
    return v;
  }
  static Value Text(ScalarType t, std::string s) {
    Value v = Null({t, false});
    v.is_null = false;
    v.str = std::move(s);
    return v;
  }
};

}  // namespace larder
