// Every byte Larder keeps in shared memory: the segment header, arena blocks, index words and
// the reader table. docs/design.md draws these; this file is the authority.
//
//   PATH (the segment, mapped read-write by the writer and read-only by readers)
//   +--------------------+ 0
//   | SegmentHeader 4096 |  magic, version, ABI fingerprint, publication words, allocator state
//   +--------------------+ arena_begin (4096)
//   | block | block | ...|  16-byte aligned blocks: rows, index tables, registry blobs, free
//   +--------------------+ arena_top (bump pointer; grows toward file_size)
//   | untouched (sparse) |
//   +--------------------+ file_size (= memory_limit)
//
//   PATH.readers: ReaderTableHeader + kReaderSlots ReaderSlots (mapped read-write by everyone)
//   PATH.lock:    empty file; the writer holds flock(LOCK_EX) on it for each write batch
//
// Rule for kLayoutVersion: bump it on any change to a struct here, to row.fbs or registry.fbs
// that an older build would misread. Readers refuse any other version.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace larder::layout {

inline constexpr char kSegmentMagic[8] = {'L', 'A', 'R', 'D', 'E', 'R', 'S', 'G'};
inline constexpr char kReadersMagic[8] = {'L', 'A', 'R', 'D', 'E', 'R', 'R', 'T'};
// 2: index blocks carry run hints; 3: rows carry a RowVersion, the header visible_seq
inline constexpr uint32_t kLayoutVersion = 3;
inline constexpr uint64_t kReadyValue = 0x5245414459000000ull | kLayoutVersion;  // "READY"+ver

inline constexpr size_t kCacheLine = 64;
inline constexpr size_t kHeaderSize = 4096;
inline constexpr size_t kBlockAlign = 16;        // every block starts at a multiple of this
inline constexpr uint32_t kSmallClasses = 256;   // exact-size free lists for 1..256 units
inline constexpr uint32_t kLimboRing = 64;       // epochs that may await reclamation at once
inline constexpr uint32_t kReaderSlots = 1024;   // reader threads per store on one host
inline constexpr uint32_t kBucketWords = 8;      // index words per 64-byte bucket

// Cross-process atomics are sound only when lock-free (no libatomic lock inside the mapping).
static_assert(std::atomic<uint64_t>::is_always_lock_free, "64-bit atomics must be lock-free");
static_assert(sizeof(std::atomic<uint64_t>) == 8, "atomic<uint64_t> must be a plain word");

// ---- Blocks ---------------------------------------------------------------------------------

enum class BlockKind : uint8_t {
  kPad = 1,       // alignment filler of 1..3 units; only `units` and `kind` are meaningful
  kFree = 2,      // on a free list; `link` = next free block of its class (0 = end)
  kRow = 3,       // an entity's row: header, key bytes, padding to 8, FlatBuffer Row
  kIndex = 4,     // an index table: its buckets start 64 bytes into the block, run hints follow
  kRegistry = 5,  // a FlatBuffer Registry at offset 24
};

// The first 24 bytes of every block (only the first 8 for kPad). Rows are immutable once their
// index word is published; a retired row keeps its bytes (readers may still read it) and only
// `link` changes, which readers never read.
struct BlockHeader {
  uint32_t units;        // block size / kBlockAlign, header included; never 0
  BlockKind kind;
  uint8_t flags;
  uint16_t key_len;      // kRow: entity key bytes that follow the header
  uint32_t view_id;      // kRow: the feature view's id
  uint32_t payload_len;  // kRow: FlatBuffer bytes; kRegistry: FlatBuffer bytes
  uint64_t link;         // free list / limbo list link (block offset; 0 = end). Writer only.
};
static_assert(sizeof(BlockHeader) == 24);
static_assert(std::is_trivially_copyable_v<BlockHeader>);
static_assert(offsetof(BlockHeader, link) == 16);

// One load of a field of shared bytes. The segment is shared memory that any process able to
// write the file may change at any moment, so a reader that checks a field and then uses it
// must use the value it checked: a plain read may be repeated by the compiler and see another
// value. A relaxed atomic load is one load (no ordering: callers order with the index word or
// epoch they came through).
template <typename T>
T LoadOnce(const T& field) {
  static_assert(std::is_integral_v<T> || std::is_enum_v<T>);
  if constexpr (std::is_enum_v<T>) {
    using U = std::underlying_type_t<T>;
    return static_cast<T>(__atomic_load_n(reinterpret_cast<const U*>(&field), __ATOMIC_RELAXED));
  } else {
    return __atomic_load_n(&field, __ATOMIC_RELAXED);
  }
}

