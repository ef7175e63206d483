// JSON text of values: string literals, numbers, timestamps, a small writer (string escaping,
// commas) that the CLI, the HTTP server and the offline store's value text reuse, and
// AppendValueJson. Feast's response shapes are built on it in wire/response_json.h.
// Thread-safety: plain functions; a JsonWriter belongs to one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "larder/status.h"
#include "larder/types.h"

namespace larder {

// Appends `text` to *out as a JSON string literal, quotes included. '"' and '\' are escaped
// with a backslash, control characters (U+0000..U+001F) as \u00XX; valid UTF-8 passes through
// unchanged and each byte of an invalid UTF-8 sequence becomes U+FFFD, so the output is always
// valid JSON.
void AppendJsonString(std::string_view text, std::string* out);

// Appends the shortest decimal text that reads back as exactly `x` (std::to_chars). NaN and
// infinities have no JSON number: they are written as the JSON strings "NaN", "Infinity" and
// "-Infinity" (the spelling Python's json module and Feast's Python server use, as strings).
void AppendJsonDouble(double x, std::string* out);
// Same for a float: the shortest text that reads back as exactly `x` as a float.
void AppendJsonFloat(float x, std::string* out);

// Appends `ts` as an RFC 3339 JSON string (0, i.e. unknown, is "1970-01-01T00:00:00Z").
void AppendTimestampJson(TimestampMicros ts, std::string* out);

// Builds compact JSON (no spaces) into a string, inserting commas between members and elements.
// The caller pairs Begin/End calls and puts a Key before each object member.
//
//   JsonWriter w;
//   w.BeginObject().Key("rows").Int(3).Key("names").BeginArray().String("a").EndArray();
//   w.EndObject();  // w.str() == R"({"rows":3,"names":["a"]})"
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& UInt(uint64_t v);
  JsonWriter& Double(double v);  // AppendJsonDouble
  JsonWriter& Float(float v);    // AppendJsonFloat
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // Appends already-serialized JSON as one value.
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }
  // The underlying buffer, for values written with the Append* functions after BeforeValue().
  std::string* buffer() { return &out_; }
  // Writes the comma a new value needs at this point (if any). Every value method calls it.
  void BeforeValue();

 private:
  std::string out_;
  // One flag per open object/array: true once it holds a member, so the next needs a comma.
  std::vector<bool> has_member_;
  bool after_key_ = false;
};

// Appends `v` as a JSON value: null when is_null; Int32/Int64 as integers; Float32/Float64 as
// AppendJsonFloat/AppendJsonDouble; Bool as true/false; String as a string; Bytes as base64;
// UnixTimestamp as integer epoch seconds (floored), as Feast's servers write unix_timestamp_val;
// arrays as arrays of those.
void AppendValueJson(const Value& v, std::string* out);

}  // namespace larder
