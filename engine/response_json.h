// JSON output in the shapes of Feast's HTTP feature server: the get-online-features response,
// error bodies, and a small writer (string escaping, commas) that the CLI and the HTTP server
// reuse for their own JSON.
// Thread-safety: plain functions; a JsonWriter belongs to one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "larder/online.h"
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

// Feast's get-online-features JSON, compact:
//   {"metadata":{"feature_names":[...]},"results":[{"values":[...],"statuses":[...],
//    "event_timestamps":[...]},...]}
// A value whose status is NOT_FOUND, NULL_VALUE or INVALID is null; timestamps are RFC 3339
// (0, i.e. unknown, is "1970-01-01T00:00:00Z").
std::string OnlineResponseToJson(const OnlineResponse& response);

// The class in Feast's feast.errors module that names `code` for a Feast client:
// FeatureViewNotFoundException, FeatureServiceNotFoundException, PushSourceNotFoundException,
// DataSourceNotFoundException, FeastObjectNotFoundException (an unknown feature); FeastError
// for every other code (Feast has no closer class; the client still raises it with the
// message).
const char* FeastErrorClass(ErrorCode code);

// An error body that Feast's clients turn back into the Feast exception and that still carries
// Larder's code. Feast's server answers a FeastError with the JSON *string* that
// FeastError.to_error_detail returns, and its client re-raises what
// FeastError.from_error_detail(json.loads(body)) builds (sdk/python/feast/errors.py,
// rest_error_handler.py): so the body is a JSON string whose text is the object
//   {"module":"feast.errors","class":"FeatureViewNotFoundException","message":"...",
//    "code":"FeatureViewNotFound"}
// (code = ErrorCodeName; message is Larder's). Parse it twice to read the object.
std::string ErrorToJson(const Status& status);
// The same for an error of the HTTP layer, with its own code (RouteNotFound, ...).
std::string ErrorJson(std::string_view code, std::string_view message,
                      std::string_view feast_class = "FeastError");

}  // namespace larder
