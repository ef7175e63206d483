// Write batches: the writer lock, crash recovery, epochs and index rebuilds.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/fault.h"
#include "engine/row_version.h"
#include "engine/store_impl.h"

namespace larder {

using layout::BlockHeader;
using layout::BlockKind;

Result<WriterLock> WriterLock::Acquire(const std::string& segment_path, int timeout_ms,
                                       uint32_t mode) {
  std::string path = LockPath(segment_path);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0 && errno == EACCES) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return IoError("cannot open writer lock '" + path + "': " + std::strerror(errno));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto pause = std::chrono::microseconds(50);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int err = errno;
      ::close(fd);
      return IoError("cannot lock '" + path + "': " + std::strerror(err));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd);
      return Status(ErrorCode::kBusy, "another writer held '" + path + "' for more than " +
                                          std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
  return WriterLock(fd);
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
  std::unique_lock<std::mutex> process_lock(store.write_mu);
  LARDER_ASSIGN_OR_RETURN(WriterLock lock,
                          WriterLock::Acquire(store.seg->path(), store.options.lock_timeout_ms));
  std::unique_ptr<WriteSession> ws(new WriteSession(store, std::move(lock)));
  ws->process_lock_ = std::move(process_lock);
  LARDER_RETURN_IF_ERROR(ws->RecoverIfDirty());
  // seq_cst: every block this batch touches is written after the dirty mark is visible, so a
  // writer killed anywhere in the batch leaves writer_pid set for the next one to see.
  store.header()->writer_pid.store(static_cast<uint64_t>(::getpid()), std::memory_order_seq_cst);
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
  ReaderScan scan = ScanReaders(store_.pool->table(), store_.reader_watch);
  arena_.Reclaim(scan.min_active_epoch);
}

void WriteSession::Finish() {
  if (finished_) return;
  finished_ = true;
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
  // batch takes the same sequence number. They go first (the rows they replaced return to
  // the index), then the allocator state, which may be torn, is rebuilt.
  const bool first_rows = RollBackDeadBatch();
  LARDER_RETURN_IF_ERROR(RebuildAllocator().WithContext(
      "cannot repair the store's free lists (a writer died mid-batch, or they were damaged)"));
  if (!first_rows) return Status::Ok();
  // Rows that were the first of their key: a word never goes back to empty (probes stop at
  // the first empty word), so the index is rebuilt at its size without them. Until the new
  // table is published every snapshot reads them as absent (their seq is past visible_seq
  // and they have no prev); a writer killed during the rebuild leaves the store dirty and the
  // next one rebuilds again.
  const uint64_t visible = store_.header()->visible_seq.load(std::memory_order_relaxed);
  return RebuildIndexImpl(
             store_, *this, store_.index().log2_buckets,
             [visible](const BlockHeader& row) { return RowVersionOf(&row).seq <= visible; })
      .WithContext("cannot remove the rows of a writer that died mid-batch");
}

bool WriteSession::RollBackDeadBatch() {
  layout::SegmentHeader* h = store_.header();
  const uint64_t visible = h->visible_seq.load(std::memory_order_relaxed);
  const IndexRef idx = store_.index();
  const uint64_t size = store_.seg->size();
  bool first_rows = false;
  for (uint64_t i = 0; i < idx.capacity_words(); ++i) {
    const uint64_t w = idx.words[i].load(std::memory_order_relaxed);
    const uint64_t off = layout::WordOffset(w);
    // A word that names no whole row header and key is left to `check`.
    if (w == 0 || off < layout::kHeaderSize || off > size - layout::kRowKeyOffset) continue;
    const auto* row = reinterpret_cast<const BlockHeader*>(store_.base() + off);
    if (row->kind != BlockKind::kRow || row->key_len > size - off - layout::kRowKeyOffset) {
      continue;
    }
    const layout::RowVersion v = RowVersionOf(row);
    if (v.seq <= visible) continue;
    // The row it replaced must be an earlier row of the same key (the segment's bytes are not
    // trusted); a row without one is removed by the index rebuild instead.
    const std::string_view key(reinterpret_cast<const char*>(row) + layout::kRowKeyOffset,
                               row->key_len);
    const BlockHeader* older =
        v.prev == 0 ? nullptr : MatchRow(store_.base(), size, v.prev, row->view_id, key);
    if (older == nullptr || RowVersionOf(older).seq >= v.seq) {
      first_rows = true;
      continue;
    }
    LARDER_FAULT_POINT("during_rollback");
    // release: pairs with readers' acquire of the word. The replaced row's bytes never
    // changed (a retired row only has `link` rewritten) and it was not freed: the dead writer
    // retired it at its last epoch and no epoch advanced after that (docs/design.md).
    idx.words[i].store(layout::MakeIndexWord(layout::WordTag(w), v.prev),
                       std::memory_order_release);
  }
  return first_rows;
}

