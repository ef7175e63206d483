// The write path: Push (fan-out to views) and WriteToView.
//
// A request is applied in three phases so that nothing partial is ever written:
//   1. stage:   convert and validate every row of every target view, encode keys and rows;
//   2. reserve: grow the index if needed and allocate a block for every staged row;
//   3. publish: write each row (stamped with the batch's sequence number and the row it
//               replaces) into its block and release-store its index word, retiring the row
//               it replaces; then make the batch visible to new read requests as a whole.
// An error in phase 1 or 2 returns with nothing published (allocated blocks go back to the
// free lists). Phase 3 cannot fail.
#include <cstring>
#include <vector>

#include "engine/fault.h"
#include "engine/row_codec.h"
#include "engine/row_version.h"
#include "engine/store_impl.h"
#include "layout/entity_key.h"

namespace larder {

using layout::BlockHeader;
using layout::BlockKind;

namespace {

struct StagedRow {
  const ViewInfo* view;
  uint64_t hash;
  TimestampMicros event_ts;
  TimestampMicros created_ts;
  size_t key_off, key_len;          // in Staging::bytes
  size_t payload_off, payload_len;  // in Staging::bytes
  uint64_t block = 0;               // phase 2
};

struct Staging {
  std::string bytes;
  std::vector<StagedRow> rows;
};

Status CellError(const Frame& f, size_t row, const std::string& column, const Status& st) {
  return Status(st.code(), f.DescribeRow(row) + ", column '" + column + "': " + st.message());
}

// Finds a column the view needs; a missing one is added to `missing` ("'name' (role)").
int RequireColumn(const Frame& f, const std::string& name, const std::string& role,
                  std::vector<std::string>* missing) {
  int c = f.FindColumn(name);
  if (c < 0) missing->push_back("'" + name + "' (" + role + ")");
  return c;
}

// Phase 1 for one view.
Status StageView(const ViewInfo& view, const Frame& f, RowEncoder& enc, Staging* out) {
  std::vector<std::string> missing;
  std::vector<int> key_cols, feat_cols;
  for (const JoinKeyDef& k : view.def.join_keys) {
    key_cols.push_back(RequireColumn(f, k.name, "join key", &missing));
  }
  for (const FeatureInfo& fi : view.features) {
    feat_cols.push_back(RequireColumn(f, fi.name, "feature", &missing));
  }
  int ts_col = RequireColumn(f, view.timestamp_field, "timestamp field", &missing);
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    return InvalidArgument(f.origin + ": feature view '" + view.def.name +
                           "' needs column" + (missing.size() > 1 ? "s " : " ") + list +
                           ", missing from the request (nothing was written)");
  }
  // The created-timestamp column only breaks ties between equal event times: when the request
  // lacks it, every row's created timestamp is 0.
  int created_col = view.created_timestamp_column.empty()
                        ? -1
                        : f.FindColumn(view.created_timestamp_column);

