// Write batches: the writer lock, crash recovery, epochs and index rebuilds.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/fault.h"
#include "engine/index/index_writer.h"
#include "engine/index/row_version.h"
#include "engine/segment/store_files.h"
#include "engine/store_impl.h"

namespace larder {

using layout::BlockHeader;
using layout::BlockKind;

namespace {

// A lock file this build made holds one byte; every earlier build left it empty. An empty lock
// file may be one that was open to others (older builds made it 0640), on which a group member
// may still hold a descriptor: the writer that next holds its lock replaces it (ReplaceLockFile).
// The size, unlike the mode, stays a reliable sign until the replacement is done: the mode is
// made 0600 at once, but a writer that then times out or dies leaves the file empty.
constexpr char kLockMarker = 'L';

// Opens PATH.lock, creating it with `mode` if it does not exist; never through a symlink, and
// only a regular file this user owns (a lock file another user owns could be held by them).
Result<FileHandle> OpenLockFile(const std::string& path, uint32_t mode, struct stat* st) {
  for (;;) {
    auto existing = OpenStoreFile(path, O_RDWR, "writer lock", OwnerRule{.must_be_mine = true}, st);
    if (existing.ok() && (st->st_mode & 077) != 0) {
      // A lock file older builds made group-readable (0640): only the owner may hold the
      // writer lock, so it becomes owner-only now (a descriptor someone opened before stays
      // open: see kLockMarker).
      if (::fchmod(existing->get(), st->st_mode & 0700) != 0 || ::fstat(existing->get(), st) != 0) {
        return IoError("cannot make writer lock '" + path +
                       "' owner-only: " + std::strerror(errno));
      }
    }
    if (existing.ok() || existing.status().code() != ErrorCode::kStoreNotFound) return existing;
    FileHandle fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (fd.get() < 0) {
      if (errno == EEXIST) continue;  // created by another writer meanwhile (or a symlink)
      return IoError("cannot create writer lock '" + path + "': " + std::strerror(errno));
    }
    // The mode is set on the descriptor: exactly `mode`, whatever the umask. (A writer that
    // opens the file before the marker is written replaces it: needless, and harmless.)
    if (::fchmod(fd.get(), mode) != 0 || ::pwrite(fd.get(), &kLockMarker, 1, 0) != 1 ||
        ::fstat(fd.get(), st) != 0) {
      return IoError("cannot set up writer lock '" + path + "': " + std::strerror(errno));
    }
    return fd;
  }
}

// Puts a fresh owner-only lock file, marked and already locked, at PATH.lock in place of the
// one the caller holds locked: a descriptor another process opened on the old file while it
// was open to others then locks an orphan, which excludes nobody. The fresh file gets a unique
// name first (mkostemp: another user cannot block it by creating the name). REQUIRES: the
// caller holds the lock of the file at PATH.lock (so no other writer replaces or creates it
// meanwhile). Writers waiting on the old file find, once they get it, that PATH.lock is
// another file, and lock that one.
Result<FileHandle> ReplaceLockFile(const std::string& path) {
  std::string fresh = path + ".new.XXXXXX";
  FileHandle fd(::mkostemp(fresh.data(), O_CLOEXEC));  // 0600, O_EXCL
  if (fd.get() < 0) {
    return IoError("cannot create writer lock beside '" + path + "': " + std::strerror(errno));
  }
  if (::fchmod(fd.get(), 0600) != 0 || ::pwrite(fd.get(), &kLockMarker, 1, 0) != 1 ||
      ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0 || ::rename(fresh.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(fresh.c_str());
    return IoError("cannot replace writer lock '" + path + "': " + std::strerror(err));
  }
  return fd;
}

}  // namespace

Result<WriterLock> WriterLock::Acquire(const std::string& segment_path, int timeout_ms,
                                       uint32_t mode) {
  std::string path = LockPath(segment_path);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    struct stat st;
    LARDER_ASSIGN_OR_RETURN(FileHandle fd, OpenLockFile(path, mode, &st));
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return IoError("cannot lock '" + path + "': " + std::strerror(errno));
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status(ErrorCode::kBusy, "another writer held '" + path + "' for more than " +
                                            std::to_string(timeout_ms) + " ms");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(5000));
    }
    // A teardown, or a failed apply (ReleaseAndRemove), unlinks the lock file while holding
    // it. Whoever got the lock of that unlinked file must not write: only the file at
    // PATH.lock excludes, so lock again the file there now.
    struct stat now;
    if (::lstat(path.c_str(), &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
      if (now.st_size == 0) {  // an older build's lock file (kLockMarker)
        // If the replacement fails, the lock held is still the writer lock, and the file stays
        // empty: the next writer tries again.
        if (auto fresh = ReplaceLockFile(path); fresh.ok()) {
          return WriterLock(fresh->release());  // `fd` closes: the old file's lock is dropped
        }
      }
      return WriterLock(fd.release());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(ErrorCode::kBusy, "the writer lock '" + path + "' kept being replaced for " +
                                          std::to_string(timeout_ms) + " ms");
    }
  }
}

