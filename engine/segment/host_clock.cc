#include "engine/segment/host_clock.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string>

namespace larder {

namespace {

// "name secs nanos": the offset in nanoseconds, or nullopt.
std::optional<int64_t> ParseOffset(std::string_view secs, std::string_view nanos) {
  auto number = [](std::string_view text) -> std::optional<int64_t> {
    if (text.empty() || text.size() > 19) return std::nullopt;
    const bool negative = text.front() == '-';
    if (negative) text.remove_prefix(1);
    if (text.empty()) return std::nullopt;
    int64_t v = 0;
    for (char c : text) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return negative ? -v : v;
  };
  const std::optional<int64_t> s = number(secs);
  const std::optional<int64_t> ns = number(nanos);
  // The kernel bounds offsets to about ±2^62 ns (KTIME_SEC_MAX / 2 seconds); refuse more.
  constexpr int64_t kMaxSecs = int64_t{1} << 32;
  if (!s || !ns || *ns < 0 || *ns >= 1'000'000'000 || *s > kMaxSecs || *s < -kMaxSecs) {
    return std::nullopt;
  }
  return *s * 1'000'000'000 + *ns;
}

std::string ReadSmallFile(const char* path, bool* exists) {
  *exists = false;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  *exists = true;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

TimeNamespaceOffsets ReadOwnOffsets() {
  bool exists = false;
  const std::string text = ReadSmallFile("/proc/self/timens_offsets", &exists);
  if (!exists) return {};
  return ParseTimeNamespaceOffsets(text).value_or(TimeNamespaceOffsets{});
}

}  // namespace

std::optional<TimeNamespaceOffsets> ParseTimeNamespaceOffsets(std::string_view text) {
  TimeNamespaceOffsets out;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    std::string_view words[4];
    size_t count = 0;
    while (!line.empty()) {
      const size_t start = line.find_first_not_of(" \t");
      if (start == std::string_view::npos) break;
      line.remove_prefix(start);
      const size_t end = std::min(line.find_first_of(" \t"), line.size());
      if (count == 4) return std::nullopt;
      words[count++] = line.substr(0, end);
      line.remove_prefix(end);
    }
    if (count == 0) continue;
    if (count != 3) return std::nullopt;
    const std::optional<int64_t> offset = ParseOffset(words[1], words[2]);
    if (!offset) return std::nullopt;
    if (words[0] == "monotonic" || words[0] == "1") {
      out.monotonic_ns = *offset;
    } else if (words[0] == "boottime" || words[0] == "7") {
      out.boottime_ns = *offset;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// The offsets read, cached until a fork(): a child forked after its parent's unshare(CLONE_NEWTIME)
// runs in the new namespace with its parent's memory, so it must read them again. Relaxed on the
// values, release/acquire on `known`: a thread that sees `known` sees the values stored before
// it; two threads reading at once store the same values.
namespace {
std::atomic<bool> g_known{false};
std::atomic<int64_t> g_monotonic_ns{0};
std::atomic<int64_t> g_boottime_ns{0};

void ForgetOffsets() { g_known.store(false, std::memory_order_relaxed); }
}  // namespace

TimeNamespaceOffsets OwnTimeNamespaceOffsets() {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, ForgetOffsets);
    return true;
  }();
  (void)registered;
  if (g_known.load(std::memory_order_acquire)) {
    return {g_monotonic_ns.load(std::memory_order_relaxed),
            g_boottime_ns.load(std::memory_order_relaxed)};
  }
  const TimeNamespaceOffsets read = ReadOwnOffsets();
  g_monotonic_ns.store(read.monotonic_ns, std::memory_order_relaxed);
  g_boottime_ns.store(read.boottime_ns, std::memory_order_relaxed);
  g_known.store(true, std::memory_order_release);
  return read;
}

uint64_t HostMonotonicNs(std::chrono::steady_clock::time_point t) {
  const int64_t seen =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const int64_t host = seen - OwnTimeNamespaceOffsets().monotonic_ns;
  return host < 0 ? 0 : static_cast<uint64_t>(host);
}

uint64_t HostStartTicks(uint64_t seen_ticks) {
  const int64_t offset_ns = OwnTimeNamespaceOffsets().boottime_ns;
  if (offset_ns == 0 || seen_ticks == 0) return seen_ticks;
  static const int64_t ns_per_tick = [] {
    const long hz = ::sysconf(_SC_CLK_TCK);
    return hz > 0 ? 1'000'000'000 / hz : 10'000'000;
  }();
  const int64_t host = static_cast<int64_t>(seen_ticks) - offset_ns / ns_per_tick;
  return host < 1 ? 1 : static_cast<uint64_t>(host);
}

}  // namespace larder
