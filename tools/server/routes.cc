#include "tools/server/routes.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "engine/offline_json.h"
#include "engine/request_json.h"
#include "engine/response_json.h"
#include "larder/frame.h"

namespace larder::server {

namespace {

// Each network thread keeps one response and reuses its buffers across requests
// (OnlineReader::GetOnlineFeatures(request, OnlineResponse*)): steady-state reads of
// fixed-width features allocate nothing in the engine.
thread_local OnlineResponse t_response;

std::string PushResultJson(const PushResult& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("rows").UInt(r.rows_in);
  w.Key("views").UInt(r.views);
  w.Key("rows_written").UInt(r.rows_written);
  w.Key("rows_skipped").UInt(r.rows_skipped);
  w.EndObject();
  return w.Take();
}

const char* AllowedMethods(Endpoint e) {
  return (e == Endpoint::kHealth || e == Endpoint::kMetrics) ? "GET" : "POST";
}

}  // namespace

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kFeatureViewNotFound:
    case ErrorCode::kFeatureNotFound:
    case ErrorCode::kFeatureServiceNotFound:
      return 404;
    case ErrorCode::kPushSourceNotFound:
      return 422;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kMissingJoinKey:
      return 400;
    case ErrorCode::kUnsupported:
      return 501;
    case ErrorCode::kStoreFull:
      return 507;
    case ErrorCode::kBusy:
    case ErrorCode::kStoreNotFound:  // torn down, and not (yet) applied again
      return 503;
    default:
      return 500;
  }
}

Reply ErrorReply(const Status& status) {
  Reply r;
  r.status = HttpStatusFor(status.code());
  r.body = ErrorToJson(status);
  return r;
}

Reply HttpErrorReply(int http_status, std::string_view code, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").BeginObject();
  w.Key("code").String(code);
  w.Key("message").String(message);
  w.EndObject().EndObject();
  Reply r;
  r.status = http_status;
  r.body = w.Take();
  return r;
}

std::shared_ptr<const OnlineReader> FollowingReader::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reader_;
}

Result<std::shared_ptr<const OnlineReader>> FollowingReader::Follow(
    const std::shared_ptr<const OnlineReader>& used) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reader_ != used) return reader_;  // another thread followed already
  if (!used->Detached()) return used;
  LARDER_ASSIGN_OR_RETURN(std::unique_ptr<OnlineReader> fresh, OnlineReader::Attach(path_));
  reader_ = std::move(fresh);
  return reader_;
}

Router::Router(FeatureStore* store, FollowingReader* reader, Metrics* metrics)
    : store_(store),
      reader_(reader),
      metrics_(metrics),
      info_([reader] { return reader->Current()->Inspect(); }) {}

bool Router::IsWrite(Endpoint e) {
  return e == Endpoint::kPush || e == Endpoint::kWriteToOnlineStore ||
         e == Endpoint::kMaterialize || e == Endpoint::kMaterializeIncremental;
}

Reply Router::Handle(Endpoint endpoint, Method method, std::string_view body) {
  if (endpoint == Endpoint::kOther) {
    return HttpErrorReply(404, "RouteNotFound",
                          "no such endpoint (POST /get-online-features, /push, "
                          "/write-to-online-store, /materialize, /materialize-incremental; "
                          "GET /health, /metrics)");
  }
  const bool wants_get = endpoint == Endpoint::kHealth || endpoint == Endpoint::kMetrics;
  if (wants_get ? method != Method::kGet : method != Method::kPost) {
    Reply r = HttpErrorReply(
        405, "MethodNotAllowed",
        std::string(EndpointLabel(endpoint)) + " takes " + AllowedMethods(endpoint) + " only");
    r.allow = AllowedMethods(endpoint);
    return r;
  }
  switch (endpoint) {
    case Endpoint::kGetOnlineFeatures:
      return GetOnlineFeatures(body);
    case Endpoint::kPush:
      return Push(body);
    case Endpoint::kWriteToOnlineStore:
      return WriteToOnlineStore(body);
    case Endpoint::kMaterialize:
      return Materialize(body, /*incremental=*/false);
    case Endpoint::kMaterializeIncremental:
      return Materialize(body, /*incremental=*/true);
    case Endpoint::kHealth:
      return Health();
    case Endpoint::kMetrics:
      return RenderMetrics();
    case Endpoint::kOther:
      break;
  }
  return HttpErrorReply(500, "Internal", "unhandled endpoint");
}

