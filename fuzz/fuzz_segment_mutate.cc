// libFuzzer entry point of target fuzz_segment_mutate (body: larder::fuzz::FuzzSegmentMutate in
// fuzz/fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return larder::fuzz::FuzzSegmentMutate(data, size);
}