void WriterLock::ReleaseAndRemove(const std::string& segment_path) {
  if (fd_ < 0) return;
  ::unlink(LockPath(segment_path).c_str());  // still held: a waiter then sees it is gone
  ::close(fd_);
  fd_ = -1;
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor drops the flock
}

WriteSession::WriteSession(Store::Impl& store, WriterLock lock)
    : store_(store), lock_(std::move(lock)), arena_(store.seg.get()) {}

Result<std::unique_ptr<WriteSession>> WriteSession::Begin(Store::Impl& store) {
  if (!store.seg->writable()) {
    return InvalidArgument("this store was opened read-only; open it for writing to push");
  }
  std::unique_lock<Mutex> process_lock(store.write_mu);
  LARDER_ASSIGN_OR_RETURN(WriterLock lock,
                          WriterLock::Acquire(store.seg->path(), store.options.lock_timeout_ms));
  // One live segment: a batch is never acknowledged into a segment torn down or replaced
  // (teardown marks it retired under this lock before unlinking it).
  if (store.header()->retired.load(std::memory_order_acquire) != 0 || !store.seg->StillAtPath()) {
    return TornDown(store.seg->path());
  }
  std::unique_ptr<WriteSession> ws(new WriteSession(store, std::move(lock)));
  ws->process_lock_ = std::move(process_lock);
  if (Status st = ws->RecoverIfDirty(); !st.ok()) {
    // The dead writer's half-updated lists must not be reclaimed over, nor the dirty mark
    // cleared: the session ends without Finish(), so the next writer tries recovery again.
    ws->finished_ = true;
    return st;
  }
  // seq_cst: every block this batch touches is written after the dirty mark is visible, so a
  // writer killed anywhere in the batch leaves writer_pid set for the next one to see.
  store.header()->writer_pid.store(static_cast<uint64_t>(::getpid()), std::memory_order_seq_cst);
  // An apply that removed features may have published its registry without seeing the wait
  // through (it gave up, or was killed): no row is written before it is done. (Under the dirty
  // mark: the wait reclaims memory.) If it gives up again, this batch fails, writing nothing.
  LARDER_RETURN_IF_ERROR(ws->AwaitPendingRegistryWait());
  // Only writers store visible_seq, under the lock: a relaxed load reads the last one.
  ws->batch_seq_ = store.header()->visible_seq.load(std::memory_order_relaxed) + 1;
  return ws;
}

void WriteSession::MakeBatchVisible() {
  LARDER_FAULT_POINT("before_batch_visible");
  // release: every index word and row of the batch is written before a request that acquires
  // visible_seq >= batch_seq_ reads anything. The epoch advance that lets the rows this batch
  // replaced be freed comes after this store (Finish), see docs/design.md "Snapshot reads".
  store_.header()->visible_seq.store(batch_seq_, std::memory_order_release);
  batch_visible_ = true;
}

WriteSession::~WriteSession() { Finish(); }

uint64_t WriteSession::epoch() const {
  return store_.header()->global_epoch.load(std::memory_order_relaxed);
}

void WriteSession::Retire(uint64_t offset) { arena_.Retire(offset, epoch()); }

void WriteSession::ReclaimNow() {
  layout::SegmentHeader* h = store_.header();
  uint64_t e = h->global_epoch.load(std::memory_order_relaxed);
  if (arena_.CanRetireAt(e + 1)) {
    // seq_cst: new readers take e+1 only after this batch's unlinks (all earlier stores).
    h->global_epoch.store(e + 1, std::memory_order_seq_cst);
  }
  // seq_cst fence: pairs with each reader's fence after its epoch store (reader_slots.h).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  store_.write_mu.AssertHeld();  // process_lock_
  // The floor's marks are the segment's: every writing process of the store shares them.
  store_.reader_watch.ShareMarks(layout::FloorMarksOf(h));
  last_scan_ = ScanReaders(store_.pool->table(), store_.reader_watch,
                           std::chrono::milliseconds(store_.options.reader_grace_ms),
                           h->global_epoch.load(std::memory_order_relaxed));
  if (last_scan_.withdrawn + last_scan_.forged > 0) {
    h->stuck_reader_reports.fetch_add(last_scan_.withdrawn + last_scan_.forged,
                                      std::memory_order_relaxed);
  }
  arena_.Reclaim(last_scan_.min_active_epoch);
}

