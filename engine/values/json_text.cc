// JSON text of values: string escaping, numbers, timestamps, the JsonWriter, AppendValueJson.
#include "engine/values/json_text.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>

#include "engine/values/cell_convert.h"
#include "larder/frame.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
constexpr std::string_view kEpochText = "\"1970-01-01T00:00:00Z\"";

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 if the byte there does not start one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&s](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b = byte(i);
  if (b < 0x80) return 1;
  size_t len = 0;
  uint8_t lo = 0x80;  // allowed range of the second byte
  uint8_t hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

// Appends `text` (no quotes), escaping '"', '\' and control characters; `text` is valid UTF-8
// or the caller replaces invalid sequences first.
void AppendEscaped(std::string_view text, std::string* out) {
  size_t run = 0;  // start of the pending run of bytes that need no escape
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + run, i - run);
    run = i + 1;
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else {
      const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out->append(esc, sizeof(esc));
    }
  }
  out->append(text.data() + run, text.size() - run);
}

// Appends a non-finite number as one of the strings "NaN", "Infinity", "-Infinity".
void AppendNonFinite(double x, std::string* out) {
  if (std::isnan(x)) {
    out->append("\"NaN\"");
  } else {
    out->append(x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  }
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

void AppendTimestamp(TimestampMicros ts, std::string* out) {
  if (ts == 0) {
    out->append(kEpochText);
    return;
  }
  // Rows of one response mostly share a few timestamps: remember the last one formatted.
  thread_local TimestampMicros last_ts = 0;
  thread_local std::string last_text;
  if (ts != last_ts || last_text.empty()) {
    last_ts = ts;
    last_text = FormatTimestamp(ts);
  }
  out->push_back('"');
  out->append(last_text);
  out->push_back('"');
}

// One element of a value: `i`, `f` or `s` holds it according to the scalar type's storage.
void AppendScalar(ScalarType t, int64_t i, double f, std::string_view s, std::string* out) {
  switch (t) {
    case ScalarType::kInt32:
    case ScalarType::kInt64:
      AppendInt(i, out);
      return;
    case ScalarType::kFloat32:
      AppendJsonFloat(static_cast<float>(f), out);
      return;
    case ScalarType::kFloat64:
      AppendJsonDouble(f, out);
      return;
    case ScalarType::kBool:
      out->append(i != 0 ? "true" : "false");
      return;
    case ScalarType::kString:
      AppendJsonString(s, out);
      return;
    case ScalarType::kBytes:
      out->push_back('"');
      out->append(Base64Encode(s));  // the alphabet needs no escaping
      out->push_back('"');
      return;
    case ScalarType::kUnixTimestamp:
      // Feast's Value.unix_timestamp_val is int64 epoch seconds, and both Feast servers write
      // it as that integer: the stored micros, floored to the second.
      AppendInt(i >= 0 ? i / 1000000 : -((-(i + 1)) / 1000000) - 1, out);
      return;
  }
  out->append("null");  // unreachable for a valid ScalarType
}

}  // namespace

void AppendTimestampJson(TimestampMicros ts, std::string* out) { AppendTimestamp(ts, out); }

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  if (simdjson::validate_utf8(text.data(), text.size())) {
    AppendEscaped(text, out);
  } else {
    size_t i = 0;
    while (i < text.size()) {
      size_t len = Utf8SequenceLength(text, i);
      if (len == 0) {
        out->append(kReplacementChar);
        ++i;
      } else {
        AppendEscaped(text.substr(i, len), out);
        i += len;
      }
    }
  }
  out->push_back('"');
}

void AppendJsonDouble(double x, std::string* out) {
  if (!std::isfinite(x)) return AppendNonFinite(x, out);
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  out->append(buf, res.ptr);
}

void AppendJsonFloat(float x, std::string* out) {
  if (!std::isfinite(x)) return AppendNonFinite(x, out);
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  out->append(buf, res.ptr);
}

// ---- JsonWriter ----

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_member_.empty()) {
    if (has_member_.back()) out_.push_back(',');
    has_member_.back() = true;
  }
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  has_member_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_.push_back('}');
  if (!has_member_.empty()) has_member_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  has_member_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_.push_back(']');
  if (!has_member_.empty()) has_member_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendJsonString(key, &out_);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view s) {
  BeforeValue();
  AppendJsonString(s, &out_);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t v) {
  BeforeValue();
  AppendInt(v, &out_);
  return *this;
}

JsonWriter& JsonWriter::UInt(uint64_t v) {
  BeforeValue();
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out_.append(buf, res.ptr);
  return *this;
}

JsonWriter& JsonWriter::Double(double v) {
  BeforeValue();
  AppendJsonDouble(v, &out_);
  return *this;
}

JsonWriter& JsonWriter::Float(float v) {
  BeforeValue();
  AppendJsonFloat(v, &out_);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool v) {
  BeforeValue();
  out_.append(v ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_.append(json);
  return *this;
}

// ---- Values and responses ----

void AppendValueJson(const Value& v, std::string* out) {
  if (v.is_null) {
    out->append("null");
    return;
  }
  const ScalarType t = v.dtype.scalar;
  if (!v.dtype.is_array) {
    AppendScalar(t, v.i64, v.f64, v.str, out);
    return;
  }
  out->push_back('[');
  size_t n = 0;
  switch (t) {
    case ScalarType::kFloat32:
    case ScalarType::kFloat64:
      n = v.f64s.size();
      break;
    case ScalarType::kString:
    case ScalarType::kBytes:
      n = v.strs.size();
      break;
    default:
      n = v.i64s.size();
      break;
  }
  for (size_t k = 0; k < n; ++k) {
    if (k > 0) out->push_back(',');
    switch (t) {
      case ScalarType::kFloat32:
      case ScalarType::kFloat64:
        AppendScalar(t, 0, v.f64s[k], {}, out);
        break;
      case ScalarType::kString:
      case ScalarType::kBytes:
        AppendScalar(t, 0, 0, v.strs[k], out);
        break;
      default:
        AppendScalar(t, v.i64s[k], 0, {}, out);
        break;
    }
  }
  out->push_back(']');
}

}  // namespace larder
