// A raw HTTP/1.1 client for the server's tests (tests/server_test.cc, tests/server_limits_test.cc):
// loopback connections, bytes as written, responses as read.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <regex>
#include <string>

#include "tests/store_fixture.h"

namespace larder::testing {

// A loopback connection to `port` with a receive timeout (a deadline for a server that stops
// answering: on a loaded machine an answer may be seconds late); `rcvbuf` > 0 shrinks its
// receive buffer before connecting, so the window stays small (the server's reply then waits
// in its queue). -1 when the connection fails.
inline int ConnectLoopback(uint16_t port, int timeout_s = 30, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Reads until EOF, an error or the receive timeout.
inline std::string ReadToEof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Reads one response whose head says Content-Length (or until EOF).
inline std::string ReadResponse(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const size_t head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::smatch m;
      const std::string head = out.substr(0, head_end);
      if (std::regex_search(head, m, std::regex("Content-Length: (\\d+)"))) {
        if (out.size() >= head_end + 4 + std::stoull(m[1])) return out;
      }
    }
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Sends `bytes` on a fresh connection; returns one response (ReadResponse).
inline std::string Exchange(uint16_t port, const std::string& bytes) {
  int fd = ConnectLoopback(port, 10);
  if (fd < 0) return "connect failed";
  WriteAll(fd, bytes.data(), bytes.size());
  std::string out = ReadResponse(fd);
  ::close(fd);
  return out;
}

// Sends `bytes` on a fresh connection; returns everything the server sends until it closes.
inline std::string ExchangeToEof(uint16_t port, const std::string& bytes) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "connect failed";
  WriteAll(fd, bytes.data(), bytes.size());
  std::string out = ReadToEof(fd);
  ::close(fd);
  return out;
}

// The status code of a raw response, or 0.
inline int StatusOf(const std::string& response) {
  std::smatch m;
  if (!std::regex_search(response, m, std::regex("^HTTP/1\\.[01] (\\d{3})"))) return 0;
  return std::stoi(m[1]);
}

}  // namespace larder::testing
