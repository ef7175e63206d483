// `larder apply`: create the segment, or bring its registry up to date with the repo.
//
// Views keep their id (and rows) across compatible changes (engine/schema_plan.h). A view whose
// key columns or feature dtypes changed gets a new id, so its old rows can never be read as the
// new schema; the index is then rebuilt without the rows of dead ids, which are retired. Apply
// refuses to discard rows unless forced; `larder plan` (Store::Plan) shows the same plan
// without writing anything.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "engine/index/index_writer.h"
#include "engine/index/row_version.h"
#include "engine/quote.h"
#include "engine/rows/registry_codec.h"
#include "engine/schema_plan.h"
#include "engine/segment/store_files.h"
#include "engine/store_impl.h"

namespace larder {

namespace {

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = static_cast<double>(n);
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

using RowCounts = std::unordered_map<uint32_t, uint64_t>;

// Rows per view id, from the index (blocks a damaged word cannot point at are not counted).
Result<RowCounts> CountRowsByView(const Store::Impl& impl) {
  LARDER_ASSIGN_OR_RETURN(HashIndex idx, impl.index());
  RowCounts counts;
  idx.ForEach([&](const IndexEntry& e) {
    const layout::BlockHeader* b = impl.RowBlockAt(e.row());
    if (b != nullptr && !IsWithdrawnRow(b)) ++counts[b->view_id];  // withdrawn: no row
  });
  return counts;
}

uint64_t RowsOf(const RowCounts& counts, uint32_t id) {
  auto it = counts.find(id);
  return it == counts.end() ? 0 : it->second;
}

// Whether `next` (as planned) differs from `prev` in the segment; a changed memory_limit alone
// is no change (the segment keeps its size), so `next` takes the segment's.
bool RegistryChanges(RepoConfig* next, uint32_t next_id, const RepoConfig& prev,
                     uint32_t prev_next_id, std::string* encoded) {
  next->online_store.memory_limit = prev.online_store.memory_limit;
  *encoded = EncodeRegistry(*next, next_id);
  return *encoded != EncodeRegistry(prev, prev_next_id);
}

// One line per definition of an imported Feast repo that is kept but not served, so an apply
// (and a plan) names each on-demand feature view and what it takes with it.
void NoteUnservable(const RepoConfig& config, ApplyReport* report) {
  for (const UnservableDef& u : config.unservable) {
    const char* kind = u.kind == UnservableDef::Kind::kView ? "feature view" : "feature service";
    report->messages.push_back(std::string("not served: ") + kind + " " + QuoteInput(u.name) +
                               ", " + u.reason);
  }
}

Result<ApplyReport> CreateStore(const RepoConfig& config, const FileModes& modes) {
  ApplyReport report;
  report.created = report.changed = true;
  RepoConfig reg = config;
  uint32_t next_id = 1;
  const SchemaPlan plan = PlanSchema(nullptr, &next_id, &reg, [](uint32_t) { return 0; });
  report.messages = DescribePlan(plan, /*done=*/true);
  LARDER_RETURN_IF_ERROR(CreateSegment(reg, next_id, {}, 0, modes));
  report.messages.insert(report.messages.begin(),
                         "created store '" + config.online_store.path + "' (memory_limit " +
                             HumanBytes(config.online_store.memory_limit) + ", index for " +
                             std::to_string(config.online_store.initial_capacity) + " rows)");
  return report;
}

Result<ApplyReport> UpdateStore(const RepoConfig& config, WriterOptions options, bool force) {
  options.reader_grace_ms = static_cast<int>(config.online_store.reader_grace_ms);
  LARDER_ASSIGN_OR_RETURN(auto store_ptr, Store::Open(config.online_store.path, true, options));
  return Store::Impl::ApplyUpdate(*store_ptr, config, force);
}

}  // namespace

Status CreateSegment(const RepoConfig& registry, uint32_t next_view_id,
                     const std::vector<NewRow>& rows, uint64_t visible_batch,
                     const FileModes& modes) {
  const std::string& path = registry.online_store.path;
  const uint64_t size = registry.online_store.memory_limit;
  LARDER_ASSIGN_OR_RETURN(auto seg, SegmentMapping::CreateTemp(path, size, modes));
  Store::Impl impl;
  impl.seg = std::move(seg);
  Arena arena(impl.seg.get());
  layout::SegmentHeader* h = impl.header();
  // Rows loaded at creation get an index one size larger than they need (a load factor of 0.2
  // to 0.4, as after the writer's growth): room for new keys, and buckets short enough that
  // their rows fit in one run hint.
  const uint64_t capacity = std::max<uint64_t>(registry.online_store.initial_capacity, rows.size());
  const uint32_t log2 = Log2BucketsFor(capacity) + (rows.empty() ? 0 : 1);
  auto idx_off = arena.Allocate(layout::IndexBlockBytes(log2), layout::BlockKind::kIndex, true);
  if (!idx_off.ok()) {
    return idx_off.status().WithContext("an index for " + std::to_string(capacity) +
                                        " rows does not fit memory_limit " + HumanBytes(size));
  }
  h->index_desc.store(layout::MakeIndexDesc(*idx_off + layout::kIndexDataOffset, log2),
                      std::memory_order_relaxed);
  const std::string encoded = EncodeRegistry(registry, next_view_id);
  LARDER_ASSIGN_OR_RETURN(
      uint64_t reg_off,
      arena.Allocate(sizeof(layout::BlockHeader) + encoded.size(), layout::BlockKind::kRegistry));
  arena.Block(reg_off)->payload_len = static_cast<uint32_t>(encoded.size());
  std::memcpy(impl.base() + reg_off + sizeof(layout::BlockHeader), encoded.data(), encoded.size());
  h->registry_block.store(reg_off, std::memory_order_relaxed);
  h->registry_generation.store(1, std::memory_order_relaxed);
  if (!rows.empty()) {
    // Rows laid out in bucket order (BucketOrderKey): each bucket's rows side by side, and the
    // buckets of one run-hint group near each other, as a bulk load leaves them, so that each
    // lookup's run hint names the lines it needs.
    LARDER_ASSIGN_OR_RETURN(HashIndex idx, impl.index());
    const std::vector<uint32_t> order =
        InBucketOrder(rows.size(), [&](size_t i) { return rows[i].hash; });
    std::vector<IndexWriter::FreshRow> placed;
    placed.reserve(rows.size());
    for (uint32_t i : order) {
      const NewRow& r = rows[i];
      const uint64_t bytes = layout::RowBlockBytes(r.key.size(), r.payload.size());
      auto off = arena.Allocate(bytes, layout::BlockKind::kRow);
      if (!off.ok()) {
        return off.status().WithContext(std::to_string(rows.size()) +
                                        " rows do not fit memory_limit " + HumanBytes(size));
      }
      uint8_t* block = impl.base() + *off;
      auto* b = reinterpret_cast<layout::BlockHeader*>(block);
      b->key_len = static_cast<uint16_t>(r.key.size());
      b->view_id = r.view_id;
      b->payload_len = static_cast<uint32_t>(r.payload.size());
      SetRowVersion(block, layout::RowVersion{visible_batch, 0});
      std::memcpy(block + layout::kRowKeyOffset, r.key.data(), r.key.size());
      std::memcpy(block + layout::RowPayloadOffset(r.key.size()), r.payload.data(),
                  r.payload.size());
      placed.push_back({r.hash, *off, bytes});
    }
    if (!IndexWriter(idx).LoadFresh(placed)) {
      return Status(ErrorCode::kInternal, "the new index overflowed while loading rows");
    }
    h->index_entries.store(rows.size(), std::memory_order_relaxed);
    h->rows_written.store(rows.size(), std::memory_order_relaxed);
  }
  // Relaxed: the segment is not published yet; Publish()'s release store of `ready` orders
  // every store above before any process can attach.
  h->visible_seq.store(visible_batch, std::memory_order_relaxed);
  LARDER_RETURN_IF_ERROR(ReaderTableMapping::Create(path, h->segment_uid, modes));
  return impl.seg->Publish();
}

Status CreateIfAbsent(const std::string& path, const FileModes& modes, int lock_timeout_ms,
                      const std::function<Status()>& create, bool* exists) {
  LARDER_ASSIGN_OR_RETURN(WriterLock lock, WriterLock::Acquire(path, lock_timeout_ms, modes.lock));
  struct stat st;
  *exists = !(::lstat(path.c_str(), &st) != 0 && errno == ENOENT);
  if (*exists) return Status::Ok();
  Status created = create();
  if (!created.ok()) {
    // Nothing was published: leave no reader table or lock file behind either.
    ::unlink(ReadersPath(path).c_str());
    lock.ReleaseAndRemove(path);
  }
  return created;
}

Result<ApplyReport> Store::Impl::ApplyUpdate(Store& store, const RepoConfig& config, bool force) {
  Impl& impl = *store.impl_;
  LARDER_ASSIGN_OR_RETURN(auto ws, WriteSession::Begin(impl));
  uint32_t next_id = 0;
  uint64_t reg_off = impl.header()->registry_block.load(std::memory_order_acquire);
  LARDER_ASSIGN_OR_RETURN(RepoConfig prev, ReadRegistryBlock(*impl.seg, reg_off, &next_id));
  const uint32_t prev_next_id = next_id;
  ApplyReport report;
  RepoConfig next = config;
  // Rows are counted (one pass over the index) only when a change needs the number.
  std::optional<Result<RowCounts>> counts;
  const SchemaPlan plan = PlanSchema(&prev, &next_id, &next, [&](uint32_t id) -> uint64_t {
    if (!counts) counts = CountRowsByView(impl);
    return counts->ok() ? RowsOf(**counts, id) : 0;
  });
  if (counts && !counts->ok()) return counts->status();
  report.rows_discarded = plan.DiscardedRows();
  if (report.rows_discarded > 0 && !force) return DiscardRefused(plan);
  report.messages = DescribePlan(plan, /*done=*/true);
  if (config.online_store.memory_limit != impl.seg->size()) {
    report.messages.push_back(
        "note: memory_limit is fixed when a store is created; this store keeps " +
        HumanBytes(impl.seg->size()) + " (run `larder teardown` then `larder apply` to resize)");
  }
  std::string encoded;
  if (!RegistryChanges(&next, next_id, prev, prev_next_id, &encoded)) {
    report.messages.push_back("no changes: the store already matches the repo");
    return report;
  }
  report.changed = true;
  // Drop the dead ids' rows first, then publish the registry. A writer killed between the two
  // leaves the old registry over an index without those rows (the views being re-created or
  // dropped just look empty early), and the next apply redoes the change. The reverse order
  // left the new registry over rows of ids it no longer knows: the next apply saw "no changes",
  // so those rows stayed in the index for good and Check() failed on every one of them.
  if (!plan.dead_ids.empty()) {
    LARDER_ASSIGN_OR_RETURN(HashIndex idx, impl.index());
    LARDER_RETURN_IF_ERROR(ws->RebuildIndex(idx.log2_buckets(), plan.dead_ids));
  }
  // A removed feature's slot is left empty in rows written from now on. A reader that planned
  // its lookup with the previous registry would read that empty value as the feature's: the
  // wait is recorded in the segment before the registry is published, and no row is written
  // (by this process or any other) until every such lookup has ended or been withdrawn (so
  // that it reads again, with this registry).
  if (plan.RetiresFeatures()) {
    Status st = ws->PublishRegistryAndWait(encoded);
    if (st.code() == ErrorCode::kBusy) {  // published; the wait stays pending in the segment
      report.messages.push_back("warning: " + st.message() +
                                "; the next write waits for it before it writes");
    } else {
      LARDER_RETURN_IF_ERROR(st);
    }
  } else {
    LARDER_RETURN_IF_ERROR(ws->PublishRegistry(encoded));
  }
  if (!plan.ViewsChanged()) {
    report.messages.insert(report.messages.begin(),
                           "updated the registry (entities, sources or feature services)");
  }
  return report;
}

Result<ApplyReport> Store::Plan(const RepoConfig& config) {
  const std::string& path = config.online_store.path;
  ApplyReport report;
  RepoConfig next = config;
  uint32_t next_id = 1;
  ReaderOptions trusting;  // a plan reads as a reader: it trusts the configured owner's store
  trusting.segment_owner = config.online_store.owner;
  auto store = Store::Open(path, /*writable=*/false, WriterOptions{}, trusting);
  if (!store.ok() && store.status().code() != ErrorCode::kStoreNotFound) return store.status();
  if (!store.ok()) {
    const SchemaPlan plan = PlanSchema(nullptr, &next_id, &next, [](uint32_t) { return 0; });
    report.changed = true;
    report.messages = DescribePlan(plan, /*done=*/false);
    report.messages.insert(report.messages.begin(),
                           "create store '" + path + "' (memory_limit " +
                               HumanBytes(config.online_store.memory_limit) + ")");
    NoteUnservable(config, &report);
    return report;
  }
  // The registry and the rows per view, read in one hold (one generation).
  const Impl& impl = *(*store)->impl_;
  RepoConfig prev;
  RowCounts counts;
  LARDER_RETURN_IF_ERROR(impl.ReadProtected([&](const EpochGuard&) -> Status {
    const uint64_t reg_off = impl.header()->registry_block.load(std::memory_order_acquire);
    LARDER_ASSIGN_OR_RETURN(prev, ReadRegistryBlock(*impl.seg, reg_off, &next_id));
    LARDER_ASSIGN_OR_RETURN(counts, CountRowsByView(impl));
    return Status::Ok();
  }));
  const uint32_t prev_next_id = next_id;
  const SchemaPlan plan =
      PlanSchema(&prev, &next_id, &next, [&](uint32_t id) { return RowsOf(counts, id); });
  report.rows_discarded = plan.DiscardedRows();
  report.messages = DescribePlan(plan, /*done=*/false);
  std::string encoded;
  report.changed = RegistryChanges(&next, next_id, prev, prev_next_id, &encoded);
  if (!report.changed) {
    report.messages.push_back("no changes: the store already matches the repo");
  } else if (!plan.ViewsChanged()) {
    report.messages.push_back("update the registry (entities, sources or feature services)");
  }
  if (report.rows_discarded > 0) {
    report.messages.push_back("apply would discard " + std::to_string(report.rows_discarded) +
                              " rows: it needs `larder apply --force`");
  }
  NoteUnservable(config, &report);
  return report;
}

// The modes apply uses: the caller's when they are not the defaults, else the repo's
// (online_store.file_mode and readers_mode). The lock file is the owner's alone (0600),
// whatever the caller asks: a group member who could open it could hold its flock and stop
// every write.
FileModes EffectiveModes(const RepoConfig& config, const FileModes& modes) {
  const FileModes d;
  if (modes.segment != d.segment || modes.readers != d.readers) {
    return {modes.segment, modes.readers, d.lock};
  }
  return {config.online_store.file_mode, config.online_store.readers_mode, d.lock};
}

namespace {

// Gives the files of an existing store the configured modes (a changed file_mode or
// readers_mode takes effect on the next apply). Each file is opened (never through a symlink,
// only if this user owns it) and its mode set on that descriptor: a path swapped for a link
// meanwhile can never redirect the change to another file.
void SetModes(const std::string& path, const FileModes& modes, ApplyReport* report) {
  const std::pair<std::string, uint32_t> files[] = {
      {path, modes.segment}, {ReadersPath(path), modes.readers}, {LockPath(path), modes.lock}};
  for (const auto& [file, mode] : files) {
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", mode);
    struct stat st;
    auto fd = OpenStoreFile(file, O_RDONLY, "store file", OwnerRule{.must_be_mine = true}, &st);
    if (!fd.ok()) {
      if (fd.status().code() == ErrorCode::kStoreNotFound) continue;
      report->messages.push_back("warning: cannot set the mode of '" + file + "' to " + octal +
                                 ": " + fd.status().message());
      continue;
    }
    auto changed = SetModeOnDescriptor(fd->get(), file, mode);
    if (!changed.ok()) {
      report->messages.push_back("warning: " + changed.status().message() + " to " + octal);
    } else if (*changed) {
      report->messages.push_back("set the mode of '" + file + "' to " + octal);
    }
  }
}

}  // namespace

Result<ApplyReport> Store::Apply(const RepoConfig& config, const FileModes& requested,
                                 WriterOptions options, ApplyOptions apply) {
  const std::string& path = config.online_store.path;
  const FileModes modes = EffectiveModes(config, requested);
  LARDER_RETURN_IF_ERROR(CheckRunsAsConfiguredOwner(config.online_store.owner));
  LARDER_RETURN_IF_ERROR(CheckStoreDirectory(path));
  Result<ApplyReport> created = Status(ErrorCode::kInternal, "not created");
  bool exists = false;
  LARDER_RETURN_IF_ERROR(CreateIfAbsent(
      path, modes, options.lock_timeout_ms,
      [&] {
        created = CreateStore(config, modes);
        return created.status();
      },
      &exists));
  if (!exists) {
    SetModes(path, modes, &*created);
    NoteUnservable(config, &*created);
    return created;
  }
  // An existing path (a symlink, a file of another user, a foreign file) is refused by
  // Store::Open. UpdateStore takes the lock itself through a WriteSession (CreateIfAbsent
  // released ours: flock locks are per open file description).
  LARDER_ASSIGN_OR_RETURN(ApplyReport report, UpdateStore(config, options, apply.force));
  SetModes(path, modes, &report);
  NoteUnservable(config, &report);
  return report;
}

}  // namespace larder
