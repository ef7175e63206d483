#include "engine/fault.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "larder/mutex.h"

namespace larder {

namespace {

// LARDER_CRASH_AT is read on the first fault point a process reaches, and read again by a
// fork()ed child on its first one: crash tests fork a child from a process that has already
// passed fault points, and set the variable in the child. (A function-local static would keep
// the parent's reading, so the child would never crash.)
enum State : int { kUnread = 0, kDisarmed = 1, kArmed = 2 };
std::atomic<int> g_state{kUnread};
Mutex g_mu;
std::string g_target;  // written under g_mu before g_state becomes kArmed
long g_n = 1;
std::atomic<long> g_hits{0};
std::once_flag g_atfork_once;

int LoadSpec() {
  std::call_once(g_atfork_once, [] {
    pthread_atfork(nullptr, nullptr, [] { g_state.store(kUnread, std::memory_order_relaxed); });
  });
  MutexLock lock(g_mu);
  int st = g_state.load(std::memory_order_relaxed);
  if (st != kUnread) return st;
  const char* spec = std::getenv("LARDER_CRASH_AT");
  if (spec == nullptr || *spec == '\0') {
    st = kDisarmed;
  } else {
    std::string s(spec);
    auto colon = s.find(':');
    g_target = s.substr(0, colon);
    g_n = colon == std::string::npos ? 1 : std::atol(s.c_str() + colon + 1);
    g_hits.store(0, std::memory_order_relaxed);
    st = kArmed;
  }
  // release: g_target and g_n are written before a fault point can see kArmed.
  g_state.store(st, std::memory_order_release);
  return st;
}

}  // namespace

std::atomic<bool> g_fault_injection_enabled{false};

void EnableFaultInjection() {
  {
    MutexLock lock(g_mu);
    g_state.store(kUnread, std::memory_order_relaxed);  // read LARDER_CRASH_AT afresh
  }
  g_fault_injection_enabled.store(true, std::memory_order_relaxed);
}

void FaultPointSlow(const char* name) {
  int st = g_state.load(std::memory_order_acquire);
  if (st == kUnread) st = LoadSpec();
  if (st != kArmed || g_target != name) return;
  if (g_hits.fetch_add(1) + 1 >= g_n) ::kill(::getpid(), SIGKILL);
}

}  // namespace larder
