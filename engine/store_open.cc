// Attaching to a segment, the per-generation catalog cache, teardown.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "engine/rows/registry_codec.h"
#include "engine/segment/store_files.h"
#include "engine/store_impl.h"

namespace larder {

namespace {

std::atomic<uint64_t> g_next_instance{1};

// Per-thread copy of the newest catalog of each store this thread used, so the hot path takes
// no lock and touches no shared reference count.
struct ThreadCatalog {
  uint64_t instance_id = 0;
  uint64_t generation = 0;
  std::shared_ptr<const Catalog> catalog;
};
// Set when this thread's t_catalogs has been destroyed: a Store destroyed after that (e.g. one
// held in a static, destroyed at exit after the main thread's thread_locals) must not touch it.
thread_local bool t_catalogs_gone = false;
struct ThreadCatalogs : std::vector<ThreadCatalog> {
  ~ThreadCatalogs() { t_catalogs_gone = true; }
};
thread_local ThreadCatalogs t_catalogs;

}  // namespace

Result<RepoConfig> ReadRegistryBlock(const SegmentMapping& seg, uint64_t offset,
                                     uint32_t* next_view_id) {
  if (offset < layout::kHeaderSize || offset % layout::kBlockAlign != 0 ||
      offset > seg.size() - sizeof(layout::BlockHeader)) {
    return CorruptStore("registry block offset " + std::to_string(offset) + " out of bounds");
  }
  const auto* b = reinterpret_cast<const layout::BlockHeader*>(seg.base() + offset);
  // Each field loaded once, and the FlatBuffer decoded from a private copy: shared bytes may
  // change between the verifier's pass and the decoding (see CopyRowPayload in lookup.cc).
  const uint64_t block_bytes = uint64_t{layout::LoadOnce(b->units)} * layout::kBlockAlign;
  const uint32_t payload_len = layout::LoadOnce(b->payload_len);
  if (layout::LoadOnce(b->kind) != layout::BlockKind::kRegistry ||
      block_bytes > seg.size() - offset ||
      sizeof(layout::BlockHeader) + payload_len > block_bytes) {
    return CorruptStore("registry block at offset " + std::to_string(offset) + " is invalid");
  }
  // std::string's buffer comes from operator new: aligned for FlatBuffers' 8-byte scalars.
  const std::string bytes(reinterpret_cast<const char*>(b) + sizeof(layout::BlockHeader),
                          payload_len);
  return DecodeRegistry(bytes, next_view_id);
}

Result<std::shared_ptr<const Catalog>> Store::Impl::CatalogNow(const EpochGuard& guard) const {
  return CatalogNowImpl(&guard);
}

Result<std::shared_ptr<const Catalog>> Store::Impl::WriterCatalog() const {
  return CatalogNowImpl(nullptr);
}

Result<std::shared_ptr<const Catalog>> Store::Impl::CatalogNowImpl(const EpochGuard* guard) const {
  // acquire: pairs with PublishRegistry's release increment; the block offset read next is at
  // least as new as this generation.
  uint64_t gen = header()->registry_generation.load(std::memory_order_acquire);
  for (const ThreadCatalog& tc : t_catalogs) {
    if (tc.instance_id == instance_id && tc.generation == gen) return tc.catalog;
  }
  std::shared_ptr<const Catalog> cat;
  {
    MutexLock lock(catalog_mu);
    if (catalog && catalog->generation() == gen) {
      cat = catalog;
    } else {
      uint64_t off = header()->registry_block.load(std::memory_order_acquire);
      LARDER_ASSIGN_OR_RETURN(RepoConfig config, ReadRegistryBlock(*seg, off, nullptr));
      LARDER_ASSIGN_OR_RETURN(cat, Catalog::Build(std::move(config), gen));
      // A registry read while the hold was withdrawn may be bytes reused since: not kept.
      if (guard != nullptr && !guard->HeldSoFar()) {
        return Status(ErrorCode::kBusy, "reader hold withdrawn while decoding the registry");
      }
      catalog = cat;
    }
  }
  for (ThreadCatalog& tc : t_catalogs) {
    if (tc.instance_id == instance_id) {
      tc.generation = gen;
      tc.catalog = cat;
      return cat;
    }
  }
  t_catalogs.push_back({instance_id, gen, cat});
  return cat;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  // Drop this thread's cached catalog of this store; other threads' entries expire by id.
  if (t_catalogs_gone) return;
  std::erase_if(t_catalogs,
                [&](const ThreadCatalog& tc) { return tc.instance_id == impl_->instance_id; });
}

Result<std::shared_ptr<Store>> Store::Open(const std::string& path, bool writable,
                                           WriterOptions options, ReaderOptions read_options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->read_options = read_options;
  impl->instance_id = g_next_instance.fetch_add(1);
  // A writer creates and locks files beside the segment: the directory must be safe for it.
  if (writable) LARDER_RETURN_IF_ERROR(CheckStoreDirectory(path));
  auto mode = writable ? SegmentMapping::Mode::kReadWrite : SegmentMapping::Mode::kReadOnly;
  long trusted_uid = -1;
  if (!writable && !read_options.segment_owner.empty()) {
    LARDER_ASSIGN_OR_RETURN(uid_t uid, ResolveUser(read_options.segment_owner, "segment owner"));
    trusted_uid = static_cast<long>(uid);
  }
  LARDER_ASSIGN_OR_RETURN(impl->seg, SegmentMapping::Open(path, mode, trusted_uid));
  // A segment being torn down (marked, not yet unlinked) is not attached to.
  if (impl->seg->header()->retired.load(std::memory_order_acquire) != 0) {
    return Status(ErrorCode::kStoreNotFound, "the segment at '" + path + "' is being torn down");
  }
  LARDER_ASSIGN_OR_RETURN(auto table,
                          ReaderTableMapping::Open(path, impl->seg->header()->segment_uid, writable,
                                                   impl->seg->owner()));
  impl->pool = std::make_shared<ReaderSlotPool>(std::move(table));
  // Validate the registry now, so a corrupt one is refused at attach rather than at first use.
  uint64_t off = impl->seg->header()->registry_block.load(std::memory_order_acquire);
  auto reg = ReadRegistryBlock(*impl->seg, off, nullptr);
  if (!reg.ok()) return reg.status().WithContext("'" + path + "'");
  return std::shared_ptr<Store>(new Store(std::move(impl)));
}

Status TornDown(const std::string& path) {
  return Status(ErrorCode::kStoreNotFound,
                "the segment this process attached to at '" + path +
                    "' was torn down or replaced (nothing was written or read): attach again");
}

namespace {

// The files a teardown removes, the lock file last: it is what serializes the teardown with
// writers.
std::vector<std::string> TeardownFiles(const std::string& path) {
  return {path, ReadersPath(path), path + ".tmp", ReadersPath(path) + ".tmp", LockPath(path)};
}

// Every file the teardown would remove must be a regular file of this user's: one that is not
// is refused here, before anything is marked or removed. Before, the files were unlinked in
// turn, so another user's `PATH.tmp` in a sticky directory (/dev/shm) failed the teardown with
// EPERM after the segment was gone: the store was half removed.
Status CheckTeardownFiles(const std::string& path) {
  for (const std::string& p : TeardownFiles(path)) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      return IoError("cannot tear down '" + path + "': cannot stat '" + p +
                     "': " + std::strerror(errno) + " (nothing was removed)");
    }
    if (st.st_uid != ::geteuid()) {
      return IoError("cannot tear down '" + path + "': '" + p + "' is owned by " +
                     DescribeUser(st.st_uid) + ", not by " + DescribeUser(::geteuid()) +
                     " (nothing was removed)");
    }
    if (!S_ISREG(st.st_mode)) {
      return IoError("cannot tear down '" + path + "': '" + p +
                     "' is not a regular file (nothing was removed)");
    }
  }
  return Status::Ok();
}

}  // namespace

