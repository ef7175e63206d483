#include "engine/segment/segment_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

#include "engine/segment/store_files.h"

namespace larder {

using layout::SegmentHeader;

namespace {

constexpr uint64_t kReserveStep = 16ull << 20;

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  return IoError(what + " '" + path + "': " + std::strerror(err));
}

uint64_t RandomUid() {
  std::random_device rd;
  uint64_t v = (uint64_t{rd()} << 32) ^ rd();
  return v == 0 ? 1 : v;
}

// Maps `size` bytes of `fd` shared; nullptr (errno set) on failure.
uint8_t* MapShared(int fd, uint64_t size, bool writable) {
  int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

uint64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string ReadersPath(const std::string& segment_path) { return segment_path + ".readers"; }
std::string LockPath(const std::string& segment_path) { return segment_path + ".lock"; }

SegmentMapping::~SegmentMapping() {
  if (base_ != nullptr) ::munmap(base_, size_);
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());  // never published: a failed create
  if (fd_ >= 0) ::close(fd_);
}

Status ValidateHeader(const SegmentHeader& h, uint64_t actual_size) {
  if (actual_size < layout::kHeaderSize) {
    return CorruptStore("file is truncated: " + std::to_string(actual_size) +
                        " bytes, smaller than the 4096-byte header");
  }
  if (std::memcmp(h.magic, layout::kSegmentMagic, sizeof(h.magic)) != 0) {
    return {ErrorCode::kIncompatibleStore, "not a Larder segment (bad magic)"};
  }
  if (h.layout_version != layout::kLayoutVersion) {
    return {ErrorCode::kIncompatibleStore,
            "segment layout version " + std::to_string(h.layout_version) +
                ", this build reads version " + std::to_string(layout::kLayoutVersion) +
                " (run `larder teardown` and `larder apply` to rebuild it)"};
  }
  if (h.abi_fingerprint != layout::AbiFingerprint() || h.header_size != layout::kHeaderSize) {
    return {ErrorCode::kIncompatibleStore, "segment was written by a build with another ABI"};
  }
  if (h.ready.load(std::memory_order_acquire) != layout::kReadyValue) {
    return CorruptStore("segment was never completely initialized");
  }
  if (h.file_size != actual_size) {
    return CorruptStore("file is truncated or extended: header says " +
                        std::to_string(h.file_size) + " bytes, file has " +
                        std::to_string(actual_size));
  }
  uint64_t top = h.arena_top.load(std::memory_order_acquire);
  if (h.arena_begin != layout::kHeaderSize || top < h.arena_begin || top > h.file_size) {
    return CorruptStore("arena bounds are invalid");
  }
  uint64_t desc = h.index_desc.load(std::memory_order_acquire);
  uint64_t data = layout::DescDataOffset(desc);
  uint32_t log2 = layout::DescLog2Buckets(desc);
  if (log2 > 40 || data < h.arena_begin || data > top ||
      layout::IndexDataBytes(log2) > top - data) {
    return CorruptStore("index descriptor is out of bounds");
  }
  uint64_t reg = h.registry_block.load(std::memory_order_acquire);
  if (reg < h.arena_begin || reg + sizeof(layout::BlockHeader) > top) {
    return CorruptStore("registry offset is out of bounds");
  }
  return Status::Ok();
}

Result<std::unique_ptr<SegmentMapping>> SegmentMapping::Open(const std::string& path, Mode mode,
                                                             long trusted_uid) {
  const bool writable = mode == Mode::kReadWrite;
  struct stat st;
  // A writer must own the segment: one another user created (squatted) is never adopted. A
  // reader serves only a segment of a user it trusts: one squatted at the path could hold any
  // rows its owner chose.
  auto file = OpenStoreFile(
      path, writable ? O_RDWR : O_RDONLY, "segment",
      OwnerRule{.must_be_mine = writable, .must_be_trusted = !writable, .trusted_uid = trusted_uid},
      &st);
  if (!file.ok()) {
    if (file.status().code() == ErrorCode::kStoreNotFound) {
      return Status(ErrorCode::kStoreNotFound,
                    "no segment at '" + path + "' (run `larder apply` first)");
    }
    return file.status();
  }
  std::unique_ptr<SegmentMapping> m(new SegmentMapping());
  m->fd_ = file->release();
  m->path_ = path;
  m->mode_ = mode;
  m->dev_ = static_cast<uint64_t>(st.st_dev);
  m->ino_ = static_cast<uint64_t>(st.st_ino);
  m->owner_ = st.st_uid;
  if (static_cast<uint64_t>(st.st_size) < layout::kHeaderSize) {
    return CorruptStore("'" + path + "': file is truncated: " + std::to_string(st.st_size) +
                        " bytes, smaller than the 4096-byte header");
  }
  // The descriptor opened above is the one mapped: the path is never looked up again.
  m->base_ = MapShared(m->fd_, static_cast<uint64_t>(st.st_size), writable);
  if (m->base_ == nullptr) return ErrnoStatus("cannot map segment", path, errno);
  m->size_ = static_cast<uint64_t>(st.st_size);
  // Huge pages halve the cost of a random lookup where shmem THP is enabled; harmless if not.
  ::madvise(m->base_, m->size_, MADV_HUGEPAGE);
  Status st_valid = ValidateHeader(*m->header(), m->size_);
  if (!st_valid.ok()) return st_valid.WithContext("'" + path + "'");
  return m;
}

bool SegmentMapping::StillAtPath() const {
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) return false;
  return static_cast<uint64_t>(st.st_dev) == dev_ && static_cast<uint64_t>(st.st_ino) == ino_;
}

