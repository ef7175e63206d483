// `larder snapshot` and `larder restore` (docs/design.md, "Snapshots"): a copy of the store's
// rows and registry as of one write batch, and a new store made from one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "engine/index/row_version.h"
#include "engine/rows/registry_codec.h"
#include "engine/rows/row_codec.h"
#include "engine/segment/store_files.h"
#include "engine/snapshot/snapshot_file.h"
#include "engine/store_impl.h"
#include "layout/entity_key.h"

namespace larder {

namespace {

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether `payload` is a row of `view` every feature of which reads: what `larder check`
// verifies of a stored row.
bool RowReadsAs(const uint8_t* payload, size_t len, const ViewInfo& view) {
  if (!VerifyRowBuffer(payload, len)) return false;
  const fb::Row* row = RowFromBuffer(payload);
  Value scratch;
  for (const FeatureInfo& f : view.features) {
    if (!IsNullFeature(row, f) && RowHasSlot(row, f) && !DecodeFeature(row, f, &scratch)) {
      return false;
    }
  }
  return true;
}

// A file at `path` that a snapshot may replace: none, or a regular file that is a snapshot
// (never a link, a directory, or any other file, such as the store's own segment).
Status CheckSnapshotTarget(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return IoError("cannot stat '" + path + "': " + std::strerror(errno));
  }
  char magic[sizeof(layout::kSnapshotMagic)] = {};
  bool is_snapshot = false;
  if (S_ISREG(st.st_mode)) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
      is_snapshot = ::read(fd, magic, sizeof(magic)) == static_cast<ssize_t>(sizeof(magic)) &&
                    std::memcmp(magic, layout::kSnapshotMagic, sizeof(magic)) == 0;
      ::close(fd);
    }
  }
  if (!is_snapshot) {
    return Status(ErrorCode::kInvalidArgument,
                  "'" + path +
                      "' exists and is not a Larder snapshot: a snapshot replaces only an "
                      "older snapshot; choose another path");
  }
  return Status::Ok();
}

}  // namespace

