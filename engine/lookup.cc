// The read path: get_online_features.
//
// A request is planned against the catalog of the current registry generation (a hash lookup
// per feature reference, no registry parsing), then each feature view's entities are looked
// up in groups of kGroup: prefetch every bucket of the group, pick each key's candidate word
// by tag and prefetch its row, then verify keys and decode. A hit costs about two cache misses
// (bucket, row) and a group overlaps them. The whole request runs inside one epoch, so every
// row it reads stays valid until it returns; it never waits on the writer.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "engine/feature_refs.h"
#include "engine/row_codec.h"
#include "engine/store_impl.h"
#include "layout/entity_key.h"

namespace larder {

using layout::BlockHeader;

namespace {

constexpr size_t kGroup = 16;
constexpr uint64_t kRowPrefetchBytes = 192;  // lines of a row prefetched before it is read

struct PlannedView {
  const ViewInfo* view;
  std::vector<size_t> feats;  // positions in QueryPlan::features of this view's features
};

struct QueryPlan {
  std::vector<ResolvedFeature> features;
  std::vector<PlannedView> views;  // distinct, first-use order
};

Result<QueryPlan> PlanQuery(const Catalog& cat, const OnlineRequest& req) {
  QueryPlan plan;
  LARDER_ASSIGN_OR_RETURN(plan.features,
                          ResolveFeatureRefs(cat, req.features, req.feature_service,
                                             req.full_feature_names, "registry"));
  for (size_t i = 0; i < plan.features.size(); ++i) {
    const ViewInfo* v = plan.features[i].view;
    auto it = std::find_if(plan.views.begin(), plan.views.end(),
                           [v](const PlannedView& p) { return p.view == v; });
    if (it == plan.views.end()) it = plan.views.insert(plan.views.end(), PlannedView{v, {}});
    it->feats.push_back(i);
  }
  return plan;
}

// Encodes every entity row's key for `view`; errors name the row and the join key.
Status BuildKeys(const ViewInfo& view, const Frame& entities, std::string* buf,
                 std::vector<uint32_t>* ends) {
  thread_local std::vector<int> cols;  // the entity column of each join key
  thread_local Value part;             // one key value, converted to the join key's type
  cols.clear();
  for (const JoinKeyDef& k : view.def.join_keys) {
    int c = entities.FindColumn(k.name);
    if (c < 0) {
      std::string have;
      for (const auto& n : entities.names) have += (have.empty() ? "" : ", ") + n;
      return Status(ErrorCode::kMissingJoinKey,
                    "entity rows lack join key '" + k.name + "' needed by feature view '" +
                        view.def.name + "' (given: " + (have.empty() ? "none" : have) + ")");
    }
    cols.push_back(c);
  }
  buf->clear();
  ends->clear();
  for (size_t r = 0; r < entities.num_rows(); ++r) {
    for (size_t k = 0; k < cols.size(); ++k) {
      const JoinKeyDef& jk = view.def.join_keys[k];
      const Cell& cell = entities.columns[cols[k]][r];
      if (cell.kind == Cell::Kind::kInt && jk.type == ScalarType::kInt64) {
        // The common key without a Value: converting through one costs ~12 ns per entity
        // (BM_LookupHitColumnar/10000/batch:100: 68 -> 80 ns).
        layout::AppendInt64EntityKeyPart(cell.i, buf);
        continue;
      }
      Status st = CellToValueInto(cell, DType{jk.type, false}, &part);
      if (st.ok()) st = layout::AppendEntityKeyPart(part, jk.type, buf);
      if (!st.ok()) {
        return InvalidArgument("entity row " + std::to_string(r + 1) + ", join key '" + jk.name +
                               "': " + st.message());
      }
    }
    ends->push_back(static_cast<uint32_t>(buf->size()));
  }
  return Status::Ok();
}

// Recently used plans of this thread: serving repeats a handful of request shapes, so a plan
// (feature refs resolved to (view, class, slot)) is looked up by comparing the request's
// feature list, not rebuilt. Entries hold their catalog, so their pointers stay valid.
struct CachedPlan {
  uint64_t instance_id = 0;
  uint64_t generation = 0;
  bool full_feature_names = false;
  std::string feature_service;
  std::vector<std::string> features;
  std::shared_ptr<const Catalog> catalog;
  QueryPlan plan;
};
constexpr size_t kPlanCacheSize = 8;
thread_local std::vector<CachedPlan> t_plans;
thread_local size_t t_plan_next = 0;

Result<const QueryPlan*> CachedPlanFor(uint64_t instance_id,
                                       const std::shared_ptr<const Catalog>& cat,
                                       const OnlineRequest& req) {
  for (const CachedPlan& c : t_plans) {
    if (c.instance_id == instance_id && c.generation == cat->generation() &&
        c.full_feature_names == req.full_feature_names &&
        c.feature_service == req.feature_service && c.features == req.features) {
      return &c.plan;
    }
  }
  LARDER_ASSIGN_OR_RETURN(QueryPlan plan, PlanQuery(*cat, req));
  CachedPlan entry{instance_id, cat->generation(), req.full_feature_names,
                   req.feature_service, req.features, cat, std::move(plan)};
  if (t_plans.size() < kPlanCacheSize) {
    t_plans.push_back(std::move(entry));
    return &t_plans.back().plan;
  }
  CachedPlan& slot = t_plans[t_plan_next++ % kPlanCacheSize];
  slot = std::move(entry);
  return &slot.plan;
}

// Empties a value for reuse, keeping its buffers' capacity. The buffers are touched only
// when they hold something: the columns of a repeated request shape are mostly scalars.
void ResetValue(Value* v, DType dtype) {
  v->dtype = dtype;
  v->is_null = true;
  v->i64 = 0;
  v->f64 = 0;
  if (!v->str.empty()) v->str.clear();
  if (!v->i64s.empty()) v->i64s.clear();
  if (!v->f64s.empty()) v->f64s.clear();
  if (!v->strs.empty()) v->strs.clear();
}

// Sizes a column for n rows of `dtype`, all `status`, reusing its buffers. (Plain loops: for
// the few rows of a typical request, assign()'s out-of-line memset costs more than the stores.)
void ResetColumn(FeatureColumn* col, size_t n, DType dtype, FieldStatus status) {
  if (col->values.size() != n) col->values.resize(n);
  if (col->statuses.size() != n) col->statuses.resize(n);
  if (col->event_timestamps.size() != n) col->event_timestamps.resize(n);
  for (size_t r = 0; r < n; ++r) {
    ResetValue(&col->values[r], dtype);
    col->statuses[r] = status;
    col->event_timestamps[r] = 0;
  }
}

// The entity columns of the response: the request's values, typed as the join key when a
// requested view uses that key.
void FillEntityColumn(const QueryPlan& plan, const Frame& entities, size_t col,
                      FeatureColumn* out) {
  const std::string& name = entities.names[col];
  const JoinKeyDef* key = nullptr;
  for (const PlannedView& p : plan.views) {
    for (const JoinKeyDef& k : p.view->def.join_keys) {
      if (k.name == name) key = &k;
    }
  }
  size_t n = entities.num_rows();
  ResetColumn(out, n, DType{key ? key->type : ScalarType::kInt64, false}, FieldStatus::kPresent);
  for (size_t r = 0; r < n; ++r) {
    const Cell& c = entities.columns[col][r];
    Value& v = out->values[r];
    if (key != nullptr) {
      // On a key of the wrong type the value stays null; BuildKeys then fails the request.
      (void)CellToValueInto(c, DType{key->type, false}, &v);
    } else if (c.kind == Cell::Kind::kInt) {
      v = Value::Int64(c.i);
    } else if (c.kind == Cell::Kind::kDouble) {
      v = Value::Float64(c.d);
    } else if (c.kind == Cell::Kind::kString) {
      v = Value::String(c.s);
    } else if (c.kind == Cell::Kind::kBool) {
      v = Value::Bool(c.b);
    }
  }
}


// Writes each looked-up feature into Feast's row-of-Values response.
class ValueSink {
 public:
  explicit ValueSink(OnlineResponse* out) : out_(out) {}

