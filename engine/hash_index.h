// The lock-free index: an open-addressing table of 64-bit words in 64-byte buckets, keyed by
// (view id, entity key), hashed with XXH3 (seed = view id).
//
//   bucket b = hash & (buckets - 1); probe b, b+1, ... (wrapping), 8 words per bucket.
//   word = tag:16 | row offset:48, or 0 = empty.  tag = hash >> 48.
//
// Writers (one at a time, under the write lock) only ever fill an empty word or replace a
// row's word with a newer row of the same key (release stores), so a probe stops at the first
// empty word, and a reader that acquire-loads a word sees a complete row behind it.
// Thread-safety: Find* may run in any number of readers concurrently with the writer's
// Insert/Replace; Insert, Replace and Rebuild are writer-only.
#pragma once

// XXH3 inlined (the same algorithm and values as libxxhash's): the read path hashes every
// entity, and for an 8-byte key the library call and its length dispatch cost more than the
// hash itself.
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "layout/segment_layout.h"

namespace larder {

inline uint64_t HashEntityKey(uint32_t view_id, std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), view_id);
}

struct IndexRef {
  std::atomic<uint64_t>* words = nullptr;
  uint64_t bucket_mask = 0;  // buckets - 1
  uint64_t data_offset = 0;
  uint32_t log2_buckets = 0;

  uint64_t capacity_words() const { return (bucket_mask + 1) * layout::kBucketWords; }
  uint64_t bytes() const { return (bucket_mask + 1) * layout::kCacheLine; }
  std::atomic<uint64_t>* bucket(uint64_t b) const {
    return words + (b & bucket_mask) * layout::kBucketWords;
  }
};

inline IndexRef IndexFromDesc(uint8_t* base, uint64_t desc) {
  IndexRef r;
  r.data_offset = layout::DescDataOffset(desc);
  r.log2_buckets = layout::DescLog2Buckets(desc);
  r.bucket_mask = (uint64_t{1} << r.log2_buckets) - 1;
  r.words = reinterpret_cast<std::atomic<uint64_t>*>(base + r.data_offset);
  return r;
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

// The table's load limit: beyond this many words it is rebuilt at twice the size.
inline uint64_t MaxEntries(const IndexRef& idx) { return idx.capacity_words() * 4 / 5; }

// Smallest log2(buckets) whose MaxEntries() holds `entries` (at least 1 bucket).
inline uint32_t Log2BucketsFor(uint64_t entries) {
  uint32_t log2 = 0;
  while (((uint64_t{1} << log2) * layout::kBucketWords * 4 / 5) < entries) ++log2;
  return log2;
}

}  // namespace larder