// A row block's version, right after its BlockHeader (snapshot reads, docs/design.md): the
// write batch that wrote the row and the row version it replaced. Both are written before the
// row's index word is published and never change afterwards (a retired row's `link` is the
// only field that does). Readers follow `prev` only while `seq` is newer than their snapshot.
struct RowVersion {
  uint64_t seq;   // the batch's sequence number (SegmentHeader::visible_seq once it is whole)
  uint64_t prev;  // block offset of the row of the same key that this batch replaced, or 0:
                  // the key had no row before this batch (older snapshots see it absent)
};
static_assert(sizeof(RowVersion) == 16);
static_assert(std::is_trivially_copyable_v<RowVersion>);

inline constexpr size_t kRowVersionOffset = sizeof(BlockHeader);
inline constexpr size_t kRowKeyOffset = kRowVersionOffset + sizeof(RowVersion);
static_assert(kRowKeyOffset == 40 && kRowVersionOffset % alignof(RowVersion) == 0);
inline constexpr size_t kIndexDataOffset = 64;  // index blocks are 64-aligned; buckets follow
inline constexpr size_t kMaxKeyLen = 4096;

// Offset of a row's FlatBuffer inside its block (8-aligned for FlatBuffers' 8-byte scalars).
constexpr size_t RowPayloadOffset(size_t key_len) {
  return (kRowKeyOffset + key_len + 7) & ~size_t{7};
}
constexpr size_t RowBlockBytes(size_t key_len, size_t payload_len) {
  return (RowPayloadOffset(key_len) + payload_len + kBlockAlign - 1) & ~(kBlockAlign - 1);
}

// ---- Index words ----------------------------------------------------------------------------
// A word is 0 (empty) or tag:16 | offset:48. The tag is the top 16 bits of the key's XXH3 hash,
// so a probe rejects other keys without touching their rows. The offset is the row block's.
// A slot only ever goes empty -> row, or row -> newer row of the same key (never back to
// empty): a probe may stop at the first empty word.
inline constexpr uint64_t kOffsetMask = (uint64_t{1} << 48) - 1;
constexpr uint16_t TagOf(uint64_t hash) { return static_cast<uint16_t>(hash >> 48); }
constexpr uint64_t MakeIndexWord(uint16_t tag, uint64_t offset) {
  return (uint64_t{tag} << 48) | offset;
}
constexpr uint64_t WordOffset(uint64_t word) { return word & kOffsetMask; }
constexpr uint16_t WordTag(uint64_t word) { return static_cast<uint16_t>(word >> 48); }

