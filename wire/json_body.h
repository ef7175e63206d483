// Internal: helpers shared by the JSON request-body parsers (wire/request_json.cc,
// wire/offline_json.cc). Errors are kInvalidArgument naming the field.
#pragma once

#include <simdjson.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "wire/request_json.h"
#include "larder/status.h"

namespace larder::json_body {

// Parses `body` with `parser` and returns its top-level object.
Result<simdjson::dom::object> ParseObject(simdjson::dom::parser& parser, std::string_view body);

// Fields the endpoint does not know: ignored (UnknownFields::kIgnore, as Feast's pydantic
// models do), or refused naming the field and the known ones (kRefuse, `larder serve --strict`).
// A known field given twice is always refused ("duplicate field 'to' in the request body").
Status CheckKeys(const simdjson::dom::object& obj, std::initializer_list<std::string_view> allowed,
                 UnknownFields unknown);

// An optional boolean field: absent or null leaves *out unchanged; another type is an error.
Status OptionalBool(const simdjson::dom::object& obj, std::string_view key, bool* out);

// The feature selection of get-online-features and get-historical-features bodies: "features"
// (an array of "view:feature" strings) or "feature_service" (a name): a non-empty "features"
// or a "feature_service", not both (an empty "features" beside a service is Feast's default
// and allowed); and "full_feature_names" (a boolean; absent leaves *full_feature_names
// unchanged).
Status ParseFeatureSelection(const simdjson::dom::object& obj, std::vector<std::string>* features,
                             std::string* feature_service, bool* full_feature_names);

}  // namespace larder::json_body
