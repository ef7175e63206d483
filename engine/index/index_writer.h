// The single writer's side of the index (engine/index/hash_index.h): publishing a row's word,
// keeping run hints, and filling a fresh table in a rebuild. Every method is writer-only: the
// caller holds the write lock (WriteSession, engine/store_impl.h), so no other thread stores to
// the table; readers may load it concurrently, which the memory orders below account for.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/index/hash_index.h"
#include "engine/index/row_version.h"
#include "layout/segment_layout.h"

namespace larder {

class IndexWriter {
 public:
  explicit IndexWriter(const HashIndex& idx) : idx_(idx) {}

  const HashIndex& index() const { return idx_; }

  // Publishes the row block at `row` for the key of hash `hash` in `slot` (from Find on this
  // table in this write batch; slot.has_slot()): the key's empty word, or its word naming an
  // older row. The row's bytes must be written first.
  void Publish(const IndexSlot& slot, uint64_t hash, uint64_t row) const {
    // release: the row's bytes written before are visible to any reader that acquires this
    // word (HashIndex::Find, CandidateRow, ForEach).
    slot.slot_->store(layout::MakeIndexWord(layout::TagOf(hash), row), std::memory_order_release);
  }

  // After Publish(slot, hash, ...): the run hint of the slot's bucket follows its rows, if the
  // slot lies in the key's home bucket. A word that overflowed into the next bucket names a
  // row laid out with its own bucket's, far from that bucket's run.
  void RefreshRunHintAfter(const IndexSlot& slot, uint64_t hash) const {
    const uint64_t b = static_cast<uint64_t>(slot.slot_ - idx_.words_) / layout::kBucketWords;
    if (b == idx_.home_bucket(hash)) RefreshRunHint(b);
  }

  // The run of bucket `b`'s rows as its words stand: from its first row's line to three lines
  // past its last row's start (a typical row's lines; the hint is only a prefetch). False when
  // the bucket is empty or those lines are more than kMaxRunLines.
  bool RunOfBucket(uint64_t b, LineRun* run) const {
    uint64_t lo = UINT64_MAX, hi = 0;
    const std::atomic<uint64_t>* bucket = idx_.bucket(b);
    for (uint32_t i = 0; i < layout::kBucketWords; ++i) {
      // relaxed: only this writer stores words.
      uint64_t w = bucket[i].load(std::memory_order_relaxed);
      if (w == 0) break;
      lo = std::min(lo, layout::WordOffset(w));
      hi = std::max(hi, layout::WordOffset(w));
    }
    if (hi == 0) return false;
    return SpanRun(lo, (hi / layout::kCacheLine + 3) * layout::kCacheLine, run);
  }

  // Makes bucket `b`'s hint name `run` (from SpanRun): the bucket's group takes the run's first
  // line as its base if it has none. False (and nothing changes) when the run lies beyond the
  // base's reach.
  bool StoreRunHint(uint64_t b, const LineRun& run) const {
    std::atomic<uint32_t>& group = idx_.run_group(b);
    // relaxed (all hint loads and stores): a hint is only ever a prefetch address.
    uint64_t base = group.load(std::memory_order_relaxed);
    if (base == 0) {
      base = run.first_line;
      group.store(static_cast<uint32_t>(base), std::memory_order_relaxed);
    }
    const uint16_t hint = layout::MakeRunHint(
        static_cast<int64_t>(run.first_line) - static_cast<int64_t>(base), run.lines);
    if (hint == 0) return false;
    idx_.hint_of(b).store(hint, std::memory_order_relaxed);
    return true;
  }

  // After a word of bucket `b` changed: the bucket's hint follows its rows when they lie close
  // together. When they no longer do (a row was replaced by one written elsewhere), the old
  // hint stays: it still names the rows that did not move.
  void RefreshRunHint(uint64_t b) const {
    LineRun run;
    if (RunOfBucket(b, &run)) StoreRunHint(b, run);
  }

