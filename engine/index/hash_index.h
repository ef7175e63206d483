// The lock-free index: an open-addressing table of 64-bit words in 64-byte buckets, keyed by
// (view id, entity key), hashed with XXH3 (seed = view id).
//
//   bucket b = hash & (buckets - 1); probe b, b+1, ... (wrapping), 8 words per bucket.
//   word = tag:16 | row offset:48, or 0 = empty.  tag = hash >> 48.
//
// Writers (one at a time, under the write lock) only ever fill an empty word or replace a
// row's word with a newer row of the same key (release stores), so a probe stops at the first
// empty word, and a reader that acquire-loads a word sees a complete row behind it.
// Thread-safety: ProbeIndex, MatchRow, HintedRun and the Prefetch* functions may run in any
// number of readers concurrently with the writer; InsertUnpublished, RunOfBucket,
// StoreRunHint and RefreshRunHint are writer-only (publication of a word is the writer's
// release store, engine/push.cc; rebuilds are engine/write_session.cc's).
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

struct IndexRef {
  std::atomic<uint64_t>* words = nullptr;
  // Run hints (layout/segment_layout.h, "Run hints"): a base line per group of buckets and a
  // 16-bit hint per bucket. Relaxed loads and stores: a hint is only ever a prefetch address.
  std::atomic<uint32_t>* run_groups = nullptr;
  std::atomic<uint16_t>* hints = nullptr;
  uint64_t bucket_mask = 0;  // buckets - 1
  uint64_t group_mask = 0;   // run groups - 1
  uint64_t data_offset = 0;
  uint32_t log2_buckets = 0;

  uint64_t capacity_words() const { return (bucket_mask + 1) * layout::kBucketWords; }
  // The table's bytes after its block start: buckets and run hints.
  uint64_t bytes() const { return layout::IndexDataBytes(log2_buckets); }
  std::atomic<uint64_t>* bucket(uint64_t b) const {
    return words + (b & bucket_mask) * layout::kBucketWords;
  }
  std::atomic<uint16_t>& hint(uint64_t b) const { return hints[b & bucket_mask]; }
  std::atomic<uint32_t>& run_group(uint64_t b) const { return run_groups[b & group_mask]; }
};

static_assert(sizeof(std::atomic<uint16_t>) == 2 && std::atomic<uint16_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free);

// Whether the table `desc` names lies wholly inside a file of `file_size` bytes, past the
// header: what a reader checks every time it loads the descriptor, since the segment is shared
// memory that may be damaged after attach. Two compares and a shift: no syscall, no loop.
inline bool IndexDescInBounds(uint64_t desc, uint64_t file_size) {
  constexpr uint32_t kMaxLog2Buckets = 40;  // as the attach check (segment_file.cc)
  const uint64_t data = layout::DescDataOffset(desc);
  const uint32_t log2 = layout::DescLog2Buckets(desc);
  return log2 <= kMaxLog2Buckets && data >= layout::kHeaderSize + layout::kIndexDataOffset &&
         data <= file_size && layout::IndexDataBytes(log2) <= file_size - data;
}

inline IndexRef IndexFromDesc(uint8_t* base, uint64_t desc) {
  IndexRef r;
  r.data_offset = layout::DescDataOffset(desc);
  r.log2_buckets = layout::DescLog2Buckets(desc);
  r.bucket_mask = (uint64_t{1} << r.log2_buckets) - 1;
  r.group_mask = layout::RunGroups(r.log2_buckets) - 1;
  uint8_t* data = base + r.data_offset;
  r.words = reinterpret_cast<std::atomic<uint64_t>*>(data);
  r.run_groups =
      reinterpret_cast<std::atomic<uint32_t>*>(data + layout::RunGroupsOffset(r.log2_buckets));
  r.hints = reinterpret_cast<std::atomic<uint16_t>*>(data + layout::RunHintsOffset(r.log2_buckets));
  return r;
}

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