  void Begin(const QueryPlan& plan, const Frame& entities) {
    const size_t n = entities.num_rows();
    first_ = entities.names.size();
    out_->feature_names.resize(first_ + plan.features.size());
    out_->results.resize(first_ + plan.features.size());
    for (size_t c = 0; c < first_; ++c) {
      out_->feature_names[c] = entities.names[c];
      FillEntityColumn(plan, entities, c, &out_->results[c]);
    }
    for (size_t i = 0; i < plan.features.size(); ++i) {
      out_->feature_names[first_ + i] = plan.features[i].output_name;
      ResetColumn(&out_->results[first_ + i], n, plan.features[i].feature->dtype,
                  FieldStatus::kNotFound);
    }
  }
  void Invalid(size_t feature, size_t row) {
    out_->results[first_ + feature].statuses[row] = FieldStatus::kInvalid;
  }
  // Row `row`'s values of the features at plan positions `feats` (all of `view`).
  void PutRow(const QueryPlan& plan, const std::vector<size_t>& feats, const ViewInfo& /*view*/,
              size_t row, const fb::Row* fr, TimestampMicros ts, FieldStatus present) {
    const auto* nulls = fr->nulls();
    for (size_t f : feats) Put(f, row, fr, nulls, *plan.features[f].feature, ts, present);
  }

