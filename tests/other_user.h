// A second local user for tests that need one (file ownership): created with useradd for one
// test and removed after it; only root can, so tests skip, saying why, elsewhere.
// Header-only (tests/CMakeLists.txt compiles *_test.cc and test_util.cc only).
#pragma once

#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "tests/store_fixture.h"

namespace larder::testing {

// A local user created for one test (useradd) and removed after it (userdel).
class OtherUser {
 public:
  OtherUser() {
    if (::geteuid() != 0) {
      why_not_ = "needs root to create a second local user";
      return;
    }
    name_ = "larder_t" + std::to_string(::getpid() % 100000);
    const std::string cmd =
        "useradd --system --no-create-home --shell /usr/sbin/nologin " + name_ + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      why_not_ = "useradd " + name_ + " failed";
      name_.clear();
      return;
    }
    const struct passwd* pw = ::getpwnam(name_.c_str());
    if (pw == nullptr) {
      why_not_ = "useradd " + name_ + " made no passwd entry";
      return;
    }
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }
  ~OtherUser() {
    if (!name_.empty()) (void)std::system(("userdel " + name_ + " >/dev/null 2>&1").c_str());
  }
  bool ok() const { return !name_.empty(); }
  const std::string& why_not() const { return why_not_; }
  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

  // Runs `body` in a child process as this user; returns the child's exit code (or -1).
  int RunAs(const std::function<int()>& body) const {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0) ::_exit(99);
      ::_exit(body());
    }
    int status = WaitChild(pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  std::string name_;
  std::string why_not_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

}  // namespace larder::testing
