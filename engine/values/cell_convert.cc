// Cell → Value conversion, timestamps and base64.
#include "engine/values/cell_convert.h"

#include <simdjson.h>

#include <cctype>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "engine/quote.h"
#include "engine/values/json_cell.h"
#include "larder/civil_time.h"
#include "larder/frame.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

// 2^63 as a double: the first value past the int64 range.
constexpr double kTwoPow63 = 9223372036854775808.0;
constexpr int64_t kMinEpochSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxEpochSeconds = 253402300799;  // 9999-12-31T23:59:59Z

// ---- Civil calendar (proleptic Gregorian; H. Hinnant's days_from_civil / civil_from_days) ----

bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// ---- Timestamp parsing ----

// A cursor over timestamp text. Digit readers take exactly n ASCII digits or nothing.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool AtEnd() const { return pos_ == s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  bool Consume(char c) {
    if (AtEnd() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool Digits(size_t n, int* out) {
    if (s_.size() - pos_ < n) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      char c = s_[pos_ + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos_ += n;
    *out = v;
    return true;
  }
  // Reads a run of digits (possibly empty) and returns it.
  std::string_view DigitRun() {
    size_t start = pos_;
    while (!AtEnd() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return s_.substr(start, pos_ - start);
  }
  std::string_view Rest() const { return s_.substr(pos_); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// Reads "[+-]HH[:MM|MM]" or "Z" into *offset_seconds (east of UTC positive). Returns why not.
std::string ParseZone(Scanner* in, int64_t* offset_seconds) {
  if (in->Consume('Z') || in->Consume('z')) return "";
  int sign = in->Consume('+') ? 1 : (in->Consume('-') ? -1 : 0);
  if (sign == 0) return "";  // no zone: naive, UTC
  int hh = 0;
  int mm = 0;
  if (!in->Digits(2, &hh)) return "expected a zone offset like +HH:MM, +HHMM or +HH";
  if (in->Consume(':')) {
    if (!in->Digits(2, &mm)) return "expected a zone offset like +HH:MM, +HHMM or +HH";
  } else {
    in->Digits(2, &mm);  // optional in the +HHMM form
  }
  if (hh > 23 || mm > 59) return "zone offset is out of range";
  *offset_seconds = sign * (hh * 3600 + mm * 60);
  return "";
}

// Reads "HH:MM[:SS[.fraction]]" into seconds of day and micros. Returns why not.
std::string ParseTime(Scanner* in, int64_t* seconds, int64_t* micros) {
  int hh = 0;
  int mi = 0;
  int ss = 0;
  if (!in->Digits(2, &hh) || !in->Consume(':') || !in->Digits(2, &mi)) {
    return "expected HH:MM after the date";
  }
  if (in->Consume(':')) {
    if (!in->Digits(2, &ss)) return "expected two digits of seconds";
    if (in->Consume('.')) {
      std::string_view frac = in->DigitRun();
      if (frac.empty()) return "expected digits after the decimal point";
      if (frac.size() > 9) return "more than 9 fractional digits";
      // Truncate to microseconds: pad or cut to exactly 6 digits.
      int64_t us = 0;
      for (size_t i = 0; i < 6; ++i) us = us * 10 + (i < frac.size() ? frac[i] - '0' : 0);
      *micros = us;
    }
  }
  if (hh > 23) return "hour " + std::to_string(hh) + " is out of range";
  if (mi > 59) return "minute " + std::to_string(mi) + " is out of range";
  if (ss == 60) return "second 60 is out of range (leap seconds are not supported)";
  if (ss > 59) return "second " + std::to_string(ss) + " is out of range";
  *seconds = hh * 3600 + mi * 60 + ss;
  return "";
}

// Parses `text` into *out. Returns "" on success, else why the text is not a timestamp.
std::string ParseTimestampWhy(std::string_view text, TimestampMicros* out) {
  Scanner in(text);
  int year = 0;
  int month = 0;
  int day = 0;
  if (!in.Digits(4, &year) || !in.Consume('-') || !in.Digits(2, &month) || !in.Consume('-') ||
      !in.Digits(2, &day)) {
    return "expected YYYY-MM-DD";
  }
  if (year < 1) return "year " + std::to_string(year) + " is out of range (1..9999)";
  if (month < 1 || month > 12) return "month " + std::to_string(month) + " is out of range";
  if (day < 1 || day > DaysInMonth(year, month)) {
    return "day " + std::to_string(day) + " is out of range for " + std::string(text.substr(0, 7));
  }
  int64_t seconds_of_day = 0;
  int64_t micros = 0;
  int64_t offset = 0;
  if (!in.AtEnd()) {
    char sep = in.Peek();
    if (sep != 'T' && sep != 't' && sep != ' ') {
      return "unexpected " + QuoteInput(in.Rest()) + " after the date";
    }
    in.Consume(sep);
    std::string why = ParseTime(&in, &seconds_of_day, &micros);
    if (why.empty()) why = ParseZone(&in, &offset);
    if (!why.empty()) return why;
    if (!in.AtEnd()) return "unexpected trailing text " + QuoteInput(in.Rest());
  }
  int64_t seconds = DaysFromCivil(year, month, day) * kSecondsPerDay + seconds_of_day - offset;
  // An offset can carry the edge days past the range: the instant must be in years 1..9999 UTC,
  // like every stored timestamp (FormatTimestamp spells those, and reads them back).
  if (seconds < kMinEpochSeconds || seconds > kMaxEpochSeconds) {
    return "the instant is outside years 1..9999 in UTC";
  }
  *out = seconds * kMicrosPerSecond + micros;
  return "";
}

// Converts a timestamp cell into *out. Returns "" on success, else why not.
std::from_chars_result ParseInt(std::string_view s, int64_t* out);
std::from_chars_result ParseFloat(std::string_view s, double* out);

std::string TimestampWhy(const Cell& c, TimestampMicros* out) {
  switch (c.kind) {
    case Cell::Kind::kString: {
      // Text that is a plain number is epoch seconds, as a number cell is (CSV cells are text).
      int64_t i = 0;
      double d = 0;
      const bool numeric = !c.s.empty() && (std::isdigit(static_cast<unsigned char>(c.s[0])) ||
                                            c.s[0] == '-' || c.s[0] == '+' || c.s[0] == '.');
      if (numeric && ParseInt(c.s, &i).ec == std::errc()) return TimestampWhy(Cell::Int(i), out);
      if (numeric && ParseFloat(c.s, &d).ec == std::errc()) {
        return TimestampWhy(Cell::Double(d), out);
      }
      return ParseTimestampWhy(c.s, out);
    }
    // Epoch seconds are limited to the years the text form spells (1..9999): every stored
    // timestamp then formats as RFC 3339 and reads back, and `now - ts` cannot overflow.
    case Cell::Kind::kInt: {
      if (c.i > kMaxEpochSeconds || c.i < kMinEpochSeconds) {
        return "epoch seconds out of range (years 1..9999)";
      }
      *out = c.i * kMicrosPerSecond;
      return "";
    }
    case Cell::Kind::kDouble: {
      if (!std::isfinite(c.d)) return "not a finite number of epoch seconds";
      if (!(c.d >= static_cast<double>(kMinEpochSeconds) &&
            c.d < static_cast<double>(kMaxEpochSeconds + 1))) {
        return "epoch seconds out of range (years 1..9999)";
      }
      double us = std::round(c.d * static_cast<double>(kMicrosPerSecond));
      *out = static_cast<int64_t>(us);
      return "";
    }
    case Cell::Kind::kNull:
      return "timestamp is null";
    default:
      return "expected a timestamp string or a number of epoch seconds";
  }
}

// ---- Scalar conversions ----

// The converted payload of one scalar. Which member is meaningful follows the scalar type's
// storage class: i (Int32, Int64, Bool, UnixTimestamp), f (Float32, Float64), s (String, Bytes).
struct Scalar {
  int64_t i = 0;
  double f = 0;
  std::string s;
};

enum class Storage { kInt, kFloat, kText };

Storage StorageOf(ScalarType t) {
  switch (t) {
    case ScalarType::kFloat32:
    case ScalarType::kFloat64:
      return Storage::kFloat;
    case ScalarType::kString:
    case ScalarType::kBytes:
      return Storage::kText;
    default:
      return Storage::kInt;
  }
}

Status NotValid(const Cell& c, ScalarType t, std::string_view reason = {}) {
  std::string m = "value " + DescribeCell(c) + " is not a valid " + ScalarTypeName(t);
  if (!reason.empty()) m.append(" (").append(reason).append(")");
  return InvalidArgument(std::move(m));
}

// Strict base-10 integer: optional sign, digits, nothing else.
std::from_chars_result ParseInt(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (s.empty() || s[0] < '0' || s[0] > '9') return {s.data(), std::errc::invalid_argument};
  }
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (res.ec == std::errc() && res.ptr != s.data() + s.size()) res.ec = std::errc::invalid_argument;
  return res;
}

// Decimal or scientific floating point, "nan", "inf", "infinity" (any case), optional sign.
std::from_chars_result ParseFloat(std::string_view s, double* out) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (s.empty() || s[0] == '-' || s[0] == '+') return {s.data(), std::errc::invalid_argument};
  }
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (res.ec == std::errc() && res.ptr != s.data() + s.size()) res.ec = std::errc::invalid_argument;
  return res;
}

// Integer dtypes: ints, integral doubles, strict integer strings; Int32 range-checked.
Status ToInteger(const Cell& c, ScalarType t, int64_t* out) {
  int64_t v = 0;
  switch (c.kind) {
    case Cell::Kind::kInt:
      v = c.i;
      break;
    case Cell::Kind::kDouble:
      if (!std::isfinite(c.d) || c.d != std::trunc(c.d)) return NotValid(c, t, "not an integer");
      if (!(c.d >= -kTwoPow63 && c.d < kTwoPow63)) return NotValid(c, t, "out of range");
      v = static_cast<int64_t>(c.d);
      break;
    case Cell::Kind::kString: {
      auto res = ParseInt(c.s, &v);
      if (res.ec == std::errc::result_out_of_range) return NotValid(c, t, "out of range");
      if (res.ec != std::errc()) return NotValid(c, t);
      break;
    }
    default:
      return NotValid(c, t);
  }
  if (t == ScalarType::kInt32 &&
      (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())) {
    return NotValid(c, t, "out of range");
  }
  *out = v;
  return Status::Ok();
}

// Float dtypes: numbers and numeric strings. Float32 values are rounded to float.
Status ToFloat(const Cell& c, ScalarType t, double* out) {
  double x = 0;
  switch (c.kind) {
    case Cell::Kind::kInt:
      x = static_cast<double>(c.i);
      break;
    case Cell::Kind::kDouble:
      x = c.d;
      break;
    case Cell::Kind::kString: {
      auto res = ParseFloat(c.s, &x);
      if (res.ec == std::errc::result_out_of_range) return NotValid(c, t, "out of range");
      if (res.ec != std::errc()) return NotValid(c, t);
      break;
    }
    default:
      return NotValid(c, t);
  }
  if (t == ScalarType::kFloat32) {
    if (std::isfinite(x) && std::fabs(x) > FLT_MAX) return NotValid(c, t, "out of range");
    x = static_cast<double>(static_cast<float>(x));
  }
  *out = x;
  return Status::Ok();
}

Status ToBool(const Cell& c, int64_t* out) {
  constexpr ScalarType t = ScalarType::kBool;
  switch (c.kind) {
    case Cell::Kind::kBool:
      *out = c.b ? 1 : 0;
      return Status::Ok();
    case Cell::Kind::kInt:
      if (c.i != 0 && c.i != 1) return NotValid(c, t);
      *out = c.i;
      return Status::Ok();
    case Cell::Kind::kString:
      if (c.s == "true" || c.s == "True" || c.s == "TRUE" || c.s == "1") {
        *out = 1;
      } else if (c.s == "false" || c.s == "False" || c.s == "FALSE" || c.s == "0") {
        *out = 0;
      } else {
        return NotValid(c, t);
      }
      return Status::Ok();
    default:
      return NotValid(c, t);
  }
}

Status ToText(const Cell& c, ScalarType t, std::string* out) {
  if (t == ScalarType::kString) {
    if (c.kind != Cell::Kind::kString) return NotValid(c, t);
    if (!simdjson::validate_utf8(c.s.data(), c.s.size())) return NotValid(c, t, "invalid UTF-8");
    *out = c.s;
    return Status::Ok();
  }
  // Bytes: raw bytes, or base64 text.
  if (c.kind == Cell::Kind::kBytes) {
    *out = c.s;
    return Status::Ok();
  }
  if (c.kind != Cell::Kind::kString) return NotValid(c, t);
  auto decoded = Base64Decode(c.s);
  if (!decoded.ok()) return NotValid(c, t, "invalid base64");
  *out = std::move(decoded).value();
  return Status::Ok();
}

// Converts a non-null cell to one scalar of type `t`.
Status ToScalar(const Cell& c, ScalarType t, Scalar* out) {
  switch (t) {
    case ScalarType::kInt32:
    case ScalarType::kInt64:
      return ToInteger(c, t, &out->i);
    case ScalarType::kFloat32:
    case ScalarType::kFloat64:
      return ToFloat(c, t, &out->f);
    case ScalarType::kString:
    case ScalarType::kBytes:
      return ToText(c, t, &out->s);
    case ScalarType::kBool:
      return ToBool(c, &out->i);
    case ScalarType::kUnixTimestamp: {
      std::string why = TimestampWhy(c, &out->i);
      if (!why.empty()) return NotValid(c, t, why);
      return Status::Ok();
    }
  }
  return InternalError("unknown scalar type");
}

// Converts the elements of an array cell into the matching vector of *v.
Status FillArray(const Cell& whole, const std::vector<Cell>& elems, DType dtype, Value* v) {
  const Storage storage = StorageOf(dtype.scalar);
  Scalar scalar;
  for (size_t i = 0; i < elems.size(); ++i) {
    const Cell& e = elems[i];
    Status st = e.kind == Cell::Kind::kNull ? NotValid(e, dtype.scalar, "null inside an array")
                                            : ToScalar(e, dtype.scalar, &scalar);
    if (!st.ok()) {
      return InvalidArgument("value " + DescribeCell(whole) + " is not a valid " +
                             DTypeName(dtype) + ": element " + std::to_string(i) + ": " +
                             st.message());
    }
    switch (storage) {
      case Storage::kInt:
        v->i64s.push_back(scalar.i);
        break;
      case Storage::kFloat:
        v->f64s.push_back(scalar.f);
        break;
      case Storage::kText:
        v->strs.push_back(std::move(scalar.s));
        break;
    }
  }
  return Status::Ok();
}

Result<Value> ToArrayValue(const Cell& c, DType dtype) {
  Value v = Value::Null(dtype);
  v.is_null = false;
  if (c.kind == Cell::Kind::kArray) {
    LARDER_RETURN_IF_ERROR(FillArray(c, c.arr, dtype, &v));
    return v;
  }
  if (c.kind != Cell::Kind::kString) {
    return InvalidArgument("value " + DescribeCell(c) + " is not a valid " + DTypeName(dtype));
  }
  // CSV carries arrays as JSON text: "[1.5,2.5]".
  auto parsed = frame_internal::ParseJsonCell(c.s);
  if (!parsed.ok() || parsed->kind != Cell::Kind::kArray) {
    std::string why = parsed.ok() ? "expected a JSON array" : parsed.status().message();
    return InvalidArgument("value " + DescribeCell(c) + " is not a valid " + DTypeName(dtype) +
                           " (" + why + ")");
  }
  LARDER_RETURN_IF_ERROR(FillArray(c, parsed->arr, dtype, &v));
  return v;
}

// ---- Base64 ----

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for alphabet characters, -1 otherwise.
int Base64Digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Result<TimestampMicros> ParseTimestamp(std::string_view text) {
  TimestampMicros ts = 0;
  std::string why = ParseTimestampWhy(text, &ts);
  if (!why.empty()) return InvalidArgument("invalid timestamp " + QuoteInput(text) + ": " + why);
  return ts;
}

std::string FormatTimestamp(TimestampMicros ts) {
  const auto [days, sod, micros] = SplitTimestamp(ts);
  const CivilDate date = CivilFromDays(days);
  std::string out;
  out.reserve(32);
  auto put = [&out](int64_t v, int width) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    (void)ec;  // 24 bytes always hold an int64
    for (int pad = width - static_cast<int>(end - buf); pad > 0; --pad) out.push_back('0');
    out.append(buf, end);
  };
  if (date.year < 0) out.push_back('-');
  put(date.year < 0 ? -date.year : date.year, 4);
  out.push_back('-');
  put(date.month, 2);
  out.push_back('-');
  put(date.day, 2);
  out.push_back('T');
  put(sod / 3600, 2);
  out.push_back(':');
  put(sod / 60 % 60, 2);
  out.push_back(':');
  put(sod % 60, 2);
  if (micros != 0) {
    out.push_back('.');
    if (micros % 1000 == 0) {
      put(micros / 1000, 3);
    } else {
      put(micros, 6);
    }
  }
  out.push_back('Z');
  return out;
}

