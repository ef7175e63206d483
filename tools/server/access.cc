#include "tools/server/access.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "engine/quote.h"
#include "tools/server/routes.h"

namespace larder::server {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A Host header's name (or an --allow-host entry) as compared: without :port, [brackets] and a
// trailing dot, lowercased.
std::string HostName(std::string_view host) {
  std::string_view name = Trim(host);
  if (!name.empty() && name.front() == '[') {
    const size_t close = name.find(']');
    name = name.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  } else if (name.find(':') == name.rfind(':')) {
    name = name.substr(0, name.find(':'));  // name:port (a bare IPv6 literal has several ':')
  }
  std::string lower = Lower(name);
  if (!lower.empty() && lower.back() == '.') lower.pop_back();  // "localhost."
  return lower;
}

bool IEqualsPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != prefix[i]) return false;
  }
  return true;
}

}  // namespace

Result<std::string> LoadTokenFile(const std::string& path) {
  // O_NONBLOCK: a FIFO does not block the start (it is refused below). Symlinks are followed
  // (Kubernetes mounts secrets as links); the file reached is what is checked.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return IoError("--auth-token-file '" + path + "': cannot open: " + std::strerror(errno));
  }
  struct stat st;
  std::string text;
  // Only the server's user or root may own it (another user could change the token).
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0 &&
      (st.st_uid == ::geteuid() || st.st_uid == 0)) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0 && text.size() < 65536) {
      text.append(buf, static_cast<size_t>(n));
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return IoError("--auth-token-file '" + path + "': cannot read: " + std::strerror(err));
    }
  } else {
    ::close(fd);
    return InvalidArgument("--auth-token-file '" + path +
                           "' must be a regular file of this user (or root) only its owner may "
                           "read (chmod 600)");
  }
  ::close(fd);
  std::string_view first(text);
  first = first.substr(0, first.find('\n'));
  first = Trim(first);
  if (first.empty()) return InvalidArgument("--auth-token-file '" + path + "' holds no token");
  return std::string(first);
}

bool IsLoopbackAddress(const boost::asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6())
        .is_loopback();
  }
  return address.is_loopback();
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  std::string_view text(host);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  // An address literal only: any other name (say 127.foo.example) may resolve anywhere.
  boost::system::error_code ec;
  const boost::asio::ip::address address = boost::asio::ip::make_address(text, ec);
  return !ec && IsLoopbackAddress(address);
}

Status ValidateAccess(const std::string& host, const AccessOptions& access) {
  for (const std::string& o : access.allowed_origins) {
    if (o == "*") continue;
    const size_t scheme = o.find("://");
    if (scheme == std::string::npos || scheme == 0 || scheme + 3 >= o.size() || o.back() == '/') {
      return InvalidArgument("--allow-origin '" + o +
                             "' is not an origin: give scheme://host[:port] (no path), or *");
    }
  }
  for (const std::string& h : access.allowed_hosts) {
    if (h != "*" && (HostName(h).empty() || h.find_first_of("/@ \t") != std::string::npos)) {
      return InvalidArgument("--allow-host '" + h + "' is not a host name");
    }
  }
  if (!IsLoopbackHost(host) && access.token.empty() && !access.no_auth) {
    return InvalidArgument("--host " + host +
                           " listens beyond loopback: give --auth-token-file (a bearer token "
                           "every client must send), or --no-auth to serve without one");
  }
  return Status::Ok();
}

bool TokensEqual(std::string_view given, std::string_view expected) {
  // Every byte of `expected` is compared whatever differs; only the lengths are revealed.
  volatile unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff = static_cast<unsigned char>(diff | (g ^ static_cast<unsigned char>(expected[i])));
  }
  return diff == 0;
}

bool OriginAllowed(const AccessOptions& access, std::string_view origin) {
  for (const std::string& o : access.allowed_origins) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

bool HostAllowed(const AccessOptions& access, bool via_loopback, const std::string_view* host) {
  if (!via_loopback || host == nullptr) return true;
  const std::string name = HostName(*host);
  if (name.empty()) return false;
  if (IsLoopbackHost(name)) return true;
  for (const std::string& h : access.allowed_hosts) {
    if (h == "*" || HostName(h) == name) return true;
  }
  return false;
}

std::optional<Reply> CheckAccess(const AccessOptions& access, bool via_loopback,
                                 const std::string_view* host, const std::string_view* origin,
                                 std::string_view authorization, bool is_write) {
  // A request with the server's token is not judged on Host (a rebinding page cannot send the
  // token; a proxy on this host that keeps the client's Host header can).
  std::string_view bearer = Trim(authorization);
  const bool has_bearer = IEqualsPrefix(bearer, "bearer ");
  if (has_bearer) bearer = Trim(bearer.substr(7));
  const bool token_ok = !access.token.empty() && has_bearer && TokensEqual(bearer, access.token);
  if (!token_ok && !HostAllowed(access, via_loopback, host)) {
    return HttpErrorReply(403, "HostNotAllowed",
                          "requests for host " + QuoteInput(*host) +
                              " that reach the server through loopback are refused (a web "
                              "page may reach it through a rebound DNS name); allow the name "
                              "with --allow-host");
  }
  if (origin != nullptr && !OriginAllowed(access, *origin)) {
    return HttpErrorReply(403, "OriginNotAllowed",
                          "requests from origin " + QuoteInput(*origin) +
                              " are refused (a web page may not use this server); allow it "
                              "with --allow-origin");
  }
  if (access.token.empty() || (access.token_for_writes_only && !is_write)) return std::nullopt;
  if (!has_bearer) {
    Reply r =
        HttpErrorReply(401, "Unauthorized",
                       "this server needs 'Authorization: Bearer <token>' (--auth-token-file)");
    r.www_authenticate = "Bearer";
    return r;
  }
  if (!token_ok) {
    Reply r = HttpErrorReply(401, "Unauthorized", "the bearer token is not the server's");
    r.www_authenticate = "Bearer error=\"invalid_token\"";
    return r;
  }
  return std::nullopt;
}

}  // namespace larder::server
