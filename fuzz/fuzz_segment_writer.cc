// libFuzzer entry point of target fuzz_segment_writer (body: larder::fuzz::FuzzSegmentWriter in
// fuzz/fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return larder::fuzz::FuzzSegmentWriter(data, size);
}
