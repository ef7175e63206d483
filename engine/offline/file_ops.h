// The system calls that make an offline append durable (engine/offline/offline_log.cc), behind one
// interface, so that a test can see the order they run in and make them fail
// (tests/offline_durability_test.cc). Production code uses the real calls; nothing but a test
// installs other ops.
// Thread-safety: FileOpsNow() may be called from any thread; SetFileOpsForTesting() must not
// race with appends that the caller wants to observe.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace larder {

class FileOps {
 public:
  virtual ~FileOps() = default;
  // Each behaves as the system call of its name (result and errno).
  virtual ssize_t Write(int fd, const void* data, size_t n);
  virtual int Fdatasync(int fd);
  virtual int Fsync(int fd);
  virtual int Ftruncate(int fd, off_t length);
};

// The ops in effect: the real system calls unless a test installed others.
FileOps& FileOpsNow();

// Installs `ops` (nullptr: the real calls again) and returns the ops it replaces (nullptr for
// the real ones). `ops` must outlive its installation.
FileOps* SetFileOpsForTesting(FileOps* ops);

}  // namespace larder
