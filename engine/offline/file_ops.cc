#include "engine/offline/file_ops.h"

#include <unistd.h>

#include <atomic>

namespace larder {

ssize_t FileOps::Write(int fd, const void* data, size_t n) { return ::write(fd, data, n); }
int FileOps::Fdatasync(int fd) { return ::fdatasync(fd); }
int FileOps::Fsync(int fd) { return ::fsync(fd); }
int FileOps::Ftruncate(int fd, off_t length) { return ::ftruncate(fd, length); }

namespace {

FileOps g_real_ops;
// acquire/release: a test's ops object is fully constructed before an append can reach it.
std::atomic<FileOps*> g_installed{nullptr};

}  // namespace

FileOps& FileOpsNow() {
  FileOps* ops = g_installed.load(std::memory_order_acquire);
  return ops != nullptr ? *ops : g_real_ops;
}

FileOps* SetFileOpsForTesting(FileOps* ops) {
  return g_installed.exchange(ops, std::memory_order_acq_rel);
}

}  // namespace larder
