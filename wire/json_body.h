// Internal: helpers shared by the JSON request-body parsers (wire/request_json.cc,
// wire/offline_json.cc). Errors are kInvalidArgument naming the field.
#pragma once

#include <simdjson.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "larder/status.h"

namespace larder::json_body {

// Parses `body` with `parser` and returns its top-level object.
Result<simdjson::dom::object> ParseObject(simdjson::dom::parser& parser, std::string_view body);

// Refuses fields the endpoint does not know, so a typo is reported instead of ignored.
Status CheckKeys(const simdjson::dom::object& obj,
                 std::initializer_list<std::string_view> allowed);

// The feature selection of get-online-features and get-historical-features bodies: "features"
// (a non-empty array of "view:feature" strings) or "feature_service" (a name), exactly one of
// them, and "full_feature_names" (a boolean; absent leaves *full_feature_names unchanged).
Status ParseFeatureSelection(const simdjson::dom::object& obj, std::vector<std::string>* features,
                             std::string* feature_service, bool* full_feature_names);

}  // namespace larder::json_body
