// Mapping of the segment file (PATH) and the reader table (PATH.readers), and their
// validation. Each file is opened once (never through a symlink, engine/store_files.h) and that
// descriptor is mapped; nothing here takes a lock a crashed process could leave held.
// Thread-safety: a mapping is immutable after Open/Create; share it freely.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "larder/status.h"
#include "layout/segment_layout.h"

namespace larder {

// File modes; owner read-write, group read for the segment, group read-write for the reader
// table (readers claim slots in it). Only the owner writes, so only the owner needs the lock
// file: a reader able to open it could hold its flock and stop every write.
struct FileModes {
  uint32_t segment = 0640;
  uint32_t readers = 0660;
  uint32_t lock = 0600;
};

std::string ReadersPath(const std::string& segment_path);
std::string LockPath(const std::string& segment_path);

class SegmentMapping {
 public:
  enum class Mode { kReadOnly, kReadWrite };

  // Maps an existing, initialized segment and validates its header (magic, version, ABI,
  // readiness, size, offsets). Never through a symlink; kReadWrite only a segment this user
  // owns; kReadOnly one owned by this user, root or `trusted_uid` (-1: none).
  // Errors: kStoreNotFound, kIncompatibleStore, kCorruptStore, kIoError.
  static Result<std::unique_ptr<SegmentMapping>> Open(const std::string& path, Mode mode,
                                                      long trusted_uid = -1);

  // Creates PATH.tmp, sizes it to `file_size` (sparse), maps it read-write and writes the
  // immutable part of the header. The caller initializes the rest, then calls Publish().
  static Result<std::unique_ptr<SegmentMapping>> CreateTemp(const std::string& path,
                                                            uint64_t file_size,
                                                            const FileModes& modes);
  // Stores `ready` (release) and renames PATH.tmp to PATH, atomically replacing nothing (the
  // caller checked PATH did not exist, under the write lock).
  Status Publish();

  ~SegmentMapping();
  SegmentMapping(const SegmentMapping&) = delete;
  SegmentMapping& operator=(const SegmentMapping&) = delete;

  layout::SegmentHeader* header() const { return reinterpret_cast<layout::SegmentHeader*>(base_); }
  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool writable() const { return mode_ == Mode::kReadWrite; }
  // Whether the file at path() is still the one mapped (same device and inode): false once it
  // was removed or replaced (a teardown and a new apply, or a removal by hand).
  bool StillAtPath() const;
  uid_t owner() const { return owner_; }  // the file's owner when it was opened
  int fd() const { return fd_; }

  // Makes sure [0, top) is backed by allocated file space (fallocate in 16 MiB steps), so a
  // full tmpfs is reported as kStoreFull here instead of SIGBUS on first touch. Writer only.
  Status ReserveUpTo(uint64_t top);

 private:
  SegmentMapping() = default;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  std::string path_;
  std::string temp_path_;
  Mode mode_ = Mode::kReadOnly;
  uid_t owner_ = 0;
  int fd_ = -1;
  uint64_t dev_ = 0;  // of the mapped file (Open)
  uint64_t ino_ = 0;
};

// Validates a header as Open does; exposed for `larder check` and tests.
Status ValidateHeader(const layout::SegmentHeader& h, uint64_t actual_size);

class ReaderTableMapping {
 public:
  // Maps PATH.readers read-write and checks it belongs to the segment (same segment_uid) and
  // is owned by the segment's owner (by this user, for a writer); never through a symlink.
  static Result<std::shared_ptr<ReaderTableMapping>> Open(const std::string& segment_path,
                                                          uint64_t segment_uid, bool writer,
                                                          uid_t segment_owner);
  // Creates PATH.readers (replacing any stale one) for a new segment.
  static Status Create(const std::string& segment_path, uint64_t segment_uid,
                       const FileModes& modes);
  ~ReaderTableMapping();

  layout::ReaderSlot* slots() const { return slots_; }
  // Where this process maps the table (recorded in the slots it claims).
  uint64_t address() const { return address_; }
  uint32_t num_slots() const { return layout::kReaderSlots; }

 private:
  ReaderTableMapping() = default;
  layout::ReaderSlot* slots_ = nullptr;
  uint64_t address_ = 0;
};

}  // namespace larder
