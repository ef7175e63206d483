#include "tools/server/routes.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "engine/quote.h"
#include "larder/frame.h"
#include "wire/offline_json.h"
#include "wire/request_json.h"
#include "wire/response_json.h"

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
  w.Key("rows_all_null").UInt(r.rows_all_null);
  w.EndObject();
  return w.Take();
}

// A boolean query parameter as FastAPI reads one (true/1/yes/on, any case); absent = false.
bool QueryFlag(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    std::transform(value.begin(), value.end(), value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return value == "true" || value == "1" || value == "yes" || value == "on";
  }
  return false;
}

std::string AcceptedJson(const std::vector<std::string>& views) {
  JsonWriter w;
  w.BeginObject();
  w.Key("status").String("accepted");
  w.Key("feature_views").BeginArray();
  for (const std::string& v : views) w.String(v);
  w.EndArray();
  w.EndObject();
  return w.Take();
}

const char* MethodName(Method m) { return m == Method::kGet ? "GET" : "POST"; }

// "POST /get-online-features, /push, ...; GET /health, /metrics", from the table.
std::string EndpointList() {
  std::string list;
  for (Method m : {Method::kPost, Method::kGet}) {
    bool first = true;
    for (const Route& r : Router::Routes()) {
      if (r.method != m) continue;
      if (first && !list.empty()) list += "; ";
      list += first ? std::string(MethodName(m)) + " " : ", ";
      list += r.path;
      first = false;
    }
  }
  return list;
}

}  // namespace

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kFeatureViewNotFound:
    case ErrorCode::kFeatureNotFound:
    case ErrorCode::kFeatureServiceNotFound:
      return 404;
    case ErrorCode::kPushSourceNotFound:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kMissingJoinKey:
      return 422;
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

std::string CappedErrorMessage(std::string_view message) {
  if (message.size() <= kMaxErrorMessageBytes) return std::string(message);
  const size_t cut = Utf8CutPoint(message, kMaxErrorMessageBytes);
  return std::string(message.substr(0, cut)) + "... (message cut at " + std::to_string(cut) +
         " of " + std::to_string(message.size()) + " bytes)";
}

Reply ErrorReply(const Status& status) {
  Reply r;
  r.status = HttpStatusFor(status.code());
  r.body = ErrorJson(ErrorCodeName(status.code()), CappedErrorMessage(status.message()),
                     FeastErrorClass(status.code()));
  return r;
}

size_t ReplyColumns(const OnlineRequest& request, const RepoConfig& config) {
  size_t features = request.features.size();
  if (features == 0) {
    const FeatureServiceDef* service = config.FindService(request.feature_service);
    for (size_t i = 0; service != nullptr && i < service->projections.size(); ++i) {
      const FeatureServiceDef::Projection& p = service->projections[i];
      const FeatureViewDef* view = config.FindView(p.view);
      features += !p.features.empty() ? p.features.size()
                  : view != nullptr   ? view->features.size()
                                      : 0;
    }
  }
  // The entity columns are left out: the reply carries only those that give a requested view's
  // join key, which the lookup decides. So this never counts more than the reply will hold.
  return features;
}

Reply HttpErrorReply(int http_status, std::string_view code, std::string_view message) {
  Reply r;
  r.status = http_status;
  r.body = ErrorJson(code, CappedErrorMessage(message));
  return r;
}

std::shared_ptr<const OnlineReader> FollowingReader::Current() const {
  MutexLock lock(mu_);
  return reader_;
}

Result<std::shared_ptr<const OnlineReader>> FollowingReader::Follow(
    const std::shared_ptr<const OnlineReader>& used) {
  MutexLock lock(mu_);
  if (reader_ != used) return reader_;  // another thread followed already
  if (!used->Detached()) return used;
  LARDER_ASSIGN_OR_RETURN(std::unique_ptr<OnlineReader> fresh, OnlineReader::AttachTo(config_));
  reader_ = std::move(fresh);
  return reader_;
}

BackgroundJobs::~BackgroundJobs() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BackgroundJobs::Overlaps(const std::vector<std::string>& views) const {
  auto clash = [](const std::vector<std::string>& a, bool a_all,
                  const std::vector<std::string>& b) {
    if (a_all || b.empty()) return true;
    for (const std::string& v : b) {
      if (std::find(a.begin(), a.end(), v) != a.end()) return true;
    }
    return false;
  };
  if (busy_ && clash(running_, running_all_, views)) return true;
  for (const Job& j : queue_) {
    if (clash(j.views, j.views.empty(), views)) return true;
  }
  return false;
}

