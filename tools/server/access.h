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

#include <boost/asio/ip/address.hpp>
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
  // DNS rebinding: a web page whose name an attacker re-points at 127.0.0.1 reaches the server
  // through loopback as a same-origin page, whose GETs carry no Origin header. A request that
  // came in through a loopback address (whatever --host the server bound: 127.0.0.1, or
  // 0.0.0.0 reached through it) is therefore answered only when its Host header names a
  // loopback address, localhost, or a name in allowed_hosts (--allow-host, compared without
  // port, brackets, trailing dot or case; "*" allows any); others get 403 HostNotAllowed. A
  // request without a Host header (no browser sends one), or with the server's token (which a
  // rebinding page cannot send), is not refused for it.
  std::vector<std::string> allowed_hosts;
};

// The token in `path`: its first line without surrounding blanks. Refuses a missing or empty
// file, and one the group or others may read or write (chmod 600).
Result<std::string> LoadTokenFile(const std::string& path);

// 127.0.0.0/8, ::1, localhost (and ::ffff:127.x.y.z).
bool IsLoopbackHost(const std::string& host);
// The same for an address (a connection's local end).
bool IsLoopbackAddress(const boost::asio::ip::address& address);

// Start-up check: a non-loopback host needs a token or --no-auth; an origin must look like
// scheme://host[:port] (or be "*").
Status ValidateAccess(const std::string& host, const AccessOptions& access);

// Equal strings, in time that depends only on the lengths (no early exit on a mismatch).
bool TokensEqual(std::string_view given, std::string_view expected);

// Whether a request with this Host header (name or address, optional :port), which came in
// through a loopback address or not, may be served (see AccessOptions::allowed_hosts). `host`
// is null when the request has no Host header.
bool HostAllowed(const AccessOptions& access, bool via_loopback, const std::string_view* host);

// nullopt when the request may go on; else the refusal (403 HostNotAllowed or
// OriginNotAllowed, 401 Unauthorized). `host` and `origin` are null when the request has no
// such header.
std::optional<Reply> CheckAccess(const AccessOptions& access, bool via_loopback,
                                 const std::string_view* host, const std::string_view* origin,
                                 std::string_view authorization, bool is_write);

// Whether `origin` is one of the allowed origins (for the CORS headers of the reply).
bool OriginAllowed(const AccessOptions& access, std::string_view origin);

}  // namespace larder::server
