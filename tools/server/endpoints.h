// The HTTP feature server's endpoints, as the metrics and the connection code name them.
// Each endpoint's path, method and handler are one row of one table, Router::Routes()
// (routes.cc); EndpointLabel and EndpointForTarget read that table. Adding an endpoint is a
// value here, a row there and its handler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace larder::server {

// kOther counts requests to any other path; it is last, so the values index arrays.
enum class Endpoint : uint8_t {
  kGetOnlineFeatures,
  kPush,
  kWriteToOnlineStore,
  kMaterialize,
  kMaterializeIncremental,
  kHealth,
  kMetrics,
  kOther,
};
inline constexpr size_t kEndpointCount = static_cast<size_t>(Endpoint::kOther) + 1;

// The endpoint's path ("/get-online-features", ...), or "other".
std::string_view EndpointLabel(Endpoint e);
// The endpoint of a request target ("/push?x=1" → kPush); kOther when unknown.
Endpoint EndpointForTarget(std::string_view target);

}  // namespace larder::server