bool BackgroundJobs::Submit(std::vector<std::string> views, bool force, std::function<void()> job) {
  {
    MutexLock lock(mu_);
    if (!force && Overlaps(views)) return false;
    queue_.push_back(Job{std::move(views), std::move(job)});
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  }
  cv_.notify_all();
  return true;
}

void BackgroundJobs::Drain() {
  MutexLock lock(mu_);
  while (!queue_.empty() || busy_) cv_.wait(mu_);
}

void BackgroundJobs::Loop() {
  mu_.Lock();
  for (;;) {
    // Accepted jobs all run, even once stop_ is set: each was acknowledged with a 202.
    while (!stop_ && queue_.empty()) cv_.wait(mu_);
    if (queue_.empty()) break;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    running_all_ = job.views.empty();
    running_ = std::move(job.views);
    mu_.Unlock();
    job.run();
    mu_.Lock();
    busy_ = false;
    running_.clear();
    cv_.notify_all();
  }
  mu_.Unlock();
}

Router::Router(FeatureStore* store, FollowingReader* reader, Metrics* metrics,
               RouterOptions options)
    : options_(options), store_(store), reader_(reader), metrics_(metrics), info_([reader] {
        return reader->Current()->Inspect();
      }) {}

std::span<const Route> Router::Routes() {
  static constexpr std::array<Route, kEndpointCount - 1> kRoutes = {{
      {Endpoint::kGetOnlineFeatures, "/get-online-features", Method::kPost, false,
       &Router::GetOnlineFeatures},
      {Endpoint::kPush, "/push", Method::kPost, true, &Router::Push},
      {Endpoint::kWriteToOnlineStore, "/write-to-online-store", Method::kPost, true,
       &Router::WriteToOnlineStore},
      {Endpoint::kMaterialize, "/materialize", Method::kPost, true, &Router::Materialize},
      {Endpoint::kMaterializeIncremental, "/materialize-incremental", Method::kPost, true,
       &Router::MaterializeIncremental},
      {Endpoint::kHealth, "/health", Method::kGet, false, &Router::Health},
      {Endpoint::kMetrics, "/metrics", Method::kGet, false, &Router::RenderMetrics},
  }};
  static_assert(
      [] {
        for (size_t i = 0; i < kRoutes.size(); ++i) {
          if (kRoutes[i].endpoint != static_cast<Endpoint>(i)) return false;
        }
        return true;
      }(),
      "Routes() lists every endpoint but kOther, in the order of the enum");
  return kRoutes;
}

const Route* Router::RouteOf(Endpoint e) {
  const size_t i = static_cast<size_t>(e);
  return i < Routes().size() ? &Routes()[i] : nullptr;
}

std::string_view EndpointLabel(Endpoint e) {
  const Route* r = Router::RouteOf(e);
  return r != nullptr ? r->path : "other";
}

Endpoint EndpointForTarget(std::string_view target) {
  const size_t q = target.find('?');
  if (q != std::string_view::npos) target = target.substr(0, q);
  for (const Route& r : Router::Routes()) {
    if (target == r.path) return r.endpoint;
  }
  return Endpoint::kOther;
}

Reply Router::Handle(Endpoint endpoint, Method method, std::string_view body,
                     std::string_view query) {
  const Route* route = RouteOf(endpoint);
  if (route == nullptr) {
    return HttpErrorReply(404, "RouteNotFound", "no such endpoint (" + EndpointList() + ")");
  }
  if (method != route->method) {
    Reply r =
        HttpErrorReply(405, "MethodNotAllowed",
                       std::string(route->path) + " takes " + MethodName(route->method) + " only");
    r.allow = MethodName(route->method);
    return r;
  }
  return (this->*route->handle)(body, query);
}

Reply Router::GetOnlineFeatures(std::string_view body, std::string_view /*query*/) {
  // Feature references are resolved by the engine against a per-thread plan cache keyed by the
  // registry generation and the feature list: no registry work per request in steady state.
  //
  // The entity rows and the reply's feature values are judged as soon as the parser knows the
  // row count, before it converts any entity value (the frame takes about 80 bytes a cell) and
  // before the lookup (which sizes every column for every entity).
  std::optional<Reply> refused;
  auto within_limits = [&](const OnlineRequest& selection, size_t rows, size_t cells) {
    refused = CheckEntities(rows, options_.limits);
    if (!refused) refused = CheckEntityCells(cells, options_.limits);
    if (!refused) {
      // At least one row: a request of no entities and a million features is judged too.
      refused = CheckValues(ReplyColumns(selection, store_->config()), std::max<size_t>(rows, 1),
                            options_.limits);
    }
    return refused ? InvalidArgument("over the server's limits") : Status::Ok();
  };
  auto request = ParseOnlineRequestJson(body, options_.unknown_fields, within_limits);
  if (refused) return std::move(*refused);
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
  const size_t rows = t_response.results.empty() ? 0 : t_response.results[0].values.size();
  if (auto refused = CheckValues(t_response.results.size(), rows, options_.limits)) {
    return std::move(*refused);
  }
  Reply r;
  r.body = OnlineResponseToJson(t_response);
  return r;
}

