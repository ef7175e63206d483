// Whether a reader process may still read a store: what the writer's slot scan and `larder
// inspect` ask of every claimed reader slot (docs/design.md, "Reclamation (epochs)"). Everything
// here reads /proc; nothing runs on the lookup path.
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace larder {

// What /proc/PID/stat (or /proc/PID/task/TID/stat) says of one task (thread).
struct TaskStat {
  char state = 0;           // field 3: R, S, D, Z, X, ...
  uint64_t flags = 0;       // field 9: the kernel's PF_* flags
  uint64_t threads = 0;     // field 20: threads in the task's process
  uint64_t start_time = 0;  // field 22: start, in clock ticks since boot
};

// What reading a /proc file told: its contents, that the task does not exist (ENOENT, ESRCH),
// or nothing (EACCES, EMFILE, a hidepid mount, a short read: the answer is unknown).
enum class ProcRead { kRead, kGone, kUnknown };

// Reads a stat file.
ProcRead ReadTaskStatFile(const std::string& path, TaskStat* out);
// Same, true only for kRead.
bool ReadTaskStat(const std::string& path, TaskStat* out);

// /proc/PID/`name`: ProcFile(pid, "stat") is the first thread's stat file.
std::string ProcFile(pid_t pid, const char* name);

// The stat of every thread of process `pid` that still exists (/proc/PID/task/*/stat); empty
// once the process is gone.
std::vector<TaskStat> ReadThreadStats(pid_t pid);

// True when the task runs no more user code: a zombie, dead, or inside do_exit() (PF_EXITING,
// set as it enters do_exit(), before its memory is torn down).
bool TaskFinished(const TaskStat& t);

// The start time of `pid` in clock ticks since the host's boot (/proc/PID/stat field 22, less
// this process's time-namespace boottime offset: HostStartTicks); 0 if it is gone or its start
// cannot be put on the host's clock (0 is "not recorded": the pid alone is then trusted).
uint64_t ProcessStartTime(pid_t pid);

// Whether process `pid` has a mapping that contains `address` (/proc/PID/maps); nullopt when
// its maps cannot be read (it is gone, or its maps are not ours to read).
std::optional<bool> MapsAddress(pid_t pid, uint64_t address);

// Whether the process that claimed a slot as (`pid`, `start_time`) may still read the store:
// false once it is gone, its pid belongs to a newer process, or every one of its threads is a
// zombie or inside do_exit() (a killed process can take seconds to tear down its memory, and
// runs no code of its own meanwhile). start_time 0 (not yet recorded) trusts the pid alone.
// Uncertain means alive: only kill()'s ESRCH, or /proc files that were read, prove a death.
// A /proc that cannot be read (another user's process under hidepid or ProtectProc=, this
// process at its descriptor limit, EACCES) leaves the process alive.
bool ProcessAlive(uint64_t pid, uint64_t start_time);

}  // namespace larder