void WriteSession::Finish() {
  if (finished_) return;
  finished_ = true;
  // A batch that published rows is visible before the epoch advance below lets the rows it
  // replaced be freed (a caller that returned early between its first row and its
  // MakeBatchVisible call: its rows are published, so they are made visible as they are).
  if (rows_stamped_ && !batch_visible_) MakeBatchVisible();
  LARDER_FAULT_POINT("before_finish");
  ReclaimNow();
  layout::SegmentHeader* h = store_.header();
  // Lists found damaged in this batch are rebuilt now; if that fails, the store stays marked
  // dirty and the next batch tries again (RecoverIfDirty) before it writes anything.
  const bool lists_sound = arena_.damage().empty() || RebuildAllocator().ok();
  h->write_batches.fetch_add(1, std::memory_order_relaxed);
  // release: the batch's allocator state is complete before the store is marked clean.
  if (lists_sound) h->writer_pid.store(0, std::memory_order_release);
}

Status WriteSession::RecoverIfDirty() {
  layout::SegmentHeader* h = store_.header();
  if (h->writer_pid.load(std::memory_order_acquire) == 0) return Status::Ok();
  // The previous writer died mid-batch (or found the lists damaged and could not rebuild
  // them). Published state (index words, registry and index descriptors) is always
  // consistent, but may hold rows of the dead batch, which no snapshot may ever see: the next
  // batch takes the same sequence number. They go first, in place (the rows they replaced
  // return to the index; a row that replaced none is withdrawn), then the allocator state,
  // which may be torn, is rebuilt. Nothing here allocates, so recovery works in a full store,
  // and no table is replaced, so no reader can hold a table that still names the dead rows.
  LARDER_ASSIGN_OR_RETURN(HashIndex idx, store_.index());
  const uint64_t visible = h->visible_seq.load(std::memory_order_relaxed);
  IndexWriter(idx).RollBackRowsAfter(store_.base(), store_.seg->size(), visible);
  LARDER_RETURN_IF_ERROR(RebuildAllocator().WithContext(
      "cannot repair the store's free lists (a writer died mid-batch, or they were damaged)"));
  // PublishRegistry stores the registry block, then advances the generation. A writer killed
  // between the two left a new registry under the old generation, which processes that cached
  // the old catalog would never reload. Every recovery therefore advances the generation
  // (release: after the block store it relabels, which the dead writer made before dying);
  // a reload of an unchanged registry costs each process one decode.
  h->registry_generation.fetch_add(1, std::memory_order_release);
  recovered_ = true;
  return Status::Ok();
}

Status WriteSession::RebuildAllocator() {
  layout::SegmentHeader* h = store_.header();
  auto start = std::chrono::steady_clock::now();
  std::vector<uint64_t> live;
  uint64_t reg = h->registry_block.load(std::memory_order_acquire);
  live.push_back(reg);
  LARDER_ASSIGN_OR_RETURN(HashIndex idx, store_.index());
  live.push_back(idx.block_offset());
  uint64_t entries = 0;
  IndexWriter(idx).ForEach([&](const IndexEntry& e) {
    live.push_back(e.row());
    ++entries;
  });
  std::sort(live.begin(), live.end());
  LARDER_RETURN_IF_ERROR(arena_.Recover(live, epoch()));
  h->index_entries.store(entries, std::memory_order_relaxed);
  h->recoveries.fetch_add(1, std::memory_order_relaxed);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
  h->last_recovery_micros.store(static_cast<uint64_t>(micros), std::memory_order_relaxed);
  return Status::Ok();
}

Status WriteSession::RebuildIndex(uint32_t log2_buckets, const std::set<uint32_t>& drop_views) {
  return RebuildIndexKeeping(
      log2_buckets, [&](const BlockHeader& row) { return drop_views.count(row.view_id) == 0; });
}

