// The HTTP feature server's endpoints, independent of the HTTP library: a request's endpoint,
// method and body in, a status and a JSON (or Prometheus text) body out. Router::Routes() is
// the one table of them (path, method, handler):
//
//   POST /get-online-features      → OnlineReader::GetOnlineFeatures (per-thread response reuse)
//   POST /push                     → FeatureStore::Push
//   POST /write-to-online-store    → FeatureStore::WriteToOnlineStore
//   POST /materialize              → FeatureStore::Materialize
//   POST /materialize-incremental  → FeatureStore::MaterializeIncremental
//   GET  /health, GET /metrics
//
// Errors are Feast's error bodies with Larder's code inside (ErrorToJson, wire/response_json.h):
// a JSON string holding {"module":"feast.errors","class":...,"message":...,"code":...}, so a
// Feast client re-raises the matching Feast exception. Engine errors carry ErrorCodeName (see
// HttpStatusFor); the HTTP layer's own are RouteNotFound, MethodNotAllowed, PayloadTooLarge,
// HeadersTooLarge, BadRequest, TooManyConnections, StoreUnavailable, MaterializationInProgress.
//
// `POST /materialize?async=true` (and /materialize-incremental) validates the request, answers
// 202 {"status":"accepted","feature_views":[...]} and runs it on the router's background thread,
// as Feast's server does; 409 while an accepted run of an overlapping set of views has not
// finished, unless `force=true`. Failures of a background run are logged to stderr.
// Thread-safety: Handle may be called from any number of threads at once.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "wire/request_json.h"
#include "larder/feature_store.h"
#include "larder/mutex.h"
#include "larder/status.h"
#include "tools/server/endpoints.h"
#include "tools/server/limits.h"
#include "tools/server/metrics.h"

namespace larder::server {

enum class Method : uint8_t { kGet, kHead, kPost, kOther };

struct Reply {
  int status = 200;
  std::string body;
  const char* content_type = "application/json";
  const char* allow = nullptr;             // the Allow header of a 405
  const char* www_authenticate = nullptr;  // the WWW-Authenticate header of a 401
};

// The HTTP status of an engine error: FeatureViewNotFound, FeatureNotFound,
// FeatureServiceNotFound 404; PushSourceNotFound, InvalidArgument, MissingJoinKey 422 (a
// request that fails validation, as Feast's server answers); Unsupported 501; StoreFull 507;
// Busy and StoreNotFound 503; any other 500.
int HttpStatusFor(ErrorCode code);

// The longest error message a reply carries. Every piece of client input an error quotes is cut
// at kQuotedInputBytes (QuoteInput, engine/quote.h); this bounds the whole message, whatever
// it lists, so an error reply stays a few KiB however large the request.
inline constexpr size_t kMaxErrorMessageBytes = 4096;
// `message` when it is at most kMaxErrorMessageBytes; else its first bytes (a UTF-8 character
// is not split) and a note of its length.
std::string CappedErrorMessage(std::string_view message);
// A reply carrying an engine error: HttpStatusFor(code) and ErrorToJson's body, its message
// capped (CappedErrorMessage).
Reply ErrorReply(const Status& status);
// The feature columns a /get-online-features reply will have (every requested feature, a
// feature service's counted from `config`): known before the lookup, and never more than the
// reply's columns (it also carries the join keys).
size_t ReplyColumns(const OnlineRequest& request, const RepoConfig& config);
// A reply for an error of the HTTP layer: ErrorJson(code, message), the message capped.
Reply HttpErrorReply(int http_status, std::string_view code, std::string_view message);

// The server's reader of the store's segment, following the store across a teardown and a new
// apply: once the segment it reads is detached (OnlineReader::Detached), the next request
// attaches to the segment now at the path, without a restart.
// Thread-safety: every method may be called from any thread.
class FollowingReader {
 public:
  FollowingReader(const RepoConfig& config, std::shared_ptr<const OnlineReader> first)
      : config_(config), reader_(std::move(first)) {}
  std::shared_ptr<const OnlineReader> Current() const;
  // The reader to use after `used` answered an error: a fresh one when `used` is detached
  // (kStoreNotFound when no segment is at the path yet), else `used`.
  Result<std::shared_ptr<const OnlineReader>> Follow(
      const std::shared_ptr<const OnlineReader>& used);

