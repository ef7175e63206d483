// The segment's block allocator. Writer-only: every call requires the write lock.
//
// Blocks are bump-allocated from arena_top, or reused from exact-size free lists (1..256
// units of 16 bytes) and a first-fit list of larger blocks (split on reuse). A block that was
// published (a row, an index table, a registry) is never freed directly: Retire() puts it on
// the limbo list of the current epoch, and Reclaim() moves a limbo list to the free lists once
// every live reader has entered a later epoch (docs/design.md, "Reclamation").
//
// All allocator state lives in SegmentHeader::alloc and is trusted only while the previous
// writer finished its batch; after a writer died mid-batch, Recover() rebuilds it from the
// index and the registry (mark and sweep), which is bounded by the arena's block count.
// Every list link is checked before it is followed (inside the arena, a block of the list's
// kind and size, no longer than the arena's block count): damage found there (a bug, or bytes
// written into the segment from outside) stops the lists being trusted (damage()) until the
// session rebuilds them with Recover(). A link to another well-formed block of the same kind
// and size is not caught here; `larder check` walks every list and finds it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/segment/segment_file.h"
#include "larder/status.h"
#include "layout/segment_layout.h"

namespace larder {

class Arena {
 public:
  explicit Arena(SegmentMapping* seg) : seg_(seg), h_(seg->header()) {}

  // A block of at least `bytes` (header included) of `kind`; 64-byte aligned when `align64`.
  // Only `units` and `kind` of the header are set. kStoreFull when nothing fits; kCorruptStore
  // once damage() is set.
  Result<uint64_t> Allocate(uint64_t bytes, layout::BlockKind kind, bool align64 = false);

  // Returns a block that was never published straight to its free list.
  void FreeUnpublished(uint64_t offset);

  // Puts a block that readers may still be reading on the limbo list of `epoch`.
  // REQUIRES: CanRetireAt(epoch).
  void Retire(uint64_t offset, uint64_t epoch);
  // True when the limbo ring slot of `epoch` is empty or already holds `epoch`.
  bool CanRetireAt(uint64_t epoch) const;

  // Frees every limbo list whose epoch is older than `min_active_epoch`. A list with a damaged
  // link is freed up to it and dropped (its other blocks wait for Recover()).
  void Reclaim(uint64_t min_active_epoch);

  // What damage a walk of the free or limbo lists found ("" when none): the list, the link and
  // what is wrong with it. Cleared by Recover().
  const std::string& damage() const { return damage_; }

  // Rebuilds free and limbo lists after a writer died mid-batch: every block not referenced by
  // `live` (sorted block offsets) goes to limbo at `epoch`. CorruptStore if the blocks do not
  // tile the arena.
  Status Recover(const std::vector<uint64_t>& live_sorted, uint64_t epoch);

  layout::BlockHeader* Block(uint64_t offset) const {
    return reinterpret_cast<layout::BlockHeader*>(seg_->base() + offset);
  }

 private:
  void PushFree(uint64_t offset);
  uint64_t PopSmall(uint32_t units);
  // First fit from the large free list (split; with align64 the block starts 64-aligned).
  uint64_t TakeLarge(uint32_t units, bool align64 = false);
  Result<uint64_t> Bump(uint32_t units, bool align64);
  // Whether `off`, reached through `list`, may be a block of it: a free block of exactly
  // `units` (0: of more than kSmallClasses units) when `free`, else any retired block. Records
  // the first damage found and returns false otherwise.
  bool ListBlockOk(uint64_t off, const char* list, uint32_t units, bool free);
  // One step of a walk along `list` to block `off`: ListBlockOk, and a step counted against
  // `*steps_left` (start: MaxBlocks() + 1), since a walk longer than the arena's block count
  // loops. Records the first damage found and returns false on either.
  bool WalkStepOk(uint64_t off, uint64_t* steps_left, const char* list, uint32_t units, bool free);
  // Most blocks the arena can hold: a longer walk of one list is a loop.
  uint64_t MaxBlocks() const;

  SegmentMapping* seg_;
  layout::SegmentHeader* h_;
  std::string damage_;
};

// Walks every block in [arena_begin, arena_top), calling fn(offset, header). Returns
// CorruptStore if a block's size is 0 or runs past arena_top.
template <typename Fn>
Status ForEachBlock(const uint8_t* base, const layout::SegmentHeader& h, Fn&& fn) {
  uint64_t top = h.arena_top.load(std::memory_order_acquire);
  uint64_t off = h.arena_begin;
  while (off < top) {
    const auto* b = reinterpret_cast<const layout::BlockHeader*>(base + off);
    uint64_t bytes = uint64_t{b->units} * layout::kBlockAlign;
    if (b->units == 0 || bytes > top - off) {
      return CorruptStore("block at offset " + std::to_string(off) + " has invalid size " +
                          std::to_string(bytes));
    }
    fn(off, *b);
    off += bytes;
  }
  return Status::Ok();
}

}  // namespace larder