  std::vector<Value> values(view.features.size());
  std::string key;
  for (size_t r = 0; r < f.num_rows(); ++r) {
    key.clear();
    for (size_t k = 0; k < key_cols.size(); ++k) {
      const JoinKeyDef& jk = view.def.join_keys[k];
      auto v = CellToValue(f.columns[key_cols[k]][r], DType{jk.type, false});
      if (!v.ok()) return CellError(f, r, jk.name, v.status());
      Status st = layout::AppendEntityKeyPart(*v, jk.type, &key);
      if (!st.ok()) return CellError(f, r, jk.name, st);
    }
    if (key.size() > layout::kMaxKeyLen) {
      return InvalidArgument(f.DescribeRow(r) + ": entity key of " + std::to_string(key.size()) +
                             " bytes exceeds the limit of " + std::to_string(layout::kMaxKeyLen));
    }
    auto ts = CellToTimestamp(f.columns[ts_col][r]);
    if (!ts.ok()) return CellError(f, r, view.timestamp_field, ts.status());
    TimestampMicros created = 0;
    if (created_col >= 0 && f.columns[created_col][r].kind != Cell::Kind::kNull) {
      auto c = CellToTimestamp(f.columns[created_col][r]);
      if (!c.ok()) return CellError(f, r, view.created_timestamp_column, c.status());
      created = *c;
    }
    for (size_t i = 0; i < view.features.size(); ++i) {
      auto v = CellToValue(f.columns[feat_cols[i]][r], view.features[i].dtype);
      if (!v.ok()) return CellError(f, r, view.features[i].name, v.status());
      values[i] = std::move(v).value();
    }
    std::string_view payload = enc.Encode(view, *ts, created, values.data());
    if (payload.size() > (1ull << 30)) {
      return InvalidArgument(f.DescribeRow(r) + ": row of " + std::to_string(payload.size()) +
                             " bytes is larger than 1 GiB");
    }
    StagedRow s{&view, HashEntityKey(view.id(), key), *ts, created,
                out->bytes.size(), key.size(), 0, payload.size()};
    out->bytes.append(key);
    s.payload_off = out->bytes.size();
    out->bytes.append(payload);
    out->rows.push_back(s);
  }
  return Status::Ok();
}

// (event, created) ordering: a row replaces the stored one only when not older.
bool NotOlder(const StagedRow& s, const uint8_t* stored_block) {
  const auto* h = reinterpret_cast<const BlockHeader*>(stored_block);
  const fb::Row* row = RowFromBuffer(stored_block + layout::RowPayloadOffset(h->key_len));
  if (s.event_ts != row->event_ts()) return s.event_ts > row->event_ts();
  return s.created_ts >= row->created_ts();
}

// Phase 2: a block for every staged row. On failure, the blocks taken are given back to the
// free lists, unless the lists are damaged: then the rebuild finds them unreferenced.
//
// A batch with at least one row per two buckets (a bulk load) takes its blocks in bucket
// order (BucketOrderKey), so the rows of one bucket come out side by side when the blocks are
// fresh arena space, and its run hint can name them all (layout/segment_layout.h, "Run
// hints"). Smaller batches keep their order: their rows rarely share a bucket.
Status AllocateRows(WriteSession& ws, const IndexRef& idx, Staging& st) {
  std::vector<uint32_t> order;
  if (st.rows.size() * 2 >= idx.bucket_mask + 1) {
    order = InBucketOrder(st.rows.size(), [&](size_t i) { return st.rows[i].hash; });
  } else {
    order.resize(st.rows.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  }
  for (size_t i = 0; i < order.size(); ++i) {
    StagedRow& s = st.rows[order[i]];
    uint64_t bytes = layout::RowBlockBytes(s.key_len, s.payload_len);
    auto off = ws.arena().Allocate(bytes, BlockKind::kRow);
    if (!off.ok() && ws.arena().damage().empty()) {
      ws.ReclaimNow();
      off = ws.arena().Allocate(bytes, BlockKind::kRow);
    }
    if (!off.ok()) {
      // With damaged lists the blocks are left to the rebuild (nothing references them).
      if (ws.arena().damage().empty()) {
        for (size_t j = 0; j < i; ++j) ws.arena().FreeUnpublished(st.rows[order[j]].block);
      }
      return off.status();
    }
    s.block = *off;
  }
  return Status::Ok();
}

// Phases 2 and 3.
Result<PushResult> Commit(Store::Impl& store, WriteSession& ws, Staging& st) {
  PushResult res;
  // Phase 2. Each staged row may add one index entry.
  LARDER_RETURN_IF_ERROR(ws.EnsureIndexCapacity(st.rows.size()));
  IndexRef idx = store.index();
  Status allocated = AllocateRows(ws, idx, st);
  if (!allocated.ok() && !ws.arena().damage().empty()) {
    // The free lists are damaged: rebuild them as after a writer crash, then try once more.
    LARDER_RETURN_IF_ERROR(
        ws.RebuildAllocator().WithContext("push not applied (nothing was written)"));
    allocated = AllocateRows(ws, idx, st);
  }
  if (!allocated.ok()) return allocated.WithContext("push not applied (nothing was written)");
  // Phase 3.
  layout::SegmentHeader* h = store.header();
  uint8_t* base = store.base();
  uint64_t added = 0;
  for (StagedRow& s : st.rows) {
    std::string_view key(st.bytes.data() + s.key_off, s.key_len);
    ProbeResult p = ProbeIndex(base, store.seg->size(), idx, s.hash, s.view->id(), key);
    if (p.found && !NotOlder(s, base + layout::WordOffset(p.word))) {
      ws.arena().FreeUnpublished(s.block);
      ++res.rows_skipped;
      continue;
    }
    if (p.slot == nullptr) {
      // Cannot happen (phase 2 made room); rows already published stay, and so that no later
      // batch exposes them with its own, they are made visible as they are.
      ws.MakeBatchVisible();
      return InternalError("index full after capacity check");
    }
    auto* b = reinterpret_cast<BlockHeader*>(base + s.block);
    b->key_len = static_cast<uint16_t>(s.key_len);
    b->view_id = s.view->id();
    b->payload_len = static_cast<uint32_t>(s.payload_len);
    // The version older snapshots read instead of this row: the row it replaces, or when that
    // row is this batch's own (a key twice in one request), the one that row replaced, so a
    // chain's batches strictly decrease and no snapshot needs a row of a batch it lacks.
    uint64_t prev = 0;
    if (p.found) {
      const uint64_t old = layout::WordOffset(p.word);
      const layout::RowVersion ov = RowVersionOf(reinterpret_cast<const BlockHeader*>(base + old));
      prev = ov.seq == ws.batch_seq() ? ov.prev : old;
    }
    SetRowVersion(base + s.block, layout::RowVersion{ws.batch_seq(), prev});
    std::memcpy(base + s.block + layout::kRowKeyOffset, key.data(), s.key_len);
    std::memcpy(base + s.block + layout::RowPayloadOffset(s.key_len),
                st.bytes.data() + s.payload_off, s.payload_len);
    LARDER_FAULT_POINT("before_publish_row");
    // release: the row's bytes above are visible to any reader that acquires this word.
    p.slot->store(layout::MakeIndexWord(layout::TagOf(s.hash), s.block),
                  std::memory_order_release);
    LARDER_FAULT_POINT("after_publish_row");
    // Only from the key's home bucket: a word that overflowed into the next bucket names a
    // row laid out with its own bucket's, far from that bucket's run.
    const uint64_t bucket = static_cast<uint64_t>(p.slot - idx.words) / layout::kBucketWords;
    if (bucket == (s.hash & idx.bucket_mask)) RefreshRunHint(idx, bucket);
    if (p.found) {
      ws.Retire(layout::WordOffset(p.word));
    } else {
      ++added;
    }
    ++res.rows_written;
  }
  // The batch is whole: new requests see all of it (old ones keep reading through `prev`).
  ws.MakeBatchVisible();
  h->index_entries.fetch_add(added, std::memory_order_relaxed);
  h->rows_written.fetch_add(res.rows_written, std::memory_order_relaxed);
  h->rows_skipped_older.fetch_add(res.rows_skipped, std::memory_order_relaxed);
  return res;
}

Result<PushResult> WriteViews(Store::Impl& store, WriteSession& ws,
                              const std::vector<const ViewInfo*>& views, const Frame& frame) {
  LARDER_RETURN_IF_ERROR(frame.CheckShape());
  Staging st;
  RowEncoder enc;
  st.rows.reserve(frame.num_rows() * views.size());
  for (const ViewInfo* v : views) LARDER_RETURN_IF_ERROR(StageView(*v, frame, enc, &st));
  LARDER_ASSIGN_OR_RETURN(PushResult res, Commit(store, ws, st));
  res.rows_in = frame.num_rows();
  res.views = views.size();
  return res;
}

}  // namespace

Result<PushResult> Store::Push(const std::string& push_source, const Frame& frame) {
  LARDER_ASSIGN_OR_RETURN(auto ws, WriteSession::Begin(*impl_));
  LARDER_ASSIGN_OR_RETURN(auto cat, impl_->CatalogNow());
  const SourceDef* src = cat->config().FindSource(push_source);
  if (src == nullptr || src->kind != SourceKind::kPush) {
    return Status(ErrorCode::kPushSourceNotFound,
                  "push source '" + push_source + "' is not in the registry");
  }
  std::vector<const ViewInfo*> views;
  for (const ViewInfo* v : cat->ViewsOfSource(push_source)) {
    if (v->def.online) views.push_back(v);
  }
  return WriteViews(*impl_, *ws, views, frame);
}

Result<PushResult> Store::WriteToView(const std::string& view, const Frame& frame) {
  LARDER_ASSIGN_OR_RETURN(auto ws, WriteSession::Begin(*impl_));
  LARDER_ASSIGN_OR_RETURN(auto cat, impl_->CatalogNow());
  const ViewInfo* v = cat->FindView(view);
  if (v == nullptr) {
    return Status(ErrorCode::kFeatureViewNotFound,
                  "feature view '" + view + "' is not in the registry");
  }
  return WriteViews(*impl_, *ws, {v}, frame);
}

}  // namespace larder
