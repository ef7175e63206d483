#include "tools/server/server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/quote.h"
#include "larder/mutex.h"
#include "tools/server/metrics.h"
#include "tools/server/routes.h"

namespace larder::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}
int64_t StallNanos(const ServerOptions& options) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(options.limits.stall_timeout).count();
}

// One line to stderr, written with one call so that threads' lines do not interleave.
void Log(const std::string& line) {
  std::string out = "larder serve: " + line + "\n";
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

Method MethodOf(http::verb v) {
  switch (v) {
    case http::verb::get:
      return Method::kGet;
    case http::verb::head:
      return Method::kHead;
    case http::verb::post:
      return Method::kPost;
    default:
      return Method::kOther;
  }
}

// Errors that end a connection without anything to answer.
bool IsDisconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::operation_aborted || ec == beast::error::timeout ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::bad_descriptor;
}

// Runs `ioc` until it stops or runs out of work, like io_context::run(), but after the last
// handler keeps polling (non-blocking epoll_wait) for `spin` before it blocks for the next one.
void RunPolling(net::io_context& ioc, std::chrono::microseconds spin) {
  auto last_work = Clock::now();
  while (!ioc.stopped()) {
    if (ioc.poll() > 0) {
      last_work = Clock::now();
    } else if (ioc.stopped()) {
      return;  // out of work (poll() stopped it) or stop() was called
    } else if (Clock::now() - last_work >= spin) {
      ioc.run_one();  // sleeps until the next handler
      last_work = Clock::now();
    }
  }
}

// Appends the status line and headers of `reply` (HTTP/1.`version % 10`): Server,
// Content-Type, Content-Length of its body, Allow for a 405, and the Connection header that
// `keep` needs (close for HTTP/1.1, keep-alive for HTTP/1.0). Beast parses requests; a
// response is written as these few lines and the body in one system call.
void AppendResponseHead(unsigned version, const Reply& reply, bool keep, std::string_view cors,
                        std::string* out) {
  const auto status = static_cast<http::status>(reply.status);
  char number[24];
  out->append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  out->append(number, std::to_chars(number, number + sizeof(number), reply.status).ptr);
  out->push_back(' ');
  const beast::string_view reason = http::obsolete_reason(status);
  out->append(reason.data(), reason.size());
  out->append("\r\nServer: larder\r\nContent-Type: ");
  out->append(reply.content_type);
  out->append("\r\nContent-Length: ");
  out->append(number, std::to_chars(number, number + sizeof(number), reply.body.size()).ptr);
  if (reply.allow != nullptr) {
    out->append("\r\nAllow: ");
    out->append(reply.allow);
  }
  if (reply.www_authenticate != nullptr) {
    out->append("\r\nWWW-Authenticate: ");
    out->append(reply.www_authenticate);
  }
  if (!cors.empty()) {  // an allowed origin: browsers may read the reply
    out->append("\r\nAccess-Control-Allow-Origin: ");
    out->append(cors);
    out->append("\r\nVary: Origin");
    out->append("\r\nAccess-Control-Allow-Methods: GET, POST");
    out->append("\r\nAccess-Control-Allow-Headers: Content-Type, Authorization");
  }
  if (version == 10 && keep) out->append("\r\nConnection: keep-alive");
  if (version != 10 && !keep) out->append("\r\nConnection: close");
  out->append("\r\n\r\n");
}

// RFC 9112 6.1: a request whose transfer codings the server does not implement gets 501; one
// whose last coding is not chunked cannot be framed, 400. Only "chunked" is implemented.
std::optional<Reply> CheckTransferCodings(beast::string_view header) {
  if (header.empty()) return std::nullopt;
  std::string last;
  std::string unsupported;
  size_t pos = 0;
  const std::string_view text(header.data(), header.size());
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view coding = text.substr(pos, comma - pos);
    while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) {
      coding.remove_prefix(1);
    }
    while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) {
      coding.remove_suffix(1);
    }
    if (!coding.empty()) {
      last = std::string(coding);
      if (!beast::iequals(beast::string_view(coding.data(), coding.size()), "chunked") &&
          unsupported.empty()) {
        unsupported = last;
      }
    }
    pos = comma + 1;
  }
  if (!beast::iequals(last, "chunked")) {
    return HttpErrorReply(400, "BadRequest",
                          "Transfer-Encoding " + QuoteInput(text) +
                              " does not end with chunked: the body cannot be framed");
  }
  if (!unsupported.empty()) {
    return HttpErrorReply(501, "NotImplemented",
                          "transfer coding " + QuoteInput(unsupported) +
                              " is not supported (only chunked is): send the body uncoded");
  }
  return std::nullopt;
}

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// How long a connection closed with an unread request body is drained, so that the client
// reads our error response instead of a reset.
constexpr std::chrono::seconds kLingerTime{2};
constexpr size_t kDrainBytes = 16384;

}  // namespace