Reply Router::Push(std::string_view body, std::string_view /*query*/) {
  auto request = ParsePushRequestJson(body, options_.unknown_fields);
  if (!request.ok()) return ErrorReply(request.status());
  auto result = store_->Push(request->push_source_name, request->df, request->to);
  if (!result.ok()) return ErrorReply(result.status());
  metrics_->AddRowsPushed(Endpoint::kPush, *result);
  Reply r;
  r.body = PushResultJson(*result);
  return r;
}

Reply Router::WriteToOnlineStore(std::string_view body, std::string_view /*query*/) {
  auto request = ParseWriteToOnlineStoreJson(body, options_.unknown_fields);
  if (!request.ok()) return ErrorReply(request.status());
  auto result = store_->WriteToOnlineStore(request->feature_view_name, request->df);
  if (!result.ok()) return ErrorReply(result.status());
  metrics_->AddRowsPushed(Endpoint::kWriteToOnlineStore, *result);
  Reply r;
  r.body = PushResultJson(*result);
  return r;
}

Reply Router::Materialize(std::string_view body, std::string_view query) {
  return RunMaterialize(body, /*incremental=*/false, query);
}

Reply Router::MaterializeIncremental(std::string_view body, std::string_view query) {
  return RunMaterialize(body, /*incremental=*/true, query);
}

Reply Router::RunMaterialize(std::string_view body, bool incremental, std::string_view query) {
  auto parsed = ParseMaterializeRequestJson(body, incremental, options_.unknown_fields);
  if (!parsed.ok()) return ErrorReply(parsed.status());
  MaterializeRequest request = std::move(parsed).value();
  auto run = [this, request, incremental]() -> Result<MaterializeResult> {
    if (incremental) return store_->MaterializeIncremental(request.end, request.feature_views);
    if (request.disable_event_timestamp) return store_->MaterializeAsOfNow(request.feature_views);
    return store_->Materialize(*request.start, request.end, request.feature_views);
  };
  if (!QueryFlag(query, "async")) {
    auto result = run();
    if (!result.ok()) return ErrorReply(result.status());
    Reply r;
    r.body = MaterializeResultToJson(*result);
    return r;
  }
  // Asynchronous: what can be checked before the 202 is (the body above, the view names here);
  // the run itself reports to the server's log.
  std::vector<std::string> names = request.feature_views;
  for (const std::string& v : names) {
    if (store_->config().FindView(v) == nullptr) {
      return ErrorReply(Status(ErrorCode::kFeatureViewNotFound,
                               "feature view " + QuoteInput(v) + " is not in the registry"));
    }
  }
  if (names.empty()) {
    for (const FeatureViewDef& v : store_->config().views) {
      if (v.online) names.push_back(v.name);
    }
  }
  const char* endpoint = incremental ? "/materialize-incremental" : "/materialize";
  const bool queued =
      jobs_.Submit(request.feature_views, QueryFlag(query, "force"), [run, endpoint] {
        auto result = run();
        if (!result.ok()) {
          std::fprintf(stderr, "larder serve: async %s failed: %s\n", endpoint,
                       result.status().ToString().c_str());
        }
      });
  if (!queued) {
    return HttpErrorReply(409, "MaterializationInProgress",
                          "an accepted materialization of some of these feature views has not "
                          "finished; retry later or add ?force=true");
  }
  Reply r;
  r.status = 202;
  r.body = AcceptedJson(names);
  return r;
}

Reply Router::Health(std::string_view /*body*/, std::string_view /*query*/) {
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

Reply Router::RenderMetrics(std::string_view /*body*/, std::string_view /*query*/) {
  // As /health: a torn-down segment is followed to the one now at the path (the store's
  // figures then come from it once the cached ones expire); with none there, the figures are
  // left out (Render renders the error).
  (void)reader_->Follow(reader_->Current());
  Reply r;
  r.body = metrics_->Render(info_.Get());
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

}  // namespace larder::server