Result<SnapshotInfo> Store::Snapshot(const std::string& out_path) const {
  LARDER_RETURN_IF_ERROR(CheckSnapshotTarget(out_path));
  SnapshotInfo info;
  info.file = out_path;
  info.store = impl_->seg->path();
  std::optional<SnapshotBuilder> out;
  {
    LARDER_ASSIGN_OR_RETURN(WritersStopped stopped, impl_->StopWriters("snapshot"));
    const auto held_from = std::chrono::steady_clock::now();
    // Under the lock, only what a copy needs: each row's block in bounds and matching its key,
    // the version of the snapshot's batch, and its bytes. Verifying each row (its FlatBuffer,
    // each feature) costs more than the copy, so it is done after writers may run again, on
    // the copy (below).
    LARDER_RETURN_IF_ERROR(impl_->ReadProtected([&](const EpochGuard&) -> Status {
      const layout::SegmentHeader* h = impl_->header();
      const uint8_t* base = impl_->base();
      const uint64_t size = impl_->seg->size();
      // acquire (both): pair with the release stores of the last batch and the last apply.
      // No writer runs (the lock), so these are the store's state until it is released.
      const uint64_t batch = h->visible_seq.load(std::memory_order_acquire);
      uint32_t next_id = 0;
      LARDER_ASSIGN_OR_RETURN(
          RepoConfig registry,
          ReadRegistryBlock(*impl_->seg, h->registry_block.load(std::memory_order_acquire),
                            &next_id));
      info.project = registry.project;
      LARDER_ASSIGN_OR_RETURN(HashIndex idx, impl_->index());
      info.taken_micros = WallMicros();
      info.visible_batch = batch;
      out.emplace(batch, info.taken_micros, EncodeRegistry(registry, next_id));
      // The rows take less room in the file than their blocks in the arena: one allocation.
      const uint64_t arena_top = h->arena_top.load(std::memory_order_relaxed);
      if (arena_top > h->arena_begin && arena_top <= size) out->Reserve(arena_top - h->arena_begin);
      // The index's entries first (a sequential scan), then their rows, each prefetched a
      // few rows ahead: rows lie anywhere in the arena, and loading them one after another
      // waited for each row's cache miss in turn.
      std::vector<IndexEntry> entries;
      entries.reserve(h->index_entries.load(std::memory_order_relaxed));
      idx.ForEach([&](const IndexEntry& e) { entries.push_back(e); });
      constexpr size_t kAhead = 16;
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i + kAhead < entries.size() && entries[i + kAhead].row() < size - 128) {
          const uint8_t* ahead = base + entries[i + kAhead].row();
          __builtin_prefetch(ahead, 0, 0);
          __builtin_prefetch(ahead + 64, 0, 0);
          __builtin_prefetch(ahead + 128, 0, 0);
        }
        const IndexEntry& e = entries[i];
        auto fail = [&](const std::string& what) {
          return CorruptStore("snapshot refused: index word " + std::to_string(e.position()) + " " +
                              what + " (run `larder check`)");
        };
        const layout::BlockHeader* b = impl_->RowBlockAt(e.row());
        if (b == nullptr) return fail("names no row block");
        const uint32_t view_id = layout::LoadOnce(b->view_id);
        const uint16_t key_len = layout::LoadOnce(b->key_len);
        if (size - e.row() - layout::kRowKeyOffset < key_len) {
          return fail("has a key past the segment");
        }
        const std::string_view key(reinterpret_cast<const char*>(b) + layout::kRowKeyOffset,
                                   key_len);
        if (MatchRow(base, size, e.row(), view_id, key) == nullptr) {
          return fail("names a block that is not a whole row");
        }
        // The version of the snapshot's batch: the row itself, unless a writer died
        // mid-batch leaving rows of a batch never made visible (then the one it replaced).
        const SnapshotRow version = VersionAt(base, size, b, view_id, key, batch, h->visible_seq);
        if (version.broken) return fail("names a row whose earlier versions are broken");
        if (version.row == nullptr) continue;  // absent as of the batch (or withdrawn)
        const uint8_t* row = reinterpret_cast<const uint8_t*>(version.row);
        const uint32_t payload_len = layout::LoadOnce(version.row->payload_len);
        const uint64_t block_bytes =
            uint64_t{layout::LoadOnce(version.row->units)} * layout::kBlockAlign;
        if (layout::RowPayloadOffset(key_len) + payload_len > block_bytes ||
            block_bytes > size - static_cast<uint64_t>(row - base)) {
          return fail("names a row whose payload overruns its block");
        }
        out->AddRow(
            view_id, key,
            std::string_view(reinterpret_cast<const char*>(row) + layout::RowPayloadOffset(key_len),
                             payload_len));
      }
      return Status::Ok();
    }));
    info.writers_held_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - held_from)
                                   .count();
  }  // writers may run again; the copy is checked and written without holding them off
  info.rows = out->rows();
  const std::string bytes = std::move(*out).Finish();
  // Every row checked as `larder restore` will check it, so that a snapshot never carries
  // damage silently.
  auto checked = CheckSnapshot(bytes, out_path, info.project);
  if (!checked.ok()) {
    return CorruptStore("snapshot of '" + info.store + "' refused: " + checked.status().message() +
                        " (run `larder check`)");
  }
  info.file_bytes = bytes.size();
  LARDER_RETURN_IF_ERROR(WriteSnapshotFile(out_path, bytes));
  return info;
}

