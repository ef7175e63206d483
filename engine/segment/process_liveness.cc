#include "engine/segment/process_liveness.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <string_view>

#include "engine/segment/host_clock.h"

namespace larder {

namespace {

// PF_EXITING (include/linux/sched.h). A task with it never returns to user space.
constexpr uint64_t kTaskExiting = 0x00000004;

// Whether every thread of process `pid` has finished (TaskFinished): nullopt when that cannot
// be told (the task directory or a thread's stat is unreadable). A thread whose stat vanished
// between the listing and the read has exited.
std::optional<bool> AllThreadsFinished(pid_t pid) {
  const std::string dir = ProcFile(pid, "task");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT || errno == ESRCH) return true;  // the whole process is gone
    return std::nullopt;
  }
  std::optional<bool> all = true;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    TaskStat t;
    const ProcRead r = ReadTaskStatFile(dir + "/" + e->d_name + "/stat", &t);
    if (r == ProcRead::kUnknown) {
      all = std::nullopt;
      break;
    }
    if (r == ProcRead::kRead && !TaskFinished(t)) {
      all = false;
      break;
    }
  }
  ::closedir(d);
  return all;
}

}  // namespace

ProcRead ReadTaskStatFile(const std::string& path, TaskStat* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? ProcRead::kGone : ProcRead::kUnknown;
  // A stat line is at most ~1 KiB (52 numeric fields and a 16-byte comm): one read gets it.
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  const int err = errno;
  ::close(fd);
  if (n < 0) return err == ESRCH ? ProcRead::kGone : ProcRead::kUnknown;
  buf[n] = 0;
  const std::string_view line(buf, static_cast<size_t>(n));
  // Field 2 (comm) may contain spaces; fields after the last ')' are space-separated.
  auto close = line.rfind(')');
  if (close == std::string_view::npos || close + 2 >= line.size()) return ProcRead::kUnknown;
  const char* p = buf + close + 2;
  out->state = *p;
  for (int field = 3; *p != 0; ++field) {
    if (field == 9) out->flags = std::strtoull(p, nullptr, 10);
    if (field == 20) out->threads = std::strtoull(p, nullptr, 10);
    if (field == 22) {
      out->start_time = std::strtoull(p, nullptr, 10);
      return ProcRead::kRead;
    }
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  return ProcRead::kUnknown;
}

bool ReadTaskStat(const std::string& path, TaskStat* out) {
  return ReadTaskStatFile(path, out) == ProcRead::kRead;
}

std::string ProcFile(pid_t pid, const char* name) {
  return "/proc/" + std::to_string(pid) + "/" + name;
}

std::vector<TaskStat> ReadThreadStats(pid_t pid) {
  std::vector<TaskStat> threads;
  const std::string dir = ProcFile(pid, "task");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return threads;  // gone
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    TaskStat t;
    if (ReadTaskStat(dir + "/" + e->d_name + "/stat", &t)) threads.push_back(t);
  }
  ::closedir(d);
  return threads;
}

std::optional<bool> MapsAddress(pid_t pid, uint64_t address) {
  std::ifstream in(ProcFile(pid, "maps"));
  if (!in) return std::nullopt;
  std::string line;
  bool read_any = false;
  while (std::getline(in, line)) {
    read_any = true;
    // "start-end perms offset dev inode path", addresses in hex.
    char* dash = nullptr;
    const uint64_t start = std::strtoull(line.c_str(), &dash, 16);
    if (dash == nullptr || *dash != '-') continue;
    const uint64_t end = std::strtoull(dash + 1, nullptr, 16);
    if (start <= address && address < end) return true;
  }
  // Nothing read: the maps are not ours to read (the open or the read was refused), or the
  // process has no address space left (it is exiting). Neither says it exec()ed.
  if (!read_any) return std::nullopt;
  return false;
}

bool TaskFinished(const TaskStat& t) {
  return t.state == 'Z' || t.state == 'X' || t.state == 'x' || (t.flags & kTaskExiting) != 0;
}

uint64_t ProcessStartTime(pid_t pid) {
  TaskStat t;
  if (!ReadTaskStat(ProcFile(pid, "stat"), &t)) return 0;
  // Unknown on the host's clock: 0, "not recorded", so that writers trust the pid alone.
  return HostStartTicks(t.start_time).value_or(0);
}

bool ProcessAlive(uint64_t pid, uint64_t start_time) {
  if (pid == 0 || pid > static_cast<uint64_t>(INT32_MAX)) return false;
  // ESRCH is the one answer that proves the process gone; EPERM (another user's process)
  // says it exists.
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  TaskStat t;
  // Not read: kill() said the process exists, so an ENOENT here is a /proc that hides it
  // (hidepid=invisible), and anything else an unknown. Either way it may be reading: alive.
  // (It may also have died since kill(); the next scan's kill() says so.)
  if (ReadTaskStatFile(ProcFile(static_cast<pid_t>(pid), "stat"), &t) != ProcRead::kRead) {
    return true;
  }
  // The pid was recycled when its start differs by more than the tick that rounding may put
  // between two processes' readings in different time namespaces (HostStartTicks); a process
  // started within a tick of the recorded one counts as the same (alive: the safe side).
  // A start that cannot be put on the host's clock cannot prove a recycled pid: alive.
  const std::optional<uint64_t> seen_start = HostStartTicks(t.start_time);
  if (start_time != 0 && seen_start &&
      (*seen_start > start_time + 1 || *seen_start + 1 < start_time)) {
    return false;
  }
  // A killed process runs no more code from the moment its threads enter do_exit(), but it
  // keeps its pid, its /proc entry and (as a zombie) answers kill(pid, 0) until its parent
  // reaps it; tearing down a large address space can take seconds on a loaded machine. It
  // must not hold reclamation back meanwhile. The first thread's state is not enough on its
  // own: it may have called pthread_exit() while the process's other threads read on.
  if (!TaskFinished(t)) return true;
  if (t.threads <= 1) return false;
  const std::optional<bool> finished = AllThreadsFinished(static_cast<pid_t>(pid));
  return !finished.has_value() || !*finished;
}

}  // namespace larder
