#include "engine/segment/store_files.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
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
  uint32_t uid = 0;
  const char* end = name.data() + name.size();
  const auto [ptr, ec] = std::from_chars(name.data(), end, uid);
  if (name.empty() || ec != std::errc() || ptr != end || uid == 0xffffffffu) {
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

namespace {

// "larder (gid 1000)", "gid 1234" when the group has no name.
std::string DescribeGroup(gid_t gid) {
  std::vector<char> buf(16384);
  struct group gr;
  struct group* found = nullptr;
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return std::string(found->gr_name) + " (gid " + std::to_string(gid) + ")";
  }
  return "gid " + std::to_string(gid);
}

// The group whose write permission on a directory does not let anyone but this user change it:
// this user's private group (the group of its primary gid, named as the user, with no member
// but this user in the group database and no other user having it as primary group), which a
// umask of 002 makes group-writable. Not gid 0: containers commonly put their users in root's
// group (OpenShift's arbitrary uids, `USER 1001:0`). Supplementary groups a container runtime
// hands out (Kubernetes fsGroup) appear in no database: a directory of such a group is judged
// by its group's name and members only, so name a group of the user's own there.
struct TrustedGroups {
  bool has_private = false;
  gid_t private_gid = 0;

  static TrustedGroups For(uid_t me) {
    TrustedGroups t;
    std::vector<char> buf(16384);
    struct passwd pw;
    struct passwd* user = nullptr;
    if (::getpwuid_r(me, &pw, buf.data(), buf.size(), &user) != 0 || user == nullptr) return t;
    const std::string name = user->pw_name;
    const gid_t gid = user->pw_gid;
    std::vector<char> gbuf(65536);
    struct group gr;
    struct group* found = nullptr;
    int rc;
    while ((rc = ::getgrgid_r(gid, &gr, gbuf.data(), gbuf.size(), &found)) == ERANGE &&
           gbuf.size() < (size_t{1} << 24)) {
      gbuf.resize(gbuf.size() * 2);
    }
    if (rc != 0 || found == nullptr || name != found->gr_name) return t;
    for (char** member = found->gr_mem; member != nullptr && *member != nullptr; ++member) {
      if (name != *member) return t;
    }
    if (AnotherUserHasPrimaryGroup(gid, me)) return t;
    t.has_private = true;
    t.private_gid = gid;
    return t;
  }

  bool Trusts(gid_t gid) const { return has_private && gid == private_gid; }

 private:
  // Whether a user other than `me` has `gid` as primary group (a scan of the user database;
  // getpwent's iteration state is process-wide, hence the lock).
  static bool AnotherUserHasPrimaryGroup(gid_t gid, uid_t me) {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    ::setpwent();
    bool another = false;
    std::vector<char> buf(16384);
    struct passwd pw;
    struct passwd* entry = nullptr;
    while (::getpwent_r(&pw, buf.data(), buf.size(), &entry) == 0 && entry != nullptr) {
      if (entry->pw_gid == gid && entry->pw_uid != me) {
        another = true;
        break;
      }
    }
    ::endpwent();
    return another;
  }
};

// Whether the directory `dir` has an access ACL (POSIX or NFSv4): its group mode bits are then
// the ACL's mask, the most any named user or group may have, not the owning group's rights.
// Unknown counts as having one.
bool HasAcl(const std::string& dir) {
  for (const char* name : {"system.posix_acl_access", "system.nfs4_acl"}) {
    if (::lgetxattr(dir.c_str(), name, nullptr, 0) >= 0) return true;
    if (errno != ENODATA && errno != ENOTSUP && errno != EOPNOTSUPP) return true;
  }
  return false;
}

// Whether someone other than the owner, root or this user may create, rename or remove entries
// in the directory `dir` (`st`): others may write, or a group that is not trusted may, or the
// group bits are an ACL's mask (named users or groups may write).
bool UntrustedMayWrite(const std::string& dir, const struct stat& st, const TrustedGroups& groups) {
  if ((st.st_mode & S_IWOTH) != 0) return true;
  if ((st.st_mode & S_IWGRP) == 0) return false;
  return !groups.Trusts(st.st_gid) || HasAcl(dir);
}

// A directory the path passes through (or the store's own): owned by this user or root, and
// sticky if anyone untrusted may write to it.
Status JudgeDirectory(const std::string& dir, const struct stat& st, const std::string& path,
                      uid_t me, const TrustedGroups& groups) {
  if (st.st_uid != me && st.st_uid != 0) {
    return IoError("the directory '" + dir + "' on the path to the store '" + path +
                   "' is owned by " + DescribeUser(st.st_uid) + " (mode " + ModeText(st.st_mode) +
                   "): its owner could replace what lies below it, so no store files are kept "
                   "there (use a directory owned by " +
                   DescribeUser(me) + (me != 0 ? " or root" : "") +
                   " all the way from '/', or run as its owner)");
  }
  if (UntrustedMayWrite(dir, st, groups) && (st.st_mode & S_ISVTX) == 0) {
    const char* who = (st.st_mode & S_IWOTH) != 0 ? "others"
                      : groups.Trusts(st.st_gid)  ? "users its ACL names"
                                                  : "its group's members";
    return IoError("the directory '" + dir + "' on the path to the store '" + path + "' has mode " +
                   ModeText(st.st_mode) + " (owner " + DescribeUser(st.st_uid) + ", group " +
                   DescribeGroup(st.st_gid) + "): " + who +
                   " may write to it and it is not sticky, so they could replace the "
                   "store's files or the directories below it (chmod +t or o-w it; g-w it "
                   "unless its group is your private group and it has no ACL)");
  }
  return Status::Ok();
}

void PushComponentsFront(const std::string& text, std::deque<std::string>* todo) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t slash = text.find('/', begin);
    if (slash == std::string::npos) slash = text.size();
    if (slash > begin) parts.push_back(text.substr(begin, slash - begin));
    begin = slash + 1;
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo->push_front(*it);
}

