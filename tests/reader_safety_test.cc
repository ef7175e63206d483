// Readers fail safe (docs/design.md, "Reclamation" and "Withdrawn holds"): a writer that cannot
// tell whether a reader lives leaves its hold alone; a reader stuck inside a lookup for the
// grace period has its hold withdrawn, so writers never fail because of it; and a reader whose
// hold was withdrawn, or whose slot was released under it, finds out before it returns what it
// read, and reads again.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "engine/segment/reader_slots.h"
#include "engine/segment/segment_file.h"
#include "engine/store.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::ForkChild;
using testing::Readable;
using testing::ReadAll;
using testing::Repo;
using testing::StoreOptions;
using testing::TripsRows;
using testing::WaitChild;
using testing::WriteAll;

std::string TripsRepoBody() { return std::string(testing::kDriverPreamble) + testing::kTripsView; }

// This process's view of a store's reader table: a slot claimed the way a lookup claims one,
// so a test can hold an epoch as a reader stuck inside a lookup would.
struct ReaderHandle {
  std::unique_ptr<SegmentMapping> seg;
  std::shared_ptr<ReaderSlotPool> pool;

  static ReaderHandle Attach(const std::string& path) {
    ReaderHandle h;
    auto seg = SegmentMapping::Open(path, SegmentMapping::Mode::kReadOnly);
    EXPECT_TRUE(seg.ok()) << seg.status().ToString();
    if (!seg.ok()) return h;
    h.seg = std::move(seg).value();
    auto table = ReaderTableMapping::Open(path, h.seg->header()->segment_uid, /*writer=*/false,
                                          h.seg->owner());
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    if (!table.ok()) return h;
    h.pool = std::make_shared<ReaderSlotPool>(std::move(table).value());
    return h;
  }
};

// The store's global epoch, as a writer's scan is given it.
uint64_t Global(const ReaderHandle& reader) {
  return reader.seg->header()->global_epoch.load(std::memory_order_acquire);
}

// Attaches a reader to the store at `segment` and claims this thread's slot in its reader table,
// as a lookup claims it. False (with the failure recorded) when a step fails.
bool AttachAndClaim(const std::string& segment, ReaderHandle* reader, SlotRef* ref) {
  *reader = ReaderHandle::Attach(segment);
  if (reader->pool == nullptr) return false;
  auto claimed = reader->pool->SlotForThisThread();
  EXPECT_TRUE(claimed.ok()) << claimed.status().ToString();
  if (!claimed.ok()) return false;
  *ref = *claimed;
  return true;
}

// An applied store of TripsRepoBody() and this thread's slot in its reader table, claimed as a
// lookup claims it (for tests that hold and scan slots by hand).
struct SlotOfAStore {
  Repo repo;
  ReaderHandle reader;
  SlotRef ref;

  // False (with the failure recorded) when a step fails.
  bool SetUp() {
    repo.Write(TripsRepoBody());
    auto fs = repo.OpenApplied();
    EXPECT_TRUE(fs.ok()) << fs.status().ToString();
    if (!fs.ok()) return false;
    if (!AttachAndClaim(repo.segment(), &reader, &ref)) return false;
    return true;
  }
};

