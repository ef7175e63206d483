// The HTTP feature server's metrics, rendered as Prometheus text (GET /metrics): requests per
// endpoint and status code, errors per endpoint, a latency histogram per endpoint with fixed
// buckets, rows pushed, connections, and the store's memory and rows per view (from
// StoreInfoCache, which refreshes Inspect at most once a second because Inspect walks the index).
// Thread-safety: Metrics is updated with relaxed atomics from any thread; StoreInfoCache::Get
// may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "larder/mutex.h"
#include "larder/online.h"
#include "larder/status.h"
#include "larder/store_info.h"
#include "tools/server/endpoints.h"
#include "tools/server/limits.h"

namespace larder::server {

// Upper bounds of the latency histogram buckets, in seconds (+Inf is implicit).
inline constexpr std::array<double, 18> kLatencyBucketsSeconds = {
    25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
    25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0};

// The status codes counted separately; any other is counted as "other".
inline constexpr std::array<int, 13> kCountedStatuses = {200, 400, 401, 403, 404, 405, 413,
                                                         422, 431, 500, 501, 503, 507};

class Metrics {
 public:
  // One answered request: its endpoint, HTTP status and latency (from the request's last byte
  // read to its response's last byte written).
  void Record(Endpoint e, int status, std::chrono::nanoseconds latency);
  // A successful push or write-to-online-store.
  void AddRowsPushed(Endpoint e, const PushResult& result);
  void ConnectionOpened() { connections_accepted_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_closed_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionRejected() { connections_rejected_.fetch_add(1, std::memory_order_relaxed); }

  // The limits /metrics shows; set once, before the server's threads start.
  void SetLimits(const ClientLimits& limits, uint64_t max_body_bytes, uint64_t max_connections,
                 std::chrono::milliseconds request_timeout,
                 std::chrono::milliseconds idle_timeout) {
    limits_ = limits;
    max_body_bytes_ = max_body_bytes;
    max_connections_ = max_connections;
    request_timeout_ = request_timeout;
    idle_timeout_ = idle_timeout;
  }
  // Reply bytes waiting for clients to read them (shown, and compared with the limit).
  QueuedBytes& queued() { return queued_; }
  void RequestOverloaded() { overloaded_.fetch_add(1, std::memory_order_relaxed); }
  // A connection closed because its reply stalled while the queued bytes were at the cap.
  void StalledReplyCut() { stalled_cut_.fetch_add(1, std::memory_order_relaxed); }

  uint64_t requests(Endpoint e) const;
  uint64_t connections_accepted() const {
    return connections_accepted_.load(std::memory_order_relaxed);
  }

  // Prometheus text exposition format (version 0.0.4). `info` is the store's cached Inspect
  // result (store gauges are left out when it is an error).
  std::string Render(const Result<std::shared_ptr<const StoreInfo>>& info) const;

 private:
  static constexpr size_t kStatusSlots = kCountedStatuses.size() + 1;        // + "other"
  static constexpr size_t kBucketSlots = kLatencyBucketsSeconds.size() + 1;  // + +Inf
  struct PerEndpoint {
    std::array<std::atomic<uint64_t>, kStatusSlots> by_status{};
    std::array<std::atomic<uint64_t>, kBucketSlots> buckets{};  // not cumulative
    std::atomic<uint64_t> latency_nanos{0};
    std::atomic<uint64_t> errors{0};  // status >= 400
    std::atomic<uint64_t> rows_in{0};
    std::atomic<uint64_t> rows_written{0};
    std::atomic<uint64_t> rows_skipped{0};
  };
  std::array<PerEndpoint, kEndpointCount> endpoints_{};
  std::atomic<uint64_t> connections_accepted_{0};
  std::atomic<uint64_t> connections_closed_{0};
  std::atomic<uint64_t> connections_rejected_{0};
  std::atomic<uint64_t> overloaded_{0};
  std::atomic<uint64_t> stalled_cut_{0};
  QueuedBytes queued_;
  ClientLimits limits_;
  uint64_t max_body_bytes_ = 0;
  uint64_t max_connections_ = 0;
  std::chrono::milliseconds request_timeout_{0};
  std::chrono::milliseconds idle_timeout_{0};
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// Inspect() of the store, cached for `max_age`: Inspect walks the whole index, so neither
// /metrics nor /health may run it per request.
class StoreInfoCache {
 public:
  using Fetch = std::function<Result<StoreInfo>()>;
  explicit StoreInfoCache(Fetch fetch,
                          std::chrono::milliseconds max_age = std::chrono::milliseconds(1000))
      : fetch_(std::move(fetch)), max_age_(max_age) {}

  Result<std::shared_ptr<const StoreInfo>> Get();

 private:
  const Fetch fetch_;
  const std::chrono::milliseconds max_age_;
  Mutex mu_;
  std::chrono::steady_clock::time_point fetched_at_ LARDER_GUARDED_BY(mu_);
  std::shared_ptr<const StoreInfo> info_ LARDER_GUARDED_BY(mu_);
  Status error_ LARDER_GUARDED_BY(mu_);
  bool valid_ LARDER_GUARDED_BY(mu_) = false;
};

}  // namespace larder::server
