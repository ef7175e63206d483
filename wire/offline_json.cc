#include "wire/offline_json.h"

#include <simdjson.h>

#include "engine/values/csv_stream.h"
#include "engine/values/json_cell.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"
#include "wire/json_body.h"
#include "wire/response_json.h"

namespace larder {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;
using json_body::CheckKeys;
using json_body::OptionalBool;
using json_body::ParseFeatureSelection;
using json_body::ParseObject;

Result<TimestampMicros> RequiredTimestamp(const object& obj, std::string_view key) {
  element el;
  if (obj[key].get(el)) return InvalidArgument("field '" + std::string(key) + "' is missing");
  Cell c;
  std::string_view s;
  int64_t i = 0;
  double d = 0;
  if (!el.get_string().get(s)) {
    c = Cell::String(std::string(s));
  } else if (!el.get_int64().get(i)) {
    c = Cell::Int(i);
  } else if (!el.get_double().get(d)) {
    c = Cell::Double(d);
  } else {
    return InvalidArgument("field '" + std::string(key) +
                           "' must be an RFC 3339 string or epoch seconds");
  }
  auto ts = CellToTimestamp(c);
  if (!ts.ok())
    return InvalidArgument("field '" + std::string(key) + "': " + ts.status().message());
  return *ts;
}

Result<std::vector<std::string>> StringList(const element& el, std::string_view key) {
  std::vector<std::string> out;
  if (el.is_null()) return out;
  array arr;
  if (el.get_array().get(arr)) {
    return InvalidArgument("field '" + std::string(key) + "' must be an array of strings");
  }
  for (element e : arr) {
    std::string_view s;
    if (e.get_string().get(s)) {
      return InvalidArgument("field '" + std::string(key) + "' must be an array of strings");
    }
    out.emplace_back(s);
  }
  return out;
}

}  // namespace

Result<MaterializeRequest> ParseMaterializeRequestJson(std::string_view body, bool incremental,
                                                       UnknownFields unknown) {
  simdjson::dom::parser parser;
  LARDER_ASSIGN_OR_RETURN(object obj, ParseObject(parser, body));
  if (incremental) {
    // disable_event_timestamp is not in Feast's incremental model; Larder took it (false) before.
    LARDER_RETURN_IF_ERROR(CheckKeys(
        obj, {"end_ts", "feature_views", "full_feature_names", "version", "disable_event_timestamp"},
        unknown));
  } else {
    LARDER_RETURN_IF_ERROR(CheckKeys(obj,
                                     {"start_ts", "end_ts", "feature_views",
                                      "disable_event_timestamp", "full_feature_names", "version"},
                                     unknown));
  }
  MaterializeRequest req;
  LARDER_RETURN_IF_ERROR(OptionalBool(obj, "disable_event_timestamp", &req.disable_event_timestamp));
  if (incremental && req.disable_event_timestamp) {
    return InvalidArgument(
        "field 'disable_event_timestamp': materialize-incremental does not take it (Feast's "
        "neither); use /materialize");
  }
  LARDER_RETURN_IF_ERROR(OptionalBool(obj, "full_feature_names", &req.full_feature_names));
  element el;
  if (!obj["version"].get(el) && !el.is_null()) {
    return InvalidArgument(
        "field 'version': Larder keeps no feature view versions; give null or leave it out");
  }
  if (!req.disable_event_timestamp) {
    if (!incremental) {
      LARDER_ASSIGN_OR_RETURN(TimestampMicros start, RequiredTimestamp(obj, "start_ts"));
      req.start = start;
    }
    LARDER_ASSIGN_OR_RETURN(req.end, RequiredTimestamp(obj, "end_ts"));
  }
  if (!obj["feature_views"].get(el)) {
    LARDER_ASSIGN_OR_RETURN(req.feature_views, StringList(el, "feature_views"));
  }
  return req;
}

Result<HistoricalRequest> ParseHistoricalRequestJson(std::string_view body) {
  simdjson::dom::parser parser;
  LARDER_ASSIGN_OR_RETURN(object obj, ParseObject(parser, body));
  LARDER_RETURN_IF_ERROR(CheckKeys(
      obj, {"features", "feature_service", "entity_df", "full_feature_names"},
      UnknownFields::kRefuse));  // Larder's own body (C API), not one of Feast's models
  HistoricalRequest req;
  LARDER_RETURN_IF_ERROR(ParseFeatureSelection(obj, &req.features, &req.feature_service,
                                               &req.full_feature_names));
  element el;
  if (obj["entity_df"].get(el)) return InvalidArgument("field 'entity_df' is missing");
  LARDER_ASSIGN_OR_RETURN(req.entity_df, frame_internal::FrameFromJsonColumns(el, "entity_df"));
  return req;
}

std::string MaterializeResultToJson(const MaterializeResult& result) {
  JsonWriter w;
  w.BeginObject().Key("views").BeginArray();
  for (const MaterializeResult::View& v : result.views) {
    w.BeginObject();
    w.Key("name").String(v.name);
    w.Key("start").String(FormatTimestamp(v.start));
    w.Key("end").String(FormatTimestamp(v.end));
    w.Key("rows_read").UInt(v.rows_read);
    w.Key("rows_written").UInt(v.rows_written);
    w.Key("rows_skipped").UInt(v.rows_skipped);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

std::string FrameToJsonColumns(const Frame& frame) {
  std::string out = "{";
  for (size_t c = 0; c < frame.names.size(); ++c) {
    if (c > 0) out.push_back(',');
    AppendJsonString(frame.names[c], &out);
    out.append(":[");
    for (size_t r = 0; r < frame.columns[c].size(); ++r) {
      if (r > 0) out.push_back(',');
      AppendCellJson(frame.columns[c][r], &out);
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

std::string FrameToCsv(const Frame& frame) {
  std::string out;
  for (size_t c = 0; c < frame.names.size(); ++c) {
    if (c > 0) out.push_back(',');
    AppendCsvField(frame.names[c], &out);
  }
  out.push_back('\n');
  std::string text;
  for (size_t r = 0; r < frame.num_rows(); ++r) {
    for (size_t c = 0; c < frame.columns.size(); ++c) {
      if (c > 0) out.push_back(',');
      const Cell& cell = frame.columns[c][r];
      if (cell.kind == Cell::Kind::kNull) continue;
      text.clear();
      AppendCellText(cell, &text);
      AppendCsvField(text, &out);
    }
    out.push_back('\n');
  }
  return out;
}

}  // namespace larder
