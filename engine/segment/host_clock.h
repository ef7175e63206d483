// Times that processes compare through the segment (the floor's marks, a reader's process start
// time) taken on the host's clocks, whatever time namespace each process runs in. A process in a
// time namespace (some containers, a CRIU restore) sees CLOCK_MONOTONIC and CLOCK_BOOTTIME
// shifted by its namespace's offsets, and /proc/PID/stat start times shifted by its own boottime
// offset (fs/proc/array.c adds the offset of the process reading the file). Each process
// subtracts its own namespace's offsets (/proc/self/timens_offsets, relative to the initial
// namespace), so two processes in different namespaces agree.
//
// The offsets are known when the kernel has no time namespaces (no /proc/self/ns/time), or when
// /proc/self/timens_offsets can be read and describes this process's namespace (it shows the
// namespace of the process's future children, which differs from its own between an
// unshare(CLONE_NEWTIME) and the next fork). They are cached per namespace (keyed by the inode
// of /proc/self/ns/time, so a fork into another namespace, a setns or a CRIU restore reads them
// again); a failed read is not cached.
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
// cannot be read or an offset lies outside what the kernel allows.
std::optional<TimeNamespaceOffsets> ParseTimeNamespaceOffsets(std::string_view text);

// This process's offsets, or nullopt when they cannot be known now (see above).
std::optional<TimeNamespaceOffsets> OwnTimeNamespaceOffsets();

// `t` (this process's steady_clock, i.e. CLOCK_MONOTONIC) as the host's CLOCK_MONOTONIC, in
// nanoseconds (never below zero). With the offset unknown, `t` as it is: a mistake then only
// makes the floor withdraw holds early or late, which readers survive by reading again.
uint64_t HostMonotonicNs(std::chrono::steady_clock::time_point t);

// A start time read from /proc/PID/stat by this process (clock ticks since boot, shifted by this
// process's boottime offset, rounded down to ticks by the kernel) as the host's, rounded the same
// way: the host's value or one more, whichever namespace read it, so two processes' readings of
// one start differ by at most one tick. nullopt when it cannot be told: this process's offset is
// unknown, or the reading is later than this process's own boot clock now (the kernel wrapped
// the sum of a start before this namespace's zero and a negative offset).
std::optional<uint64_t> HostStartTicks(uint64_t seen_ticks);

// The arithmetic of HostStartTicks, for a process whose boottime offset is `offset_ns`, whose
// boot clock reads `now_ticks`, with `ns_per_tick` nanoseconds per tick.
std::optional<uint64_t> StartTicksOnHost(uint64_t seen_ticks, int64_t offset_ns,
                                         int64_t ns_per_tick, uint64_t now_ticks);

}  // namespace larder
