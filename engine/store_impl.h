// Private state of engine/store.h's Store, shared by its implementation files.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "engine/arena.h"
#include "engine/catalog.h"
#include "engine/hash_index.h"
#include "engine/reader_slots.h"
#include "engine/segment_file.h"
#include "engine/store.h"

namespace larder {

// An exclusive flock on PATH.lock, held for one write batch; the kernel drops it if the
// holder dies, so a crashed writer never blocks the next one.
class WriterLock {
 public:
  static Result<WriterLock> Acquire(const std::string& segment_path, int timeout_ms,
                                    uint32_t mode = 0640);
  WriterLock(WriterLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  WriterLock& operator=(WriterLock&&) = delete;
  ~WriterLock();

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

struct Store::Impl {
  std::unique_ptr<SegmentMapping> seg;
  std::shared_ptr<ReaderSlotPool> pool;
  WriterOptions options;
  ReaderOptions read_options;
  uint64_t instance_id = 0;  // unique per Impl in this process (keys thread-local caches)

  // The newest catalog this process built, and the generation it is of.
  mutable std::mutex catalog_mu;
  mutable std::shared_ptr<const Catalog> catalog;  // GUARDED_BY(catalog_mu)

  std::mutex write_mu;  // serializes this process's write batches before the flock
  ReaderWatch reader_watch;  // GUARDED_BY(write_mu): the writer's scan of the reader slots

  layout::SegmentHeader* header() const { return seg->header(); }
  uint8_t* base() const { return seg->base(); }
  IndexRef index() const {
    return IndexFromDesc(seg->base(), header()->index_desc.load(std::memory_order_acquire));
  }

  // The catalog of the current registry generation. Readers call it inside an EpochGuard
  // (the registry block may be retired once a newer generation is published).
  Result<std::shared_ptr<const Catalog>> CatalogNow() const;
  static Result<ApplyReport> ApplyUpdate(Store& store, const RepoConfig& config);
  // The calling thread's reader slot.
  Result<layout::ReaderSlot*> Slot() const { return pool->SlotForThisThread(); }
};

// Decodes the registry block at `offset` (bounds-checked against the mapping).
Result<RepoConfig> ReadRegistryBlock(const SegmentMapping& seg, uint64_t offset,
                                     uint32_t* next_view_id);

// One write batch: holds the writer lock, repairs the store if the previous writer died
// mid-batch, marks the store dirty, and on Finish advances the epoch and reclaims memory.
class WriteSession {
 public:
  static Result<std::unique_ptr<WriteSession>> Begin(Store::Impl& store);
  ~WriteSession();  // Finish()es if the caller did not

  Arena& arena() { return arena_; }
  uint64_t epoch() const;
  // The sequence number this batch stamps on every row it writes: the store's visible_seq + 1.
  uint64_t batch_seq() const { return batch_seq_; }
  // Makes every row stamped with batch_seq() part of the snapshot of every request that
  // starts from now on (release store of visible_seq). Called once, after the batch's last
  // index word; before the epoch advances in Finish(), which the reclamation argument needs.
  void MakeBatchVisible();
  // Retires a published block at the current epoch.
  void Retire(uint64_t offset);
  // Runs an epoch advance and a reclamation pass now (to make room before failing).
  void ReclaimNow();
  // Makes room for `extra` more index entries, rebuilding the index at a larger size if needed.
  Status EnsureIndexCapacity(uint64_t extra);
  // Rebuilds the index at 2^log2 buckets, keeping rows for which keep(view_id) is true and
  // retiring the others.
  template <typename Keep>
  Status RebuildIndex(uint32_t log2_buckets, Keep&& keep);
  // Publishes a new registry (encoded FlatBuffer) and retires the old one.
  Status PublishRegistry(const std::string& encoded);
  // Rebuilds the allocator's free and limbo lists from the index, the registry and a walk of
  // the arena's blocks, as after a writer died mid-batch; every block nothing references goes
  // to limbo. For lists found damaged (Arena::damage()). CorruptStore if the blocks do not
  // tile the arena.
  Status RebuildAllocator();
  void Finish();

 private:
  WriteSession(Store::Impl& store, WriterLock lock);
  Status RecoverIfDirty();
  // Undoes what a writer killed inside batch visible_seq + 1 published: each index word that
  // names a row of that batch is pointed back at the row it replaced. Returns whether some
  // word names such a row without one (the first row of its key, or a damaged link): those
  // need an index rebuild to go.
  bool RollBackDeadBatch();

  Store::Impl& store_;
  WriterLock lock_;
  std::unique_lock<std::mutex> process_lock_;
  Arena arena_;
  bool finished_ = false;
  uint64_t batch_seq_ = 0;
};

// Implemented in write_session.cc; the template forwards to it.
// keep(row) decides for every row the old index names.
Status RebuildIndexImpl(Store::Impl& store, WriteSession& ws, uint32_t log2_buckets,
                        const std::function<bool(const layout::BlockHeader&)>& keep);

template <typename Keep>
Status WriteSession::RebuildIndex(uint32_t log2_buckets, Keep&& keep) {
  return RebuildIndexImpl(store_, *this, log2_buckets,
                          [&keep](const layout::BlockHeader& row) { return keep(row.view_id); });
}

}  // namespace larder
