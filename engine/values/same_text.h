// Equality of short strings without a call to memcmp. The read path compares request names
// (feature references, join-key and column names: mostly under 32 bytes) several times per
// request; for them the call costs more than the comparison.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace larder {

// a == b, in 8-byte words (the last one overlapping), or two overlapping 4-byte words, or
// bytes below 4.
inline bool SameText(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  if (n < 4) {
    for (size_t k = 0; k < n; ++k) {
      if (x[k] != y[k]) return false;
    }
    return true;
  }
  if (n < 8) {
    uint32_t p, q, r, s;
    std::memcpy(&p, x, 4);
    std::memcpy(&q, y, 4);
    std::memcpy(&r, x + n - 4, 4);
    std::memcpy(&s, y + n - 4, 4);
    return p == q && r == s;
  }
  uint64_t p, q;
  for (size_t k = 0; k + 8 < n; k += 8) {
    std::memcpy(&p, x + k, 8);
    std::memcpy(&q, y + k, 8);
    if (p != q) return false;
  }
  std::memcpy(&p, x + n - 8, 8);
  std::memcpy(&q, y + n - 8, 8);
  return p == q;
}

}  // namespace larder
