// Named fault-injection points for crash tests. A fault point does nothing until the process
// calls EnableFaultInjection(), which only the test suite does (in the children it kills):
// from then on LARDER_CRASH_AT=<name>[:<n>] in the environment kills the process with SIGKILL
// the n-th time (default 1st) execution reaches LARDER_FAULT_POINT(<name>). A production
// process (the CLI, the server, the Python binding, a user's program) never enables it, so the
// variable cannot kill it. Builds with LARDER_FAULT_INJECTION off compile the points out.
#pragma once

#include <atomic>

namespace larder {

// Set once by EnableFaultInjection; read (relaxed: a fault point in a thread that has not yet
// seen it is simply skipped, and test children enable it before they start writing) by every
// fault point.
extern std::atomic<bool> g_fault_injection_enabled;

// Makes this process (and the children it forks afterwards) obey LARDER_CRASH_AT. Tests only.
void EnableFaultInjection();
void FaultPointSlow(const char* name);

inline void FaultPoint(const char* name) {
  if (g_fault_injection_enabled.load(std::memory_order_relaxed)) [[unlikely]] {
    FaultPointSlow(name);
  }
}

}  // namespace larder

#if defined(LARDER_FAULT_INJECTION)
#define LARDER_FAULT_POINT(name) ::larder::FaultPoint(name)
#else
#define LARDER_FAULT_POINT(name) ((void)0)
#endif
