// The feature repo's model: what feature_store.yaml declares and what the segment's registry
// stores. One struct serves both; the segment adds view ids and materialization intervals.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "larder/status.h"
#include "larder/types.h"

namespace larder {

using Tags = std::map<std::string, std::string>;

struct EntityDef {
  std::string name;
  std::vector<std::string> join_keys;  // exactly as declared; default {name}
  ScalarType value_type = ScalarType::kInt64;  // Int32 | Int64 | String | Bytes
  std::string description;
  Tags tags;
  std::string owner;
};

// kExternal: a source imported from a Feast registry that Larder cannot read (BigQuery, Kafka, a
// remote file, ...): views may name it (or a push source over it), and reading it (materialize,
// offline pushes, historical retrieval) is an error naming what it is.
enum class SourceKind : uint8_t { kFile = 1, kPush = 2, kExternal = 3 };

struct SourceDef {
  std::string name;
  SourceKind kind = SourceKind::kFile;
  // kFile: CSV path as written in the YAML, and resolved against the repo directory.
  std::string path;
  std::string resolved_path;
  std::string timestamp_field;           // kFile: required
  std::string created_timestamp_column;  // kFile: optional ("" = none)
  // kPush: the batch source's name (required).
  std::string batch_source;
  // kExternal: what the source is, for messages ("a BigQuery source (Feast BATCH_BIGQUERY)").
  std::string external_type;
  std::string description;
  Tags tags;
  std::string owner;
};

struct FieldDef {
  std::string name;
  DType dtype;
  // Where the store keeps this feature in the view's rows: its position in the row vector of
  // its storage class, and its bit in the row's null bitmap. Assigned by apply (like a view's
  // id) and kept across compatible schema changes, so rows written before a feature was added
  // or removed read the same. -1: not assigned (a repo read from its files).
  int32_t slot = -1;
  int32_t null_bit = -1;
  friend bool operator==(const FieldDef&, const FieldDef&) = default;
};

// A join key column of a view, in the view's key order (entities in declared order, then each
// entity's join keys in declared order).
struct JoinKeyDef {
  std::string name;
  ScalarType type = ScalarType::kInt64;
  friend bool operator==(const JoinKeyDef&, const JoinKeyDef&) = default;
};

struct FeatureViewDef {
  std::string name;
  std::vector<std::string> entities;
  int64_t ttl_seconds = 0;  // 0 = features never expire
  std::string source;       // a push source or a file source
  bool online = true;
  std::vector<FieldDef> features;  // schema fields that are not join keys, in declared order
  // Features removed by earlier applies while the view kept its rows (assigned by the store):
  // their slots and null bits stay reserved, since rows written before the removal still hold
  // their values, so a feature added later never reads them.
  std::vector<FieldDef> retired_features;
  // Set by the store once a feature has been added or removed while the view kept its rows:
  // the registry then stores the view's layout in the form older builds refuse (see
  // layout/registry.fbs, View.placed_features), since they would misjudge rows written before.
  bool layout_evolved = false;
  std::vector<JoinKeyDef> join_keys;  // derived from entities (filled by the parser)
  std::string description;
  Tags tags;
  std::string owner;
  // Assigned by the store: unique for the life of a segment, never reused, so a re-created view
  // can never see its predecessor's rows. 0 = not yet assigned.
  uint32_t id = 0;
};

struct FeatureServiceDef {
  struct Projection {
    std::string view;
    std::vector<std::string> features;  // empty = every feature of the view
  };
  std::string name;
  std::vector<Projection> projections;
  std::string description;
  Tags tags;
  std::string owner;
};

struct OnlineStoreConfig {
  std::string path;                     // default /dev/shm/larder-<project>
  uint64_t initial_capacity = 100000;   // entity rows the first index is sized for
  uint64_t memory_limit = 1ull << 30;   // the segment's size ceiling in bytes
  // Modes of the files apply creates (and sets on existing ones), octal in the YAML
  // (file_mode: "0640"): the segment and its lock file, and the reader table, which readers
  // write (they claim slots in it). Readers need only group read on the segment.
  uint32_t file_mode = 0640;
  uint32_t readers_mode = 0660;
  // How long a reader may hold one epoch inside one lookup before a writer that needs the
  // memory withdraws its hold and the reader reads again (docs/design.md, "Withdrawn holds").
  uint32_t reader_grace_ms = 1000;
  // The user (name, or decimal uid) who owns the store's files, when readers run as other users:
  // they trust a segment owned by themselves, root, or this user, and nobody else's (one created
  // at the path by someone else is refused). `apply` refuses to run as any other user. "": the
  // user of each process.
  std::string owner;
};

// A definition of an imported Feast repo that Larder cannot serve (an on-demand feature view, a
// view of a type Larder cannot store, a service reading one): kept by name so that a request
// for it is refused with the reason, not as an unknown name.
struct UnservableDef {
  enum class Kind : uint8_t { kView = 1, kService = 2 };
  Kind kind = Kind::kView;
  std::string name;
  std::string reason;  // "an on-demand feature view: Larder runs no Python transformations"
};

// A materialized interval of one view, [start, end] in micros (issue 4 fills these).
struct MaterializedInterval {
  std::string view;
  TimestampMicros start = 0;
  TimestampMicros end = 0;
};

struct RepoConfig {
  std::string project;
  OnlineStoreConfig online_store;
  std::vector<EntityDef> entities;
  std::vector<SourceDef> sources;
  std::vector<FeatureViewDef> views;
  std::vector<FeatureServiceDef> services;
  std::vector<UnservableDef> unservable;        // imported from a Feast registry only
  std::vector<MaterializedInterval> intervals;  // segment only
  std::string repo_dir;  // directory holding feature_store.yaml ("" for a registry read back)
  // max_future_skew (a duration; 0 = none): writes refuse a batch holding a row whose event
  // time lies further ahead of the writer's clock (such a row would win over every later push
  // of its entity). A writer's policy, read from the YAML, not kept in the registry.
  int64_t max_future_skew_seconds = 0;

  const EntityDef* FindEntity(std::string_view name) const;
  const SourceDef* FindSource(std::string_view name) const;
  const FeatureViewDef* FindView(std::string_view name) const;
  const FeatureServiceDef* FindService(std::string_view name) const;
  const UnservableDef* FindUnservable(UnservableDef::Kind kind, std::string_view name) const;
};

// Parses <repo_dir>/feature_store.yaml: Larder's format, or Feast's (a file with a key only Feast
// uses: provider, registry, offline_store, ...), whose definitions are imported from the Feast
// registry file it names (docs/feast.md). Every error is kConfigError and its message names the
// file, line and column and what is wrong. Fills derived fields (join_keys, resolved_path,
// default path). Ids stay 0.
Result<RepoConfig> LoadRepoConfig(const std::string& repo_dir);
// Same, from YAML text; `file_name` is used in messages and `repo_dir` to resolve paths.
Result<RepoConfig> ParseRepoConfig(const std::string& yaml_text, const std::string& file_name,
                                   const std::string& repo_dir);

// Parses "1d", "90m", "3600s", "2h", "0" into seconds.
Result<int64_t> ParseDuration(std::string_view text);
// Parses "1GiB", "512MiB", "100MB", "1048576" into bytes.
Result<uint64_t> ParseByteSize(std::string_view text);

}  // namespace larder
