// Parsers of Feast's JSON request bodies (feature server endpoints, the C API).
// Every error is kInvalidArgument naming the field at fault.
// Thread-safety: pure functions (each call uses its own parser).
#pragma once

#include <string>
#include <string_view>

#include "larder/frame.h"
#include "larder/online.h"
#include "larder/status.h"

namespace larder {

// {"features": ["view:feat", ...] | "feature_service": "name",
//  "entities": {"driver_id": [1001, 1002]}, "full_feature_names": false}
Result<OnlineRequest> ParseOnlineRequestJson(std::string_view body);

struct PushRequest {
  std::string push_source_name;
  Frame df;
  PushMode to = PushMode::kOnline;
};
// {"push_source_name": "...", "df": {"col": [values]}, "to": "online"}
Result<PushRequest> ParsePushRequestJson(std::string_view body);

struct WriteToOnlineStoreRequest {
  std::string feature_view_name;
  Frame df;
};
// {"feature_view_name": "...", "df": {...}}
Result<WriteToOnlineStoreRequest> ParseWriteToOnlineStoreJson(std::string_view body);

}  // namespace larder
