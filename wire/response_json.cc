// JSON output in the shapes of Feast's feature server: the get-online-features response and
// error bodies.
#include "wire/response_json.h"

#include <string>

#include "engine/values/json_text.h"

namespace larder {

std::string OnlineResponseToJson(const OnlineResponse& response) {
  std::string out;
  size_t cells = 0;
  for (const FeatureColumn& c : response.results) cells += c.values.size();
  out.reserve(64 + 32 * response.feature_names.size() + 48 * cells);

  out.append("{\"metadata\":{\"feature_names\":[");
  for (size_t i = 0; i < response.feature_names.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(response.feature_names[i], &out);
  }
  out.append("]},\"results\":[");
  for (size_t c = 0; c < response.results.size(); ++c) {
    const FeatureColumn& col = response.results[c];
    if (c > 0) out.push_back(',');
    auto status_of = [&col](size_t r) {
      return r < col.statuses.size() ? col.statuses[r] : FieldStatus::kInvalid;
    };
    out.append("{\"values\":[");
    for (size_t r = 0; r < col.values.size(); ++r) {
      if (r > 0) out.push_back(',');
      const FieldStatus s = status_of(r);
      if (s == FieldStatus::kPresent || s == FieldStatus::kOutsideMaxAge) {
        AppendValueJson(col.values[r], &out);
      } else {
        out.append("null");  // NOT_FOUND, NULL_VALUE, INVALID: no value to show
      }
    }
    out.append("],\"statuses\":[");
    for (size_t r = 0; r < col.values.size(); ++r) {
      if (r > 0) out.push_back(',');
      out.push_back('"');
      out.append(FieldStatusName(status_of(r)));
      out.push_back('"');
    }
    out.append("],\"event_timestamps\":[");
    for (size_t r = 0; r < col.values.size(); ++r) {
      if (r > 0) out.push_back(',');
      AppendTimestampJson(r < col.event_timestamps.size() ? col.event_timestamps[r] : 0, &out);
    }
    out.append("]}");
  }
  out.append("]}");
  return out;
}

const char* FeastErrorClass(ErrorCode code) {
  switch (code) {
    case ErrorCode::kFeatureViewNotFound:
      return "FeatureViewNotFoundException";
    case ErrorCode::kFeatureServiceNotFound:
      return "FeatureServiceNotFoundException";
    case ErrorCode::kPushSourceNotFound:
      return "PushSourceNotFoundException";
    case ErrorCode::kDataSourceNotFound:
      return "DataSourceNotFoundException";
    case ErrorCode::kFeatureNotFound:
      return "FeastObjectNotFoundException";
    default:
      return "FeastError";
  }
}

std::string ErrorJson(std::string_view code, std::string_view message,
                      std::string_view feast_class) {
  JsonWriter w;
  w.BeginObject();
  w.Key("module").String("feast.errors");
  w.Key("class").String(feast_class);
  w.Key("message").String(message);
  w.Key("code").String(code);
  w.EndObject();
  std::string out;
  AppendJsonString(w.Take(), &out);
  return out;
}

std::string ErrorToJson(const Status& status) {
  return ErrorJson(ErrorCodeName(status.code()), status.message(), FeastErrorClass(status.code()));
}

}  // namespace larder
