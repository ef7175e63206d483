// Feast registry import: how each Feast object becomes Larder's (docs/feast.md, "Feast repos").
#include "engine/feast/feast_registry.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "engine/feast/feast_registry.pb.h"
#include "engine/offline/parquet_source.h"
#include "engine/quote.h"

namespace larder {
namespace {

namespace pb = feast_import;

// Features one view may have: null bits and slots are below 2^16 (engine/rows/catalog.h,
// kMaxLayoutSlots), which a registry holding more would fail to decode.
constexpr int32_t kMaxFeatures = 1 << 16;

// The entity Feast adds for views declared without entities (feast/feature_view.py, DUMMY_ENTITY).
constexpr std::string_view kDummyEntity = "__dummy";

bool IsName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsPrintable(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string Q(std::string_view s) { return QuoteInput(s); }

// A Feast value type as a Larder dtype, or nullopt when Larder cannot store it.
std::optional<DType> ToDType(int feast_type) {
  if (feast_type >= 1 && feast_type <= 8) return DType{static_cast<ScalarType>(feast_type), false};
  if (feast_type >= 11 && feast_type <= 18) {
    return DType{static_cast<ScalarType>(feast_type - 10), true};
  }
  return std::nullopt;
}

std::string FeastTypeName(int feast_type) {
  if (pb::FeastValueType_IsValid(feast_type)) {
    return pb::FeastValueType_Name(static_cast<pb::FeastValueType>(feast_type));
  }
  return "value type " + std::to_string(feast_type);
}

bool IsKeyType(ScalarType t) {
  return t == ScalarType::kInt32 || t == ScalarType::kInt64 || t == ScalarType::kString ||
         t == ScalarType::kBytes;
}

Tags ToTags(const google::protobuf::Map<std::string, std::string>& m) {
  return Tags(m.begin(), m.end());
}

// What a source of a type Larder cannot read is, for messages.
std::string ExternalType(const pb::FeastDataSource& ds) {
  using T = pb::FeastDataSource;
  std::string feast = T::SourceType_IsValid(ds.type())
                          ? T::SourceType_Name(static_cast<T::SourceType>(ds.type()))
                          : "source type " + std::to_string(ds.type());
  static constexpr std::pair<T::SourceType, const char*> kKinds[] = {
      {T::BATCH_BIGQUERY, "a BigQuery source"}, {T::STREAM_KAFKA, "a Kafka source"},
      {T::STREAM_KINESIS, "a Kinesis source"},  {T::BATCH_REDSHIFT, "a Redshift source"},
      {T::REQUEST_SOURCE, "a request source"},  {T::BATCH_SNOWFLAKE, "a Snowflake source"},
      {T::BATCH_TRINO, "a Trino source"},       {T::BATCH_SPARK, "a Spark source"},
      {T::BATCH_ATHENA, "an Athena source"},    {T::BATCH_ICEBERG, "an Iceberg source"}};
  const char* what = "a custom source";
  for (const auto& [type, text] : kKinds) {
    if (ds.type() == type) what = text;
  }
  std::string out = std::string(what) + " (Feast " + feast;
  if (!ds.data_source_class_type().empty()) out += ", " + Q(ds.data_source_class_type());
  return out + ")";
}

// A batch feature view that derives its features (Feast 0.53 on: a transformation, or other
// views as its source) is not served: materializing its batch columns would skip the
// derivation. A stream feature view's transformation runs in the stream processor before rows
// are pushed, so its rows are what is pushed (docs/feast.md).
bool HasTransformation(const pb::FeastFeatureViewSpec& spec) {
  return spec.source_views_size() > 0 || spec.has_feature_transformation();
}
bool HasTransformation(const pb::FeastStreamFeatureViewSpec&) { return false; }

// A definition Larder cannot serve makes it unservable, with the reason; only a registry that
// does not hold the project, or defines a name twice, fails the import.
class Importer {
 public:
  Importer(std::string file, RepoConfig* config) : file_(std::move(file)), config_(*config) {}

  Status Run(const pb::FeastRegistry& reg);

 private:
  Status Error(const std::string& what) const { return ConfigError(file_ + ": " + what); }
  bool Mine(const std::string& project) const { return project == config_.project; }

  // The name views refer to `ds` by, adding it (and a push source's batch source) once; an
  // InvalidArgument whose message says why when the source cannot be used.
  Result<std::string> AddSource(const pb::FeastDataSource& ds, const std::string& fallback_name);
  Status AddEntities(const pb::FeastRegistry& reg);
  template <typename Spec>
  Status AddView(const Spec& spec, bool stream);
  Status AddService(const pb::FeastFeatureServiceSpec& spec);
  // Records `name` as a view (or service) name; false when it is taken.
  bool Claim(UnservableDef::Kind kind, const std::string& name) {
    return (kind == UnservableDef::Kind::kView ? view_names_ : service_names_).insert(name).second;
  }
  void Unservable(UnservableDef::Kind kind, const std::string& name, std::string reason) {
    if (kind == UnservableDef::Kind::kView) unservable_views_.emplace(name, reason);
    config_.unservable.push_back({kind, name, std::move(reason)});
  }

  std::string file_;
  RepoConfig& config_;
  std::set<std::string> view_names_;
  std::set<std::string> service_names_;
  std::map<std::string, SourceKind> source_kinds_;
  std::map<std::string, size_t> view_index_;             // served views, in config_.views
  std::map<std::string, std::string> unservable_views_;  // name -> reason
  std::map<std::string, size_t> entity_index_;           // usable entities, in config_.entities
  // Entities Larder cannot key rows by, with the reason.
  std::map<std::string, std::string> unusable_entities_;
  // Entities whose registry entry names no key type (newer Feast infers it from the views).
  std::set<std::string> untyped_entities_;
};

Result<std::string> Importer::AddSource(const pb::FeastDataSource& ds,
                                        const std::string& fallback_name) {
  // Sources embedded in views before Feast 0.19 have no name: named after their view.
  std::string name = ds.name().empty() ? fallback_name : ds.name();
  // Clients name push sources; other sources are only named in messages, and Feast names a
  // source declared without a name by its path ("data/driver_stats.parquet").
  using T = pb::FeastDataSource;
  const bool push = ds.type() == T::PUSH_SOURCE;
  if (push ? !IsName(name) : !IsPrintable(name)) {
    return InvalidArgument(
        (push ? "push source " + Q(name) + " has a name Larder cannot use (letters, digits and _)"
              : "source " + Q(name) + " has no usable name (1 to 1024 printable bytes)"));
  }
  if (auto it = source_kinds_.find(name); it != source_kinds_.end()) {
    // A view's copy of a listed source, or the same name given to another kind of source.
    if ((it->second == SourceKind::kPush) != push) {
      return InvalidArgument("the name " + Q(name) + " is given to two different sources");
    }
    return name;
  }
  SourceDef src;
  src.name = name;
  src.description = ds.description();
  src.tags = ToTags(ds.tags());
  src.owner = ds.owner();
  src.timestamp_field = ds.timestamp_field();
  src.created_timestamp_column = ds.created_timestamp_column();
  if (push) {
    if (!ds.has_batch_source()) {
      return InvalidArgument("push source " + Q(name) + " has no batch source");
    }
    if (ds.batch_source().type() == T::PUSH_SOURCE) {
      return InvalidArgument("push source " + Q(name) + " has a push source as batch source");
    }
    std::string batch_fallback = name + "_batch";
    if (ds.batch_source().name() == name) {
      return InvalidArgument("push source " + Q(name) + " and its batch source share a name");
    }
    LARDER_ASSIGN_OR_RETURN(src.batch_source, AddSource(ds.batch_source(), batch_fallback));
    src.kind = SourceKind::kPush;
    src.timestamp_field.clear();
    src.created_timestamp_column.clear();
  } else {
    std::string uri = ds.file_options().uri();
    if (uri.rfind("file://", 0) == 0) uri = uri.substr(7);
    const bool remote = uri.find("://") != std::string::npos;
    const bool delta = ds.file_options().file_format().has_delta_format();
    const bool readable =
        ds.type() == T::BATCH_FILE && !uri.empty() && !remote && !delta &&
        ds.field_mapping().empty() && IsName(src.timestamp_field) &&
        (src.created_timestamp_column.empty() || IsName(src.created_timestamp_column));
    std::string resolved;
    if (readable) {
      std::filesystem::path p(uri);
      if (!p.is_absolute() && !config_.repo_dir.empty()) p = config_.repo_dir / p;
      resolved = p.lexically_normal().string();
    }
    if (readable && IsParquetSource(resolved)) {
      src.kind = SourceKind::kFile;
      src.path = uri;
      src.resolved_path = resolved;
    } else if (readable) {
      // Feast's file sources are Parquet; Larder tells Parquet from CSV by the path (a
      // `.parquet` file or a directory), so a Parquet file named otherwise would be read as CSV.
      src.kind = SourceKind::kExternal;
      src.external_type = "a Parquet file at " + Q(uri) +
                          " whose name does not end in .parquet (Larder tells Parquet by the name)";
    } else {
      src.kind = SourceKind::kExternal;
      if (ds.type() != T::BATCH_FILE) {
        src.external_type = ExternalType(ds);
      } else if (remote) {
        src.external_type = "a file source at " + Q(uri) + " (Larder reads local files only)";
      } else if (delta) {
        src.external_type = "a Delta table (Larder reads CSV and Parquet files)";
      } else if (!ds.field_mapping().empty()) {
        src.external_type = "a file source with a field_mapping (Larder maps no columns)";
      } else {
        src.external_type = "a file source without a usable path or timestamp field";
      }
    }
  }
  source_kinds_.emplace(name, src.kind);
  config_.sources.push_back(std::move(src));
  return name;
}

Status Importer::AddEntities(const pb::FeastRegistry& reg) {
  for (const pb::FeastEntity& e : reg.entities()) {
    const pb::FeastEntitySpec& spec = e.spec();
    if (!Mine(spec.project()) || spec.name() == kDummyEntity) continue;
    const std::string& name = spec.name();
    if (entity_index_.count(name) > 0 || unusable_entities_.count(name) > 0) {
      return Error("entity " + Q(name) + " is defined twice");
    }
    EntityDef def;
    def.name = name;
    def.join_keys = {spec.join_key().empty() ? name : spec.join_key()};
    def.description = spec.description();
    def.tags = ToTags(spec.tags());
    def.owner = spec.owner();
    if (!IsName(name) || !IsName(def.join_keys[0])) {
      unusable_entities_[name] = "its name or join key " + Q(def.join_keys[0]) +
                                 " is not a Larder name (letters, digits and _)";
      continue;
    }
    if (spec.value_type() == pb::INVALID) {
      untyped_entities_.insert(name);  // typed by the first view that lists its column
    } else {
      std::optional<DType> t = ToDType(spec.value_type());
      if (!t || t->is_array || !IsKeyType(t->scalar)) {
        unusable_entities_[name] = "its join key has Feast type " +
                                   FeastTypeName(spec.value_type()) +
                                   " (Larder keys rows by INT32, INT64, STRING or BYTES)";
        continue;
      }
      def.value_type = t->scalar;
    }
    entity_index_.emplace(name, config_.entities.size());
    config_.entities.push_back(std::move(def));
  }
  return Status::Ok();
}

template <typename Spec>
Status Importer::AddView(const Spec& spec, bool stream) {
  const std::string& name = spec.name();
  const std::string kind = stream ? "stream feature view " : "feature view ";
  if (!IsPrintable(name)) return Status::Ok();  // no request can name it
  if (!Claim(UnservableDef::Kind::kView, name)) return Error(kind + Q(name) + " is defined twice");
  auto unservable = [&](const std::string& reason) {
    Unservable(UnservableDef::Kind::kView, name, "a " + kind + "that " + reason);
    return Status::Ok();
  };
  if (!IsName(name)) return unservable("has a name Larder cannot use (letters, digits and _)");
  if (spec.disabled()) return unservable("is disabled");
  if (HasTransformation(spec)) {
    return unservable(
        "computes its features with a transformation or from other views, which "
        "Larder does not run");
  }
  FeatureViewDef view;
  view.name = name;
  view.online = spec.online();
  view.description = spec.description();
  view.tags = ToTags(spec.tags());
  view.owner = spec.owner();
  if (spec.has_ttl() && spec.ttl().seconds() > 0) {
    const int64_t s = spec.ttl().seconds();
    view.ttl_seconds = s < INT64_MAX && spec.ttl().nanos() > 0 ? s + 1 : s;
  }
  // Entity types a view gives are kept aside until the view is known to be served.
  std::map<std::string, ScalarType> typed_here;
  for (const std::string& entity_name : spec.entities()) {
    if (entity_name == kDummyEntity) continue;
    if (auto it = unusable_entities_.find(entity_name); it != unusable_entities_.end()) {
      return unservable("reads entity " + Q(entity_name) + ": " + it->second);
    }
    auto found = entity_index_.find(entity_name);
    if (found == entity_index_.end()) {
      return unservable("names entity " + Q(entity_name) + ", which project " + Q(config_.project) +
                        " does not define");
    }
    const EntityDef& entity = config_.entities[found->second];
    const std::string& key = entity.join_keys[0];
    for (const JoinKeyDef& k : view.join_keys) {
      if (k.name == key) return unservable("has two entities with join key " + Q(key));
    }
    const bool untyped = untyped_entities_.count(entity_name) > 0;
    std::optional<ScalarType> type;
    if (!untyped) type = entity.value_type;
    // The key's type as this view records it (Feast 0.22 on), checked against the entity's.
    for (const pb::FeastFeature& column : spec.entity_columns()) {
      if (column.name() != key) continue;
      std::optional<DType> t = ToDType(column.value_type());
      if (!t || t->is_array || !IsKeyType(t->scalar)) {
        return unservable("keys rows by " + Q(key) + " of Feast type " +
                          FeastTypeName(column.value_type()) +
                          " (Larder keys rows by INT32, INT64, STRING or BYTES)");
      }
      if (type && *type != t->scalar) {
        return unservable("gives join key " + Q(key) + " of entity " + Q(entity_name) + " type " +
                          FeastTypeName(column.value_type()) + ", but the entity " +
                          (untyped ? "has " : "(or another view) gives it ") +
                          ScalarTypeName(*type));
      }
      type = t->scalar;
    }
    if (!type) {
      return unservable("does not record the type of join key " + Q(key) + " of entity " +
                        Q(entity_name) + ", which has none");
    }
    if (untyped) typed_here[entity_name] = *type;
    view.entities.push_back(entity_name);
    view.join_keys.push_back(JoinKeyDef{key, *type});
  }
  if (view.entities.empty()) {
    return unservable("has no entities (Larder keys every row by an entity)");
  }
  std::set<std::string> feature_names;
  for (const pb::FeastFeature& f : spec.features()) {
    std::optional<DType> t = ToDType(f.value_type());
    if (!t) {
      return unservable("has feature " + Q(f.name()) + " of Feast type " +
                        FeastTypeName(f.value_type()) + ", which Larder cannot store");
    }
    if (!IsName(f.name())) {
      return unservable("has feature " + Q(f.name()) +
                        ", a name Larder cannot use (letters, digits and _)");
    }
    bool key_column = false;
    for (const JoinKeyDef& k : view.join_keys) key_column = key_column || k.name == f.name();
    if (key_column) continue;  // the join key's column, listed among the features
    if (!feature_names.insert(f.name()).second) {
      return unservable("declares feature " + Q(f.name()) + " twice");
    }
    view.features.push_back(FieldDef{f.name(), *t});
  }
  if (view.features.empty()) return unservable("has no features");
  if (view.features.size() >= static_cast<size_t>(kMaxFeatures)) {
    return unservable("has more than " + std::to_string(kMaxFeatures - 1) + " features");
  }
  // Pushes reach a view through its stream source when that is a push source; otherwise it is
  // read (materialized) from its batch source.
  Result<std::string> source = InvalidArgument("has no batch source");
  if (spec.has_stream_source() && spec.stream_source().type() == pb::FeastDataSource::PUSH_SOURCE) {
    source = AddSource(spec.stream_source(), name + "_push");
  } else if (spec.has_batch_source()) {
    source = AddSource(spec.batch_source(), name + "_source");
    // A stream source other than a push source (Kafka, Kinesis) is never read here: kept for
    // `inspect` when it can be, and never a reason to refuse the view.
    if (source.ok() && spec.has_stream_source())
      (void)AddSource(spec.stream_source(), name + "_stream");
  }
  if (!source.ok()) return unservable("has an unusable source: " + source.status().message());
  view.source = *source;
  for (const auto& [entity_name, type] : typed_here) {
    untyped_entities_.erase(entity_name);
    config_.entities[entity_index_.at(entity_name)].value_type = type;
  }
  view_index_.emplace(name, config_.views.size());
  config_.views.push_back(std::move(view));
  return Status::Ok();
}

Status Importer::AddService(const pb::FeastFeatureServiceSpec& spec) {
  const std::string& name = spec.name();
  if (!IsPrintable(name)) return Status::Ok();  // no request can name it
  if (!Claim(UnservableDef::Kind::kService, name)) {
    return Error("feature service " + Q(name) + " is defined twice");
  }
  auto unservable = [&](const std::string& reason) {
    Unservable(UnservableDef::Kind::kService, name, "a feature service that " + reason);
    return Status::Ok();
  };
  if (!IsName(name)) return unservable("has a name Larder cannot use (letters, digits and _)");
  FeatureServiceDef service;
  service.name = name;
  service.description = spec.description();
  service.tags = ToTags(spec.tags());
  service.owner = spec.owner();
  for (const pb::FeastProjection& p : spec.features()) {
    const std::string& view_name = p.feature_view_name();
    if (!p.feature_view_name_alias().empty() && p.feature_view_name_alias() != view_name) {
      return unservable("reads feature view " + Q(view_name) + " under the alias " +
                        Q(p.feature_view_name_alias()) + " (Larder has no projection aliases)");
    }
    if (!p.join_key_map().empty()) {
      return unservable("maps the join keys of feature view " + Q(view_name) +
                        " (Larder has no join key maps)");
    }
    if (auto u = unservable_views_.find(view_name); u != unservable_views_.end()) {
      return unservable("reads " + Q(view_name) + " (" + u->second + ")");
    }
    auto found = view_index_.find(view_name);
    if (found == view_index_.end()) {
      return unservable("reads feature view " + Q(view_name) + ", which project " +
                        Q(config_.project) + " does not define");
    }
    const FeatureViewDef& view = config_.views[found->second];
    std::set<std::string> have;
    for (const FieldDef& field : view.features) have.insert(field.name);
    std::set<std::string> keys;
    for (const JoinKeyDef& k : view.join_keys) keys.insert(k.name);
    // Two projections of one view read the union of their features (as Larder's YAML merges
    // them); an empty list is the whole view.
    FeatureServiceDef::Projection* proj = nullptr;
    for (auto& existing : service.projections) {
      if (existing.view == view_name) proj = &existing;
    }
    const bool first = proj == nullptr;
    if (first) {
      service.projections.push_back({view_name, {}});
      proj = &service.projections.back();
    } else if (proj->features.empty()) {
      continue;  // already the whole view
    }
    if (p.feature_columns().empty()) {
      proj->features.clear();
      continue;
    }
    for (const pb::FeastFeature& f : p.feature_columns()) {
      if (keys.count(f.name()) > 0) continue;  // Feast 0.20-0.21 list the join key's column
      if (have.count(f.name()) == 0) {
        return unservable("reads feature " + Q(f.name()) + ", which feature view " + Q(view_name) +
                          " does not have");
      }
      bool listed = false;
      for (const std::string& n : proj->features) listed = listed || n == f.name();
      if (!listed) proj->features.push_back(f.name());
    }
    // Every feature of the view, listed: Larder's "the whole view" keeps later features too.
    if (proj->features.size() == have.size()) proj->features.clear();
  }
  if (service.projections.empty()) return unservable("reads no feature view");
  config_.services.push_back(std::move(service));
  return Status::Ok();
}

Status Importer::Run(const pb::FeastRegistry& reg) {
  // Which projects the file holds, to tell a wrong project from an empty one.
  std::set<std::string> projects;
  auto note = [&](const std::string& p) { projects.insert(p); };
  for (const auto& e : reg.entities()) note(e.spec().project());
  for (const auto& v : reg.feature_views()) note(v.spec().project());
  for (const auto& v : reg.stream_feature_views()) note(v.spec().project());
  for (const auto& v : reg.on_demand_feature_views()) note(v.spec().project());
  for (const auto& s : reg.feature_services()) note(s.spec().project());
  if (!projects.empty() && projects.count(config_.project) == 0) {
    std::string held;
    size_t shown = 0;
    for (const std::string& p : projects) {
      if (++shown > 10) {
        held += ", ...";
        break;
      }
      held += (held.empty() ? "" : ", ") + Q(p);
    }
    return Error("holds no project " + Q(config_.project) + " (it holds " + held +
                 "): feature_store.yaml's project must be one of them");
  }
  LARDER_RETURN_IF_ERROR(AddEntities(reg));
  for (const pb::FeastDataSource& ds : reg.data_sources()) {
    // Feast 0.19 lists sources declared without a name with an empty one: the views that read
    // them carry their own copies, named after the view.
    if (!Mine(ds.project()) || ds.name().empty()) continue;
    // A listed source Larder cannot use is skipped: a view reading it says why.
    (void)AddSource(ds, ds.name());
  }
  for (const pb::FeastFeatureView& v : reg.feature_views()) {
    if (Mine(v.spec().project())) LARDER_RETURN_IF_ERROR(AddView(v.spec(), false));
  }
  for (const pb::FeastStreamFeatureView& v : reg.stream_feature_views()) {
    if (Mine(v.spec().project())) LARDER_RETURN_IF_ERROR(AddView(v.spec(), true));
  }
  auto add_named = [&](const pb::FeastNamedSpec& spec, const char* what) {
    if (!Mine(spec.project())) return Status::Ok();
    // A name no request can carry is not worth keeping (nor printing).
    if (!IsPrintable(spec.name())) return Status::Ok();
    if (!Claim(UnservableDef::Kind::kView, spec.name())) {
      return Error(Q(spec.name()) + " is defined twice");
    }
    Unservable(UnservableDef::Kind::kView, spec.name(), what);
    return Status::Ok();
  };
  for (const auto& v : reg.on_demand_feature_views()) {
    LARDER_RETURN_IF_ERROR(
        add_named(v.spec(), "an on-demand feature view: Larder runs no Python transformations"));
  }
  for (const auto& v : reg.request_feature_views()) {
    LARDER_RETURN_IF_ERROR(add_named(
        v.spec(), "a request feature view: its values come with each request, Larder stores none"));
  }
  for (const pb::FeastFeatureService& s : reg.feature_services()) {
    if (Mine(s.spec().project())) LARDER_RETURN_IF_ERROR(AddService(s.spec()));
  }
  // An entity no served view typed is never used to key rows: it keeps Larder's default.
  return Status::Ok();
}

}  // namespace

Status ImportFeastRegistry(std::string_view bytes, const std::string& file_name,
                           RepoConfig* config) {
  // Feast truncates the file before it writes it: an empty file may be one being rewritten, and
  // read as a registry with nothing in it, an apply would drop every view.
  if (bytes.empty()) {
    return ConfigError(file_name +
                       ": the Feast registry is empty (is `feast apply` writing it? "
                       "try again)");
  }
  pb::FeastRegistry reg;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !reg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return ConfigError(file_name +
                       ": not a Feast registry (the bytes do not parse as "
                       "feast.core.Registry)");
  }
  Importer importer(file_name, config);
  return importer.Run(reg);
}

}  // namespace larder
