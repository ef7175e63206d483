// `larder inspect` (figures) and `larder check` (every invariant of the segment).
#include <unistd.h>

#include <set>
#include <unordered_map>

#include "engine/index/row_version.h"
#include "engine/rows/row_codec.h"
#include "engine/segment/store_files.h"
#include "engine/store_impl.h"
#include "layout/entity_key.h"

namespace larder {

using layout::BlockHeader;
using layout::BlockKind;

Result<StoreInfo> Store::Inspect() const {
  StoreInfo info;
  LARDER_RETURN_IF_ERROR(impl_->ReadProtected([&](const EpochGuard& guard) -> Status {
    info = StoreInfo();
    LARDER_ASSIGN_OR_RETURN(auto cat, impl_->CatalogNow(guard));
    const layout::SegmentHeader* h = impl_->header();
    info.path = impl_->seg->path();
    info.project = cat->config().project;
    info.file_size = h->file_size;
    info.arena_used = h->arena_top.load(std::memory_order_relaxed) - h->arena_begin;
    info.free_list_bytes = h->free_bytes.load(std::memory_order_relaxed);
    info.limbo_bytes = h->limbo_bytes.load(std::memory_order_relaxed);
    LARDER_ASSIGN_OR_RETURN(HashIndex idx, impl_->index());
    info.index_buckets = idx.buckets();
    info.index_words = idx.capacity_words();
    info.index_capacity = idx.max_entries();
    info.index_bytes = idx.bytes();
    info.index_entries = h->index_entries.load(std::memory_order_relaxed);
    info.index_growths = h->index_growths.load(std::memory_order_relaxed);
    info.registry_generation = h->registry_generation.load(std::memory_order_relaxed);
    info.global_epoch = h->global_epoch.load(std::memory_order_relaxed);
    info.visible_batch = h->visible_seq.load(std::memory_order_acquire);
    info.write_batches = h->write_batches.load(std::memory_order_relaxed);
    info.rows_written = h->rows_written.load(std::memory_order_relaxed);
    info.rows_skipped_older = h->rows_skipped_older.load(std::memory_order_relaxed);
    info.recoveries = h->recoveries.load(std::memory_order_relaxed);
    info.last_recovery_micros = h->last_recovery_micros.load(std::memory_order_relaxed);
    info.writer_pid = h->writer_pid.load(std::memory_order_relaxed);
    info.stuck_reader_reports = h->stuck_reader_reports.load(std::memory_order_relaxed);
    std::unordered_map<uint32_t, size_t> by_id;
    for (const ViewInfo& v : cat->views()) {
      by_id[v.id()] = info.views.size();
      info.views.push_back({v.def.name, v.id(), 0, 0, 0, v.def.ttl_seconds, v.def.source});
    }
    idx.ForEach([&](const IndexEntry& e) {
      const uint64_t off = e.row();
      const BlockHeader* b = impl_->RowBlockAt(off);  // null: a corrupt word
      if (b == nullptr) return;
      if (IsWithdrawnRow(b)) {  // a withdrawn row is no row
        ++info.index_withdrawn_rows;
        return;
      }
      auto it = by_id.find(b->view_id);
      if (it == by_id.end()) return;
      ViewStats& v = info.views[it->second];
      v.rows++;
      v.row_bytes += uint64_t{b->units} * layout::kBlockAlign;
      LineRun run;
      if (idx.HintedRun(e.bucket(), &run) && run.Contains(off)) v.rows_in_runs++;
    });
    return Status::Ok();
  }));
  info.lookups_retried = impl_->lookups_retried.load(std::memory_order_relaxed);
  // The reader table lies outside the arena: listing it (a /proc read per claimed slot)
  // needs no epoch, so it does not hold reclamation back.
  info.readers = ListReaders(impl_->pool->table());
  // Who holds memory back: a reader inside a lookup at epoch e keeps every limbo list of an
  // epoch >= e from reuse. (The writer's allocator state, read without its lock: a snapshot.)
  const layout::AllocatorState& alloc = impl_->header()->alloc;
  for (ReaderInfo& r : info.readers) {
    if (r.epoch == 0 || r.withdrawn || !r.alive) continue;
    for (uint32_t k = 0; k < layout::kLimboRing; ++k) {
      // Relaxed loads (LoadOnce): the writer may be changing these words meanwhile.
      if (layout::LoadOnce(alloc.limbo_head[k]) != 0 &&
          layout::LoadOnce(alloc.limbo_epoch[k]) >= r.epoch) {
        r.held_back_bytes += layout::LoadOnce(alloc.limbo_bytes[k]);
      }
    }
  }
  return info;
}

namespace {

// What holds a block, for the arena's accounting: each block between arena_begin and
// arena_top must be held by exactly one of these (a pad by its kind alone).
enum class Holder : uint8_t { kNothing, kPad, kIndexWord, kIndexTable, kRegistry, kFree, kLimbo };

const char* HolderName(Holder h) {
  switch (h) {
    case Holder::kNothing:
      return "nothing";
    case Holder::kPad:
      return "a pad";
    case Holder::kIndexWord:
      return "an index word";
    case Holder::kIndexTable:
      return "the index descriptor";
    case Holder::kRegistry:
      return "the registry descriptor";
    case Holder::kFree:
      return "a free list";
    case Holder::kLimbo:
      return "a limbo list";
  }
  return "?";
}

class Checker {
 public:
  Checker(const Store::Impl& impl, const Catalog& cat, CheckReport* report)
      : impl_(impl), cat_(cat), r_(report), base_(impl.base()), h_(impl.header()) {}

