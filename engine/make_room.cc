// Making room for a write when memory is short: reclaim, wait out (or withdraw) readers that
// hold retired memory back, and when the store is full after all, say what fills it.
#include <chrono>
#include <string>
#include <thread>

#include "engine/store_impl.h"

namespace larder {

namespace {

std::string MiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// What fills the store, for a kStoreFull that reclaiming could not cure.
std::string WhatFillsTheStore(const layout::SegmentHeader& h, const ReaderScan& scan) {
  const uint64_t used = h.arena_top.load(std::memory_order_relaxed) - h.arena_begin;
  const uint64_t free = h.free_bytes.load(std::memory_order_relaxed);
  const uint64_t limbo = h.limbo_bytes.load(std::memory_order_relaxed);
  const uint64_t live = used > free + limbo ? used - free - limbo : 0;
  std::string msg = MiB(live) + " of live rows, index and registry, " + MiB(free) +
                    " free in pieces too small for this write, " + MiB(limbo) +
                    " retired and not yet reusable";
  if (limbo > 0 && scan.active > 0) {
    msg += " (held back by " + std::to_string(scan.active) + " reader(s) inside a lookup; " +
           "the oldest: pid " + std::to_string(scan.oldest_pid) + " tid " +
           std::to_string(scan.oldest_tid) + ", seen holding for " +
           std::to_string(scan.oldest_held.count()) + " ms)";
  }
  return msg;
}

}  // namespace

Result<uint64_t> WriteSession::AllocateMakingRoom(uint64_t bytes, layout::BlockKind kind,
                                                  bool align64) {
  store_.write_mu.AssertHeld();  // process_lock_ (last_scan_, ReclaimNow)
  auto off = arena_.Allocate(bytes, kind, align64);
  if (off.ok() || !arena_.damage().empty()) return off;
  const layout::SegmentHeader& h = *store_.header();
  // Readers inside a lookup keep what was retired since their epoch. A healthy one ends its
  // lookup within microseconds; one stuck for the grace period has its hold withdrawn by the
  // scan (ReclaimNow). So waiting a little over the grace period always ends with every hold
  // either released or withdrawn: a write never fails because of a reader.
  const auto grace = std::chrono::milliseconds(store_.options.reader_grace_ms);
  const auto deadline =
      std::chrono::steady_clock::now() + 2 * grace + std::chrono::milliseconds(100);
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    ReclaimNow();
    off = arena_.Allocate(bytes, kind, align64);
    if (off.ok() || !arena_.damage().empty()) return off;
    if (off.status().code() != ErrorCode::kStoreFull) return off;
    const bool held_back =
        h.limbo_bytes.load(std::memory_order_relaxed) > 0 && last_scan_.active > 0;
    if (!held_back || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
  return Status(ErrorCode::kStoreFull,
                off.status().message() + ": " + WhatFillsTheStore(h, last_scan_));
}

}  // namespace larder
