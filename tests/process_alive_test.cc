// Tests of ProcessAlive (engine/segment/reader_slots.h): how the writer's scan and `larder inspect` tell
// a reader process that may still read from one that never will. A dead process's slot is
// released; a live one's must never be (its reads would go on in reclaimed memory).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/segment/host_clock.h"
#include "engine/segment/process_liveness.h"
#include "tests/store_fixture.h"
#include "tests/test_util.h"

namespace larder {
namespace {

using Clock = std::chrono::steady_clock;

// The state letter of process `pid`'s first thread (/proc/PID/stat field 3); 0 once it is gone.
char StateOf(pid_t pid) {
  TaskStat t;
  return ReadTaskStat(ProcFile(pid, "stat"), &t) ? t.state : 0;
}

constexpr uint64_t kPfExiting = 0x4;  // PF_EXITING (include/linux/sched.h)

// How many threads process `pid` has, and how many of them are zombies or inside do_exit()
// ("exiting", zombies included). A sanitizer runtime may run a thread of its own in a forked
// child: a SIGKILL reaches it a moment after the first thread.
struct Threads {
  int all = 0;
  int exiting = 0;
  int zombies = 0;
};

Threads ReadThreads(pid_t pid) {
  Threads t;
  for (const TaskStat& st : ReadThreadStats(pid)) {
    ++t.all;
    t.zombies += st.state == 'Z';
    // Stated here, not through TaskFinished(): the test's own reading of the kernel's flags.
    t.exiting += st.state == 'Z' || (st.flags & kPfExiting) != 0;
  }
  return t;
}

int WaitFor(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

TEST(ProcessAlive, ThisProcessIsAliveAndARecycledPidIsNot) {
  const pid_t self = ::getpid();
  const uint64_t start = ProcessStartTime(self);
  ASSERT_GT(start, 0u);
  EXPECT_TRUE(ProcessAlive(static_cast<uint64_t>(self), start));
  EXPECT_TRUE(ProcessAlive(static_cast<uint64_t>(self), 0));  // start time not yet recorded
  // The same pid with another start time is a newer process: the slot's owner is gone. Within
  // a tick the two count as the same process (the rounding HostStartTicks may leave between
  // processes in different time namespaces): alive, the safe side.
  EXPECT_FALSE(ProcessAlive(static_cast<uint64_t>(self), start + 2));
  EXPECT_FALSE(ProcessAlive(static_cast<uint64_t>(self), start - 2));
  EXPECT_TRUE(ProcessAlive(static_cast<uint64_t>(self), start + 1));
  EXPECT_FALSE(ProcessAlive(0, 0));
}

TEST(ProcessAlive, ZombieAndReapedProcessesAreDead) {
  testing::Child c = testing::ForkChild([](int ready_fd) {
    char one = 1;
    testing::WriteAll(ready_fd, &one, 1);
    ::pause();
  });
  ASSERT_GT(c.pid, 0);
  char one = 0;
  ASSERT_EQ(testing::ReadAll(c.report_fd, &one, 1), 1u);
  ::close(c.report_fd);
  const uint64_t start = ProcessStartTime(c.pid);
  ASSERT_GT(start, 0u);
  EXPECT_TRUE(ProcessAlive(static_cast<uint64_t>(c.pid), start));
  ::kill(c.pid, SIGKILL);
  siginfo_t si;
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(c.pid), &si, WEXITED | WNOWAIT), 0);
  EXPECT_EQ(StateOf(c.pid), 'Z');
  EXPECT_FALSE(ProcessAlive(static_cast<uint64_t>(c.pid), start)) << "a zombie reads nothing";
  WaitFor(c.pid);
  EXPECT_FALSE(ProcessAlive(static_cast<uint64_t>(c.pid), start));
}

// The first thread of a process may end (pthread_exit()) while its other threads read on: /proc
// then shows the process as a zombie, yet it is alive.
TEST(ProcessAlive, ProcessWhoseFirstThreadEndedIsAliveWhileAnotherThreadRuns) {
  int stop[2];
  ASSERT_EQ(::pipe(stop), 0);
  testing::Child c = testing::ForkChild([&](int ready_fd) {
    ::close(stop[1]);
    std::thread reader([fd = stop[0]] {
      char byte;
      while (::read(fd, &byte, 1) > 0) {
      }
      ::_exit(0);  // the stop pipe closed
    });
    reader.detach();
    char one = 1;
    testing::WriteAll(ready_fd, &one, 1);
    ::close(ready_fd);
    // End this thread alone, as pthread_exit() would, but without unwinding through the test
    // framework's frames (which would catch the unwind and abort).
    ::syscall(SYS_exit, 0);
  });
  ASSERT_GT(c.pid, 0);
  ::close(stop[0]);
  char one = 0;
  ASSERT_EQ(testing::ReadAll(c.report_fd, &one, 1), 1u);
  ::close(c.report_fd);
  const uint64_t start = ProcessStartTime(c.pid);
  ASSERT_GT(start, 0u);
  // Wait until the first thread is a zombie.
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (StateOf(c.pid) != 'Z' && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(StateOf(c.pid), 'Z') << "the first thread did not end";
  EXPECT_TRUE(ProcessAlive(static_cast<uint64_t>(c.pid), start))
      << "a process with a running thread was taken for dead: "
      << testing::ReadFile(ProcFile(c.pid, "status"));
  ::close(stop[1]);  // the other thread exits the process
  WaitFor(c.pid);
  EXPECT_FALSE(ProcessAlive(static_cast<uint64_t>(c.pid), start));
}

// A killed process runs no more code once it is inside do_exit(), but it is not a zombie until
// it has torn down its memory: with a large address space that takes a while (seconds on a
// loaded machine), and its slot must not hold reclamation back meanwhile.
//
// The teardown cannot be held open from outside, so the test kills processes until it has
// seen one inside it (the condition it waits for). It misses one only when it was not
// scheduled at all during that victim's whole teardown (~0.1 s), which a loaded 2-core
// machine does now and then: it tries again, up to kMaxVictims (a teardown that never showed
// its exiting state in that many would mean the kernel no longer shows it).
TEST(ProcessAlive, KilledProcessTearingDownItsMemoryIsDead) {
  constexpr size_t kBytes = size_t{256} << 20;  // 65,536 pages of 4 KiB: a teardown of ~0.1 s
  constexpr int kMaxVictims = 40;
  bool saw_exiting = false;
  int victims = 0;
  for (; victims < kMaxVictims && !saw_exiting; ++victims) {
    testing::Child c = testing::ForkChild([&](int ready_fd) {
      void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) ::_exit(2);
      ::madvise(p, kBytes, MADV_NOHUGEPAGE);
      for (size_t off = 0; off < kBytes; off += 4096) static_cast<char*>(p)[off] = 1;
      char one = 1;
      testing::WriteAll(ready_fd, &one, 1);
      ::pause();
    });
    ASSERT_GT(c.pid, 0);
    char one = 0;
    ASSERT_EQ(testing::ReadAll(c.report_fd, &one, 1), 1u) << "the child could not map its memory";
    ::close(c.report_fd);
    const uint64_t start = ProcessStartTime(c.pid);
    ASSERT_GT(start, 0u);
    ASSERT_TRUE(ProcessAlive(static_cast<uint64_t>(c.pid), start));
    ::kill(c.pid, SIGKILL);
    // Once all its threads are in do_exit() a process only goes on to be a zombie: from the
    // first sight of that, it must be seen dead.
    for (;;) {
      const Threads t = ReadThreads(c.pid);
      if (t.all == 0 || t.zombies == t.all) break;  // gone, or a zombie already: too late
      if (t.exiting == t.all) {
        EXPECT_FALSE(ProcessAlive(static_cast<uint64_t>(c.pid), start))
            << "a process whose " << t.all << " threads are inside do_exit() or zombies ("
            << t.zombies << ") was taken for alive";
        // Only a teardown still under way after the call tested the exiting state.
        const Threads after = ReadThreads(c.pid);
        saw_exiting = after.all > 0 && after.zombies < after.all;
        break;
      }
    }
    WaitFor(c.pid);
  }
  EXPECT_TRUE(saw_exiting) << "never caught a killed process before it became a zombie, in "
                           << victims << " tries";
}

TEST(TimeNamespace, OffsetsAreParsedAsTheKernelPrintsAndTakesThem) {
  auto read =
      ParseTimeNamespaceOffsets("monotonic      864000         0\nboottime  -5  250000000\n");
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->monotonic_ns, int64_t{864000} * 1'000'000'000);
  EXPECT_EQ(read->boottime_ns, -5 * int64_t{1'000'000'000} + 250'000'000);
  read = ParseTimeNamespaceOffsets("7 3 0\n1 2 0");  // clock ids, as written to the file
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->monotonic_ns, 2'000'000'000);
  EXPECT_EQ(read->boottime_ns, 3'000'000'000);
  EXPECT_TRUE(ParseTimeNamespaceOffsets("").has_value());
  EXPECT_FALSE(ParseTimeNamespaceOffsets("monotonic 1\n").has_value());
  EXPECT_FALSE(ParseTimeNamespaceOffsets("realtime 1 0\n").has_value());
  EXPECT_FALSE(ParseTimeNamespaceOffsets("monotonic x 0\n").has_value());
  EXPECT_FALSE(ParseTimeNamespaceOffsets("monotonic 1 1000000000\n").has_value());
}

// What a process in a time namespace whose clocks run 10 days ahead reports of itself.
struct ShiftedReport {
  int64_t status = -1;  // 0: read; 1: no time namespace could be made (reason in `why`)
  uint64_t pid = 0;
  uint64_t start_ticks = 0;   // ProcessStartTime(itself)
  uint64_t host_mono_ns = 0;  // HostMonotonicNs(now)
  char why[96] = {};
};

// A process in another time namespace (a container, a CRIU restore) takes the times it shares
// through the segment on the host's clocks: the floor's marks (HostMonotonicNs, used by
// ReaderWatch::Floor) and its start time, which a writer compares to tell whether the reader that
// claimed a slot is alive. Before, the start time it recorded was 10 days "later" than the one
// the writer read, so the writer took the live reader for a recycled pid and released its slot
// (its lookups then retry, up to Busy; with verify_rows off they could decode reclaimed memory);
// and its marks lay 10 days in the future.
TEST(TimeNamespace, AProcessInAShiftedTimeNamespaceReportsHostTimes) {
  const uint64_t before = HostMonotonicNs(Clock::now());
  testing::Child c = testing::ForkChild([](int report_fd) {
    ShiftedReport r;
    auto fail = [&](const char* what) {
      r.status = 1;
      std::snprintf(r.why, sizeof r.why, "%s: %s", what, std::strerror(errno));
      testing::WriteAll(report_fd, &r, sizeof r);
      ::_exit(0);
    };
    if (::unshare(CLONE_NEWTIME) != 0) fail("unshare(CLONE_NEWTIME)");
    const char offsets[] = "1 864000 0\n7 864000 0\n";  // CLOCK_MONOTONIC, CLOCK_BOOTTIME
    const int fd = ::open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, offsets, sizeof offsets - 1) != sizeof offsets - 1) {
      fail("writing /proc/self/timens_offsets");
    }
    ::close(fd);
    const pid_t shifted = ::fork();  // the first process of the new namespace
    if (shifted < 0) fail("fork");
    if (shifted == 0) {
      r.status = 0;
      r.pid = static_cast<uint64_t>(::getpid());
      r.start_ticks = ProcessStartTime(::getpid());
      r.host_mono_ns = HostMonotonicNs(Clock::now());
      testing::WriteAll(report_fd, &r, sizeof r);
      ::pause();  // until the test kills it
      ::_exit(0);
    }
    int status = 0;
    while (::waitpid(shifted, &status, 0) < 0 && errno == EINTR) {
    }
  });
  ASSERT_GT(c.pid, 0);
  ShiftedReport r;
  const bool got = testing::ReadAll(c.report_fd, &r, sizeof r) == sizeof r;
  const uint64_t after = HostMonotonicNs(Clock::now());
  ::close(c.report_fd);
  if (got && r.status == 0) {
    EXPECT_TRUE(ProcessAlive(r.pid, r.start_ticks))
        << "the live process in the shifted namespace was taken for a recycled pid (a reader's "
           "slot released while it reads: its lookups retried, or, with verify_rows off, read "
           "reclaimed memory)";
    const uint64_t seen = ProcessStartTime(static_cast<pid_t>(r.pid));
    EXPECT_LE(seen, r.start_ticks + 1);
    EXPECT_LE(r.start_ticks, seen + 1);
    EXPECT_GE(r.host_mono_ns, before);
    EXPECT_LE(r.host_mono_ns, after) << "its clock reading is not on the host's clock";
    ::kill(static_cast<pid_t>(r.pid), SIGKILL);
  }
  WaitFor(c.pid);
  ASSERT_TRUE(got) << "the child reported nothing";
  if (r.status != 0) GTEST_SKIP() << "cannot make a time namespace here: " << r.why;
}

// Start times read in namespaces whose boottime offsets are not whole ticks, of either sign, put
// on the host's clock agree within the one tick ProcessAlive allows: the kernel rounds (start +
// offset) down, and so must the offset subtracted. Before, an offset was divided toward zero, so
// readings in namespaces of +5.009 s and -5.009 s lay two ticks apart, and a writer in one took a
// live reader in the other for a recycled pid.
TEST(TimeNamespace, StartTimesReadInNamespacesOfEitherSignAgreeWithinATick) {
  constexpr int64_t kTick = 10'000'000;  // 100 Hz
  const int64_t offsets[] = {0,
                             5'009'000'000,
                             -5'009'000'000,
                             5'003'000'000,
                             -5'003'000'000,
                             int64_t{864000} * 1'000'000'000,
                             -7'000'000'000};
  for (int64_t r = 0; r < kTick; r += kTick / 20) {
    const int64_t start_ns = 100'000 * kTick + r;  // on the host's boot clock
    const uint64_t host_ticks = static_cast<uint64_t>(start_ns / kTick);
    std::vector<uint64_t> on_host;
    for (int64_t offset : offsets) {
      const uint64_t seen = static_cast<uint64_t>((start_ns + offset) / kTick);  // the kernel's
      const std::optional<uint64_t> host =
          StartTicksOnHost(seen, offset, kTick, /*now_ticks=*/UINT64_MAX / 2);
      ASSERT_TRUE(host.has_value());
      EXPECT_TRUE(*host == host_ticks || *host == host_ticks + 1)
          << "offset " << offset << " ns, start " << start_ns << " ns: " << *host;
      on_host.push_back(*host);
    }
    for (uint64_t a : on_host) {
      for (uint64_t b : on_host) EXPECT_LE(a > b ? a - b : b - a, 1u) << "start " << start_ns;
    }
  }
  // A start before this namespace's zero, wrapped by the kernel's unsigned sum, cannot be told.
  EXPECT_FALSE(StartTicksOnHost(UINT64_MAX / kTick, -5'000'000'000, kTick, 1000).has_value());
  EXPECT_EQ(StartTicksOnHost(1000, 0, kTick, 2000), 1000u);
}

// A writer in a namespace whose boot clock starts near zero (the usual container setup: an
// offset of minus the host's uptime) reads the start of every process older than the namespace
// as a sum the kernel wrapped below zero. It must not take them for recycled pids: pid 1, alive
// since boot, is judged alive. Before, it was judged dead (and so would every older reader be).
TEST(TimeNamespace, AWriterInANamespaceBornNearZeroJudgesOlderProcessesAlive) {
  const uint64_t init_start = ProcessStartTime(1);
  if (init_start == 0) GTEST_SKIP() << "pid 1's start time cannot be read here";
  struct timespec boot;
  ASSERT_EQ(::clock_gettime(CLOCK_BOOTTIME, &boot), 0);
  if (boot.tv_sec < 3) GTEST_SKIP() << "the host booted too recently for this test";
  testing::Child c = testing::ForkChild([&](int report_fd) {
    char verdict[96] = {};
    if (::unshare(CLONE_NEWTIME) != 0) {
      std::snprintf(verdict, sizeof verdict, "skip: unshare(CLONE_NEWTIME): %s",
                    std::strerror(errno));
      testing::WriteAll(report_fd, verdict, sizeof verdict);
      ::_exit(0);
    }
    char offsets[64];
    const int len = std::snprintf(offsets, sizeof offsets, "7 %lld 0\n",
                                  -static_cast<long long>(boot.tv_sec - 1));
    const int fd = ::open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, offsets, static_cast<size_t>(len)) != len) {
      std::snprintf(verdict, sizeof verdict, "skip: writing /proc/self/timens_offsets: %s",
                    std::strerror(errno));
      testing::WriteAll(report_fd, verdict, sizeof verdict);
      ::_exit(0);
    }
    ::close(fd);
    const pid_t writer = ::fork();  // in the namespace
    if (writer == 0) {
      std::snprintf(verdict, sizeof verdict, "%s", ProcessAlive(1, init_start) ? "alive" : "dead");
      testing::WriteAll(report_fd, verdict, sizeof verdict);
      ::_exit(0);
    }
    int status = 0;
    while (writer > 0 && ::waitpid(writer, &status, 0) < 0 && errno == EINTR) {
    }
  });
  ASSERT_GT(c.pid, 0);
  char verdict[96] = {};
  const bool got = testing::ReadAll(c.report_fd, verdict, sizeof verdict) == sizeof verdict;
  ::close(c.report_fd);
  WaitFor(c.pid);
  ASSERT_TRUE(got) << "the child reported nothing";
  const std::string v(verdict);
  if (v.rfind("skip: ", 0) == 0) GTEST_SKIP() << "cannot make a time namespace here: " << v;
  EXPECT_EQ(v, "alive") << "a writer in a namespace born near zero took pid 1 for a recycled pid";
}

}  // namespace
}  // namespace larder
