// New files installed atomically in a directory (Parquet part files): hidden temp file, fsync,
// rename without replacing, directory fsync.
#include "engine/offline/part_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <vector>

#include "engine/offline/file_ops.h"
#include "engine/segment/store_files.h"

namespace larder {

namespace {

std::string Errno() { return std::strerror(errno); }

uint64_t RandomBits() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) == static_cast<ssize_t>(sizeof v)) return v;
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

}  // namespace

std::string ParquetPartName(int64_t unix_seconds, uint64_t random) {
  const auto t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "part-%04d%02d%02dT%02d%02d%02dZ-%016llx.parquet",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned long long>(random));
  return buf;
}

std::string NewParquetPartName() {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return ParquetPartName(now, RandomBits());
}

Status CreateDirectoriesSynced(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path p = fs::path(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "data/stats/" names "data/stats"
  std::vector<fs::path> missing;               // deepest first
  for (std::error_code ec; !p.empty() && !fs::exists(fs::symlink_status(p, ec));
       p = p.parent_path()) {
    missing.push_back(p);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0777) != 0 && errno != EEXIST) {
      return IoError("cannot create directory '" + it->string() + "': " + Errno());
    }
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    const fs::path parent = it->has_parent_path() ? it->parent_path() : fs::path(".");
    const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || FileOpsNow().Fsync(fd) != 0) {
      Status err = IoError("cannot sync directory '" + parent.string() + "': " + Errno());
      if (fd >= 0) ::close(fd);
      return err;
    }
    ::close(fd);
  }
  return Status::Ok();
}

namespace {

// Writes `bytes` to `fd` whole and syncs it; `what` names the file in errors.
Status WriteAndSync(int fd, const std::string& bytes, const std::string& what) {
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = FileOpsNow().Write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("cannot write '" + what + "': " + Errno());
    done += static_cast<size_t>(n);
  }
  if (FileOpsNow().Fsync(fd) != 0) return IoError("cannot sync '" + what + "': " + Errno());
  return Status::Ok();
}

// Syncs the directory `dfd` after `name` appeared in it; on failure removes it again (not
// acknowledged: not left visible either).
Status SyncDirectoryOrRemove(int dfd, const std::string& dir, const std::string& name) {
  if (FileOpsNow().Fsync(dfd) != 0) {
    Status err = IoError("cannot sync directory '" + dir + "': " + Errno());
    ::unlinkat(dfd, name.c_str(), 0);
    return err;
  }
  return Status::Ok();
}

enum class Anonymous { kInstalled, kUnsupported };

// The file as an unnamed inode of the directory `dfd` (O_TMPFILE), written, synced, linked to
// its name (linkat never replaces), and synced again (its link count): a crash at any point
// leaves nothing in the directory. kUnsupported (nothing done) where the kernel, the
// filesystem or a missing /proc cannot.
Result<Anonymous> InstallAnonymous(int dfd, const std::string& final_path, const std::string& name,
                                   const std::string& bytes, uint32_t mode) {
  FileHandle file(::openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode));
  if (file.get() < 0) {
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) return Anonymous::kUnsupported;
    return IoError("cannot create a file for '" + final_path + "': " + Errno());
  }
  const std::string what = final_path + " (unnamed until linked)";
  if (::fchmod(file.get(), mode) != 0) {
    return IoError("cannot set the mode of '" + what + "': " + Errno());
  }
  LARDER_RETURN_IF_ERROR(WriteAndSync(file.get(), bytes, what));
  // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd/N works for anyone where /proc is.
  int linked = ::linkat(file.get(), "", dfd, name.c_str(), AT_EMPTY_PATH);
  if (linked != 0 && (errno == ENOENT || errno == EPERM)) {
    const std::string proc = "/proc/self/fd/" + std::to_string(file.get());
    linked = ::linkat(AT_FDCWD, proc.c_str(), dfd, name.c_str(), AT_SYMLINK_FOLLOW);
    if (linked != 0 && errno == ENOENT && ::access("/proc/self/fd", F_OK) != 0) {
      return Anonymous::kUnsupported;
    }
  }
  if (linked != 0) return IoError("cannot link '" + final_path + "': " + Errno());
  if (FileOpsNow().Fsync(file.get()) != 0) {
    Status err = IoError("cannot sync '" + final_path + "': " + Errno());
    ::unlinkat(dfd, name.c_str(), 0);
    return err;
  }
  return Anonymous::kInstalled;
}

}  // namespace

