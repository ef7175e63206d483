#include "wire/request_json.h"

#include <simdjson.h>

#include "wire/json_body.h"
#include "engine/values/json_cell.h"

namespace larder {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;
using json_body::CheckKeys;
using json_body::ParseFeatureSelection;
using json_body::ParseObject;

Result<std::string> RequiredString(const object& obj, std::string_view key) {
  element el;
  if (obj[key].get(el)) return InvalidArgument("field '" + std::string(key) + "' is missing");
  std::string_view s;
  if (el.get_string().get(s)) {
    return InvalidArgument("field '" + std::string(key) + "' must be a string");
  }
  return std::string(s);
}

}  // namespace

Result<OnlineRequest> ParseOnlineRequestJson(std::string_view body) {
  // One parser per thread: it keeps its buffers between requests. The frame built below copies
  // everything it needs, so the parsed document may be overwritten by the next call.
  thread_local simdjson::dom::parser parser;
  LARDER_ASSIGN_OR_RETURN(object obj, ParseObject(parser, body));
  LARDER_RETURN_IF_ERROR(
      CheckKeys(obj, {"features", "feature_service", "entities", "full_feature_names"}));
  OnlineRequest req;
  LARDER_RETURN_IF_ERROR(ParseFeatureSelection(obj, &req.features, &req.feature_service,
                                               &req.full_feature_names));
  element el;
  if (obj["entities"].get(el)) return InvalidArgument("field 'entities' is missing");
  LARDER_ASSIGN_OR_RETURN(req.entities, frame_internal::FrameFromJsonColumns(el, "entities"));
  return req;
}

Result<PushRequest> ParsePushRequestJson(std::string_view body) {
  // One parser per thread: it keeps its buffers between requests. The frame built below copies
  // everything it needs, so the parsed document may be overwritten by the next call.
  thread_local simdjson::dom::parser parser;
  LARDER_ASSIGN_OR_RETURN(object obj, ParseObject(parser, body));
  LARDER_RETURN_IF_ERROR(CheckKeys(obj, {"push_source_name", "df", "to", "allow_registry_cache"}));
  PushRequest req;
  LARDER_ASSIGN_OR_RETURN(req.push_source_name, RequiredString(obj, "push_source_name"));
  element el;
  if (obj["df"].get(el)) return InvalidArgument("field 'df' is missing");
  LARDER_ASSIGN_OR_RETURN(req.df, frame_internal::FrameFromJsonColumns(el, "df"));
  if (!obj["to"].get(el)) {
    std::string_view s;
    if (el.get_string().get(s)) return InvalidArgument("field 'to' must be a string");
    LARDER_ASSIGN_OR_RETURN(req.to, ParsePushMode(s));
  }
  return req;
}

Result<WriteToOnlineStoreRequest> ParseWriteToOnlineStoreJson(std::string_view body) {
  // One parser per thread: it keeps its buffers between requests. The frame built below copies
  // everything it needs, so the parsed document may be overwritten by the next call.
  thread_local simdjson::dom::parser parser;
  LARDER_ASSIGN_OR_RETURN(object obj, ParseObject(parser, body));
  LARDER_RETURN_IF_ERROR(CheckKeys(obj, {"feature_view_name", "df", "allow_registry_cache"}));
  WriteToOnlineStoreRequest req;
  LARDER_ASSIGN_OR_RETURN(req.feature_view_name, RequiredString(obj, "feature_view_name"));
  element el;
  if (obj["df"].get(el)) return InvalidArgument("field 'df' is missing");
  LARDER_ASSIGN_OR_RETURN(req.df, frame_internal::FrameFromJsonColumns(el, "df"));
  return req;
}

namespace json_body {

Result<object> ParseObject(simdjson::dom::parser& parser, std::string_view body) {
  element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc)) {
    return InvalidArgument(std::string("request body is not valid JSON: ") +
                           simdjson::error_message(err));
  }
  object obj;
  if (doc.get_object().get(obj)) return InvalidArgument("request body must be a JSON object");
  return obj;
}

Status CheckKeys(const object& obj, std::initializer_list<std::string_view> allowed) {
  for (auto field : obj) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || field.key == a;
    if (!ok) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return InvalidArgument("unknown field '" + std::string(field.key) + "' (expected " + list +
                             ")");
    }
  }
  return Status::Ok();
}

Status ParseFeatureSelection(const object& obj, std::vector<std::string>* features,
                             std::string* feature_service, bool* full_feature_names) {
  element el;
  if (!obj["features"].get(el)) {
    simdjson::dom::array arr;
    if (el.get_array().get(arr)) return InvalidArgument("field 'features' must be an array");
    features->reserve(arr.size());
    for (element f : arr) {
      std::string_view s;
      if (f.get_string().get(s)) {
        return InvalidArgument("field 'features' must hold strings of the form 'view:feature'");
      }
      features->emplace_back(s);
    }
    if (features->empty()) return InvalidArgument("field 'features' is empty");
  }
  if (!obj["feature_service"].get(el)) {
    std::string_view s;
    if (el.get_string().get(s)) return InvalidArgument("field 'feature_service' must be a string");
    *feature_service = std::string(s);
  }
  if (features->empty() == feature_service->empty()) {
    return InvalidArgument("give exactly one of 'features' and 'feature_service'");
  }
  if (!obj["full_feature_names"].get(el)) {
    bool b = false;
    if (el.get_bool().get(b)) return InvalidArgument("field 'full_feature_names' must be a boolean");
    *full_feature_names = b;
  }
  return Status::Ok();
}

}  // namespace json_body

}  // namespace larder
