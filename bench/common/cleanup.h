// Removal of the benchmarks' temporary files (segments in /dev/shm, repo directories) at exit,
// on SIGINT / SIGTERM / SIGHUP, and of files left behind by earlier runs that were killed.
//
// Files are named <prefix>-<pid>-...; RemoveStale() deletes those whose pid is no longer alive,
// so a crashed run is cleaned up by the next one, and a concurrent run is never disturbed.
// Thread-safety: Register*() from the main thread, before starting threads or children.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace larder::bench {

class Cleanup {
 public:
  // Unlinks `path` at exit (and on a fatal signal).
  static void RegisterFile(const std::string& path) {
    State& s = state();
    s.files.push_back(path);
    Install();
  }
  // Removes the directory tree `dir` at exit (not from a signal handler: files only there).
  static void RegisterDir(const std::string& dir) {
    State& s = state();
    s.dirs.push_back(dir);
    Install();
  }
  // A child process to SIGTERM (and reap) at exit and on a fatal signal (a redis-server).
  static void RegisterChild(pid_t pid) {
    state().children.push_back(pid);
    Install();
  }
  static void ForgetChild(pid_t pid) {
    auto& c = state().children;
    for (auto& p : c) {
      if (p == pid) p = 0;
    }
  }
  // Children forked by the benchmark must not run the parent's cleanup.
  static void DisarmInChild() { state().owner = 0; }

  // Removes entries of `dir` named `<prefix>-<pid>-...` or `<prefix>-<pid>.` whose pid is dead.
  static void RemoveStale(const std::string& dir, const std::string& prefix) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      if (name.compare(0, prefix.size() + 1, prefix + "-") != 0) continue;
      const char* p = name.c_str() + prefix.size() + 1;
      char* end = nullptr;
      errno = 0;
      long pid = std::strtol(p, &end, 10);
      if (errno != 0 || end == p || pid <= 0 || (*end != '-' && *end != '.' && *end != 0)) continue;
      if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive
      std::filesystem::remove_all(e.path(), ec);
      std::fprintf(stderr, "removed %s, left by an earlier run (pid %ld)\n",
                   e.path().c_str(), pid);
    }
  }

  static void RunNow() {
    State& s = state();
    if (s.owner != ::getpid()) return;
    for (pid_t& pid : s.children) {
      if (pid > 0) {
        ::kill(pid, SIGTERM);
        pid = 0;
      }
    }
    for (const std::string& f : s.files) ::unlink(f.c_str());
    std::error_code ec;
    for (const std::string& d : s.dirs) std::filesystem::remove_all(d, ec);
    s.files.clear();
    s.dirs.clear();
  }

 private:
  struct State {
    std::vector<std::string> files;
    std::vector<std::string> dirs;
    std::vector<pid_t> children;
    pid_t owner = 0;
    bool installed = false;
  };
  static State& state() {
    static State* s = new State();  // never destroyed: used by atexit and signal handlers
    return *s;
  }
  static void OnSignal(int sig) {
    State& s = state();
    if (s.owner == ::getpid()) {
      // Async-signal-safe subset: kill() and unlink() only.
      for (pid_t pid : s.children) {
        if (pid > 0) ::kill(pid, SIGTERM);
      }
      for (const std::string& f : s.files) ::unlink(f.c_str());
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
  static void Install() {
    State& s = state();
    if (s.installed) return;
    s.installed = true;
    s.owner = ::getpid();
    std::atexit([] { RunNow(); });
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, &Cleanup::OnSignal);
  }
};

}  // namespace larder::bench
