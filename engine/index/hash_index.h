// The lock-free index: an open-addressing table of 64-bit words in 64-byte buckets, keyed by
// (view id, entity key), hashed with XXH3 (seed = view id).
//
//   bucket b = hash & (buckets - 1); probe b, b+1, ... (wrapping), 8 words per bucket.
//   word = tag:16 | row offset:48, or 0 = empty.  tag = hash >> 48.
//
// Writers (one at a time, under the write lock) only ever fill an empty word or replace a
// row's word with a newer row of the same key (release stores), so a probe stops at the first
// empty word, and a reader that acquire-loads a word sees a complete row behind it.
//
// Only this folder and layout/ know the word format. The types split by thread-safety:
//   HashIndex    a published table as readers see it (a small value: pointers and masks):
//                Find, CandidateRow, prefetches, run hints, ForEach. Any number of readers,
//                concurrently with the writer.
//   IndexWriter  (index_writer.h) the single writer's access under the write lock: publish a
//                row's word, refresh run hints, fill a fresh table in a rebuild.
// Callers see row offsets, slots (IndexSlot) and entries (IndexEntry), never words.
#pragma once

// XXH3 inlined (the same algorithm and values as libxxhash's): the read path hashes every
// entity, and for an 8-byte key the library call and its length dispatch cost more than the
// hash itself.
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "layout/segment_layout.h"

namespace larder {

inline uint64_t HashEntityKey(uint32_t view_id, std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), view_id);
}

// A word the table holds, as ForEach visits it: where it lies and the row it names.
class IndexEntry {
 public:
  uint64_t position() const { return position_; }  // word number in the table
  uint64_t bucket() const { return position_ / layout::kBucketWords; }
  uint64_t row() const { return layout::WordOffset(word_); }  // the row block's offset
  // Whether the word's tag is that of a key with hash `hash`.
  bool TagMatches(uint64_t hash) const { return layout::WordTag(word_) == layout::TagOf(hash); }

 private:
  friend class HashIndex;
  friend class IndexSlot;
  friend class IndexWriter;
  IndexEntry(uint64_t position, uint64_t word) : position_(position), word_(word) {}
  uint64_t position_;
  uint64_t word_;
};

// What a probe for a key found: the key's word, or the empty word it would take (none when
// the table is full). The writer publishes through it (IndexWriter::Publish).
class IndexSlot {
 public:
  bool found() const { return found_; }
  // The row the key's word names (found() only).
  uint64_t row() const { return layout::WordOffset(word_); }
  // Whether the probe ended at a word (false: the table is full and the key absent).
  bool has_slot() const { return slot_ != nullptr; }
  // Whether the probe found exactly `e`'s word.
  bool Holds(const IndexEntry& e) const { return found_ && word_ == e.word_; }

 private:
  friend class HashIndex;
  friend class IndexWriter;
  IndexSlot() = default;
  IndexSlot(std::atomic<uint64_t>* slot, uint64_t word, bool found)
      : slot_(slot), word_(word), found_(found) {}
  std::atomic<uint64_t>* slot_ = nullptr;  // the key's word, or the empty word it would take
  uint64_t word_ = 0;                      // value of *slot_ when probed (0 when not found)
  bool found_ = false;
};

// A run of cache lines: [first_line, first_line + lines) in units of 64 bytes from the
// segment's start.
struct LineRun {
  uint64_t first_line = 0;
  uint32_t lines = 0;
  bool Contains(uint64_t offset) const {
    const uint64_t line = offset / layout::kCacheLine;
    return line >= first_line && line - first_line < lines;
  }
};

// The lines from the one holding byte `first_offset` to the one holding byte `end - 1`, as a
// run a hint can name: false when they are more than kMaxRunLines, or the first line is 0 or
// past what a group base holds (32 bits).
inline bool SpanRun(uint64_t first_offset, uint64_t end, LineRun* run) {
  const uint64_t first = first_offset / layout::kCacheLine;
  const uint64_t lines = (end + layout::kCacheLine - 1) / layout::kCacheLine - first;
  if (first == 0 || first > UINT32_MAX || lines > layout::kMaxRunLines) return false;
  *run = LineRun{first, static_cast<uint32_t>(lines)};
  return true;
}