// ---- Run hints ------------------------------------------------------------------------------
// After an index table's buckets come its run hints: for each bucket, the cache lines that held
// the rows of its words when the writer last found them close together (rows written by one
// large batch are allocated in bucket order, so a bucket's rows lie side by side). A reader
// prefetches those lines together with the bucket, so the row it then follows the bucket to is
// usually already on its way: one memory round trip instead of two in a row.
// A hint is only a prefetch address: it may be stale or name lines that no longer hold the
// bucket's rows (a row was replaced elsewhere), and readers never read through it.
//
// Hints are kept small: a lookup must load its bucket's hint before it can prefetch the run,
// and that load waits on the caches (at 10^6 entities: 512 KiB of hints and 16 KiB of bases,
// where 4-byte hints, 1 MiB, measured ~50 ns slower):
//   group bases: one uint32 per group of kRunGroupBuckets buckets (bucket b is in group
//                b mod groups, the buckets whose runs a bulk load lays out next to each
//                other): a line number (offset / 64), 0 = none yet;
//   hints:       one uint16 per bucket: (first line - group base + 2048):12 | (lines - 1):4,
//                0 = none. A run more than 2048 lines (128 KiB) from its group's base gets no
//                hint.
// Layout after the buckets: group bases (4 x groups bytes), then hints (2 x buckets bytes).
inline constexpr uint32_t kRunGroupBuckets = 64;
inline constexpr uint32_t kMaxRunLines = 16;
inline constexpr int64_t kRunHintReach = 2048;  // first line - base lies in [-reach, reach)
constexpr uint64_t RunGroups(uint32_t log2_buckets) {
  return log2_buckets > 6 ? uint64_t{1} << (log2_buckets - 6) : 1;
}
static_assert(uint64_t{1} << 6 == kRunGroupBuckets);
// The hint for a run starting `delta` lines after its group's base, or 0 when there is none.
constexpr uint16_t MakeRunHint(int64_t delta, uint32_t lines) {
  if (delta < -kRunHintReach || delta >= kRunHintReach || lines == 0 || lines > kMaxRunLines) {
    return 0;
  }
  return static_cast<uint16_t>(((delta + kRunHintReach) << 4) | (lines - 1));
}
constexpr int64_t RunHintDelta(uint16_t hint) { return int64_t{hint >> 4} - kRunHintReach; }
constexpr uint32_t RunHintLines(uint16_t hint) { return (hint & 15u) + 1; }
static_assert(RunHintDelta(MakeRunHint(-5, 3)) == -5 && RunHintLines(MakeRunHint(-5, 3)) == 3);
static_assert(RunHintDelta(MakeRunHint(kRunHintReach - 1, kMaxRunLines)) == kRunHintReach - 1);
static_assert(MakeRunHint(-kRunHintReach, 1) == 0);  // the one run "none" leaves out
static_assert(MakeRunHint(kRunHintReach, 1) == 0 && MakeRunHint(0, kMaxRunLines + 1) == 0);

// Where the parts of an index table of 2^log2 buckets lie, from its 64-byte block start.
constexpr uint64_t RunGroupsOffset(uint32_t log2_buckets) {
  return uint64_t{kCacheLine} << log2_buckets;
}
constexpr uint64_t RunHintsOffset(uint32_t log2_buckets) {
  return RunGroupsOffset(log2_buckets) + 4 * RunGroups(log2_buckets);
}
// Bytes of the table after its block start: buckets, group bases, hints.
constexpr uint64_t IndexDataBytes(uint32_t log2_buckets) {
  return RunHintsOffset(log2_buckets) + (uint64_t{2} << log2_buckets);
}
// The whole index block.
constexpr uint64_t IndexBlockBytes(uint32_t log2_buckets) {
  return kIndexDataOffset + IndexDataBytes(log2_buckets);
}

// The published index: bucket data offset (64-aligned) | log2(bucket count) in the low 6 bits.
constexpr uint64_t MakeIndexDesc(uint64_t data_offset, uint32_t log2_buckets) {
  return data_offset | log2_buckets;
}
constexpr uint64_t DescDataOffset(uint64_t desc) { return desc & ~uint64_t{63}; }
constexpr uint32_t DescLog2Buckets(uint64_t desc) { return static_cast<uint32_t>(desc & 63); }

// ---- Segment header ---------------------------------------------------------------------------

// Writer-only allocator state, repaired by recovery when a writer died mid-batch.
struct AllocatorState {
  uint64_t free_heads[kSmallClasses + 1];  // [u] = free blocks of exactly u units; [0] unused
  uint64_t large_free_head;                // free blocks over kSmallClasses units, first fit
  uint64_t limbo_head[kLimboRing];         // retired blocks awaiting readers, by epoch % ring
  uint64_t limbo_epoch[kLimboRing];        // the epoch of each non-empty limbo list
  uint64_t limbo_bytes[kLimboRing];
};

// The writer scans' record of the global epoch over time, shared by every writing process of a
// store (engine/segment/reader_slots.h, ReaderWatch: the floor). Each mark says "the global
// epoch had reached `epoch` before `at_ns`" (steady_clock, i.e. CLOCK_MONOTONIC, nanoseconds):
// `ring` holds marks at least a quarter of a grace period apart (so its oldest is more than a
// grace period old once it has filled), `latest` the newest scan's.
// Written only under the writer lock, each mark as at_ns = kNoMark, epoch, at_ns (release), so
// a writer killed in between leaves a mark that says nothing. Zero bytes (a store made before
// these marks) are the mark (0, 0), which says nothing either. They live in the header page
// after SegmentHeader (FloorMarksOf), in bytes every earlier build left zero and never reads, so
// stores made before them stay compatible both ways (no layout version or ABI change).
inline constexpr uint64_t kNoMark = UINT64_MAX;
inline constexpr size_t kFloorMarks = 8;
struct FloorMark {
  std::atomic<uint64_t> at_ns;
  std::atomic<uint64_t> epoch;
};
struct FloorMarks {
  std::atomic<uint64_t> next;  // ring index written next (mod kFloorMarks)
  FloorMark latest;
  FloorMark ring[kFloorMarks];
};
static_assert(sizeof(FloorMarks) == 8 + 16 * (kFloorMarks + 1));