// A write batch of a process that cannot read /proc (here: at its descriptor limit, as with
// `ulimit -n`; hidepid=invisible or another user's process answer the same way) must not take
// a reader inside a lookup for dead: uncertain means alive. Today's code released the slot.
TEST(ReaderSafety, WriterThatCannotReadProcKeepsTheReadersHold) {
  Repo repo;
  repo.Write(TripsRepoBody());
  {
    auto fs = repo.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    LARDER_ASSERT_OK((*fs)->Push("stats_push", TripsRows(1, 50, 0, 1000)));
  }
  ReaderHandle reader = ReaderHandle::Attach(repo.segment());
  ASSERT_NE(reader.pool, nullptr);
  auto ref = reader.pool->SlotForThisThread();
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  EpochGuard guard(*ref, reader.seg->header()->global_epoch);  // "inside a lookup"

  const std::string segment = repo.segment();
  testing::Child writer = ForkChild([&](int report_fd) {
    // A grace period longer than the test: only the liveness verdict is under test here.
    WriterOptions options;
    options.reader_grace_ms = 3'600'000;
    auto store = Store::Open(segment, /*writable=*/true, options);
    if (!store.ok()) _exit(10);
    // Take every free descriptor, then give one back: the batch's writer lock takes it, and
    // every /proc read of the slot scan fails with EMFILE.
    struct rlimit lim {};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 256);
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(11);
    int last = -1;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) last = fd;
    if (errno != EMFILE || last < 0) _exit(12);
    ::close(last);
    for (int batch = 0; batch < 3; ++batch) {
      auto pushed =
          (*store)->Push("stats_push", TripsRows(1, 50, 1000 * (batch + 1), 2000 + batch));
      if (!pushed.ok()) {
        const std::string msg = pushed.status().ToString();
        WriteAll(report_fd, msg.data(), msg.size());
        _exit(13);
      }
    }
    _exit(0);
  });
  ASSERT_GT(writer.pid, 0);
  char msg[512] = {};
  ReadAll(writer.report_fd, msg, sizeof msg - 1);
  ::close(writer.report_fd);
  const int status = WaitChild(writer.pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << testing::DescribeWait(status) << " " << msg;
  // The hold lasted: the slot is still ours, its epoch untouched.
  EXPECT_TRUE(guard.End()) << "the writer released the slot of a reader inside a lookup";
  EXPECT_FALSE(guard.SlotLost());
}

// The writer withdraws a hold kept for the grace period; the reader's End() sees it.
TEST(ReaderSafety, WithdrawnHoldIsSeenWhenTheLookupEnds) {
  SlotOfAStore store;
  ASSERT_TRUE(store.SetUp());
  ReaderHandle& reader = store.reader;
  const SlotRef& ref = store.ref;
  ReaderWatch watch;
  {
    EpochGuard guard(ref, reader.seg->header()->global_epoch);
    // A long grace period: the hold counts and is left alone.
    ReaderScan scan =
        ScanReaders(reader.pool->table(), watch, std::chrono::hours(1), Global(reader));
    EXPECT_EQ(scan.active, 1u);
    EXPECT_EQ(scan.withdrawn, 0u);
    EXPECT_TRUE(guard.HeldSoFar());
    // Grace period over: withdrawn; it no longer holds anything back.
    scan = ScanReaders(reader.pool->table(), watch, std::chrono::milliseconds(0), Global(reader));
    EXPECT_EQ(scan.withdrawn, 1u);
    EXPECT_EQ(scan.active, 0u);
    EXPECT_EQ(scan.min_active_epoch, UINT64_MAX);
    EXPECT_FALSE(guard.HeldSoFar());
    EXPECT_FALSE(guard.End());
    EXPECT_FALSE(guard.SlotLost()) << "a withdrawn hold keeps its slot";
  }
  // The next lookup holds again, normally.
  EpochGuard again(ref, reader.seg->header()->global_epoch);
  EXPECT_TRUE(again.End());
}