  // Calls visit(const IndexEntry&) for every non-empty word, in table order, each once.
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    const uint64_t n = idx_.capacity_words();
    for (uint64_t i = 0; i < n; ++i) {
      // relaxed: only this writer stores words.
      const uint64_t w = idx_.words_[i].load(std::memory_order_relaxed);
      if (w != 0) visit(IndexEntry(i, w));
    }
  }

  // Recovery after a writer died inside batch `visible` + 1 (snapshot reads, docs/design.md):
  // every word naming a row of a batch after `visible` is pointed back at the row that row
  // replaced (RowVersion::prev), which the dead writer retired but which no epoch advance has
  // let anyone free. A row with no such earlier row (the first of its key, or a link that names
  // no earlier visible row of the same key: damaged bytes) is withdrawn in place instead: its
  // version becomes {kNeverVisible, 0}, which every snapshot reads as absent (a word never goes
  // back to empty, and a rebuild would need room for a second table). A word that names no
  // whole row header and key is left as it is, for `larder check` to report. Returns the rows
  // withdrawn. Idempotent: a writer killed inside it leaves work the next one finishes.
  uint64_t RollBackRowsAfter(uint8_t* base, uint64_t size, uint64_t visible) const {
    uint64_t withdrawn = 0;
    const uint64_t n = idx_.capacity_words();
    for (uint64_t i = 0; i < n; ++i) {
      // relaxed: only this writer stores words.
      const uint64_t w = idx_.words_[i].load(std::memory_order_relaxed);
      const uint64_t off = layout::WordOffset(w);
      if (w == 0 || off < layout::kHeaderSize || (off & (layout::kBlockAlign - 1)) != 0 ||
          off > size - layout::kRowKeyOffset) {
        continue;
      }
      auto* row = reinterpret_cast<layout::BlockHeader*>(base + off);
      const uint16_t key_len = layout::LoadOnce(row->key_len);
      if (layout::LoadOnce(row->kind) != layout::BlockKind::kRow ||
          key_len > size - off - layout::kRowKeyOffset) {
        continue;
      }
      const layout::RowVersion v = RowVersionOf(row);
      if (v.seq <= visible || IsWithdrawnRow(row)) continue;
      const std::string_view key(reinterpret_cast<const char*>(row) + layout::kRowKeyOffset,
                                 key_len);
      const layout::BlockHeader* older =
          v.prev == 0 ? nullptr : MatchRow(base, size, v.prev, layout::LoadOnce(row->view_id), key);
      if (older == nullptr || RowVersionOf(older).seq > visible) {
        // Readers with an older snapshot read either version as absent (or, for a damaged
        // link, as broken): both words are past every snapshot, and prev only becomes 0.
        WithdrawRow(reinterpret_cast<uint8_t*>(row));
        ++withdrawn;
        continue;
      }
      // release: pairs with readers' acquire of the word. The older row's bytes never changed
      // (retiring a row rewrites only its `link`).
      idx_.words_[i].store(layout::MakeIndexWord(layout::WordTag(w), v.prev),
                           std::memory_order_release);
    }
    return withdrawn;
  }

  // Fills this table, fresh (all zero) and not yet published, with the words of `from` (the
  // published table of the same segment at `base`) whose row keep(row's BlockHeader) accepts;
  // calls drop(row offset) for the others. Each key goes to the first empty word of its probe
  // sequence, and each bucket's run hint names the rows of the keys whose home it is. Returns
  // the words kept, or -1 if this table overflowed (then nothing here is to be published).
  // The rows are the writer's own (it published them): their headers are trusted.
  template <typename Keep, typename Drop>
  int64_t RebuildFrom(const uint8_t* base, const HashIndex& from, Keep&& keep, Drop&& drop) const {
    RunCollector runs(idx_);
    int64_t kept = 0;
    const uint64_t n = from.capacity_words();
    for (uint64_t i = 0; i < n; ++i) {
      // relaxed: only this writer stores words.
      const uint64_t w = from.words_[i].load(std::memory_order_relaxed);
      if (w == 0) continue;
      const uint64_t off = layout::WordOffset(w);
      const auto* row = reinterpret_cast<const layout::BlockHeader*>(base + off);
      if (!keep(*row)) {
        drop(off);
        continue;
      }
      std::string_view key(reinterpret_cast<const char*>(row) + layout::kRowKeyOffset,
                           row->key_len);
      const uint64_t hash = HashEntityKey(row->view_id, key);
      if (!InsertUnpublished(hash, w)) return -1;
      runs.Add(hash, off, uint64_t{row->units} * layout::kBlockAlign);
      ++kept;
    }
    runs.StoreHints(*this);
    return kept;
  }

