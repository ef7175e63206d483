#include "tools/server/metrics.h"

#include <charconv>
#include <cstdio>

namespace larder::server {

namespace {

size_t StatusSlot(int status) {
  for (size_t i = 0; i < kCountedStatuses.size(); ++i) {
    if (kCountedStatuses[i] == status) return i;
  }
  return kCountedStatuses.size();
}

size_t BucketSlot(std::chrono::nanoseconds latency) {
  const double seconds = static_cast<double>(latency.count()) * 1e-9;
  for (size_t i = 0; i < kLatencyBucketsSeconds.size(); ++i) {
    if (seconds <= kLatencyBucketsSeconds[i]) return i;
  }
  return kLatencyBucketsSeconds.size();
}

// Appends a label value with Prometheus escaping (\\, \", \n).
void AppendLabelValue(std::string_view v, std::string* out) {
  out->push_back('"');
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void AppendUInt(uint64_t v, std::string* out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

void AppendDouble(double v, std::string* out) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

void Header(std::string_view name, std::string_view type, std::string_view help, std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

// name{k1="v1",k2="v2"} value
void Sample(std::string_view name,
            std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
            uint64_t value, std::string* out) {
  out->append(name);
  if (labels.size() > 0) {
    out->push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out->push_back(',');
      first = false;
      out->append(k).push_back('=');
      AppendLabelValue(v, out);
    }
    out->push_back('}');
  }
  out->push_back(' ');
  AppendUInt(value, out);
  out->push_back('\n');
}

}  // namespace

void Metrics::Record(Endpoint e, int status, std::chrono::nanoseconds latency) {
  PerEndpoint& m = endpoints_[static_cast<size_t>(e)];
  m.by_status[StatusSlot(status)].fetch_add(1, std::memory_order_relaxed);
  m.buckets[BucketSlot(latency)].fetch_add(1, std::memory_order_relaxed);
  m.latency_nanos.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, latency.count())),
                            std::memory_order_relaxed);
  if (status >= 400) m.errors.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::AddRowsPushed(Endpoint e, const PushResult& result) {
  PerEndpoint& m = endpoints_[static_cast<size_t>(e)];
  m.rows_in.fetch_add(result.rows_in, std::memory_order_relaxed);
  m.rows_written.fetch_add(result.rows_written, std::memory_order_relaxed);
  m.rows_skipped.fetch_add(result.rows_skipped, std::memory_order_relaxed);
}

uint64_t Metrics::requests(Endpoint e) const {
  uint64_t n = 0;
  for (const auto& c : endpoints_[static_cast<size_t>(e)].by_status) {
    n += c.load(std::memory_order_relaxed);
  }
  return n;
}

std::string Metrics::Render(const Result<std::shared_ptr<const StoreInfo>>& info) const {
  std::string out;
  out.reserve(16384);

  Header("larder_http_requests_total", "counter",
         "HTTP requests answered, by endpoint and status code.", &out);
  for (size_t e = 0; e < kEndpointCount; ++e) {
    const std::string_view ep = EndpointLabel(static_cast<Endpoint>(e));
    for (size_t s = 0; s < kStatusSlots; ++s) {
      const uint64_t n = endpoints_[e].by_status[s].load(std::memory_order_relaxed);
      // Every endpoint's 200 line is always present, so rates start from a known zero.
      if (n == 0 && !(s == 0 && e + 1 < kEndpointCount)) continue;
      const std::string code =
          s < kCountedStatuses.size() ? std::to_string(kCountedStatuses[s]) : "other";
      Sample("larder_http_requests_total", {{"endpoint", ep}, {"code", code}}, n, &out);
    }
  }

  Header("larder_http_request_errors_total", "counter",
         "HTTP requests answered with a status of 400 or more, by endpoint.", &out);
  for (size_t e = 0; e < kEndpointCount; ++e) {
    const std::string_view ep = EndpointLabel(static_cast<Endpoint>(e));
    Sample("larder_http_request_errors_total", {{"endpoint", ep}},
           endpoints_[e].errors.load(std::memory_order_relaxed), &out);
  }

  Header("larder_http_request_duration_seconds", "histogram",
         "Time from a request's last byte read to its response's last byte written.", &out);
  for (size_t e = 0; e < kEndpointCount; ++e) {
    const PerEndpoint& m = endpoints_[e];
    const std::string_view ep = EndpointLabel(static_cast<Endpoint>(e));
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBucketSlots; ++b) {
      cumulative += m.buckets[b].load(std::memory_order_relaxed);
      out.append("larder_http_request_duration_seconds_bucket{endpoint=");
      AppendLabelValue(ep, &out);
      out.append(",le=\"");
      if (b < kLatencyBucketsSeconds.size()) {
        AppendDouble(kLatencyBucketsSeconds[b], &out);
      } else {
        out.append("+Inf");
      }
      out.append("\"} ");
      AppendUInt(cumulative, &out);
      out.push_back('\n');
    }
    out.append("larder_http_request_duration_seconds_sum{endpoint=");
    AppendLabelValue(ep, &out);
    out.append("} ");
    AppendDouble(static_cast<double>(m.latency_nanos.load(std::memory_order_relaxed)) * 1e-9, &out);
    out.push_back('\n');
    out.append("larder_http_request_duration_seconds_count{endpoint=");
    AppendLabelValue(ep, &out);
    out.append("} ");
    AppendUInt(cumulative, &out);
    out.push_back('\n');
  }