// Two holds in a row at the same epoch (no write between them: the epoch did not move) with
// no lookup counted (inspect, check, the registry, a lookup refused early) are two holds: the
// second one's time starts when it begins. Before the slot counted its holds, a writer's scan
// that had seen the first hold took the second for the same one, held since then, and
// withdrew it at once (a needless retry, and a false stuck_reader_reports).
TEST(ReaderSafety, ANewHoldAtTheSameEpochIsNotTakenForAnOldOne) {
  SlotOfAStore store;
  ASSERT_TRUE(store.SetUp());
  ReaderHandle& reader = store.reader;
  const SlotRef& ref = store.ref;
  ReaderWatch watch;
  constexpr auto kGrace = std::chrono::milliseconds(1);
  {
    EpochGuard first(ref, reader.seg->header()->global_epoch);
    ReaderScan scan = ScanReaders(reader.pool->table(), watch, kGrace, Global(reader));
    EXPECT_EQ(scan.active, 1u);
    EXPECT_TRUE(first.End());
  }
  EpochGuard second(ref, reader.seg->header()->global_epoch);
  // More than the grace period since the scan saw the first hold (sleep_for waits at least
  // this long; the second hold began after the first scan, so it has held less than that).
  std::this_thread::sleep_for(5 * kGrace);
  ReaderScan scan = ScanReaders(reader.pool->table(), watch, kGrace, Global(reader));
  EXPECT_EQ(scan.withdrawn, 0u) << "the second hold was taken for the first";
  EXPECT_EQ(scan.active, 1u);
  EXPECT_TRUE(second.End());
}

// A store whose global epoch has moved past `pinned` (every row updated `updates` times), this
// thread's slot in its reader table, and the epoch `pinned` before the updates; with `hold`,
// the slot holds it (an EpochGuard, as a reader stuck inside a lookup, or a forger, would).
// For tests that forge reader entries.
struct ForgedEntries {
  Repo repo;
  std::unique_ptr<FeatureStore> writer;
  ReaderHandle reader;
  SlotRef ref;
  std::optional<EpochGuard> held;
  uint64_t pinned = 0;

  // `grace_ms`: the writer's; by default so long that it leaves every hold alone.
  bool SetUp(int updates, bool hold = false, const std::string& grace_ms = "3600000") {
    StoreOptions opts;
    opts.reader_grace_ms = grace_ms;
    repo.Write(TripsRepoBody(), opts);
    auto fs = repo.OpenApplied();
    EXPECT_TRUE(fs.ok()) << fs.status().ToString();
    if (!fs.ok()) return false;
    writer = std::move(fs).value();
    EXPECT_TRUE(writer->Push("stats_push", TripsRows(1, 50, 0, 1000)).ok());
    if (!AttachAndClaim(repo.segment(), &reader, &ref)) return false;
    pinned = Global(reader);
    if (hold) held.emplace(ref, reader.seg->header()->global_epoch);
    for (int i = 0; i < updates; ++i) {
      const int64_t t = 1000 * (i + 1);
      EXPECT_TRUE(writer->Push("stats_push", TripsRows(1, 50, t, t + 1000)).ok());
    }
    EXPECT_GE(Global(reader), pinned + updates) << "the updates did not move the global epoch";
    return Global(reader) >= pinned + updates;
  }
  // Slot `j`, made to look claimed by this thread, as a forger copying its own claim would.
  layout::ReaderSlot& CopyOfOurClaim(uint32_t j) {
    layout::ReaderSlot& from = *ref.slot;
    layout::ReaderSlot& to = reader.pool->table().slots()[j];
    EXPECT_EQ(to.owner.load(), 0u);
    to.start_time.store(from.start_time.load());
    to.tid.store(from.tid.load());
    to.table_address.store(from.table_address.load());
    to.table_seal.store(from.table_seal.load());
    to.epoch.store(0);
    to.owner.store(from.owner.load());
    return to;
  }
};