Result<std::unique_ptr<SegmentMapping>> SegmentMapping::CreateTemp(const std::string& path,
                                                                   uint64_t file_size,
                                                                   const FileModes& modes) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());  // a leftover of a creator that died; we hold the write lock
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, modes.segment);
  if (fd < 0) return ErrnoStatus("cannot create segment", tmp, errno);
  std::unique_ptr<SegmentMapping> m(new SegmentMapping());
  m->fd_ = fd;
  m->path_ = path;
  m->temp_path_ = tmp;
  m->mode_ = Mode::kReadWrite;
  struct stat created;
  if (::fstat(fd, &created) == 0) {  // rename() keeps the inode: StillAtPath() after Publish()
    m->dev_ = static_cast<uint64_t>(created.st_dev);
    m->ino_ = static_cast<uint64_t>(created.st_ino);
  }
  m->owner_ = ::geteuid();
  if (::fchmod(fd, modes.segment) != 0) return ErrnoStatus("cannot chmod", tmp, errno);
  if (::ftruncate(fd, static_cast<off_t>(file_size)) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("cannot size segment to " + std::to_string(file_size) + " bytes", tmp, err);
  }
  m->base_ = MapShared(fd, file_size, /*writable=*/true);
  if (m->base_ == nullptr) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("cannot map segment", tmp, err);
  }
  m->size_ = file_size;
  ::madvise(m->base_, m->size_, MADV_HUGEPAGE);
  LARDER_RETURN_IF_ERROR(m->ReserveUpTo(layout::kHeaderSize));

  SegmentHeader* h = m->header();
  std::memcpy(h->magic, layout::kSegmentMagic, sizeof(h->magic));
  h->layout_version = layout::kLayoutVersion;
  h->header_size = layout::kHeaderSize;
  h->abi_fingerprint = layout::AbiFingerprint();
  h->file_size = file_size;
  h->arena_begin = layout::kHeaderSize;
  h->segment_uid = RandomUid();
  h->created_micros = NowMicros();
  h->global_epoch.store(1, std::memory_order_relaxed);
  h->arena_top.store(layout::kHeaderSize, std::memory_order_relaxed);
  return m;
}

Status SegmentMapping::Publish() {
  header()->ready.store(layout::kReadyValue, std::memory_order_release);
  if (::fsync(fd_) != 0 && errno != EINVAL) return ErrnoStatus("cannot sync", temp_path_, errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return ErrnoStatus("cannot rename segment into place", path_, errno);
  }
  temp_path_.clear();
  return Status::Ok();
}

