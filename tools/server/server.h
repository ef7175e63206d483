// Larder's HTTP feature server (`larder serve`): Feast's feature-server endpoints over
// HTTP/1.1 with keep-alive, on Boost.Beast / Asio.
//
//   auto server = Server::Start(store.get(), options);   // binds, attaches, starts threads
//   int rc = (*server)->Wait();                          // until SIGINT/SIGTERM or Shutdown()
//
// Threads: `threads` network threads, each running its own io_context (no thread per
// connection); the acceptor deals connections out round-robin and a connection stays on its
// thread until it closes, so its handlers never hop threads. Reads (/get-online-features, /health,
// /metrics) are answered on the network thread that read them; writes (/push,
// /write-to-online-store, /materialize*) run on a small writer pool, so a push that waits on
// the store's writer lock never holds up reads.
//
// Shutdown (SIGINT/SIGTERM when handle_signals, or Shutdown()): the listening socket closes,
// idle keep-alive connections close, requests being read or handled finish and are answered
// with `Connection: close`; Wait() returns 0 once every connection is gone, or 1 if
// shutdown_timeout passed first (the rest are cut). A second signal cuts at once.
//
// Thread-safety: Shutdown() may be called from any thread (not from a signal handler); Wait()
// from any one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "larder/feature_store.h"
#include "larder/status.h"
#include "tools/server/access.h"
#include "tools/server/limits.h"

namespace larder::server {

struct ServerOptions {
  std::string host = "127.0.0.1";                    // loopback unless told otherwise
  uint16_t port = 6566;                              // 0 = any free port (see Server::port())
  int threads = 0;                                   // network threads; 0 = one per core
  int write_threads = 2;                             // threads running pushes and materializations
  uint64_t max_body_bytes = 16ull << 20;             // larger bodies are refused with 413
  uint32_t max_header_bytes = 16u << 10;             // larger request heads are refused with 431
  int max_connections = 10000;                       // more are answered 503 and closed
  bool reuse_port = false;                           // SO_REUSEPORT: several servers share one port
  ClientLimits limits;                               // what one client may cost (limits.h)
  AccessOptions access;                              // origins and tokens (access.h)
  std::chrono::milliseconds idle_timeout{60000};     // keep-alive connection with no request
  std::chrono::milliseconds request_timeout{30000};  // to read a request from its first byte
                                                     // on, and to write its response
  std::chrono::milliseconds shutdown_timeout{30000};  // to drain in-flight requests
  bool handle_signals = true;  // SIGINT and SIGTERM start a graceful shutdown
  // Low-latency mode: a network thread that runs out of work keeps polling its sockets for this
  // long before it sleeps in epoll, so a request arriving meanwhile is picked up without the
  // wake-up of a sleeping thread (tens of microseconds on a VM). It burns up to a core per
  // network thread while requests keep coming; 0 = off (sleep at once).
  std::chrono::microseconds busy_poll{0};
  // Refuse request fields Feast's request models do not have (422 naming the field) instead of
  // ignoring them as Feast does.
  bool strict = false;
};

class Server {
 public:
  // Attaches a reader to `store`'s segment (kStoreNotFound: run `larder apply` first), binds
  // host:port and starts the threads. `store` must outlive the server.
  static Result<std::unique_ptr<Server>> Start(FeatureStore* store, const ServerOptions& options);
  ~Server();  // Shutdown() and Wait()

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the chosen one when options.port was 0) and "http://host:port".
  uint16_t port() const;
  std::string url() const;
  // Names of the store's feature views at start (for the start-up log line).
  const std::vector<std::string>& view_names() const;

  // Starts a graceful shutdown (returns at once).
  void Shutdown();
  // Blocks until the server has stopped; 0 after a graceful drain, 1 when shutdown_timeout
  // cut connections. Idempotent.
  int Wait();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace larder::server
