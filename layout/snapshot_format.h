// Every byte of a snapshot file (`larder snapshot OUT`, read back by `larder restore IN`): a
// copy of one store's rows and registry as of one write batch. docs/design.md, "Snapshots".
//
//   +----------------------+ 0
//   | SnapshotHeader 64    |  magic, versions, counts, the batch the copy is of
//   +----------------------+ 64
//   | registry             |  registry_bytes: the store's Registry FlatBuffer (registry.fbs)
//   +----------------------+ padded to 8
//   | row record | ...     |  row_count records: SnapshotRow, key, payload (each padded to 8)
//   +----------------------+
//   | checksum 8           |  XXH3-64 (seed 0) of every byte before it
//   +----------------------+ end of file
//
// Integers are little-endian (the only byte order Larder builds for: layout/segment_layout.h).
// A row's key and payload are the bytes the segment stores (layout/entity_key.h, row.fbs), so
// a snapshot is only readable by a build of the same segment layout version and ABI
// fingerprint; any other is refused by name.
//
// Rule for kSnapshotFormatVersion: bump it on any change to a struct here or to the order of
// the sections above.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace larder::layout {

inline constexpr char kSnapshotMagic[8] = {'L', 'A', 'R', 'D', 'E', 'R', 'S', 'N'};
inline constexpr uint32_t kSnapshotFormatVersion = 1;

struct SnapshotHeader {
  char magic[8];
  uint32_t format_version;          // kSnapshotFormatVersion
  uint32_t segment_layout_version;  // layout::kLayoutVersion of the build that wrote it
  uint64_t abi_fingerprint;         // layout::AbiFingerprint() of that build
  uint64_t visible_batch;           // the store's visible_seq: every batch up to it, none after
  int64_t taken_micros;             // when the copy was made (Unix microseconds)
  uint64_t registry_bytes;          // length of the registry section (before its padding)
  uint64_t row_count;               // row records that follow the registry
  uint64_t rows_bytes;              // length of the row records section (padding included)
};
static_assert(sizeof(SnapshotHeader) == 64 && std::is_trivially_copyable_v<SnapshotHeader>);

// One row: the view it belongs to (an id of the snapshot's registry), then key_len bytes of
// entity key and payload_len bytes of row FlatBuffer, each padded to a multiple of 8 (so the
// payload keeps the 8-byte alignment its FlatBuffer needs).
struct SnapshotRow {
  uint32_t view_id;
  uint32_t key_len;
  uint32_t payload_len;
  uint32_t reserved;  // 0
};
static_assert(sizeof(SnapshotRow) == 16 && std::is_trivially_copyable_v<SnapshotRow>);

inline constexpr size_t kSnapshotChecksumBytes = 8;

constexpr uint64_t SnapshotPad8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// Bytes of one row record, padding included.
constexpr uint64_t SnapshotRowBytes(uint64_t key_len, uint64_t payload_len) {
  return sizeof(SnapshotRow) + SnapshotPad8(key_len) + SnapshotPad8(payload_len);
}

}  // namespace larder::layout