  void Run() {
    Status hs = ValidateHeader(*h_, impl_.seg->size());
    if (!hs.ok()) return Fail("header: " + hs.message());
    top_ = h_->arena_top.load(std::memory_order_acquire);
    Status walk = ForEachBlock(base_, *h_, [&](uint64_t off, const BlockHeader& b) {
      ++r_->blocks;
      blocks_.emplace(off, b.kind == BlockKind::kPad ? Holder::kPad : Holder::kNothing);
      if (b.kind < BlockKind::kPad || b.kind > BlockKind::kRegistry) {
        Fail("block at " + std::to_string(off) + " has unknown kind " +
             std::to_string(static_cast<int>(b.kind)));
      }
    });
    if (!walk.ok()) Fail("arena: " + walk.message());
    tiled_ = walk.ok();
    CheckIndex();
    CheckRegistry();
    CheckFreeLists();
    if (top_ > h_->reserved_top.load(std::memory_order_relaxed) &&
        h_->reserved_top.load(std::memory_order_relaxed) != 0) {
      Fail("arena_top lies beyond the reserved (fallocated) space");
    }
  }

 private:
  void Fail(std::string msg) {
    if (r_->violations.size() < 100) r_->violations.push_back(std::move(msg));
  }

  // Records that `holder` holds the block at `off` (a block of the walk). A block held twice
  // is a violation: a row on a free list, a table in limbo and published, a list that reaches
  // a block twice.
  void Claim(uint64_t off, Holder holder, const std::string& who) {
    Holder& h = blocks_.at(off);
    if (h != Holder::kNothing) {
      Fail(who + " holds the block at " + std::to_string(off) + ", which " + HolderName(h) +
           " holds already");
      return;
    }
    h = holder;
  }