  const std::array<Endpoint, 2> writes = {Endpoint::kPush, Endpoint::kWriteToOnlineStore};
  Header("larder_rows_pushed_total", "counter",
         "Rows received by successful pushes and write-to-online-store requests.", &out);
  for (Endpoint e : writes) {
    Sample("larder_rows_pushed_total", {{"endpoint", EndpointLabel(e)}},
           endpoints_[static_cast<size_t>(e)].rows_in.load(std::memory_order_relaxed), &out);
  }
  Header("larder_rows_written_total", "counter",
         "Rows written to feature views by those requests (a push fans out to every view of "
         "its source).",
         &out);
  for (Endpoint e : writes) {
    Sample("larder_rows_written_total", {{"endpoint", EndpointLabel(e)}},
           endpoints_[static_cast<size_t>(e)].rows_written.load(std::memory_order_relaxed), &out);
  }
  Header("larder_rows_skipped_total", "counter",
         "Rows not written because the stored row of their entity is newer.", &out);
  for (Endpoint e : writes) {
    Sample("larder_rows_skipped_total", {{"endpoint", EndpointLabel(e)}},
           endpoints_[static_cast<size_t>(e)].rows_skipped.load(std::memory_order_relaxed), &out);
  }

  const uint64_t accepted = connections_accepted_.load(std::memory_order_relaxed);
  const uint64_t closed = connections_closed_.load(std::memory_order_relaxed);
  Header("larder_http_connections_accepted_total", "counter", "TCP connections accepted.", &out);
  Sample("larder_http_connections_accepted_total", {}, accepted, &out);
  Header("larder_http_connections_rejected_total", "counter",
         "TCP connections refused with 503 because --max-connections were open.", &out);
  Sample("larder_http_connections_rejected_total", {},
         connections_rejected_.load(std::memory_order_relaxed), &out);
  Header("larder_http_connections_open", "gauge", "TCP connections open now.", &out);
  Sample("larder_http_connections_open", {}, accepted >= closed ? accepted - closed : 0, &out);
  Header("larder_http_queued_reply_bytes", "gauge",
         "Bytes of replies waiting for slow clients to read them.", &out);
  Sample("larder_http_queued_reply_bytes", {}, queued_.Get(), &out);
  Header("larder_http_requests_overloaded_total", "counter",
         "Requests refused with 503 because --max-queued-bytes of replies were waiting.", &out);
  Sample("larder_http_requests_overloaded_total", {}, overloaded_.load(std::memory_order_relaxed),
         &out);
  Header("larder_http_stalled_replies_cut_total", "counter",
         "Connections closed because their reply did not move for --stall-timeout while "
         "--max-queued-bytes of replies were waiting.",
         &out);
  Sample("larder_http_stalled_replies_cut_total", {}, stalled_cut_.load(std::memory_order_relaxed),
         &out);
  Header("larder_http_limit", "gauge",
         "What one client may cost: the server's limits (larder serve --help).", &out);
  Sample("larder_http_limit", {{"limit", "max_entities"}}, limits_.max_entities, &out);
  Sample("larder_http_limit", {{"limit", "max_values"}}, limits_.max_values, &out);
  Sample("larder_http_limit", {{"limit", "max_reply_bytes"}}, limits_.max_reply_bytes, &out);
  Sample("larder_http_limit", {{"limit", "max_queued_bytes"}}, limits_.max_queued_bytes, &out);
  Sample("larder_http_limit", {{"limit", "max_body_bytes"}}, max_body_bytes_, &out);
  Sample("larder_http_limit", {{"limit", "max_connections"}}, max_connections_, &out);
  // The timeouts, in milliseconds (a gauge's value is an integer here).
  auto millis = [](std::chrono::milliseconds d) { return static_cast<uint64_t>(d.count()); };
  Sample("larder_http_limit", {{"limit", "stall_timeout_ms"}}, millis(limits_.stall_timeout), &out);
  Sample("larder_http_limit", {{"limit", "request_timeout_ms"}}, millis(request_timeout_), &out);
  Sample("larder_http_limit", {{"limit", "idle_timeout_ms"}}, millis(idle_timeout_), &out);
  Header("larder_uptime_seconds", "gauge", "Seconds since the server started.", &out);
  Sample("larder_uptime_seconds", {},
         static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::steady_clock::now() - started_)
                                   .count()),
         &out);

  if (!info.ok()) return out;
  const StoreInfo& s = **info;
  auto gauge = [&out](std::string_view name, std::string_view help, uint64_t v) {
    Header(name, "gauge", help, &out);
    Sample(name, {}, v, &out);
  };
  gauge("larder_store_memory_limit_bytes", "The segment's size ceiling (memory_limit).",
        s.file_size);
  gauge("larder_store_arena_used_bytes",
        "Bytes of the arena in use (live rows, free lists, limbo, index, registry).", s.arena_used);
  gauge("larder_store_free_bytes", "Reusable bytes on the allocator's free lists.",
        s.free_list_bytes);
  gauge("larder_store_limbo_bytes", "Replaced rows' bytes awaiting readers' epochs.",
        s.limbo_bytes);
  gauge("larder_store_index_bytes", "Bytes of the hash index.", s.index_bytes);
  gauge("larder_store_index_entries",
        "Words in use in the index, across views (rows, and rows withdrawn by recovery).",
        s.index_entries);
  gauge("larder_store_index_withdrawn_rows",
        "Index words naming a row a writer that died mid-batch wrote first for its key; no "
        "read sees them, the next write of the key replaces them.",
        s.index_withdrawn_rows);
  gauge("larder_store_index_capacity", "Entries the index holds before it grows.",
        s.index_capacity);
  gauge("larder_store_registry_generation", "The registry's generation (bumped by apply).",
        s.registry_generation);
  uint64_t live_readers = 0;
  for (const ReaderInfo& r : s.readers) live_readers += r.alive ? 1 : 0;
  gauge("larder_store_reader_slots", "Reader slots held by live threads (all processes).",
        live_readers);
  Header("larder_store_view_rows", "gauge", "Entity rows stored per feature view.", &out);
  for (const ViewStats& v : s.views) {
    Sample("larder_store_view_rows", {{"view", v.name}}, v.rows, &out);
  }
  Header("larder_store_view_bytes", "gauge", "Bytes of row blocks per feature view.", &out);
  for (const ViewStats& v : s.views) {
    Sample("larder_store_view_bytes", {{"view", v.name}}, v.row_bytes, &out);
  }
  return out;
}

Result<std::shared_ptr<const StoreInfo>> StoreInfoCache::Get() {
  MutexLock lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!valid_ || now - fetched_at_ >= max_age_) {
    Result<StoreInfo> fresh = fetch_();
    if (fresh.ok()) {
      info_ = std::make_shared<const StoreInfo>(std::move(fresh).value());
      error_ = Status::Ok();
    } else {
      info_.reset();
      error_ = fresh.status();
    }
    fetched_at_ = now;
    valid_ = true;
  }
  if (!error_.ok()) return error_;
  return info_;
}

}  // namespace larder::server
