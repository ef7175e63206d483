// Reader slots and epochs (docs/design.md, "Reclamation").
//
// Reader side: each thread that reads a store claims one ReaderSlot in PATH.readers, once, and
// keeps it until the thread exits or the store is closed. Around each lookup batch it runs
//     slot.epoch = global_epoch   (relaxed store)
//     atomic_thread_fence(seq_cst)
//     ... probe and read rows ...
//     slot.epoch = 0              (release store)
// Writer side: after unlinking rows it runs atomic_thread_fence(seq_cst) and scans the slots.
// The two fences guarantee that either the scan sees the reader's epoch, or the reader's probes
// see the unlink; so a block retired at epoch e is safe to free once every slot reads 0 or > e.
// Thread-safety: ReaderSession is per-thread; ScanReaders is writer-only.
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

// The slots one attached reader (one mapping of PATH.readers) has claimed for its threads.
class ReaderSlotPool : public std::enable_shared_from_this<ReaderSlotPool> {
 public:
  explicit ReaderSlotPool(std::shared_ptr<ReaderTableMapping> table);
  ~ReaderSlotPool();  // releases every slot still claimed

  // The calling thread's slot, claimed on first use. kBusy when all slots are taken.
  Result<layout::ReaderSlot*> SlotForThisThread();

  ReaderTableMapping& table() const { return *table_; }

 private:
  friend struct ThreadSlotCache;
  void Release(layout::ReaderSlot* slot);

  std::shared_ptr<ReaderTableMapping> table_;
  Mutex mu_;
  std::vector<layout::ReaderSlot*> claimed_ LARDER_GUARDED_BY(mu_);
};

// RAII epoch guard for one lookup batch.
class EpochGuard {
 public:
  EpochGuard(layout::ReaderSlot* slot, const std::atomic<uint64_t>& global_epoch) : slot_(slot) {
    slot_->epoch.store(global_epoch.load(std::memory_order_acquire), std::memory_order_relaxed);
    // seq_cst fence: orders the epoch store before this batch's index loads (see file comment).
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  ~EpochGuard() {
    // release: every read of this batch happens before the slot says it is done.
    slot_->epoch.store(0, std::memory_order_release);
  }
  EpochGuard(const EpochGuard&) = delete;
  EpochGuard& operator=(const EpochGuard&) = delete;

 private:
  layout::ReaderSlot* slot_;
};

struct ReaderScan {
  uint64_t min_active_epoch = UINT64_MAX;  // smallest non-zero epoch of a live reader
  uint32_t active = 0;                     // slots inside a lookup
  uint32_t claimed = 0;                    // slots owned by a live process
  uint32_t reaped = 0;                     // slots of dead processes released by this scan
};

// Writer-side memory of how long each slot has held one epoch. A reader inside one lookup for
// kExecCheckAfter is checked for having exec()ed (a /proc/PID/maps read: the process no longer
// maps the table where its claim recorded it), then again at most once per kExecCheckAfter.
// Thread-safety: one per store per process, used by its writer under the write lock.
class ReaderWatch {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kExecCheckAfter = std::chrono::milliseconds(200);

  // True when slot `i` has held `epoch` for `owner` for kExecCheckAfter and was not checked
  // within the last kExecCheckAfter (it then counts as checked now).
  bool DueForMapsCheck(uint32_t i, uint64_t owner, uint64_t epoch, Clock::time_point now);

 private:
  struct Held {
    uint64_t owner = 0;
    uint64_t epoch = 0;
    Clock::time_point checked;  // first seen holding this epoch, or last checked
  };
  std::vector<Held> held_;  // by slot index
};

// Scans every slot (writer, after its seq_cst fence). Slots of processes that no longer exist
// (or whose pid was recycled: start time differs, or that exec()ed: see ReaderWatch) are
// released.
ReaderScan ScanReaders(ReaderTableMapping& table, ReaderWatch& watch);

std::vector<ReaderInfo> ListReaders(ReaderTableMapping& table);

}  // namespace larder
