// Reader slots and epochs (docs/design.md, "Reclamation" and "Withdrawn holds").
//
// Reader side: each thread that reads a store claims one ReaderSlot in PATH.readers, once, and
// keeps it until the thread exits or the store is closed. Around each lookup batch it runs
//     slot.epoch = e = global_epoch   (release store)
//     atomic_thread_fence(seq_cst)
//     ... probe and read rows ...
//     old = slot.epoch.exchange(0)    (seq_cst)
// and keeps what it read only if old == e and the slot is still its own (owner, tid): else a
// writer withdrew its hold (old == e | kEpochWithdrawn) or judged it dead and released the slot,
// so what it read may have been freed and reused, and it reads again.
// Writer side: after unlinking rows it runs atomic_thread_fence(seq_cst) and scans the slots.
// The two fences guarantee that either the scan sees the reader's epoch, or the reader's probes
// see the unlink; so a block retired at epoch e is safe to free once every slot reads 0, > e,
// or withdrawn. A slot withdrawn by CAS (e -> e | kEpochWithdrawn) is one whose exchange has
// not run yet, so its reader will see the mark.
// Thread-safety: an EpochGuard is per-thread; ScanReaders is writer-only.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/segment/process_liveness.h"
#include "engine/segment/segment_file.h"
#include "larder/mutex.h"
#include "larder/status.h"
#include "larder/store_info.h"

namespace larder {

// A slot as its claiming thread knows it: the slot and the owner and tid it claimed it as.
struct SlotRef {
  layout::ReaderSlot* slot = nullptr;
  uint64_t owner = 0;
  uint64_t tid = 0;
};

// The slots one attached reader (one mapping of PATH.readers) has claimed for its threads.
class ReaderSlotPool : public std::enable_shared_from_this<ReaderSlotPool> {
 public:
  explicit ReaderSlotPool(std::shared_ptr<ReaderTableMapping> table);
  ~ReaderSlotPool();  // releases every slot still claimed

  // The calling thread's slot, claimed on first use. kBusy when all slots are taken.
  Result<SlotRef> SlotForThisThread();
  // Forgets the calling thread's slot without touching it: it is no longer ours (a process
  // that misjudged us dead released it, and it may have a new owner). The next lookup claims
  // another.
  void ForgetLostSlot(layout::ReaderSlot* slot);

  ReaderTableMapping& table() const { return *table_; }

 private:
  friend struct ThreadSlotCache;
  void Release(layout::ReaderSlot* slot);