Status WriteSession::RebuildIndexKeeping(
    uint32_t log2_buckets, const std::function<bool(const layout::BlockHeader&)>& keep) {
  layout::SegmentHeader* h = store_.header();
  LARDER_ASSIGN_OR_RETURN(HashIndex old_idx, store_.index());
  uint64_t bytes = layout::IndexBlockBytes(log2_buckets);
  auto off = AllocateMakingRoom(bytes, BlockKind::kIndex, /*align64=*/true);
  if (!off.ok()) return off.status().WithContext("cannot grow the index");
  uint64_t data = *off + layout::kIndexDataOffset;
  std::memset(store_.base() + data, 0, bytes - layout::kIndexDataOffset);
  const IndexWriter fresh(
      HashIndex::FromDesc(store_.base(), layout::MakeIndexDesc(data, log2_buckets)));
  // Rows left out are retired only once the new table is published: until then the old table
  // still serves them, and an error below must leave them where they are.
  std::vector<uint64_t> dropped;
  // Rows recovery withdrew (kNeverVisible) are absent for every reader of either table: they
  // go, and `keep` never sees them.
  const int64_t kept = fresh.RebuildFrom(
      store_.base(), old_idx,
      [&](const BlockHeader& row) { return !IsWithdrawnRow(&row) && keep(row); },
      [&](uint64_t row) { dropped.push_back(row); });
  if (kept < 0) {
    arena_.FreeUnpublished(*off);
    return InternalError("index rebuild overflowed its table");
  }
  LARDER_FAULT_POINT("before_index_publish");
  // release: the new table's words are written before readers can find the table.
  h->index_desc.store(layout::MakeIndexDesc(data, log2_buckets), std::memory_order_release);
  h->index_entries.store(static_cast<uint64_t>(kept), std::memory_order_relaxed);
  h->index_growths.fetch_add(1, std::memory_order_relaxed);
  for (uint64_t row : dropped) Retire(row);
  Retire(old_idx.block_offset());
  return Status::Ok();
}

Status WriteSession::EnsureIndexCapacity(uint64_t extra) {
  layout::SegmentHeader* h = store_.header();
  LARDER_ASSIGN_OR_RETURN(HashIndex idx, store_.index());
  uint64_t need = h->index_entries.load(std::memory_order_relaxed) + extra;
  if (need <= idx.max_entries()) return Status::Ok();
  uint32_t log2 = std::max(Log2BucketsFor(need), idx.log2_buckets() + 1);
  return RebuildIndex(log2, {});
}

Status WriteSession::PublishRegistry(const std::string& encoded) {
  layout::SegmentHeader* h = store_.header();
  uint64_t bytes = sizeof(BlockHeader) + encoded.size();
  LARDER_ASSIGN_OR_RETURN(uint64_t off, arena_.Allocate(bytes, BlockKind::kRegistry));
  auto* b = arena_.Block(off);
  b->payload_len = static_cast<uint32_t>(encoded.size());
  std::memcpy(store_.base() + off + sizeof(BlockHeader), encoded.data(), encoded.size());
  uint64_t old = h->registry_block.load(std::memory_order_relaxed);
  // release (both): the registry bytes precede the block offset, which precedes the
  // generation; readers acquire the generation, then the block.
  h->registry_block.store(off, std::memory_order_release);
  h->registry_generation.fetch_add(1, std::memory_order_release);
  if (old != 0) Retire(old);
  return Status::Ok();
}

Status WriteSession::PublishRegistryAndWait(const std::string& encoded) {
  layout::PendingRegistryWait* pending = layout::PendingRegistryWaitOf(store_.header());
  // Before the publication (relaxed: only writers, under the lock, read it; a writer killed
  // after the publication leaves it set for the next one). Lookups that may plan with the
  // registry being replaced hold an epoch <= this one: the publication does not advance it.
  pending->epoch.store(std::max<uint64_t>(epoch(), 1), std::memory_order_relaxed);
  LARDER_RETURN_IF_ERROR(PublishRegistry(encoded));
  return AwaitPendingRegistryWait();
}

Status WriteSession::AwaitPendingRegistryWait() {
  store_.write_mu.AssertHeld();  // process_lock_ (last_scan_, ReclaimNow)
  layout::PendingRegistryWait* pending = layout::PendingRegistryWaitOf(store_.header());
  // A hold at an epoch <= `published` may have loaded the older registry generation; one that
  // began later loaded the global epoch (seq_cst) after its advance, which follows the
  // generation's publication (release), so it reads the new registry. The segment's bytes are
  // untrusted: a mark above the global epoch is treated as the global epoch.
  const uint64_t published = std::min(pending->epoch.load(std::memory_order_relaxed), epoch());
  if (published == 0) return Status::Ok();
  const auto grace = std::chrono::milliseconds(store_.options.reader_grace_ms);
  const auto deadline =
      std::chrono::steady_clock::now() + 2 * grace + std::chrono::milliseconds(100);
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    ReclaimNow();  // advances the epoch (when the limbo ring allows), scans, withdraws
    if (epoch() > published && last_scan_.min_active_epoch > published) {
      pending->epoch.store(0, std::memory_order_relaxed);
      return Status::Ok();
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
  return Status(ErrorCode::kBusy,
                "a reader is still inside a lookup planned with the previous registry after " +
                    std::to_string(2 * grace.count() + 100) + " ms (pid " +
                    std::to_string(last_scan_.oldest_pid) +
                    "): rows are written only once it has ended or been withdrawn");
}

}  // namespace larder
