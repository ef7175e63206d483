// The registry of one generation, indexed for the hot path: views by name and id, each
// feature's storage class and slot in the row FlatBuffer, push source fan-out, services.
// Built once per registry generation and shared (immutable) by every lookup and push.
// Thread-safety: immutable after Build; share through shared_ptr<const Catalog>.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "larder/repo_config.h"
#include "larder/status.h"
#include "larder/types.h"

namespace larder {

// Where a feature's value lives in layout/row.fbs.
enum class StorageClass : uint8_t {
  kI32,
  kI64,
  kF32,
  kF64,
  kBool,
  kStr,
  kBytes,
  kI32List,
  kI64List,
  kF32List,
  kF64List,
  kBoolList,
  kStrList,
  kBytesList,
  kCount
};
StorageClass StorageClassOf(DType t);

// Row layouts (FieldDef::slot, null_bit). The schema-order layout gives feature i the next slot
// of its class and null bit i: what every view gets when it is created.
void AssignSchemaOrderLayout(std::vector<FieldDef>* features);
// True when `view` has no retired features and every feature sits where the schema-order
// layout puts it (or is unassigned).
bool HasSchemaOrderLayout(const FeatureViewDef& view);
// CorruptStore naming the view unless every feature (live and retired) has a slot and a null bit
// below kMaxLayoutSlots and no two share a (class, slot) or a null bit. The registry's bytes are
// untrusted: a row encoder sizes its vectors by these numbers.
inline constexpr int32_t kMaxLayoutSlots = 1 << 16;
Status ValidateLayout(const FeatureViewDef& view);
// Gives `f` the first slot of its class and the first null bit that no feature of `view` (live
// or retired) holds.
void AssignFreshSlot(const FeatureViewDef& view, FieldDef* f);

struct FeatureInfo {
  std::string name;
  DType dtype;
  StorageClass cls = StorageClass::kI64;
  uint32_t slot = 0;      // position in its class's vector
  uint32_t index = 0;     // position in the view's schema (the value a writer gives for it)
  uint32_t null_bit = 0;  // its bit in the row's null bitmap
};

struct ViewInfo {
  FeatureViewDef def;
  int64_t ttl_micros = 0;  // 0 = never expires
  std::vector<FeatureInfo> features;
  std::unordered_map<std::string, uint32_t> feature_by_name;
  // The length of each class's vector in a row written now: one past the highest slot of a
  // feature of that class (slots of removed features below it are filled with empty values).
  std::array<uint32_t, static_cast<size_t>(StorageClass::kCount)> class_counts{};
  uint32_t class_mask = 0;  // bit c set: class_counts[c] > 0 (the row vectors a read touches)
  uint32_t null_bits = 0;   // one past the highest null bit of a feature
  std::vector<ScalarType> key_types;
  // The source rows come from: for a push source, its batch source's timestamp columns.
  std::string timestamp_field;
  std::string created_timestamp_column;

  uint32_t id() const { return def.id; }
  const FeatureInfo* FindFeature(std::string_view name) const;
};

class Catalog {
 public:
  // Errors only on an inconsistent registry (CorruptStore): unknown entity/source references.
  static Result<std::shared_ptr<const Catalog>> Build(RepoConfig config, uint64_t generation);

  const RepoConfig& config() const { return config_; }
  uint64_t generation() const { return generation_; }
  const std::vector<ViewInfo>& views() const { return views_; }
  const ViewInfo* FindView(std::string_view name) const;
  // FindView, or kFeatureViewNotFound "feature view 'x' is not in the <where>".
  Result<const ViewInfo*> RequireView(std::string_view name,
                                      std::string_view where = "registry") const;
  const ViewInfo* FindViewById(uint32_t id) const;
  // Views whose source is `push_source` (online or not), in registry order.
  std::vector<const ViewInfo*> ViewsOfSource(std::string_view source) const;

 private:
  RepoConfig config_;
  uint64_t generation_ = 0;
  std::vector<ViewInfo> views_;
  std::unordered_map<std::string, size_t> view_by_name_;
  std::unordered_map<uint32_t, size_t> view_by_id_;
};

}  // namespace larder