Result<FileHandle> OpenOwnedDirectory(const std::string& dir) {
  std::string name = dir;  // "data/stats/" names "data/stats": a trailing '/' follows a link
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  FileHandle d(::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (d.get() < 0) {
    if (errno == ENOENT) return Status(ErrorCode::kStoreNotFound, "no directory '" + name + "'");
    if (errno == ELOOP || errno == ENOTDIR) {
      return IoError("directory '" + name +
                     "' is a symbolic link or not a directory: refusing to add a file through "
                     "it (nothing was written)");
    }
    return IoError("cannot open directory '" + name + "': " + Errno());
  }
  struct stat st {};
  if (::fstat(d.get(), &st) != 0) return IoError("cannot stat '" + name + "': " + Errno());
  if (st.st_uid != ::geteuid()) {
    return IoError("directory '" + name + "' is owned by " + DescribeUser(st.st_uid) + ", not by " +
                   DescribeUser(::geteuid()) +
                   ": refusing to add a file to a directory another user owns (nothing was "
                   "written)");
  }
  return d;
}

Status InstallNewFile(const std::string& dir, const std::string& name, const std::string& bytes,
                      uint32_t mode) {
  const std::string final_path = (std::filesystem::path(dir) / name).string();
  // Every step goes through this one descriptor, checked once: a link or another user's
  // directory swapped in at `dir` meanwhile is never written to.
  LARDER_ASSIGN_OR_RETURN(FileHandle d, OpenOwnedDirectory(dir));
  LARDER_ASSIGN_OR_RETURN(Anonymous anonymous,
                          InstallAnonymous(d.get(), final_path, name, bytes, mode));
  if (anonymous == Anonymous::kInstalled) return SyncDirectoryOrRemove(d.get(), dir, name);

  // Without O_TMPFILE: a hidden name, renamed into place (a crash leaves the hidden file).
  const std::string tmp_name = "." + name + ".tmp";
  const std::string tmp_path = (std::filesystem::path(dir) / tmp_name).string();
  Status st_write = Status::Ok();
  {
    FileHandle file(::openat(d.get(), tmp_name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (file.get() < 0) return IoError("cannot create '" + tmp_path + "': " + Errno());
    if (::fchmod(file.get(), mode) != 0) {
      st_write = IoError("cannot set the mode of '" + tmp_path + "': " + Errno());
    }
    if (st_write.ok()) st_write = WriteAndSync(file.get(), bytes, tmp_path);
  }
  if (!st_write.ok()) {
    ::unlinkat(d.get(), tmp_name.c_str(), 0);
    return st_write;
  }
  if (::renameat2(d.get(), tmp_name.c_str(), d.get(), name.c_str(), RENAME_NOREPLACE) != 0) {
    // Filesystems without RENAME_NOREPLACE: link() never replaces either.
    if ((errno != EINVAL && errno != ENOSYS) ||
        ::linkat(d.get(), tmp_name.c_str(), d.get(), name.c_str(), 0) != 0) {
      Status err = IoError("cannot rename '" + tmp_path + "' to '" + name + "': " + Errno());
      ::unlinkat(d.get(), tmp_name.c_str(), 0);
      return err;
    }
    ::unlinkat(d.get(), tmp_name.c_str(), 0);
  }
  return SyncDirectoryOrRemove(d.get(), dir, name);
}

}  // namespace larder