 private:
  void Put(size_t feature, size_t row, const fb::Row* fr, const flatbuffers::Vector<uint8_t>* nulls,
           const FeatureInfo& fi, TimestampMicros ts, FieldStatus present) {
    FeatureColumn& col = out_->results[first_ + feature];
    col.event_timestamps[row] = ts;
    if (IsNullIn(nulls, fi)) {
      col.statuses[row] = FieldStatus::kNullValue;
    } else if (!DecodeFeature(fr, fi, &col.values[row])) {
      col.statuses[row] = FieldStatus::kInvalid;
    } else {
      col.statuses[row] = present;
    }
  }

  OnlineResponse* out_;
  size_t first_ = 0;
};

template <typename T, typename Vec>
bool ReadSlot(const Vec* v, uint32_t slot, T* out) {
  if (v == nullptr || slot >= v->size()) return false;
  *out = static_cast<T>(v->Get(slot));
  return true;
}

// Writes each looked-up feature into one typed array per feature.
class ColumnarSink {
 public:
  explicit ColumnarSink(ColumnarResponse* out) : out_(out) {}

  void Begin(const QueryPlan& plan, const Frame& entities) {
    const size_t n = entities.num_rows();
    out_->features.resize(plan.features.size());
    for (size_t i = 0; i < plan.features.size(); ++i) {
      ColumnarFeature& c = out_->features[i];
      const FeatureInfo& fi = *plan.features[i].feature;
      c.name = plan.features[i].output_name;
      c.dtype = fi.dtype;
      c.statuses.assign(n, FieldStatus::kNotFound);
      c.event_timestamps.assign(n, 0);
      c.ints.clear();
      c.floats.clear();
      c.doubles.clear();
      c.strings.clear();
      c.arrays.clear();
      switch (fi.cls) {
        case StorageClass::kI32:
        case StorageClass::kI64:
        case StorageClass::kBool: c.ints.assign(n, 0); break;
        case StorageClass::kF32: c.floats.assign(n, 0.0f); break;
        case StorageClass::kF64: c.doubles.assign(n, 0.0); break;
        case StorageClass::kStr:
        case StorageClass::kBytes: c.strings.resize(n); break;
        default:
          c.arrays.resize(n);
          for (Value& v : c.arrays) ResetValue(&v, fi.dtype);
      }
    }
  }
  void Invalid(size_t feature, size_t row) {
    out_->features[feature].statuses[row] = FieldStatus::kInvalid;
  }
  // Row `row`'s values of the features at plan positions `feats` (all of `view`). The
  // vectors of the fixed-width classes the view has are read from the row once, not once per
  // feature (each read goes through the row's vtable).
  void PutRow(const QueryPlan& plan, const std::vector<size_t>& feats, const ViewInfo& view,
              size_t row, const fb::Row* fr, TimestampMicros ts, FieldStatus present) {
    auto has = [&view](StorageClass c) {
      return (view.class_mask & (1u << static_cast<uint32_t>(c))) != 0;
    };
    const auto* i32 = has(StorageClass::kI32) ? fr->i32() : nullptr;
    const auto* i64 = has(StorageClass::kI64) ? fr->i64() : nullptr;
    const auto* bools = has(StorageClass::kBool) ? fr->bools() : nullptr;
    const auto* f32 = has(StorageClass::kF32) ? fr->f32() : nullptr;
    const auto* f64 = has(StorageClass::kF64) ? fr->f64() : nullptr;
    const auto* nulls = fr->nulls();
    for (size_t f : feats) {
      const FeatureInfo& fi = *plan.features[f].feature;
      ColumnarFeature& c = out_->features[f];
      c.event_timestamps[row] = ts;
      if (IsNullIn(nulls, fi)) {
        c.statuses[row] = FieldStatus::kNullValue;
        continue;
      }
      bool ok = false;
      switch (fi.cls) {
        case StorageClass::kI32: ok = ReadSlot(i32, fi.slot, &c.ints[row]); break;
        case StorageClass::kI64: ok = ReadSlot(i64, fi.slot, &c.ints[row]); break;
        case StorageClass::kBool: ok = ReadSlot(bools, fi.slot, &c.ints[row]); break;
        case StorageClass::kF32: ok = ReadSlot(f32, fi.slot, &c.floats[row]); break;
        case StorageClass::kF64: ok = ReadSlot(f64, fi.slot, &c.doubles[row]); break;
        case StorageClass::kStr:
        case StorageClass::kBytes: {
          Value& scratch = scratch_;
          ok = DecodeFeature(fr, fi, &scratch);
          if (ok) c.strings[row].swap(scratch.str);
          break;
        }
        default: ok = DecodeFeature(fr, fi, &c.arrays[row]);
      }
      c.statuses[row] = ok ? present : FieldStatus::kInvalid;
    }
  }

