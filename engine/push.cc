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
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/fault.h"
#include "engine/index/index_writer.h"
#include "engine/index/row_version.h"
#include "engine/quote.h"
#include "engine/row_stager.h"
#include "engine/rows/row_codec.h"
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
  uint64_t all_null = 0;  // rows left out because all their features were null
};

// Phase 1 for one view.
Status StageView(const ViewInfo& view, const Frame& f, Store::AllNullRows all_null,
                 ConvertedCells* cells, TimestampMicros latest_event_ts, RowEncoder& enc,
                 Staging* out) {
  LARDER_ASSIGN_OR_RETURN(RowStager rows, RowStager::Make(view, f, cells, latest_event_ts));
  const size_t first_row = out->rows.size();
  bool any_value = false;  // some feature of some row is not null
  for (size_t r = 0; r < f.num_rows(); ++r) {
    LARDER_RETURN_IF_ERROR(rows.Stage(r));
    any_value = any_value || rows.any_value();
    std::string_view payload =
        enc.Encode(view, rows.event_ts(), rows.created_ts(), rows.values().data());
    if (payload.size() > (1ull << 30)) {
      return InvalidArgument(f.DescribeRow(r) + ": row of " + std::to_string(payload.size()) +
                             " bytes is larger than 1 GiB");
    }
    const std::string_view key = rows.key();
    StagedRow s{&view,
                HashEntityKey(view.id(), key),
                rows.event_ts(),
                rows.created_ts(),
                out->bytes.size(),
                key.size(),
                0,
                payload.size()};
    out->bytes.append(key);
    s.payload_off = out->bytes.size();
    out->bytes.append(payload);
    out->rows.push_back(s);
  }
  // As Feast's write_to_online_store: a frame whose features are all null writes nothing to the
  // view (its staged bytes stay unused in out->bytes).
  if (all_null == Store::AllNullRows::kSkip && !view.features.empty() && !any_value) {
    out->all_null += out->rows.size() - first_row;
    out->rows.resize(first_row);
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
Status AllocateRows(WriteSession& ws, const HashIndex& idx, Staging& st) {
  std::vector<uint32_t> order;
  if (st.rows.size() * 2 >= idx.buckets()) {
    order = InBucketOrder(st.rows.size(), [&](size_t i) { return st.rows[i].hash; });
  } else {
    order.resize(st.rows.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  }
  for (size_t i = 0; i < order.size(); ++i) {
    StagedRow& s = st.rows[order[i]];
    uint64_t bytes = layout::RowBlockBytes(s.key_len, s.payload_len);
    auto off = ws.AllocateMakingRoom(bytes, BlockKind::kRow);
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
  LARDER_ASSIGN_OR_RETURN(HashIndex idx, store.index());
  const IndexWriter index(idx);
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
    const IndexSlot p = idx.Find(base, store.seg->size(), s.hash, s.view->id(), key);
    // A row recovery withdrew is no row: it is replaced whatever its timestamps.
    const bool withdrawn =
        p.found() && IsWithdrawnRow(reinterpret_cast<const BlockHeader*>(base + p.row()));
    if (p.found() && !withdrawn && !NotOlder(s, base + p.row())) {
      ws.arena().FreeUnpublished(s.block);
      ++res.rows_skipped;
      continue;
    }
    // Cannot happen (phase 2 made room). Rows already published stay; Finish makes them
    // visible as they are, so that no later batch exposes them with its own.
    if (!p.has_slot()) return InternalError("index full after capacity check");
    auto* b = reinterpret_cast<BlockHeader*>(base + s.block);
    b->key_len = static_cast<uint16_t>(s.key_len);
    b->view_id = s.view->id();
    b->payload_len = static_cast<uint32_t>(s.payload_len);
    // The version older snapshots read instead of this row: the row it replaces, or when that
    // row is this batch's own (a key twice in one request), the one that row replaced, so a
    // chain's batches strictly decrease and no snapshot needs a row of a batch it lacks.
    // A withdrawn row is no version: older snapshots read the key as absent (prev 0).
    const uint64_t seq = ws.StampRows();
    uint64_t prev = 0;
    if (p.found() && !withdrawn) {
      const uint64_t old = p.row();
      const layout::RowVersion ov = RowVersionOf(reinterpret_cast<const BlockHeader*>(base + old));
      prev = ov.seq == seq ? ov.prev : old;
    }
    SetRowVersion(base + s.block, layout::RowVersion{seq, prev});
    std::memcpy(base + s.block + layout::kRowKeyOffset, key.data(), s.key_len);
    std::memcpy(base + s.block + layout::RowPayloadOffset(s.key_len),
                st.bytes.data() + s.payload_off, s.payload_len);
    LARDER_FAULT_POINT("before_publish_row");
    // A release store: the row's bytes above are visible to any reader that acquires the word.
    index.Publish(p, s.hash, s.block);
    LARDER_FAULT_POINT("after_publish_row");
    index.RefreshRunHintAfter(p, s.hash);
    if (p.found()) {
      ws.Retire(p.row());
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
                              const std::vector<const ViewInfo*>& views, const Frame& frame,
                              Store::AllNullRows all_null, ConvertedCells* cells = nullptr) {
  LARDER_RETURN_IF_ERROR(frame.CheckShape());
  Staging st;
  RowEncoder enc;
  st.rows.reserve(frame.num_rows() * views.size());
  // A row from the far future would win over every later push of its entity, for good.
  const TimestampMicros latest = LatestAllowedEventTime(store.options.max_future_skew_seconds);
  for (const ViewInfo* v : views) {
    LARDER_RETURN_IF_ERROR(StageView(*v, frame, all_null, cells, latest, enc, &st));
  }
  LARDER_ASSIGN_OR_RETURN(PushResult res, Commit(store, ws, st));
  res.rows_all_null = st.all_null;
  res.rows_in = frame.num_rows();
  res.views = views.size();
  return res;
}

}  // namespace

Result<PushResult> Store::Push(const std::string& push_source, const Frame& frame,
                               ConvertedCells* cells) {
  LARDER_ASSIGN_OR_RETURN(auto ws, WriteSession::Begin(*impl_));
  LARDER_ASSIGN_OR_RETURN(auto cat, impl_->WriterCatalog());
  const SourceDef* src = cat->config().FindSource(push_source);
  if (src == nullptr || src->kind != SourceKind::kPush) {
    return Status(ErrorCode::kPushSourceNotFound,
                  "push source " + QuoteInput(push_source) + " is not in the registry");
  }
  std::vector<const ViewInfo*> views;
  for (const ViewInfo* v : cat->ViewsOfSource(push_source)) {
    if (v->def.online) views.push_back(v);
  }
  return WriteViews(*impl_, *ws, views, frame, AllNullRows::kSkip, cells);
}

Result<PushResult> Store::WriteToView(const std::string& view, const Frame& frame,
                                      AllNullRows all_null, ConvertedCells* cells) {
  LARDER_ASSIGN_OR_RETURN(auto ws, WriteSession::Begin(*impl_));
  LARDER_ASSIGN_OR_RETURN(auto cat, impl_->WriterCatalog());
  LARDER_ASSIGN_OR_RETURN(const ViewInfo* v, cat->RequireView(view));
  return WriteViews(*impl_, *ws, {v}, frame, all_null, cells);
}

}  // namespace larder