 private:
  const RepoConfig config_;  // the store's path and owner
  mutable Mutex mu_;
  std::shared_ptr<const OnlineReader> reader_ LARDER_GUARDED_BY(mu_);
};

// Runs accepted asynchronous materializations one after another on its own thread. The
// destructor lets every accepted job finish (nothing acknowledged is dropped).
class BackgroundJobs {
 public:
  BackgroundJobs() = default;
  ~BackgroundJobs();
  BackgroundJobs(const BackgroundJobs&) = delete;
  BackgroundJobs& operator=(const BackgroundJobs&) = delete;

  // Queues `job` unless a queued or running job holds one of `views` (empty = every view) and
  // `force` is false; returns whether it was queued.
  bool Submit(std::vector<std::string> views, bool force, std::function<void()> job);
  // Blocks until every job submitted so far has finished (tests).
  void Drain();

 private:
  struct Job {
    std::vector<std::string> views;
    std::function<void()> run;
  };
  bool Overlaps(const std::vector<std::string>& views) const LARDER_REQUIRES(mu_);
  void Loop();

  Mutex mu_;
  std::condition_variable_any cv_;  // waits on mu_ itself (Mutex is BasicLockable)
  std::deque<Job> queue_ LARDER_GUARDED_BY(mu_);
  std::vector<std::string> running_ LARDER_GUARDED_BY(mu_);  // views of the running job
  bool running_all_ LARDER_GUARDED_BY(mu_) = false;  // the running job takes every view
  bool busy_ LARDER_GUARDED_BY(mu_) = false;         // a job is running
  bool stop_ LARDER_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started by the first Submit (under mu_); joined by the destructor
};

struct RouterOptions {
  UnknownFields unknown_fields = UnknownFields::kIgnore;  // kRefuse: `larder serve --strict`
  ClientLimits limits;  // caps on the entities and values of a read (tools/server/limits.h)
};

class Router;

// One endpoint: its path (also its metrics label), the one method it takes (405 otherwise),
// whether it may wait on the writer lock or run long (the server runs those off its network
// threads), and the Router member that answers it.
struct Route {
  Endpoint endpoint;
  std::string_view path;
  Method method;
  bool write;
  Reply (Router::*handle)(std::string_view body, std::string_view query);
};

class Router {
 public:
  // `store` writes, `reader` reads (both of the same segment); `metrics` counts pushed rows and
  // is rendered by /metrics. None is owned; all must outlive the router.
  Router(FeatureStore* store, FollowingReader* reader, Metrics* metrics,
         RouterOptions options = {});

  // Every endpoint but kOther, in the order of the enum (Routes()[i].endpoint == Endpoint(i)).
  static std::span<const Route> Routes();
  // The route of `e`; nullptr for kOther.
  static const Route* RouteOf(Endpoint e);
  static bool IsWrite(Endpoint e) {
    const Route* r = RouteOf(e);
    return r != nullptr && r->write;
  }

  // `query` is the request target's query string (after '?', may be empty).
  Reply Handle(Endpoint endpoint, Method method, std::string_view body,
               std::string_view query = {});
  // Waits for accepted asynchronous materializations (tests).
  void DrainBackground() { jobs_.Drain(); }

 private:
  // The handlers of Routes(); each takes the body and the query string.
  Reply GetOnlineFeatures(std::string_view body, std::string_view query);
  Reply Push(std::string_view body, std::string_view query);
  Reply WriteToOnlineStore(std::string_view body, std::string_view query);
  Reply Materialize(std::string_view body, std::string_view query);
  Reply MaterializeIncremental(std::string_view body, std::string_view query);
  Reply Health(std::string_view body, std::string_view query);
  Reply RenderMetrics(std::string_view body, std::string_view query);
  Reply RunMaterialize(std::string_view body, bool incremental, std::string_view query);

  const RouterOptions options_;
  FeatureStore* const store_;
  FollowingReader* const reader_;
  Metrics* const metrics_;
  StoreInfoCache info_;
  BackgroundJobs jobs_;  // last: destroyed (joined) first, while the store is still there
};

}  // namespace larder::server
