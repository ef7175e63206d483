#include "engine/segment/arena.h"

#include <algorithm>
#include <atomic>

namespace larder {

using layout::BlockHeader;
using layout::BlockKind;
using layout::kBlockAlign;
using layout::kSmallClasses;

namespace {
constexpr uint32_t kMinUnits = 2;  // a 24-byte header needs two 16-byte units
}

void Arena::PushFree(uint64_t offset) {
  BlockHeader* b = Block(offset);
  b->kind = BlockKind::kFree;
  uint64_t* head =
      b->units <= kSmallClasses ? &h_->alloc.free_heads[b->units] : &h_->alloc.large_free_head;
  b->link = *head;
  *head = offset;
  h_->free_bytes.fetch_add(uint64_t{b->units} * kBlockAlign, std::memory_order_relaxed);
}

uint64_t Arena::MaxBlocks() const {
  return (h_->arena_top.load(std::memory_order_relaxed) - h_->arena_begin) /
         (uint64_t{kMinUnits} * kBlockAlign);
}

bool Arena::ListBlockOk(uint64_t off, const char* list, uint32_t units, bool free) {
  const uint64_t top = h_->arena_top.load(std::memory_order_relaxed);
  const char* why = nullptr;
  if (off < h_->arena_begin || off % kBlockAlign != 0 || off > top - sizeof(BlockHeader)) {
    why = "lies outside the arena";
  } else {
    const BlockHeader* b = Block(off);
    if (b->units < kMinUnits || uint64_t{b->units} * kBlockAlign > top - off) {
      why = "is not a block (impossible size)";
    } else if (free && b->kind != BlockKind::kFree) {
      why = "is not a free block";
    } else if (!free && (b->kind < BlockKind::kFree || b->kind > BlockKind::kRegistry)) {
      why = "is not a retired block";
    } else if (free && units != 0 && b->units != units) {
      why = "is a free block of another size";
    } else if (free && units == 0 && b->units <= kSmallClasses) {
      why = "is too small for the large free list";
    }
  }
  if (why == nullptr) return true;
  if (damage_.empty()) {
    damage_ = std::string(list) + " links to offset " + std::to_string(off) + ", which " + why;
  }
  return false;
}

bool Arena::WalkStepOk(uint64_t off, uint64_t* steps_left, const char* list, uint32_t units,
                       bool free) {
  if (*steps_left == 0) {
    if (damage_.empty()) damage_ = std::string(list) + " loops";
    return false;
  }
  --*steps_left;
  return ListBlockOk(off, list, units, free);
}

uint64_t Arena::PopSmall(uint32_t units) {
  uint64_t off = h_->alloc.free_heads[units];
  if (off == 0) return 0;
  if (!ListBlockOk(off, "a free list", units, /*free=*/true)) return 0;
  h_->alloc.free_heads[units] = Block(off)->link;
  h_->free_bytes.fetch_sub(uint64_t{units} * kBlockAlign, std::memory_order_relaxed);
  return off;
}

uint64_t Arena::TakeLarge(uint32_t units, bool align64) {
  uint64_t* prev = &h_->alloc.large_free_head;
  uint64_t steps_left = MaxBlocks() + 1;
  for (uint64_t off = *prev; off != 0; prev = &Block(off)->link, off = *prev) {
    if (!WalkStepOk(off, &steps_left, "the large free list", 0, /*free=*/true)) return 0;
    BlockHeader* b = Block(off);
    // An index table must start 64-aligned: a filler of 1..3 units goes before it. (Without
    // this, a freed table was never reused for the next one: every index rebuild moved
    // arena_top up by a table until apply failed with StoreFull and the arena nearly all free.)
    const auto pad = align64 ? static_cast<uint32_t>((64 - off % 64) % 64 / kBlockAlign) : 0;
    if (b->units < units + pad) continue;
    *prev = b->link;
    h_->free_bytes.fetch_sub(uint64_t{b->units} * kBlockAlign, std::memory_order_relaxed);
    uint32_t rest = b->units - units - pad;
    if (rest >= kMinUnits) {
      // Write the remainder's header before shrinking this block, so a walk after a crash
      // between the two stores still tiles the arena (it skips over the remainder).
      uint64_t rest_off = off + uint64_t{pad + units} * kBlockAlign;
      BlockHeader* r = Block(rest_off);
      r->units = rest;
      r->kind = BlockKind::kFree;
      // Plain stores may be reordered by the compiler; a crash only stops this process, so a
      // compiler barrier is all the ordering the tiling needs.
      std::atomic_signal_fence(std::memory_order_seq_cst);
      b->units = pad + units;
      PushFree(rest_off);
    }
    if (pad == 0) return off;
    // Likewise: the aligned block's header first, then the front shrinks into the filler.
    uint64_t aligned_off = off + uint64_t{pad} * kBlockAlign;
    BlockHeader* aligned = Block(aligned_off);
    aligned->units = b->units - pad;
    aligned->kind = BlockKind::kFree;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    b->units = pad;
    b->kind = BlockKind::kPad;
    return aligned_off;
  }
  return 0;
}

Result<uint64_t> Arena::Bump(uint32_t units, bool align64) {
  uint64_t top = h_->arena_top.load(std::memory_order_relaxed);
  uint64_t pad = align64 ? (64 - top % 64) % 64 : 0;
  uint64_t need = top + pad + uint64_t{units} * kBlockAlign;
  LARDER_RETURN_IF_ERROR(seg_->ReserveUpTo(need));
  if (pad != 0) {
    // A filler block: only `units` and `kind` (its first 8 bytes) are ever read.
    auto* p = Block(top);
    p->units = static_cast<uint32_t>(pad / kBlockAlign);
    p->kind = BlockKind::kPad;
  }
  uint64_t off = top + pad;
  BlockHeader* b = Block(off);
  b->units = units;
  b->kind = BlockKind::kFree;
  // release: the new block's header is written before arena_top covers it, so a recovery walk
  // (and `larder check`, which acquires arena_top) always finds a well-formed block there.
  h_->arena_top.store(need, std::memory_order_release);
  return off;
}

Result<uint64_t> Arena::Allocate(uint64_t bytes, BlockKind kind, bool align64) {
  uint64_t units64 = std::max<uint64_t>(kMinUnits, (bytes + kBlockAlign - 1) / kBlockAlign);
  if (units64 > UINT32_MAX) return Status(ErrorCode::kStoreFull, "block too large");
  auto units = static_cast<uint32_t>(units64);
  auto damaged = [this] {
    return CorruptStore("the store's free lists are damaged (" + damage_ +
                        "); the writer rebuilds them");
  };
  if (!damage_.empty()) return damaged();
  uint64_t off = 0;
  if (!align64) {
    off = units <= kSmallClasses ? PopSmall(units) : TakeLarge(units);
  } else {
    off = TakeLarge(units, /*align64=*/true);
  }
  if (!damage_.empty()) return damaged();
  if (off == 0) {
    auto bumped = Bump(units, align64);
    if (bumped.ok()) {
      off = *bumped;
    } else if (!align64 && units <= kSmallClasses) {
      off = TakeLarge(units);  // last resort for a small block: split a large free one
      if (!damage_.empty()) return damaged();
      if (off == 0) return bumped.status();
    } else {
      return bumped.status();
    }
  }
  BlockHeader* b = Block(off);
  b->kind = kind;
  b->flags = 0;
  b->link = 0;
  return off;
}

void Arena::FreeUnpublished(uint64_t offset) { PushFree(offset); }

bool Arena::CanRetireAt(uint64_t epoch) const {
  uint32_t slot = epoch % layout::kLimboRing;
  return h_->alloc.limbo_head[slot] == 0 || h_->alloc.limbo_epoch[slot] == epoch;
}

void Arena::Retire(uint64_t offset, uint64_t epoch) {
  uint32_t slot = epoch % layout::kLimboRing;
  BlockHeader* b = Block(offset);
  // Only `link` changes: readers still holding this row read its other fields and payload.
  b->link = h_->alloc.limbo_head[slot];
  h_->alloc.limbo_head[slot] = offset;
  h_->alloc.limbo_epoch[slot] = epoch;
  uint64_t bytes = uint64_t{b->units} * kBlockAlign;
  h_->alloc.limbo_bytes[slot] += bytes;
  h_->limbo_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

void Arena::Reclaim(uint64_t min_active_epoch) {
  const uint64_t max_blocks = MaxBlocks();
  for (uint32_t slot = 0; slot < layout::kLimboRing; ++slot) {
    uint64_t head = h_->alloc.limbo_head[slot];
    if (head == 0 || h_->alloc.limbo_epoch[slot] >= min_active_epoch) continue;
    uint64_t steps_left = max_blocks + 1;
    while (head != 0) {
      if (!WalkStepOk(head, &steps_left, "a limbo list", 0, /*free=*/false)) break;
      uint64_t next = Block(head)->link;
      PushFree(head);
      head = next;
    }
    h_->limbo_bytes.fetch_sub(h_->alloc.limbo_bytes[slot], std::memory_order_relaxed);
    h_->alloc.limbo_head[slot] = 0;
    h_->alloc.limbo_bytes[slot] = 0;
  }
}

Status Arena::Recover(const std::vector<uint64_t>& live_sorted, uint64_t epoch) {
  damage_.clear();
  h_->alloc = layout::AllocatorState{};
  h_->free_bytes.store(0, std::memory_order_relaxed);
  h_->limbo_bytes.store(0, std::memory_order_relaxed);
  std::vector<uint64_t> dead;
  std::vector<uint64_t> fillers;
  Status st = ForEachBlock(seg_->base(), *h_, [&](uint64_t off, const BlockHeader& b) {
    if (b.kind == BlockKind::kPad) return;
    if (std::binary_search(live_sorted.begin(), live_sorted.end(), off)) return;
    // A block of one unit cannot hold a list link (its `link` would be the next block's
    // header). TakeLarge shrinks a block into an alignment filler with `units = pad` and then
    // `kind = kPad`: a writer killed between the two leaves such a block still marked free.
    if (b.units < kMinUnits) {
      fillers.push_back(off);
    } else {
      dead.push_back(off);
    }
  });
  LARDER_RETURN_IF_ERROR(st);
  for (uint64_t off : fillers) Block(off)->kind = BlockKind::kPad;
  // Dead blocks may still be read by readers that were in their lookups when the writer died,
  // so they wait in limbo like any retired block.
  for (uint64_t off : dead) Retire(off, epoch);
  return Status::Ok();
}

}  // namespace larder
