// Snapshot reads (docs/design.md, "Snapshot reads"): which version of a key's row a read
// request sees.
//
// Every row carries a RowVersion (layout/segment_layout.h): the write batch that wrote it and
// the row it replaced. A request takes SegmentHeader::visible_seq once, inside its epoch, as its
// snapshot; a row stamped with a later batch is not yet part of that snapshot, and the request
// follows `prev` back to the version that is (none: the key is absent at the snapshot). Every
// version on that chain was retired in an epoch the request's own epoch still holds back, so
// its bytes are intact while the request reads it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "engine/index/hash_index.h"
#include "layout/segment_layout.h"

namespace larder {

// The `seq` of a row that no snapshot ever sees: the first row of its key written by a batch
// whose writer died (recovery withdraws it in place, IndexWriter::RollBackRowsAfter). Its
// `prev` is 0, so every request reads its key as absent, and the next push of the key replaces
// it whatever the timestamps.
inline constexpr uint64_t kNeverVisible = UINT64_MAX;

// The snapshot of a request that reads the newest rows whatever batch wrote them
// (ReaderOptions::snapshot_reads off); rows withdrawn by recovery stay unseen.
inline constexpr uint64_t kNewestRows = kNeverVisible - 1;

// The two words are loaded once each (the segment's bytes may change under a reader: a
// withdrawn hold, or a hostile writer); relaxed, ordered by the index word the row came from.
inline layout::RowVersion RowVersionOf(const layout::BlockHeader* row) {
  const auto* words = reinterpret_cast<const uint64_t*>(reinterpret_cast<const uint8_t*>(row) +
                                                        layout::kRowVersionOffset);
  return layout::RowVersion{__atomic_load_n(&words[0], __ATOMIC_RELAXED),
                            __atomic_load_n(&words[1], __ATOMIC_RELAXED)};
}

// Writer only: the version of a row block not yet published (its index word's release store
// orders these stores before any reader finds the row).
inline void SetRowVersion(uint8_t* row_block, const layout::RowVersion& v) {
  auto* words = reinterpret_cast<uint64_t*>(row_block + layout::kRowVersionOffset);
  __atomic_store_n(&words[0], v.seq, __ATOMIC_RELAXED);
  __atomic_store_n(&words[1], v.prev, __ATOMIC_RELAXED);
}

// Writer only (recovery): makes a published row of a dead batch {kNeverVisible, 0}. prev is
// stored first, so a writer killed between the two stores leaves {seq, 0}, which the next
// recovery withdraws again (and every reader already reads as absent).
inline void WithdrawRow(uint8_t* row_block) {
  auto* words = reinterpret_cast<uint64_t*>(row_block + layout::kRowVersionOffset);
  __atomic_store_n(&words[1], uint64_t{0}, __ATOMIC_RELAXED);
  __atomic_store_n(&words[0], kNeverVisible, __ATOMIC_RELAXED);
}

// Whether `row` was withdrawn by recovery ({kNeverVisible, 0}): counted nowhere, read as
// absent.
inline bool IsWithdrawnRow(const layout::BlockHeader* row) {
  const layout::RowVersion v = RowVersionOf(row);
  return v.seq == kNeverVisible && v.prev == 0;
}

// What a snapshot sees of a key's row.
struct SnapshotRow {
  const layout::BlockHeader* row = nullptr;  // the version to read; nullptr: absent or broken
  bool broken = false;  // a `prev` link names no earlier row of this key (a corrupt segment)
};

// The version of `row` (a matched row of (view_id, key)) that snapshot `snapshot` sees: `row`
// itself when its batch is at most `snapshot`, else the newest version on its `prev` chain
// that is. Each link must name a row of the same key from an earlier batch (MatchRow, and a
// strictly smaller seq), and a row past the snapshot can be at most one batch past the
// store's visible_seq (the batch being written); so the walk takes at most as many steps as
// batches were made visible since the snapshot, and a damaged chain ends (as `broken`) without
// leaving the mapping.
inline SnapshotRow VersionAt(const uint8_t* base, uint64_t size, const layout::BlockHeader* row,
                             uint32_t view_id, std::string_view key, uint64_t snapshot,
                             const std::atomic<uint64_t>& visible_seq) {
  layout::RowVersion v = RowVersionOf(row);
  if (v.seq <= snapshot) return {row, false};  // the common case: one compare
  if (v.prev == 0) return {};  // first written after the snapshot, or withdrawn: absent
  // relaxed: only a bound; a newer value only allows more steps of a valid chain.
  const uint64_t newest = visible_seq.load(std::memory_order_relaxed) + 1;
  if (v.seq > newest) return {nullptr, true};
  while (v.seq > snapshot) {
    if (v.prev == 0) return {};
    const layout::BlockHeader* older = MatchRow(base, size, v.prev, view_id, key);
    if (older == nullptr) return {nullptr, true};
    const layout::RowVersion ov = RowVersionOf(older);
    if (ov.seq >= v.seq) return {nullptr, true};
    row = older;
    v = ov;
  }
  return {row, false};
}

}  // namespace larder