  void CheckIndex() {
    HashIndex idx;
    if (!impl_.LoadIndex(&idx)) return Fail("index descriptor names a table outside the segment");
    const uint64_t table = idx.block_offset();
    if (!blocks_.count(table)) {
      Fail("index descriptor does not point at a block");
    } else if (reinterpret_cast<const BlockHeader*>(base_ + table)->kind != BlockKind::kIndex) {
      Fail("index descriptor points at a block that is not an index table");
    } else {
      Claim(table, Holder::kIndexTable, "the index descriptor");
    }
    std::set<std::pair<uint32_t, std::string>> keys;
    uint64_t entries = 0;
    idx.ForEach([&](const IndexEntry& e) {
      ++entries;
      const uint64_t off = e.row();
      std::string where = "index word " + std::to_string(e.position());
      if (!blocks_.count(off)) {
        Fail(where + " points at " + std::to_string(off) + ", which is not a block");
        return;
      }
      const auto* b = reinterpret_cast<const BlockHeader*>(base_ + off);
      if (b->kind != BlockKind::kRow) {
        Fail(where + " points at a block that is not a row");
        return;
      }
      Claim(off, Holder::kIndexWord, where);
      // Key and payload must lie inside the block before either is read: a corrupt key_len
      // would otherwise send the key hash up to 64 KiB past the block, and past the mapping
      // when the row is near the end of the file.
      if (layout::RowPayloadOffset(b->key_len) + b->payload_len >
          uint64_t{b->units} * layout::kBlockAlign) {
        Fail(where + ": row's key and payload overrun its block");
        return;
      }
      std::string_view key(reinterpret_cast<const char*>(b) + layout::kRowKeyOffset, b->key_len);
      // Rows of a batch not yet visible exist only while a batch runs or after its writer
      // died (the next writer rolls them back).
      // A row recovery withdrew (kNeverVisible) has no earlier version.
      const layout::RowVersion version = RowVersionOf(b);
      const uint64_t seq = version.seq;
      if (seq == kNeverVisible) {
        if (version.prev != 0) Fail(where + ": withdrawn row with a link to an earlier row");
      } else if (h_->writer_pid.load(std::memory_order_relaxed) == 0 &&
                 seq > h_->visible_seq.load(std::memory_order_relaxed)) {
        Fail(where + ": row of write batch " + std::to_string(seq) + ", past the visible batch " +
             std::to_string(h_->visible_seq.load(std::memory_order_relaxed)));
      }
      const ViewInfo* v = cat_.FindViewById(b->view_id);
      if (v == nullptr) {
        Fail(where + ": row of unknown view id " + std::to_string(b->view_id));
        return;
      }
      uint64_t hash = HashEntityKey(b->view_id, key);
      if (!e.TagMatches(hash)) Fail(where + ": tag does not match key hash");
      const IndexSlot p = idx.Find(base_, impl_.seg->size(), hash, b->view_id, key);
      if (!p.Holds(e)) Fail(where + ": key not reachable from its home bucket");
      if (!keys.emplace(b->view_id, std::string(key)).second) Fail(where + ": duplicate key");
      if (!layout::DecodeEntityKey(key, v->key_types).ok()) {
        Fail(where + ": key bytes do not fit view '" + v->def.name + "'");
      }
      const uint8_t* payload =
          reinterpret_cast<const uint8_t*>(b) + layout::RowPayloadOffset(b->key_len);
      if (!VerifyRowBuffer(payload, b->payload_len)) {
        Fail(where + ": row FlatBuffer fails verification");
        return;
      }
      const fb::Row* row = RowFromBuffer(payload);
      Value scratch;
      // A row without a feature's slot was written before the feature was added (it reads as
      // NOT_FOUND); one whose slot holds no item is damaged.
      for (const FeatureInfo& f : v->features) {
        if (!IsNullFeature(row, f) && RowHasSlot(row, f) && !DecodeFeature(row, f, &scratch)) {
          Fail(where + ": row lacks feature '" + f.name + "' of view '" + v->def.name + "'");
        }
      }
      if (!IsWithdrawnRow(b)) ++r_->rows;  // a withdrawn row is no row
    });
    if (h_->writer_pid.load(std::memory_order_relaxed) == 0 &&
        entries != h_->index_entries.load(std::memory_order_relaxed)) {
      Fail("index_entries says " + std::to_string(h_->index_entries.load()) + ", index holds " +
           std::to_string(entries));
    }
    if (entries > idx.max_entries()) Fail("index is fuller than its load limit");
  }

