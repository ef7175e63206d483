// Parses feature_store.yaml into a RepoConfig. Every problem becomes a kConfigError whose message
// reads "<file>:<line>:<col>: <what is wrong>", with the position of the offending YAML node.
// yaml-cpp throws; every call into it that can throw is inside ParseRepoConfig's try block.
#include "larder/repo_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <utility>

#include "engine/feast/feast_registry.h"

namespace larder {

// ---------------------------------------------------------------------------------------------
// RepoConfig lookups.

namespace {

template <typename T>
const T* FindByName(const std::vector<T>& items, std::string_view name) {
  for (const T& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}

}  // namespace

const EntityDef* RepoConfig::FindEntity(std::string_view name) const {
  return FindByName(entities, name);
}
const SourceDef* RepoConfig::FindSource(std::string_view name) const {
  return FindByName(sources, name);
}
const FeatureViewDef* RepoConfig::FindView(std::string_view name) const {
  return FindByName(views, name);
}
const FeatureServiceDef* RepoConfig::FindService(std::string_view name) const {
  return FindByName(services, name);
}
const UnservableDef* RepoConfig::FindUnservable(UnservableDef::Kind kind,
                                                std::string_view name) const {
  for (const UnservableDef& u : unservable) {
    if (u.kind == kind && u.name == name) return &u;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Durations and byte sizes.

namespace {

// Splits "123abc" into 123 and "abc". Fails when there are no leading digits or they overflow.
bool SplitNumber(std::string_view text, uint64_t* number, std::string_view* suffix) {
  size_t n = 0;
  uint64_t value = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') {
    uint64_t digit = static_cast<uint64_t>(text[n] - '0');
    if (value > (kMax - digit) / 10) return false;
    value = value * 10 + digit;
    ++n;
  }
  if (n == 0) return false;
  *number = value;
  *suffix = text.substr(n);
  return true;
}

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

constexpr Unit kDurationUnits[] = {
    {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800},
};

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kKB = 1000;
constexpr Unit kByteUnits[] = {
    {"", 1},
    {"B", 1},
    {"KB", kKB},
    {"MB", kKB* kKB},
    {"GB", kKB* kKB* kKB},
    {"TB", kKB* kKB* kKB* kKB},
    {"KiB", kKiB},
    {"MiB", kKiB* kKiB},
    {"GiB", kKiB* kKiB* kKiB},
    {"TiB", kKiB* kKiB* kKiB* kKiB},
};

// number * unit factor, or false on a bad unit or when the product exceeds `max`.
template <size_t N>
bool ScaleByUnit(std::string_view text, const Unit (&units)[N], uint64_t max, uint64_t* out) {
  uint64_t number = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &number, &suffix)) return false;
  for (const Unit& unit : units) {
    if (unit.suffix != suffix) continue;
    if (number > max / unit.factor) return false;
    *out = number * unit.factor;
    return true;
  }
  return false;
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  uint64_t seconds = 0;
  if (!ScaleByUnit(text, kDurationUnits, std::numeric_limits<int64_t>::max(), &seconds)) {
    return InvalidArgument("invalid duration '" + std::string(text) +
                           "' (expected a non-negative whole number with an optional unit s, m, "
                           "h, d or w, e.g. 90m or 1d)");
  }
  return static_cast<int64_t>(seconds);
}

Result<uint64_t> ParseByteSize(std::string_view text) {
  uint64_t bytes = 0;
  if (!ScaleByUnit(text, kByteUnits, std::numeric_limits<uint64_t>::max(), &bytes)) {
    return InvalidArgument("invalid byte size '" + std::string(text) +
                           "' (expected a whole number with an optional unit B, KB, MB, GB, TB, "
                           "KiB, MiB, GiB or TiB, e.g. 512MiB)");
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// The YAML parser.

namespace {

namespace fs = std::filesystem;
using Keys = std::span<const std::string_view>;

constexpr uint64_t kMinMemoryLimit = 1ull << 20;
constexpr uint64_t kMaxRepoFileBytes = 64ull << 20;  // feature_store.yaml
constexpr uint64_t kMaxFeastRegistryBytes = 256ull << 20;
Result<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes,
                                  const std::string& what);

constexpr std::string_view kTopKeys[] = {"project",        "online_store",  "entities",
                                         "sources",        "feature_views", "feature_services",
                                         "max_future_skew"};
constexpr std::string_view kOnlineStoreKeys[] = {"path",      "initial_capacity", "memory_limit",
                                                 "file_mode", "readers_mode",     "reader_grace_ms",
                                                 "owner"};
// Feast's feature_store.yaml (feast/repo_config.py, RepoConfig, v0.66): its keys, and Larder's
// max_future_skew. A file with any key of kFeastOnlyKeys is read as Feast's.
constexpr std::string_view kFeastTopKeys[] = {"project",
                                              "project_description",
                                              "provider",
                                              "registry",
                                              "online_store",
                                              "offline_store",
                                              "batch_engine",
                                              "feature_server",
                                              "auth",
                                              "flags",
                                              "repo_path",
                                              "entity_key_serialization_version",
                                              "coerce_tz_aware",
                                              "materialization",
                                              "openlineage",
                                              "mlflow",
                                              "embedding_model",
                                              "data_quality_monitoring",
                                              "max_future_skew",
                                              "go_feature_retrieval",
                                              "go_feature_serving"};
constexpr std::string_view kFeastOnlyKeys[] = {"provider",
                                               "registry",
                                               "offline_store",
                                               "batch_engine",
                                               "feature_server",
                                               "entity_key_serialization_version",
                                               "project_description",
                                               "repo_path",
                                               "flags",
                                               "auth"};
constexpr std::string_view kFeastOnlineStoreKeys[] = {
    "type",      "path",         "initial_capacity", "memory_limit",
    "file_mode", "readers_mode", "reader_grace_ms",  "owner"};
constexpr std::string_view kFeastRegistryKeys[] = {"path",
                                                   "registry_type",
                                                   "registry_store_type",
                                                   "cache_ttl_seconds",
                                                   "cache_mode",
                                                   "s3_additional_kwargs",
                                                   "purge_feast_metadata",
                                                   "enable_online_feature_view_versioning",
                                                   "mcp"};
// online_store.reader_grace_ms: from a millisecond (tests) to an hour.
constexpr uint64_t kMaxReaderGraceMs = 3'600'000;
constexpr std::string_view kEntityKeys[] = {"name",        "join_keys", "value_type",
                                            "description", "tags",      "owner"};
constexpr std::string_view kSourceKeys[] = {
    "name",        "type", "path", "timestamp_field", "created_timestamp_column", "batch_source",
    "description", "tags", "owner"};
constexpr std::string_view kViewKeys[] = {"name",   "entities",    "ttl",  "source", "online",
                                          "schema", "description", "tags", "owner"};
constexpr std::string_view kFieldKeys[] = {"name", "dtype"};
constexpr std::string_view kServiceKeys[] = {"name", "features", "description", "tags", "owner"};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsValidName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

bool IsValidProject(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string JoinKeyList(Keys keys) {
  std::string out;
  for (std::string_view k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// "entity #2" before the item's name is known.
std::string Nth(std::string_view kind, size_t index) {
  return std::string(kind) + " #" + std::to_string(index + 1);
}

std::string ResolvePath(const std::string& repo_dir, const std::string& path) {
  fs::path p(path);
  if (p.is_absolute() || repo_dir.empty()) return p.lexically_normal().string();
  return (fs::path(repo_dir) / p).lexically_normal().string();
}

// One key/value pair of a YAML map.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// The entries of one YAML map, in order, with unique string keys.
class Fields {
 public:
  Fields(YAML::Node map, std::vector<Entry> entries)
      : map_(std::move(map)), entries_(std::move(entries)) {}

  const YAML::Node& map() const { return map_; }
  const std::vector<Entry>& entries() const { return entries_; }
  // The entry for `key` when present, even with a null value, else nullptr.
  const Entry* FindKey(std::string_view key) const {
    for (const Entry& e : entries_) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
  // The entry for `key` when present with a non-null value, else nullptr.
  const Entry* Find(std::string_view key) const {
    const Entry* e = FindKey(key);
    return e == nullptr || e->value.IsNull() ? nullptr : e;
  }

 private:
  YAML::Node map_;
  std::vector<Entry> entries_;
};

// Names already defined in one namespace, with where they were defined.
using NameMarks = std::map<std::string, YAML::Mark, std::less<>>;

class Parser {
 public:
  Parser(std::string file, std::string repo_dir)
      : file_(std::move(file)), repo_dir_(std::move(repo_dir)) {}

  Result<RepoConfig> Parse(const std::string& text);

 private:
  // Errors.
  Status ErrorAt(const YAML::Mark& mark, const std::string& what) const;
  Status Error(const YAML::Node& node, const std::string& what) const {
    return ErrorAt(node.Mark(), what);
  }
  Status Wrap(const YAML::Node& node, const std::string& context, const Status& st) const {
    return Error(node, context + ": " + st.message());
  }

  // Generic readers.
  Result<Fields> ReadMap(const YAML::Node& node, const std::string& context) const;
  Status CheckKeys(const Fields& fields, Keys allowed, const std::string& context) const;
  Result<const Entry*> Require(const Fields& fields, std::string_view key,
                               const std::string& context) const;
  Result<std::string> ReadString(const Entry& entry, const std::string& context) const;
  Result<std::string> ReadName(const Entry& entry, const std::string& context) const;
  Result<std::string> RequireName(const Fields& fields, const std::string& kind,
                                  size_t index) const;
  Status ExpectSequence(const Entry& entry, const std::string& context) const;
  Result<std::vector<std::string>> ReadNameList(const Entry& entry,
                                                const std::string& context) const;
  Status ReadTags(const Entry& entry, const std::string& context, Tags* tags) const;
  Status ReadMetadata(const Fields& fields, const std::string& context, std::string* description,
                      Tags* tags, std::string* owner) const;
  Status CheckUnique(const YAML::Node& node, const std::string& kind, const std::string& name,
                     NameMarks* seen) const;
  Result<std::vector<YAML::Node>> ReadSection(const Fields& top, std::string_view key) const;

  // Sections.
  Status ParseProject(const Fields& top);
  Status ParseOnlineStore(const Fields& top, Keys allowed = kOnlineStoreKeys);

  // Feast's feature_store.yaml: the definitions come from the registry file it names.
  static bool IsFeastFormat(const Fields& top);
  Status ParseFeast(const Fields& top);
  Status ParseFeastOnlineStore(const Fields& top);
  Result<std::string> ReadFeastRegistryPath(const Fields& top) const;
  Result<uint64_t> ReadCapacity(const Entry& entry) const;
  Result<uint64_t> ReadMemoryLimit(const Entry& entry) const;
  Result<uint32_t> ReadFileMode(const Entry& entry) const;
  Result<uint32_t> ReadReaderGrace(const Entry& entry) const;

  Status ParseEntities(const Fields& top);
  Result<EntityDef> ParseEntity(const YAML::Node& node, size_t index) const;
  Status ParseValueType(const Entry& entry, const std::string& context, EntityDef* entity) const;

  Status ParseSources(const Fields& top);
  Result<SourceDef> ParseSource(const YAML::Node& node, size_t index);
  Status ParseFileSource(const Fields& fields, const std::string& context, SourceDef* src) const;
  Status ParsePushSource(const Fields& fields, const std::string& context, SourceDef* src);
  Status CheckBatchSources() const;

  Status ParseViews(const Fields& top);
  Result<FeatureViewDef> ParseView(const YAML::Node& node, size_t index) const;
  Status ParseViewEntities(const Entry& entry, const std::string& context,
                           FeatureViewDef* view) const;
  Status ParseViewSource(const Entry& entry, const std::string& context,
                         FeatureViewDef* view) const;
  Status ParseTtl(const Entry& entry, const std::string& context, FeatureViewDef* view) const;
  Status ParseOnline(const Entry& entry, const std::string& context, FeatureViewDef* view) const;
  Status ParseSchema(const Entry& entry, const std::string& context, FeatureViewDef* view) const;
  Status ParseField(const YAML::Node& node, const std::string& context, size_t index,
                    NameMarks* seen, FeatureViewDef* view) const;

  Status ParseServices(const Fields& top);
  Result<FeatureServiceDef> ParseService(const YAML::Node& node, size_t index) const;
  Result<FeatureServiceDef::Projection> ParseProjection(const YAML::Node& item,
                                                        const std::string& context) const;
  Result<const FeatureViewDef*> ReadViewRef(const YAML::Node& node,
                                            const std::string& context) const;
  Status ParseProjectionFeatures(const YAML::Node& list, const FeatureViewDef& view,
                                 const std::string& context,
                                 FeatureServiceDef::Projection* proj) const;

  std::string file_;
  std::string repo_dir_;
  RepoConfig config_;
  // Where each push source's batch_source value is, for the check after all sources are read.
  std::vector<YAML::Node> batch_source_nodes_;
};

Status Parser::ErrorAt(const YAML::Mark& mark, const std::string& what) const {
  int line = mark.is_null() ? 1 : mark.line + 1;
  int column = mark.is_null() ? 1 : mark.column + 1;
  return ConfigError(file_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                     what);
}

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

Result<Fields> Parser::ReadMap(const YAML::Node& node, const std::string& context) const {
  if (!node.IsMap()) {
    return Error(node, context + " must be a map, got " + KindName(node));
  }
  std::vector<Entry> entries;
  for (auto it = node.begin(); it != node.end(); ++it) {
    YAML::Node key = it->first;  // a copy: `it->first` lives in a temporary proxy
    if (!key.IsScalar()) {
      return Error(key, context + " has a key that is " + KindName(key) + ", not a string");
    }
    for (const Entry& e : entries) {
      if (e.key == key.Scalar()) {
        return Error(key, context + " has duplicate key " + Quote(e.key) + " (first at line " +
                              std::to_string(e.key_node.Mark().line + 1) + ")");
      }
    }
    entries.push_back(Entry{key.Scalar(), key, it->second});
  }
  return Fields(node, std::move(entries));
}

Status Parser::CheckKeys(const Fields& fields, Keys allowed, const std::string& context) const {
  for (const Entry& e : fields.entries()) {
    bool known = false;
    for (std::string_view k : allowed) known = known || k == e.key;
    if (!known) {
      return Error(e.key_node, "unknown key " + Quote(e.key) + " in " + context +
                                   " (allowed: " + JoinKeyList(allowed) + ")");
    }
  }
  return Status::Ok();
}

Result<const Entry*> Parser::Require(const Fields& fields, std::string_view key,
                                     const std::string& context) const {
  if (const Entry* e = fields.Find(key)) return e;
  if (const Entry* e = fields.FindKey(key)) {
    return Error(e->key_node, context + ": " + Quote(key) + " has no value");
  }
  return Error(fields.map(), context + " is missing required key " + Quote(key));
}

Result<std::string> Parser::ReadString(const Entry& entry, const std::string& context) const {
  if (!entry.value.IsScalar()) {
    return Error(entry.value, context + ": " + Quote(entry.key) + " must be a string, got " +
                                  KindName(entry.value));
  }
  return entry.value.Scalar();
}

Result<std::string> Parser::ReadName(const Entry& entry, const std::string& context) const {
  LARDER_ASSIGN_OR_RETURN(std::string name, ReadString(entry, context));
  if (!IsValidName(name)) {
    return Error(entry.value, context + ": invalid " + entry.key + " " + Quote(name) +
                                  " (use letters, digits and _)");
  }
  return name;
}

Result<std::string> Parser::RequireName(const Fields& fields, const std::string& kind,
                                        size_t index) const {
  LARDER_ASSIGN_OR_RETURN(const Entry* entry, Require(fields, "name", Nth(kind, index)));
  return ReadName(*entry, Nth(kind, index));
}

Status Parser::ExpectSequence(const Entry& entry, const std::string& context) const {
  if (entry.value.IsSequence()) return Status::Ok();
  return Error(entry.value,
               context + ": " + Quote(entry.key) + " must be a list, got " + KindName(entry.value));
}

Result<std::vector<std::string>> Parser::ReadNameList(const Entry& entry,
                                                      const std::string& context) const {
  LARDER_RETURN_IF_ERROR(ExpectSequence(entry, context));
  if (entry.value.size() == 0) {
    return Error(entry.value, context + ": " + Quote(entry.key) + " must not be empty");
  }
  std::vector<std::string> names;
  for (const YAML::Node& item : entry.value) {
    if (!item.IsScalar() || !IsValidName(item.Scalar())) {
      std::string shown = item.IsScalar() ? Quote(item.Scalar()) : KindName(item);
      return Error(item, context + ": invalid name " + shown + " in " + Quote(entry.key) +
                             " (use letters, digits and _)");
    }
    for (const std::string& n : names) {
      if (n == item.Scalar()) {
        return Error(item, context + ": " + Quote(n) + " appears twice in " + Quote(entry.key));
      }
    }
    names.push_back(item.Scalar());
  }
  return names;
}

Status Parser::ReadTags(const Entry& entry, const std::string& context, Tags* tags) const {
  LARDER_ASSIGN_OR_RETURN(Fields fields, ReadMap(entry.value, context + " tags"));
  for (const Entry& tag : fields.entries()) {
    if (!tag.value.IsScalar()) {
      return Error(tag.value, context + ": tag " + Quote(tag.key) + " must be a string, got " +
                                  KindName(tag.value));
    }
    (*tags)[tag.key] = tag.value.Scalar();
  }
  return Status::Ok();
}

Status Parser::ReadMetadata(const Fields& fields, const std::string& context,
                            std::string* description, Tags* tags, std::string* owner) const {
  if (const Entry* e = fields.Find("description")) {
    LARDER_ASSIGN_OR_RETURN(*description, ReadString(*e, context));
  }
  if (const Entry* e = fields.Find("owner")) {
    LARDER_ASSIGN_OR_RETURN(*owner, ReadString(*e, context));
  }
  if (const Entry* e = fields.Find("tags")) {
    LARDER_RETURN_IF_ERROR(ReadTags(*e, context, tags));
  }
  return Status::Ok();
}

Status Parser::CheckUnique(const YAML::Node& node, const std::string& kind, const std::string& name,
                           NameMarks* seen) const {
  auto [it, inserted] = seen->emplace(name, node.Mark());
  if (inserted) return Status::Ok();
  return Error(node, "duplicate " + kind + " name " + Quote(name) + " (first defined at line " +
                         std::to_string(it->second.line + 1) + ")");
}

// The `name` value of a list item that parsed successfully (so it is a map with a name).
YAML::Node NameNode(const YAML::Node& item) { return item["name"]; }

// A top-level list section; absent or null means empty.
Result<std::vector<YAML::Node>> Parser::ReadSection(const Fields& top, std::string_view key) const {
  std::vector<YAML::Node> items;
  const Entry* entry = top.Find(key);
  if (entry == nullptr) return items;
  LARDER_RETURN_IF_ERROR(ExpectSequence(*entry, "the top level"));
  for (const YAML::Node& item : entry->value) items.push_back(item);
  return items;
}

// --- project and online_store ----------------------------------------------------------------

Status Parser::ParseProject(const Fields& top) {
  LARDER_ASSIGN_OR_RETURN(const Entry* entry, Require(top, "project", "the top level"));
  LARDER_ASSIGN_OR_RETURN(config_.project, ReadString(*entry, "the top level"));
  if (!IsValidProject(config_.project)) {
    return Error(entry->value, "invalid project name " + Quote(config_.project) +
                                   " (use lowercase letters, digits and _)");
  }
  if (const Entry* skew = top.Find("max_future_skew")) {
    LARDER_ASSIGN_OR_RETURN(std::string text, ReadString(*skew, "the top level"));
    Result<int64_t> seconds = ParseDuration(text);
    if (!seconds.ok()) {
      return Error(skew->value,
                   "invalid max_future_skew " + Quote(text) + ": " + seconds.status().message());
    }
    config_.max_future_skew_seconds = *seconds;
  }
  return Status::Ok();
}

Result<uint64_t> Parser::ReadCapacity(const Entry& entry) const {
  LARDER_ASSIGN_OR_RETURN(std::string text, ReadString(entry, "online_store"));
  uint64_t number = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &number, &suffix) || !suffix.empty() || number < 1) {
    return Error(entry.value, "online_store: invalid initial_capacity " + Quote(text) +
                                  " (expected a whole number >= 1)");
  }
  return number;
}

Result<uint32_t> Parser::ReadReaderGrace(const Entry& entry) const {
  LARDER_ASSIGN_OR_RETURN(std::string text, ReadString(entry, "online_store"));
  uint64_t number = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &number, &suffix) || !suffix.empty() || number < 1 ||
      number > kMaxReaderGraceMs) {
    return Error(entry.value, "online_store: invalid reader_grace_ms " + Quote(text) +
                                  " (expected whole milliseconds from 1 to " +
                                  std::to_string(kMaxReaderGraceMs) + ")");
  }
  return static_cast<uint32_t>(number);
}

Result<uint64_t> Parser::ReadMemoryLimit(const Entry& entry) const {
  LARDER_ASSIGN_OR_RETURN(std::string text, ReadString(entry, "online_store"));
  Result<uint64_t> bytes = ParseByteSize(text);
  if (!bytes.ok()) return Wrap(entry.value, "online_store: memory_limit", bytes.status());
  if (*bytes < kMinMemoryLimit) {
    return Error(entry.value,
                 "online_store: memory_limit " + Quote(text) + " is below the minimum of 1MiB");
  }
  return *bytes;
}

// An octal file mode ("0640" or 640) that leaves the owner read-write.
Result<uint32_t> Parser::ReadFileMode(const Entry& entry) const {
  LARDER_ASSIGN_OR_RETURN(std::string text, ReadString(entry, "online_store"));
  uint32_t mode = 0;
  bool ok = !text.empty() && text.size() <= 4;
  for (char c : text) {
    ok = ok && c >= '0' && c <= '7';
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  if (!ok || (mode & 0600) != 0600) {
    return Error(entry.value, "online_store: invalid " + entry.key + " " + Quote(text) +
                                  " (expected octal permission bits such as \"0640\", with owner "
                                  "read and write)");
  }
  return mode;
}

Status Parser::ParseOnlineStore(const Fields& top, Keys allowed) {
  OnlineStoreConfig& store = config_.online_store;
  store.path = "/dev/shm/larder-" + config_.project;
  const Entry* section = top.Find("online_store");
  if (section == nullptr) return Status::Ok();
  LARDER_ASSIGN_OR_RETURN(Fields fields, ReadMap(section->value, "online_store"));
  LARDER_RETURN_IF_ERROR(CheckKeys(fields, allowed, "online_store"));
  if (const Entry* e = fields.Find("path")) {
    LARDER_ASSIGN_OR_RETURN(std::string path, ReadString(*e, "online_store"));
    if (path.empty()) return Error(e->value, "online_store: 'path' must not be empty");
    store.path = ResolvePath(repo_dir_, path);
  }
  if (const Entry* e = fields.Find("initial_capacity")) {
    LARDER_ASSIGN_OR_RETURN(store.initial_capacity, ReadCapacity(*e));
  }
  if (const Entry* e = fields.Find("memory_limit")) {
    LARDER_ASSIGN_OR_RETURN(store.memory_limit, ReadMemoryLimit(*e));
  }
  if (const Entry* e = fields.Find("file_mode")) {
    LARDER_ASSIGN_OR_RETURN(store.file_mode, ReadFileMode(*e));
  }
  if (const Entry* e = fields.Find("readers_mode")) {
    LARDER_ASSIGN_OR_RETURN(store.readers_mode, ReadFileMode(*e));
  }
  if (const Entry* e = fields.Find("reader_grace_ms")) {
    LARDER_ASSIGN_OR_RETURN(store.reader_grace_ms, ReadReaderGrace(*e));
  }
  if (const Entry* e = fields.Find("owner")) {
    // Resolved where it is used: the user need not exist where the repo is only parsed.
    LARDER_ASSIGN_OR_RETURN(store.owner, ReadString(*e, "online_store"));
    if (store.owner.empty()) return Error(e->value, "online_store: 'owner' must not be empty");
  }
  return Status::Ok();
}

// --- entities --------------------------------------------------------------------------------

Status Parser::ParseValueType(const Entry& entry, const std::string& context,
                              EntityDef* entity) const {
  LARDER_ASSIGN_OR_RETURN(std::string text, ReadString(entry, context));
  Result<DType> dtype = ParseDType(text);
  bool ok = dtype.ok() && !dtype->is_array;
  if (ok) {
    ScalarType t = dtype->scalar;
    ok = t == ScalarType::kInt32 || t == ScalarType::kInt64 || t == ScalarType::kString ||
         t == ScalarType::kBytes;
  }
  if (!ok) {
    return Error(entry.value, context + ": invalid value_type " + Quote(text) +
                                  " (expected Int32, Int64, String or Bytes)");
  }
  entity->value_type = dtype->scalar;
  return Status::Ok();
}

Result<EntityDef> Parser::ParseEntity(const YAML::Node& node, size_t index) const {
  LARDER_ASSIGN_OR_RETURN(Fields fields, ReadMap(node, Nth("entity", index)));
  EntityDef entity;
  LARDER_ASSIGN_OR_RETURN(entity.name, RequireName(fields, "entity", index));
  const std::string context = "entity " + Quote(entity.name);
  LARDER_RETURN_IF_ERROR(CheckKeys(fields, kEntityKeys, context));
  entity.join_keys = {entity.name};
  if (const Entry* e = fields.Find("join_keys")) {
    LARDER_ASSIGN_OR_RETURN(entity.join_keys, ReadNameList(*e, context));
  }
  if (const Entry* e = fields.Find("value_type")) {
    LARDER_RETURN_IF_ERROR(ParseValueType(*e, context, &entity));
  }
  LARDER_RETURN_IF_ERROR(
      ReadMetadata(fields, context, &entity.description, &entity.tags, &entity.owner));
  return entity;
}

Status Parser::ParseEntities(const Fields& top) {
  LARDER_ASSIGN_OR_RETURN(std::vector<YAML::Node> items, ReadSection(top, "entities"));
  NameMarks seen;
  for (size_t i = 0; i < items.size(); ++i) {
    LARDER_ASSIGN_OR_RETURN(EntityDef entity, ParseEntity(items[i], i));
    LARDER_RETURN_IF_ERROR(CheckUnique(NameNode(items[i]), "entity", entity.name, &seen));
    config_.entities.push_back(std::move(entity));
  }
  return Status::Ok();
}

// --- sources ---------------------------------------------------------------------------------

Status Parser::ParseFileSource(const Fields& fields, const std::string& context,
                               SourceDef* src) const {
  if (const Entry* e = fields.FindKey("batch_source")) {
    return Error(e->key_node, context + ": 'batch_source' is only allowed for push sources");
  }
  LARDER_ASSIGN_OR_RETURN(const Entry* path, Require(fields, "path", context));
  LARDER_ASSIGN_OR_RETURN(src->path, ReadString(*path, context));
  if (src->path.empty()) return Error(path->value, context + ": 'path' must not be empty");
  src->resolved_path = ResolvePath(repo_dir_, src->path);
  LARDER_ASSIGN_OR_RETURN(const Entry* ts, Require(fields, "timestamp_field", context));
  LARDER_ASSIGN_OR_RETURN(src->timestamp_field, ReadName(*ts, context));
  if (const Entry* e = fields.Find("created_timestamp_column")) {
    LARDER_ASSIGN_OR_RETURN(src->created_timestamp_column, ReadName(*e, context));
  }
  return Status::Ok();
}

Status Parser::ParsePushSource(const Fields& fields, const std::string& context, SourceDef* src) {
  for (std::string_view key : {"path", "timestamp_field", "created_timestamp_column"}) {
    if (const Entry* e = fields.FindKey(key)) {
      return Error(e->key_node, context + ": " + Quote(key) +
                                    " is not allowed for a push source (it takes it from its "
                                    "batch_source)");
    }
  }
  const Entry* batch = fields.Find("batch_source");
  if (batch == nullptr) {
    return Error(fields.map(),
                 "A batch_source needs to be specified for push source " + Quote(src->name));
  }
  LARDER_ASSIGN_OR_RETURN(src->batch_source, ReadName(*batch, context));
  batch_source_nodes_.push_back(batch->value);
  return Status::Ok();
}

Result<SourceDef> Parser::ParseSource(const YAML::Node& node, size_t index) {
  LARDER_ASSIGN_OR_RETURN(Fields fields, ReadMap(node, Nth("source", index)));
  SourceDef src;
  LARDER_ASSIGN_OR_RETURN(src.name, RequireName(fields, "source", index));
  std::string context = "source " + Quote(src.name);
  LARDER_RETURN_IF_ERROR(CheckKeys(fields, kSourceKeys, context));
  LARDER_ASSIGN_OR_RETURN(const Entry* type_entry, Require(fields, "type", context));
  LARDER_ASSIGN_OR_RETURN(std::string type, ReadString(*type_entry, context));
  if (type == "file") {
    src.kind = SourceKind::kFile;
    LARDER_RETURN_IF_ERROR(ParseFileSource(fields, context, &src));
  } else if (type == "push") {
    src.kind = SourceKind::kPush;
    LARDER_RETURN_IF_ERROR(ParsePushSource(fields, "push " + context, &src));
  } else {
    return Error(type_entry->value,
                 context + ": unknown source type " + Quote(type) + " (expected file or push)");
  }
  LARDER_RETURN_IF_ERROR(ReadMetadata(fields, context, &src.description, &src.tags, &src.owner));
  return src;
}

Status Parser::CheckBatchSources() const {
  size_t push_index = 0;
  for (const SourceDef& src : config_.sources) {
    if (src.kind != SourceKind::kPush) continue;
    const YAML::Node& at = batch_source_nodes_[push_index++];
    const SourceDef* batch = config_.FindSource(src.batch_source);
    std::string context = "push source " + Quote(src.name);
    if (batch == nullptr) {
      return Error(at, context + " names unknown batch source " + Quote(src.batch_source));
    }
    if (batch->kind != SourceKind::kFile) {
      return Error(at, context + ": batch source " + Quote(src.batch_source) +
                           " must be a file source, not a push source");
    }
  }
  return Status::Ok();
}

Status Parser::ParseSources(const Fields& top) {
  LARDER_ASSIGN_OR_RETURN(std::vector<YAML::Node> items, ReadSection(top, "sources"));
  NameMarks seen;
  for (size_t i = 0; i < items.size(); ++i) {
    LARDER_ASSIGN_OR_RETURN(SourceDef src, ParseSource(items[i], i));
    LARDER_RETURN_IF_ERROR(CheckUnique(NameNode(items[i]), "source", src.name, &seen));
    config_.sources.push_back(std::move(src));
  }
  return CheckBatchSources();
}

// --- feature views ---------------------------------------------------------------------------

Status Parser::ParseViewEntities(const Entry& entry, const std::string& context,
                                 FeatureViewDef* view) const {
  LARDER_ASSIGN_OR_RETURN(view->entities, ReadNameList(entry, context));
  size_t index = 0;
  for (const YAML::Node& item : entry.value) {
    const EntityDef* entity = config_.FindEntity(view->entities[index++]);
    if (entity == nullptr) {
      return Error(item, context + " names unknown entity " + Quote(item.Scalar()));
    }
    for (const std::string& key : entity->join_keys) {
      for (const JoinKeyDef& existing : view->join_keys) {
        if (existing.name == key) {
          return Error(item, context + ": join key " + Quote(key) + " of entity " +
                                 Quote(entity->name) +
                                 " is already a join key of another of "
                                 "its entities");
        }
      }
      view->join_keys.push_back(JoinKeyDef{key, entity->value_type});
    }
  }
  return Status::Ok();
}

Status Parser::ParseViewSource(const Entry& entry, const std::string& context,
                               FeatureViewDef* view) const {
  LARDER_ASSIGN_OR_RETURN(view->source, ReadName(entry, context));
  if (config_.FindSource(view->source) == nullptr) {
    return Error(entry.value, context + " names unknown source " + Quote(view->source));
  }
  return Status::Ok();
}

Status Parser::ParseTtl(const Entry& entry, const std::string& context,
                        FeatureViewDef* view) const {
  LARDER_ASSIGN_OR_RETURN(std::string text, ReadString(entry, context));
  Result<int64_t> ttl = ParseDuration(text);
  if (!ttl.ok()) return Wrap(entry.value, context + ": ttl", ttl.status());
  view->ttl_seconds = *ttl;
  return Status::Ok();
}

Status Parser::ParseOnline(const Entry& entry, const std::string& context,
                           FeatureViewDef* view) const {
  bool online = true;
  if (!entry.value.IsScalar() || !YAML::convert<bool>::decode(entry.value, online)) {
    std::string shown = entry.value.IsScalar() ? Quote(entry.value.Scalar()) : "a non-scalar";
    return Error(entry.value, context + ": 'online' must be true or false, got " + shown);
  }
  view->online = online;
  return Status::Ok();
}

Status Parser::ParseField(const YAML::Node& node, const std::string& context, size_t index,
                          NameMarks* seen, FeatureViewDef* view) const {
  std::string field_context = context + " schema field #" + std::to_string(index + 1);
  LARDER_ASSIGN_OR_RETURN(Fields fields, ReadMap(node, field_context));
  LARDER_RETURN_IF_ERROR(CheckKeys(fields, kFieldKeys, field_context));
  LARDER_ASSIGN_OR_RETURN(const Entry* name_entry, Require(fields, "name", field_context));
  LARDER_ASSIGN_OR_RETURN(std::string name, ReadName(*name_entry, field_context));
  field_context = context + " field " + Quote(name);
  if (auto [it, inserted] = seen->emplace(name, name_entry->value.Mark()); !inserted) {
    return Error(name_entry->value, context + " declares field " + Quote(name) +
                                        " twice (first at line " +
                                        std::to_string(it->second.line + 1) + ")");
  }
  LARDER_ASSIGN_OR_RETURN(const Entry* dtype_entry, Require(fields, "dtype", field_context));
  LARDER_ASSIGN_OR_RETURN(std::string dtype_text, ReadString(*dtype_entry, field_context));
  Result<DType> dtype = ParseDType(dtype_text);
  if (!dtype.ok()) return Wrap(dtype_entry->value, field_context, dtype.status());
  for (const JoinKeyDef& key : view->join_keys) {
    if (key.name != name) continue;
    if (*dtype != DType{key.type, false}) {
      return Error(dtype_entry->value, field_context + " is a join key of type " +
                                           ScalarTypeName(key.type) + " but is declared " +
                                           Quote(dtype_text));
    }
    return Status::Ok();  // declares the key's column; not a feature
  }
  view->features.push_back(FieldDef{name, *dtype});
  return Status::Ok();
}

Status Parser::ParseSchema(const Entry& entry, const std::string& context,
                           FeatureViewDef* view) const {
  LARDER_RETURN_IF_ERROR(ExpectSequence(entry, context));
  NameMarks seen;
  size_t index = 0;
  for (const YAML::Node& item : entry.value) {
    LARDER_RETURN_IF_ERROR(ParseField(item, context, index++, &seen, view));
  }
  if (view->features.empty()) {
    return Error(entry.value, context + " has no features (its schema declares only join keys)");
  }
  return Status::Ok();
}

Result<FeatureViewDef> Parser::ParseView(const YAML::Node& node, size_t index) const {
  LARDER_ASSIGN_OR_RETURN(Fields fields, ReadMap(node, Nth("feature view", index)));
  FeatureViewDef view;
  LARDER_ASSIGN_OR_RETURN(view.name, RequireName(fields, "feature view", index));
  const std::string context = "feature view " + Quote(view.name);
  LARDER_RETURN_IF_ERROR(CheckKeys(fields, kViewKeys, context));
  LARDER_ASSIGN_OR_RETURN(const Entry* entities, Require(fields, "entities", context));
  LARDER_RETURN_IF_ERROR(ParseViewEntities(*entities, context, &view));
  LARDER_ASSIGN_OR_RETURN(const Entry* source, Require(fields, "source", context));
  LARDER_RETURN_IF_ERROR(ParseViewSource(*source, context, &view));
  if (const Entry* e = fields.Find("ttl")) LARDER_RETURN_IF_ERROR(ParseTtl(*e, context, &view));
  if (const Entry* e = fields.Find("online")) {
    LARDER_RETURN_IF_ERROR(ParseOnline(*e, context, &view));
  }
  LARDER_ASSIGN_OR_RETURN(const Entry* schema, Require(fields, "schema", context));
  LARDER_RETURN_IF_ERROR(ParseSchema(*schema, context, &view));
  LARDER_RETURN_IF_ERROR(ReadMetadata(fields, context, &view.description, &view.tags, &view.owner));
  return view;
}

Status Parser::ParseViews(const Fields& top) {
  LARDER_ASSIGN_OR_RETURN(std::vector<YAML::Node> items, ReadSection(top, "feature_views"));
  NameMarks seen;
  for (size_t i = 0; i < items.size(); ++i) {
    LARDER_ASSIGN_OR_RETURN(FeatureViewDef view, ParseView(items[i], i));
    LARDER_RETURN_IF_ERROR(CheckUnique(NameNode(items[i]), "feature view", view.name, &seen));
    config_.views.push_back(std::move(view));
  }
  return Status::Ok();
}

// --- feature services ------------------------------------------------------------------------

Result<const FeatureViewDef*> Parser::ReadViewRef(const YAML::Node& node,
                                                  const std::string& context) const {
  if (!node.IsScalar()) {
    return Error(node, context + ": expected a feature view name, got " + KindName(node));
  }
  const FeatureViewDef* view = config_.FindView(node.Scalar());
  if (view == nullptr) {
    return Error(node, context + " names unknown feature view " + Quote(node.Scalar()));
  }
  return view;
}

Status Parser::ParseProjectionFeatures(const YAML::Node& list, const FeatureViewDef& view,
                                       const std::string& context,
                                       FeatureServiceDef::Projection* proj) const {
  if (!list.IsSequence() || list.size() == 0) {
    return Error(list, context + ": the features of " + Quote(view.name) +
                           " must be a non-empty list (name the view alone for all of them)");
  }
  for (const YAML::Node& item : list) {
    if (!item.IsScalar()) {
      return Error(item, context + ": expected a feature name, got " + KindName(item));
    }
    const std::string& name = item.Scalar();
    if (FindByName(view.features, name) == nullptr) {
      return Error(item, context + " names unknown feature " + Quote(name) + " of feature view " +
                             Quote(view.name));
    }
    for (const std::string& f : proj->features) {
      if (f == name) return Error(item, context + ": feature " + Quote(name) + " listed twice");
    }
    proj->features.push_back(name);
  }
  return Status::Ok();
}

Result<FeatureServiceDef::Projection> Parser::ParseProjection(const YAML::Node& item,
                                                              const std::string& context) const {
  FeatureServiceDef::Projection proj;
  if (item.IsScalar()) {
    LARDER_ASSIGN_OR_RETURN(const FeatureViewDef* view, ReadViewRef(item, context));
    proj.view = view->name;
    return proj;
  }
  if (!item.IsMap() || item.size() != 1) {
    return Error(item, context +
                           ": each feature item must be a view name or a single-key map "
                           "{view: [feature, ...]}");
  }
  YAML::Node view_node = item.begin()->first;
  YAML::Node features = item.begin()->second;
  LARDER_ASSIGN_OR_RETURN(const FeatureViewDef* view, ReadViewRef(view_node, context));
  proj.view = view->name;
  LARDER_RETURN_IF_ERROR(ParseProjectionFeatures(features, *view, context, &proj));
  return proj;
}

// Adds `proj`, merging it into an earlier projection of the same view: the whole view wins over
// a subset, and subsets are united in first-mention order. A service then names each view once.
void MergeProjection(FeatureServiceDef::Projection proj,
                     std::vector<FeatureServiceDef::Projection>* projections) {
  for (FeatureServiceDef::Projection& p : *projections) {
    if (p.view != proj.view) continue;
    if (p.features.empty()) return;
    if (proj.features.empty()) {
      p.features.clear();
      return;
    }
    for (std::string& f : proj.features) {
      if (std::find(p.features.begin(), p.features.end(), f) == p.features.end()) {
        p.features.push_back(std::move(f));
      }
    }
    return;
  }
  projections->push_back(std::move(proj));
}

Result<FeatureServiceDef> Parser::ParseService(const YAML::Node& node, size_t index) const {
  LARDER_ASSIGN_OR_RETURN(Fields fields, ReadMap(node, Nth("feature service", index)));
  FeatureServiceDef service;
  LARDER_ASSIGN_OR_RETURN(service.name, RequireName(fields, "feature service", index));
  const std::string context = "feature service " + Quote(service.name);
  LARDER_RETURN_IF_ERROR(CheckKeys(fields, kServiceKeys, context));
  LARDER_ASSIGN_OR_RETURN(const Entry* features, Require(fields, "features", context));
  LARDER_RETURN_IF_ERROR(ExpectSequence(*features, context));
  if (features->value.size() == 0) {
    return Error(features->value, context + ": 'features' must not be empty");
  }
  for (const YAML::Node& item : features->value) {
    LARDER_ASSIGN_OR_RETURN(FeatureServiceDef::Projection proj, ParseProjection(item, context));
    MergeProjection(std::move(proj), &service.projections);
  }
  LARDER_RETURN_IF_ERROR(
      ReadMetadata(fields, context, &service.description, &service.tags, &service.owner));
  return service;
}

Status Parser::ParseServices(const Fields& top) {
  LARDER_ASSIGN_OR_RETURN(std::vector<YAML::Node> items, ReadSection(top, "feature_services"));
  NameMarks seen;
  for (size_t i = 0; i < items.size(); ++i) {
    LARDER_ASSIGN_OR_RETURN(FeatureServiceDef service, ParseService(items[i], i));
    LARDER_RETURN_IF_ERROR(CheckUnique(NameNode(items[i]), "feature service", service.name, &seen));
    config_.services.push_back(std::move(service));
  }
  return Status::Ok();
}

// --- Feast's feature_store.yaml ----------------------------------------------------------------

bool Parser::IsFeastFormat(const Fields& top) {
  for (std::string_view key : kFeastOnlyKeys) {
    if (top.FindKey(key) != nullptr) return true;
  }
  // `online_store: {type: ...}` is Feast's; a scalar online_store (also Feast's) is left to the
  // check of Larder's format, which names it as a mistake, unless a Feast-only key is present.
  const Entry* online = top.Find("online_store");
  return online != nullptr && online->value.IsMap() && online->value["type"];
}

// `online_store: larder`, `{type: larder, <Larder's online_store keys>}`, or no section (the
// defaults). Another Feast online store type is refused: this file is being served by Larder.
Status Parser::ParseFeastOnlineStore(const Fields& top) {
  const Entry* section = top.Find("online_store");
  if (section == nullptr) return ParseOnlineStore(top, kFeastOnlineStoreKeys);  // the defaults
  const YAML::Node& value = section->value;
  const YAML::Node type = value.IsMap() ? value["type"] : value;
  if (!type) {
    // Feast reads a map without a type as its default store, SQLite (`feast init` wrote
    // `online_store: {path: data/online_store.db}` before 0.30): not a place for a segment.
    return Error(value,
                 "online_store: a Feast online_store without a type is the provider's default "
                 "store (SQLite for provider local); set 'type: larder' (or remove the "
                 "online_store section) to serve this repo from Larder");
  }
  if (!type.IsScalar() || type.Scalar() != "larder") {
    std::string shown = type.IsScalar() ? Quote(type.Scalar()) : KindName(type);
    return Error(type, "online_store: type " + shown +
                           " is another Feast online store; set 'type: larder' (or remove the "
                           "online_store section) to serve this repo from Larder");
  }
  if (value.IsScalar()) {  // `online_store: larder`: the defaults
    config_.online_store.path = "/dev/shm/larder-" + config_.project;
    return Status::Ok();
  }
  return ParseOnlineStore(top, kFeastOnlineStoreKeys);
}

// The registry file: `registry: PATH` or `registry: {path: PATH, registry_type: file, ...}`
// (Feast's default: data/registry.db), relative paths against the repo directory, as Feast
// resolves them. Remote and SQL registries are refused.
Result<std::string> Parser::ReadFeastRegistryPath(const Fields& top) const {
  std::string path = "data/registry.db";
  const Entry* entry = top.Find("registry");
  YAML::Node at = top.map();
  if (entry != nullptr && entry->value.IsMap()) {
    LARDER_ASSIGN_OR_RETURN(Fields fields, ReadMap(entry->value, "registry"));
    LARDER_RETURN_IF_ERROR(CheckKeys(fields, kFeastRegistryKeys, "registry"));
    if (const Entry* t = fields.Find("registry_type")) {
      LARDER_ASSIGN_OR_RETURN(std::string type, ReadString(*t, "registry"));
      if (type != "file") {
        return Error(t->value, "registry: registry_type " + Quote(type) +
                                   " is not supported (Larder reads a local registry file: "
                                   "registry_type: file)");
      }
    }
    if (const Entry* t = fields.Find("registry_store_type")) {
      LARDER_ASSIGN_OR_RETURN(std::string store, ReadString(*t, "registry"));
      // Feast's names for its local file store (feast/infra/registry/registry.py).
      if (store != "FileRegistryStore" && store != "feast.infra.registry.file.FileRegistryStore") {
        return Error(t->value, "registry: registry_store_type " + Quote(store) +
                                   " is not a local file (Larder reads the registry from a "
                                   "local path)");
      }
    }
    LARDER_ASSIGN_OR_RETURN(const Entry* p, Require(fields, "path", "registry"));
    LARDER_ASSIGN_OR_RETURN(path, ReadString(*p, "registry"));
    at = p->value;
  } else if (entry != nullptr) {
    LARDER_ASSIGN_OR_RETURN(path, ReadString(*entry, "the top level"));
    at = entry->value;
  }
  if (path.rfind("file://", 0) == 0) path = path.substr(7);
  if (path.empty() || path.find("://") != std::string::npos) {
    return Error(at, "registry: " + Quote(path) +
                         " is not a local file (Larder reads the registry from a local path)");
  }
  return ResolvePath(repo_dir_, path);
}

Status Parser::ParseFeast(const Fields& top) {
  LARDER_RETURN_IF_ERROR(CheckKeys(top, kFeastTopKeys, "the top level"));
  LARDER_RETURN_IF_ERROR(ParseProject(top));
  LARDER_RETURN_IF_ERROR(ParseFeastOnlineStore(top));
  LARDER_ASSIGN_OR_RETURN(std::string registry, ReadFeastRegistryPath(top));
  config_.repo_dir = repo_dir_;
  LARDER_ASSIGN_OR_RETURN(std::string bytes,
                          ReadWholeFile(registry, kMaxFeastRegistryBytes, "the Feast registry"));
  return ImportFeastRegistry(bytes, registry, &config_);
}

// --- the document ----------------------------------------------------------------------------

// Where the documents of a YAML stream start (the mark of each document's first node, or of the
// document itself when it has none), at most `max` of them. yaml-cpp 0.7's LoadAll() never
// returns on some malformed input (a stray ',' at the top level yields empty documents forever
// without consuming it), so documents are counted with a bounded event parse.
struct DocStart {
  YAML::Mark doc;
  YAML::Mark node;
};
std::vector<DocStart> DocumentStarts(const std::string& text, size_t max) {
  struct Starts : YAML::EventHandler {
    std::vector<DocStart> docs;
    bool want_node = false;
    void Node(const YAML::Mark& m) {
      if (want_node) docs.back().node = m;
      want_node = false;
    }
    void OnDocumentStart(const YAML::Mark& m) override {
      docs.push_back({m, m});
      want_node = true;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { Node(m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { Node(m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  const std::string&) override {
      Node(m);
    }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
      Node(m);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
      Node(m);
    }
    void OnMapEnd() override {}
  } starts;
  std::istringstream in(text);
  YAML::Parser parser(in);
  while (starts.docs.size() < max && parser.HandleNextDocument(starts)) {
  }
  return starts.docs;
}

Result<RepoConfig> Parser::Parse(const std::string& text) {
  std::vector<DocStart> starts = DocumentStarts(text, 2);
  if (starts.empty()) return ErrorAt(YAML::Mark::null_mark(), "the file is empty");
  if (starts.size() > 1) {
    if (starts[1].doc.pos == starts[0].doc.pos) {
      return ErrorAt(starts[1].doc,
                     "YAML syntax error: unexpected text at the start of a document");
    }
    return ErrorAt(starts[1].node, "expected one YAML document, found more");
  }
  YAML::Node doc = YAML::Load(text);
  LARDER_ASSIGN_OR_RETURN(Fields top, ReadMap(doc, "the top level"));
  if (IsFeastFormat(top)) {
    LARDER_RETURN_IF_ERROR(ParseFeast(top));
    return std::move(config_);
  }
  LARDER_RETURN_IF_ERROR(CheckKeys(top, kTopKeys, "the top level"));
  LARDER_RETURN_IF_ERROR(ParseProject(top));
  LARDER_RETURN_IF_ERROR(ParseOnlineStore(top));
  LARDER_RETURN_IF_ERROR(ParseEntities(top));
  LARDER_RETURN_IF_ERROR(ParseSources(top));
  LARDER_RETURN_IF_ERROR(ParseViews(top));
  LARDER_RETURN_IF_ERROR(ParseServices(top));
  config_.repo_dir = repo_dir_;
  return std::move(config_);
}

// A regular file's bytes, at most `max_bytes` (a FIFO or device named here is refused, not
// waited on). `what` names the file in messages ("the Feast registry").
Result<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes,
                                  const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return ConfigError(path + ": cannot open " + what + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return ConfigError(path + ": " + what + " is not a regular file of at most " +
                       std::to_string(max_bytes >> 20) + " MiB");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ConfigError(path + ": cannot read " + what + ": " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_bytes) break;
  }
  // Feast rewrites its registry in place: bytes read while it was being written could parse
  // as a shorter registry, and an apply would then drop views. A file that changed is refused.
  struct stat after {};
  const bool changed = ::fstat(fd, &after) != 0 || after.st_size != st.st_size ||
                       after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
                       after.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
                       text.size() != static_cast<uint64_t>(st.st_size);
  ::close(fd);
  if (changed) return ConfigError(path + ": " + what + " changed while it was read; try again");
  return text;
}

}  // namespace

Result<RepoConfig> ParseRepoConfig(const std::string& yaml_text, const std::string& file_name,
                                   const std::string& repo_dir) {
  try {
    Parser parser(file_name, repo_dir);
    return parser.Parse(yaml_text);
  } catch (const YAML::Exception& e) {
    const YAML::Mark& m = e.mark;
    std::string pos =
        m.is_null() ? "1:1" : std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    return ConfigError(file_name + ":" + pos + ": YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    return ConfigError(file_name + ": cannot parse: " + e.what());
  }
}

Result<RepoConfig> LoadRepoConfig(const std::string& repo_dir) {
  std::string path = repo_dir + "/feature_store.yaml";
  LARDER_ASSIGN_OR_RETURN(std::string text,
                          ReadWholeFile(path, kMaxRepoFileBytes, "the repo file"));
  // The registry stores the repo directory canonical, so `--repo gen` and `cd gen; larder
  // apply` describe the same repo (and an apply of an unchanged repo changes nothing).
  // Messages keep the path as typed.
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(repo_dir, ec);
  return ParseRepoConfig(text, path, ec ? repo_dir : canonical.string());
}

}  // namespace larder