struct SegmentHeader {
  // Line 0: immutable after creation; written before `ready`.
  char magic[8];
  uint32_t layout_version;
  uint32_t header_size;
  uint64_t abi_fingerprint;
  uint64_t file_size;         // mapped bytes (= memory_limit at creation)
  uint64_t arena_begin;       // first block
  uint64_t segment_uid;       // random; the reader table carries the same value
  uint64_t created_micros;
  // retired: 0 while this segment is the store's live one; set (release) once by teardown,
  // under the writer lock, before the files are unlinked. The one word of line 0 written after
  // creation. Writers refuse to write a retired segment; readers answer kStoreNotFound.
  std::atomic<uint64_t> retired;

  // Line 1: publication words, read by every lookup.
  // ready: kReadyValue, stored last at creation with release; readers acquire it first.
  alignas(kCacheLine) std::atomic<uint64_t> ready;
  // registry_block / registry_generation: the writer stores the block (release) then bumps
  // the generation (release); readers acquire the generation, then the block.
  std::atomic<uint64_t> registry_block;
  std::atomic<uint64_t> registry_generation;
  // index_desc: MakeIndexDesc(...), release-stored after the new table is complete.
  std::atomic<uint64_t> index_desc;
  // global_epoch: starts at 1; the writer advances it (seq_cst) after a batch; readers copy it
  // into their slot before looking anything up.
  std::atomic<uint64_t> global_epoch;
  // visible_seq: the last write batch whose rows every new read request sees (0: none yet).
  // The writer stamps the rows of batch visible_seq + 1 with that number and release-stores it
  // here after the batch's last index word; a request acquires it once, in its epoch, as its
  // snapshot. Rows stamped later are read through their RowVersion::prev links.
  std::atomic<uint64_t> visible_seq;

  // Line 2: writer state and counters (written under the write lock; relaxed loads elsewhere).
  alignas(kCacheLine) std::atomic<uint64_t> arena_top;      // end of the last block
  std::atomic<uint64_t> reserved_top;   // bytes fallocate()d: arena_top <= reserved_top
  std::atomic<uint64_t> writer_pid;     // non-zero while a batch is in progress ("dirty")
  std::atomic<uint64_t> write_batches;
  std::atomic<uint64_t> recoveries;
  std::atomic<uint64_t> last_recovery_micros;
  std::atomic<uint64_t> index_entries;  // used words in the current index
  std::atomic<uint64_t> index_growths;

  alignas(kCacheLine) std::atomic<uint64_t> rows_written;
  std::atomic<uint64_t> rows_skipped_older;  // pushes not applied: older than the stored row
  std::atomic<uint64_t> free_bytes;          // bytes on free lists
  std::atomic<uint64_t> limbo_bytes;         // bytes retired, awaiting readers
  std::atomic<uint64_t> stuck_reader_reports;

  alignas(kCacheLine) AllocatorState alloc;
};
static_assert(sizeof(SegmentHeader) <= kHeaderSize, "header must fit its page");
static_assert(std::is_standard_layout_v<SegmentHeader>);
static_assert(offsetof(SegmentHeader, ready) == 64);
static_assert(offsetof(SegmentHeader, arena_top) == 128);
static_assert(offsetof(SegmentHeader, visible_seq) == 104);  // on line 1 with global_epoch

inline constexpr size_t kFloorMarksOffset =
    (sizeof(SegmentHeader) + kCacheLine - 1) & ~(kCacheLine - 1);
static_assert(kFloorMarksOffset + sizeof(FloorMarks) <= kHeaderSize,
              "floor marks must fit the header page");
inline FloorMarks* FloorMarksOf(SegmentHeader* h) {
  return reinterpret_cast<FloorMarks*>(reinterpret_cast<uint8_t*>(h) + kFloorMarksOffset);
}