Status SegmentMapping::ReserveUpTo(uint64_t top) {
  SegmentHeader* h = header();
  uint64_t reserved = h->reserved_top.load(std::memory_order_relaxed);
  if (top <= reserved) return Status::Ok();
  if (top > size_) {
    return {ErrorCode::kStoreFull, "memory_limit of " + std::to_string(size_) +
                                       " bytes reached (raise online_store.memory_limit)"};
  }
  uint64_t target =
      std::min<uint64_t>(size_, (top + kReserveStep - 1) / kReserveStep * kReserveStep);
  int rc =
      ::posix_fallocate(fd_, static_cast<off_t>(reserved), static_cast<off_t>(target - reserved));
  if (rc == ENOSPC) {
    return {ErrorCode::kStoreFull, "no space left on the file system holding '" + path_ + "' (" +
                                       std::to_string(target) + " bytes wanted)"};
  }
  // EOPNOTSUPP/EINVAL: a file system without fallocate; pages are allocated on first touch.
  if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
    return ErrnoStatus("cannot reserve space in", path_, rc);
  }
  h->reserved_top.store(target, std::memory_order_relaxed);
  return Status::Ok();
}

// ---- Reader table ----

ReaderTableMapping::~ReaderTableMapping() {
  if (slots_ != nullptr) ::munmap(reinterpret_cast<void*>(address_), layout::ReaderTableBytes());
}

Status ReaderTableMapping::Create(const std::string& segment_path, uint64_t segment_uid,
                                  const FileModes& modes) {
  std::string path = ReadersPath(segment_path);
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, modes.readers);
  if (fd < 0) return ErrnoStatus("cannot create reader table", tmp, errno);
  bool ok = ::fchmod(fd, modes.readers) == 0 &&
            ::ftruncate(fd, static_cast<off_t>(layout::ReaderTableBytes())) == 0;
  int err = errno;
  if (!ok) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return ErrnoStatus("cannot size reader table", tmp, err);
  }
  layout::ReaderTableHeader hdr{};
  std::memcpy(hdr.magic, layout::kReadersMagic, sizeof(hdr.magic));
  hdr.layout_version = layout::kLayoutVersion;
  hdr.num_slots = layout::kReaderSlots;
  hdr.abi_fingerprint = layout::AbiFingerprint();
  hdr.segment_uid = segment_uid;
  ssize_t n = ::pwrite(fd, &hdr, sizeof(hdr), 0);
  err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof(hdr))) {
    ::unlink(tmp.c_str());  // a failed create leaves nothing behind
    return ErrnoStatus("cannot write", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("cannot rename", path, err);
  }
  return Status::Ok();
}

Result<std::shared_ptr<ReaderTableMapping>> ReaderTableMapping::Open(
    const std::string& segment_path, uint64_t segment_uid, bool writer, uid_t segment_owner) {
  std::string path = ReadersPath(segment_path);
  struct stat st;
  // A writer must own the table; a reader needs it owned by whoever owns the segment (a table
  // planted by someone else could hold forged slots).
  OwnerRule rule{.must_be_mine = writer, .expected_uid = static_cast<long>(segment_owner)};
  auto file = OpenStoreFile(path, O_RDWR, "reader table", rule, &st);
  if (!file.ok()) {
    if (file.status().message().find("ermission denied") != std::string::npos) {
      return file.status().WithContext("readers need write access to the reader table");
    }
    return file.status();
  }
  if (static_cast<uint64_t>(st.st_size) != layout::ReaderTableBytes()) {
    return CorruptStore("reader table '" + path + "' has the wrong size");
  }
  std::shared_ptr<ReaderTableMapping> m(new ReaderTableMapping());
  uint8_t* base = MapShared(file->get(), layout::ReaderTableBytes(), /*writable=*/true);
  if (base == nullptr) {
    return ErrnoStatus("cannot map reader table (readers need write access to it)", path, errno);
  }
  m->address_ = reinterpret_cast<uintptr_t>(base);
  m->slots_ = reinterpret_cast<layout::ReaderSlot*>(base + sizeof(layout::ReaderTableHeader));
  auto* hdr = reinterpret_cast<const layout::ReaderTableHeader*>(base);
  if (std::memcmp(hdr->magic, layout::kReadersMagic, sizeof(hdr->magic)) != 0 ||
      hdr->layout_version != layout::kLayoutVersion ||
      hdr->abi_fingerprint != layout::AbiFingerprint() || hdr->num_slots != layout::kReaderSlots) {
    return Status(ErrorCode::kIncompatibleStore, "reader table '" + path + "' is not compatible");
  }
  if (hdr->segment_uid != segment_uid) {
    return CorruptStore("reader table '" + path + "' belongs to another segment");
  }
  return m;
}

}  // namespace larder
