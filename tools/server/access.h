// Who may use the HTTP server (docs/server.md, "Origins and tokens"). Any web page a user opens
// can make the user's browser POST to 127.0.0.1, and browsers always send an Origin header on
// such cross-site requests, while curl and Feast's Python client send none. So a request with
// an Origin header is refused (403) unless --allow-origin names that origin; and with
// --auth-token-file, a request without `Authorization: Bearer <token>` is refused (401), for
// every endpoint or, with --auth writes, for the writing ones only. The token is compared in
// constant time. A server listening beyond loopback refuses to start without a token unless
// --no-auth says so.
// Thread-safety: AccessOptions is a plain value, read-only once the server starts.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "larder/status.h"

namespace larder::server {

struct Reply;  // tools/server/routes.h

struct AccessOptions {
  std::vector<std::string> allowed_origins;  // exact origins ("https://app.example"), or "*"
  std::string token;                         // "" = no token required
  bool token_for_writes_only = false;        // --auth writes: reads need no token
  bool no_auth = false;                      // --no-auth: a non-loopback host without a token
  // DNS rebinding: a web page whose name an attacker re-points at 127.0.0.1 reaches a loopback
  // server as a same-origin page, whose GETs carry no Origin header. A server listening on
  // loopback (Server::Start sets `loopback_server`) therefore answers only requests whose Host
  // header names a loopback address, localhost, or a name in allowed_hosts (--allow-host; "*"
  // allows any); others get 403 HostNotAllowed. A request without a Host header (HTTP/1.0,
  // which no browser sends) is not refused for it.
  std::vector<std::string> allowed_hosts;
  bool loopback_server = false;
};

// The token in `path`: its first line without surrounding blanks. Refuses a missing or empty
// file, and one the group or others may read or write (chmod 600).
Result<std::string> LoadTokenFile(const std::string& path);

// 127.0.0.0/8, ::1, localhost.
bool IsLoopbackHost(const std::string& host);

// Start-up check: a non-loopback host needs a token or --no-auth; an origin must look like
// scheme://host[:port] (or be "*").
Status ValidateAccess(const std::string& host, const AccessOptions& access);

// Equal strings, in time that depends only on the lengths (no early exit on a mismatch).
bool TokensEqual(std::string_view given, std::string_view expected);

// Whether a request with this Host header (name or address, optional :port) may be served
// (see AccessOptions::allowed_hosts). `host` is null when the request has no Host header.
bool HostAllowed(const AccessOptions& access, const std::string_view* host);

// nullopt when the request may go on; else the refusal (403 HostNotAllowed or
// OriginNotAllowed, 401 Unauthorized). `host` and `origin` are null when the request has no
// such header.
std::optional<Reply> CheckAccess(const AccessOptions& access, const std::string_view* host,
                                 const std::string_view* origin, std::string_view authorization,
                                 bool is_write);

// Whether `origin` is one of the allowed origins (for the CORS headers of the reply).
bool OriginAllowed(const AccessOptions& access, std::string_view origin);

}  // namespace larder::server
