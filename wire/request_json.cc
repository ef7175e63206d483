#include "wire/request_json.h"

#include <simdjson.h>

#include "engine/quote.h"
#include "engine/values/json_cell.h"
#include "wire/json_body.h"

namespace larder {

namespace {

using json_body::CheckKeys;
using json_body::OptionalBool;
using json_body::ParseFeatureSelection;
using json_body::ParseObject;
using simdjson::dom::element;
using simdjson::dom::object;

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

Result<OnlineRequest> ParseOnlineRequestJson(std::string_view body, UnknownFields unknown,
                                             const OnlineRequestCheck& check) {
  // One parser per thread: it keeps its buffers between requests. The frame built below copies
  // everything it needs, so the parsed document may be overwritten by the next call.
  thread_local simdjson::dom::parser parser;
  LARDER_ASSIGN_OR_RETURN(object obj, ParseObject(parser, body));
  LARDER_RETURN_IF_ERROR(CheckKeys(obj,
                                   {"features", "feature_service", "entities",
                                    "full_feature_names", "include_feature_view_version_metadata"},
                                   unknown));
  OnlineRequest req;
  LARDER_RETURN_IF_ERROR(ParseFeatureSelection(obj, &req.features, &req.feature_service,
                                               &req.full_feature_names));
  bool version_metadata = false;  // type-checked, then ignored (see the header)
  LARDER_RETURN_IF_ERROR(
      OptionalBool(obj, "include_feature_view_version_metadata", &version_metadata));
  element el;
  if (obj["entities"].get(el)) return InvalidArgument("field 'entities' is missing");
  frame_internal::RowCheck check_rows;
  if (check) {
    check_rows = [&](const frame_internal::FrameSize& size) {
      return check(req, size.rows, size.cells);
    };
  }
  LARDER_ASSIGN_OR_RETURN(req.entities,
                          frame_internal::FrameFromJsonColumns(
                              el, "entities", frame_internal::ScalarColumns::kRefuse, check_rows));
  return req;
}

Result<PushRequest> ParsePushRequestJson(std::string_view body, UnknownFields unknown) {
  // One parser per thread: it keeps its buffers between requests. The frame built below copies
  // everything it needs, so the parsed document may be overwritten by the next call.
  thread_local simdjson::dom::parser parser;
  LARDER_ASSIGN_OR_RETURN(object obj, ParseObject(parser, body));
  LARDER_RETURN_IF_ERROR(CheckKeys(
      obj, {"push_source_name", "df", "to", "allow_registry_cache", "transform_on_write"},
      unknown));
  PushRequest req;
  LARDER_ASSIGN_OR_RETURN(req.push_source_name, RequiredString(obj, "push_source_name"));
  element el;
  if (obj["df"].get(el)) return InvalidArgument("field 'df' is missing");
  LARDER_ASSIGN_OR_RETURN(req.df, frame_internal::FrameFromJsonColumns(
                                      el, "df", frame_internal::ScalarColumns::kBroadcast));
  LARDER_RETURN_IF_ERROR(OptionalBool(obj, "allow_registry_cache", &req.allow_registry_cache));
  LARDER_RETURN_IF_ERROR(OptionalBool(obj, "transform_on_write", &req.transform_on_write));
  if (!obj["to"].get(el)) {
    std::string_view s;
    if (el.get_string().get(s)) return InvalidArgument("field 'to' must be a string");
    LARDER_ASSIGN_OR_RETURN(req.to, ParsePushMode(s));
  }
  return req;
}

Result<WriteToOnlineStoreRequest> ParseWriteToOnlineStoreJson(std::string_view body,
                                                              UnknownFields unknown) {
  // One parser per thread: it keeps its buffers between requests. The frame built below copies
  // everything it needs, so the parsed document may be overwritten by the next call.
  thread_local simdjson::dom::parser parser;
  LARDER_ASSIGN_OR_RETURN(object obj, ParseObject(parser, body));
  LARDER_RETURN_IF_ERROR(CheckKeys(
      obj, {"feature_view_name", "df", "allow_registry_cache", "transform_on_write"}, unknown));
  WriteToOnlineStoreRequest req;
  LARDER_ASSIGN_OR_RETURN(req.feature_view_name, RequiredString(obj, "feature_view_name"));
  element el;
  if (obj["df"].get(el)) return InvalidArgument("field 'df' is missing");
  LARDER_ASSIGN_OR_RETURN(req.df, frame_internal::FrameFromJsonColumns(
                                      el, "df", frame_internal::ScalarColumns::kBroadcast));
  LARDER_RETURN_IF_ERROR(OptionalBool(obj, "allow_registry_cache", &req.allow_registry_cache));
  LARDER_RETURN_IF_ERROR(OptionalBool(obj, "transform_on_write", &req.transform_on_write));
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

Status CheckKeys(const object& obj, std::initializer_list<std::string_view> allowed,
                 UnknownFields unknown) {
  // A key given twice is refused: simdjson's lookup finds the first, Feast's parser keeps the
  // last, so either choice would silently drop one of them (`"to"` twice decided where a push
  // went). A bit per allowed key (they are few). Unknown keys are ignored when `unknown` says
  // so (they are never read, so a repeat of one drops nothing).
  uint64_t seen = 0;
  for (auto field : obj) {
    bool ok = false;
    size_t i = 0;
    for (std::string_view a : allowed) {
      if (field.key == a) {
        ok = true;
        const uint64_t bit = i < 64 ? uint64_t{1} << i : 0;
        if ((seen & bit) != 0) {
          return InvalidArgument("duplicate field '" + std::string(field.key) +
                                 "' in the request body");
        }
        seen |= bit;
      }
      ++i;
    }
    if (!ok && unknown != UnknownFields::kIgnore) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return InvalidArgument("unknown field " + QuoteInput(field.key) + " (expected " + list + ")");
    }
  }
  return Status::Ok();
}

Status OptionalBool(const object& obj, std::string_view key, bool* out) {
  element el;
  if (obj[key].get(el) || el.is_null()) return Status::Ok();
  if (el.get_bool().get(*out)) {
    return InvalidArgument("field '" + std::string(key) + "' must be a boolean");
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
  }
  if (!obj["feature_service"].get(el) && !el.is_null()) {
    std::string_view s;
    if (el.get_string().get(s)) return InvalidArgument("field 'feature_service' must be a string");
    *feature_service = std::string(s);
  }
  if (features->empty() && feature_service->empty()) {
    return InvalidArgument("give 'features' (a non-empty array) or 'feature_service'");
  }
  if (!features->empty() && !feature_service->empty()) {
    return InvalidArgument("give 'features' or 'feature_service', not both");
  }
  return OptionalBool(obj, "full_feature_names", full_feature_names);
}

}  // namespace json_body

}  // namespace larder
