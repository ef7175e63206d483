// Records, in program order, every store this process makes to the mappings of one file: the
// crash-prefix tests (crash_prefix_test.cc) replay each prefix of a write batch's stores onto a
// copy of the segment as it was before the batch, which is what a writer killed after that
// store leaves behind.
//
// How: the file's mappings are made read-only. A store faults (SIGSEGV); the handler saves the
// faulting page, makes it writable and sets the trap flag, so the storing instruction runs once
// and traps (SIGTRAP); that handler diffs the page against the copy, logs the changed bytes
// (offset in the file, new bytes) and protects the page again. The log is exact at instruction
// granularity (an instruction that writes two pages makes one record per page), whatever code
// stores (plain, atomic, memcpy). A store that leaves a byte unchanged logs nothing, as
// replaying it would change nothing. One approximation: each iteration of a rep-string
// instruction (memcpy and memset of a few KiB and more) traps, and Stop() merges the
// iterations of one such instruction that extend each other into one record, so a kill is
// replayed before or after a large copy, not inside it (a 4 KiB row would otherwise be 4,000
// prefixes).
//
// x86-64 Linux only; one recorder at a time, on a thread the test runs the batch on. Not under
// TSan (it runs handlers of synchronous signals in its own frames). Header-only: tests/
// CMakeLists.txt compiles *_test.cc and test_util.cc only.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace larder::testing {

struct RecordedStore {
  uint64_t offset = 0;  // in the file
  std::string bytes;    // what the instruction left there
  uint64_t rip = 0;     // the storing instruction
};

class StoreRecorder {
 public:
  StoreRecorder() = default;
  StoreRecorder(const StoreRecorder&) = delete;
  StoreRecorder& operator=(const StoreRecorder&) = delete;
  ~StoreRecorder() { Stop(); }