// The lines bucket `b`'s hint names; false when it has none. The lines may lie anywhere.
inline bool HintedRun(const IndexRef& idx, uint64_t b, LineRun* run) {
  const uint16_t hint = idx.hint(b).load(std::memory_order_relaxed);
  const uint64_t base = idx.run_group(b).load(std::memory_order_relaxed);
  if (hint == 0 || base == 0) return false;
  run->first_line = base + static_cast<uint64_t>(layout::RunHintDelta(hint));
  run->lines = layout::RunHintLines(hint);
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
  uint64_t block_bytes = uint64_t{h->units} * layout::kBlockAlign;
  if (h->kind != layout::BlockKind::kRow || h->view_id != view_id || h->key_len != key.size() ||
      block_bytes > size - offset ||
      layout::RowPayloadOffset(h->key_len) + h->payload_len > block_bytes) {
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

struct ProbeResult {
  std::atomic<uint64_t>* slot = nullptr;  // the key's word, or the empty word it would take
  uint64_t word = 0;                      // current value of *slot (0 when not found)
  bool found = false;
};

// Probes for (view_id, key). Bounded by the table size, so a corrupt full table cannot loop.
inline ProbeResult ProbeIndex(const uint8_t* base, uint64_t size, const IndexRef& idx,
                              uint64_t hash, uint32_t view_id, std::string_view key) {
  const uint16_t tag = layout::TagOf(hash);
  const uint64_t buckets = idx.bucket_mask + 1;
  uint64_t b = hash;
  for (uint64_t n = 0; n < buckets; ++n, ++b) {
    std::atomic<uint64_t>* bucket = idx.bucket(b);
    for (uint32_t i = 0; i < layout::kBucketWords; ++i) {
      // acquire: pairs with the writer's release store of the word, so the row bytes written
      // before publication are visible.
      uint64_t w = bucket[i].load(std::memory_order_acquire);
      if (w == 0) return {&bucket[i], 0, false};
      if (layout::WordTag(w) == tag &&
          MatchRow(base, size, layout::WordOffset(w), view_id, key) != nullptr) {
        return {&bucket[i], w, true};
      }
    }
  }
  return {};
}

inline void PrefetchBucket(const IndexRef& idx, uint64_t hash) {
  __builtin_prefetch(idx.bucket(hash), 0, 3);
}

// Tables up to this size follow run hints (2^20 buckets: 2 MiB of hints, up to ~6.7M
// entities). The hint is a demand load, and in larger tables it misses the caches so often that
// hits gain nothing and misses pay twice: docs/design.md, "Run hints", has the measurements.
inline constexpr uint32_t kMaxHintedLog2Buckets = 20;

// Prefetches the bucket of `hash` and, in tables of up to 2^kMaxHintedLog2Buckets buckets, the
// lines its run hint names (those inside the first `size` bytes of the segment): a single
// lookup's two reads then start together.
inline void PrefetchBucketAndRun(const uint8_t* base, uint64_t size, const IndexRef& idx,
                                 uint64_t hash) {
  __builtin_prefetch(idx.bucket(hash), 0, 3);
  if (idx.log2_buckets > kMaxHintedLog2Buckets) return;
  LineRun run;
  if (!HintedRun(idx, hash, &run)) return;
  const uint64_t first = run.first_line * layout::kCacheLine;
  const uint64_t bytes = uint64_t{run.lines} * layout::kCacheLine;
  if (first > size || bytes > size - first) return;
  for (uint64_t line = 0; line < bytes; line += layout::kCacheLine) {
    __builtin_prefetch(base + first + line, 0, 3);
  }
}

// The run of bucket `b`'s rows as its words stand: from its first row's line to three lines
// past its last row's start (a typical row's lines; the hint is only a prefetch). False when
// the bucket is empty or those lines are more than kMaxRunLines. Writer-only.
inline bool RunOfBucket(const IndexRef& idx, uint64_t b, LineRun* run) {
  uint64_t lo = UINT64_MAX, hi = 0;
  const std::atomic<uint64_t>* bucket = idx.bucket(b);
  for (uint32_t i = 0; i < layout::kBucketWords; ++i) {
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
// base's reach. Writer-only.
inline bool StoreRunHint(const IndexRef& idx, uint64_t b, const LineRun& run) {
  std::atomic<uint32_t>& group = idx.run_group(b);
  uint64_t base = group.load(std::memory_order_relaxed);
  if (base == 0) {
    base = run.first_line;
    group.store(static_cast<uint32_t>(base), std::memory_order_relaxed);
  }
  const uint16_t hint = layout::MakeRunHint(
      static_cast<int64_t>(run.first_line) - static_cast<int64_t>(base), run.lines);
  if (hint == 0) return false;
  idx.hint(b).store(hint, std::memory_order_relaxed);
  return true;
}

// After a word of bucket `b` changed: the bucket's hint follows its rows when they lie close
// together. When they no longer do (a row was replaced by one written elsewhere), the old hint
// stays: it still names the rows that did not move. Writer-only.
inline void RefreshRunHint(const IndexRef& idx, uint64_t b) {
  LineRun run;
  if (RunOfBucket(idx, b, &run)) StoreRunHint(idx, b, run);
}

// The run hints of a table being built (an index rebuild): each bucket's run covers the rows
// of the keys whose home it is, from its first row's line to its last row's end, and each
// group's base is its lowest run, so every run within kRunHintReach lines above it gets a
// hint. Writer-only; holds two words per bucket.
class RunCollector {
 public:
  explicit RunCollector(const IndexRef& idx)
      : idx_(idx), lo_(idx.bucket_mask + 1, UINT64_MAX), hi_(idx.bucket_mask + 1, 0) {}

  // A row block of `bytes` at `offset`, of a key with hash `hash`.
  void Add(uint64_t hash, uint64_t offset, uint64_t bytes) {
    const uint64_t b = hash & idx_.bucket_mask;
    lo_[b] = std::min(lo_[b], offset);
    hi_[b] = std::max(hi_[b], offset + bytes);
  }

  // Stores every bucket's hint (the table's hints and bases must still be 0): first each
  // group's base (its lowest run), then the hints relative to it.
  void StoreHints() const {
    LineRun run;
    for (uint64_t b = 0; b < lo_.size(); ++b) {
      if (hi_[b] == 0 || !SpanRun(lo_[b], hi_[b], &run)) continue;
      std::atomic<uint32_t>& group = idx_.run_group(b);
      const uint64_t base = group.load(std::memory_order_relaxed);
      if (base == 0 || run.first_line < base) {
        group.store(static_cast<uint32_t>(run.first_line), std::memory_order_relaxed);
      }
    }
    for (uint64_t b = 0; b < lo_.size(); ++b) {
      if (hi_[b] != 0 && SpanRun(lo_[b], hi_[b], &run)) StoreRunHint(idx_, b, run);
    }
  }

 private:
  const IndexRef idx_;
  std::vector<uint64_t> lo_, hi_;
};

// Inserts `word` for a key known to be absent into a table that is not yet published (used by
// Rebuild): takes the first empty word of the probe sequence. Returns false if the table is full.
inline bool InsertUnpublished(const IndexRef& idx, uint64_t hash, uint64_t word) {
  uint64_t b = hash;
  for (uint64_t n = 0; n <= idx.bucket_mask; ++n, ++b) {
    std::atomic<uint64_t>* bucket = idx.bucket(b);
    for (uint32_t i = 0; i < layout::kBucketWords; ++i) {
      if (bucket[i].load(std::memory_order_relaxed) == 0) {
        bucket[i].store(word, std::memory_order_relaxed);
        return true;
      }
    }
  }
  return false;
}

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

// The table's load limit: beyond this many words it is rebuilt at twice the size.
inline uint64_t MaxEntries(const IndexRef& idx) { return idx.capacity_words() * 4 / 5; }

// Smallest log2(buckets) whose MaxEntries() holds `entries` (at least 1 bucket).
inline uint32_t Log2BucketsFor(uint64_t entries) {
  uint32_t log2 = 0;
  while (((uint64_t{1} << log2) * layout::kBucketWords * 4 / 5) < entries) ++log2;
  return log2;
}

}  // namespace larder
