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
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/process_liveness.h"
#include "engine/segment_file.h"
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
  std::mutex mu_;
  std::vector<layout::ReaderSlot*> claimed_;  // GUARDED_BY(mu_)
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

// Scans every slot (writer, after its seq_cst fence). Slots of processes that no longer exist
// (or whose pid was recycled: start time differs) are released.
ReaderScan ScanReaders(ReaderTableMapping& table);

std::vector<ReaderInfo> ListReaders(ReaderTableMapping& table);

}  // namespace larder