// The row block behind `offset` if it is a plausible, in-bounds row of `view_id` whose key is
// `key`; nullptr otherwise. Never reads outside [base, base + size).
inline const layout::BlockHeader* MatchRow(const uint8_t* base, uint64_t size, uint64_t offset,
                                           uint32_t view_id, std::string_view key) {
  if (offset < layout::kHeaderSize || (offset & (layout::kBlockAlign - 1)) != 0 ||
      offset > size - sizeof(layout::BlockHeader)) {
    return nullptr;
  }
  const auto* h = reinterpret_cast<const layout::BlockHeader*>(base + offset);
  // Each field is loaded once (layout::LoadOnce): the bounds checked are the bounds used.
  const uint64_t block_bytes = uint64_t{layout::LoadOnce(h->units)} * layout::kBlockAlign;
  const uint16_t key_len = layout::LoadOnce(h->key_len);
  if (layout::LoadOnce(h->kind) != layout::BlockKind::kRow ||
      layout::LoadOnce(h->view_id) != view_id || key_len != key.size() ||
      block_bytes > size - offset ||
      layout::RowPayloadOffset(key_len) + layout::LoadOnce(h->payload_len) > block_bytes) {
    return nullptr;
  }
  const uint8_t* stored = base + offset + layout::kRowKeyOffset;
  if (key.size() == sizeof(uint64_t)) {  // an Int64 key: one compare, not a memcmp call
    uint64_t a, b;
    std::memcpy(&a, stored, sizeof a);
    std::memcpy(&b, key.data(), sizeof b);
    return a == b ? h : nullptr;
  }
  return std::memcmp(stored, key.data(), key.size()) == 0 ? h : nullptr;
}

// Tables up to this size follow run hints (2^20 buckets: 2 MiB of hints, up to ~6.7M
// entities). The hint is a demand load, and in larger tables it misses the caches so often that
// hits gain nothing and misses pay twice: docs/design.md, "Run hints", has the measurements.
inline constexpr uint32_t kMaxHintedLog2Buckets = 20;

static_assert(sizeof(std::atomic<uint16_t>) == 2 && std::atomic<uint16_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free);

// A published index table, as readers see it: what its descriptor names, resolved to
// pointers into the mapping. Copying it copies pointers, not the table. Every method here is
// safe in any number of readers concurrently with the writer.
class HashIndex {
 public:
  HashIndex() = default;

  // Whether the table `desc` names lies wholly inside a file of `file_size` bytes, past the
  // header: what a reader checks every time it loads the descriptor, since the segment is
  // shared memory that may be damaged after attach. Two compares and a shift: no syscall, no
  // loop.
  static bool DescInBounds(uint64_t desc, uint64_t file_size) {
    constexpr uint32_t kMaxLog2Buckets = 40;  // as the attach check (segment_file.cc)
    const uint64_t data = layout::DescDataOffset(desc);
    const uint32_t log2 = layout::DescLog2Buckets(desc);
    return log2 <= kMaxLog2Buckets && data >= layout::kHeaderSize + layout::kIndexDataOffset &&
           data <= file_size && layout::IndexDataBytes(log2) <= file_size - data;
  }

  // The table descriptor `desc` names in the mapping at `base` (DescInBounds checked first).
  static HashIndex FromDesc(uint8_t* base, uint64_t desc) {
    HashIndex r;
    r.data_offset_ = layout::DescDataOffset(desc);
    r.log2_buckets_ = layout::DescLog2Buckets(desc);
    r.bucket_mask_ = (uint64_t{1} << r.log2_buckets_) - 1;
    r.group_mask_ = layout::RunGroups(r.log2_buckets_) - 1;
    uint8_t* data = base + r.data_offset_;
    r.words_ = reinterpret_cast<std::atomic<uint64_t>*>(data);
    r.run_groups_ =
        reinterpret_cast<std::atomic<uint32_t>*>(data + layout::RunGroupsOffset(r.log2_buckets_));
    r.hints_ =
        reinterpret_cast<std::atomic<uint16_t>*>(data + layout::RunHintsOffset(r.log2_buckets_));
    return r;
  }

  uint32_t log2_buckets() const { return log2_buckets_; }
  uint64_t buckets() const { return bucket_mask_ + 1; }
  uint64_t capacity_words() const { return (bucket_mask_ + 1) * layout::kBucketWords; }
  // The table's bytes after its block start: buckets and run hints.
  uint64_t bytes() const { return layout::IndexDataBytes(log2_buckets_); }
  // Offset of the table's words in the segment, and of the arena block that holds them.
  uint64_t data_offset() const { return data_offset_; }
  uint64_t block_offset() const { return data_offset_ - layout::kIndexDataOffset; }
  // The load limit: beyond this many words the table is rebuilt at twice the size.
  uint64_t max_entries() const { return capacity_words() * 4 / 5; }
  uint64_t home_bucket(uint64_t hash) const { return hash & bucket_mask_; }

