// JSON output in the shapes of Feast's HTTP feature server: the get-online-features response and
// error bodies. The JSON text primitives (JsonWriter, AppendValueJson) are in
// engine/values/json_text.h, included here for the callers that build their own JSON.
// Thread-safety: plain functions.
#pragma once

#include <string>

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

// {"error":{"code":"FeatureViewNotFound","message":"..."}} with code = ErrorCodeName.
std::string ErrorToJson(const Status& status);

}  // namespace larder
