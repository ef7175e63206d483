#include "engine/segment/reader_slots.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "engine/segment/host_clock.h"

namespace larder {

using layout::ReaderSlot;

namespace {

std::atomic<uint64_t> g_fork_generation{0};
std::once_flag g_atfork_once;

// After fork() the child must not use the parent's slots: its thread caches are stale.
void RegisterAtFork() {
  std::call_once(g_atfork_once, [] {
    pthread_atfork(nullptr, nullptr,
                   [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
  });
}

// The owner word of a slot that a reaper is resetting: the top bit | the reaper's pid. Nobody
// claims it (claims CAS from 0) and scans skip it. If the reaper dies in the few stores that
// follow, that one slot stays marked (a bounded leak, and far rarer than the deaths it repairs).
constexpr uint64_t kReapingBit = uint64_t{1} << 63;

bool IsReaping(uint64_t owner) { return (owner & kReapingBit) != 0; }

// The check word of a claim's table_address (layout::ReaderSlot): a slot claimed by an older
// build keeps a previous owner's address and seal, which then fail this. Never 0.
uint64_t ClaimSeal(uint64_t owner, uint64_t start_time, uint64_t tid, uint64_t address) {
  const uint64_t words[] = {owner, start_time, tid, address};
  return XXH3_64bits(words, sizeof words) | 1;
}

// True when the slot's owner (alive by ProcessAlive) has exec()ed since its claim: the claim
// recorded where the process mapped the table, and nothing is mapped there now. exec() ends
// every other thread of the process first, so no lookup of the old program can still run. A
// process whose maps cannot be read, or a claim without a valid seal, is not judged.
bool OwnerLeftTable(const ReaderSlot& s, uint64_t owner) {
  const uint64_t address = s.table_address.load(std::memory_order_relaxed);
  const uint64_t seal = s.table_seal.load(std::memory_order_relaxed);
  if (address == 0 || seal != ClaimSeal(owner, s.start_time.load(std::memory_order_relaxed),
                                        s.tid.load(std::memory_order_relaxed), address)) {
    return false;
  }
  const std::optional<bool> mapped = MapsAddress(static_cast<pid_t>(owner), address);
  return mapped.has_value() && !*mapped;
}

// True when the slot's owner can no longer read the store: it is gone (ProcessAlive) or, when
// `check_maps`, it has exec()ed (OwnerLeftTable).
bool OwnerGone(const ReaderSlot& s, uint64_t owner, bool check_maps) {
  if (!ProcessAlive(owner, s.start_time.load(std::memory_order_relaxed))) return true;
  return check_maps && OwnerLeftTable(s, owner);
}

// Releases the slot of `owner`, a process found dead. Reapers are the writer's scan and any
// reader that finds the table full, so there may be several: only the one whose CAS moves
// `owner` to its reaping mark writes the slot, and nobody else writes a marked slot. (Resetting
// fields before a CAS of owner back to 0 would let a late reaper zero the epoch of the slot's
// next owner in the middle of its lookup.)
bool ReapSlot(ReaderSlot& s, uint64_t owner) {
  uint64_t expected = owner;
  const uint64_t mark = kReapingBit | static_cast<uint64_t>(::getpid());
  // The epoch is cleared by an exchange, ordered with the reader's closing exchange
  // (EpochGuard::End) on the one word: a reader whose exchange comes after it gets 0 back and
  // discards its read; one whose exchange comes first had finished reading, and the exchange
  // below reads its 0 (synchronizes with it), so memory this reaper's writer reuses later was
  // not read by it. Either way a live reader reaped by mistake never keeps a read of reused
  // memory; its later lookups see the lost slot (StillOurs) and claim another.
  if (!s.owner.compare_exchange_strong(expected, mark, std::memory_order_seq_cst)) return false;
  s.epoch.exchange(0, std::memory_order_seq_cst);
  s.start_time.store(0, std::memory_order_relaxed);
  s.tid.store(0, std::memory_order_relaxed);
  s.lookups.store(0, std::memory_order_relaxed);
  s.table_address.store(0, std::memory_order_relaxed);
  s.table_seal.store(0, std::memory_order_relaxed);
  // release: the slot's fields are reset before another thread can claim it.
  s.owner.store(0, std::memory_order_release);
  return true;
}

// Resets and frees a slot this process owns. Only if it still owns it: after fork() the child
// inherits its parent's pool and thread caches, and its exit must not free the parent's slots
// (the parent goes on using them, and a slot shared by two readers protects neither).
void ReleaseOwnSlot(ReaderSlot* slot) {
  if (slot->owner.load(std::memory_order_relaxed) != static_cast<uint64_t>(::getpid())) return;
  slot->epoch.store(0, std::memory_order_relaxed);
  slot->start_time.store(0, std::memory_order_relaxed);
  slot->table_address.store(0, std::memory_order_relaxed);
  slot->table_seal.store(0, std::memory_order_relaxed);
  // release: the slot's fields are reset before another thread can claim it.
  slot->owner.store(0, std::memory_order_release);
}

}  // namespace

// Per-thread cache of claimed slots, one entry per pool this thread has read through.
struct ThreadSlotCache {
  struct Entry {
    std::weak_ptr<ReaderSlotPool> pool;
    const ReaderSlotPool* raw;
    SlotRef ref;
    uint64_t fork_generation;
  };
  std::vector<Entry> entries;
  ~ThreadSlotCache() {
    for (auto& e : entries) {
      if (auto pool = e.pool.lock()) pool->Release(e.ref.slot);
    }
  }
};

namespace {
thread_local ThreadSlotCache t_cache;
}

ReaderSlotPool::ReaderSlotPool(std::shared_ptr<ReaderTableMapping> table)
    : table_(std::move(table)) {
  RegisterAtFork();
}

ReaderSlotPool::~ReaderSlotPool() {
  for (ReaderSlot* s : claimed_) ReleaseOwnSlot(s);
}

void ReaderSlotPool::Release(ReaderSlot* slot) {
  MutexLock lock(mu_);
  for (size_t i = 0; i < claimed_.size(); ++i) {
    if (claimed_[i] == slot) {
      claimed_[i] = claimed_.back();
      claimed_.pop_back();
      ReleaseOwnSlot(slot);
      return;
    }
  }
}

void ReaderSlotPool::ForgetLostSlot(ReaderSlot* slot) {
  std::erase_if(t_cache.entries, [&](const ThreadSlotCache::Entry& e) {
    return e.raw == this && e.ref.slot == slot;
  });
  MutexLock lock(mu_);
  std::erase(claimed_, slot);
}

Result<SlotRef> ReaderSlotPool::SlotForThisThread() {
  uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  for (auto& e : t_cache.entries) {
    if (e.raw == this && e.fork_generation == gen) return e.ref;
  }
  // Forget entries of pools that are gone or of a parent process.
  std::erase_if(t_cache.entries, [&](const ThreadSlotCache::Entry& e) {
    return e.pool.expired() || e.fork_generation != gen || e.raw == this;
  });
  uint64_t pid = static_cast<uint64_t>(::getpid());
  uint64_t tid = static_cast<uint64_t>(::syscall(SYS_gettid));
  uint32_t n = table_->num_slots();
  ReaderSlot* slots = table_->slots();
  // Pass 0 claims a free slot. When every slot is taken, the owners of some may be dead (killed
  // outside a lookup: the writer's scan only reaps slots that hold reclamation back), so
  // release those and try once more.
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t k = 0; k < n; ++k) {
      ReaderSlot& s = slots[(tid + k) % n];
      uint64_t expected = 0;
      // acq_rel: claiming the slot orders our writes to it after the previous owner's release.
      if (s.owner.load(std::memory_order_relaxed) != 0 ||
          !s.owner.compare_exchange_strong(expected, pid, std::memory_order_acq_rel)) {
        continue;
      }
      const uint64_t start_time = ProcessStartTime(static_cast<pid_t>(pid));
      s.start_time.store(start_time, std::memory_order_relaxed);
      s.tid.store(tid, std::memory_order_relaxed);
      s.epoch.store(0, std::memory_order_relaxed);
      s.lookups.store(0, std::memory_order_relaxed);
      // Relaxed: the writer reads these only while the slot holds an epoch, and a torn view
      // fails the seal (the slot is then not judged).
      s.table_address.store(table_->address(), std::memory_order_relaxed);
      s.table_seal.store(ClaimSeal(pid, start_time, tid, table_->address()),
                         std::memory_order_relaxed);
      {
        MutexLock lock(mu_);
        claimed_.push_back(&s);
      }
      const SlotRef ref{&s, pid, tid};
      t_cache.entries.push_back({weak_from_this(), this, ref, gen});
      return ref;
    }
    if (pass == 1) break;
    uint32_t reaped = 0;
    for (uint32_t k = 0; k < n; ++k) {
      ReaderSlot& s = slots[k];
      uint64_t owner = s.owner.load(std::memory_order_acquire);
      if (owner == 0 || IsReaping(owner) || owner == pid) continue;
      if (OwnerGone(s, owner, /*check_maps=*/true) && ReapSlot(s, owner)) ++reaped;
    }
    if (reaped == 0) break;
  }
  return Status(ErrorCode::kBusy, "all " + std::to_string(n) +
                                      " reader slots of this store are in use by live threads");
}

ReaderWatch::Sighting ReaderWatch::Observe(uint32_t i, uint64_t owner, uint64_t epoch,
                                           uint64_t lookups, uint64_t holds,
                                           Clock::time_point now) {
  if (held_.size() <= i) held_.resize(layout::kReaderSlots);
  Held& h = held_[i];
  if (h.owner != owner || h.epoch != epoch || h.lookups != lookups || h.holds != holds) {
    h = Held{owner, epoch, lookups, holds, now, now};
    return {};
  }
  Sighting s;
  s.held = now - h.since;
  if (now - h.checked >= kExecCheckAfter) {
    h.checked = now;
    s.maps_check_due = true;
  }
  return s;
}

namespace {

// Writes a mark so that a writer killed part-way leaves one that says nothing: at_ns = kNoMark
// first; release on the epoch orders it after that, release on at_ns orders it after the epoch.
void WriteMark(layout::FloorMark& mark, uint64_t at_ns, uint64_t epoch) {
  mark.at_ns.store(layout::kNoMark, std::memory_order_relaxed);
  mark.epoch.store(epoch, std::memory_order_release);
  mark.at_ns.store(at_ns, std::memory_order_release);
}

}  // namespace

uint64_t ReaderWatch::Floor(Clock::time_point now, Clock::duration grace, uint64_t global_epoch) {
  using std::chrono::duration_cast;
  using std::chrono::nanoseconds;
  // On the host's clock: the marks are shared with writers in other time namespaces.
  const uint64_t now_ns = HostMonotonicNs(now);
  const uint64_t grace_ns = static_cast<uint64_t>(duration_cast<nanoseconds>(grace).count());
  const uint64_t spacing_ns = grace_ns / 4;
  layout::FloorMarks& m = *marks_;
  // A mark as read, or nullopt when it says nothing or cannot be true. Acquire: pairs with
  // WriteMark's release of at_ns (the marks are also ordered by the writer lock).
  auto read = [&](const layout::FloorMark& mark) -> std::optional<std::pair<uint64_t, uint64_t>> {
    const uint64_t at = mark.at_ns.load(std::memory_order_acquire);
    const uint64_t epoch = mark.epoch.load(std::memory_order_relaxed);
    if (at == layout::kNoMark || at > now_ns || epoch > global_epoch) return std::nullopt;
    return std::make_pair(at, epoch);
  };
  uint64_t floor = 0;
  uint64_t newest_ring_at = 0;
  bool ring_has_mark = false;
  for (const layout::FloorMark& mark : m.ring) {
    const auto seen = read(mark);
    if (!seen) continue;
    if (now_ns - seen->first >= grace_ns) floor = std::max(floor, seen->second);
    if (!ring_has_mark || seen->first > newest_ring_at) newest_ring_at = seen->first;
    ring_has_mark = true;
  }
  const auto latest = read(m.latest);
  if (latest && now_ns - latest->first >= grace_ns) floor = std::max(floor, latest->second);
  // Relaxed: `next` is written only under the writer lock, and any value is a valid index.
  auto push = [&](uint64_t at, uint64_t epoch) {
    const uint64_t next = m.next.load(std::memory_order_relaxed);
    WriteMark(m.ring[next % layout::kFloorMarks], at, epoch);
    m.next.store(next + 1, std::memory_order_relaxed);
    newest_ring_at = at;
    ring_has_mark = true;
  };
  // The previous scan's mark joins the ring once it is a quarter grace newer than the ring's
  // newest; so does this scan's.
  if (latest && (!ring_has_mark || latest->first >= newest_ring_at + spacing_ns)) {
    push(latest->first, latest->second);
  }
  if (!ring_has_mark || now_ns >= newest_ring_at + spacing_ns) push(now_ns, global_epoch);
  WriteMark(m.latest, now_ns, global_epoch);
  return floor;
}

namespace {

constexpr int kWithdrawTries = 16;

enum class Withdrawal { kWithdrawn, kNotHolding, kHolding, kForged };

// Withdraws the hold the scan read as `*epoch` from `s`. seq_cst CAS: ordered with the
// reader's closing exchange (reader_slots.h); if it succeeds, the reader has not ended this
// lookup yet and will find the mark, so its hold no longer counts. If it fails, the value found
// decides: 0 or a withdrawn one hold nothing back; one at or above `floor` is a reader that
// moved on (kHolding, `*epoch` set to it: counting it is only conservative); one below `floor`
// is a hold at least `grace` old too, so it is withdrawn in turn. A slot that keeps showing new
// epochs below the floor is a forged entry racing the scan (a reader shows at most one: its
// next hold takes the floor or later): after kWithdrawTries it is left out (kForged), so no
// writer of the table can make the scan spin or keep memory back.
Withdrawal WithdrawHold(ReaderSlot& s, uint64_t* epoch, uint64_t floor) {
  uint64_t expected = *epoch;
  for (int tries = 0; tries < kWithdrawTries; ++tries) {
    if (s.epoch.compare_exchange_strong(expected, expected | layout::kEpochWithdrawn,
                                        std::memory_order_seq_cst)) {
      return Withdrawal::kWithdrawn;
    }
    if (expected == 0 || (expected & layout::kEpochWithdrawn) != 0) return Withdrawal::kNotHolding;
    if (expected >= floor) {
      *epoch = expected;
      return Withdrawal::kHolding;
    }
  }
  return Withdrawal::kForged;
}

}  // namespace

ReaderScan ScanReaders(ReaderTableMapping& table, ReaderWatch& watch,
                       std::chrono::milliseconds grace, uint64_t global_epoch) {
  ReaderScan scan;
  ReaderSlot* slots = table.slots();
  const ReaderWatch::Clock::time_point now = ReaderWatch::Clock::now();
  const uint64_t floor = watch.Floor(now, grace, global_epoch);
  for (uint32_t i = 0; i < table.num_slots(); ++i) {
    ReaderSlot& s = slots[i];
    uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (owner == 0 || IsReaping(owner)) continue;
    // seq_cst: a reader's next hold, which begins after its closing exchange overwrites what
    // this reads, loads the global epoch after this in the single total order (the floor).
    uint64_t epoch = s.epoch.load(std::memory_order_seq_cst);
    if (epoch == 0 || (epoch & layout::kEpochWithdrawn) != 0) {
      ++scan.claimed;  // outside a lookup, or its hold was withdrawn: holds nothing back
      continue;
    }
    // Only a slot that holds reclamation back is worth the liveness check. If the reap fails,
    // the slot changed hands meanwhile (another reaper, then a new owner): count the epoch read
    // above as active, which is only conservative.
    // The maps check only for a slot that has held this epoch for a while: a lookup takes
    // microseconds, and reading /proc/PID/maps costs more than a batch's other work.
    const ReaderWatch::Sighting seen =
        watch.Observe(i, owner, epoch, s.lookups.load(std::memory_order_relaxed),
                      s.holds.load(std::memory_order_relaxed), now);
    if (OwnerGone(s, owner, seen.maps_check_due) && ReapSlot(s, owner)) {
      ++scan.reaped;
      continue;
    }
    ++scan.claimed;
    // A live reader (or one whose liveness cannot be told) that has held one epoch for the
    // grace period (stopped, stuck or far too slow), or an epoch below the floor.
    std::chrono::milliseconds held =
        std::chrono::duration_cast<std::chrono::milliseconds>(seen.held);
    if (epoch < floor || seen.held >= grace) {
      switch (WithdrawHold(s, &epoch, floor)) {
        case Withdrawal::kWithdrawn:
          ++scan.withdrawn;
          continue;
        case Withdrawal::kNotHolding:
          continue;
        case Withdrawal::kForged:
          ++scan.forged;
          continue;
        case Withdrawal::kHolding:
          held = std::chrono::milliseconds(0);  // the reader moved on: a new hold
          break;
      }
    }
    ++scan.active;
    if (epoch < scan.min_active_epoch) {
      scan.min_active_epoch = epoch;
      scan.oldest_pid = owner;
      scan.oldest_tid = s.tid.load(std::memory_order_relaxed);
      scan.oldest_held = held;
    }
  }
  return scan;
}

std::vector<ReaderInfo> ListReaders(ReaderTableMapping& table) {
  std::vector<ReaderInfo> out;
  ReaderSlot* slots = table.slots();
  for (uint32_t i = 0; i < table.num_slots(); ++i) {
    ReaderSlot& s = slots[i];
    uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (owner == 0 || IsReaping(owner)) continue;
    ReaderInfo r;
    r.slot = i;
    r.pid = owner;
    r.tid = s.tid.load(std::memory_order_relaxed);
    const uint64_t epoch = s.epoch.load(std::memory_order_relaxed);
    r.epoch = epoch & ~layout::kEpochWithdrawn;
    r.withdrawn = (epoch & layout::kEpochWithdrawn) != 0;
    r.lookups = s.lookups.load(std::memory_order_relaxed);
    r.alive = !OwnerGone(s, owner, /*check_maps=*/true);
    out.push_back(r);
  }
  return out;
}

}  // namespace larder
