// `larder inspect` (figures) and `larder check` (every invariant of the segment).
#include <set>
#include <unordered_set>

#include "engine/row_codec.h"
#include "engine/row_version.h"
#include "engine/store_impl.h"
#include "layout/entity_key.h"

namespace larder {

using layout::BlockHeader;
using layout::BlockKind;

Result<StoreInfo> Store::Inspect() const {
  LARDER_ASSIGN_OR_RETURN(layout::ReaderSlot * slot, impl_->Slot());
  StoreInfo info;
  {
    EpochGuard guard(slot, impl_->header()->global_epoch);
    LARDER_ASSIGN_OR_RETURN(auto cat, impl_->CatalogNow());
    const layout::SegmentHeader* h = impl_->header();
    info.path = impl_->seg->path();
    info.project = cat->config().project;
    info.file_size = h->file_size;
    info.arena_used = h->arena_top.load(std::memory_order_relaxed) - h->arena_begin;
    info.free_list_bytes = h->free_bytes.load(std::memory_order_relaxed);
    info.limbo_bytes = h->limbo_bytes.load(std::memory_order_relaxed);
    IndexRef idx = impl_->index();
    info.index_buckets = idx.bucket_mask + 1;
    info.index_capacity = MaxEntries(idx);
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
    std::unordered_map<uint32_t, size_t> by_id;
    for (const ViewInfo& v : cat->views()) {
      by_id[v.id()] = info.views.size();
      info.views.push_back({v.def.name, v.id(), 0, 0, 0, v.def.ttl_seconds, v.def.source});
    }
    const uint8_t* base = impl_->base();
    for (uint64_t i = 0; i < idx.capacity_words(); ++i) {
      uint64_t w = idx.words[i].load(std::memory_order_acquire);
      const uint64_t off = layout::WordOffset(w);
      // A corrupt word may point anywhere: count only aligned, in-bounds blocks.
      if (w == 0 || off < layout::kHeaderSize || off % layout::kBlockAlign != 0 ||
          off + sizeof(BlockHeader) > impl_->seg->size()) {
        continue;
      }
      const auto* b = reinterpret_cast<const BlockHeader*>(base + off);
      auto it = by_id.find(b->view_id);
      if (it == by_id.end()) continue;
      ViewStats& v = info.views[it->second];
      v.rows++;
      v.row_bytes += uint64_t{b->units} * layout::kBlockAlign;
      LineRun run;
      if (HintedRun(idx, i / layout::kBucketWords, &run) && run.Contains(off)) v.rows_in_runs++;
    }
  }
  // The reader table lies outside the arena: listing it (a /proc read per claimed slot)
  // needs no epoch, so it does not hold reclamation back.
  info.readers = ListReaders(impl_->pool->table());
  return info;
}

namespace {

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
      blocks_.insert(off);
      if (b.kind < BlockKind::kPad || b.kind > BlockKind::kRegistry) {
        Fail("block at " + std::to_string(off) + " has unknown kind " +
             std::to_string(static_cast<int>(b.kind)));
      }
    });
    if (!walk.ok()) Fail("arena: " + walk.message());
    CheckIndex();
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

  void CheckIndex() {
    IndexRef idx = impl_.index();
    if (!blocks_.count(idx.data_offset - layout::kIndexDataOffset)) {
      Fail("index descriptor does not point at a block");
    }
    std::set<std::pair<uint32_t, std::string>> keys;
    uint64_t entries = 0;
    for (uint64_t i = 0; i < idx.capacity_words(); ++i) {
      uint64_t w = idx.words[i].load(std::memory_order_acquire);
      if (w == 0) continue;
      ++entries;
      uint64_t off = layout::WordOffset(w);
      std::string where = "index word " + std::to_string(i);
      if (!blocks_.count(off)) {
        Fail(where + " points at " + std::to_string(off) + ", which is not a block");
        continue;
      }
      const auto* b = reinterpret_cast<const BlockHeader*>(base_ + off);
      if (b->kind != BlockKind::kRow) {
        Fail(where + " points at a block that is not a row");
        continue;
      }
      // Key and payload must lie inside the block before either is read: a corrupt key_len
      // would otherwise send the key hash up to 64 KiB past the block, and past the mapping
      // when the row is near the end of the file.
      if (layout::RowPayloadOffset(b->key_len) + b->payload_len >
          uint64_t{b->units} * layout::kBlockAlign) {
        Fail(where + ": row's key and payload overrun its block");
        continue;
      }
      std::string_view key(reinterpret_cast<const char*>(b) + layout::kRowKeyOffset, b->key_len);
      // Rows of a batch not yet visible exist only while a batch runs or after its writer
      // died (the next writer rolls them back).
      const uint64_t seq = RowVersionOf(b).seq;
      if (h_->writer_pid.load(std::memory_order_relaxed) == 0 &&
          seq > h_->visible_seq.load(std::memory_order_relaxed)) {
        Fail(where + ": row of write batch " + std::to_string(seq) + ", past the visible batch " +
             std::to_string(h_->visible_seq.load(std::memory_order_relaxed)));
      }
      const ViewInfo* v = cat_.FindViewById(b->view_id);
      if (v == nullptr) {
        Fail(where + ": row of unknown view id " + std::to_string(b->view_id));
        continue;
      }
      uint64_t hash = HashEntityKey(b->view_id, key);
      if (layout::WordTag(w) != layout::TagOf(hash)) Fail(where + ": tag does not match key hash");
      ProbeResult p = ProbeIndex(base_, impl_.seg->size(), idx, hash, b->view_id, key);
      if (!p.found || p.word != w) Fail(where + ": key not reachable from its home bucket");
      if (!keys.emplace(b->view_id, std::string(key)).second) Fail(where + ": duplicate key");
      if (!layout::DecodeEntityKey(key, v->key_types).ok()) {
        Fail(where + ": key bytes do not fit view '" + v->def.name + "'");
      }
      const uint8_t* payload = reinterpret_cast<const uint8_t*>(b) +
                               layout::RowPayloadOffset(b->key_len);
      if (!VerifyRowBuffer(payload, b->payload_len)) {
        Fail(where + ": row FlatBuffer fails verification");
        continue;
      }
      const fb::Row* row = RowFromBuffer(payload);
      Value scratch;
      for (const FeatureInfo& f : v->features) {
        if (!IsNullFeature(row, f) && !DecodeFeature(row, f, &scratch)) {
          Fail(where + ": row lacks feature '" + f.name + "' of view '" + v->def.name + "'");
        }
      }
      ++r_->rows;
    }
    if (h_->writer_pid.load(std::memory_order_relaxed) == 0 &&
        entries != h_->index_entries.load(std::memory_order_relaxed)) {
      Fail("index_entries says " + std::to_string(h_->index_entries.load()) + ", index holds " +
           std::to_string(entries));
    }
    if (entries > MaxEntries(idx)) Fail("index is fuller than its load limit");
  }

  void CheckFreeLists() {
    if (h_->writer_pid.load(std::memory_order_relaxed) != 0) {
      Fail("a write batch is in progress or its writer died (writer pid " +
           std::to_string(h_->writer_pid.load()) + "); the next writer repairs the store");
      return;
    }
    std::unordered_set<uint64_t> seen;
    uint64_t free_bytes = 0;
    auto walk = [&](uint64_t head, const std::string& list, uint32_t units, bool free) {
      for (uint64_t off = head, n = 0; off != 0; ++n) {
        if (!blocks_.count(off) || !seen.insert(off).second || n > r_->blocks) {
          Fail(list + " reaches an invalid or repeated block at " + std::to_string(off));
          return;
        }
        const auto* b = reinterpret_cast<const BlockHeader*>(base_ + off);
        if (free && b->kind != BlockKind::kFree) Fail(list + " holds a block that is not free");
        if (units != 0 && b->units != units) Fail(list + " holds a block of the wrong size");
        if (free) free_bytes += uint64_t{b->units} * layout::kBlockAlign;
        off = b->link;
      }
    };
    for (uint32_t u = 1; u <= layout::kSmallClasses; ++u) {
      walk(h_->alloc.free_heads[u], "free list " + std::to_string(u), u, true);
    }
    walk(h_->alloc.large_free_head, "large free list", 0, true);
    for (uint32_t s = 0; s < layout::kLimboRing; ++s) {
      walk(h_->alloc.limbo_head[s], "limbo list " + std::to_string(s), 0, false);
    }
    if (free_bytes != h_->free_bytes.load(std::memory_order_relaxed)) {
      Fail("free_bytes counter disagrees with the free lists");
    }
  }

  const Store::Impl& impl_;
  const Catalog& cat_;
  CheckReport* r_;
  const uint8_t* base_;
  const layout::SegmentHeader* h_;
  uint64_t top_ = 0;
  std::unordered_set<uint64_t> blocks_;
};

}  // namespace

Result<CheckReport> Store::Check() const {
  LARDER_ASSIGN_OR_RETURN(layout::ReaderSlot * slot, impl_->Slot());
  EpochGuard guard(slot, impl_->header()->global_epoch);
  LARDER_ASSIGN_OR_RETURN(auto cat, impl_->CatalogNow());
  CheckReport report;
  Checker(*impl_, *cat, &report).Run();
  return report;
}

}  // namespace larder