  std::shared_ptr<ReaderTableMapping> table_;
  Mutex mu_;
  std::vector<layout::ReaderSlot*> claimed_ LARDER_GUARDED_BY(mu_);
};

// RAII epoch guard for one lookup batch. End() says whether the hold lasted the whole batch;
// a caller that returns what it read must call it and read again when it says false.
class EpochGuard {
 public:
  EpochGuard(const SlotRef& ref, const std::atomic<uint64_t>& global_epoch) : ref_(ref) {
    // seq_cst (a plain load on x86, LDAR on ARM): ordered in the single total order with the
    // writer's seq_cst store of the global epoch and with its seq_cst reads of this slot, so a
    // hold that begins after a writer's scan has read this slot's previous value takes that
    // scan's global epoch or a later one (the floor argument, ReaderWatch).
    epoch_ = global_epoch.load(std::memory_order_seq_cst);
    // A new hold (relaxed: only this thread writes it; the release store below publishes it
    // with the epoch, so a writer that reads this epoch reads this count or a later one).
    ref_.slot->holds.store(ref_.slot->holds.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
    // release: a process that reads this value (a late releaser of this slot, see End) also
    // sees our claim of the slot.
    ref_.slot->epoch.store(epoch_, std::memory_order_release);
    // seq_cst fence: orders the epoch store before this batch's index loads (see file comment).
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  ~EpochGuard() {
    if (!ended_) End();
  }
  EpochGuard(const EpochGuard&) = delete;
  EpochGuard& operator=(const EpochGuard&) = delete;

  // Ends the hold. True when it was never withdrawn and the slot is still ours: everything
  // read since the constructor was protected. seq_cst exchange: every read of the batch
  // happens before it (release), and it is ordered with a writer's withdrawing CAS (both are
  // read-modify-writes of one word): if the CAS came first we get the mark back.
  bool End() {
    ended_ = true;
    const uint64_t old = ref_.slot->epoch.exchange(0, std::memory_order_seq_cst);
    held_ = old == epoch_ && StillOurs();
    return held_;
  }
  // While the guard is alive: whether the hold has not been withdrawn so far (seq_cst fence:
  // what was read before the call was protected if this says true). For results cached beyond
  // the batch (a decoded registry).
  // A read-modify-write (a CAS that writes back what it finds), not a load: like End(), it is
  // ordered with a writer's withdrawing CAS on the one word, so a true answer means no
  // withdrawal (and no reuse after one) came before it, on any memory model.
  bool HeldSoFar() const {
    uint64_t expected = epoch_;
    return ref_.slot->epoch.compare_exchange_strong(expected, epoch_, std::memory_order_seq_cst) &&
           StillOurs();
  }
  // After End(): false when the slot was taken from us (its owner or tid changed).
  bool SlotLost() const { return !StillOurs(); }
  layout::ReaderSlot* slot() const { return ref_.slot; }

 private:
  // Acquire, after the seq_cst read-modify-write of the epoch that precedes every call: a
  // reaper's seq_cst CAS of `owner` (ReapSlot) that came before is seen.
  bool StillOurs() const {
    return ref_.slot->owner.load(std::memory_order_acquire) == ref_.owner &&
           ref_.slot->tid.load(std::memory_order_acquire) == ref_.tid;
  }
  SlotRef ref_;
  uint64_t epoch_ = 0;
  bool ended_ = false;
  bool held_ = false;
};

struct ReaderScan {
  uint64_t min_active_epoch = UINT64_MAX;  // smallest non-zero epoch of a live reader
  uint32_t active = 0;                     // slots inside a lookup
  uint32_t claimed = 0;                    // slots owned by a live process
  uint32_t reaped = 0;                     // slots of dead processes released by this scan
  uint32_t withdrawn = 0;                  // holds withdrawn by this scan (grace period over)
  // Slots left out of min_active_epoch without a withdrawal: each made every one of the scan's
  // withdrawing CASes fail with another non-zero epoch below the floor, which no reader does (a
  // reader's next hold takes an epoch at or above the floor, so its slot can fail one such CAS
  // at most): a forged entry racing the scan.
  uint32_t forged = 0;
  // The reader holding min_active_epoch (the oldest hold), for error messages.
  uint64_t oldest_pid = 0;
  uint64_t oldest_tid = 0;
  std::chrono::milliseconds oldest_held{0};
};

// Writer-side memory of how long each slot has held memory back, and of the global epoch at
// recent scans (layout::FloorMarks: the segment header's, shared by every writing process, once
// ShareMarks is called; else this watch's own).
//
// The floor: the highest global epoch a mark at least `grace` old says the writer had stored. A
// reader loads the global epoch when its hold begins (EpochGuard, seq_cst), so a slot showing an
// epoch below the floor began its hold before that scan, at least `grace` ago: it is withdrawn
// whatever its counters say and whichever slot it is in. Only a forged entry (a process writing the
// 0660 table by hand) can show such an epoch with fresh counters, or two slots taking turns at it;
// neither restarts anything. See docs/design.md, "Withdrawn holds".
//
// Above the floor, a hold is the same one while its owner, epoch, lookups counter and holds
// counter are unchanged (a reader inside one lookup); one held for `grace` is withdrawn.
// A reader inside one lookup for kExecCheckAfter is checked for having exec()ed (a
// /proc/PID/maps read: the process no longer maps the table where its claim recorded it), then
// again at most once per kExecCheckAfter.
// Thread-safety: one per store per process, used by its writer under the write lock.
class ReaderWatch {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kExecCheckAfter = std::chrono::milliseconds(200);

  struct Sighting {
    Clock::duration held{};       // since this hold was first seen
    bool maps_check_due = false;  // held kExecCheckAfter, not checked within the last one
  };
  // Records that slot `i` holds `epoch` for `owner` in its hold number `holds`, with `lookups`
  // lookups made so far. A new hold (see the class comment) starts its time now.
  Sighting Observe(uint32_t i, uint64_t owner, uint64_t epoch, uint64_t lookups, uint64_t holds,
                   Clock::time_point now);

  // Records a scan at `now`, made after the writer stored `global_epoch`, and returns the floor
  // (0 when no mark is `grace` old yet). Marks that cannot be true (from the future, or above
  // `global_epoch`: the segment's bytes are untrusted) are ignored. The ring keeps one mark per
  // quarter grace period, which only makes the floor lower (later withdrawals, never earlier).
  uint64_t Floor(Clock::time_point now, Clock::duration grace, uint64_t global_epoch);
  // Uses `marks` (the segment header's) from now on. The caller holds the writer lock whenever
  // it scans (the marks are written under it).
  void ShareMarks(layout::FloorMarks* marks) { marks_ = marks; }

 private:
  struct Held {
    uint64_t owner = 0;
    uint64_t epoch = 0;
    uint64_t lookups = 0;
    uint64_t holds = 0;
    Clock::time_point since;    // first seen
    Clock::time_point checked;  // first seen, or last maps check
  };
  std::vector<Held> held_;  // by slot index
  layout::FloorMarks own_marks_{};
  layout::FloorMarks* marks_ = &own_marks_;
};

// Scans every slot (writer, after its seq_cst fence). Slots of processes that no longer exist
// (or whose pid was recycled: start time differs, or that exec()ed: see ReaderWatch) are
// released; a process whose liveness cannot be known is alive. A live slot that has held one
// epoch for `grace`, or shows an epoch below the floor (ReaderWatch), has its hold withdrawn (it
// then holds nothing back; its reader reads again).
// `global_epoch` is the store's global epoch as the writer last stored it.
ReaderScan ScanReaders(ReaderTableMapping& table, ReaderWatch& watch,
                       std::chrono::milliseconds grace, uint64_t global_epoch);

std::vector<ReaderInfo> ListReaders(ReaderTableMapping& table);

}  // namespace larder
