// libFuzzer entry point of target fuzz_snapshot (body: larder::fuzz::FuzzSnapshot in
// fuzz/fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return larder::fuzz::FuzzSnapshot(data, size);
}
