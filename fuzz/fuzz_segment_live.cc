// libFuzzer entry point of target fuzz_segment_live (body: larder::fuzz::FuzzSegmentLive in
// fuzz/fuzz_segment_live.h), with its reader process.
#include "fuzz/fuzz_segment_live.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return larder::fuzz::FuzzSegmentLive(data, size);
}