Status WriteSession::RebuildAllocator() {
  layout::SegmentHeader* h = store_.header();
  auto start = std::chrono::steady_clock::now();
  std::vector<uint64_t> live;
  uint64_t reg = h->registry_block.load(std::memory_order_acquire);
  live.push_back(reg);
  IndexRef idx = store_.index();
  live.push_back(idx.data_offset - layout::kIndexDataOffset);
  uint64_t entries = 0;
  for (uint64_t i = 0; i < idx.capacity_words(); ++i) {
    uint64_t w = idx.words[i].load(std::memory_order_relaxed);
    if (w == 0) continue;
    live.push_back(layout::WordOffset(w));
    ++entries;
  }
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

Status RebuildIndexImpl(Store::Impl& store, WriteSession& ws, uint32_t log2_buckets,
                        const std::function<bool(const BlockHeader&)>& keep) {
  layout::SegmentHeader* h = store.header();
  IndexRef old_idx = store.index();
  uint64_t bytes = layout::IndexBlockBytes(log2_buckets);
  auto off = ws.arena().Allocate(bytes, BlockKind::kIndex, /*align64=*/true);
  if (!off.ok()) {
    ws.ReclaimNow();
    off = ws.arena().Allocate(bytes, BlockKind::kIndex, true);
    if (!off.ok()) return off.status().WithContext("cannot grow the index");
  }
  uint64_t data = *off + layout::kIndexDataOffset;
  std::memset(store.base() + data, 0, bytes - layout::kIndexDataOffset);
  IndexRef idx = IndexFromDesc(store.base(), layout::MakeIndexDesc(data, log2_buckets));
  uint64_t kept = 0;
  // Rows left out are retired only once the new table is published: until then the old table
  // still serves them, and an error below must leave them where they are.
  std::vector<uint64_t> dropped;
  // Each bucket's run, from the rows of the keys whose home it is (run hints).
  RunCollector runs(idx);
  for (uint64_t i = 0; i < old_idx.capacity_words(); ++i) {
    uint64_t w = old_idx.words[i].load(std::memory_order_relaxed);
    if (w == 0) continue;
    const auto* row = reinterpret_cast<const BlockHeader*>(store.base() + layout::WordOffset(w));
    if (!keep(*row)) {
      dropped.push_back(layout::WordOffset(w));
      continue;
    }
    std::string_view key(reinterpret_cast<const char*>(row) + layout::kRowKeyOffset,
                         row->key_len);
    const uint64_t hash = HashEntityKey(row->view_id, key);
    if (!InsertUnpublished(idx, hash, w)) {
      ws.arena().FreeUnpublished(*off);
      return InternalError("index rebuild overflowed its table");
    }
    runs.Add(hash, layout::WordOffset(w), uint64_t{row->units} * layout::kBlockAlign);
    ++kept;
  }
  runs.StoreHints();
  LARDER_FAULT_POINT("before_index_publish");
  // release: the new table's words are written before readers can find the table.
  h->index_desc.store(layout::MakeIndexDesc(data, log2_buckets), std::memory_order_release);
  h->index_entries.store(kept, std::memory_order_relaxed);
  h->index_growths.fetch_add(1, std::memory_order_relaxed);
  for (uint64_t row : dropped) ws.Retire(row);
  ws.Retire(old_idx.data_offset - layout::kIndexDataOffset);
  return Status::Ok();
}

Status WriteSession::EnsureIndexCapacity(uint64_t extra) {
  layout::SegmentHeader* h = store_.header();
  IndexRef idx = store_.index();
  uint64_t need = h->index_entries.load(std::memory_order_relaxed) + extra;
  if (need <= MaxEntries(idx)) return Status::Ok();
  uint32_t log2 = std::max(Log2BucketsFor(need), idx.log2_buckets + 1);
  return RebuildIndex(log2, [](uint32_t) { return true; });
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

}  // namespace larder
