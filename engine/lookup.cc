// The read path: get_online_features.
//
// A request is planned against the catalog of the current registry generation (a hash lookup
// per feature reference, no registry parsing), then each feature view's entities are looked
// up in a pipeline of groups of kGroup: while one group's rows are verified and decoded, the
// next group's candidate words are picked by tag (their rows prefetched) and the buckets of
// the group after that are prefetched. A hit costs about two cache misses (bucket, row) and
// the pipeline overlaps them across entities. A single-entity request starts its bucket load
// first of all, on a guess from the thread's previous request (SpeculationHint). The whole
// request runs inside one epoch, so every row it reads stays valid until it returns; it never
// waits on the writer. It reads one snapshot: every write batch whole or not at all.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "engine/feature_refs.h"
#include "engine/index/row_version.h"
#include "engine/quote.h"
#include "engine/rows/row_codec.h"
#include "engine/store_impl.h"
#include "engine/values/cell_convert.h"
#include "engine/values/same_text.h"
#include "layout/entity_key.h"

namespace larder {

using layout::BlockHeader;

namespace {

constexpr size_t kGroup = 16;
constexpr uint64_t kRowPrefetchBytes = 192;  // lines of a row prefetched before it is read

// The fixed-width storage classes (kI32, kI64, kF32, kF64, kBool: StorageClass 0-4), whose
// values a columnar response copies straight out of the row's class vectors.
constexpr size_t kFixedClasses = 5;

struct SlotFeature {
  size_t pos;     // position in QueryPlan::features
  uint32_t slot;  // position in its class's row vector
};

struct PlannedView {
  const ViewInfo* view;
  std::vector<size_t> feats;  // positions in QueryPlan::features of this view's features
  // The same features split for the columnar copy: fixed-width ones by class, with the row
  // vector length their slots need (0: none requested); the others (strings, bytes, lists).
  std::array<std::vector<SlotFeature>, kFixedClasses> fixed;
  std::array<uint32_t, kFixedClasses> fixed_need{};
  std::vector<SlotFeature> strings;  // String features
  uint32_t strings_need = 0;
  std::vector<size_t> variable;  // Bytes and list features
};

struct QueryPlan {
  std::vector<ResolvedFeature> features;
  std::vector<PlannedView> views;  // distinct, first-use order
  bool any_ttl = false;            // some view has a ttl: the request reads the clock
};

Result<QueryPlan> PlanQuery(const Catalog& cat, const OnlineRequest& req) {
  QueryPlan plan;
  LARDER_ASSIGN_OR_RETURN(plan.features, ResolveFeatureRefs(cat, req.features, req.feature_service,
                                                            req.full_feature_names, "registry"));
  for (size_t i = 0; i < plan.features.size(); ++i) {
    const ViewInfo* v = plan.features[i].view;
    auto it = std::find_if(plan.views.begin(), plan.views.end(),
                           [v](const PlannedView& p) { return p.view == v; });
    if (it == plan.views.end()) it = plan.views.insert(plan.views.end(), PlannedView{v});
    it->feats.push_back(i);
    const FeatureInfo& fi = *plan.features[i].feature;
    const auto c = static_cast<size_t>(fi.cls);
    if (c < kFixedClasses) {
      it->fixed[c].push_back(SlotFeature{i, fi.slot});
      it->fixed_need[c] = std::max(it->fixed_need[c], fi.slot + 1);
    } else if (fi.cls == StorageClass::kStr) {
      it->strings.push_back(SlotFeature{i, fi.slot});
      it->strings_need = std::max(it->strings_need, fi.slot + 1);
    } else {
      it->variable.push_back(i);
    }
    plan.any_ttl = plan.any_ttl || v->ttl_micros > 0;
  }
  return plan;
}

// A request's entity column that a requested view uses: by its join key's name, or by the name
// of an entity whose one join key it is (Feast accepts that, deprecated). Other columns are
// ignored, as Feast ignores them.
struct EntityColumn {
  size_t col;             // in the request's entity frame
  const JoinKeyDef* key;  // the join key it gives (of a planned view)
};

const JoinKeyDef* PlannedKey(const QueryPlan& plan, std::string_view name) {
  for (const PlannedView& p : plan.views) {
    for (const JoinKeyDef& k : p.view->def.join_keys) {
      if (SameText(k.name, name)) return &k;
    }
  }
  return nullptr;
}

// The columns of `entities` that give a join key of the plan's views, in request order; a key
// given twice (by join key and by entity name) is taken from its first column.
void ResolveEntityColumns(const Catalog& cat, const QueryPlan& plan, const Frame& entities,
                          std::vector<EntityColumn>* out) {
  out->clear();
  for (size_t c = 0; c < entities.names.size(); ++c) {
    const JoinKeyDef* key = PlannedKey(plan, entities.names[c]);
    if (key == nullptr) {
      const EntityDef* e = cat.config().FindEntity(entities.names[c]);
      if (e != nullptr && e->join_keys.size() == 1) key = PlannedKey(plan, e->join_keys[0]);
    }
    if (key == nullptr) continue;
    bool seen = false;
    for (const EntityColumn& ec : *out) seen = seen || SameText(ec.key->name, key->name);
    if (!seen) out->push_back(EntityColumn{c, key});
  }
}

// Encodes every entity row's key for `view`; errors name the row and the join key.
Status BuildKeys(const ViewInfo& view, const Frame& entities,
                 const std::vector<EntityColumn>& given, std::string* buf,
                 std::vector<uint32_t>* ends) {
  thread_local std::vector<size_t> cols;  // the entity column of each join key
  thread_local Value part;                // one key value, converted to the join key's type
  cols.clear();
  for (const JoinKeyDef& k : view.def.join_keys) {
    auto it = std::find_if(given.begin(), given.end(),
                           [&k](const EntityColumn& ec) { return SameText(ec.key->name, k.name); });
    if (it == given.end()) {
      // The given columns are the client's: each is quoted cut short, and at most 16 of them.
      constexpr size_t kListed = 16;
      std::string have;
      for (size_t i = 0; i < entities.names.size() && i < kListed; ++i) {
        have += (i == 0 ? "" : ", ") + QuoteInput(entities.names[i]);
      }
      if (entities.names.size() > kListed) {
        have += " and " + std::to_string(entities.names.size() - kListed) + " more";
      }
      return Status(ErrorCode::kMissingJoinKey,
                    "entity rows lack join key '" + k.name + "' needed by feature view '" +
                        view.def.name + "' (given: " + (have.empty() ? "none" : have) + ")");
    }
    cols.push_back(it->col);
  }
  buf->clear();
  ends->clear();
  const size_t n = entities.num_rows();
  const bool int64_keys =
      std::all_of(view.def.join_keys.begin(), view.def.join_keys.end(),
                  [](const JoinKeyDef& k) { return k.type == ScalarType::kInt64; });
  if (int64_keys) {
    // The common key: fixed width, written in place rather than appended or converted
    // through a Value (costs in docs/benchmarks.md, "Engine changes made from these
    // profiles"). A cell that is not an integer sends the request down the general path
    // below, which names the error.
    const size_t width = cols.size() * layout::kInt64EntityKeyPartBytes;
    buf->resize(n * width);
    ends->resize(n);
    char* out = buf->data();
    bool all_ints = true;
    for (size_t r = 0; r < n && all_ints; ++r) {
      for (size_t c : cols) {
        const Cell& cell = entities.columns[c][r];
        all_ints = all_ints && cell.kind == Cell::Kind::kInt;
        layout::PutInt64EntityKeyPart(cell.i, out);
        out += layout::kInt64EntityKeyPartBytes;
      }
      (*ends)[r] = static_cast<uint32_t>((r + 1) * width);
    }
    if (all_ints) return Status::Ok();
    buf->clear();
    ends->clear();
  }
  for (size_t r = 0; r < n; ++r) {
    for (size_t k = 0; k < cols.size(); ++k) {
      const JoinKeyDef& jk = view.def.join_keys[k];
      Status st = CellToValueInto(entities.columns[cols[k]][r], DType{jk.type, false}, &part);
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

bool SameTexts(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameText(a[i], b[i])) return false;
  }
  return true;
}

Result<const QueryPlan*> CachedPlanFor(uint64_t instance_id,
                                       const std::shared_ptr<const Catalog>& cat,
                                       const OnlineRequest& req) {
  for (const CachedPlan& c : t_plans) {
    if (c.instance_id == instance_id && c.generation == cat->generation() &&
        c.full_feature_names == req.full_feature_names &&
        SameText(c.feature_service, req.feature_service) && SameTexts(c.features, req.features)) {
      return &c.plan;
    }
  }
  LARDER_ASSIGN_OR_RETURN(QueryPlan plan, PlanQuery(*cat, req));
  CachedPlan entry{instance_id,         cat->generation(), req.full_feature_names,
                   req.feature_service, req.features,      cat,
                   std::move(plan)};
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

// An entity column of the response: the request's values, typed as the join key.
void FillEntityColumn(const Frame& entities, const EntityColumn& ec, FeatureColumn* out) {
  size_t n = entities.num_rows();
  ResetColumn(out, n, DType{ec.key->type, false}, FieldStatus::kPresent);
  for (size_t r = 0; r < n; ++r) {
    // On a key of the wrong type the value stays null; BuildKeys then fails the request.
    (void)CellToValueInto(entities.columns[ec.col][r], DType{ec.key->type, false}, &out->values[r]);
  }
}

template <typename T, typename Vec>
bool ReadSlot(const Vec* v, uint32_t slot, T* out) {
  if (v == nullptr || slot >= v->size()) return false;
  *out = static_cast<T>(v->Get(slot));
  return true;
}

// True when row vector `v` holds every slot below `need` (need 0: nothing is read from it).
template <typename Vec>
bool Covers(const Vec* v, uint32_t need) {
  return need == 0 || (v != nullptr && v->size() >= need);
}

// The vectors of a row that a planned view's fixed-width and String features read (null when
// the request reads none of that class: a vtable lookup saved), its null bitmap, and whether
// the sinks may copy it class by class: no nulls, and every requested slot present (every
// row the writer wrote). Any other row is read feature by feature, each value checked.
struct RowVectors {
  const flatbuffers::Vector<int32_t>* i32;
  const flatbuffers::Vector<int64_t>* i64;
  const flatbuffers::Vector<float>* f32;
  const flatbuffers::Vector<double>* f64;
  const flatbuffers::Vector<uint8_t>* bools;
  const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* strs;
  const flatbuffers::Vector<uint8_t>* nulls;
  bool by_class;

  RowVectors(const fb::Row* fr, const PlannedView& pv)
      : i32(pv.fixed_need[0] ? fr->i32() : nullptr),
        i64(pv.fixed_need[1] ? fr->i64() : nullptr),
        f32(pv.fixed_need[2] ? fr->f32() : nullptr),
        f64(pv.fixed_need[3] ? fr->f64() : nullptr),
        bools(pv.fixed_need[4] ? fr->bools() : nullptr),
        strs(pv.strings_need != 0 ? fr->strs() : nullptr),
        nulls(fr->nulls()),
        by_class((nulls == nullptr || nulls->size() == 0) && Covers(i32, pv.fixed_need[0]) &&
                 Covers(i64, pv.fixed_need[1]) && Covers(f32, pv.fixed_need[2]) &&
                 Covers(f64, pv.fixed_need[3]) && Covers(bools, pv.fixed_need[4]) &&
                 Covers(strs, pv.strings_need)) {}
};
static_assert(static_cast<size_t>(StorageClass::kI32) == 0 &&
                  static_cast<size_t>(StorageClass::kI64) == 1 &&
                  static_cast<size_t>(StorageClass::kF32) == 2 &&
                  static_cast<size_t>(StorageClass::kF64) == 3 &&
                  static_cast<size_t>(StorageClass::kBool) == 4 &&
                  static_cast<size_t>(StorageClass::kStr) == kFixedClasses,
              "PlannedView::fixed is indexed by the fixed-width StorageClass values");

// Writes each looked-up feature into Feast's row-of-Values response.
class ValueSink {
 public:
  explicit ValueSink(OnlineResponse* out) : out_(out) {}

  // The response's first columns are the join keys the request gives (`given`, named by the
  // join key even when the request named the entity), then the features.
  void Begin(const QueryPlan& plan, const Frame& entities, const std::vector<EntityColumn>& given) {
    const size_t n = entities.num_rows();
    first_ = given.size();
    out_->feature_names.resize(first_ + plan.features.size());
    out_->results.resize(first_ + plan.features.size());
    for (size_t c = 0; c < first_; ++c) {
      if (!SameText(out_->feature_names[c], given[c].key->name)) {
        out_->feature_names[c] = given[c].key->name;
      }
      FillEntityColumn(entities, given[c], &out_->results[c]);
    }
    for (size_t i = 0; i < plan.features.size(); ++i) {
      // A repeated request shape finds its names in place: comparing is cheaper than copying.
      std::string& name = out_->feature_names[first_ + i];
      if (!SameText(name, plan.features[i].output_name)) name = plan.features[i].output_name;
      ResetColumn(&out_->results[first_ + i], n, plan.features[i].feature->dtype,
                  FieldStatus::kNotFound);
    }
  }
  void Invalid(size_t feature, size_t row) {
    out_->results[first_ + feature].statuses[row] = FieldStatus::kInvalid;
  }
  // Row `row`'s values of the requested features of planned view `pv`, class by class when
  // the row allows it (RowVectors::by_class), else feature by feature.
  void PutRow(const QueryPlan& plan, const PlannedView& pv, size_t row, const fb::Row* fr,
              TimestampMicros ts, FieldStatus present) {
    const RowVectors vecs(fr, pv);
    if (!vecs.by_class) {
      for (size_t f : pv.feats) Put(f, row, fr, vecs.nulls, *plan.features[f].feature, ts, present);
      return;
    }
    FeatureColumn* cols = out_->results.data() + first_;
    // The column's Value was reset to this feature's dtype by Begin: only the value is set.
    auto put = [&](size_t pos, auto&& set) {
      FeatureColumn& c = cols[pos];
      Value& v = c.values[row];
      v.is_null = false;
      set(v);
      c.statuses[row] = present;
      c.event_timestamps[row] = ts;
    };
    for (const SlotFeature& f : pv.fixed[0])
      put(f.pos, [&](Value& v) { v.i64 = vecs.i32->Get(f.slot); });
    for (const SlotFeature& f : pv.fixed[1])
      put(f.pos, [&](Value& v) { v.i64 = vecs.i64->Get(f.slot); });
    for (const SlotFeature& f : pv.fixed[2])
      put(f.pos, [&](Value& v) { v.f64 = vecs.f32->Get(f.slot); });
    for (const SlotFeature& f : pv.fixed[3])
      put(f.pos, [&](Value& v) { v.f64 = vecs.f64->Get(f.slot); });
    for (const SlotFeature& f : pv.fixed[4]) {
      put(f.pos, [&](Value& v) { v.i64 = vecs.bools->Get(f.slot) != 0 ? 1 : 0; });
    }
    for (const SlotFeature& f : pv.strings) {
      put(f.pos, [&](Value& v) {
        const flatbuffers::String* str = vecs.strs->Get(f.slot);
        v.str.assign(str->data(), str->size());
      });
    }
    for (size_t f : pv.variable)
      Put(f, row, fr, vecs.nulls, *plan.features[f].feature, ts, present);
  }

 private:
  void Put(size_t feature, size_t row, const fb::Row* fr, const flatbuffers::Vector<uint8_t>* nulls,
           const FeatureInfo& fi, TimestampMicros ts, FieldStatus present) {
    FeatureColumn& col = out_->results[first_ + feature];
    col.event_timestamps[row] = ts;
    if (IsNullIn(nulls, fi)) {
      col.statuses[row] = FieldStatus::kNullValue;
    } else if (!RowHasSlot(fr, fi)) {
      col.statuses[row] = FieldStatus::kNotFound;  // written before the feature was added
    } else if (!DecodeFeature(fr, fi, &col.values[row])) {
      col.statuses[row] = FieldStatus::kInvalid;
    } else {
      col.statuses[row] = present;
    }
  }

  OnlineResponse* out_;
  size_t first_ = 0;
};

// Where one requested feature's cells go in a ColumnarResponse: the data of its value,
// status and timestamp arrays, taken once per request after they are sized.
struct ColumnDest {
  void* values;  // int64_t* (ints), float* (floats) or double* (doubles); unused otherwise
  FieldStatus* statuses;
  TimestampMicros* timestamps;
};

// Copies one class's requested slots of a row into their columns (Out: the column's element
// type). The caller checked that the row vector covers every slot (Covers) and that the row
// has no null.
template <typename Out, typename Vec>
void CopySlots(const Vec* v, const std::vector<SlotFeature>& feats, const ColumnDest* dests,
               size_t row, TimestampMicros ts, FieldStatus present) {
  for (const SlotFeature& s : feats) {
    const ColumnDest& d = dests[s.pos];
    static_cast<Out*>(d.values)[row] = static_cast<Out>(v->Get(s.slot));
    d.statuses[row] = present;
    d.timestamps[row] = ts;
  }
}

// Writes each looked-up feature into one typed array per feature.
class ColumnarSink {
 public:
  explicit ColumnarSink(ColumnarResponse* out) : out_(out) {}

  void Begin(const QueryPlan& plan, const Frame& entities, const std::vector<EntityColumn>& given) {
    const size_t n = entities.num_rows();
    out_->key_columns.resize(given.size());
    for (size_t c = 0; c < given.size(); ++c) {
      out_->key_columns[c].first = given[c].col;
      if (!SameText(out_->key_columns[c].second, given[c].key->name)) {
        out_->key_columns[c].second = given[c].key->name;
      }
    }
    out_->features.resize(plan.features.size());
    dests_.resize(plan.features.size());
    for (size_t i = 0; i < plan.features.size(); ++i) {
      ColumnarFeature& c = out_->features[i];
      const FeatureInfo& fi = *plan.features[i].feature;
      c.name = plan.features[i].output_name;
      c.dtype = fi.dtype;
      c.statuses.assign(n, FieldStatus::kNotFound);
      c.event_timestamps.assign(n, 0);
      // The column's own array is sized and emptied in place (its strings and Values keep
      // their buffers for the next request); the others are emptied.
      const bool ints = fi.cls == StorageClass::kI32 || fi.cls == StorageClass::kI64 ||
                        fi.cls == StorageClass::kBool;
      const bool strings = fi.cls == StorageClass::kStr || fi.cls == StorageClass::kBytes;
      const bool arrays =
          !ints && !strings && fi.cls != StorageClass::kF32 && fi.cls != StorageClass::kF64;
      if (!ints) c.ints.clear();
      if (fi.cls != StorageClass::kF32) c.floats.clear();
      if (fi.cls != StorageClass::kF64) c.doubles.clear();
      if (!strings) c.strings.clear();
      if (!arrays) c.arrays.clear();
      if (ints) c.ints.assign(n, 0);
      if (fi.cls == StorageClass::kF32) c.floats.assign(n, 0.0f);
      if (fi.cls == StorageClass::kF64) c.doubles.assign(n, 0.0);
      if (strings) {
        c.strings.resize(n);
        for (std::string& str : c.strings) str.clear();
      }
      if (arrays) {
        c.arrays.resize(n);
        for (Value& v : c.arrays) ResetValue(&v, fi.dtype);
      }
      // This column's arrays are sized: they do not move until the next request (sizing
      // another column leaves them be).
      void* values = ints                           ? static_cast<void*>(c.ints.data())
                     : fi.cls == StorageClass::kF32 ? static_cast<void*>(c.floats.data())
                     : fi.cls == StorageClass::kF64 ? static_cast<void*>(c.doubles.data())
                                                    : nullptr;
      dests_[i] = ColumnDest{values, c.statuses.data(), c.event_timestamps.data()};
    }
  }
  void Invalid(size_t feature, size_t row) {
    out_->features[feature].statuses[row] = FieldStatus::kInvalid;
  }
  // Row `row`'s values of the requested features of planned view `pv`, class by class when
  // the row allows it (RowVectors::by_class), else feature by feature.
  void PutRow(const QueryPlan& plan, const PlannedView& pv, size_t row, const fb::Row* fr,
              TimestampMicros ts, FieldStatus present) {
    const RowVectors vecs(fr, pv);
    if (!vecs.by_class) {
      for (size_t f : pv.feats) PutChecked(plan, f, row, fr, vecs, ts, present);
      return;
    }
    const ColumnDest* dests = dests_.data();
    CopySlots<int64_t>(vecs.i32, pv.fixed[0], dests, row, ts, present);
    CopySlots<int64_t>(vecs.i64, pv.fixed[1], dests, row, ts, present);
    CopySlots<float>(vecs.f32, pv.fixed[2], dests, row, ts, present);
    CopySlots<double>(vecs.f64, pv.fixed[3], dests, row, ts, present);
    CopySlots<int64_t>(vecs.bools, pv.fixed[4], dests, row, ts, present);
    ColumnarFeature* cols = out_->features.data();
    for (const SlotFeature& s : pv.strings) {
      ColumnarFeature& c = cols[s.pos];
      const flatbuffers::String* str = vecs.strs->Get(s.slot);
      c.strings[row].assign(str->data(), str->size());
      c.statuses[row] = present;
      c.event_timestamps[row] = ts;
    }
    for (size_t f : pv.variable) PutChecked(plan, f, row, fr, vecs, ts, present);
  }

 private:
  void PutChecked(const QueryPlan& plan, size_t f, size_t row, const fb::Row* fr,
                  const RowVectors& vecs, TimestampMicros ts, FieldStatus present) {
    const FeatureInfo& fi = *plan.features[f].feature;
    ColumnarFeature& c = out_->features[f];
    c.event_timestamps[row] = ts;
    if (IsNullIn(vecs.nulls, fi)) {
      c.statuses[row] = FieldStatus::kNullValue;
      return;
    }
    if (!RowHasSlot(fr, fi)) {
      c.statuses[row] = FieldStatus::kNotFound;  // written before the feature was added
      return;
    }
    bool ok = false;
    switch (fi.cls) {
      case StorageClass::kI32:
        ok = ReadSlot(vecs.i32, fi.slot, &c.ints[row]);
        break;
      case StorageClass::kI64:
        ok = ReadSlot(vecs.i64, fi.slot, &c.ints[row]);
        break;
      case StorageClass::kBool:
        ok = ReadSlot(vecs.bools, fi.slot, &c.ints[row]);
        break;
      case StorageClass::kF32:
        ok = ReadSlot(vecs.f32, fi.slot, &c.floats[row]);
        break;
      case StorageClass::kF64:
        ok = ReadSlot(vecs.f64, fi.slot, &c.doubles[row]);
        break;
      case StorageClass::kStr: {
        // Straight into the column's string (no Value in between: its copy and swap cost
        // more than the rest of a row's ten floats).
        const auto* strs = vecs.strs;  // fetched: a String feature makes strings_need > 0
        const flatbuffers::String* s =
            strs != nullptr && fi.slot < strs->size() ? strs->Get(fi.slot) : nullptr;
        if (s != nullptr) c.strings[row].assign(s->data(), s->size());
        ok = s != nullptr;
        break;
      }
      case StorageClass::kBytes: {
        ok = DecodeFeature(fr, fi, &scratch_);
        if (ok) c.strings[row].swap(scratch_.str);
        break;
      }
      default:
        ok = DecodeFeature(fr, fi, &c.arrays[row]);
    }
    c.statuses[row] = ok ? present : FieldStatus::kInvalid;
  }

 private:
  ColumnarResponse* out_;
  // Reused by every request of this thread (a sink lives for one request).
  static thread_local std::vector<ColumnDest> dests_;
  Value scratch_;
};

thread_local std::vector<ColumnDest> ColumnarSink::dests_;

// What this thread's last single-entity request looked up: a serving loop repeats one request
// shape, so the next request's bucket can start loading before the request is checked and
// planned (about a third of a cache-resident lookup; the load takes a cache miss).
struct SpeculationHint {
  uint64_t instance_id = 0;  // 0: none
  uint32_t view_id = 0;      // the first planned view, whose one join key is an Int64
};
thread_local SpeculationHint t_hint;

// Prefetches the bucket (and its run hint's lines) a request of one entity with one Int64 key
// would probe if it asks for the hinted view first, and returns the hash it used (0: none).
// Only a prefetch: it reads nothing, so a wrong guess (another view, a key column that is not
// the join key, an index being replaced) costs wasted loads.
uint64_t PrefetchLikelyBucket(const Store::Impl& impl, const Frame& entities) {
  if (t_hint.instance_id != impl.instance_id || entities.columns.size() != 1 ||
      entities.columns[0].size() != 1 || entities.columns[0][0].kind != Cell::Kind::kInt) {
    return 0;
  }
  char key[layout::kInt64EntityKeyPartBytes];
  layout::PutInt64EntityKeyPart(entities.columns[0][0].i, key);
  const uint64_t hash = HashEntityKey(t_hint.view_id, std::string_view(key, sizeof key));
  HashIndex idx;
  if (!impl.LoadIndex(&idx)) return 0;
  idx.PrefetchBucketAndRun(impl.base(), impl.seg->size(), hash);
  return hash;
}

// Records the hint for the next request (see SpeculationHint).
void RememberShape(const Store::Impl& impl, const QueryPlan& plan, size_t rows) {
  if (rows != 1 || plan.views.empty()) return;
  const ViewInfo& v = *plan.views.front().view;
  if (v.def.join_keys.size() == 1 && v.def.join_keys[0].type == ScalarType::kInt64) {
    t_hint = SpeculationHint{impl.instance_id, v.id()};
  }
}

// A private copy of the FlatBuffer of `row` (a block MatchRow or FindRow accepted) in `buf`;
// nullptr when its header, loaded again, no longer fits the mapping. A published row never
// changes, but the segment is shared memory that anything able to write the file can damage
// at any moment: a row verified in place could change between its verification and its reads
// (a reader process crashed so, reading a vtable offset changed after the verifier had passed
// it). Readers therefore verify and read the copy. Each header field is loaded once.
const uint8_t* CopyRowPayload(const uint8_t* base, uint64_t size, const layout::BlockHeader* row,
                              std::vector<uint64_t>* buf, uint32_t* len) {
  const uint64_t offset = static_cast<uint64_t>(reinterpret_cast<const uint8_t*>(row) - base);
  const uint64_t block_bytes = uint64_t{layout::LoadOnce(row->units)} * layout::kBlockAlign;
  const uint64_t payload_at = layout::RowPayloadOffset(layout::LoadOnce(row->key_len));
  const uint32_t n = layout::LoadOnce(row->payload_len);
  if (offset > size || block_bytes > size - offset || payload_at + n > block_bytes) {
    return nullptr;
  }
  // 8-byte words: the copy is aligned as the payload is in the segment (FlatBuffers' scalars).
  if (buf->size() * sizeof(uint64_t) < n)
    buf->resize((n + sizeof(uint64_t) - 1) / sizeof(uint64_t));
  std::memcpy(buf->data(), base + offset + payload_at, n);
  *len = n;
  return reinterpret_cast<const uint8_t*>(buf->data());
}

// Reads of one request that found the registry generation changed between their loads of it
// (an apply, a materialize recording its intervals, a recovery: each one more bump) before it
// gives up with kBusy.
constexpr int kMaxCutAttempts = 16;

// The lookup proper, shared by both response shapes: one attempt, inside `guard`.
template <typename Sink>
Status LookupOnce(const Store::Impl& impl, const OnlineRequest& req, Sink& sink,
                  const EpochGuard& guard, layout::ReaderSlot* slot, uint64_t speculated) {
  // The request's cut of the store (docs/design.md, "Snapshot reads"): the registry, then the
  // index table, then the snapshot, each loaded once. The table is loaded before the snapshot
  // so that every table change the request sees (a rebuild for a delete or a dropped view) came
  // before the batches it reads; every batch up to the snapshot is whole in that table, later
  // ones are read through their rows' `prev` links. The cut is kept only if the registry
  // generation did not move meanwhile (else a view re-created by an apply could be read under
  // the old registry beside rows pushed after the apply).
  std::shared_ptr<const Catalog> cat;
  HashIndex idx;
  uint64_t snapshot = kNewestRows;
  for (int attempt = 1;; ++attempt) {
    LARDER_ASSIGN_OR_RETURN(cat, impl.CatalogNow(guard));
    if (!impl.LoadIndex(&idx)) return impl.index().status();  // names the damage
    if (!impl.read_options.snapshot_reads) break;
    // acquire (both): the snapshot pairs with the writer's release store after a batch's last
    // index word; the generation with PublishRegistry's release increment.
    snapshot = impl.header()->visible_seq.load(std::memory_order_acquire);
    if (impl.header()->registry_generation.load(std::memory_order_acquire) == cat->generation()) {
      break;
    }
    if (attempt == kMaxCutAttempts) {
      return Status(ErrorCode::kBusy,
                    "the registry changed " + std::to_string(attempt) + " times during one read");
    }
  }
  LARDER_ASSIGN_OR_RETURN(const QueryPlan* plan_ptr, CachedPlanFor(impl.instance_id, cat, req));
  const QueryPlan& plan = *plan_ptr;
  RememberShape(impl, plan, req.entities.num_rows());
  // The request time, against which ttls are checked: read only when a view has a ttl (a
  // clock read is a measurable part of a cached single lookup: docs/benchmarks.md).
  const TimestampMicros now = plan.any_ttl
                                  ? std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()
                                  : 0;
  const size_t n = req.entities.num_rows();
  const uint8_t* base = impl.base();
  const uint64_t size = impl.seg->size();
  thread_local std::string keys;
  thread_local std::vector<uint32_t> ends;
  thread_local std::vector<uint64_t> hashes;
  thread_local std::vector<uint64_t> candidates;
  thread_local std::vector<EntityColumn> given;
  thread_local std::vector<uint64_t> row_copy;  // CopyRowPayload
  ResolveEntityColumns(*cat, plan, req.entities, &given);
  hashes.resize(n);
  // A view's keys and hashes; the buckets of its first two groups start loading.
  auto prepare = [&](const ViewInfo& view) -> Status {
    LARDER_RETURN_IF_ERROR(BuildKeys(view, req.entities, given, &keys, &ends));
    for (size_t r = 0; r < n; ++r) {
      const uint32_t begin = r == 0 ? 0 : ends[r - 1];
      hashes[r] = HashEntityKey(view.id(), std::string_view(keys.data() + begin, ends[r] - begin));
    }
    if (n == 1) {
      // One entity: its row's lines, as the bucket's run hint names them, load with the
      // bucket (unless the guess above already asked for them). A batch does not: its rows'
      // loads already overlap across the group, and a run's lines are several times a row's.
      if (hashes[0] != speculated) idx.PrefetchBucketAndRun(base, size, hashes[0]);
    } else {
      for (size_t r = 0; r < std::min(2 * kGroup, n); ++r) idx.PrefetchBucket(hashes[r]);
    }
    return Status::Ok();
  };
  // The first view's buckets load while the response is laid out (for a single lookup that
  // hides most of one cache miss behind the sink's work).
  if (!plan.views.empty()) LARDER_RETURN_IF_ERROR(prepare(*plan.views.front().view));
  sink.Begin(plan, req.entities, given);

  for (const PlannedView& planned : plan.views) {
    const ViewInfo* view = planned.view;
    const std::vector<size_t>& feats = planned.feats;
    if (&planned != &plan.views.front()) LARDER_RETURN_IF_ERROR(prepare(*view));
    auto key_of = [&](size_t r) {
      uint32_t begin = r == 0 ? 0 : ends[r - 1];
      return std::string_view(keys.data() + begin, ends[r] - begin);
    };

    // The row of the first word in entity r's home bucket with its key's tag (0: none); it is
    // prefetched.
    auto select_candidate = [&](size_t r) -> uint64_t {
      const uint64_t off = idx.CandidateRow(hashes[r]);
      if (off != 0) {
        // A typical row spans three cache lines (header and key, then the FlatBuffer).
        for (uint64_t line = 0; line < kRowPrefetchBytes; line += layout::kCacheLine) {
          if (off + line < size) __builtin_prefetch(base + off + line);
        }
      }
      return off;
    };
    // Groups of kGroup entities in a pipeline: while group g is read, the rows of group g+1
    // and the buckets of group g+2 load. Each group's candidates are picked together, so
    // their bucket loads overlap one another.
    candidates.resize(n);
    for (size_t r = 0; r < std::min(kGroup, n); ++r) candidates[r] = select_candidate(r);
    for (size_t r = 0; r < n; ++r) {
      if (r % kGroup == 0) {
        for (size_t j = r + 2 * kGroup; j < std::min(r + 3 * kGroup, n); ++j) {
          idx.PrefetchBucket(hashes[j]);
        }
        for (size_t j = r + kGroup; j < std::min(r + 2 * kGroup, n); ++j) {
          candidates[j] = select_candidate(j);
        }
      }
      std::string_view key = key_of(r);
      const BlockHeader* row = nullptr;
      if (candidates[r] != 0) row = MatchRow(base, size, candidates[r], view->id(), key);
      if (row == nullptr) {  // tag collision, or the key lives past its home bucket
        row = idx.FindRow(base, size, hashes[r], view->id(), key);
      }
      if (row == nullptr) continue;  // NOT_FOUND
      {
        const SnapshotRow seen =
            VersionAt(base, size, row, view->id(), key, snapshot, impl.header()->visible_seq);
        if (seen.broken) {
          for (size_t f : feats) sink.Invalid(f, r);
          continue;
        }
        row = seen.row;
        if (row == nullptr) continue;  // NOT_FOUND: first written after the snapshot
      }
      const uint8_t* payload;
      if (impl.read_options.verify_rows) {
        // Verified and read as a private copy: what was verified is what is read.
        uint32_t len = 0;
        payload = CopyRowPayload(base, size, row, &row_copy, &len);
        if (payload == nullptr || !VerifyRowForView(payload, len, *view)) {
          for (size_t f : feats) sink.Invalid(f, r);
          continue;
        }
      } else {  // verify_rows off: the segment is trusted (ReaderOptions)
        payload = reinterpret_cast<const uint8_t*>(row) + layout::RowPayloadOffset(row->key_len);
      }
      const fb::Row* fr = RowFromBuffer(payload);
      const TimestampMicros ts = fr->event_ts();
      // Unsigned difference: a damaged row's timestamp near INT64_MIN must not overflow.
      const FieldStatus present =
          view->ttl_micros > 0 &&
                  ts<now&& static_cast<uint64_t>(now) -
                     static_cast<uint64_t>(ts)> static_cast<uint64_t>(view->ttl_micros)
              ? FieldStatus::kOutsideMaxAge
              : FieldStatus::kPresent;
      sink.PutRow(plan, planned, r, fr, ts, present);
    }
  }
  // Only this thread writes its slot's counter: a plain load and store suffice.
  slot->lookups.store(slot->lookups.load(std::memory_order_relaxed) + n * plan.views.size(),
                      std::memory_order_relaxed);
  return Status::Ok();
}

// A lookup whose hold lasted it whole: one that a writer withdrew (its reader stuck for the
// grace period) is read again, as what it read may have been freed and reused meanwhile
// (docs/design.md, "Withdrawn holds"). The sink's Begin() resets the response.
template <typename Sink>
Status Lookup(const Store::Impl& impl, const OnlineRequest& req, Sink& sink) {
  // A guess at the bucket, prefetched before the epoch guard's fence (only an address).
  const uint64_t speculated = PrefetchLikelyBucket(impl, req.entities);
  LARDER_RETURN_IF_ERROR(req.entities.CheckShape());
  // (ReadProtected answers StoreNotFound for a torn-down segment.)
  return impl.ReadProtected([&](const EpochGuard& guard) {
    return LookupOnce(impl, req, sink, guard, guard.slot(), speculated);
  });
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