constexpr int kMaxSymlinks = 40;  // as the kernel's path walk (MAXSYMLINKS)

}  // namespace

Status CheckStoreDirectory(const std::string& path) {
  const uid_t me = ::geteuid();
  const TrustedGroups groups = TrustedGroups::For(me);
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  // A relative path is taken from the working directory's path (getcwd: no symbolic links).
  const fs::path abs = fs::absolute(dir, ec);
  if (ec) return IoError("cannot resolve the directory of '" + path + "': " + ec.message());
  std::deque<std::string> todo;
  PushComponentsFront(abs.string(), &todo);

  // The walk resolves the path as the kernel does, one entry at a time, without following
  // anything by itself: `cur` is always a directory reached through directories already judged
  // (no symbolic link in it), so ".." is its textual parent.
  std::string cur = "/";
  struct stat cur_st;
  auto enter = [&](const std::string& d) -> Status {
    if (::lstat(d.c_str(), &cur_st) != 0) {
      return IoError("cannot stat the directory '" + d + "' on the path to the store '" + path +
                     "': " + std::strerror(errno));
    }
    cur = d;
    return JudgeDirectory(d, cur_st, path, me, groups);
  };
  LARDER_RETURN_IF_ERROR(enter("/"));
  int links = 0;
  while (!todo.empty()) {
    const std::string part = todo.front();
    todo.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      const size_t slash = cur.rfind('/');
      LARDER_RETURN_IF_ERROR(enter(slash == 0 ? "/" : cur.substr(0, slash)));
      continue;
    }
    const std::string entry = (cur == "/" ? "" : cur) + "/" + part;
    struct stat st;
    if (::lstat(entry.c_str(), &st) != 0) {
      // A missing entry where only trusted users may create one: nothing lies below it, and
      // the open or create that follows reports it (kStoreNotFound, or the error of creating a
      // file in a directory that does not exist). Where others may create it (a sticky
      // /dev/shm), they could make it after this check and own what the store's files then go
      // into: refused.
      if (errno == ENOENT && !UntrustedMayWrite(cur, cur_st, groups)) return Status::Ok();
      if (errno == ENOENT) {
        return IoError("'" + entry + "' on the path to the store '" + path +
                       "' does not exist, and others may create it in '" + cur + "' (mode " +
                       ModeText(cur_st.st_mode) + "): create it first (or apply with a path " +
                       "whose directory exists)");
      }
      return IoError("cannot stat '" + entry + "' on the path to the store '" + path +
                     "': " + std::strerror(errno));
    }
    // In a sticky directory others may write to, they cannot rename or remove an entry they do
    // not own; one they own, they can.
    if (UntrustedMayWrite(cur, cur_st, groups) && st.st_uid != me && st.st_uid != 0) {
      return IoError("'" + entry + "' on the path to the store '" + path + "' is owned by " +
                     DescribeUser(st.st_uid) + ", in the directory '" + cur + "' (mode " +
                     ModeText(cur_st.st_mode) +
                     ") that others may write to: its owner could rename it away and put "
                     "another in its place (use a directory owned by " +
                     DescribeUser(me) + (me != 0 ? " or root" : "") + ")");
    }
    if (S_ISLNK(st.st_mode)) {
      if (st.st_uid != me && st.st_uid != 0) {
        return IoError("the path to '" + path + "' goes through the symbolic link '" + entry +
                       "' owned by " + DescribeUser(st.st_uid) +
                       ": refusing it (another user could redirect the store's files)");
      }
      if (++links > kMaxSymlinks) {
        return IoError("the path to the store '" + path + "' goes through more than " +
                       std::to_string(kMaxSymlinks) + " symbolic links (a loop?)");
      }
      std::vector<char> target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 0) + 4096);
      const ssize_t n = ::readlink(entry.c_str(), target.data(), target.size());
      if (n <= 0 || static_cast<size_t>(n) >= target.size()) {
        return IoError("cannot read the symbolic link '" + entry + "' on the path to the store '" +
                       path + "': " + (n < 0 ? std::strerror(errno) : "empty or changing"));
      }
      const std::string text(target.data(), static_cast<size_t>(n));
      PushComponentsFront(text, &todo);
      // An absolute target starts again from "/"; a relative one from the link's directory.
      if (text[0] == '/') LARDER_RETURN_IF_ERROR(enter("/"));
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      return IoError("'" + entry + "' on the path to the store '" + path + "' is not a directory");
    }
    cur = entry;
    cur_st = st;
    LARDER_RETURN_IF_ERROR(JudgeDirectory(entry, st, path, me, groups));
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
