// Client input quoted back in an error message, cut short: a name or key of a request can be as
// long as its body (16 MiB by default in `larder serve`), and an error quoting it whole would
// cost the server a reply as large as the request, built and queued for the client.
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace larder {

// Bytes of input QuoteInput keeps.
inline constexpr size_t kQuotedInputBytes = 200;

// Where to cut `text` (longer than `limit`) to keep at most `limit` bytes without splitting a
// UTF-8 character: text[cut] is the first byte left out, and while it continues a character
// (at most 3 bytes back), that character is left out too.
inline size_t Utf8CutPoint(std::string_view text, size_t limit) {
  size_t cut = limit;
  while (cut + 3 > limit && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return cut;
}

// 'text' when it is at most kQuotedInputBytes long; else its first bytes (a UTF-8 character is
// not split), "...", and its length: 'aaaa...' (1048576 bytes). Every error message that quotes
// a name, key or text a client sent goes through it.
inline std::string QuoteInput(std::string_view text) {
  std::string out = "'";
  if (text.size() <= kQuotedInputBytes) {
    out.append(text);
    out += '\'';
    return out;
  }
  const size_t cut = Utf8CutPoint(text, kQuotedInputBytes);
  out.append(text.substr(0, cut));
  out += "...' (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace larder
