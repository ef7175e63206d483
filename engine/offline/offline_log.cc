// Batch-source CSV files as append logs: locking, the boundary hint, torn tails, durability.
#include "engine/offline/offline_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>
#include <utility>

#include "engine/offline/file_ops.h"
#include "engine/offline/part_file.h"
#include "engine/segment/store_files.h"
#include "engine/values/csv_stream.h"

namespace larder {

namespace {

constexpr char kHintMagic[] = "larder-offline-hint 1 ";
constexpr size_t kHintTail = 16;

std::string Errno() { return std::strerror(errno); }

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Opens a file the offline store writes (`what` names it in errors), creating it with exactly
// `mode` (O_EXCL, then fchmod past the umask) when it is missing. An existing one is opened as
// the online store's files are (OpenStoreFile, engine/segment/store_files.h): never through a
// symbolic link, never blocking on a FIFO, and only a regular file this process's user owns; a
// file planted by another user, or a link to one, is refused naming it and its owner.
Result<Fd> OpenOwnedForWriting(const std::string& path, int flags, uint32_t mode,
                               const char* what) {
  Fd created(::open(path.c_str(), flags | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (created.get() >= 0) {
    if (::fchmod(created.get(), mode) != 0) {
      return IoError("cannot set the mode of " + std::string(what) + " '" + path + "': " + Errno());
    }
    return created;
  }
  if (errno != EEXIST) {
    return IoError("cannot create " + std::string(what) + " '" + path + "': " + Errno());
  }
  struct stat st {};
  LARDER_ASSIGN_OR_RETURN(FileHandle existing,
                          OpenStoreFile(path, flags, what, OwnerRule{.must_be_mine = true}, &st));
  return Fd(existing.release());
}

// Opens `path` and takes flock(`op`) within `timeout_ms`. Without `create`, a missing file is
// no error: the result holds -1.
Result<Fd> LockFile(const std::string& path, int op, bool create, uint32_t mode, int timeout_ms) {
  Fd fd;
  if (create) {
    LARDER_ASSIGN_OR_RETURN(fd, OpenOwnedForWriting(path, O_RDWR, mode, "offline lock file"));
  } else {
    struct stat st {};
    auto opened = OpenStoreFile(path, O_RDONLY, "offline lock file", OwnerRule{}, &st);
    if (!opened.ok()) {
      if (opened.status().code() == ErrorCode::kStoreNotFound) return Fd();
      return opened.status();
    }
    fd = Fd(opened->release());
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto pause = std::chrono::microseconds(50);
  while (::flock(fd.get(), op | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return IoError("cannot lock '" + path + "': " + Errno());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(ErrorCode::kBusy, "another process held '" + path + "' for more than " +
                                          std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
  return fd;
}

bool PreadExact(int fd, char* dst, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, dst + got, n - got, static_cast<off_t>(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = FileOpsNow().Write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot append to '" + path + "': " + Errno());
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

// The record boundary the hint names, when it still matches the file.
std::optional<uint64_t> ReadHint(int lock_fd, int data_fd, uint64_t size) {
  char buf[96] = {};
  ssize_t n = ::pread(lock_fd, buf, sizeof(buf) - 1, 0);
  const size_t magic = sizeof(kHintMagic) - 1;
  if (n < static_cast<ssize_t>(magic) || std::memcmp(buf, kHintMagic, magic) != 0) {
    return std::nullopt;
  }
  uint64_t offset = 0;
  char hex[2 * kHintTail + 2] = {};
  // %33s: at most sizeof(hex) - 1 characters and the terminating NUL.
  if (std::sscanf(buf + magic, "%" SCNu64 " %33s", &offset, hex) != 2) return std::nullopt;
  if (offset == 0) return 0;
  if (offset > size) return std::nullopt;
  size_t k = std::min<uint64_t>(kHintTail, offset);
  std::string tail(k, '\0');
  if (!PreadExact(data_fd, tail.data(), k, offset - k)) return std::nullopt;
  if (tail.back() != '\n' || Hex(tail) != hex) return std::nullopt;
  return offset;
}

void WriteHint(int lock_fd, int data_fd, uint64_t offset) {
  size_t k = std::min<uint64_t>(kHintTail, offset);
  std::string tail(k, '\0');
  if (k > 0 && !PreadExact(data_fd, tail.data(), k, offset - k)) return;
  char buf[96];
  int n = std::snprintf(buf, sizeof(buf), "%s%020" PRIu64 " %-32s\n", kHintMagic, offset,
                        Hex(tail).c_str());
  if (n <= 0) return;
  // A hint is only an optimization: a failed or torn write just costs the next reader a scan.
  if (::pwrite(lock_fd, buf, static_cast<size_t>(n), 0) < 0) return;
}

// The header of the file whose first `boundary` bytes hold complete records.
Result<std::vector<std::string>> ReadHeader(int fd, uint64_t boundary, const std::string& path) {
  for (uint64_t limit : {std::min<uint64_t>(boundary, 64 << 10), boundary}) {
    CsvStream cs(fd, limit, path);
    LARDER_ASSIGN_OR_RETURN(bool got, cs.Next());
    if (!got) continue;
    std::vector<std::string> names;
    for (size_t i = 0; i < cs.num_fields(); ++i) names.emplace_back(cs.field(i));
    return names;
  }
  return Status(ErrorCode::kDataSourceError, path + ": cannot read the header row");
}

// Keeps a copy of the torn tail [from, to) of `path` in PATH.torn before it is cut. The copy
// must be kept: when PATH.torn cannot be used (a link, another user's file) or the tail cannot
// be read, the error stops the append and the tail stays where it is.
Status SaveTorn(const std::string& path, int fd, uint64_t from, uint64_t to, uint32_t mode) {
  LARDER_ASSIGN_OR_RETURN(Fd out, OpenOwnedForWriting(OfflineTornPath(path), O_WRONLY | O_APPEND,
                                                      mode, "torn records file"));
  std::string bytes(static_cast<size_t>(std::min<uint64_t>(to - from, 64 << 20)), '\0');
  if (!PreadExact(fd, bytes.data(), bytes.size(), from)) {
    return IoError("cannot read the torn tail of '" + path + "': " + Errno());
  }
  bytes.push_back('\n');
  return WriteAll(out.get(), bytes, path);
}

Status FsyncDir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  Fd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || FileOpsNow().Fsync(fd.get()) != 0) {
    return IoError("cannot sync directory '" + dir + "': " + Errno());
  }
  return Status::Ok();
}

}  // namespace

std::string OfflineLockPath(const std::string& path) { return path + ".lock"; }
std::string OfflineTornPath(const std::string& path) { return path + ".torn"; }

Result<AppendOutcome> AppendRecords(const std::string& path,
                                    const std::vector<std::string>& new_header,
                                    const RenderRecords& render, uint32_t file_mode,
                                    int timeout_ms) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  // Missing directories are created with their entries synced: the file's own entry is synced
  // below, and an acknowledged append must not vanish with a directory a crash forgot.
  if (!parent.empty()) LARDER_RETURN_IF_ERROR(CreateDirectoriesSynced(parent.string()));
  LARDER_ASSIGN_OR_RETURN(Fd lock, LockFile(OfflineLockPath(path), LOCK_EX, true, file_mode, timeout_ms));
  // The file is created only once the records rendered: a refused request leaves no file.
  struct stat st {};
  auto opened = OpenStoreFile(path, O_RDWR | O_APPEND, "batch source file",
                              OwnerRule{.must_be_mine = true}, &st);
  const bool existed = opened.ok();
  if (!existed && opened.status().code() != ErrorCode::kStoreNotFound) return opened.status();
  Fd fd(existed ? opened->release() : -1);
  const auto size = static_cast<uint64_t>(st.st_size);
  uint64_t boundary = 0;
  if (existed) {
    uint64_t from = ReadHint(lock.get(), fd.get(), size).value_or(0);
    LARDER_ASSIGN_OR_RETURN(boundary, FindLastRecordBoundary(fd.get(), from, size));
  }
  AppendOutcome out;
  std::vector<std::string> header = new_header;
  if (boundary > 0) {
    LARDER_ASSIGN_OR_RETURN(header, ReadHeader(fd.get(), boundary, path));
  } else {
    out.created = true;
  }
  LARDER_ASSIGN_OR_RETURN(std::string records, render(header));
  if (!existed) {
    LARDER_ASSIGN_OR_RETURN(
        fd, OpenOwnedForWriting(path, O_RDWR | O_APPEND, file_mode, "batch source file"));
  }
  std::string data;
  if (out.created) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (i > 0) data.push_back(',');
      AppendCsvField(header[i], &data);
    }
    data.push_back('\n');
  }
  data += records;

  if (size > boundary) {
    LARDER_RETURN_IF_ERROR(SaveTorn(path, fd.get(), boundary, size, file_mode));
    if (FileOpsNow().Ftruncate(fd.get(), static_cast<off_t>(boundary)) != 0) {
      return IoError("cannot remove the torn tail of '" + path + "': " + Errno());
    }
    out.torn_bytes = size - boundary;
  }
  Status st_write = WriteAll(fd.get(), data, path);
  // Durable before acknowledged: the records are synced before this returns (and, for a new
  // file, its directory entry: tests/offline_durability_test.cc checks the order).
  if (st_write.ok() && FileOpsNow().Fdatasync(fd.get()) != 0) {
    st_write = IoError("cannot sync '" + path + "': " + Errno());
  }
  if (!st_write.ok()) {
    // Leave the file as it was: nothing of this append is acknowledged.
    (void)!FileOpsNow().Ftruncate(fd.get(), static_cast<off_t>(boundary));
    return st_write;
  }
  if (!existed) LARDER_RETURN_IF_ERROR(FsyncDir(path));
  WriteHint(lock.get(), fd.get(), boundary + data.size());
  out.bytes_written = data.size();
  return out;
}

Result<std::unique_ptr<OfflineSnapshot>> OfflineSnapshot::Open(const std::string& path,
                                                               int timeout_ms) {
  std::unique_ptr<OfflineSnapshot> snap(new OfflineSnapshot());
  snap->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (snap->fd_ < 0) {
    if (errno == ENOENT) {
      return Status(ErrorCode::kDataSourceNotFound,
                    "batch source file '" + path + "' does not exist");
    }
    return IoError("cannot read batch source file '" + path + "': " + Errno());
  }
  LARDER_ASSIGN_OR_RETURN(Fd lock, LockFile(OfflineLockPath(path), LOCK_SH, false, 0, timeout_ms));
  struct stat st {};
  if (::fstat(snap->fd_, &st) != 0) return IoError("cannot stat '" + path + "': " + Errno());
  snap->size_ = snap->limit_ = static_cast<uint64_t>(st.st_size);
  if (lock.get() >= 0) {
    std::optional<uint64_t> from = ReadHint(lock.get(), snap->fd_, snap->size_);
    if (from) {
      LARDER_ASSIGN_OR_RETURN(snap->limit_, FindLastRecordBoundary(snap->fd_, *from, snap->size_));
    } else {
      snap->lock_fd_ = lock.release();  // hold the lock while the whole file is read
    }
  }
  return snap;
}

OfflineSnapshot::~OfflineSnapshot() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace larder
