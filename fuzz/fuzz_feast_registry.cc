// libFuzzer entry point of target fuzz_feast_registry (body: larder::fuzz::FuzzFeastRegistry in
// fuzz/fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return larder::fuzz::FuzzFeastRegistry(data, size);
}
