// Helpers shared by the tests: scratch directories and files.
#pragma once

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

}  // namespace larder::testing
