// What one client may cost the HTTP server (docs/server.md, "Limits"). A reply is built whole
// in memory before it is sent, and a client that does not read keeps it there: so the server
// caps the entities of a request and the values (features x entities) of its reply, the reply
// bytes one connection may leave waiting, and the reply bytes all connections together may
// leave waiting. Past a cap, a request is refused with a JSON error naming the cap, not queued.
//
// Bound: replies in memory <= max_queued_bytes (waiting for clients) + one reply of at most
// max_reply_bytes per network thread being built; a connection holds one reply at a time. At
// the cap, replies that stopped moving are cut (stall_timeout) so that reads resume.
// Thread-safety: ClientLimits is a plain value; QueuedBytes is updated with relaxed atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "larder/online.h"

namespace larder::server {

struct Reply;  // tools/server/routes.h

struct ClientLimits {
  uint64_t max_entities = 100000;            // entity rows per /get-online-features request
  uint64_t max_values = 2000000;             // features x entities per reply
  uint64_t max_reply_bytes = 64ull << 20;    // one reply (what one connection may queue)
  uint64_t max_queued_bytes = 256ull << 20;  // replies waiting for slow clients, in total
  // While the replies waiting for clients are at max_queued_bytes, a read that is refused cuts
  // the connections whose replies have not moved (no byte taken by the client's socket) for
  // this long, the largest first, until what they hold would bring the total under the cap:
  // clients that stopped reading do not keep every read refused until --request-timeout.
  std::chrono::milliseconds stall_timeout{5000};
};

// 413 when a request of `rows` entity rows has more than the limit (checked while parsing, once
// the row count is known and before the entity frame is built: ParseOnlineRequestJson's check).
std::optional<Reply> CheckEntities(size_t rows, const ClientLimits& limits);
// 413 when the entities of a request would take more than max_values cells (their columns x
// rows, values nested in arrays included: an upper bound from the parsed JSON, checked before
// the entity frame is built).
std::optional<Reply> CheckEntityCells(size_t cells, const ClientLimits& limits);
// 413 when a reply of `columns` x `rows` values exceeds max_values (checked while parsing, from
// the requested feature columns, and again before the reply is rendered as JSON, the larger
// part of its cost).
std::optional<Reply> CheckValues(size_t columns, size_t rows, const ClientLimits& limits);
// 413 for a rendered reply larger than max_reply_bytes.
Reply ReplyTooLarge(uint64_t bytes, const ClientLimits& limits);
// 503 while the replies waiting for clients hold max_queued_bytes or more; `cutting`: stalled
// replies are being cut to make room (see ClientLimits::stall_timeout).
Reply Overloaded(uint64_t queued, const ClientLimits& limits, bool cutting);

// Bytes of replies written only in part (their clients have not read them yet).
class QueuedBytes {
 public:
  // relaxed: a gauge and an admission threshold; nothing is published through it.
  void Add(uint64_t n) { bytes_.fetch_add(n, std::memory_order_relaxed); }
  void Sub(uint64_t n) { bytes_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t Get() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace larder::server