// Part of issue 17: a group member can write the 0660 reader table. An entry that pins an old
// epoch while its lookup and hold counters keep changing (no reader does that: a reader's next
// lookup takes the global epoch afresh) is not taken for a new hold on each change: its hold
// is withdrawn once it has pinned the epoch for the grace period. Before, every change restarted
// its time, and the forged entry held memory back for ever.
TEST(ReaderSafety, AForgedEntryThatKeepsChangingIsWithdrawnAfterTheGracePeriod) {
  ForgedEntries store;
  ASSERT_TRUE(store.SetUp(/*updates=*/1, /*hold=*/true));
  ReaderHandle& reader = store.reader;
  layout::ReaderSlot& s = *store.ref.slot;
  EpochGuard& forged = *store.held;
  const uint64_t pinned = store.pinned;
  ReaderWatch watch;
  constexpr auto kGrace = std::chrono::milliseconds(20);
  ReaderScan scan;

  // The forger changes its counters between scans, keeping the old epoch.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  uint32_t withdrawn = 0;
  int scans = 0;
  while (withdrawn == 0 && std::chrono::steady_clock::now() < deadline) {
    s.lookups.fetch_add(1);
    s.holds.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    scan = ScanReaders(reader.pool->table(), watch, kGrace, Global(reader));
    withdrawn += scan.withdrawn;
    ++scans;
  }
  EXPECT_EQ(withdrawn, 1u) << "a forged entry held memory back through " << scans << " scans";
  EXPECT_EQ(scan.min_active_epoch, UINT64_MAX);
  // Writing the old epoch back (clearing the withdrawal mark) does not start a new hold either.
  s.epoch.store(pinned);
  s.lookups.fetch_add(1);
  scan = ScanReaders(reader.pool->table(), watch, kGrace, Global(reader));
  EXPECT_EQ(scan.withdrawn, 1u) << "a restored old epoch was taken for a new hold";
  EXPECT_FALSE(forged.End());
  // A real reader's next lookup takes the new epoch: a new hold, not withdrawn.
  EpochGuard next(store.ref, reader.seg->header()->global_epoch);
  scan = ScanReaders(reader.pool->table(), watch, kGrace, Global(reader));
  EXPECT_EQ(scan.withdrawn, 0u);
  EXPECT_EQ(scan.active, 1u);
  EXPECT_TRUE(next.End());
}

// Issue 17, part 1: two forged entries taking turns at an old epoch (one shows it while the
// other shows the current one, then they swap) each look like a new hold at every scan. Before
// the floor, each slot's time restarted whenever it was seen at the current epoch, so the old
// epoch was pinned at every scan, for ever. Now any slot below the floor is withdrawn.
TEST(ReaderSafety, TwoForgedEntriesTakingTurnsAtAnOldEpochAreWithdrawn) {
  ForgedEntries store;
  ASSERT_TRUE(store.SetUp(1));
  const uint32_t other =
      (static_cast<uint32_t>(store.ref.slot - store.reader.pool->table().slots()) + 1) %
      store.reader.pool->table().num_slots();
  layout::ReaderSlot& a = *store.ref.slot;
  layout::ReaderSlot& b = store.CopyOfOurClaim(other);
  ReaderWatch watch;
  constexpr auto kGrace = std::chrono::milliseconds(20);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  uint32_t withdrawn = 0;
  int scans = 0;
  ReaderScan scan;
  while (withdrawn == 0 && std::chrono::steady_clock::now() < deadline) {
    const bool turn = scans % 2 == 0;
    a.epoch.store(turn ? store.pinned : Global(store.reader));
    b.epoch.store(turn ? Global(store.reader) : store.pinned);
    scan = ScanReaders(store.reader.pool->table(), watch, kGrace, Global(store.reader));
    withdrawn += scan.withdrawn;
    ++scans;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(withdrawn, 1u) << "two forged entries taking turns held memory back through " << scans
                           << " scans";
  EXPECT_GT(scan.min_active_epoch, store.pinned);
  a.epoch.store(0);
  b.epoch.store(0);
  b.owner.store(0);
}

// Issue 17, part 1: a forged entry that changes its epoch among old values as fast as it can
// makes the scan's withdrawing CAS fail (the value moved between the scan's load and its CAS).
// Before, a failed CAS counted the epoch the scan had read as active, so the old epochs stayed
// pinned at nearly every scan. Now a value found below the floor is withdrawn in turn, and a
// slot that keeps changing below it is left out: no scan counts it.
TEST(ReaderSafety, AForgedEntryRacingTheWithdrawalNeverPinsAnOldEpoch) {
  ForgedEntries store;
  ASSERT_TRUE(store.SetUp(3));
  layout::ReaderSlot& s = *store.ref.slot;
  ReaderWatch watch;
  constexpr auto kGrace = std::chrono::milliseconds(20);
  // The floor: a scan after the updates, the grace period ago.
  ScanReaders(store.reader.pool->table(), watch, kGrace, Global(store.reader));
  std::this_thread::sleep_for(3 * kGrace);
  const uint64_t floor = Global(store.reader);
  std::atomic<bool> started{false};
  std::atomic<bool> stop{false};
  std::thread forger([&] {
    uint64_t k = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      s.epoch.store(floor - 1 - (k++ % (floor - 1)), std::memory_order_relaxed);  // 1 .. floor-1
      if (k == 1000) started.store(true);
    }
  });
  while (!started.load()) std::this_thread::yield();
  int pinned_scans = 0;
  int scans = 0;
  uint32_t withdrawn = 0;
  uint32_t forged = 0;
  // 2000 scans, and at least 200 ms of them (the forger may be descheduled for a while).
  const auto min_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (scans < 2000 || std::chrono::steady_clock::now() < min_end) {
    ReaderScan scan = ScanReaders(store.reader.pool->table(), watch, kGrace, Global(store.reader));
    if (scan.min_active_epoch < floor) ++pinned_scans;
    withdrawn += scan.withdrawn;
    forged += scan.forged;
    ++scans;
  }
  stop.store(true);
  forger.join();
  s.epoch.store(0);
  EXPECT_EQ(pinned_scans, 0) << "of " << scans << " scans (" << withdrawn << " withdrawals, "
                             << forged << " left out as forged)";
  // The forged slot was seen below the floor and dealt with, not merely missed.
  EXPECT_GT(withdrawn + forged, 0u);
}