Result<TimestampMicros> CellToTimestamp(const Cell& c) {
  TimestampMicros ts = 0;
  std::string why = TimestampWhy(c, &ts);
  if (why.empty()) return ts;
  if (c.kind == Cell::Kind::kNull) return InvalidArgument(why);
  if (c.kind == Cell::Kind::kString) {
    return InvalidArgument("invalid timestamp " + QuoteInput(c.s) + ": " + why);
  }
  return NotValid(c, ScalarType::kUnixTimestamp, why);
}

Result<Value> CellToValue(const Cell& c, DType dtype) {
  Value v;
  LARDER_RETURN_IF_ERROR(CellToValueInto(c, dtype, &v));
  return v;
}

Status CellToValueInto(const Cell& c, DType dtype, Value* out) {
  if (dtype.is_array && c.kind != Cell::Kind::kNull) {
    LARDER_ASSIGN_OR_RETURN(*out, ToArrayValue(c, dtype));
    return Status::Ok();
  }
  Scalar scalar;
  if (c.kind != Cell::Kind::kNull) LARDER_RETURN_IF_ERROR(ToScalar(c, dtype.scalar, &scalar));
  out->dtype = dtype;
  out->is_null = c.kind == Cell::Kind::kNull;
  out->i64 = 0;
  out->f64 = 0;
  out->str.clear();
  out->i64s.clear();
  out->f64s.clear();
  out->strs.clear();
  if (out->is_null) return Status::Ok();
  switch (StorageOf(dtype.scalar)) {
    case Storage::kInt:
      out->i64 = scalar.i;
      break;
    case Storage::kFloat:
      out->f64 = scalar.f;
      break;
    case Storage::kText:
      out->str = std::move(scalar.s);
      break;
  }
  return Status::Ok();
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&bytes](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out.push_back(kBase64Alphabet[n >> 18]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out.push_back(kBase64Alphabet[n >> 18]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return InvalidArgument("invalid base64: length " + std::to_string(text.size()) +
                           " is not a multiple of 4");
  }
  // Padding: at most two '=' and only at the very end.
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  const size_t digits = text.size() - pad;
  for (size_t k = 0; k < digits; ++k) {
    int d = Base64Digit(text[k]);
    if (d < 0) {
      return InvalidArgument("invalid base64: unexpected character at offset " + std::to_string(k));
    }
    acc = acc << 6 | static_cast<uint32_t>(d);
    if (k % 4 == 3) {
      out.push_back(static_cast<char>(acc >> 16));
      out.push_back(static_cast<char>(acc >> 8));
      out.push_back(static_cast<char>(acc));
      acc = 0;
    }
  }
  // The final quad holds 4 - pad digits: 3 digits → 2 bytes, 2 digits → 1 byte.
  if (pad == 1) {
    out.push_back(static_cast<char>(acc >> 10));
    out.push_back(static_cast<char>(acc >> 2));
  } else if (pad == 2) {
    out.push_back(static_cast<char>(acc >> 4));
  }
  return out;
}

}  // namespace larder
