// Feast registry import: how each Feast object becomes Larder's (docs/feast.md, "Feast repos").
#include "engine/feast/feast_registry.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "engine/feast/feast_registry.pb.h"
#include "engine/quote.h"

namespace larder {
namespace {

namespace pb = feast_import;

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
  const char* what = nullptr;
  switch (ds.type()) {
    case T::BATCH_BIGQUERY:
      what = "a BigQuery source";
      break;
    case T::STREAM_KAFKA:
      what = "a Kafka source";
      break;
    case T::STREAM_KINESIS:
      what = "a Kinesis source";
      break;
    case T::BATCH_REDSHIFT:
      what = "a Redshift source";
      break;
    case T::REQUEST_SOURCE:
      what = "a request source";
      break;
    case T::BATCH_SNOWFLAKE:
      what = "a Snowflake source";
      break;
    case T::BATCH_TRINO:
      what = "a Trino source";
      break;
    case T::BATCH_SPARK:
      what = "a Spark source";
      break;
    case T::BATCH_ATHENA:
      what = "an Athena source";
      break;
    case T::BATCH_ICEBERG:
      what = "an Iceberg source";
      break;
    default:
      what = "a custom source";
      break;
  }
  std::string out = std::string(what) + " (Feast " + feast;
  if (!ds.data_source_class_type().empty()) out += ", " + ds.data_source_class_type();
  return out + ")";
}

class Importer {
 public:
  Importer(std::string file, RepoConfig* config) : file_(std::move(file)), config_(*config) {}

  Status Run(const pb::FeastRegistry& reg);

 private:
  Status Error(const std::string& what) const { return ConfigError(file_ + ": " + what); }
  bool Mine(const std::string& project) const { return project == config_.project; }

  Result<std::string> AddSource(const pb::FeastDataSource& ds, const std::string& fallback_name);
  Status AddEntities(const pb::FeastRegistry& reg);
  template <typename Spec>
  Status AddView(const Spec& spec, bool stream);
  Status AddService(const pb::FeastFeatureServiceSpec& spec);
  void Unservable(UnservableDef::Kind kind, const std::string& name, std::string reason) {
    config_.unservable.push_back({kind, name, std::move(reason)});
  }
  bool NameTaken(const std::string& name) const {
    return config_.FindView(name) != nullptr ||
           config_.FindUnservable(UnservableDef::Kind::kView, name) != nullptr;
  }

