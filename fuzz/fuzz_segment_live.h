// Target fuzz_segment_live: the base segment (Base() of fuzz/fuzz_targets.h) damaged WHILE two
// readers stay attached to it and keep reading: an in-process reader (the sanitizers see its
// every access) and a forked reader process that loops lookups for as long as the fuzzer runs.
// Neither may crash or hang, whatever the bytes change to under them; statuses and errors are
// fine. fuzz_segment_mutate damages a copy before a reader attaches; this target covers what a
// reader validated earlier (at attach, or earlier in the same lookup) and finds changed.
//
// Kept apart from fuzz/fuzz_targets.h (which it includes) for size; header-only as well.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "fuzz/fuzz_targets.h"

// The sanitizers' hook that libFuzzer sets to write the current input when the process dies;
// weak so that builds without a sanitizer runtime link (it is then null).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace larder::fuzz {

// The live segment: /dev/shm/larder-fuzz-<pid>-live, holding the base's bytes, with a reader
// attached in this process and (once StartChild() ran) a reader process. One per process.
class LiveSegment {
 public:
  LiveSegment() : path_("/dev/shm/larder-fuzz-" + std::to_string(::getpid()) + "-live") {
    const BaseSegment& base = Base();
    if (!WriteFileBytes(path_, base.bytes)) Fail("cannot write " + path_);
    if (!ReaderTableMapping::Create(path_, base.uid, FileModes{}).ok()) {
      Fail("cannot create readers");
    }
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) Fail("cannot open " + path_);
    auto reader = OnlineReader::Attach(path_);
    if (!reader.ok()) Fail("attach to the base segment: " + reader.status().ToString());
    reader_ = std::move(reader).value();
    auto reg = reader_->Registry();
    if (!reg.ok()) Fail("the base segment's registry: " + reg.status().ToString());
    lookups_ = LookupsFor(*reg);
    if (lookups_.empty()) Fail("the base segment has no views");
    void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) Fail("mmap of the progress page");
    passes_ = new (page) std::atomic<uint64_t>(0);
  }
  ~LiveSegment() {
    if (::getpid() != owner_) return;  // a fork()ed child: the files are its parent's
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      int status = 0;
      ::waitpid(child_, &status, 0);
    }
    reader_.reset();
    ::close(fd_);
    (void)Store::Teardown(path_);
    ::munmap(passes_, 4096);
  }
  LiveSegment(const LiveSegment&) = delete;
  LiveSegment& operator=(const LiveSegment&) = delete;

  // Forks the reader process (once) and waits until it has attached and made one pass over the
  // pristine segment (it could not attach to a damaged one).
  void StartChild() {
    if (child_ > 0) return;
    const pid_t parent = ::getpid();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) Fail("fork");
    if (pid == 0) ChildLoop(parent);
    child_ = pid;
    WaitForChildPasses(1);
  }
  bool has_child() const { return child_ > 0; }

  // Writes `n` bytes of `from` at `off` of the live file, through the file (not a mapping of
  // ours): the readers' MAP_SHARED mappings see the bytes change while they read them.
  void Write(uint64_t off, const char* from, size_t n) {
    while (n > 0) {
      const ssize_t w = ::pwrite(fd_, from, n, static_cast<off_t>(off));
      if (w <= 0) Fail("pwrite to " + path_);
      from += w;
      off += static_cast<uint64_t>(w);
      n -= static_cast<size_t>(w);
    }
  }
  void RestoreBase() { Write(0, Base().bytes.data(), Base().bytes.size()); }

  const OnlineReader& reader() const { return *reader_; }

  // Called over the pristine bytes: when the attached reader cannot answer a lookup now, it
  // cached something of an earlier input's damage it could not tell from good data (a damaged
  // registry that still decoded, under the generation the base has): attaches afresh, so that
  // later inputs do not all end in the same error.
  void ReattachIfStale() {
    OnlineResponse resp;
    if (reader_->GetOnlineFeatures(lookups_[0].request, &resp).ok()) return;
    reader_.reset();
    auto reader = OnlineReader::Attach(path_);
    if (!reader.ok()) Fail("attach to the mended segment: " + reader.status().ToString());
    reader_ = std::move(reader).value();
    OnlineResponse again;
    Status s = reader_->GetOnlineFeatures(lookups_[0].request, &again);
    if (!s.ok()) Fail("a fresh reader fails on the mended segment: " + s.ToString());
  }
  const std::vector<ReaderLookup>& lookups() const { return lookups_; }

  // Waits until the reader process has finished `n` more passes; abort()s (so that libFuzzer
  // keeps the input) when it died instead. A reader that hangs never finishes a pass: libFuzzer's
  // -timeout reports it. The wait polls (yield, then short sleeps): no timing of its own.
  void WaitForChildPasses(uint64_t n) {
    const uint64_t target = passes_->load(std::memory_order_acquire) + n;
    for (unsigned polls = 0; passes_->load(std::memory_order_acquire) < target; ++polls) {
      int status = 0;
      const pid_t r = ::waitpid(child_, &status, WNOHANG);
      if (r == child_) {
        if (WIFSIGNALED(status)) {
          std::fprintf(stderr,
                       "fuzz_segment_live: the reader process %d was killed by signal %d (%s)\n",
                       static_cast<int>(child_), WTERMSIG(status), ::strsignal(WTERMSIG(status)));
        } else {
          std::fprintf(stderr, "fuzz_segment_live: the reader process %d exited with status %d\n",
                       static_cast<int>(child_), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        child_ = 0;
        Fail("the reader process of the live segment died");
      }
      if (r < 0) Fail("waitpid on the reader process");
      if (polls < 64) {
        ::sched_yield();
      } else {
        ::usleep(50);
      }
    }
  }

 private:
  // The reader process: loops everything a reader can do without a full check (inspect, the
  // registry, every lookup of the base's views and services), ignoring results, and counts its
  // passes. Every 64 passes it attaches afresh, over whatever the bytes are then (attaching is
  // reading too; a failed attach is a pass without a reader), which also drops a catalog it
  // cached from a damaged registry that still decoded. Dies with its parent. Whatever kills it
  // (a signal, or a sanitizer's report then abort()) reaches the parent as its exit status.
  [[noreturn]] void ChildLoop(pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);  // the parent died before the prctl
    // libFuzzer's handlers would report a crash here as one of the parent's input (writing the
    // input the parent ran when it forked us): the parent reports it instead, with the input
    // that damaged the segment. The sanitizers' own handlers (SIGSEGV, SIGBUS, SIGFPE) stay.
    if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
    for (int sig : {SIGABRT, SIGILL, SIGINT, SIGTERM, SIGALRM, SIGXFSZ, SIGUSR1, SIGUSR2}) {
      ::signal(sig, SIG_DFL);
    }
    std::unique_ptr<OnlineReader> reader;
    for (uint64_t pass = 0;; ++pass) {
      if (::getppid() != parent) ::_exit(0);
      if (pass % 64 == 0) {
        reader.reset();
        auto attached = OnlineReader::Attach(path_);
        if (attached.ok()) {
          reader = std::move(attached).value();
        } else if (pass == 0) {  // the segment is pristine until our first pass is counted
          std::fprintf(stderr, "fuzz_segment_live: the reader process cannot attach: %s\n",
                       attached.status().ToString().c_str());
          ::_exit(3);
        }
      }
      if (reader != nullptr) {
        (void)reader->Inspect();
        (void)reader->Registry();
        RunLookups(*reader, lookups_);
      }
      passes_->fetch_add(1, std::memory_order_release);
    }
  }

  pid_t owner_ = ::getpid();
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<OnlineReader> reader_;
  std::vector<ReaderLookup> lookups_;
  std::atomic<uint64_t>* passes_ = nullptr;  // in a MAP_SHARED page: the child's passes
  pid_t child_ = 0;
};