// The floor's marks live in the segment, shared by every writing process: a writer process that
// has just started (a CLI push, a script) withdraws an old forged hold at its first scan, from
// what earlier writers recorded. Kept per process, each short-lived writer started with no floor
// and the forged epoch was never withdrawn.
TEST(ReaderSafety, ANewWriterProcessUsesTheFloorEarlierWritersRecorded) {
  // The first writer moves the epoch on (and records it); its scans see the hold only briefly.
  ForgedEntries store;
  ASSERT_TRUE(store.SetUp(/*updates=*/1, /*hold=*/true, /*grace_ms=*/"20"));
  Repo& repo = store.repo;
  layout::ReaderSlot& s = *store.ref.slot;
  EpochGuard& forged = *store.held;
  const uint64_t pinned = store.pinned;
  ASSERT_EQ(s.epoch.load(), pinned) << "withdrawn before the grace period";
  store.writer.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // > the grace period
  // A new writer (its own watch, as in a new process), whose hold counters change meanwhile.
  s.lookups.fetch_add(1);
  s.holds.fetch_add(1);
  auto second = repo.Open();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  LARDER_ASSERT_OK((*second)->Push("stats_push", TripsRows(1, 50, 2000, 3000)));
  EXPECT_EQ(s.epoch.load(), pinned | layout::kEpochWithdrawn)
      << "a new writer kept an old forged hold";
  EXPECT_FALSE(forged.End());
}

// A slot released under its reader (a process that took it for dead: the only way is a
// misjudgement, but it must still be safe) is seen as lost when the lookup ends, even if a
// new owner has claimed it and holds the same epoch.
TEST(ReaderSafety, SlotReleasedUnderTheReaderIsSeenAsLost) {
  SlotOfAStore store;
  ASSERT_TRUE(store.SetUp());
  ReaderHandle& reader = store.reader;
  const SlotRef& ref = store.ref;
  layout::ReaderSlot& s = *ref.slot;
  EpochGuard guard(ref, reader.seg->header()->global_epoch);
  const uint64_t epoch = s.epoch.load();
  // A releaser resets the slot, then another process claims it and starts a lookup at the
  // same epoch.
  s.epoch.store(0);
  s.owner.store(0);
  s.owner.store(ref.owner + 1);
  s.epoch.store(epoch);
  EXPECT_FALSE(guard.HeldSoFar());
  EXPECT_FALSE(guard.End());
  EXPECT_TRUE(guard.SlotLost());
  reader.pool->ForgetLostSlot(ref.slot);
  s.epoch.store(0);
  s.owner.store(0);  // the "other process" leaves
  auto fresh = reader.pool->SlotForThisThread();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->owner, ref.owner);
}

