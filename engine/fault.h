// Named fault-injection points for crash tests. In builds with LARDER_FAULT_INJECTION, setting
// LARDER_CRASH_AT=<name>[:<n>] in the environment kills the process with SIGKILL the n-th time
// (default 1st) execution reaches LARDER_FAULT_POINT(<name>). Otherwise the macro is empty.
#pragma once

namespace larder {
void FaultPoint(const char* name);
}

#if defined(LARDER_FAULT_INJECTION)
#define LARDER_FAULT_POINT(name) ::larder::FaultPoint(name)
#else
#define LARDER_FAULT_POINT(name) ((void)0)
#endif
