#include "engine/segment/store_files.h"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

namespace larder {

namespace fs = std::filesystem;

std::string DescribeUser(uid_t uid) {
  std::vector<char> buf(4096);
  struct passwd pw;
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
  }
  return "uid " + std::to_string(uid);
}

Result<uid_t> ResolveUser(const std::string& name, const std::string& what) {
  std::vector<char> buf(4096);
  struct passwd pw;
  struct passwd* found = nullptr;
  const int err = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (err == 0 && found != nullptr) return found->pw_uid;
  // An error of the lookup itself (not "no such user": 0, ENOENT, ESRCH, EBADF, EPERM) is
  // reported as such, not as an unknown name.
  if (err != 0 && err != ENOENT && err != ESRCH && err != EBADF && err != EPERM) {
    return IoError("cannot look up the user '" + name.substr(0, 64) + "' of " + what + ": " +
                   std::strerror(err));
  }
  // A uid given as a number: all digits, and within uid_t (the -1 of "no owner" excluded).
  bool digits = !name.empty() && name.size() <= 10;
  uint64_t uid = 0;
  for (char c : name) {
    digits = digits && c >= '0' && c <= '9';
    if (digits) uid = uid * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!digits || uid >= 0xffffffffull) {
    return InvalidArgument(what + " '" + name.substr(0, 64) +
                           "' names no user of this host (give a user name or a uid)");
  }
  return static_cast<uid_t>(uid);
}

Status CheckRunsAsConfiguredOwner(const std::string& owner) {
  if (owner.empty()) return Status::Ok();
  LARDER_ASSIGN_OR_RETURN(uid_t uid, ResolveUser(owner, "online_store.owner"));
  if (uid == ::geteuid()) return Status::Ok();
  return Status(ErrorCode::kInvalidArgument, "online_store.owner says the store belongs to " +
                                                 DescribeUser(uid) + ", but this process runs as " +
                                                 DescribeUser(::geteuid()) +
                                                 ": run it as that user (nothing was written)");
}

FileHandle& FileHandle::operator=(FileHandle&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

// "0640": the permission bits of `mode`, in octal.
std::string ModeText(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

Status CheckStoreFile(const std::string& path, const char* what, const struct stat& st,
                      OwnerRule rule) {
  if (!S_ISREG(st.st_mode)) {
    return IoError(std::string(what) + " '" + path + "' is not a regular file: refusing it");
  }
  const uid_t me = ::geteuid();
  if (rule.must_be_mine && st.st_uid != me) {
    return IoError(std::string(what) + " '" + path + "' is owned by " + DescribeUser(st.st_uid) +
                   ", not by " + DescribeUser(me) +
                   ": refusing to use a store file another user owns (remove it, or run as its "
                   "owner)");
  }
  if (rule.must_be_trusted && st.st_uid != me && st.st_uid != 0 &&
      (rule.trusted_uid < 0 || st.st_uid != static_cast<uid_t>(rule.trusted_uid))) {
    std::string trusted = DescribeUser(me);
    if (me != 0) trusted += ", root";
    if (rule.trusted_uid >= 0) {
      trusted += " or " + DescribeUser(static_cast<uid_t>(rule.trusted_uid));
      return IoError(std::string(what) + " '" + path + "' is owned by " + DescribeUser(st.st_uid) +
                     ", not by the store's owner: a reader trusts only a store owned by " +
                     trusted +
                     " (someone else may have created it at the path first: remove it and apply "
                     "again as the owner)");
    }
    return IoError(std::string(what) + " '" + path + "' is owned by " + DescribeUser(st.st_uid) +
                   ": a reader trusts only a store owned by " + trusted +
                   " (if that user is the store's writer, name it in online_store.owner, or pass "
                   "it as the reader's owner: ReaderOptions::segment_owner, Python "
                   "OnlineReader(path, owner=...), C larder_reader_attach_owned)");
  }
  if (rule.expected_uid >= 0 && st.st_uid != static_cast<uid_t>(rule.expected_uid)) {
    return IoError(std::string(what) + " '" + path + "' is owned by " + DescribeUser(st.st_uid) +
                   ", but the segment by " + DescribeUser(static_cast<uid_t>(rule.expected_uid)) +
                   ": refusing a store whose files have different owners");
  }
  return Status::Ok();
}

Result<FileHandle> OpenStoreFile(const std::string& path, int flags, const char* what,
                                 OwnerRule rule, struct stat* st) {
  // O_NONBLOCK: a FIFO planted at the path must not block the open (it is refused below as
  // not a regular file); it is cleared once the file is known to be a regular one.
  FileHandle fd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return Status(ErrorCode::kStoreNotFound, std::string("no ") + what + " at '" + path + "'");
    }
    if (err == ELOOP) {
      return IoError(std::string(what) + " '" + path +
                     "' is a symbolic link: store files are never opened through one");
    }
    std::string msg = std::string("cannot open ") + what + " '" + path + "': " + std::strerror(err);
    // Not allowed: say whose file it is (only root gets past open() to CheckStoreFile).
    if (struct stat owner_st; (err == EACCES || err == EPERM) &&
                              ::lstat(path.c_str(), &owner_st) == 0) {
      msg += " (it is owned by " + DescribeUser(owner_st.st_uid) + ", mode " +
             ModeText(owner_st.st_mode) + "; this process runs as " + DescribeUser(::geteuid()) +
             ")";
    }
    return IoError(msg);
  }
  if (::fstat(fd.get(), st) != 0) {
    return IoError(std::string("cannot stat ") + what + " '" + path + "': " + std::strerror(errno));
  }
  LARDER_RETURN_IF_ERROR(CheckStoreFile(path, what, *st, rule));
  const int fl = ::fcntl(fd.get(), F_GETFL);
  if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
    return IoError(std::string("cannot set up ") + what + " '" + path + "': " +
                   std::strerror(errno));
  }
  return fd;
}

Status CheckStoreDirectory(const std::string& path) {
  const uid_t me = ::geteuid();
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  fs::path abs = fs::absolute(dir, ec);
  if (ec) return IoError("cannot resolve the directory of '" + path + "': " + ec.message());
  fs::path prefix;
  for (const fs::path& part : abs) {
    prefix /= part;
    struct stat st;
    if (::lstat(prefix.c_str(), &st) != 0) continue;  // reported by the open that follows
    if (S_ISLNK(st.st_mode) && st.st_uid != me && st.st_uid != 0) {
      return IoError("the path to '" + path + "' goes through the symbolic link '" +
                     prefix.string() + "' owned by " + DescribeUser(st.st_uid) +
                     ": refusing it (another user could redirect the store's files)");
    }
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return IoError("cannot stat the directory '" + dir.string() + "' of '" + path +
                   "': " + std::strerror(errno));
  }
  if (st.st_uid != me && st.st_uid != 0) {
    return IoError("the directory '" + dir.string() + "' of '" + path + "' is owned by " +
                   DescribeUser(st.st_uid) +
                   ": refusing to keep store files where another user can replace them");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return IoError("the directory '" + dir.string() + "' of '" + path + "' has mode " + mode +
                   ": others may write to it and it is not sticky, so they could replace the "
                   "store's files (chmod +t or o-w it)");
  }
  return Status::Ok();
}

Result<bool> SetModeOnDescriptor(int fd, const std::string& path, uint32_t mode) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return IoError("cannot stat '" + path + "': " + std::strerror(errno));
  }
  if ((st.st_mode & 07777) == mode) return false;
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    return IoError("cannot set the mode of '" + path + "': " + std::strerror(errno));
  }
  return true;
}

}  // namespace larder