// A registry change some readers may not have seen yet (docs/design.md, "Registry and apply"):
// `epoch` is non-zero while lookups planned with an older registry may still be running and rows
// of the new registry's layout must not be written yet; every writer waits until no hold at or
// below `epoch` remains (WriteSession::Begin), then clears it. Written only under the writer
// lock. It lives in the header page after the floor marks, in bytes every earlier build left
// zero (nothing pending) and never reads: no layout version or ABI change.
struct PendingRegistryWait {
  std::atomic<uint64_t> epoch;
};
inline constexpr size_t kPendingRegistryWaitOffset = kFloorMarksOffset + sizeof(FloorMarks);
static_assert(kPendingRegistryWaitOffset % alignof(PendingRegistryWait) == 0);
static_assert(kPendingRegistryWaitOffset + sizeof(PendingRegistryWait) <= kHeaderSize,
              "the pending registry wait must fit the header page");
inline PendingRegistryWait* PendingRegistryWaitOf(SegmentHeader* h) {
  return reinterpret_cast<PendingRegistryWait*>(reinterpret_cast<uint8_t*>(h) +
                                                kPendingRegistryWaitOffset);
}

// ---- Reader table -----------------------------------------------------------------------------

struct ReaderTableHeader {
  char magic[8];
  uint32_t layout_version;
  uint32_t num_slots;
  uint64_t abi_fingerprint;
  uint64_t segment_uid;
  uint8_t reserved[32];
};
static_assert(sizeof(ReaderTableHeader) == 64);

// One reader thread. A slot is claimed by CAS of `owner` from 0 to the pid; `start_time`
// (the process's start in clock ticks since boot, /proc/PID/stat field 22) tells a live owner
// from a recycled pid. epoch is 0 outside a lookup. `table_address` tells a process that has
// exec()ed (same pid and start time, but the table no longer mapped there) from one that still
// reads; it counts only when `table_seal` matches the claim (an older build claims a slot
// without writing either word, and the stale seal then fails).
//
// A writer withdraws the hold of a slot that has held one epoch for its grace period (a
// stopped or stuck reader) by a CAS of `epoch` from e to e | kEpochWithdrawn; the slot then
// holds nothing back. The reader ends every lookup with an exchange of `epoch` to 0 and keeps
// its result only if it gets back the e it stored (docs/design.md, "Withdrawn holds").
inline constexpr uint64_t kEpochWithdrawn = uint64_t{1} << 63;

struct alignas(kCacheLine) ReaderSlot {
  std::atomic<uint64_t> owner;          // pid, or 0 when free
  std::atomic<uint64_t> start_time;     // owner's process start time
  std::atomic<uint64_t> epoch;          // global_epoch seen at lookup start (| kEpochWithdrawn
                                        // once a writer withdrew it), or 0
  std::atomic<uint64_t> tid;            // owner's thread id (diagnostics)
  std::atomic<uint64_t> lookups;        // entity lookups made through this slot (diagnostics)
  std::atomic<uint64_t> table_address;  // where the owner maps PATH.readers; 0: not recorded
  std::atomic<uint64_t> table_seal;     // ClaimSeal(owner, start_time, tid, table_address)
  // Holds begun through this slot (each EpochGuard adds one; only the owning thread writes
  // it): tells a writer one hold from the next at the same epoch (ReaderWatch). Stays 0 under
  // builds before it (the word was reserved and zero), which then are told apart by `lookups`.
  std::atomic<uint64_t> holds;
};
static_assert(sizeof(ReaderSlot) == kCacheLine);

inline constexpr size_t ReaderTableBytes() {
  return sizeof(ReaderTableHeader) + size_t{kReaderSlots} * sizeof(ReaderSlot);
}

// Changes whenever a struct above changes size or shape, or the platform differs.
constexpr uint64_t AbiFingerprint() {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  mix(sizeof(void*));
  mix(kCacheLine);
  mix(sizeof(SegmentHeader));
  mix(sizeof(BlockHeader));
  mix(sizeof(ReaderSlot));
  mix(sizeof(AllocatorState));
  mix(sizeof(RowVersion));
  mix(kSmallClasses);
  mix(kLimboRing);
  mix(kBucketWords);
  mix(kLayoutVersion);
  mix(__BYTE_ORDER__);
  return h;
}

}  // namespace larder::layout
