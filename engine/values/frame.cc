// Frame helpers (cell descriptions, row descriptions, shape checks) and the file reader that
// dispatches on the extension.
#include "larder/frame.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <string>
#include <system_error>
#include <unordered_set>

#include "engine/quote.h"
#include "engine/values/frame_readers.h"
#include "engine/values/same_text.h"

namespace larder {

namespace {

// Descriptions stop growing once they reach this many bytes; "..." marks the cut.
constexpr size_t kDescribeLimit = 64;

void AppendHexEscape(std::string* out, unsigned char ch) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("\\x");
  out->push_back(kHex[ch >> 4]);
  out->push_back(kHex[ch & 0xf]);
}

// Appends `s` in double quotes, escaping quotes, backslashes and control characters (and, for
// bytes, every non-ASCII byte). Stops before `limit` total bytes, never inside a UTF-8 sequence.
void AppendQuoted(std::string* out, std::string_view s, bool bytes, size_t limit) {
  if (bytes) out->push_back('b');
  out->push_back('"');
  for (char c : s) {
    auto ch = static_cast<unsigned char>(c);
    bool continuation = !bytes && (ch & 0xC0) == 0x80;
    if (!continuation && out->size() >= limit) {
      out->append("...");
      break;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (ch < 0x20 || ch == 0x7f || (bytes && ch >= 0x80)) {
          AppendHexEscape(out, ch);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// Shortest round-trip text of a double, with ".0" added to integral values so they read as
// floating point ("2.0", not "2").
void AppendDouble(std::string* out, double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  if (ec != std::errc()) {
    out->append("?");
    return;
  }
  std::string_view text(buf, static_cast<size_t>(end - buf));
  out->append(text);
  if (text.find_first_of(".eEni") == std::string_view::npos) out->append(".0");
}

void AppendCell(std::string* out, const Cell& c, size_t limit) {
  switch (c.kind) {
    case Cell::Kind::kNull:
      out->append("null");
      return;
    case Cell::Kind::kBool:
      out->append(c.b ? "true" : "false");
      return;
    case Cell::Kind::kInt:
      out->append(std::to_string(c.i));
      return;
    case Cell::Kind::kDouble:
      AppendDouble(out, c.d);
      return;
    case Cell::Kind::kString:
      AppendQuoted(out, c.s, /*bytes=*/false, limit);
      return;
    case Cell::Kind::kBytes:
      AppendQuoted(out, c.s, /*bytes=*/true, limit);
      return;
    case Cell::Kind::kArray:
      out->push_back('[');
      for (size_t i = 0; i < c.arr.size(); ++i) {
        if (out->size() >= limit) {
          out->append("...");
          break;
        }
        if (i > 0) out->append(", ");
        AppendCell(out, c.arr[i], limit);
      }
      out->push_back(']');
      return;
  }
}

// Lower-cased extension of the file name in `path` ("csv"), or "" when it has none.
std::string LowerExtension(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  for (char& ch : ext) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return ext;
}

Status ErrnoError(const std::string& path) {
  return IoError("cannot read '" + path + "': " + std::system_category().message(errno));
}

// Reads the whole file at `path` into *out; IoError names the path and the errno text.
Status ReadWholeFile(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out->reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st_err = ErrnoError(path);
      ::close(fd);
      return st_err;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return Status::Ok();
}

}  // namespace

std::string DescribeCell(const Cell& c) {
  std::string out;
  AppendCell(&out, c, kDescribeLimit);
  return out;
}

int Frame::FindColumn(std::string_view name) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (SameText(names[i], name)) return static_cast<int>(i);
  }
  return -1;
}

std::string Frame::DescribeRow(size_t row) const {
  if (describe_row) return describe_row(row);
  std::string prefix = origin.empty() ? "" : origin + " ";
  if (row < row_lines.size()) return prefix + "line " + std::to_string(row_lines[row]);
  return prefix + "row " + std::to_string(row + 1);
}

Status Frame::CheckShape() const {
  if (names.size() != columns.size()) {
    return InternalError(origin + ": frame has " + std::to_string(names.size()) +
                         " column names but " + std::to_string(columns.size()) + " columns");
  }
  // Requests usually carry a handful of columns: compare pairwise without allocating, and
  // hash only wide frames.
  constexpr size_t kPairwiseLimit = 16;
  std::unordered_set<std::string_view> seen;
  if (names.size() > kPairwiseLimit) seen.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    bool duplicate = false;
    if (names.size() > kPairwiseLimit) {
      duplicate = !seen.insert(names[i]).second;
    } else {
      for (size_t j = 0; j < i && !duplicate; ++j) duplicate = names[j] == names[i];
    }
    if (duplicate) return InvalidArgument(origin + ": duplicate column " + QuoteInput(names[i]));
    if (columns[i].size() != columns[0].size()) {
      return InvalidArgument(origin + ": column " + QuoteInput(names[i]) + " has " +
                             std::to_string(columns[i].size()) + " values but column " +
                             QuoteInput(names[0]) + " has " + std::to_string(columns[0].size()));
    }
  }
  return Status::Ok();
}

Result<Frame> ReadFrameFile(const std::string& path) {
  std::string ext = LowerExtension(path);
  if (ext != "csv" && ext != "json" && ext != "jsonl") {
    return InvalidArgument("cannot read '" + path +
                           "': unsupported file extension (expected .csv, .json or .jsonl)");
  }
  std::string text;
  LARDER_RETURN_IF_ERROR(ReadWholeFile(path, &text));
  if (ext == "csv") return ReadCsvFrame(text, path);
  if (ext == "json") return ReadJsonColumnsFrame(text, path);
  return ReadJsonLinesFrame(text, path);
}

}  // namespace larder
