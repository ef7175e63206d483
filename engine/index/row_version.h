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

#include <cstdint>
#include <cstring>
#include <string_view>

#include "engine/index/hash_index.h"
#include "layout/segment_layout.h"

namespace larder {

// The snapshot of a request that reads the newest rows whatever batch wrote them
// (ReaderOptions::snapshot_reads off).
inline constexpr uint64_t kNewestRows = UINT64_MAX;

inline layout::RowVersion RowVersionOf(const layout::BlockHeader* row) {
  layout::RowVersion v;
  std::memcpy(&v, reinterpret_cast<const uint8_t*>(row) + layout::kRowVersionOffset, sizeof v);
  return v;
}

inline void SetRowVersion(uint8_t* row_block, const layout::RowVersion& v) {
  std::memcpy(row_block + layout::kRowVersionOffset, &v, sizeof v);
}

// What a snapshot sees of a key's row.
struct SnapshotRow {
  const layout::BlockHeader* row = nullptr;  // the version to read; nullptr: absent or broken
  bool broken = false;  // a `prev` link names no earlier row of this key (a corrupt segment)
};

// The version of `row` (a matched row of (view_id, key)) that snapshot `snapshot` sees: `row`
// itself when its batch is at most `snapshot`, else the newest version on its `prev` chain
// that is. Each link must name a row of the same key from an earlier batch (MatchRow, and a
// strictly smaller seq), so a damaged chain ends (as `broken`) and never leaves the mapping.
inline SnapshotRow VersionAt(const uint8_t* base, uint64_t size, const layout::BlockHeader* row,
                             uint32_t view_id, std::string_view key, uint64_t snapshot) {
  layout::RowVersion v = RowVersionOf(row);
  while (v.seq > snapshot) {
    if (v.prev == 0) return {};  // the key was written first by a batch after the snapshot
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
