// JSON output in the shapes of Feast's HTTP feature server: the get-online-features response and
// error bodies. The JSON text primitives (JsonWriter, AppendValueJson) are in
// engine/values/json_text.h, included here for the callers that build their own JSON.
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <string_view>

#include "engine/values/json_text.h"
#include "larder/online.h"
#include "larder/status.h"

namespace larder {

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