 private:
  ColumnarResponse* out_;
  Value scratch_;
};

// The lookup proper, shared by both response shapes.
template <typename Sink>
Status Lookup(const Store::Impl& impl, const OnlineRequest& req, Sink& sink) {
  LARDER_RETURN_IF_ERROR(req.entities.CheckShape());
  LARDER_ASSIGN_OR_RETURN(layout::ReaderSlot * slot, impl.Slot());
  const TimestampMicros now = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  EpochGuard guard(slot, impl.header()->global_epoch);
  LARDER_ASSIGN_OR_RETURN(auto cat, impl.CatalogNow());
  LARDER_ASSIGN_OR_RETURN(const QueryPlan* plan_ptr, CachedPlanFor(impl.instance_id, cat, req));
  const QueryPlan& plan = *plan_ptr;
  const size_t n = req.entities.num_rows();
  sink.Begin(plan, req.entities);

  const uint8_t* base = impl.base();
  const uint64_t size = impl.seg->size();
  const IndexRef idx = impl.index();
  thread_local std::string keys;
  thread_local std::vector<uint32_t> ends;
  thread_local std::vector<uint64_t> hashes;
  hashes.resize(n);
  for (const PlannedView& planned : plan.views) {
    const ViewInfo* view = planned.view;
    const std::vector<size_t>& feats = planned.feats;
    LARDER_RETURN_IF_ERROR(BuildKeys(*view, req.entities, &keys, &ends));
    auto key_of = [&](size_t r) {
      uint32_t begin = r == 0 ? 0 : ends[r - 1];
      return std::string_view(keys.data() + begin, ends[r] - begin);
    };
    for (size_t r = 0; r < n; ++r) hashes[r] = HashEntityKey(view->id(), key_of(r));

    for (size_t j = 0; j < std::min(kGroup, n); ++j) PrefetchBucket(idx, hashes[j]);
    for (size_t g = 0; g < n; g += kGroup) {
      const size_t m = std::min(kGroup, n - g);
      // One group ahead: the next group's buckets load while this group's rows are read.
      for (size_t j = g + kGroup; j < std::min(g + 2 * kGroup, n); ++j) {
        PrefetchBucket(idx, hashes[j]);
      }
      uint64_t candidate[kGroup];
      for (size_t j = 0; j < m; ++j) {
        // The first word in the home bucket with the key's tag; prefetch its row.
        candidate[j] = 0;
        const uint16_t tag = layout::TagOf(hashes[g + j]);
        const std::atomic<uint64_t>* bucket = idx.bucket(hashes[g + j]);
        for (uint32_t w = 0; w < layout::kBucketWords; ++w) {
          uint64_t word = bucket[w].load(std::memory_order_acquire);  // pairs with publish
          if (word == 0) break;
          if (layout::WordTag(word) == tag) {
            candidate[j] = word;
            // A typical row spans three cache lines (header and key, then the FlatBuffer).
            const uint64_t off = layout::WordOffset(word);
            for (uint64_t line = 0; line < kRowPrefetchBytes; line += layout::kCacheLine) {
              if (off + line < size) __builtin_prefetch(base + off + line);
            }
            break;
          }
        }
      }
      for (size_t j = 0; j < m; ++j) {
        const size_t r = g + j;
        std::string_view key = key_of(r);
        const BlockHeader* row = nullptr;
        if (candidate[j] != 0) {
          row = MatchRow(base, size, layout::WordOffset(candidate[j]), view->id(), key);
        }
        if (row == nullptr) {  // tag collision, or the key lives past its home bucket
          ProbeResult p = ProbeIndex(base, size, idx, hashes[r], view->id(), key);
          if (p.found) row = reinterpret_cast<const BlockHeader*>(base + layout::WordOffset(p.word));
        }
        if (row == nullptr) continue;  // NOT_FOUND
        const uint8_t* payload = reinterpret_cast<const uint8_t*>(row) +
                                 layout::RowPayloadOffset(row->key_len);
        if (impl.read_options.verify_rows && !VerifyRowForView(payload, row->payload_len, *view)) {
          for (size_t f : feats) sink.Invalid(f, r);
          continue;
        }
        const fb::Row* fr = RowFromBuffer(payload);
        const TimestampMicros ts = fr->event_ts();
        // Unsigned difference: a damaged row's timestamp near INT64_MIN must not overflow.
        const FieldStatus present = view->ttl_micros > 0 && ts < now &&
                                            static_cast<uint64_t>(now) - static_cast<uint64_t>(ts) >
                                                static_cast<uint64_t>(view->ttl_micros)
                                        ? FieldStatus::kOutsideMaxAge
                                        : FieldStatus::kPresent;
        sink.PutRow(plan, feats, *view, r, fr, ts, present);
      }
    }
  }
  // Only this thread writes its slot's counter: a plain load and store suffice.
  slot->lookups.store(slot->lookups.load(std::memory_order_relaxed) + n * plan.views.size(),
                      std::memory_order_relaxed);
  return Status::Ok();
}

}  // namespace

Result<OnlineResponse> Store::GetOnlineFeatures(const OnlineRequest& req) const {
  OnlineResponse resp;
  LARDER_RETURN_IF_ERROR(GetOnlineFeatures(req, &resp));
  return resp;
}

Status Store::GetOnlineFeatures(const OnlineRequest& req, OnlineResponse* out) const {
  ValueSink sink(out);
  return Lookup(*impl_, req, sink);
}

Status Store::GetOnlineFeaturesColumnar(const OnlineRequest& req, ColumnarResponse* out) const {
  ColumnarSink sink(out);
  return Lookup(*impl_, req, sink);
}

}  // namespace larder
