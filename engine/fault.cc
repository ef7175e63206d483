#include "engine/fault.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace larder {

void FaultPoint(const char* name) {
  static const char* spec = std::getenv("LARDER_CRASH_AT");
  if (spec == nullptr) return;
  static std::atomic<long> hits{0};
  std::string s(spec);
  auto colon = s.find(':');
  std::string target = s.substr(0, colon);
  long n = colon == std::string::npos ? 1 : std::atol(s.c_str() + colon + 1);
  if (target != name) return;
  if (hits.fetch_add(1) + 1 >= n) ::kill(::getpid(), SIGKILL);
}

}  // namespace larder
