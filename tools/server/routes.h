// The HTTP feature server's endpoints, independent of the HTTP library: a request's endpoint,
// method and body in, a status and a JSON (or Prometheus text) body out.
//
//   POST /get-online-features      → OnlineReader::GetOnlineFeatures (per-thread response reuse)
//   POST /push                     → FeatureStore::Push
//   POST /write-to-online-store    → FeatureStore::WriteToOnlineStore
//   POST /materialize              → FeatureStore::Materialize
//   POST /materialize-incremental  → FeatureStore::MaterializeIncremental
//   GET  /health, GET /metrics
//
// Errors are {"error":{"code":"...","message":"..."}}: engine errors carry ErrorCodeName (see
// HttpStatusFor); the HTTP layer's own are RouteNotFound, MethodNotAllowed, PayloadTooLarge,
// HeadersTooLarge, BadRequest, TooManyConnections, StoreUnavailable.
// Thread-safety: Handle may be called from any number of threads at once.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "larder/feature_store.h"
#include "larder/status.h"
#include "tools/server/metrics.h"

namespace larder::server {

enum class Method : uint8_t { kGet, kHead, kPost, kOther };

struct Reply {
  int status = 200;
  std::string body;
  const char* content_type = "application/json";
  const char* allow = nullptr;  // the Allow header of a 405
};

// The HTTP status of an engine error: FeatureViewNotFound, FeatureNotFound,
// FeatureServiceNotFound 404; PushSourceNotFound 422; InvalidArgument, MissingJoinKey 400;
// Unsupported 501; StoreFull 507; Busy and StoreNotFound 503; any other 500.
int HttpStatusFor(ErrorCode code);

// A reply carrying an engine error: HttpStatusFor(code) and ErrorToJson.
Reply ErrorReply(const Status& status);
// A reply for an error of the HTTP layer: {"error":{"code":code,"message":message}}.
Reply HttpErrorReply(int http_status, std::string_view code, std::string_view message);

// The server's reader of the store's segment, following the store across a teardown and a new
// apply: once the segment it reads is detached (OnlineReader::Detached), the next request
// attaches to the segment now at the path, without a restart.
// Thread-safety: every method may be called from any thread.
class FollowingReader {
 public:
  FollowingReader(std::string path, std::shared_ptr<const OnlineReader> first)
      : path_(std::move(path)), reader_(std::move(first)) {}
  std::shared_ptr<const OnlineReader> Current() const;
  // The reader to use after `used` answered an error: a fresh one when `used` is detached
  // (kStoreNotFound when no segment is at the path yet), else `used`.
  Result<std::shared_ptr<const OnlineReader>> Follow(
      const std::shared_ptr<const OnlineReader>& used);

 private:
  const std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const OnlineReader> reader_;  // GUARDED_BY(mu_)
};

class Router {
 public:
  // `store` writes, `reader` reads (both of the same segment); `metrics` counts pushed rows and
  // is rendered by /metrics. None is owned; all must outlive the router.
  Router(FeatureStore* store, FollowingReader* reader, Metrics* metrics);

  // Requests that may wait on the writer lock or run long; the server runs them off its
  // network threads.
  static bool IsWrite(Endpoint e);

  Reply Handle(Endpoint endpoint, Method method, std::string_view body);

 private:
  Reply GetOnlineFeatures(std::string_view body);
  Reply Push(std::string_view body);
  Reply WriteToOnlineStore(std::string_view body);
  Reply Materialize(std::string_view body, bool incremental);
  Reply Health();
  Reply RenderMetrics();

  FeatureStore* const store_;
  FollowingReader* const reader_;
  Metrics* const metrics_;
  StoreInfoCache info_;
};

}  // namespace larder::server