Status Store::Teardown(const std::string& path) {
  // Serialized with writers: a batch in progress ends first; a writer that takes the lock
  // after us finds the mark below (WriteSession::Begin), and one waiting on the lock file we
  // unlink locks the new one instead (WriterLock::Acquire).
  // Another user's files are refused before anything is opened or created: taking the lock
  // would create a lock file of ours that its owner's writers could never open.
  // Through the same directories writers accept: one that another user could change could
  // have been pointed at another of this user's stores.
  LARDER_RETURN_IF_ERROR(CheckStoreDirectory(path));
  LARDER_RETURN_IF_ERROR(CheckTeardownFiles(path));
  LARDER_ASSIGN_OR_RETURN(WriterLock lock,
                          WriterLock::Acquire(path, WriterOptions{}.lock_timeout_ms));
  // Again under the lock: a file may have appeared while we waited for it (a file made after
  // this check can still fail an unlink below, leaving the segment marked and removed).
  LARDER_RETURN_IF_ERROR(CheckTeardownFiles(path));
  // Mark the segment retired before anything is unlinked, so that every process attached to
  // it finds out. A file that is not a valid segment is removed all the same; one this
  // process may not open for writing (its mode) is left alone: it could not be marked, and its
  // readers would go on serving it unaware.
  if (auto seg = SegmentMapping::Open(path, SegmentMapping::Mode::kReadWrite); seg.ok()) {
    // release: a process that sees the mark sees the segment as it was at teardown.
    (*seg)->header()->retired.store(1, std::memory_order_release);
  } else if (const ErrorCode code = seg.status().code();
             code != ErrorCode::kStoreNotFound && code != ErrorCode::kCorruptStore &&
             code != ErrorCode::kIncompatibleStore) {
    return seg.status().WithContext("cannot tear down '" + path + "' (nothing was removed)");
  }
  bool any = false;
  const std::string lock_path = LockPath(path);
  for (const std::string& p : TeardownFiles(path)) {
    if (::unlink(p.c_str()) == 0) {
      any = any || p != lock_path;  // Acquire() created the lock file if it was missing
    } else if (errno != ENOENT) {
      return IoError("cannot remove '" + p + "': " + std::strerror(errno));
    }
  }
  if (!any) return Status(ErrorCode::kStoreNotFound, "no segment at '" + path + "'");
  return Status::Ok();
}

bool Store::Retired() const {
  return impl_->header()->retired.load(std::memory_order_acquire) != 0;
}

bool Store::Detached() const {
  return impl_->header()->retired.load(std::memory_order_acquire) != 0 ||
         !impl_->seg->StillAtPath();
}

Result<std::shared_ptr<const Catalog>> Store::CurrentCatalog() const {
  std::shared_ptr<const Catalog> cat;
  LARDER_RETURN_IF_ERROR(impl_->ReadProtected([&](const EpochGuard& guard) -> Status {
    LARDER_ASSIGN_OR_RETURN(cat, impl_->CatalogNow(guard));
    return Status::Ok();
  }));
  return cat;
}

const std::string& Store::path() const { return impl_->seg->path(); }
bool Store::writable() const { return impl_->seg->writable(); }

}  // namespace larder
