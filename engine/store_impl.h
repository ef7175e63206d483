// Private state of engine/store.h's Store, shared by its implementation files.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <vector>

#include "engine/index/hash_index.h"
#include "engine/rows/catalog.h"
#include "engine/segment/arena.h"
#include "engine/segment/reader_slots.h"
#include "engine/segment/segment_file.h"
#include "engine/store.h"
#include "larder/mutex.h"

namespace larder {

// An exclusive flock on PATH.lock, held for one write batch; the kernel drops it if the
// holder dies, so a crashed writer never blocks the next one. PATH.lock is created with `mode`
// (0600: only the owner writes) and is never opened through a symlink nor when another user
// owns it. A lock taken on a file that was unlinked meanwhile is dropped and taken again.
class WriterLock {
 public:
  static Result<WriterLock> Acquire(const std::string& segment_path, int timeout_ms,
                                    uint32_t mode = 0600);
  // Unlinks PATH.lock while still holding it, then releases it (a failed apply of a store that
  // does not exist leaves no lock file behind).
  void ReleaseAndRemove(const std::string& segment_path);
  WriterLock(WriterLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  WriterLock& operator=(WriterLock&&) = delete;
  ~WriterLock();

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Holds off every writer of a store (this process's and others'), for a read that must see
// it between batches: `larder check` and `larder snapshot` (Store::Impl::StopWriters).
struct WritersStopped {
  std::unique_lock<Mutex> process_lock;  // Store::Impl::write_mu
  WriterLock lock;
};

struct Store::Impl {
  std::unique_ptr<SegmentMapping> seg;
  std::shared_ptr<ReaderSlotPool> pool;
  WriterOptions options;
  ReaderOptions read_options;
  uint64_t instance_id = 0;  // unique per Impl in this process (keys thread-local caches)

  // The newest catalog this process built, and the generation it is of.
  mutable Mutex catalog_mu;
  mutable std::shared_ptr<const Catalog> catalog LARDER_GUARDED_BY(catalog_mu);

  Mutex write_mu;  // serializes this process's write batches before the flock
  // The writer's scan of the reader slots.
  ReaderWatch reader_watch LARDER_GUARDED_BY(write_mu);
  // Lookups of this process read again because their hold was withdrawn (StoreInfo).
  mutable std::atomic<uint64_t> lookups_retried{0};

  layout::SegmentHeader* header() const { return seg->header(); }
  uint8_t* base() const { return seg->base(); }
  // The header of the row block at `offset` (an index word's target), or null when the word
  // cannot point at one: not aligned, or its header and RowVersion not inside the arena. A
  // damaged word may point anywhere; every walk of the index that reads block headers goes
  // through this.
  const layout::BlockHeader* RowBlockAt(uint64_t offset) const {
    if (offset < layout::kHeaderSize || offset % layout::kBlockAlign != 0 || offset > seg->size() ||
        seg->size() - offset < layout::kRowKeyOffset) {
      return nullptr;
    }
    return reinterpret_cast<const layout::BlockHeader*>(base() + offset);
  }
  // The published index table. Its descriptor is validated each time it is loaded, not only at
  // attach: a descriptor damaged since (the segment is shared memory) must not send a reader or
  // the writer outside the mapping. False (LoadIndex) or CorruptStore (index) when the table it
  // names does not lie inside the file.
  bool LoadIndex(HashIndex* out) const {
    // acquire: pairs with the writer's release store after the table was filled.
    const uint64_t desc = header()->index_desc.load(std::memory_order_acquire);
    if (!HashIndex::DescInBounds(desc, seg->size())) return false;
    *out = HashIndex::FromDesc(seg->base(), desc);
    return true;
  }
  Result<HashIndex> index() const {
    HashIndex idx;
    if (!LoadIndex(&idx)) {
      return CorruptStore("the index descriptor names a table outside the segment");
    }
    return idx;
  }

  // The catalog of the current registry generation. Readers call it inside `guard` (the
  // registry block may be retired once a newer generation is published); a catalog decoded
  // while the hold was withdrawn is not kept (its bytes may have been reused).
  Result<std::shared_ptr<const Catalog>> CatalogNow(const EpochGuard& guard) const;
  // The same for a writer inside its WriteSession (nothing retires the registry meanwhile).
  Result<std::shared_ptr<const Catalog>> WriterCatalog() const;
  static Result<ApplyReport> ApplyUpdate(Store& store, const RepoConfig& config, bool force);
  // `guard` null: under the write lock.
  Result<std::shared_ptr<const Catalog>> CatalogNowImpl(const EpochGuard* guard) const;
  // Stops every writer for a read that must see the store between batches (`what` names the
  // caller in errors): refuses a torn-down store, and a process not of the segment's owner
  // (only the owner may hold the writer lock), then takes write_mu and the writer lock,
  // waiting up to options.lock_timeout_ms for a running batch.
  Result<WritersStopped> StopWriters(const std::string& what);
  // The calling thread's reader slot.
  Result<SlotRef> Slot() const { return pool->SlotForThisThread(); }
  // Runs `once(guard)` inside an epoch guard until its hold lasts the whole call (a writer
  // may withdraw the hold of a reader stuck for its grace period; what it read is then
  // discarded), at most kMaxReadAttempts times; then kBusy.
  template <typename Once>
  Status ReadProtected(Once&& once) const;
  static constexpr int kMaxReadAttempts = 8;
};

// A row to write into a new segment (CreateSegment): verified bytes of a known view.
struct NewRow {
  uint32_t view_id = 0;
  uint64_t hash = 0;  // HashEntityKey(view_id, key)
  std::string_view key;
  std::string_view payload;
};

// Creates the segment at registry.online_store.path (of memory_limit bytes) holding
// `registry` (view ids already assigned) and `rows` (distinct keys), each stamped with batch
// `visible_batch`, which becomes the store's visible_seq; the index is sized for
// initial_capacity, or with rows for one size above what max(initial_capacity, rows) needs; the
// reader table is created and the segment published. The
// caller holds the writer lock and found no file at the path (CreateIfAbsent).
Status CreateSegment(const RepoConfig& registry, uint32_t next_view_id,
                     const std::vector<NewRow>& rows, uint64_t visible_batch,
                     const FileModes& modes);

// The modes a new store's files get: the caller's when they are not the defaults, else the
// repo's (online_store.file_mode and readers_mode); the lock file's is always 0600.
FileModes EffectiveModes(const RepoConfig& config, const FileModes& modes);

// A snapshot file's content, checked whole (engine/snapshot.cc): what `larder restore` makes a
// store of.
struct CheckedSnapshot {
  RepoConfig registry;  // the snapshot's (its own online_store section)
  uint32_t next_view_id = 0;
  std::vector<NewRow> rows;  // pointing into the bytes checked
  uint64_t visible_batch = 0;
  int64_t taken_micros = 0;
};
// Checks a snapshot's bytes (read from `file_name`, named in errors) for a repo of `project`:
// its structure and checksum (engine/snapshot/snapshot_file.h), its registry, its project, and
// every row (a view of the registry, a key of the view's join key types, a FlatBuffer that
// verifies with every feature decoding, no entity twice in a view). Pure: touches no file.
Result<CheckedSnapshot> CheckSnapshot(std::string_view bytes, const std::string& file_name,
                                      const std::string& project);

// Takes the writer lock of `path` (waiting up to `lock_timeout_ms`) and, when no file is at
// `path`, runs `create`; if that fails, neither the reader table nor the lock file is left
// behind. `*exists` tells whether a file was there (then nothing was run). The lock is
// released on return.
Status CreateIfAbsent(const std::string& path, const FileModes& modes, int lock_timeout_ms,
                      const std::function<Status()>& create, bool* exists);

// kStoreNotFound for a process attached to a segment that is no longer the store's live one
// (torn down, or replaced at its path). Callers that follow the store attach again.
Status TornDown(const std::string& path);

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
  // The sequence number this batch stamps on every row it writes (the store's visible_seq +
  // 1), for a row about to be published: from then on the batch is made visible before the
  // session's epoch advance, by MakeBatchVisible or else by Finish.
  // Not after MakeBatchVisible (a session makes one batch).
  uint64_t StampRows() {
    rows_stamped_ = true;
    return batch_seq_;
  }
  // Makes every row stamped by StampRows() part of the snapshot of every request that starts
  // from now on (release store of visible_seq). Called after the batch's last index word, and
  // before the epoch advances in Finish(), which the reclamation argument needs: the rows the
  // batch replaced may be freed only once no new request can take an older snapshot.
  void MakeBatchVisible();
  // Retires a published block at the current epoch.
  void Retire(uint64_t offset);
  // Runs an epoch advance and a reclamation pass now (to make room before failing).
  void ReclaimNow();
  // Allocate, and when memory is short: reclaim, and while readers hold retired memory back,
  // wait for them (up to about the grace period, after which their holds are withdrawn) and
  // try again. kStoreFull names what fills the store and who holds memory back.
  Result<uint64_t> AllocateMakingRoom(uint64_t bytes, layout::BlockKind kind, bool align64 = false);
  // Makes room for `extra` more index entries, rebuilding the index at a larger size if needed.
  Status EnsureIndexCapacity(uint64_t extra);
  // Rebuilds the index at 2^log2 buckets, retiring the rows of the views in `drop_views` and
  // keeping the others.
  Status RebuildIndex(uint32_t log2_buckets, const std::set<uint32_t>& drop_views);
  // The same, keeping the rows `keep` accepts (given each row's header; the rows are this
  // writer's own, so their headers and key bytes are trusted) and retiring the others once the
  // new table is published.
  Status RebuildIndexKeeping(uint32_t log2_buckets,
                             const std::function<bool(const layout::BlockHeader&)>& keep);
  // Publishes a new registry (encoded FlatBuffer) and retires the old one.
  Status PublishRegistry(const std::string& encoded);
  // Publishes a registry whose views lost features: records the wait as pending in the segment
  // (layout::PendingRegistryWait) before publishing, then waits (AwaitPendingRegistryWait).
  // kBusy: the wait gave up; the registry stays published and the next writer waits instead.
  Status PublishRegistryAndWait(const std::string& encoded);
  // Waits until no reader can still be inside a lookup planned with a registry older than the
  // pending one: every hold at or below the pending epoch has ended, or has been withdrawn (its
  // reader reads again, with the new registry); then clears the mark. A hold is withdrawn after
  // the grace period, so the wait ends within about twice that. kBusy if it did not (only a
  // reader table written by hand can cause it); the mark then stays for the next writer.
  Status AwaitPendingRegistryWait();
  // Rebuilds the allocator's free and limbo lists from the index, the registry and a walk of
  // the arena's blocks, as after a writer died mid-batch; every block nothing references goes
  // to limbo. For lists found damaged (Arena::damage()). CorruptStore if the blocks do not
  // tile the arena.
  Status RebuildAllocator();
  void Finish();
  // Whether Begin found the store marked dirty (a writer died mid-batch, or its lists were
  // damaged) and rebuilt its allocator lists.
  bool recovered() const { return recovered_; }

 private:
  WriteSession(Store::Impl& store, WriterLock lock);
  Status RecoverIfDirty();

  Store::Impl& store_;
  WriterLock lock_;
  std::unique_lock<Mutex> process_lock_;  // store_.write_mu, for the session's life
  Arena arena_;
  bool finished_ = false;
  bool recovered_ = false;
  uint64_t batch_seq_ = 0;                                   // see StampRows()
  bool rows_stamped_ = false;                                // StampRows() was called
  bool batch_visible_ = false;                               // MakeBatchVisible() was called
  ReaderScan last_scan_ LARDER_GUARDED_BY(store_.write_mu);  // of the last ReclaimNow
};

template <typename Once>
Status Store::Impl::ReadProtected(Once&& once) const {
  // A torn-down segment is never served, by any read (lookups, inspect, check, the registry):
  // teardown sets the mark before it unlinks anything, so every read that starts after the
  // teardown began sees it (one relaxed load of a line nothing else writes).
  if (header()->retired.load(std::memory_order_relaxed) != 0) return TornDown(seg->path());
  for (int attempt = 1;; ++attempt) {
    LARDER_ASSIGN_OR_RETURN(SlotRef ref, Slot());
    Status st;
    bool held = false;
    {
      EpochGuard guard(ref, header()->global_epoch);
      st = once(guard);
      held = guard.End();
      if (!held && guard.SlotLost()) pool->ForgetLostSlot(ref.slot);
    }
    if (held) return st;
    lookups_retried.fetch_add(1, std::memory_order_relaxed);
    if (attempt == kMaxReadAttempts) {
      return Status(ErrorCode::kBusy,
                    "a writer withdrew this reader's hold " + std::to_string(attempt) +
                        " times in a row: the read takes longer than the writers' grace period "
                        "(reader_grace_ms)");
    }
  }
}

}  // namespace larder
