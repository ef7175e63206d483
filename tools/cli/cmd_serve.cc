// larder serve [--repo DIR] [--host 127.0.0.1] [--port 6566] [--threads N] ...: Feast's HTTP
// feature server over the repo's online store, until SIGINT or SIGTERM.
#include "tools/cli/cmd_serve.h"

#include <sys/resource.h>

#include <cmath>
#include <iostream>

#include "larder/feature_store.h"
#include "tools/cli/commands.h"
#include "tools/server/server.h"

namespace larder::cli {

namespace {

constexpr std::string_view kCmd = "serve";

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
}

// Each connection is a descriptor: raise the soft limit to the hard one.
void RaiseFileLimit() {
  struct rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

CLI::App* AddServeCommand(CLI::App& app, ServeOptions* o) {
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Serve Feast's HTTP feature server endpoints (get-online-features, push, "
      "write-to-online-store, materialize, health, metrics) until SIGINT or SIGTERM");
  serve->add_option("--repo", o->repo, "feature repo directory, holding feature_store.yaml")
      ->capture_default_str();
  serve->add_option("--host", o->host, "address to listen on (loopback by default)")
      ->capture_default_str();
  serve->add_option("--port", o->port, "TCP port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve->add_option("--threads", o->threads, "network threads (0: one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  serve
      ->add_option("--write-threads", o->write_threads,
                   "threads running pushes, writes and materializations")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  serve
      ->add_option("--max-body", o->max_body,
                   "largest request body (bytes, or with a unit: 16MiB); larger ones get 413")
      ->capture_default_str();
  serve
      ->add_option("--max-connections", o->max_connections,
                   "connections open at once; more are answered 503")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve
      ->add_option("--max-entities", o->max_entities,
                   "entity rows one /get-online-features request may ask for; more get 413")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve
      ->add_option("--max-values", o->max_values,
                   "values (features x entities) one reply may hold; more get 413")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve
      ->add_option("--max-reply-bytes", o->max_reply,
                   "largest reply (bytes, or with a unit), so what one connection may leave "
                   "waiting for its client; larger ones get 413")
      ->capture_default_str();
  serve
      ->add_option("--max-queued-bytes", o->max_queued,
                   "reply bytes all connections together may leave waiting for slow clients; "
                   "past it, reads get 503, and replies unread for --stall-timeout are cut")
      ->capture_default_str();
  serve
      ->add_option("--allow-origin", o->allow_origins,
                   "a web origin (scheme://host[:port], or *) whose browser requests are served; "
                   "requests with any other Origin header get 403 (repeat for several)")
      ->allow_extra_args(false);
  serve
      ->add_option("--allow-host", o->allow_hosts,
                   "a name clients may give in the Host header of requests to a server on "
                   "loopback (loopback addresses and localhost always may; * allows any); "
                   "others get 403, so a web page cannot reach it through a rebound DNS name "
                   "(repeat for several)")
      ->allow_extra_args(false);
  serve->add_option("--auth-token-file", o->auth_token_file,
                    "file (mode 600) whose first line is a bearer token clients must send "
                    "(Authorization: Bearer TOKEN); others get 401");
  serve->add_option("--auth", o->auth, "what the token guards: all endpoints, or writes only")
      ->check(CLI::IsMember({"all", "writes"}))
      ->capture_default_str();
  serve->add_flag("--no-auth", o->no_auth,
                  "serve a non-loopback --host without a token (otherwise refused at start)");
  serve->add_flag("--reuse-port", o->reuse_port,
                  "set SO_REUSEPORT, so that several servers (each with this flag) share a port");
  serve
      ->add_option("--idle-timeout", o->idle_timeout_s,
                   "seconds a keep-alive connection may wait for its next request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve
      ->add_option("--request-timeout", o->request_timeout_s,
                   "seconds to receive a request once it started, and to send its response")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve
      ->add_option("--stall-timeout", o->stall_timeout_s,
                   "seconds a reply may go unread before, once --max-queued-bytes of replies "
                   "wait, its connection is cut to make room (the largest such replies first)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve
      ->add_option("--shutdown-timeout", o->shutdown_timeout_s,
                   "seconds in-flight requests get to finish after SIGINT/SIGTERM")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve
      ->add_option("--busy-poll", o->busy_poll_us,
                   "microseconds an idle network thread keeps polling before it sleeps: lower "
                   "latency for a core's worth of CPU (0: off)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  serve->add_flag("--strict", o->strict,
                  "refuse request fields Feast's request models do not have (422) instead of "
                  "ignoring them as Feast does");
  return serve;
}

int RunServe(const ServeOptions& o) {
  server::ServerOptions options;
  options.host = o.host;
  options.port = static_cast<uint16_t>(o.port);
  options.threads = o.threads;
  options.write_threads = o.write_threads;
  auto max_body = ParseByteSize(o.max_body);
  if (!max_body.ok()) return Fail(kCmd, max_body.status().WithContext("--max-body"));
  options.max_body_bytes = *max_body;
  options.max_connections = o.max_connections;
  options.limits.max_entities = o.max_entities;
  options.limits.max_values = o.max_values;
  auto max_reply = ParseByteSize(o.max_reply);
  if (!max_reply.ok()) return Fail(kCmd, max_reply.status().WithContext("--max-reply-bytes"));
  options.limits.max_reply_bytes = *max_reply;
  auto max_queued = ParseByteSize(o.max_queued);
  if (!max_queued.ok()) return Fail(kCmd, max_queued.status().WithContext("--max-queued-bytes"));
  options.limits.max_queued_bytes = *max_queued;
  options.access.allowed_origins = o.allow_origins;
  options.access.allowed_hosts = o.allow_hosts;
  options.access.token_for_writes_only = o.auth == "writes";
  options.access.no_auth = o.no_auth;
  if (!o.auth_token_file.empty()) {
    auto token = server::LoadTokenFile(o.auth_token_file);
    if (!token.ok()) return Fail(kCmd, token.status());
    options.access.token = std::move(token).value();
  }
  options.reuse_port = o.reuse_port;
  options.idle_timeout = Millis(o.idle_timeout_s);
  options.request_timeout = Millis(o.request_timeout_s);
  options.shutdown_timeout = Millis(o.shutdown_timeout_s);
  options.limits.stall_timeout = Millis(o.stall_timeout_s);
  options.handle_signals = true;
  options.busy_poll = std::chrono::microseconds(o.busy_poll_us);
  options.strict = o.strict;

  RaiseFileLimit();
  auto store = FeatureStore::Open(o.repo);
  if (!store.ok()) return Fail(kCmd, store.status());
  auto server = server::Server::Start(store->get(), options);
  if (!server.ok()) return Fail(kCmd, server.status());

  std::string views;
  for (const std::string& v : (*server)->view_names()) views += (views.empty() ? "" : ",") + v;
  std::cerr << "larder serve: listening on " << (*server)->url() << " (repo " << o.repo
            << ", store " << (*store)->config().online_store.path << ", views "
            << (views.empty() ? "none" : views) << ")" << std::endl;
  const int rc = (*server)->Wait();
  std::cerr << "larder serve: stopped" << std::endl;
  return rc;
}

}  // namespace larder::cli