  // A row block just written by this writer, to load into a fresh table: its key's hash, where
  // it lies and its size.
  struct FreshRow {
    uint64_t hash;
    uint64_t offset;
    uint64_t bytes;
  };
  // Fills this table, fresh (all zero) and not yet published, with `rows` (distinct keys), and
  // stores each bucket's run hint. False if the table overflowed (nothing to publish then).
  bool LoadFresh(const std::vector<FreshRow>& rows) const {
    RunCollector runs(idx_);
    for (const FreshRow& r : rows) {
      if (!InsertUnpublished(r.hash, layout::MakeIndexWord(layout::TagOf(r.hash), r.offset))) {
        return false;
      }
      runs.Add(r.hash, r.offset, r.bytes);
    }
    runs.StoreHints(*this);
    return true;
  }

 private:
  // The run hints of a table being rebuilt: each bucket's run covers the rows of the keys
  // whose home it is, from its first row's line to its last row's end, and each group's base
  // is its lowest run, so every run within kRunHintReach lines above it gets a hint. Holds two
  // words per bucket.
  class RunCollector {
   public:
    explicit RunCollector(const HashIndex& idx)
        : mask_(idx.bucket_mask_), lo_(idx.buckets(), UINT64_MAX), hi_(idx.buckets(), 0) {}

    // A row block of `bytes` at `offset`, of a key with hash `hash`.
    void Add(uint64_t hash, uint64_t offset, uint64_t bytes) {
      const uint64_t b = hash & mask_;
      lo_[b] = std::min(lo_[b], offset);
      hi_[b] = std::max(hi_[b], offset + bytes);
    }

    // Stores every bucket's hint (the table's hints and bases must still be 0): first each
    // group's base (its lowest run), then the hints relative to it.
    void StoreHints(const IndexWriter& w) const {
      LineRun run;
      for (uint64_t b = 0; b < lo_.size(); ++b) {
        if (hi_[b] == 0 || !SpanRun(lo_[b], hi_[b], &run)) continue;
        std::atomic<uint32_t>& group = w.idx_.run_group(b);
        // relaxed: a hint is only ever a prefetch address (and this table is unpublished).
        const uint64_t base = group.load(std::memory_order_relaxed);
        if (base == 0 || run.first_line < base) {
          group.store(static_cast<uint32_t>(run.first_line), std::memory_order_relaxed);
        }
      }
      for (uint64_t b = 0; b < lo_.size(); ++b) {
        if (hi_[b] != 0 && SpanRun(lo_[b], hi_[b], &run)) w.StoreRunHint(b, run);
      }
    }

   private:
    uint64_t mask_;
    std::vector<uint64_t> lo_, hi_;
  };

  // Inserts `word` for a key known to be absent into this unpublished table: takes the first
  // empty word of the probe sequence. False if the table is full.
  bool InsertUnpublished(uint64_t hash, uint64_t word) const {
    uint64_t b = hash;
    for (uint64_t n = 0; n <= idx_.bucket_mask_; ++n, ++b) {
      std::atomic<uint64_t>* bucket = idx_.bucket(b);
      for (uint32_t i = 0; i < layout::kBucketWords; ++i) {
        // relaxed (both): the table is not published; the descriptor's release store
        // (WriteSession) orders these words before any reader can find them.
        if (bucket[i].load(std::memory_order_relaxed) == 0) {
          bucket[i].store(word, std::memory_order_relaxed);
          return true;
        }
      }
    }
    return false;
  }

  HashIndex idx_;
};

}  // namespace larder