  void CheckRegistry() {
    const uint64_t reg = h_->registry_block.load(std::memory_order_acquire);
    if (!blocks_.count(reg)) {
      Fail("registry descriptor does not point at a block");
    } else if (reinterpret_cast<const BlockHeader*>(base_ + reg)->kind != BlockKind::kRegistry) {
      Fail("registry descriptor points at a block that is not a registry");
    } else {
      Claim(reg, Holder::kRegistry, "the registry descriptor");
    }
  }

  void CheckFreeLists() {
    // The writer lock is held (Store::Check): a set dirty mark is a writer that died mid-batch.
    // Its lists may be torn anywhere; only the next writer's rebuild makes them trustworthy.
    if (const uint64_t pid = h_->writer_pid.load(std::memory_order_relaxed); pid != 0) {
      r_->dead_writer_pid = pid;
      return;
    }
    // Walks one list; returns the bytes of its blocks.
    auto walk = [&](uint64_t head, const std::string& list, uint32_t units, bool free) {
      uint64_t bytes = 0;
      for (uint64_t off = head, n = 0; off != 0; ++n) {
        if (!blocks_.count(off) || n > r_->blocks) {
          Fail(list + " reaches an invalid block at " + std::to_string(off));
          break;
        }
        const auto* b = reinterpret_cast<const BlockHeader*>(base_ + off);
        if (blocks_.at(off) != Holder::kNothing) {
          Claim(off, free ? Holder::kFree : Holder::kLimbo, list);  // reports the double hold
          break;  // a repeated block: the list may loop from here
        }
        Claim(off, free ? Holder::kFree : Holder::kLimbo, list);
        if (free && b->kind != BlockKind::kFree) Fail(list + " holds a block that is not free");
        if (units != 0 && b->units != units) Fail(list + " holds a block of the wrong size");
        bytes += uint64_t{b->units} * layout::kBlockAlign;
        off = b->link;
      }
      return bytes;
    };
    uint64_t free_bytes = 0;
    for (uint32_t u = 1; u <= layout::kSmallClasses; ++u) {
      free_bytes += walk(h_->alloc.free_heads[u], "free list " + std::to_string(u), u, true);
    }
    free_bytes += walk(h_->alloc.large_free_head, "large free list", 0, true);
    uint64_t limbo_bytes = 0;
    for (uint32_t s = 0; s < layout::kLimboRing; ++s) {
      const uint64_t list =
          walk(h_->alloc.limbo_head[s], "limbo list " + std::to_string(s), 0, false);
      if (list != h_->alloc.limbo_bytes[s]) {
        Fail("limbo list " + std::to_string(s) + " holds " + std::to_string(list) +
             " bytes, its counter says " + std::to_string(h_->alloc.limbo_bytes[s]));
      }
      limbo_bytes += list;
    }
    if (free_bytes != h_->free_bytes.load(std::memory_order_relaxed)) {
      Fail("free_bytes counter says " + std::to_string(h_->free_bytes.load()) +
           ", the free lists hold " + std::to_string(free_bytes));
    }
    if (limbo_bytes != h_->limbo_bytes.load(std::memory_order_relaxed)) {
      Fail("limbo_bytes counter says " + std::to_string(h_->limbo_bytes.load()) +
           ", the limbo lists hold " + std::to_string(limbo_bytes));
    }
    if (tiled_) Account();  // blocks past a broken header are unknown: nothing to add up
  }