// Values a reader checks: trips = version * 1e6 + id, conv_rate = trips / 4. A row read from
// memory that was freed and reused would break one of them (another id, or halves of two
// rows).
Frame VersionRows(int64_t n, int64_t version) {
  return TripsRows(1, n, version * 1'000'000, 1000 + version);
}

// A reader process stopped inside a lookup (SIGSTOP; a debugger or a page-fault storm look the
// same) must not make a small store full: after the grace period the writer withdraws its
// hold and reuses the memory. Resumed, the reader finds its hold withdrawn and reads again,
// never returning a mixed row. Today's code answered StoreFull with the store full of limbo.
TEST(ReaderSafety, StoppedReaderDoesNotFillTheStoreAndReadsAgainWhenResumed) {
  Repo repo;
  StoreOptions opts;
  opts.memory_limit = "2MiB";
  opts.reader_grace_ms = "50";  // the writer below takes it from feature_store.yaml
  repo.Write(TripsRepoBody(), opts);
  constexpr int64_t kRows = 1000;
  {
    auto fs = repo.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    LARDER_ASSERT_OK((*fs)->Push("stats_push", VersionRows(kRows, 1)));
  }
  int stop[2];
  ASSERT_EQ(::pipe(stop), 0);
  const std::string segment = repo.segment();
  // The reader reports one byte once it has read, then at the end: mixed rows seen, and the
  // lookups it read again.
  testing::Child reader = ForkChild([&](int report_fd) {
    ::close(stop[1]);
    auto r = OnlineReader::Attach(segment);
    if (!r.ok()) _exit(20);
    // Every row in each lookup, the request made once: the reader spends most of its time
    // inside lookups, so the parent below soon stops it inside one.
    std::vector<int64_t> ids;
    for (int64_t id = 1; id <= kRows; ++id) ids.push_back(id);
    const OnlineRequest request =
        testing::Features({"driver_stats:trips", "driver_stats:conv_rate"},
                          testing::MakeFrame({{"driver_id", testing::Ints(ids)}}));
    uint64_t mixed = 0;
    bool told = false;
    while (!Readable(stop[0])) {
      auto resp = (*r)->GetOnlineFeatures(request);
      if (!resp.ok()) _exit(21);
      for (int64_t k = 0; k < kRows; ++k) {
        const Value& trips = resp->results[1].values[k];
        const Value& conv = resp->results[2].values[k];
        if (trips.is_null || trips.i64 % 1'000'000 != k + 1 || conv.f64 != trips.i64 / 4.0) {
          ++mixed;
        }
      }
      if (!told) {
        told = WriteAll(report_fd, "r", 1);
      }
    }
    auto info = (*r)->Inspect();
    uint64_t report[2] = {mixed, info.ok() ? info->lookups_retried : UINT64_MAX};
    WriteAll(report_fd, report, sizeof report);
    _exit(0);
  });
  ::close(stop[0]);
  ASSERT_GT(reader.pid, 0);
  char first = 0;
  ASSERT_EQ(ReadAll(reader.report_fd, &first, 1), 1u) << "the reader never read";

  // Stop the reader inside a lookup: stop it, look at its slot, resume and try again until its
  // slot holds an epoch while it is stopped.
  auto writer = repo.Open();
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  bool stopped_inside = false;
  for (int attempt = 0; attempt < 20000 && !stopped_inside; ++attempt) {
    ASSERT_EQ(::kill(reader.pid, SIGSTOP), 0);
    int st = 0;
    ASSERT_EQ(::waitpid(reader.pid, &st, WUNTRACED), reader.pid);
    ASSERT_TRUE(WIFSTOPPED(st));
    auto info = (*writer)->Inspect();
    ASSERT_TRUE(info.ok());
    for (const ReaderInfo& ri : info->readers) {
      if (ri.pid == static_cast<uint64_t>(reader.pid) && ri.epoch != 0) stopped_inside = true;
    }
    if (!stopped_inside) {
      ::kill(reader.pid, SIGCONT);
      // Let it run into its next lookup: without the pause it was stopped again before it
      // made any progress, and 100,000 attempts could pass without one inside a lookup.
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  }
  ASSERT_TRUE(stopped_inside);

  // Push 40 versions of every row through a 2 MiB store (~100 bytes a row: ~4 MiB of rows,
  // each version retiring the last).
  for (int64_t version = 2; version <= 40; ++version) {
    auto pushed = (*writer)->Push("stats_push", VersionRows(kRows, version));
    ASSERT_TRUE(pushed.ok()) << "version " << version << ": " << pushed.status().ToString();
  }
  auto info = (*writer)->Inspect();
  ASSERT_TRUE(info.ok());
  EXPECT_GE(info->stuck_reader_reports, 1u);
  bool withdrawn = false;
  for (const ReaderInfo& ri : info->readers) {
    if (ri.pid == static_cast<uint64_t>(reader.pid)) withdrawn = ri.withdrawn;
  }
  EXPECT_TRUE(withdrawn) << "larder inspect shows the stopped reader's hold as withdrawn";

  ::kill(reader.pid, SIGCONT);
  ::close(stop[1]);
  uint64_t report[2] = {UINT64_MAX, 0};
  ASSERT_EQ(ReadAll(reader.report_fd, report, sizeof report), sizeof report);
  ::close(reader.report_fd);
  const int status = WaitChild(reader.pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::DescribeWait(status);
  EXPECT_EQ(report[0], 0u) << "mixed rows returned";
  EXPECT_GE(report[1], 1u) << "the resumed reader did not read its withdrawn lookup again";
}

// An applied store of TripsRepoBody() with a 100 ms grace period, and this thread inside a
// lookup on it (a hold of its current epoch), as one planned with its current registry is.
struct LookupInsideAStore {
  Repo repo;
  StoreOptions opts;
  std::unique_ptr<FeatureStore> fs;
  ReaderHandle reader;
  SlotRef ref;
  std::optional<EpochGuard> lookup;

  // False (with the failure recorded) when a step fails.
  bool SetUp() {
    opts.reader_grace_ms = "100";
    repo.Write(TripsRepoBody(), opts);
    auto applied = repo.OpenApplied();
    EXPECT_TRUE(applied.ok()) << applied.status().ToString();
    if (!applied.ok()) return false;
    fs = std::move(applied).value();
    if (!fs->Push("stats_push", TripsRows(1, 10, 0, 1000)).ok()) return false;
    if (!AttachAndClaim(repo.segment(), &reader, &ref)) return false;
    lookup.emplace(ref, reader.seg->header()->global_epoch);
    return true;
  }
};

// An apply that removes a feature leaves its slot empty in the rows written after it. A lookup
// planned with the previous registry would read that empty value as the feature's, so apply
// returns (and the next write begins) only once every such lookup has ended or had its hold
// withdrawn (it then reads again, with the new registry). Without the wait, apply returned
// with the hold below intact, and End() said the lookup's reads were protected.
TEST(ReaderSafety, ApplyThatRemovesAFeatureWithdrawsLookupsOfTheOlderRegistry) {
  LookupInsideAStore store;
  ASSERT_TRUE(store.SetUp());
  std::string without_trips = TripsRepoBody();
  const std::string trips_line = "      - {name: trips, dtype: Int64}\n";
  without_trips.erase(without_trips.find(trips_line), trips_line.size());
  store.repo.Write(without_trips, store.opts);
  ApplyReport report;
  auto fs = store.repo.OpenApplied(&report);
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_EQ(report.rows_discarded, 0u);
  EXPECT_FALSE(store.lookup->End())
      << "apply returned while a lookup planned with the older registry still held its epoch";
}

// An apply killed (or giving up) between publishing a registry that removes features and
// seeing its readers through leaves the wait pending in the segment: the next writer, of any
// process, waits before it writes a row of the new layout. Without it, the push below wrote
// with the hold intact.
TEST(ReaderSafety, APendingRegistryWaitIsSeenThroughByTheNextWriter) {
  LookupInsideAStore store;
  ASSERT_TRUE(store.SetUp());
  // The mark, as an apply that published and died leaves it (addressed from the mapping's
  // bytes: it lies in the header page, past SegmentHeader).
  testing::RawSegment raw(store.repo.segment());
  auto* pending =
      reinterpret_cast<layout::PendingRegistryWait*>(raw.block(layout::kPendingRegistryWaitOffset));
  pending->epoch.store(raw.header()->global_epoch.load());
  LARDER_ASSERT_OK(store.fs->Push("stats_push", TripsRows(1, 5, 0, 2000)));
  EXPECT_FALSE(store.lookup->End()) << "a write began while a lookup of the older registry held on";
  EXPECT_EQ(pending->epoch.load(), 0u);
}

// The hold that never ends, by hand: this thread's slot (naming this live process) pins the
// epoch of a lookup planned with the older registry, while a forger changes its lookup and hold
// counters all the time (so no sighting is one long hold) and writes the epoch back whenever a
// writer withdraws it. An apply that removes a feature must still see its wait through: the
// floor (docs/design.md, "Withdrawn holds") withdraws the entry once a writer has moved past
// its epoch for a grace period, well inside the wait's bound of two grace periods and 100 ms.
// So it returns without the warning of a wait it gave up, leaves no wait pending, and the next
// push writes. Without the floor, the per-slot rule alone never withdraws such an entry and
// the apply gave up (a warning; the wait left pending for the next writer).
TEST(ReaderSafety, AForgedHoldThatNeverEndsCannotMakeAnApplyGiveUpItsRegistryWait) {
  LookupInsideAStore store;
  ASSERT_TRUE(store.SetUp());
  layout::ReaderSlot& s = *store.ref.slot;
  const uint64_t pinned = s.epoch.load();
  ASSERT_NE(pinned, 0u);
  std::atomic<bool> stop{false};
  std::thread forger([&] {
    while (!stop.load()) {
      s.lookups.fetch_add(1);
      s.holds.fetch_add(1);
      uint64_t seen = s.epoch.load();
      if (seen != pinned) s.epoch.compare_exchange_strong(seen, pinned);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::string without_trips = TripsRepoBody();
  const std::string trips_line = "      - {name: trips, dtype: Int64}\n";
  without_trips.erase(without_trips.find(trips_line), trips_line.size());
  store.repo.Write(without_trips, store.opts);
  ApplyReport report;
  auto fs = store.repo.OpenApplied(&report);
  testing::RawSegment raw(store.repo.segment());
  const auto* pending =
      reinterpret_cast<layout::PendingRegistryWait*>(raw.block(layout::kPendingRegistryWaitOffset));
  const uint64_t pending_after_apply = pending->epoch.load();
  stop.store(true);
  forger.join();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_TRUE(report.changed);
  for (const std::string& m : report.messages) {
    EXPECT_EQ(m.find("warning"), std::string::npos) << "the apply gave up its wait: " << m;
  }
  EXPECT_EQ(pending_after_apply, 0u) << "the apply left its registry wait pending";
  auto info = (*fs)->Inspect();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_GE(info->stuck_reader_reports, 1u);
  LARDER_EXPECT_OK((*fs)->Push("stats_push", TripsRows(1, 5, 0, 2000)));
  EXPECT_FALSE(store.lookup->End()) << "the forged hold was never withdrawn";
}

}  // namespace
}  // namespace larder
