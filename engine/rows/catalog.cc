#include "engine/rows/catalog.h"

#include <limits>

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
    for (uint32_t i = 0; i < def.features.size(); ++i) {
      FeatureInfo f;
      f.name = def.features[i].name;
      f.dtype = def.features[i].dtype;
      f.cls = StorageClassOf(f.dtype);
      f.slot = v.class_counts[static_cast<size_t>(f.cls)]++;
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
    return Status(ErrorCode::kFeatureViewNotFound,
                  "feature view '" + std::string(name) + "' is not in the " + std::string(where));
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
