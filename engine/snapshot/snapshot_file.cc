#include "engine/snapshot/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "layout/segment_layout.h"

namespace larder {

using layout::SnapshotHeader;
using layout::SnapshotPad8;
using layout::SnapshotRow;

namespace {

Status ErrnoError(const std::string& what, const std::string& path, int err) {
  return IoError(what + " '" + path + "': " + std::strerror(err));
}

void AppendPadded(std::string* out, std::string_view bytes) {
  out->append(bytes);
  out->append(SnapshotPad8(bytes.size()) - bytes.size(), '\0');
}

bool AllZero(std::string_view bytes) {
  for (char c : bytes) {
    if (c != 0) return false;
  }
  return true;
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write snapshot", path, errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

SnapshotBuilder::SnapshotBuilder(uint64_t visible_batch, int64_t taken_micros,
                                 std::string_view registry) {
  SnapshotHeader h{};
  std::memcpy(h.magic, layout::kSnapshotMagic, sizeof(h.magic));
  h.format_version = layout::kSnapshotFormatVersion;
  h.segment_layout_version = layout::kLayoutVersion;
  h.abi_fingerprint = layout::AbiFingerprint();
  h.visible_batch = visible_batch;
  h.taken_micros = taken_micros;
  h.registry_bytes = registry.size();
  bytes_.append(reinterpret_cast<const char*>(&h), sizeof(h));
  AppendPadded(&bytes_, registry);
  rows_begin_ = bytes_.size();
}

void SnapshotBuilder::AddRow(uint32_t view_id, std::string_view key, std::string_view payload) {
  const SnapshotRow r{view_id, static_cast<uint32_t>(key.size()),
                      static_cast<uint32_t>(payload.size()), 0};
  bytes_.append(reinterpret_cast<const char*>(&r), sizeof(r));
  AppendPadded(&bytes_, key);
  AppendPadded(&bytes_, payload);
  ++rows_;
}

std::string SnapshotBuilder::Finish() && {
  SnapshotHeader h;
  std::memcpy(&h, bytes_.data(), sizeof(h));
  h.row_count = rows_;
  h.rows_bytes = bytes_.size() - rows_begin_;
  std::memcpy(bytes_.data(), &h, sizeof(h));
  const uint64_t sum = XXH3_64bits(bytes_.data(), bytes_.size());
  bytes_.append(reinterpret_cast<const char*>(&sum), sizeof(sum));
  return std::move(bytes_);
}

Result<ParsedSnapshot> ParseSnapshot(std::string_view bytes, const std::string& file_name) {
  auto corrupt = [&](const std::string& what) {
    return CorruptStore("snapshot '" + file_name + "' is damaged: " + what);
  };
  ParsedSnapshot out;
  SnapshotHeader& h = out.header;
  if (bytes.size() < sizeof(h.magic) ||
      std::memcmp(bytes.data(), layout::kSnapshotMagic, sizeof(h.magic)) != 0) {
    return Status(ErrorCode::kIncompatibleStore,
                  "'" + file_name + "' is not a Larder snapshot (bad magic)");
  }
  if (bytes.size() < sizeof(h) + layout::kSnapshotChecksumBytes) {
    return corrupt("truncated: " + std::to_string(bytes.size()) + " bytes");
  }
  std::memcpy(&h, bytes.data(), sizeof(h));
  if (h.format_version != layout::kSnapshotFormatVersion) {
    return Status(ErrorCode::kIncompatibleStore,
                  "snapshot '" + file_name + "' has format version " +
                      std::to_string(h.format_version) + "; this build reads version " +
                      std::to_string(layout::kSnapshotFormatVersion));
  }
  if (h.segment_layout_version != layout::kLayoutVersion ||
      h.abi_fingerprint != layout::AbiFingerprint()) {
    return Status(ErrorCode::kIncompatibleStore,
                  "snapshot '" + file_name + "' holds rows of segment layout version " +
                      std::to_string(h.segment_layout_version) +
                      (h.segment_layout_version == layout::kLayoutVersion ? " (another ABI)" : "") +
                      "; this build stores version " + std::to_string(layout::kLayoutVersion) +
                      ": restore it with the build that wrote it");
  }
  // Every length is checked against what is left before it is added to anything, so no sum
  // can wrap.
  const uint64_t body = bytes.size() - layout::kSnapshotChecksumBytes;
  uint64_t stored_sum;
  std::memcpy(&stored_sum, bytes.data() + body, sizeof(stored_sum));
  if (XXH3_64bits(bytes.data(), body) != stored_sum) {
    return corrupt("its checksum does not match its bytes (a truncated or altered file)");
  }
  uint64_t at = sizeof(h);
  if (h.registry_bytes > body - at || SnapshotPad8(h.registry_bytes) > body - at) {
    return corrupt("the registry's length " + std::to_string(h.registry_bytes) +
                   " runs past the end of the file");
  }
  out.registry = bytes.substr(at, h.registry_bytes);
  if (!AllZero(
          bytes.substr(at + h.registry_bytes, SnapshotPad8(h.registry_bytes) - h.registry_bytes))) {
    return corrupt("non-zero padding after the registry");
  }
  at += SnapshotPad8(h.registry_bytes);
  if (h.rows_bytes != body - at) {
    return corrupt("its rows section says " + std::to_string(h.rows_bytes) +
                   " bytes, the file holds " + std::to_string(body - at));
  }
  // Each record takes at least 16 bytes: a count larger than that allows is refused before
  // anything is reserved for it.
  if (h.row_count > h.rows_bytes / sizeof(SnapshotRow)) {
    return corrupt(std::to_string(h.row_count) + " rows cannot fit in " +
                   std::to_string(h.rows_bytes) + " bytes");
  }
  out.rows.reserve(h.row_count);
  for (uint64_t i = 0; i < h.row_count; ++i) {
    const std::string where = "row record " + std::to_string(i);
    if (body - at < sizeof(SnapshotRow)) return corrupt(where + " is truncated");
    SnapshotRow r;
    std::memcpy(&r, bytes.data() + at, sizeof(r));
    if (r.reserved != 0) return corrupt(where + " has a non-zero reserved field");
    if (r.key_len == 0 || r.key_len > UINT16_MAX) {
      return corrupt(where + " has a key of " + std::to_string(r.key_len) + " bytes");
    }
    const uint64_t record = layout::SnapshotRowBytes(r.key_len, r.payload_len);
    if (record > body - at) return corrupt(where + " runs past the end of the file");
    const uint64_t key_at = at + sizeof(SnapshotRow);
    const uint64_t payload_at = key_at + SnapshotPad8(r.key_len);
    if (!AllZero(bytes.substr(key_at + r.key_len, SnapshotPad8(r.key_len) - r.key_len)) ||
        !AllZero(bytes.substr(payload_at + r.payload_len,
                              SnapshotPad8(r.payload_len) - r.payload_len))) {
      return corrupt(where + " has non-zero padding");
    }
    out.rows.push_back(
        {r.view_id, bytes.substr(key_at, r.key_len), bytes.substr(payload_at, r.payload_len)});
    at += record;
  }
  if (at != body) return corrupt(std::to_string(body - at) + " bytes follow the last row record");
  return out;
}

Status WriteSnapshotFile(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  // O_EXCL with O_NOFOLLOW: a file or link planted at PATH.tmp is never written through.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return ErrnoError(err == EEXIST ? "cannot create (it exists: another snapshot in progress, "
                                      "or one that died; remove it)"
                                    : "cannot create",
                      tmp, err);
  }
  Status st = WriteAll(fd, bytes, tmp);
  if (st.ok() && ::fsync(fd) != 0) st = ErrnoError("cannot sync", tmp, errno);
  ::close(fd);
  // rename() replaces a link at `path` itself, never the file it points to.
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = ErrnoError("cannot rename the snapshot into place at", path, errno);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  const std::string dir = DirectoryOf(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    if (rc != 0 && err != EINVAL) return ErrnoError("cannot sync the directory", dir, err);
  }
  return Status::Ok();
}

Result<std::string> ReadSnapshotFile(const std::string& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    return ErrnoError(
        err == ELOOP ? "refusing a symbolic link as the snapshot" : "cannot open snapshot", path,
        err);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return IoError("snapshot '" + path + "' is not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    return Status(ErrorCode::kStoreFull, "snapshot '" + path + "' holds " + std::to_string(size) +
                                             " bytes, more than the store's memory_limit of " +
                                             std::to_string(max_bytes) +
                                             " (raise online_store.memory_limit)");
  }
  std::string bytes(size, '\0');
  uint64_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, bytes.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoError("cannot read snapshot", path, err);
    }
    if (n == 0) break;
    got += static_cast<uint64_t>(n);
  }
  ::close(fd);
  // A file that shrank while read fails here; one that grew or changed fails the checksum.
  if (got != size) return CorruptStore("snapshot '" + path + "' changed while it was read");
  return bytes;
}

}  // namespace larder
