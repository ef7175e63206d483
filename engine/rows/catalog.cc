#include "engine/rows/catalog.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "engine/quote.h"

namespace larder {

StorageClass StorageClassOf(DType t) {
  static constexpr StorageClass kScalar[] = {
      StorageClass::kI64,    // unused 0
      StorageClass::kBytes,  // kBytes = 1
      StorageClass::kStr,    // kString
      StorageClass::kI32,    // kInt32
      StorageClass::kI64,    // kInt64
      StorageClass::kF64,    // kFloat64
      StorageClass::kF32,    // kFloat32
      StorageClass::kBool,   // kBool
      StorageClass::kI64,    // kUnixTimestamp
  };
  static constexpr StorageClass kList[] = {
      StorageClass::kI64List, StorageClass::kBytesList, StorageClass::kStrList,
      StorageClass::kI32List, StorageClass::kI64List,   StorageClass::kF64List,
      StorageClass::kF32List, StorageClass::kBoolList,  StorageClass::kI64List,
  };
  auto i = static_cast<size_t>(t.scalar);
  return t.is_array ? kList[i] : kScalar[i];
}

void AssignSchemaOrderLayout(std::vector<FieldDef>* features) {
  std::array<int32_t, static_cast<size_t>(StorageClass::kCount)> next{};
  for (size_t i = 0; i < features->size(); ++i) {
    FieldDef& f = (*features)[i];
    f.slot = next[static_cast<size_t>(StorageClassOf(f.dtype))]++;
    f.null_bit = static_cast<int32_t>(i);
  }
}

bool HasSchemaOrderLayout(const FeatureViewDef& view) {
  if (!view.retired_features.empty()) return false;
  std::vector<FieldDef> ordered = view.features;
  AssignSchemaOrderLayout(&ordered);
  for (size_t i = 0; i < ordered.size(); ++i) {
    const FieldDef& f = view.features[i];
    if (f.slot == -1 && f.null_bit == -1) continue;
    if (f.slot != ordered[i].slot || f.null_bit != ordered[i].null_bit) return false;
  }
  return true;
}

Status ValidateLayout(const FeatureViewDef& view) {
  std::set<std::pair<StorageClass, int32_t>> slots;
  std::set<int32_t> bits;
  for (const auto* list : {&view.features, &view.retired_features}) {
    for (const FieldDef& f : *list) {
      const bool fits = f.slot >= 0 && f.slot < kMaxLayoutSlots && f.null_bit >= 0 &&
                        f.null_bit < kMaxLayoutSlots;
      if (!fits || !slots.insert({StorageClassOf(f.dtype), f.slot}).second ||
          !bits.insert(f.null_bit).second) {
        return CorruptStore("feature view '" + view.name + "': feature '" + f.name + "' has slot " +
                            std::to_string(f.slot) + " and null bit " + std::to_string(f.null_bit) +
                            ", out of range or taken by another feature");
      }
    }
  }
  return Status::Ok();
}

void AssignFreshSlot(const FeatureViewDef& view, FieldDef* f) {
  const StorageClass cls = StorageClassOf(f->dtype);
  int32_t slot = 0;
  int32_t bit = 0;
  for (const auto* list : {&view.features, &view.retired_features}) {
    for (const FieldDef& g : *list) {
      if (g.slot >= 0 && StorageClassOf(g.dtype) == cls) slot = std::max(slot, g.slot + 1);
      bit = std::max(bit, g.null_bit + 1);
    }
  }
  f->slot = slot;
  f->null_bit = bit;
}

const FeatureInfo* ViewInfo::FindFeature(std::string_view name) const {
  auto it = feature_by_name.find(std::string(name));
  return it == feature_by_name.end() ? nullptr : &features[it->second];
}

Result<std::shared_ptr<const Catalog>> Catalog::Build(RepoConfig config, uint64_t generation) {
  auto c = std::shared_ptr<Catalog>(new Catalog());
  c->generation_ = generation;
  c->config_ = std::move(config);
  for (const FeatureViewDef& def : c->config_.views) {
    ViewInfo v;
    v.def = def;
    // Saturated: a ttl beyond ~292,000 years (or a negative one from a damaged registry) must
    // not overflow; either way it never expires anything.
    constexpr int64_t kMaxTtlSeconds = std::numeric_limits<int64_t>::max() / 1000000;
    v.ttl_micros = def.ttl_seconds <= 0               ? 0
                   : def.ttl_seconds > kMaxTtlSeconds ? 0
                                                      : def.ttl_seconds * 1000000;
    for (const JoinKeyDef& k : def.join_keys) v.key_types.push_back(k.type);
    // A repo read from its files (slots unassigned) gets the layout apply would give it. A
    // registry's slots passed ValidateLayout when DecodeRegistry read them (the row encoder
    // sizes its vectors by them).
    std::vector<FieldDef> ordered;
    const std::vector<FieldDef>* fields = &def.features;
    if (!fields->empty() && (*fields)[0].slot < 0) {
      ordered = def.features;
      AssignSchemaOrderLayout(&ordered);
      fields = &ordered;
    }
    const std::vector<FieldDef>& placed = *fields;
    for (uint32_t i = 0; i < placed.size(); ++i) {
      FeatureInfo f;
      f.name = placed[i].name;
      f.dtype = placed[i].dtype;
      f.cls = StorageClassOf(f.dtype);
      f.slot = static_cast<uint32_t>(placed[i].slot);
      f.null_bit = static_cast<uint32_t>(placed[i].null_bit);
      uint32_t& count = v.class_counts[static_cast<size_t>(f.cls)];
      count = std::max(count, f.slot + 1);
      v.null_bits = std::max(v.null_bits, f.null_bit + 1);
      v.class_mask |= 1u << static_cast<uint32_t>(f.cls);
      f.index = i;
      v.feature_by_name.emplace(f.name, i);
      v.features.push_back(std::move(f));
    }
    const SourceDef* src = c->config_.FindSource(def.source);
    if (src == nullptr) return CorruptStore("view '" + def.name + "' names unknown source");
    if (src->kind == SourceKind::kPush) src = c->config_.FindSource(src->batch_source);
    if (src == nullptr)
      return CorruptStore("push source of view '" + def.name + "' has no batch source");
    v.timestamp_field = src->timestamp_field;
    v.created_timestamp_column = src->created_timestamp_column;
    c->view_by_name_.emplace(def.name, c->views_.size());
    c->view_by_id_.emplace(def.id, c->views_.size());
    c->views_.push_back(std::move(v));
  }
  return std::shared_ptr<const Catalog>(std::move(c));
}

const ViewInfo* Catalog::FindView(std::string_view name) const {
  auto it = view_by_name_.find(std::string(name));
  return it == view_by_name_.end() ? nullptr : &views_[it->second];
}

Result<const ViewInfo*> Catalog::RequireView(std::string_view name, std::string_view where) const {
  const ViewInfo* v = FindView(name);
  if (v == nullptr) {
    if (const UnservableDef* u = config_.FindUnservable(UnservableDef::Kind::kView, name)) {
      return Status(ErrorCode::kFeatureViewNotFound, "feature view " + QuoteInput(name) +
                                                         " cannot be served: the Feast registry "
                                                         "defines it as " +
                                                         u->reason);
    }
    return Status(ErrorCode::kFeatureViewNotFound,
                  "feature view " + QuoteInput(name) + " is not in the " + std::string(where));
  }
  return v;
}

const ViewInfo* Catalog::FindViewById(uint32_t id) const {
  auto it = view_by_id_.find(id);
  return it == view_by_id_.end() ? nullptr : &views_[it->second];
}

std::vector<const ViewInfo*> Catalog::ViewsOfSource(std::string_view source) const {
  std::vector<const ViewInfo*> out;
  for (const ViewInfo& v : views_) {
    if (v.def.source == source) out.push_back(&v);
  }
  return out;
}

}  // namespace larder
