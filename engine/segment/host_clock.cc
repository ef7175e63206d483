#include "engine/segment/host_clock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <string>

namespace larder {

namespace {

// Kernel bound on an offset: KTIME_SEC_MAX / 2 seconds (kernel/time/namespace.c).
constexpr int64_t kMaxOffsetSecs = (INT64_MAX / 1'000'000'000) / 2;

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

// "name secs nanos": the offset in nanoseconds, or nullopt.
std::optional<int64_t> ParseOffset(std::string_view secs, std::string_view nanos) {
  const std::optional<int64_t> s = ParseInt(secs);
  const std::optional<int64_t> ns = ParseInt(nanos);
  if (!s || !ns || *ns < 0 || *ns >= 1'000'000'000 || *s > kMaxOffsetSecs || *s < -kMaxOffsetSecs) {
    return std::nullopt;
  }
  return *s * 1'000'000'000 + *ns;
}

// The inode of a /proc/self/ns link's target; 0 with errno set when it cannot be read.
uint64_t NamespaceInode(const char* path) {
  struct stat st;
  if (::stat(path, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

// This process's offsets read now, or nullopt when they cannot be known.
std::optional<TimeNamespaceOffsets> ReadOwnOffsets(uint64_t own_ns) {
  const uint64_t children_ns = NamespaceInode("/proc/self/ns/time_for_children");
  // The file describes the children's namespace: only that of this process when they agree.
  if (children_ns == 0 || children_ns != own_ns) return std::nullopt;
  const int fd = ::open("/proc/self/timens_offsets", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0 || static_cast<size_t>(n) == sizeof buf) return std::nullopt;
  return ParseTimeNamespaceOffsets(std::string_view(buf, static_cast<size_t>(n)));
}

// The offsets of the namespace whose inode is g_ns (0: none cached). Relaxed on the values,
// release/acquire on g_ns: a thread that sees an inode sees the values stored before it; two
// threads reading at once store the same values. A reader may see a newer inode's values with
// an older inode only if the process changed namespaces meanwhile, which setns refuses to a
// process with more than one thread.
std::atomic<uint64_t> g_ns{0};
std::atomic<int64_t> g_monotonic_ns{0};
std::atomic<int64_t> g_boottime_ns{0};

int64_t NanosPerTick() {
  static const int64_t ns_per_tick = [] {
    const long hz = ::sysconf(_SC_CLK_TCK);
    return hz > 0 ? 1'000'000'000 / hz : 10'000'000;
  }();
  return ns_per_tick;
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

std::optional<TimeNamespaceOffsets> OwnTimeNamespaceOffsets() {
  const uint64_t own_ns = NamespaceInode("/proc/self/ns/time");
  if (own_ns == 0) {
    // No time namespaces in this kernel: every process sees the host's clocks.
    if (errno == ENOENT) return TimeNamespaceOffsets{};
    return std::nullopt;
  }
  if (g_ns.load(std::memory_order_acquire) == own_ns) {
    return TimeNamespaceOffsets{g_monotonic_ns.load(std::memory_order_relaxed),
                                g_boottime_ns.load(std::memory_order_relaxed)};
  }
  const std::optional<TimeNamespaceOffsets> read = ReadOwnOffsets(own_ns);
  if (!read) return std::nullopt;
  g_monotonic_ns.store(read->monotonic_ns, std::memory_order_relaxed);
  g_boottime_ns.store(read->boottime_ns, std::memory_order_relaxed);
  g_ns.store(own_ns, std::memory_order_release);
  return read;
}

uint64_t HostMonotonicNs(std::chrono::steady_clock::time_point t) {
  const int64_t seen =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const std::optional<TimeNamespaceOffsets> offsets = OwnTimeNamespaceOffsets();
  const int64_t host = seen - (offsets ? offsets->monotonic_ns : 0);
  return host < 0 ? 0 : static_cast<uint64_t>(host);
}

std::optional<uint64_t> HostStartTicks(uint64_t seen_ticks) {
  const std::optional<TimeNamespaceOffsets> offsets = OwnTimeNamespaceOffsets();
  if (!offsets) return std::nullopt;
  if (offsets->boottime_ns == 0) return seen_ticks;
  const int64_t tick = NanosPerTick();
  struct timespec now;
  if (::clock_gettime(CLOCK_BOOTTIME, &now) != 0) return std::nullopt;
  const int64_t now_ns = int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  return StartTicksOnHost(seen_ticks, offsets->boottime_ns, tick,
                          static_cast<uint64_t>(now_ns / tick));
}

std::optional<uint64_t> StartTicksOnHost(uint64_t seen_ticks, int64_t offset_ns,
                                         int64_t ns_per_tick, uint64_t now_ticks) {
  if (seen_ticks > now_ticks + 1) return std::nullopt;  // the kernel's sum wrapped below zero
  // The kernel rounds (start + offset) down to ticks; subtracting the offset rounded down too
  // gives floor(start / tick) or one more, whatever the offset's sign.
  int64_t offset_ticks = offset_ns / ns_per_tick;
  if (offset_ns % ns_per_tick < 0) --offset_ticks;
  const int64_t host = static_cast<int64_t>(seen_ticks) - offset_ticks;
  return host < 1 ? 1 : static_cast<uint64_t>(host);
}

}  // namespace larder