// Each 5-byte record of the input damages the live segment as fuzz_segment_mutate's do (its
// inputs mean the same here): offset (3 bytes, folded into the used part of the file, or the
// header for ops 4-5), op, value. Ops: 0 set byte, 1 xor byte, 2/3 set a 64-bit word to an
// interesting value, 4/5 the same inside the header; 6 and 7 (truncate, grow) do nothing here.
// The file is never resized: shrinking a mapped file gives SIGBUS to any process that touches
// the pages cut off, which no check of the bytes can prevent. Larder sizes a segment once, when
// it creates it (docs/design.md), and readers are not given write access to it (mode 0640 by
// default): a reader need not survive a resize, only whatever bytes the file holds.
//
// Per input: the pristine base is written back (and the attached reader made to answer on it,
// see ReattachIfStale), then each record is written where it lands, one pwrite each, while the
// reader process reads on; then the in-process reader makes
// every lookup, checks and inspects, and the reader process must finish two more passes (the
// second one entirely over the damaged bytes) without dying. `with_child` false leaves the
// reader process out (tests/fuzz_regression_test.cc replays in-process only, under gtest).
inline int FuzzSegmentLive(const uint8_t* data, size_t size, bool with_child = true) {
  static LiveSegment live;
  if (with_child) live.StartChild();
  const BaseSegment& base = Base();
  live.RestoreBase();
  live.ReattachIfStale();
  std::string bytes = base.bytes;
  for (size_t i = 0; i + 5 <= size; i += 5) {
    const SegmentEdit e = ApplySegmentEdit(base, data + i, &bytes);
    if (e.len > 0) live.Write(e.at, bytes.data() + e.at, e.len);  // ops 6, 7: see above
  }
  const OnlineReader& reader = live.reader();
  (void)reader.Inspect();
  (void)reader.Check();
  (void)reader.Registry();
  RunLookups(reader, live.lookups());
  if (live.has_child()) live.WaitForChildPasses(2);
  return 0;
}

}  // namespace larder::fuzz