  // Starts recording the stores to every mapping of `path` this process has now. "" or what
  // went wrong.
  std::string Start(const std::string& path) {
    if (State().active) return "a recorder is already active";
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "cannot stat " + path;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    RecorderState& s = State();
    s = RecorderState{};
    while (std::getline(maps, line)) {
      std::istringstream in(line);
      std::string range, perms, off, dev;
      uint64_t inode = 0;
      in >> range >> perms >> off >> dev >> inode;
      if (inode != st.st_ino || perms.size() < 4 || perms[1] != 'w' || perms[3] != 's') continue;
      if (s.regions == kMaxRegions) return "too many mappings of " + path;
      Region& r = s.region[s.regions++];
      r.begin = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
      r.end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
      r.file_offset = std::stoull(off, nullptr, 16);
    }
    if (s.regions == 0) return "no writable shared mapping of " + path;
    s.log_capacity = kLogBytes;
    void* log = ::mmap(nullptr, kLogBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (log == MAP_FAILED) return "cannot map the log";
    s.log = static_cast<uint8_t*>(log);
    struct sigaction sa {};
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sa.sa_sigaction = &OnFault;
    ::sigaction(SIGSEGV, &sa, &s.old_segv);
    sa.sa_sigaction = &OnTrap;
    ::sigaction(SIGTRAP, &sa, &s.old_trap);
    s.active = true;
    for (size_t i = 0; i < s.regions; ++i) {
      ::mprotect(reinterpret_cast<void*>(s.region[i].begin), s.region[i].end - s.region[i].begin,
                 PROT_READ);
    }
    return "";
  }

  // Stops recording and returns the stores in program order ("" in *error, or why the log is
  // incomplete).
  std::vector<RecordedStore> Stop(std::string* error = nullptr) {
    RecorderState& s = State();
    std::vector<RecordedStore> out;
    if (!s.active) return out;
    for (size_t i = 0; i < s.regions; ++i) {
      ::mprotect(reinterpret_cast<void*>(s.region[i].begin), s.region[i].end - s.region[i].begin,
                 PROT_READ | PROT_WRITE);
    }
    ::sigaction(SIGSEGV, &s.old_segv, nullptr);
    ::sigaction(SIGTRAP, &s.old_trap, nullptr);
    s.active = false;
    for (size_t at = 0; at < s.log_used;) {
      RecordedStore r;
      uint32_t len = 0;
      std::memcpy(&r.offset, s.log + at, 8);
      std::memcpy(&r.rip, s.log + at + 8, 8);
      std::memcpy(&len, s.log + at + 16, 4);
      r.bytes.assign(reinterpret_cast<const char*>(s.log + at + 20), len);
      at += 20 + len;
      // One rep-string instruction's next iteration (see the top of this file).
      if (!out.empty() && out.back().rip == r.rip &&
          out.back().offset + out.back().bytes.size() == r.offset) {
        out.back().bytes += r.bytes;
        continue;
      }
      out.push_back(std::move(r));
    }
    if (error != nullptr) *error = s.overflow ? "the store log overflowed" : "";
    ::munmap(s.log, s.log_capacity);
    s.log = nullptr;
    return out;
  }

 private:
  static constexpr size_t kMaxRegions = 8;
  static constexpr size_t kMaxPending = 4;  // pages one instruction may write
  static constexpr uint64_t kPage = 4096;
  static constexpr size_t kLogBytes = size_t{1} << 30;  // reserved, not committed
  static constexpr uint64_t kTrapFlag = 0x100;          // EFLAGS.TF

  struct Region {
    uint64_t begin = 0, end = 0, file_offset = 0;
  };
  struct RecorderState {
    bool active = false;
    Region region[kMaxRegions];
    size_t regions = 0;
    uint64_t pending[kMaxPending] = {};
    size_t pending_count = 0;
    uint64_t rip = 0;  // of the instruction being stepped
    alignas(64) uint8_t before[kMaxPending][kPage] = {};
    uint8_t* log = nullptr;
    size_t log_used = 0, log_capacity = 0;
    bool overflow = false;
    struct sigaction old_segv {
    }, old_trap{};
  };
  static RecorderState& State() {
    static RecorderState s;
    return s;
  }

  static const Region* RegionOf(uint64_t addr) {
    RecorderState& s = State();
    for (size_t i = 0; i < s.regions; ++i) {
      if (addr >= s.region[i].begin && addr < s.region[i].end) return &s.region[i];
    }
    return nullptr;
  }

  // A store to a protected page: let this one instruction write it, then trap.
  static void OnFault(int, siginfo_t* info, void* ctx) {
    RecorderState& s = State();
    const auto addr = reinterpret_cast<uint64_t>(info->si_addr);
    if (!s.active || RegionOf(addr) == nullptr || s.pending_count == kMaxPending) {
      // Not a store to the file: the default action (a crash with a core) on the re-fault.
      ::signal(SIGSEGV, SIG_DFL);
      return;
    }
    const uint64_t page = addr & ~(kPage - 1);
    std::memcpy(s.before[s.pending_count], reinterpret_cast<const void*>(page), kPage);
    s.pending[s.pending_count++] = page;
    s.rip = static_cast<uint64_t>(static_cast<ucontext_t*>(ctx)->uc_mcontext.gregs[REG_RIP]);
    ::mprotect(reinterpret_cast<void*>(page), kPage, PROT_READ | PROT_WRITE);
    static_cast<ucontext_t*>(ctx)->uc_mcontext.gregs[REG_EFL] |= kTrapFlag;
  }

  // The instruction ran: log what it changed and protect its pages again.
  static void OnTrap(int, siginfo_t*, void* ctx) {
    RecorderState& s = State();
    static_cast<ucontext_t*>(ctx)->uc_mcontext.gregs[REG_EFL] &= ~kTrapFlag;
    for (size_t i = 0; i < s.pending_count; ++i) {
      const auto* now = reinterpret_cast<const uint8_t*>(s.pending[i]);
      const uint8_t* was = s.before[i];
      size_t first = 0, last = kPage;
      while (first < kPage && now[first] == was[first]) ++first;
      while (last > first && now[last - 1] == was[last - 1]) --last;
      if (first < last) {
        const Region* r = RegionOf(s.pending[i]);
        const uint64_t offset = s.pending[i] - r->begin + r->file_offset + first;
        const auto len = static_cast<uint32_t>(last - first);
        if (s.log_used + 20 + len > s.log_capacity) {
          s.overflow = true;
        } else {
          std::memcpy(s.log + s.log_used, &offset, 8);
          std::memcpy(s.log + s.log_used + 8, &s.rip, 8);
          std::memcpy(s.log + s.log_used + 16, &len, 4);
          std::memcpy(s.log + s.log_used + 20, now + first, len);
          s.log_used += 20 + len;
        }
      }
      ::mprotect(reinterpret_cast<void*>(s.pending[i]), kPage, PROT_READ);
    }
    s.pending_count = 0;
  }
};

}  // namespace larder::testing