  // Probes for (view_id, key) with hash `hash`, from its home bucket on (wrapping), stopping
  // at the first empty word. Bounded by the table size, so a corrupt full table cannot loop.
  // Rows are checked with MatchRow: never reads outside [base, base + size).
  IndexSlot Find(const uint8_t* base, uint64_t size, uint64_t hash, uint32_t view_id,
                 std::string_view key) const {
    const uint16_t tag = layout::TagOf(hash);
    const uint64_t buckets = bucket_mask_ + 1;
    uint64_t b = hash;
    for (uint64_t n = 0; n < buckets; ++n, ++b) {
      std::atomic<uint64_t>* bucket = this->bucket(b);
      for (uint32_t i = 0; i < layout::kBucketWords; ++i) {
        // acquire: pairs with the writer's release store of the word, so the row bytes
        // written before publication are visible.
        uint64_t w = bucket[i].load(std::memory_order_acquire);
        if (w == 0) return IndexSlot(&bucket[i], 0, false);
        if (layout::WordTag(w) == tag &&
            MatchRow(base, size, layout::WordOffset(w), view_id, key) != nullptr) {
          return IndexSlot(&bucket[i], w, true);
        }
      }
    }
    return IndexSlot();
  }

  // Find's row block, or nullptr when the key is absent.
  const layout::BlockHeader* FindRow(const uint8_t* base, uint64_t size, uint64_t hash,
                                     uint32_t view_id, std::string_view key) const {
    const IndexSlot p = Find(base, size, hash, view_id, key);
    return p.found() ? reinterpret_cast<const layout::BlockHeader*>(base + p.row()) : nullptr;
  }

  // The row offset of the first word in `hash`'s home bucket with its key's tag, or 0 when
  // there is none before an empty word: the likely row, to prefetch before it is checked
  // (MatchRow) in a batch pipeline. A miss here (tag collision, a key past its home bucket)
  // is settled by Find.
  uint64_t CandidateRow(uint64_t hash) const {
    const uint16_t tag = layout::TagOf(hash);
    const std::atomic<uint64_t>* bucket = this->bucket(hash);
    for (uint32_t w = 0; w < layout::kBucketWords; ++w) {
      const uint64_t word = bucket[w].load(std::memory_order_acquire);  // pairs with publish
      if (word == 0) return 0;
      if (layout::WordTag(word) == tag) return layout::WordOffset(word);
    }
    return 0;
  }

  void PrefetchBucket(uint64_t hash) const { __builtin_prefetch(bucket(hash), 0, 3); }

  // Prefetches the bucket of `hash` and, in tables of up to 2^kMaxHintedLog2Buckets buckets,
  // the lines its run hint names (those inside the first `size` bytes of the segment): a
  // single lookup's two reads then start together.
  void PrefetchBucketAndRun(const uint8_t* base, uint64_t size, uint64_t hash) const {
    __builtin_prefetch(bucket(hash), 0, 3);
    if (log2_buckets_ > kMaxHintedLog2Buckets) return;
    LineRun run;
    if (!HintedRun(hash, &run)) return;
    const uint64_t first = run.first_line * layout::kCacheLine;
    const uint64_t bytes = uint64_t{run.lines} * layout::kCacheLine;
    if (first > size || bytes > size - first) return;
    for (uint64_t line = 0; line < bytes; line += layout::kCacheLine) {
      __builtin_prefetch(base + first + line, 0, 3);
    }
  }

  // The lines bucket `b`'s hint names; false when it has none. The lines may lie anywhere.
  bool HintedRun(uint64_t b, LineRun* run) const {
    // relaxed (both): a hint is only ever a prefetch address, never read through.
    const uint16_t hint = hint_of(b).load(std::memory_order_relaxed);
    const uint64_t base = run_group(b).load(std::memory_order_relaxed);
    if (hint == 0 || base == 0) return false;
    run->first_line = base + static_cast<uint64_t>(layout::RunHintDelta(hint));
    run->lines = layout::RunHintLines(hint);
    return true;
  }