  std::string file_;
  RepoConfig& config_;
  // Entities Larder cannot key rows by, with the reason.
  std::map<std::string, std::string> unusable_entities_;
  // Entities whose registry entry names no key type (newer Feast infers it from the views).
  std::set<std::string> untyped_entities_;
};

// Adds `ds` (and a push source's batch source) once; returns the name views refer to it by.
Result<std::string> Importer::AddSource(const pb::FeastDataSource& ds,
                                        const std::string& fallback_name) {
  // Sources embedded in views before Feast 0.17 have no name: named after their view.
  std::string name = ds.name().empty() ? fallback_name : ds.name();
  // Clients name push sources; other sources are only named in messages, and Feast names a
  // source declared without a name by its path ("data/driver_stats.parquet").
  const bool push = ds.type() == pb::FeastDataSource::PUSH_SOURCE;
  if (push ? !IsName(name) : !IsPrintable(name)) {
    return Error("data source " + Q(name) +
                 (push ? ": Larder names push sources with letters, digits and _"
                       : ": a name must be 1 to 1024 printable bytes"));
  }
  if (config_.FindSource(name) != nullptr) return name;  // a view's copy of a listed source
  SourceDef src;
  src.name = name;
  src.description = ds.description();
  src.tags = ToTags(ds.tags());
  src.owner = ds.owner();
  src.timestamp_field = ds.timestamp_field();
  src.created_timestamp_column = ds.created_timestamp_column();
  using T = pb::FeastDataSource;
  if (push) {
    if (!ds.has_batch_source()) {
      return Error("push source " + Q(name) + " has no batch source");
    }
    LARDER_ASSIGN_OR_RETURN(src.batch_source, AddSource(ds.batch_source(), name + "_batch"));
    src.kind = SourceKind::kPush;
    src.timestamp_field.clear();
    src.created_timestamp_column.clear();
    config_.sources.push_back(std::move(src));
    return name;
  }
  std::string uri = ds.file_options().uri();
  if (uri.rfind("file://", 0) == 0) uri = uri.substr(7);
  const bool remote = uri.find("://") != std::string::npos;
  if (ds.type() == T::BATCH_FILE && !uri.empty() && !remote && ds.field_mapping().empty() &&
      IsName(src.timestamp_field) &&
      (src.created_timestamp_column.empty() || IsName(src.created_timestamp_column))) {
    src.kind = SourceKind::kFile;
    src.path = uri;
    std::filesystem::path p(uri);
    src.resolved_path =
        (p.is_absolute() || config_.repo_dir.empty() ? p
                                                     : std::filesystem::path(config_.repo_dir) / p)
            .lexically_normal()
            .string();
  } else {
    src.kind = SourceKind::kExternal;
    if (ds.type() != T::BATCH_FILE) {
      src.external_type = ExternalType(ds);
    } else if (remote) {
      src.external_type = "a file source at " + Q(uri) + " (Larder reads local files only)";
    } else if (!ds.field_mapping().empty()) {
      src.external_type = "a file source with a field_mapping (Larder maps no columns)";
    } else {
      src.external_type = "a file source without a usable path or timestamp field";
    }
  }
  config_.sources.push_back(std::move(src));
  return name;
}

Status Importer::AddEntities(const pb::FeastRegistry& reg) {
  for (const pb::FeastEntity& e : reg.entities()) {
    const pb::FeastEntitySpec& spec = e.spec();
    if (!Mine(spec.project()) || spec.name() == kDummyEntity) continue;
    const std::string& name = spec.name();
    EntityDef def;
    def.name = name;
    def.join_keys = {spec.join_key().empty() ? name : spec.join_key()};
    def.description = spec.description();
    def.tags = ToTags(spec.tags());
    def.owner = spec.owner();
    if (!IsName(name) || !IsName(def.join_keys[0])) {
      return Error("entity " + Q(name) + " (join key " + Q(def.join_keys[0]) +
                   "): Larder names use letters, digits and _");
    }
    if (config_.FindEntity(name) != nullptr || unusable_entities_.count(name) > 0) {
      return Error("entity " + Q(name) + " is defined twice");
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
    config_.entities.push_back(std::move(def));
  }
  return Status::Ok();
}

template <typename Spec>
Status Importer::AddView(const Spec& spec, bool stream) {
  const std::string& name = spec.name();
  const std::string kind = stream ? "stream feature view " : "feature view ";
  if (!IsName(name)) return Error(kind + Q(name) + ": Larder names use letters, digits and _");
  if (NameTaken(name)) return Error(kind + Q(name) + " is defined twice");
  auto unservable = [&](const std::string& reason) {
    Unservable(UnservableDef::Kind::kView, name, "a " + kind + "that " + reason);
    return Status::Ok();
  };
  FeatureViewDef view;
  view.name = name;
  view.online = spec.online();
  view.description = spec.description();
  view.tags = ToTags(spec.tags());
  view.owner = spec.owner();
  if (spec.has_ttl()) view.ttl_seconds = spec.ttl().seconds() + (spec.ttl().nanos() > 0 ? 1 : 0);
  for (const std::string& entity_name : spec.entities()) {
    if (entity_name == kDummyEntity) continue;
    if (auto it = unusable_entities_.find(entity_name); it != unusable_entities_.end()) {
      return unservable("reads entity " + Q(entity_name) + ": " + it->second);
    }
    EntityDef* entity = nullptr;
    for (EntityDef& e : config_.entities) {
      if (e.name == entity_name) entity = &e;
    }
    if (entity == nullptr) {
      return Error(kind + Q(name) + " names entity " + Q(entity_name) +
                   ", which the registry does not define in project " + Q(config_.project));
    }
    const std::string& key = entity->join_keys[0];
    for (const JoinKeyDef& k : view.join_keys) {
      if (k.name == key) {
        return Error(kind + Q(name) + ": entities " + Q(entity_name) +
                     " and another share join key " + Q(key));
      }
    }
    // The key's type as this view records it (Feast 0.22 on), checked against the entity's.
    for (const pb::FeastFeature& column : spec.entity_columns()) {
      if (column.name() != key) continue;
      std::optional<DType> t = ToDType(column.value_type());
      if (!t || t->is_array || !IsKeyType(t->scalar)) {
        return unservable("keys rows by " + Q(key) + " of Feast type " +
                          FeastTypeName(column.value_type()) +
                          " (Larder keys rows by INT32, INT64, STRING or BYTES)");
      }
      if (untyped_entities_.erase(entity_name) > 0) {
        entity->value_type = t->scalar;
      } else if (entity->value_type != t->scalar) {
        return Error(kind + Q(name) + " gives join key " + Q(key) + " of entity " + Q(entity_name) +
                     " type " + FeastTypeName(column.value_type()) +
                     ", but the entity (or another view) gives it " +
                     ScalarTypeName(entity->value_type));
      }
    }
    if (untyped_entities_.count(entity_name) > 0) {
      return Error("entity " + Q(entity_name) + " has no value type, and " + kind + Q(name) +
                   " does not record its join key " + Q(key) + " among its entity columns");
    }
    view.entities.push_back(entity_name);
    view.join_keys.push_back(JoinKeyDef{key, entity->value_type});
  }
  if (view.entities.empty()) {
    return unservable("has no entities (Larder keys every row by an entity)");
  }
  for (const pb::FeastFeature& f : spec.features()) {
    std::optional<DType> t = ToDType(f.value_type());
    if (!t) {
      return unservable("has feature " + Q(f.name()) + " of Feast type " +
                        FeastTypeName(f.value_type()) + ", which Larder cannot store");
    }
    if (!IsName(f.name())) {
      return Error(kind + Q(name) + ": feature " + Q(f.name()) +
                   ": Larder names use letters, digits and _");
    }
    bool seen = false;
    for (const JoinKeyDef& k : view.join_keys) seen = seen || k.name == f.name();
    if (seen) continue;  // the join key's column, listed among the features
    for (const FieldDef& other : view.features) {
      if (other.name == f.name()) {
        return Error(kind + Q(name) + " declares feature " + Q(f.name()) + " twice");
      }
    }
    view.features.push_back(FieldDef{f.name(), *t});
  }
  if (view.features.empty()) return unservable("has no features");
  // Pushes reach a view through its stream source when that is a push source; otherwise it is
  // read (materialized) from its batch source.
  if (spec.has_stream_source() && spec.stream_source().type() == pb::FeastDataSource::PUSH_SOURCE) {
    LARDER_ASSIGN_OR_RETURN(view.source, AddSource(spec.stream_source(), name + "_push"));
  } else if (spec.has_batch_source()) {
    LARDER_ASSIGN_OR_RETURN(view.source, AddSource(spec.batch_source(), name + "_source"));
    if (spec.has_stream_source()) {
      LARDER_RETURN_IF_ERROR(AddSource(spec.stream_source(), name + "_stream").status());
    }
  } else {
    return unservable("has no batch source");
  }
  config_.views.push_back(std::move(view));
  return Status::Ok();
}

Status Importer::AddService(const pb::FeastFeatureServiceSpec& spec) {
  const std::string& name = spec.name();
  if (!IsName(name)) {
    return Error("feature service " + Q(name) + ": Larder names use letters, digits and _");
  }
  if (config_.FindService(name) != nullptr ||
      config_.FindUnservable(UnservableDef::Kind::kService, name) != nullptr) {
    return Error("feature service " + Q(name) + " is defined twice");
  }
  auto unservable = [&](const std::string& reason) {
    Unservable(UnservableDef::Kind::kService, name, "a feature service that " + reason);
    return Status::Ok();
  };
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
    if (const UnservableDef* u = config_.FindUnservable(UnservableDef::Kind::kView, view_name)) {
      return unservable("reads " + Q(view_name) + " (" + u->reason + ")");
    }
    const FeatureViewDef* view = config_.FindView(view_name);
    if (view == nullptr) {
      return Error("feature service " + Q(name) + " reads feature view " + Q(view_name) +
                   ", which the registry does not define in project " + Q(config_.project));
    }
    FeatureServiceDef::Projection proj{view_name, {}};
    for (const pb::FeastFeature& f : p.feature_columns()) {
      bool known = false;
      for (const FieldDef& field : view->features) known = known || field.name == f.name();
      if (!known) {
        return Error("feature service " + Q(name) + " reads feature " + Q(f.name()) +
                     ", which feature view " + Q(view_name) + " does not have");
      }
      proj.features.push_back(f.name());
    }
    // Every feature of the view, listed: Larder's "the whole view" keeps later features too.
    if (proj.features.size() == view->features.size()) proj.features.clear();
    service.projections.push_back(std::move(proj));
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
    for (const std::string& p : projects) held += (held.empty() ? "" : ", ") + Q(p);
    return Error("holds no project " + Q(config_.project) + " (it holds " + held +
                 "): feature_store.yaml's project must be one of them");
  }
  LARDER_RETURN_IF_ERROR(AddEntities(reg));
  for (const pb::FeastDataSource& ds : reg.data_sources()) {
    if (!Mine(ds.project())) continue;
    LARDER_RETURN_IF_ERROR(AddSource(ds, ds.name()).status());
  }
  for (const pb::FeastFeatureView& v : reg.feature_views()) {
    if (Mine(v.spec().project())) LARDER_RETURN_IF_ERROR(AddView(v.spec(), false));
  }
  for (const pb::FeastStreamFeatureView& v : reg.stream_feature_views()) {
    if (Mine(v.spec().project())) LARDER_RETURN_IF_ERROR(AddView(v.spec(), true));
  }
  auto add_named = [&](const pb::FeastNamedSpec& spec, const char* what) {
    if (!Mine(spec.project())) return Status::Ok();
    if (NameTaken(spec.name())) return Error(Q(spec.name()) + " is defined twice");
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
  // An entity no view typed is never used to key rows: give it Larder's default.
  untyped_entities_.clear();
  return Status::Ok();
}

}  // namespace

Status ImportFeastRegistry(std::string_view bytes, const std::string& file_name,
                           RepoConfig* config) {
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