Reply Router::GetOnlineFeatures(std::string_view body) {
  // Feature references are resolved by the engine against a per-thread plan cache keyed by the
  // registry generation and the feature list: no registry work per request in steady state.
  auto request = ParseOnlineRequestJson(body);
  if (!request.ok()) return ErrorReply(request.status());
  std::shared_ptr<const OnlineReader> reader = reader_->Current();
  Status st = reader->GetOnlineFeatures(*request, &t_response);
  if (st.code() == ErrorCode::kStoreNotFound) {
    // The segment was torn down: read the one now at the path, if there is one.
    auto followed = reader_->Follow(reader);
    if (!followed.ok()) return ErrorReply(followed.status());
    if (*followed != reader) st = (*followed)->GetOnlineFeatures(*request, &t_response);
  }
  if (!st.ok()) return ErrorReply(st);
  Reply r;
  r.body = OnlineResponseToJson(t_response);
  return r;
}

Reply Router::Push(std::string_view body) {
  auto request = ParsePushRequestJson(body);
  if (!request.ok()) return ErrorReply(request.status());
  auto result = store_->Push(request->push_source_name, request->df, request->to);
  if (!result.ok()) return ErrorReply(result.status());
  metrics_->AddRowsPushed(Endpoint::kPush, *result);
  Reply r;
  r.body = PushResultJson(*result);
  return r;
}

Reply Router::WriteToOnlineStore(std::string_view body) {
  auto request = ParseWriteToOnlineStoreJson(body);
  if (!request.ok()) return ErrorReply(request.status());
  auto result = store_->WriteToOnlineStore(request->feature_view_name, request->df);
  if (!result.ok()) return ErrorReply(result.status());
  metrics_->AddRowsPushed(Endpoint::kWriteToOnlineStore, *result);
  Reply r;
  r.body = PushResultJson(*result);
  return r;
}

Reply Router::Materialize(std::string_view body, bool incremental) {
  auto request = ParseMaterializeRequestJson(body, incremental);
  if (!request.ok()) return ErrorReply(request.status());
  auto result =
      incremental ? store_->MaterializeIncremental(request->end, request->feature_views)
                  : store_->Materialize(*request->start, request->end, request->feature_views);
  if (!result.ok()) return ErrorReply(result.status());
  Reply r;
  r.body = MaterializeResultToJson(*result);
  return r;
}

Reply Router::Health() {
  const std::string& path = store_->config().online_store.path;
  // The segment the server reads must be the live one: a torn-down or replaced one is
  // followed to the segment now at the path; with none there, the store is unavailable.
  auto followed = reader_->Follow(reader_->Current());
  if (!followed.ok()) {
    return HttpErrorReply(503, "StoreUnavailable",
                          "the segment " + path + " is gone (" + followed.status().message() +
                              "): was it torn down? run `larder apply`");
  }
  auto info = info_.Get();
  if (!info.ok()) {
    return HttpErrorReply(503, "StoreUnavailable", info.status().ToString());
  }
  JsonWriter w;
  w.BeginObject();
  w.Key("status").String("ok");
  w.Key("store").String(path);
  w.Key("registry_generation").UInt((*info)->registry_generation);
  w.Key("views").UInt((*info)->views.size());
  w.EndObject();
  Reply r;
  r.body = w.Take();
  return r;
}

Reply Router::RenderMetrics() {
  Reply r;
  r.body = metrics_->Render(info_.Get());
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

}  // namespace larder::server
