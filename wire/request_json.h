// Parsers of Feast's JSON request bodies (feature server endpoints, the C API).
// Every error is kInvalidArgument naming the field at fault.
//
// Every field of Feast's request models (sdk/python/feast/feature_server.py) is accepted; those
// that mean nothing in Larder are parsed for their type and kept here only so that callers can
// see them (docs/feast.md lists each and why it is ignored). Unknown fields are ignored as
// Feast's pydantic models ignore them, unless the caller asks for UnknownFields::kRefuse.
// Thread-safety: pure functions (each call uses its own parser).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "larder/frame.h"
#include "larder/online.h"
#include "larder/status.h"

namespace larder {

enum class UnknownFields : uint8_t {
  kIgnore,  // Feast's behaviour (the default)
  kRefuse,  // kInvalidArgument naming the field (`larder serve --strict`)
};

// {"features": ["view:feat", ...] | "feature_service": "name",
//  "entities": {"driver_id": [1001, 1002]}, "full_feature_names": false,
//  "include_feature_view_version_metadata": false}
// include_feature_view_version_metadata is accepted and ignored: Feast's HTTP server never
// writes the metadata it selects (feature_server_utils.py keeps only feature_names).
//
// `check` (when given) is called once the features (or service) and the number of entity rows
// are known, before any entity value is converted: `selection` has its features, service and
// full_feature_names set and no entities. An error it returns is the parse's result, so a
// caller's limit on entities refuses the request before its entity frame takes memory (a
// 16 MiB body of small keys is a frame of several hundred MiB).
// `entity_cells` is an upper bound of the cells the entity frame would take (several columns,
// or values nested in arrays, take more than one cell a row).
using OnlineRequestCheck =
    std::function<Status(const OnlineRequest& selection, size_t entity_rows, size_t entity_cells)>;
Result<OnlineRequest> ParseOnlineRequestJson(std::string_view body,
                                             UnknownFields unknown = UnknownFields::kIgnore,
                                             const OnlineRequestCheck& check = {});

struct PushRequest {
  std::string push_source_name;
  Frame df;
  PushMode to = PushMode::kOnline;
  bool allow_registry_cache = true;  // accepted, ignored: the registry is read per request
  bool transform_on_write = true;    // accepted, ignored: no on-demand transformations here
};
// {"push_source_name": "...", "df": {"col": [values] | value}, "to": "online",
//  "allow_registry_cache": true, "transform_on_write": true}
// A df column given as one value is repeated on every row (pandas broadcasts it).
Result<PushRequest> ParsePushRequestJson(std::string_view body,
                                         UnknownFields unknown = UnknownFields::kIgnore);

struct WriteToOnlineStoreRequest {
  std::string feature_view_name;
  Frame df;
  bool allow_registry_cache = true;  // accepted, ignored (as PushRequest)
  bool transform_on_write = true;    // accepted, ignored (as PushRequest)
};
// {"feature_view_name": "...", "df": {...}, "allow_registry_cache": true,
//  "transform_on_write": true}
Result<WriteToOnlineStoreRequest> ParseWriteToOnlineStoreJson(
    std::string_view body, UnknownFields unknown = UnknownFields::kIgnore);

}  // namespace larder
