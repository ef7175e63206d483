// Opening the store's own files (the segment, PATH.readers, PATH.lock) safely: never through a
// symbolic link (O_NOFOLLOW), only regular files, and, for a process that writes, only files
// it owns. A squatter who created `/dev/shm/larder-<project>` first, or planted a symlink at
// PATH.lock, gets a refusal naming the file and its owner instead of a store that adopts it.
// Modes are set on the open descriptor (fchmod), never by path.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

#include "larder/status.h"

namespace larder {

// "root (uid 0)", "nobody (uid 65534)", "uid 1234" when the user has no name.
std::string DescribeUser(uid_t uid);

// An owned descriptor, closed on destruction.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(int fd) : fd_(fd) {}
  FileHandle(FileHandle&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileHandle& operator=(FileHandle&& o) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle();
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// Who must own a store file for this process to use it.
struct OwnerRule {
  // The process writes through the file (or creates, locks or chmods it): the file must be
  // owned by the effective uid. Otherwise any owner is accepted unless `expected_uid` is set.
  bool must_be_mine = false;
  // For readers: the owner the other files of the store have (the reader table must belong to
  // whoever owns the segment). -1: no requirement.
  long expected_uid = -1;
  // For readers of the segment: it must be owned by this process's user, by root, or by
  // `trusted_uid` (the configured owner, -1 when none is), so that a segment another user
  // squatted at the path is never served.
  bool must_be_trusted = false;
  long trusted_uid = -1;
};

// The uid a user name (or a decimal uid) names; InvalidArgument naming `what` when neither.
Result<uid_t> ResolveUser(const std::string& name, const std::string& what);

// For a process about to create or write the store: when online_store.owner names a user
// (`owner` not empty), this process must run as that user, or it would create files that
// user's writers cannot open and that readers refuse.
Status CheckRunsAsConfiguredOwner(const std::string& owner);

// Opens an existing store file `path` (`what` names it in errors: "segment", "reader table",
// "writer lock") with O_NOFOLLOW | O_CLOEXEC added to `flags`, and checks it is a regular file
// owned as `rule` says. `*st` receives its fstat. ENOENT is returned as kStoreNotFound.
Result<FileHandle> OpenStoreFile(const std::string& path, int flags, const char* what,
                                 OwnerRule rule, struct stat* st);

// Checks what OpenStoreFile checks on an already open descriptor's stat.
Status CheckStoreFile(const std::string& path, const char* what, const struct stat& st,
                      OwnerRule rule);

// For a process about to create or write store files in `path`'s directory: walks the
// directory's absolute path from "/" one entry at a time, resolving symbolic links by hand (at
// most 40), and refuses it unless nobody but this user and root can change where it leads:
// every directory passed through (those holding a symbolic link on the path, and the store's
// own, included) is owned by this user or root and, if others or an untrusted group may write
// to it, sticky, with the entry the path takes next in it owned by this user or root; every
// symbolic link is owned by this user or root. The one trusted group: this user's private group
// (its primary group, named as the user, with no other member and no other user's primary
// group), on a directory without an ACL. A missing entry ends the walk where only trusted
// users could create it (the open reports it), and is refused where others could.
Status CheckStoreDirectory(const std::string& path);

// Sets `mode` on an open store file (fchmod) if it differs; returns whether it changed.
Result<bool> SetModeOnDescriptor(int fd, const std::string& path, uint32_t mode);

}  // namespace larder