class Session;

class Server::Impl {
 public:
  Impl(FeatureStore* store, std::unique_ptr<OnlineReader> reader, const ServerOptions& options,
       std::vector<std::string> views)
      : options_(options),
        threads_count_(options.threads > 0
                           ? options.threads
                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
        store_(store),
        reader_(store->config(), std::move(reader)),
        router_(store_, &reader_, &metrics_,
                RouterOptions{options.strict ? UnknownFields::kRefuse : UnknownFields::kIgnore,
                              options.limits}),
        views_(std::move(views)),
        pool_(static_cast<size_t>(std::max(1, options.write_threads))),
        iocs_(MakeContexts(threads_count_)),
        acceptor_(*iocs_[0]),
        signals_(*iocs_[0]),
        drain_timer_(*iocs_[0]) {
    metrics_.SetLimits(options.limits, options.max_body_bytes,
                       static_cast<uint64_t>(options.max_connections), options.request_timeout,
                       options.idle_timeout);
  }

  ~Impl() {
    Shutdown();
    Wait();
  }

  Status Listen();
  void Run();
  void Shutdown();
  int Wait();

  uint16_t port() const { return port_; }
  std::string url() const {
    const bool v6 = options_.host.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + options_.host + "]" : options_.host) + ":" +
           std::to_string(port_);
  }
  const std::vector<std::string>& views() const { return views_; }

  // For sessions.
  const ServerOptions& options() const { return options_; }
  Router& router() { return router_; }
  Metrics& metrics() { return metrics_; }
  net::thread_pool& pool() { return pool_; }
  void SessionGone(Session* s);
  // Replies being written to clients that have not taken them whole (registered by the session
  // when its first send leaves part of a reply unsent, until its write ends): what
  // CutStalledReplies chooses from.
  void WritingStarted(Session* s, std::weak_ptr<Session> weak, uint64_t bytes);
  void WritingEnded(Session* s);
  // Called when a read is refused at the queued-bytes cap (`queued` bytes wait): cuts the
  // connections whose replies made no progress for limits.stall_timeout, the largest first,
  // until the bytes they hold would bring the total under the cap. Returns how many it cut.
  size_t CutStalledReplies(uint64_t queued);

 private:
  static std::vector<std::unique_ptr<net::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<net::io_context>> iocs;
    for (int i = 0; i < n; ++i) iocs.push_back(std::make_unique<net::io_context>(1));
    return iocs;
  }
  void StopAll() {
    for (auto& ioc : iocs_) ioc->stop();
  }
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void WaitSignal();
  void BeginDrain();
  void PollDrain();

  const ServerOptions options_;
  const int threads_count_;
  FeatureStore* const store_;
  FollowingReader reader_;
  Metrics metrics_;
  Router router_;
  const std::vector<std::string> views_;
  uint16_t port_ = 0;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> forced_{false};
  std::atomic<int> live_{0};  // sessions alive
  Mutex sessions_mu_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_ LARDER_GUARDED_BY(sessions_mu_);
  struct Writing {
    std::weak_ptr<Session> session;
    uint64_t bytes;  // of its reply, all counted in Metrics::queued() until the write ends
  };
  // A session removes itself before its members are destroyed (~Session), so that a Session*
  // found here under writing_mu_ may be read.
  Mutex writing_mu_;
  std::unordered_map<Session*, Writing> writing_ LARDER_GUARDED_BY(writing_mu_);

  Mutex wait_mu_;
  bool waited_ LARDER_GUARDED_BY(wait_mu_) = false;
  std::vector<std::thread> threads_;
  net::thread_pool pool_;

  // One io_context per network thread: a connection lives on one thread from accept to
  // close, so its handlers never hop threads or need a strand. Declared last: destroyed
  // first, while what sessions touch on destruction still exists.
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  // Keep every context running while there is no connection on it; released at the drain.
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  size_t next_ioc_ = 0;  // round-robin; on iocs_[0]'s thread
  // On iocs_[0]'s thread:
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer drain_timer_;
  Clock::time_point drain_deadline_;
};

