// Times that processes compare through the segment (the floor's marks, a reader's process start
// time) taken on the host's clocks, whatever time namespace each process runs in. A process in a
// time namespace (some containers, a CRIU restore) sees CLOCK_MONOTONIC and CLOCK_BOOTTIME
// shifted by its namespace's offsets, and /proc/PID/stat start times shifted by its own boottime
// offset (fs/proc/array.c adds the offset of the process reading the file). Each process
// subtracts its own offsets (/proc/self/timens_offsets, relative to the initial namespace), so
// two processes in different namespaces agree.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace larder {

struct TimeNamespaceOffsets {
  int64_t monotonic_ns = 0;
  int64_t boottime_ns = 0;
};

// Parses the text of /proc/PID/timens_offsets ("monotonic <s> <ns>" and "boottime <s> <ns>"
// lines, in either order; the clock may also be given by number, 1 and 7). nullopt when a line
// cannot be read.
std::optional<TimeNamespaceOffsets> ParseTimeNamespaceOffsets(std::string_view text);

// This process's offsets, read once per process (again in a fork()ed child). Zero when the kernel
// has no time namespaces (no such file); also when the file cannot be read or parsed, which leaves
// the clocks as they are seen (a mistake then costs early or late withdrawals, which readers
// survive by reading again, and start times compared with a tick of slack; see ProcessAlive).
TimeNamespaceOffsets OwnTimeNamespaceOffsets();

// `t` (this process's steady_clock, i.e. CLOCK_MONOTONIC) as the host's CLOCK_MONOTONIC, in
// nanoseconds (never below zero).
uint64_t HostMonotonicNs(std::chrono::steady_clock::time_point t);

// A start time read from /proc/PID/stat by this process (clock ticks since boot, shifted by this
// process's boottime offset) as the host sees it. Rounding to ticks may leave it one tick off
// another process's reading of the same start.
uint64_t HostStartTicks(uint64_t seen_ticks);

}  // namespace larder