Result<CheckedSnapshot> CheckSnapshot(std::string_view bytes, const std::string& file_name,
                                      const std::string& project) {
  CheckedSnapshot out;
  LARDER_ASSIGN_OR_RETURN(ParsedSnapshot snap, ParseSnapshot(bytes, file_name));
  out.visible_batch = snap.header.visible_batch;
  out.taken_micros = snap.header.taken_micros;
  const std::string named = "snapshot '" + file_name + "'";
  auto decoded = DecodeRegistry(snap.registry, &out.next_view_id);
  if (!decoded.ok()) return decoded.status().WithContext(named + ": its registry");
  out.registry = std::move(*decoded);
  if (out.registry.project != project) {
    return Status(ErrorCode::kInvalidArgument, named + " is of project '" + out.registry.project +
                                                   "', the repo's is '" + project + "'");
  }
  auto built = Catalog::Build(out.registry, 1);
  if (!built.ok()) return built.status().WithContext(named + ": its registry");
  const Catalog& cat = **built;
  // Every row: its view, its key and its features, and no entity twice in a view.
  out.rows.reserve(snap.rows.size());
  for (size_t i = 0; i < snap.rows.size(); ++i) {
    const SnapshotRowRef& r = snap.rows[i];
    const std::string where = named + ", row record " + std::to_string(i);
    const ViewInfo* view = cat.FindViewById(r.view_id);
    if (view == nullptr) {
      return CorruptStore(where + ": view id " + std::to_string(r.view_id) +
                          " is not in its registry");
    }
    if (!layout::DecodeEntityKey(r.key, view->key_types).ok()) {
      return CorruptStore(where + ": the key bytes do not fit view '" + view->def.name + "'");
    }
    if (!RowReadsAs(reinterpret_cast<const uint8_t*>(r.payload.data()), r.payload.size(), *view)) {
      return CorruptStore(where + ": the row of view '" + view->def.name + "' fails verification");
    }
    out.rows.push_back({r.view_id, HashEntityKey(r.view_id, r.key), r.key, r.payload});
  }
  // No entity twice in a view: rows ordered by hash, equal hashes compared by view and key.
  std::vector<uint32_t> by_hash(out.rows.size());
  for (uint32_t i = 0; i < by_hash.size(); ++i) by_hash[i] = i;
  std::sort(by_hash.begin(), by_hash.end(), [&](uint32_t a, uint32_t b) {
    return out.rows[a].hash < out.rows[b].hash || (out.rows[a].hash == out.rows[b].hash && a < b);
  });
  for (size_t i = 0; i < by_hash.size(); ++i) {
    const NewRow& a = out.rows[by_hash[i]];
    for (size_t j = i + 1; j < by_hash.size() && out.rows[by_hash[j]].hash == a.hash; ++j) {
      const NewRow& b = out.rows[by_hash[j]];
      if (a.view_id == b.view_id && a.key == b.key) {
        return CorruptStore(named + ", row record " + std::to_string(by_hash[j]) +
                            ": a second row of the entity of row record " +
                            std::to_string(by_hash[i]) + " in view '" +
                            cat.FindViewById(a.view_id)->def.name + "'");
      }
    }
  }
  return out;
}

Result<SnapshotInfo> Store::Restore(const std::string& snapshot_path, const RepoConfig& target,
                                    const FileModes& requested) {
  const std::string& path = target.online_store.path;
  // A snapshot larger than the store cannot fit in it (its rows take at least as much room
  // there): refused before it is read.
  LARDER_ASSIGN_OR_RETURN(std::string bytes,
                          ReadSnapshotFile(snapshot_path, target.online_store.memory_limit));
  // Checked whole before anything is created.
  LARDER_ASSIGN_OR_RETURN(CheckedSnapshot snap,
                          CheckSnapshot(bytes, snapshot_path, target.project));
  // The snapshot's definitions, in the target's store: its path, size and settings.
  snap.registry.online_store = target.online_store;
  const FileModes modes = EffectiveModes(target, requested);
  LARDER_RETURN_IF_ERROR(CheckRunsAsConfiguredOwner(target.online_store.owner));
  LARDER_RETURN_IF_ERROR(CheckStoreDirectory(path));
  bool exists = false;
  LARDER_RETURN_IF_ERROR(CreateIfAbsent(
      path, modes, WriterOptions{}.lock_timeout_ms,
      [&] {
        return CreateSegment(snap.registry, snap.next_view_id, snap.rows, snap.visible_batch,
                             modes);
      },
      &exists));
  if (exists) {
    return Status(ErrorCode::kInvalidArgument,
                  "a store exists at '" + path +
                      "': restore creates a store and never replaces one (remove it first with "
                      "`larder teardown`)");
  }
  SnapshotInfo info;
  info.file = snapshot_path;
  info.store = path;
  info.project = snap.registry.project;
  info.rows = snap.rows.size();
  info.file_bytes = bytes.size();
  info.visible_batch = snap.visible_batch;
  info.taken_micros = snap.taken_micros;
  return info;
}

}  // namespace larder
