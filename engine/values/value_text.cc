// Canonical text of values, output cells, and offline entity keys.
#include "engine/values/value_text.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/values/cell_convert.h"
#include "engine/values/json_text.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

template <typename T>
void AppendNumber(T v, std::string* out) {
  char buf[48];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

void AppendU32(uint32_t n, std::string* out) {
  char b[4] = {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16),
               static_cast<char>(n >> 24)};
  out->append(b, 4);
}

void AppendI64(int64_t v, std::string* out) {
  auto u = static_cast<uint64_t>(v);
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(u >> (8 * i));
  out->append(b, 8);
}

// Float32 values are kept widened to double; this is the double of their shortest text.
double NiceFloat32(double widened) {
  char buf[48];
  auto res = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(widened));
  double d = widened;
  std::from_chars(buf, res.ptr, d);
  return d;
}

Cell ScalarCell(ScalarType t, int64_t i, double f, const std::string& s) {
  switch (t) {
    case ScalarType::kInt32:
    case ScalarType::kInt64:
      return Cell::Int(i);
    case ScalarType::kFloat32:
      return std::isfinite(f) ? Cell::Double(NiceFloat32(f)) : Cell::Double(f);
    case ScalarType::kFloat64:
      return Cell::Double(f);
    case ScalarType::kBool:
      return Cell::Bool(i != 0);
    case ScalarType::kString:
      return Cell::String(s);
    case ScalarType::kBytes:
      return Cell::Bytes(s);
    case ScalarType::kUnixTimestamp:
      return Cell::String(FormatTimestamp(i));
  }
  return Cell::Null();
}

// Strict decimal integer ("+12", "-3", "0042"), as the push path accepts it.
bool ParseStrictInt(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  }
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

}  // namespace

void AppendValueText(const Value& v, std::string* out) {
  if (v.dtype.is_array) {
    AppendValueJson(v, out);
    return;
  }
  switch (v.dtype.scalar) {
    case ScalarType::kInt32:
    case ScalarType::kInt64:
      AppendNumber(v.i64, out);
      return;
    case ScalarType::kFloat32:
      AppendNumber(static_cast<float>(v.f64), out);
      return;
    case ScalarType::kFloat64:
      AppendNumber(v.f64, out);
      return;
    case ScalarType::kBool:
      out->append(v.i64 != 0 ? "true" : "false");
      return;
    case ScalarType::kString:
      out->append(v.str);
      return;
    case ScalarType::kBytes:
      out->append(Base64Encode(v.str));
      return;
    case ScalarType::kUnixTimestamp:
      out->append(FormatTimestamp(v.i64));
      return;
  }
}

Cell ValueToCell(const Value& v) {
  if (v.is_null) return Cell::Null();
  const ScalarType t = v.dtype.scalar;
  if (!v.dtype.is_array) return ScalarCell(t, v.i64, v.f64, v.str);
  std::vector<Cell> elems;
  static const std::string kEmpty;
  switch (t) {
    case ScalarType::kFloat32:
    case ScalarType::kFloat64:
      for (double f : v.f64s) elems.push_back(ScalarCell(t, 0, f, kEmpty));
      break;
    case ScalarType::kString:
    case ScalarType::kBytes:
      for (const std::string& s : v.strs) elems.push_back(ScalarCell(t, 0, 0, s));
      break;
    default:
      for (int64_t i : v.i64s) elems.push_back(ScalarCell(t, i, 0, kEmpty));
      break;
  }
  return Cell::Array(std::move(elems));
}

void AppendCellJson(const Cell& c, std::string* out) {
  switch (c.kind) {
    case Cell::Kind::kNull:
      out->append("null");
      return;
    case Cell::Kind::kBool:
      out->append(c.b ? "true" : "false");
      return;
    case Cell::Kind::kInt:
      AppendNumber(c.i, out);
      return;
    case Cell::Kind::kDouble:
      AppendJsonDouble(c.d, out);
      return;
    case Cell::Kind::kString:
      AppendJsonString(c.s, out);
      return;
    case Cell::Kind::kBytes:
      AppendJsonString(Base64Encode(c.s), out);
      return;
    case Cell::Kind::kArray:
      out->push_back('[');
      for (size_t i = 0; i < c.arr.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendCellJson(c.arr[i], out);
      }
      out->push_back(']');
      return;
  }
}

void AppendCellText(const Cell& c, std::string* out) {
  switch (c.kind) {
    case Cell::Kind::kNull:
      return;
    case Cell::Kind::kString:
      out->append(c.s);
      return;
    case Cell::Kind::kBytes:
      out->append(Base64Encode(c.s));
      return;
    case Cell::Kind::kDouble:
      AppendNumber(c.d, out);  // "nan", "inf": what the CSV number parser reads back
      return;
    default:
      AppendCellJson(c, out);
      return;
  }
}

Status AppendKeyPartFromText(std::string_view text, bool is_null, ScalarType type,
                             std::string* key) {
  if (is_null) return InvalidArgument("join key is null");
  switch (type) {
    case ScalarType::kInt32:
    case ScalarType::kInt64: {
      int64_t v = 0;
      if (ParseStrictInt(text, &v) &&
          (type == ScalarType::kInt64 || (v >= std::numeric_limits<int32_t>::min() &&
                                          v <= std::numeric_limits<int32_t>::max()))) {
        AppendI64(v, key);
        return Status::Ok();
      }
      return CellToValue(Cell::String(std::string(text)), DType{type, false}).status();
    }
    case ScalarType::kString:
      AppendU32(static_cast<uint32_t>(text.size()), key);
      key->append(text);
      return Status::Ok();
    default: {
      auto v = CellToValue(Cell::String(std::string(text)), DType{type, false});
      if (!v.ok()) return v.status();
      AppendU32(static_cast<uint32_t>(v->str.size()), key);
      key->append(v->str);
      return Status::Ok();
    }
  }
}

Status AppendKeyPartFromInt(int64_t v, ScalarType type, std::string* key) {
  if (type == ScalarType::kInt32 &&
      (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())) {
    return CellToValue(Cell::Int(v), DType{type, false}).status();
  }
  AppendI64(v, key);
  return Status::Ok();
}

void AppendKeyPartFromBytes(std::string_view bytes, std::string* key) {
  AppendU32(static_cast<uint32_t>(bytes.size()), key);
  key->append(bytes);
}

Status AppendKeyPartFromCell(const Cell& c, ScalarType type, std::string* key) {
  if (c.kind == Cell::Kind::kNull) return InvalidArgument("join key is null");
  LARDER_ASSIGN_OR_RETURN(Value v, CellToValue(c, DType{type, false}));
  if (type == ScalarType::kInt32 || type == ScalarType::kInt64) {
    AppendI64(v.i64, key);
  } else {
    AppendU32(static_cast<uint32_t>(v.str.size()), key);
    key->append(v.str);
  }
  return Status::Ok();
}

Result<TimestampMicros> ParseTimestampField(std::string_view text, bool is_null) {
  if (is_null) return InvalidArgument("timestamp is null");
  return ParseTimestamp(text);
}

}  // namespace larder