  // Every arena byte is a live row, the index table, the registry, free, in limbo or a pad:
  // a block that nothing holds is lost to the store for good (nothing will ever free it).
  void Account() {
    ArenaAccount& a = r_->bytes;
    a.arena = top_ - h_->arena_begin;
    uint64_t sum = 0;
    uint64_t leaks = 0;
    for (const auto& [off, holder] : blocks_) {
      const auto* b = reinterpret_cast<const BlockHeader*>(base_ + off);
      const uint64_t bytes = uint64_t{b->units} * layout::kBlockAlign;
      sum += bytes;
      switch (holder) {
        case Holder::kIndexWord:
          a.rows += bytes;
          break;
        case Holder::kIndexTable:
          a.index += bytes;
          break;
        case Holder::kRegistry:
          a.registry += bytes;
          break;
        case Holder::kFree:
          a.free += bytes;
          break;
        case Holder::kLimbo:
          a.limbo += bytes;
          break;
        case Holder::kPad:
          a.pad += bytes;
          break;
        case Holder::kNothing:
          a.leaked += bytes;
          if (leaks++ < 5) {
            Fail("block at " + std::to_string(off) + " (kind " +
                 std::to_string(static_cast<int>(b->kind)) + ", " + std::to_string(bytes) +
                 " bytes) is held by nothing: not a live row, the index, the registry, free or "
                 "in limbo (leaked)");
          }
          break;
      }
    }
    if (leaks > 5) {
      Fail(std::to_string(leaks) + " blocks, " + std::to_string(a.leaked) +
           " bytes in all, are held by nothing (leaked)");
    }
    if (sum != a.arena) {
      Fail("the blocks add up to " + std::to_string(sum) + " bytes, the arena spans " +
           std::to_string(a.arena));
    }
    r_->accounted = true;
  }

  const Store::Impl& impl_;
  const Catalog& cat_;
  CheckReport* r_;
  const uint8_t* base_;
  const layout::SegmentHeader* h_;
  uint64_t top_ = 0;
  bool tiled_ = false;  // the walk reached arena_top: blocks_ holds every block
  std::unordered_map<uint64_t, Holder> blocks_;  // every block of the walk, by offset
};

}  // namespace

Result<WritersStopped> Store::Impl::StopWriters(const std::string& what) {
  // Before the lock: taking it at the path of a torn-down segment would create a lock file
  // for a store that no longer exists.
  if (header()->retired.load(std::memory_order_relaxed) != 0) return TornDown(seg->path());
  // Only the owner may hold the writer lock (it is 0600): another user's process would fail to
  // open it, or, were it missing, create one of its own that no writer could open again.
  if (::geteuid() != seg->owner()) {
    return IoError("larder " + what + " takes the writer lock of '" + seg->path() +
                   "', which only its owner, " + DescribeUser(seg->owner()) +
                   ", may hold: run it as that user");
  }
  // It may create the lock file: only in a directory writers would accept.
  LARDER_RETURN_IF_ERROR(CheckStoreDirectory(seg->path()));
  // The writer lock, so that no batch runs meanwhile: without it a check during pushes met
  // half-made blocks and lists and reported them as violations, and could not tell a batch in
  // progress from a dead writer. Readers may take it too (the lock file is opened read-only
  // when it cannot be opened for writing; flock needs no write access).
  std::unique_lock<Mutex> process_lock(write_mu);
  auto lock = WriterLock::Acquire(seg->path(), options.lock_timeout_ms);
  if (!lock.ok()) return lock.status().WithContext(what + " waits for the running write batch");
  return WritersStopped{std::move(process_lock), std::move(*lock)};
}

Result<CheckReport> Store::Check() const {
  LARDER_ASSIGN_OR_RETURN(WritersStopped stopped, impl_->StopWriters("check"));
  CheckReport report;
  LARDER_RETURN_IF_ERROR(impl_->ReadProtected([&](const EpochGuard& guard) -> Status {
    report = CheckReport();
    LARDER_ASSIGN_OR_RETURN(auto cat, impl_->CatalogNow(guard));
    Checker(*impl_, *cat, &report).Run();
    return Status::Ok();
  }));
  return report;
}

Result<bool> Store::Repair() {
  LARDER_ASSIGN_OR_RETURN(auto ws, WriteSession::Begin(*impl_));
  const bool repaired = ws->recovered();
  ws->Finish();
  return repaired;
}

}  // namespace larder
