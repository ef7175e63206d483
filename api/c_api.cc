// The C API (api/larder/larder.h) over the C++ API. No exception escapes: every entry point
// catches std::exception (allocation failure) and reports it as LARDER_INTERNAL.
#include "larder/larder.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>

#include "wire/offline_json.h"
#include "wire/request_json.h"
#include "wire/response_json.h"
#include "larder/feature_store.h"

struct larder_store {
  std::unique_ptr<larder::FeatureStore> impl;
};
struct larder_reader {
  std::unique_ptr<larder::OnlineReader> impl;
};

namespace {

char* CopyString(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

larder_code Fail(const larder::Status& st, char** error) {
  if (error != nullptr) *error = CopyString(st.ToString());
  return static_cast<larder_code>(st.code());
}

template <typename Fn>
larder_code Guard(char** error, Fn&& fn) {
  if (error != nullptr) *error = nullptr;
  try {
    return fn();
  } catch (const std::exception& e) {
    return Fail(larder::InternalError(e.what()), error);
  }
}

larder_code GetJson(const std::string_view body, char** response, char** error,
                    const std::function<larder::Result<larder::OnlineResponse>(
                        const larder::OnlineRequest&)>& get) {
  auto req = larder::ParseOnlineRequestJson(body);
  if (!req.ok()) return Fail(req.status(), error);
  auto resp = get(*req);
  if (!resp.ok()) return Fail(resp.status(), error);
  if (response != nullptr) *response = CopyString(larder::OnlineResponseToJson(*resp));
  return LARDER_OK;
}

}  // namespace

extern "C" {

larder_code larder_store_open(const char* repo_dir, larder_store** out, char** error) {
  return Guard(error, [&] {
    auto fs = larder::FeatureStore::Open(repo_dir ? repo_dir : ".");
    if (!fs.ok()) return Fail(fs.status(), error);
    *out = new larder_store{std::move(fs).value()};
    return LARDER_OK;
  });
}

namespace {

// Apply (force: 0 or 1) or plan (force: -1), its messages one per line in *report, the rows
// it discarded in *rows_discarded.
larder_code ApplyOrPlan(larder_store* store, int force, uint64_t* rows_discarded, char** report,
                        char** error) {
  return Guard(error, [&] {
    auto r = force < 0 ? store->impl->Plan()
                       : store->impl->Apply(larder::ApplyOptions{.force = force != 0});
    if (!r.ok()) return Fail(r.status(), error);
    std::string text;
    for (const std::string& m : r->messages) text += m + "\n";
    if (report != nullptr) *report = CopyString(text);
    if (rows_discarded != nullptr) *rows_discarded = r->rows_discarded;
    return LARDER_OK;
  });
}

}  // namespace

larder_code larder_store_apply(larder_store* store, char** report, char** error) {
  return ApplyOrPlan(store, 0, nullptr, report, error);
}

larder_code larder_store_apply_force(larder_store* store, int force, char** report, char** error) {
  return ApplyOrPlan(store, force != 0 ? 1 : 0, nullptr, report, error);
}

larder_code larder_store_apply_ex(larder_store* store, int force, uint64_t* rows_discarded,
                                  char** report, char** error) {
  return ApplyOrPlan(store, force != 0 ? 1 : 0, rows_discarded, report, error);
}

larder_code larder_store_plan(larder_store* store, char** report, char** error) {
  return ApplyOrPlan(store, -1, nullptr, report, error);
}

larder_code larder_store_push_json(larder_store* store, const char* body, size_t body_len,
                                   uint64_t* rows_written, char** error) {
  return Guard(error, [&] {
    auto req = larder::ParsePushRequestJson(std::string_view(body, body_len));
    if (!req.ok()) return Fail(req.status(), error);
    auto r = store->impl->Push(req->push_source_name, req->df, req->to);
    if (!r.ok()) return Fail(r.status(), error);
    if (rows_written != nullptr) *rows_written = r->rows_written;
    return LARDER_OK;
  });
}

larder_code larder_store_get_online_features_json(larder_store* store, const char* body,
                                                  size_t body_len, char** response,
                                                  char** error) {
  return Guard(error, [&] {
    return GetJson({body, body_len}, response, error,
                   [&](const larder::OnlineRequest& r) { return store->impl->GetOnlineFeatures(r); });
  });
}

larder_code larder_store_materialize_json(larder_store* store, const char* body, size_t body_len,
                                          char** report, char** error) {
  return Guard(error, [&] {
    auto req = larder::ParseMaterializeRequestJson({body, body_len}, /*incremental=*/false);
    if (!req.ok()) return Fail(req.status(), error);
    auto r = req->disable_event_timestamp
                 ? store->impl->MaterializeAsOfNow(req->feature_views)
                 : store->impl->Materialize(*req->start, req->end, req->feature_views);
    if (!r.ok()) return Fail(r.status(), error);
    if (report != nullptr) *report = CopyString(larder::MaterializeResultToJson(*r));
    return LARDER_OK;
  });
}

larder_code larder_store_materialize_incremental_json(larder_store* store, const char* body,
                                                      size_t body_len, char** report,
                                                      char** error) {
  return Guard(error, [&] {
    auto req = larder::ParseMaterializeRequestJson({body, body_len}, /*incremental=*/true);
    if (!req.ok()) return Fail(req.status(), error);
    auto r = store->impl->MaterializeIncremental(req->end, req->feature_views);
    if (!r.ok()) return Fail(r.status(), error);
    if (report != nullptr) *report = CopyString(larder::MaterializeResultToJson(*r));
    return LARDER_OK;
  });
}

larder_code larder_store_get_historical_features_json(larder_store* store, const char* body,
                                                      size_t body_len, char** response,
                                                      char** error) {
  return Guard(error, [&] {
    auto req = larder::ParseHistoricalRequestJson({body, body_len});
    if (!req.ok()) return Fail(req.status(), error);
    auto r = store->impl->GetHistoricalFeatures(*req);
    if (!r.ok()) return Fail(r.status(), error);
    if (response != nullptr) *response = CopyString(larder::FrameToJsonColumns(*r));
    return LARDER_OK;
  });
}

void larder_store_close(larder_store* store) { delete store; }

larder_code larder_reader_attach(const char* segment_path, larder_reader** out, char** error) {
  return larder_reader_attach_owned(segment_path, nullptr, out, error);
}

larder_code larder_reader_attach_owned(const char* segment_path, const char* owner,
                                       larder_reader** out, char** error) {
  return Guard(error, [&] {
    larder::ReaderOptions options;
    if (owner != nullptr) options.segment_owner = owner;
    auto r = larder::OnlineReader::Attach(segment_path ? segment_path : "", options);
    if (!r.ok()) return Fail(r.status(), error);
    *out = new larder_reader{std::move(r).value()};
    return LARDER_OK;
  });
}

larder_code larder_reader_get_online_features_json(larder_reader* reader, const char* body,
                                                   size_t body_len, char** response,
                                                   char** error) {
  return Guard(error, [&] {
    return GetJson({body, body_len}, response, error, [&](const larder::OnlineRequest& r) {
      return reader->impl->GetOnlineFeatures(r);
    });
  });
}

void larder_reader_close(larder_reader* reader) { delete reader; }

void larder_free(void* p) { std::free(p); }

const char* larder_version(void) { return "0.1.0"; }

}  // extern "C"