// The request's Host header in *host, or null when it has none. Several Host headers (which
// RFC 9112 answers with 400) read as an empty one, which is refused wherever Host is judged.
template <class Request>
const std::string_view* RequestHost(const Request& req, std::string_view* host) {
  if (req.count(http::field::host) > 1) {
    *host = {};
    return host;
  }
  const auto it = req.find(http::field::host);
  if (it == req.end()) return nullptr;
  *host = std::string_view(it->value().data(), it->value().size());
  return host;
}

// One connection: reads requests one after another (keep-alive), answers each, and closes on
// `Connection: close`, an error, the idle timeout, or shutdown. All of its handlers run on its
// network thread; the writer pool touches it only while no operation of its own is pending.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, net::io_context* ioc, Server::Impl* server)
      : socket_(std::move(socket)), timer_(*ioc), ioc_(ioc), server_(server) {}
  ~Session() {
    if (writing_registered_) server_->WritingEnded(this);
    // A reply still counted (its write never ended: a handler's exception unwound the run
    // loop) is no longer held: uncount it, or the total would stay high for good.
    if (queued_ > 0) server_->metrics().queued().Sub(queued_);
    server_->SessionGone(this);
  }

  // The steady-clock time (ns) the reply being written last made progress. Any thread.
  int64_t ProgressNanos() const { return progress_ns_.load(std::memory_order_relaxed); }

  // Closes the connection, on its own thread, if its reply is still being written and still
  // has made no progress for the stall timeout (it may have moved since it was chosen).
  void CutIfStalled() {
    net::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->queued_ == 0 || self->cut_) return;  // the write ended, or was cut already
      if (NowNanos() - self->ProgressNanos() < StallNanos(self->server_->options())) return;
      self->cut_ = true;
      self->server_->metrics().StalledReplyCut();
      self->Close();  // the pending write ends with an error: OnWrite frees the reply
    });
  }

  // Starts reading requests; with `reject`, answers 503 and closes instead.
  void Start(bool reject) {
    net::dispatch(socket_.get_executor(),
                  beast::bind_front_handler(&Session::Begin, shared_from_this(), reject));
  }

  // Graceful shutdown: an idle connection closes now; a busy one after its current response.
  // A connection whose next request has started to arrive (bytes wait in the socket) is busy.
  void Stop() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      beast::error_code ec;
      if (self->idle_ && self->socket_.available(ec) == 0) self->socket_.cancel(ec);
    });
  }

 private:
  void Begin(bool reject) {
    beast::error_code ec;
    socket_.non_blocking(true, ec);  // see Respond
    // Whether this connection reached the server through a loopback address (a server bound to
    // 0.0.0.0 is reached that way too): then its Host header is judged (access.h).
    // An address that cannot be read counts as loopback: Host is then judged (fails safe).
    const auto local = socket_.local_endpoint(ec);
    via_loopback_ = ec || IsLoopbackAddress(local.address());
    if (reject) {
      start_ = Clock::now();
      server_->metrics().ConnectionRejected();
      Respond(
          HttpErrorReply(503, "TooManyConnections",
                         "the server has " + std::to_string(server_->options().max_connections) +
                             " connections open (--max-connections)"),
          /*close=*/true);
      return;
    }
    ReadHeader();
  }

  // Timeouts: one timer per connection. An operation moves the deadline; the timer is re-armed
  // only when the new deadline is earlier than its expiry, or when it fires before the current
  // deadline, so a keep-alive request costs no timer system call (Beast's tcp_stream re-arms on
  // every operation: two timerfd_settime calls per request). At the deadline the socket is
  // closed, which aborts the pending read or write.
  void SetDeadline(std::chrono::milliseconds timeout) {
    deadline_ = Clock::now() + timeout;
    if (!timer_armed_ || deadline_ < timer_.expiry()) ArmTimer();
  }
  void ClearDeadline() { deadline_ = Clock::time_point::max(); }
  void ArmTimer() {
    timer_armed_ = true;
    const uint64_t generation = ++timer_generation_;
    timer_.expires_at(deadline_);  // cancels a wait already pending (now superseded)
    timer_.async_wait([weak = weak_from_this(), generation](beast::error_code ec) {
      auto self = weak.lock();
      if (!self || generation != self->timer_generation_) return;
      self->timer_armed_ = false;
      if (ec || self->deadline_ == Clock::time_point::max()) return;
      if (Clock::now() < self->deadline_) return self->ArmTimer();
      self->Close();
    });
  }

  void ReadHeader() {
    if (stopping_) return Close();
    endpoint_ = Endpoint::kOther;
    cors_.clear();
    parser_.emplace();
    parser_->header_limit(server_->options().max_header_bytes);
    parser_->body_limit(server_->options().max_body_bytes);
    idle_ = buffer_.size() == 0;
    if (!idle_) return ReadHead();
    // Idle: wait for the first byte of the next request under the idle timeout; from that
    // byte on the request timeout holds (a head sent slowly is cut at --request-timeout).
    SetDeadline(server_->options().idle_timeout);
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->Close();
      self->idle_ = false;
      self->ReadHead();
    });
  }

  void ReadHead() {
    SetDeadline(server_->options().request_timeout);
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    idle_ = false;
    if (ec) return OnReadError(ec);
    endpoint_ = EndpointForTarget(
        std::string_view(parser_->get().target().data(), parser_->get().target().size()));
    if (auto refused = CheckTransferCodings(parser_->get()[http::field::transfer_encoding])) {
      start_ = Clock::now();
      unread_body_ = true;
      return Respond(std::move(*refused), /*close=*/true);
    }
    if (parser_->get().method() == http::verb::options && AllowedPreflight()) {
      // A CORS preflight from an allowed origin: answered before the token check (browsers
      // never send credentials on a preflight). A body it carries is not read: the connection
      // closes after the answer, so those bytes are never taken for a next request.
      start_ = Clock::now();
      unread_body_ = !parser_->is_done();
      Reply ok;
      ok.content_type = "text/plain";
      ok.allow = "GET, POST, OPTIONS";
      return Respond(std::move(ok), /*close=*/unread_body_);
    }
    if (auto refused = CheckRequestAccess()) {
      start_ = Clock::now();
      unread_body_ = !parser_->is_done();
      return Respond(std::move(*refused), /*close=*/true);
    }
    auto expect = parser_->get()[http::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      // curl sends bodies over 1 MiB this way: say go on, or it waits a second first.
      net::async_write(socket_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code e, size_t) {
                         if (e) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  // Whether the request has an Origin header that --allow-origin names (then echoed in CORS
  // headers of the reply).
  bool AllowedPreflight() {
    const auto& req = parser_->get();
    const auto origin_it = req.find(http::field::origin);
    if (origin_it == req.end()) return false;
    const std::string_view origin(origin_it->value().data(), origin_it->value().size());
    if (!OriginAllowed(server_->options().access, origin)) return false;
    std::string_view host;
    if (!HostAllowed(server_->options().access, via_loopback_, RequestHost(req, &host))) {
      return false;
    }
    cors_ = std::string(origin);
    return true;
  }

  // Origins and tokens (access.h), checked on the head, before the body is read.
  std::optional<Reply> CheckRequestAccess() {
    const auto& req = parser_->get();
    cors_.clear();
    const auto origin_it = req.find(http::field::origin);
    std::string_view origin;
    if (origin_it != req.end()) {
      origin = std::string_view(origin_it->value().data(), origin_it->value().size());
    }
    std::string_view host;
    const std::string_view* host_ptr = RequestHost(req, &host);
    const auto auth = req[http::field::authorization];
    auto refused =
        CheckAccess(server_->options().access, via_loopback_, host_ptr,
                    origin_it != req.end() ? &origin : nullptr,
                    std::string_view(auth.data(), auth.size()), Router::IsWrite(endpoint_));
    if (!refused && origin_it != req.end()) cors_ = std::string(origin);
    return refused;
  }

  void ReadBody() {
    // The body often arrived with the head: parse what is buffered now, without another trip
    // through the event loop.
    while (!parser_->is_done() && buffer_.size() > 0) {
      beast::error_code ec;
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) return OnReadError(ec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return Dispatch();
    // The deadline set when the request's first byte came (ReadHead) still runs: head and body
    // together get --request-timeout.
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  // A request could not be read whole: answer what can be answered, then close. (A timeout
  // has already closed the socket.)
  void OnReadError(beast::error_code ec) {
    start_ = Clock::now();
    if (ec == http::error::body_limit) {
      endpoint_ = EndpointForTarget(
          std::string_view(parser_->get().target().data(), parser_->get().target().size()));
      unread_body_ = true;
      return Respond(HttpErrorReply(413, "PayloadTooLarge",
                                    "the request body is larger than the limit of " +
                                        std::to_string(server_->options().max_body_bytes) +
                                        " bytes (--max-body)"),
                     true);
    }
    if (ec == http::error::header_limit) {
      unread_body_ = true;
      return Respond(
          HttpErrorReply(431, "HeadersTooLarge",
                         "the request head is larger than the limit of " +
                             std::to_string(server_->options().max_header_bytes) + " bytes"),
          true);
    }
    if (IsDisconnect(ec)) return Close();
    unread_body_ = true;
    Respond(HttpErrorReply(400, "BadRequest", "malformed HTTP request: " + ec.message()), true);
  }

  void Dispatch() {
    ClearDeadline();  // handling may take long (a push waiting for the writer lock)
    start_ = Clock::now();
    const Method method = MethodOf(parser_->get().method());
    // Replies waiting for slow clients are capped in total: past the cap, a request that may
    // build a large reply is refused before it costs anything.
    const uint64_t queued = server_->metrics().queued().Get();
    if (queued >= server_->options().limits.max_queued_bytes &&
        endpoint_ == Endpoint::kGetOnlineFeatures) {
      server_->metrics().RequestOverloaded();
      // Clients that stopped reading must not keep every read refused until their request
      // timeout: the replies that stalled longest are cut, and the client retries.
      const bool cutting = server_->CutStalledReplies(queued) > 0;
      return Respond(Overloaded(queued, server_->options().limits, cutting), false);
    }
    if (Router::IsWrite(endpoint_) && method == Method::kPost) {
      // Off the network threads: a push may wait for the store's writer lock. The work guard
      // keeps the io_context running until the answer is posted back.
      net::post(server_->pool(), [self = shared_from_this(),
                                  work = net::make_work_guard(*ioc_)]() mutable {
        Reply reply = self->Handle(Method::kPost);
        net::post(self->socket_.get_executor(), [self, reply = std::move(reply)]() mutable {
          self->Respond(std::move(reply), false);
        });
      });
      return;
    }
    Respond(Handle(method), false);
  }

  Reply Handle(Method method) {
    try {
      const std::string_view target(parser_->get().target().data(), parser_->get().target().size());
      const size_t q = target.find('?');
      return server_->router().Handle(
          endpoint_, method, parser_->get().body(),
          q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
    } catch (const std::exception& e) {
      return HttpErrorReply(500, "Internal", std::string("internal error: ") + e.what());
    }
  }

  void Respond(Reply reply, bool close) {
    if (reply.status >= 500) {
      std::string_view msg = reply.body;
      Log(std::string(EndpointLabel(endpoint_)) + " -> " + std::to_string(reply.status) + " " +
          std::string(msg.substr(0, 400)));
    }
    unsigned version = 11;
    bool client_keep_alive = false;
    if (parser_ && parser_->is_header_done()) {
      version = parser_->get().version() == 10 ? 10 : 11;
      client_keep_alive = parser_->get().keep_alive();
    }
    const bool keep = !close && !stopping_ && client_keep_alive && !unread_body_;
    const bool head_request =
        parser_ && parser_->is_header_done() && parser_->get().method() == http::verb::head;
    if (reply.body.size() > server_->options().limits.max_reply_bytes) {
      reply = ReplyTooLarge(reply.body.size(), server_->options().limits);
    }
    status_ = reply.status;
    head_.clear();
    AppendResponseHead(version, reply, keep, cors_, &head_);
    body_ = std::move(reply.body);
    if (head_request) body_.clear();  // Content-Length says what a GET would carry
    // The socket is non-blocking: a response that fits the socket buffer (nearly all) goes out
    // now in one sendmsg of two buffers, and the rest, if any, asynchronously.
    const std::array<net::const_buffer, 2> parts{net::buffer(head_), net::buffer(body_)};
    beast::error_code ec;
    const size_t sent = socket_.write_some(parts, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
    } else if (ec || sent == head_.size() + body_.size()) {
      return OnWrite(!keep, ec, sent);
    }
    written_ = ec ? 0 : sent;
    close_after_write_ = !keep;
    // The reply waits for the client, held whole until the write ends (OnWrite): all of it is
    // counted, not only the part still unsent. The request's body is no longer needed.
    queued_ = head_.size() + body_.size();
    if (parser_) std::string().swap(parser_->get().body());
    server_->metrics().queued().Add(queued_);
    progress_ns_.store(NowNanos(), std::memory_order_relaxed);
    writing_registered_ = true;
    server_->WritingStarted(this, weak_from_this(), queued_);
    SetDeadline(server_->options().request_timeout);
    WriteSome();
  }

  // Writes the rest of the reply a piece at a time (what the socket takes), noting each
  // piece's time: a reply whose client stopped reading shows no progress (CutIfStalled).
  void WriteSome() {
    const std::array<net::const_buffer, 2> parts{net::buffer(head_), net::buffer(body_)};
    beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(parts);
    rest.consume(written_);
    socket_.async_write_some(rest,
                             beast::bind_front_handler(&Session::OnWriteSome, shared_from_this()));
  }

  void OnWriteSome(beast::error_code ec, size_t n) {
    written_ += n;
    if (n > 0) progress_ns_.store(NowNanos(), std::memory_order_relaxed);
    if (!ec && written_ < head_.size() + body_.size()) return WriteSome();
    OnWrite(close_after_write_, ec, written_);
  }

  void OnWrite(bool close, beast::error_code ec, size_t) {
    ClearDeadline();
    if (writing_registered_) {
      server_->WritingEnded(this);
      writing_registered_ = false;
    }
    server_->metrics().queued().Sub(queued_);
    queued_ = 0;
    body_ = std::string();  // a large reply's memory goes back now, not at the next one
    server_->metrics().Record(endpoint_, status_, Clock::now() - start_);
    if (ec) return Close();
    if (close) return unread_body_ ? Linger() : Close();
    ReadHeader();
  }

  // Closes after an error response to a request whose body was not read: stop sending, then
  // read and discard for a while, so that the client sees the response rather than a reset.
  void Linger() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    SetDeadline(std::chrono::duration_cast<std::chrono::milliseconds>(kLingerTime));
    drain_ = std::make_unique<char[]>(kDrainBytes);
    DrainSome();
  }
  void DrainSome() {
    socket_.async_read_some(net::buffer(drain_.get(), kDrainBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->DrainSome();
                            });
  }

  void Close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timer_armed_ = false;
  uint64_t timer_generation_ = 0;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string head_;            // the response being written: status line and headers,
  std::string body_;            // then the body
  uint64_t queued_ = 0;         // bytes of it counted in Metrics::queued() (unsent at first try)
  size_t written_ = 0;          // bytes of head_ and body_ sent so far (while queued_ > 0)
  bool close_after_write_ = false;
  bool writing_registered_ = false;      // in Server::Impl's writing_ (while queued_ > 0)
  bool cut_ = false;                     // closed by CutIfStalled
  std::atomic<int64_t> progress_ns_{0};  // when the reply being written last moved (any thread)
  std::string cors_;            // the request's Origin, when allowed: echoed in the reply
  bool via_loopback_ = false;   // reached through a loopback address: Host is judged
  net::io_context* const ioc_;  // the one thread this connection runs on
  Server::Impl* const server_;
  Endpoint endpoint_ = Endpoint::kOther;
  int status_ = 0;
  Clock::time_point start_;
  bool idle_ = false;              // waiting for the first byte of a request
  bool stopping_ = false;          // shutdown: close after the current response
  bool unread_body_ = false;       // the request was not read to its end: close after answering
  std::unique_ptr<char[]> drain_;  // Linger's scratch, allocated only then
};

Status Server::Impl::Listen() {
  beast::error_code ec;
  tcp::resolver resolver(*iocs_[0]);
  auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                  tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return InvalidArgument("--host '" + options_.host + "': cannot resolve (" + ec.message() + ")");
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec && options_.reuse_port) {
    acceptor_.set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  }
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return IoError("cannot listen on " + where + ": " + ec.message() +
                   (ec == net::error::address_in_use
                        ? " (another server? give --port, or --reuse-port on every server)"
                        : ""));
  }
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void Server::Impl::Run() {
  for (auto& ioc : iocs_) guards_.push_back(net::make_work_guard(*ioc));
  net::post(*iocs_[0], [this] { DoAccept(); });
  if (options_.handle_signals) {
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    WaitSignal();
  }
  threads_.reserve(static_cast<size_t>(threads_count_));
  for (int i = 0; i < threads_count_; ++i) {
    threads_.emplace_back([this, ioc = iocs_[static_cast<size_t>(i)].get()] {
      for (;;) {
        try {
          if (options_.busy_poll.count() > 0) {
            RunPolling(*ioc, options_.busy_poll);
          } else {
            ioc->run();
          }
          return;
        } catch (const std::exception& e) {
          Log(std::string("internal error on a network thread: ") + e.what());
        }
      }
    });
  }
}

void Server::Impl::WaitSignal() {
  signals_.async_wait([this](beast::error_code ec, int signo) {
    if (ec) return;  // cancelled: the drain finished
    if (!stopping_) {
      Log(std::string(signo == SIGINT ? "SIGINT" : "SIGTERM") +
          ": finishing in-flight requests, then exiting (a second signal exits at once)");
      Shutdown();
      WaitSignal();
    } else {
      Log("second signal: exiting now");
      forced_ = true;
      StopAll();
    }
  });
}

void Server::Impl::DoAccept() {
  next_ioc_ = (next_ioc_ + 1) % iocs_.size();
  acceptor_.async_accept(*iocs_[next_ioc_], beast::bind_front_handler(&Impl::OnAccept, this));
}

void Server::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping_ || !acceptor_.is_open()) return;  // the socket (if any) closes here
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    Log("accept failed: " + ec.message());
    // Out of descriptors or memory: retry shortly rather than spin.
    drain_timer_.expires_after(std::chrono::milliseconds(50));
    drain_timer_.async_wait([this](beast::error_code e) {
      if (!e && !stopping_) DoAccept();
    });
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  const bool reject = live_.load(std::memory_order_relaxed) >= options_.max_connections;
  metrics_.ConnectionOpened();
  auto session = std::make_shared<Session>(std::move(socket), iocs_[next_ioc_].get(), this);
  live_.fetch_add(1, std::memory_order_relaxed);
  {
    MutexLock lock(sessions_mu_);
    sessions_.emplace(session.get(), session);
  }
  session->Start(reject);
  DoAccept();
}

void Server::Impl::WritingStarted(Session* s, std::weak_ptr<Session> weak, uint64_t bytes) {
  MutexLock lock(writing_mu_);
  writing_[s] = Writing{std::move(weak), bytes};
}

void Server::Impl::WritingEnded(Session* s) {
  MutexLock lock(writing_mu_);
  writing_.erase(s);
}

size_t Server::Impl::CutStalledReplies(uint64_t queued) {
  const int64_t now = NowNanos();
  const int64_t stall = StallNanos(options_);
  std::vector<std::pair<uint64_t, std::weak_ptr<Session>>> stalled;
  {
    MutexLock lock(writing_mu_);
    for (const auto& [session, writing] : writing_) {
      if (now - session->ProgressNanos() >= stall) {
        stalled.emplace_back(writing.bytes, writing.session);
      }
    }
  }
  // Locked (and so perhaps destroyed) outside writing_mu_, which ~Session takes.
  std::sort(stalled.begin(), stalled.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  const uint64_t cap = options_.limits.max_queued_bytes;
  uint64_t freed = 0;
  size_t cut = 0;
  for (auto& [bytes, weak] : stalled) {
    if (queued < cap + freed) break;  // what is left would be under the cap
    if (auto session = weak.lock()) {
      session->CutIfStalled();
      freed += bytes;
      ++cut;
    }
  }
  return cut;
}

void Server::Impl::SessionGone(Session* s) {
  {
    MutexLock lock(sessions_mu_);
    sessions_.erase(s);
  }
  live_.fetch_sub(1, std::memory_order_relaxed);
  metrics_.ConnectionClosed();
}

void Server::Impl::Shutdown() {
  if (stopping_.exchange(true)) return;
  net::post(*iocs_[0], [this] { BeginDrain(); });
}

void Server::Impl::BeginDrain() {
  beast::error_code ec;
  acceptor_.close(ec);
  drain_timer_.cancel();
  drain_deadline_ = Clock::now() + options_.shutdown_timeout;
  std::vector<std::shared_ptr<Session>> live;
  {
    MutexLock lock(sessions_mu_);
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->Stop();
  live.clear();
  PollDrain();
}

void Server::Impl::PollDrain() {
  if (live_.load() == 0) {
    // Nothing is left: with the acceptor closed, the signals cancelled and the guards gone,
    // every io_context runs out of work and its thread returns.
    beast::error_code ec;
    signals_.cancel(ec);
    guards_.clear();
    return;
  }
  if (Clock::now() >= drain_deadline_) {
    Log("shutdown timeout: cutting " + std::to_string(live_.load()) + " connection(s)");
    forced_ = true;
    StopAll();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(10));
  drain_timer_.async_wait([this](beast::error_code) { PollDrain(); });
}

int Server::Impl::Wait() {
  MutexLock lock(wait_mu_);
  if (!waited_) {
    for (std::thread& t : threads_) t.join();
    pool_.join();
    waited_ = true;
  }
  return forced_ ? 1 : 0;
}

Result<std::unique_ptr<Server>> Server::Start(FeatureStore* store, const ServerOptions& options) {
  if (options.max_body_bytes == 0) return InvalidArgument("--max-body must be positive");
  if (options.max_connections <= 0) return InvalidArgument("--max-connections must be positive");
  if (options.limits.max_entities == 0 || options.limits.max_values == 0 ||
      options.limits.max_reply_bytes == 0 || options.limits.max_queued_bytes == 0) {
    return InvalidArgument(
        "--max-entities, --max-values, --max-reply-bytes and --max-queued-bytes must be positive");
  }
  // At least a millisecond (0 would cut replies that are moving); at most a day (beyond it, the
  // request timeout ends every reply first, and nanoseconds stay far from overflowing).
  if (options.limits.stall_timeout < std::chrono::milliseconds(1) ||
      options.limits.stall_timeout > std::chrono::hours(24)) {
    return InvalidArgument("--stall-timeout must lie between 0.001 and 86400 seconds, not " +
                           std::to_string(options.limits.stall_timeout.count() / 1000.0));
  }
  LARDER_RETURN_IF_ERROR(ValidateAccess(options.host, options.access));
  const std::string& path = store->config().online_store.path;
  auto reader = OnlineReader::AttachTo(store->config());
  if (!reader.ok()) {
    return reader.status().WithContext("cannot attach to the online store " + path +
                                       " (run `larder apply` first?)");
  }
  auto registry = (*reader)->Registry();
  if (!registry.ok()) return registry.status();
  std::vector<std::string> views;
  for (const FeatureViewDef& v : registry->views) views.push_back(v.name);
  auto impl = std::make_unique<Impl>(store, std::move(reader).value(), options, std::move(views));
  LARDER_RETURN_IF_ERROR(impl->Listen());
  impl->Run();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
uint16_t Server::port() const { return impl_->port(); }
std::string Server::url() const { return impl_->url(); }
const std::vector<std::string>& Server::view_names() const { return impl_->views(); }
void Server::Shutdown() { impl_->Shutdown(); }
int Server::Wait() { return impl_->Wait(); }

}  // namespace larder::server
