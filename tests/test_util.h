// Helpers shared by the tests: scratch directories and files, forked child processes.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace larder::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name (creating subdirectories) and returns the full path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A unique segment path under /dev/shm for one test; the files are removed on destruction.
class TempSegmentPath {
 public:
  TempSegmentPath();
  ~TempSegmentPath();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);

// A child forked by ForkChild, and the parent's (read) end of the pipe it reports through.
struct Child {
  pid_t pid = -1;  // -1: pipe() or fork() failed
  int report_fd = -1;
};

// Forks a child that runs `body` with the write end of a fresh pipe, then _exit(0)s (`body` may
// _exit with another status itself, or never return). Flushes stdio first so that buffered output
// is not written twice. The parent's copy of the write end is closed: the read end reaches EOF
// once the child has exited or closed its end. The caller closes report_fd.
Child ForkChild(const std::function<void(int report_fd)>& body);

// Whether the read end of a pipe is readable: at EOF, once the parent closed its write end (a
// "stop" pipe), or with data waiting. Does not block.
bool Readable(int fd);

}  // namespace larder::testing
