#include "engine/reader_slots.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

namespace larder {

using layout::ReaderSlot;

uint64_t ProcessStartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // Field 2 (comm) may contain spaces; fields after the last ')' are space-separated.
  auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  const char* p = line.c_str() + close + 2;
  // After ')' come fields 3..; start time is field 22, i.e. the 20th from here.
  for (int field = 3; field < 22 && *p; ++field) {
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

namespace {

std::atomic<uint64_t> g_fork_generation{0};
std::once_flag g_atfork_once;

// After fork() the child must not use the parent's slots: its thread caches are stale.
void RegisterAtFork() {
  std::call_once(g_atfork_once, [] {
    pthread_atfork(nullptr, nullptr,
                   [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
  });
}

bool ProcessAlive(uint64_t pid, uint64_t start_time) {
  if (pid == 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  if (start_time == 0) return true;  // claimed a moment ago; start time not yet written
  uint64_t now = ProcessStartTime(static_cast<pid_t>(pid));
  return now == start_time;
}

}  // namespace

// Per-thread cache of claimed slots, one entry per pool this thread has read through.
struct ThreadSlotCache {
  struct Entry {
    std::weak_ptr<ReaderSlotPool> pool;
    const ReaderSlotPool* raw;
    ReaderSlot* slot;
    uint64_t fork_generation;
  };
  std::vector<Entry> entries;
  ~ThreadSlotCache() {
    for (auto& e : entries) {
      if (auto pool = e.pool.lock()) pool->Release(e.slot);
    }
  }
};

namespace {
thread_local ThreadSlotCache t_cache;
}

ReaderSlotPool::ReaderSlotPool(std::shared_ptr<ReaderTableMapping> table)
    : table_(std::move(table)) {
  RegisterAtFork();
}

ReaderSlotPool::~ReaderSlotPool() {
  for (ReaderSlot* s : claimed_) {
    s->epoch.store(0, std::memory_order_relaxed);
    s->start_time.store(0, std::memory_order_relaxed);
    s->owner.store(0, std::memory_order_release);
  }
}

void ReaderSlotPool::Release(ReaderSlot* slot) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < claimed_.size(); ++i) {
    if (claimed_[i] == slot) {
      claimed_[i] = claimed_.back();
      claimed_.pop_back();
      slot->epoch.store(0, std::memory_order_relaxed);
      slot->start_time.store(0, std::memory_order_relaxed);
      // release: the slot's fields are reset before another thread can claim it.
      slot->owner.store(0, std::memory_order_release);
      return;
    }
  }
}

Result<ReaderSlot*> ReaderSlotPool::SlotForThisThread() {
  uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  for (auto& e : t_cache.entries) {
    if (e.raw == this && e.fork_generation == gen) return e.slot;
  }
  // Forget entries of pools that are gone or of a parent process.
  std::erase_if(t_cache.entries, [&](const ThreadSlotCache::Entry& e) {
    return e.pool.expired() || e.fork_generation != gen || e.raw == this;
  });
  uint64_t pid = static_cast<uint64_t>(::getpid());
  uint64_t tid = static_cast<uint64_t>(::syscall(SYS_gettid));
  uint32_t n = table_->num_slots();
  ReaderSlot* slots = table_->slots();
  for (uint32_t k = 0; k < n; ++k) {
    ReaderSlot& s = slots[(tid + k) % n];
    uint64_t expected = 0;
    // acq_rel: claiming the slot orders our writes to it after the previous owner's release.
    if (s.owner.load(std::memory_order_relaxed) != 0 ||
        !s.owner.compare_exchange_strong(expected, pid, std::memory_order_acq_rel)) {
      continue;
    }
    s.start_time.store(ProcessStartTime(static_cast<pid_t>(pid)), std::memory_order_relaxed);
    s.tid.store(tid, std::memory_order_relaxed);
    s.epoch.store(0, std::memory_order_relaxed);
    s.lookups.store(0, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      claimed_.push_back(&s);
    }
    t_cache.entries.push_back({weak_from_this(), this, &s, gen});
    return &s;
  }
  return Status(ErrorCode::kBusy, "all " + std::to_string(n) +
                                      " reader slots of this store are in use by live threads");
}

ReaderScan ScanReaders(ReaderTableMapping& table) {
  ReaderScan scan;
  ReaderSlot* slots = table.slots();
  for (uint32_t i = 0; i < table.num_slots(); ++i) {
    ReaderSlot& s = slots[i];
    uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (owner == 0) continue;
    uint64_t epoch = s.epoch.load(std::memory_order_acquire);
    if (epoch == 0) {
      ++scan.claimed;
      continue;
    }
    // Only a slot that holds reclamation back is worth the liveness check.
    if (!ProcessAlive(owner, s.start_time.load(std::memory_order_relaxed))) {
      s.epoch.store(0, std::memory_order_relaxed);
      s.start_time.store(0, std::memory_order_relaxed);
      uint64_t expected = owner;
      if (s.owner.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) ++scan.reaped;
      continue;
    }
    ++scan.claimed;
    ++scan.active;
    scan.min_active_epoch = std::min(scan.min_active_epoch, epoch);
  }
  return scan;
}

std::vector<ReaderInfo> ListReaders(ReaderTableMapping& table) {
  std::vector<ReaderInfo> out;
  ReaderSlot* slots = table.slots();
  for (uint32_t i = 0; i < table.num_slots(); ++i) {
    ReaderSlot& s = slots[i];
    uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (owner == 0) continue;
    ReaderInfo r;
    r.slot = i;
    r.pid = owner;
    r.tid = s.tid.load(std::memory_order_relaxed);
    r.epoch = s.epoch.load(std::memory_order_relaxed);
    r.lookups = s.lookups.load(std::memory_order_relaxed);
    r.alive = ProcessAlive(owner, s.start_time.load(std::memory_order_relaxed));
    out.push_back(r);
  }
  return out;
}

}  // namespace larder