  // Calls visit(const IndexEntry&) for every non-empty word, in table order, each once. The
  // words are acquire-loaded (pairs with the writer's publication), so a row a visited word
  // names was complete when published; the words themselves may be damaged (the caller bounds-
  // checks the rows it reads).
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    const uint64_t n = capacity_words();
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t w = words_[i].load(std::memory_order_acquire);
      if (w != 0) visit(IndexEntry(i, w));
    }
  }

  // The words a probe for `e`'s key (hash `hash`) loads before it reaches `e`, counting `e`,
  // and the buckets it visits: how far `e` lies from its home bucket.
  uint64_t ProbeWords(const IndexEntry& e, uint64_t hash) const {
    return (ProbeBuckets(e, hash) - 1) * layout::kBucketWords +
           e.position() % layout::kBucketWords + 1;
  }
  uint64_t ProbeBuckets(const IndexEntry& e, uint64_t hash) const {
    return ((e.bucket() - home_bucket(hash)) & bucket_mask_) + 1;
  }

  // The words a probe for an absent key with home bucket `b` loads: every non-empty word from
  // the bucket's start on (wrapping, at most the whole table), and the empty one that ends it.
  uint64_t MissProbeWords(uint64_t b) const {
    const uint64_t n_words = capacity_words();
    uint64_t n = 0;
    for (uint64_t i = (b & bucket_mask_) * layout::kBucketWords; n < n_words;
         ++n, i = (i + 1) % n_words) {
      // acquire: as Find.
      if (words_[i].load(std::memory_order_acquire) == 0) break;
    }
    return n + 1;
  }

 private:
  friend class IndexWriter;

  std::atomic<uint64_t>* bucket(uint64_t b) const {
    return words_ + (b & bucket_mask_) * layout::kBucketWords;
  }
  std::atomic<uint16_t>& hint_of(uint64_t b) const { return hints_[b & bucket_mask_]; }
  std::atomic<uint32_t>& run_group(uint64_t b) const { return run_groups_[b & group_mask_]; }

  std::atomic<uint64_t>* words_ = nullptr;
  // Run hints (layout/segment_layout.h, "Run hints"): a base line per group of buckets and a
  // 16-bit hint per bucket. Relaxed loads and stores: a hint is only ever a prefetch address.
  std::atomic<uint32_t>* run_groups_ = nullptr;
  std::atomic<uint16_t>* hints_ = nullptr;
  uint64_t bucket_mask_ = 0;  // buckets - 1
  uint64_t group_mask_ = 0;   // run groups - 1
  uint64_t data_offset_ = 0;
  uint32_t log2_buckets_ = 0;
};

// A sort key that puts the keys of each bucket together at every table size: the hash with
// its bits reversed (a bucket is the hash's low bits, which become the key's high bits).
// Rows written in this order lie side by side per bucket however often the table doubles.
inline uint64_t BucketOrderKey(uint64_t hash) {
  uint64_t x = __builtin_bswap64(hash);
  x = ((x >> 4) & 0x0F0F0F0F0F0F0F0Full) | ((x & 0x0F0F0F0F0F0F0F0Full) << 4);
  x = ((x >> 2) & 0x3333333333333333ull) | ((x & 0x3333333333333333ull) << 2);
  return ((x >> 1) & 0x5555555555555555ull) | ((x & 0x5555555555555555ull) << 1);
}

// Positions 0..n-1 ordered by BucketOrderKey(hash_of(i)), equal keys in position order: the
// order to write n rows in so that each bucket's rows lie side by side (bulk pushes,
// materialize, the benchmarks' builds).
template <typename HashOf>
std::vector<uint32_t> InBucketOrder(size_t n, HashOf&& hash_of) {
  std::vector<std::pair<uint64_t, uint32_t>> keyed(n);
  for (size_t i = 0; i < n; ++i) {
    keyed[i] = {BucketOrderKey(hash_of(i)), static_cast<uint32_t>(i)};
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = keyed[i].second;
  return order;
}

// Smallest log2(buckets) whose HashIndex::max_entries() holds `entries` (at least 1 bucket).
inline uint32_t Log2BucketsFor(uint64_t entries) {
  uint32_t log2 = 0;
  while (((uint64_t{1} << log2) * layout::kBucketWords * 4 / 5) < entries) ++log2;
  return log2;
}

}  // namespace larder
