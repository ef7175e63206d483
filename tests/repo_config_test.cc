#include "larder/repo_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>

#include "tests/test_util.h"

#ifndef LARDER_SOURCE_DIR
#define LARDER_SOURCE_DIR "/work/main"
#endif

namespace larder {
namespace {

constexpr char kFile[] = "feature_store.yaml";

Result<RepoConfig> Parse(const std::string& yaml) { return ParseRepoConfig(yaml, kFile, "/repo"); }

// The `line`th line of `text` (1-based) and a caret under column `column`, for failure messages.
std::string ShowPosition(const std::string& text, int line, int column) {
  size_t start = 0;
  for (int i = 1; i < line && start != std::string::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos) return "(past the end)";
  std::string shown = text.substr(start, text.find('\n', start) - start);
  return "\n  " + shown + "\n  " + std::string(column > 0 ? column - 1 : 0, ' ') + "^";
}

// Parsing `yaml` fails with a ConfigError at `pos` ("line:col") in feature_store.yaml whose
// message holds every needle.
::testing::AssertionResult IsConfigError(const std::string& yaml, const std::string& pos,
                                         std::initializer_list<std::string> needles) {
  Result<RepoConfig> r = Parse(yaml);
  if (r.ok()) return ::testing::AssertionFailure() << "parsed without error";
  const Status& st = r.status();
  if (st.code() != ErrorCode::kConfigError) {
    return ::testing::AssertionFailure() << "wrong code: " << st.ToString();
  }
  std::string prefix = std::string(kFile) + ":" + pos + ": ";
  if (st.message().rfind(prefix, 0) != 0) {
    int line = 0;
    int column = 0;
    std::sscanf(st.message().c_str() + std::strlen(kFile), ":%d:%d", &line, &column);
    return ::testing::AssertionFailure() << "expected prefix '" << prefix << "': " << st.message()
                                         << ShowPosition(yaml, line, column);
  }
  for (const std::string& needle : needles) {
    if (st.message().find(needle) == std::string::npos) {
      return ::testing::AssertionFailure() << "no '" << needle << "' in: " << st.message();
    }
  }
  return ::testing::AssertionSuccess();
}

// The brief's full example.
constexpr char kFullExample[] = R"(project: driver_ranking
entities:
  - name: driver
    join_keys: [driver_id]
    value_type: Int64
    description: A driver.
    tags: {kind: person}
    owner: ops@example.com
sources:
  - name: driver_stats
    type: file
    path: data/driver_stats.csv
    timestamp_field: event_timestamp
    created_timestamp_column: created
  - name: driver_stats_push
    type: push
    batch_source: driver_stats
feature_views:
  - name: driver_hourly_stats
    entities: [driver]
    ttl: 1d
    source: driver_stats_push
    online: true
    schema:
      - {name: conv_rate, dtype: Float32}
      - {name: driver_id, dtype: Int64}
      - {name: avg_daily_trips, dtype: Int64}
      - {name: top_cities, dtype: Array(String)}
    tags: {team: drivers}
    description: Hourly stats.
    owner: drivers@example.com
feature_services:
  - name: driver_activity_v1
    features:
      - driver_hourly_stats
      - driver_hourly_stats: [conv_rate]
)";

// Entities and sources shared by the view and service error tests. Ends at line 16, so the
// first appended line is line 17.
constexpr char kHead[] = R"(project: p
entities:
  - name: driver
    join_keys: [driver_id]
  - name: rider
    join_keys: [rider_id, city]
    value_type: String
sources:
  - name: file_src
    type: file
    path: data/x.csv
    timestamp_field: ts
  - name: push_src
    type: push
    batch_source: file_src
feature_views:
)";

// A valid view (lines 17-21) to put before feature_services (line 22).
constexpr char kView[] = R"(  - name: v
    entities: [driver]
    source: push_src
    schema:
      - {name: f, dtype: Int64}
feature_services:
)";

std::string WithHead(const std::string& rest) { return std::string(kHead) + rest; }
std::string WithView(const std::string& rest) { return std::string(kHead) + kView + rest; }

// --- valid configs ---------------------------------------------------------------------------

TEST(RepoConfigTest, FullExampleParses) {
  Result<RepoConfig> r = Parse(kFullExample);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RepoConfig& c = *r;
  EXPECT_EQ(c.project, "driver_ranking");
  EXPECT_EQ(c.repo_dir, "/repo");
  EXPECT_EQ(c.online_store.path, "/dev/shm/larder-driver_ranking");
  EXPECT_EQ(c.online_store.initial_capacity, 100000u);
  EXPECT_EQ(c.online_store.memory_limit, 1ull << 30);

  ASSERT_EQ(c.entities.size(), 1u);
  const EntityDef& driver = c.entities[0];
  EXPECT_EQ(driver.name, "driver");
  EXPECT_EQ(driver.join_keys, std::vector<std::string>{"driver_id"});
  EXPECT_EQ(driver.value_type, ScalarType::kInt64);
  EXPECT_EQ(driver.description, "A driver.");
  EXPECT_EQ(driver.tags, (Tags{{"kind", "person"}}));
  EXPECT_EQ(driver.owner, "ops@example.com");

  ASSERT_EQ(c.sources.size(), 2u);
  const SourceDef& file = c.sources[0];
  EXPECT_EQ(file.kind, SourceKind::kFile);
  EXPECT_EQ(file.path, "data/driver_stats.csv");
  EXPECT_EQ(file.resolved_path, "/repo/data/driver_stats.csv");
  EXPECT_EQ(file.timestamp_field, "event_timestamp");
  EXPECT_EQ(file.created_timestamp_column, "created");
  const SourceDef& push = c.sources[1];
  EXPECT_EQ(push.kind, SourceKind::kPush);
  EXPECT_EQ(push.batch_source, "driver_stats");
  EXPECT_EQ(push.path, "");

  ASSERT_EQ(c.views.size(), 1u);
  const FeatureViewDef& v = c.views[0];
  EXPECT_EQ(v.name, "driver_hourly_stats");
  EXPECT_EQ(v.entities, std::vector<std::string>{"driver"});
  EXPECT_EQ(v.ttl_seconds, 86400);
  EXPECT_EQ(v.source, "driver_stats_push");
  EXPECT_TRUE(v.online);
  std::vector<FieldDef> features = {{"conv_rate", {ScalarType::kFloat32, false}},
                                    {"avg_daily_trips", {ScalarType::kInt64, false}},
                                    {"top_cities", {ScalarType::kString, true}}};
  EXPECT_EQ(v.features, features);
  EXPECT_EQ(v.join_keys, (std::vector<JoinKeyDef>{{"driver_id", ScalarType::kInt64}}));
  EXPECT_EQ(v.tags, (Tags{{"team", "drivers"}}));
  EXPECT_EQ(v.description, "Hourly stats.");
  EXPECT_EQ(v.owner, "drivers@example.com");
  EXPECT_EQ(v.id, 0u);

  // The whole view and a subset of it merge into one whole-view projection.
  ASSERT_EQ(c.services.size(), 1u);
  EXPECT_EQ(c.services[0].name, "driver_activity_v1");
  ASSERT_EQ(c.services[0].projections.size(), 1u);
  EXPECT_EQ(c.services[0].projections[0].view, "driver_hourly_stats");
  EXPECT_TRUE(c.services[0].projections[0].features.empty());
}

TEST(RepoConfigTest, ServiceProjectionsOfOneViewMerge) {
  std::string head = std::string(kHead) + R"(  - name: v
    entities: [driver]
    source: push_src
    schema: [{name: f, dtype: Int64}, {name: g, dtype: Int64}, {name: h, dtype: Int64}]
feature_services:
)";
  Result<RepoConfig> r = Parse(head + "  - {name: s, features: [{v: [g]}, {v: [f, g]}]}\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->services[0].projections.size(), 1u);
  EXPECT_EQ(r->services[0].projections[0].features, (std::vector<std::string>{"g", "f"}));
  r = Parse(head + "  - {name: s, features: [{v: [g]}, v, {v: [h]}]}\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->services[0].projections.size(), 1u);
  EXPECT_TRUE(r->services[0].projections[0].features.empty());
}

TEST(RepoConfigTest, DefaultsAndOptionalSections) {
  Result<RepoConfig> r = Parse("project: bare\nentities:\nsources: []\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->online_store.path, "/dev/shm/larder-bare");
  EXPECT_EQ(r->online_store.initial_capacity, 100000u);
  EXPECT_EQ(r->online_store.memory_limit, uint64_t{1} << 30);
  EXPECT_EQ(r->online_store.reader_grace_ms, 1000u);
  EXPECT_EQ(r->online_store.owner, "");
  EXPECT_TRUE(r->entities.empty());
  EXPECT_TRUE(r->views.empty());
}

TEST(RepoConfigTest, EntityDefaults) {
  Result<RepoConfig> r = Parse("project: p\nentities:\n  - name: user\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->entities[0].join_keys, std::vector<std::string>{"user"});
  EXPECT_EQ(r->entities[0].value_type, ScalarType::kInt64);
}

TEST(RepoConfigTest, OnlineStoreSettings) {
  Result<RepoConfig> r = ParseRepoConfig(R"(project: p
online_store:
  path: store/seg
  initial_capacity: 42
  memory_limit: 64MiB
  reader_grace_ms: 250
  owner: feast
)",
                                         kFile, "/repo/dir");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->online_store.path, "/repo/dir/store/seg");
  EXPECT_EQ(r->online_store.initial_capacity, 42u);
  EXPECT_EQ(r->online_store.memory_limit, 64ull << 20);
  EXPECT_EQ(r->online_store.reader_grace_ms, 250u);
  EXPECT_EQ(r->online_store.owner, "feast");
}

TEST(RepoConfigTest, AbsoluteSourcePathIsKept) {
  Result<RepoConfig> r = Parse(R"(project: p
sources:
  - {name: s, type: file, path: /data/s.csv, timestamp_field: ts}
)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->sources[0].resolved_path, "/data/s.csv");
  EXPECT_EQ(r->sources[0].created_timestamp_column, "");
}

TEST(RepoConfigTest, CompositeKeys) {
  Result<RepoConfig> r = Parse(WithHead(R"(  - name: trips
    entities: [driver, rider]
    source: file_src
    online: false
    ttl: 90m
    schema:
      - {name: city, dtype: String}
      - {name: count, dtype: Int32}
)"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const FeatureViewDef& v = r->views[0];
  std::vector<JoinKeyDef> keys = {{"driver_id", ScalarType::kInt64},
                                  {"rider_id", ScalarType::kString},
                                  {"city", ScalarType::kString}};
  EXPECT_EQ(v.join_keys, keys);
  EXPECT_EQ(v.features, (std::vector<FieldDef>{{"count", {ScalarType::kInt32, false}}}));
  EXPECT_FALSE(v.online);
  EXPECT_EQ(v.ttl_seconds, 5400);
  EXPECT_EQ(r->entities[1].join_keys, (std::vector<std::string>{"rider_id", "city"}));
}

TEST(RepoConfigTest, SectionOrderDoesNotMatter) {
  Result<RepoConfig> r = Parse(R"(feature_services:
  - {name: s, features: [v]}
feature_views:
  - {name: v, entities: [e], source: src, schema: [{name: f, dtype: Bool}]}
sources:
  - {name: src, type: push, batch_source: file}
  - {name: file, type: file, path: f.csv, timestamp_field: ts}
entities:
  - {name: e}
project: p
)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->views[0].join_keys, (std::vector<JoinKeyDef>{{"e", ScalarType::kInt64}}));
}

TEST(RepoConfigTest, ViewAndServiceMayShareAName) {
  Result<RepoConfig> r = Parse(WithView("  - {name: v, features: [v]}\n"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->services[0].projections[0].features.empty());
}

TEST(RepoConfigTest, FindMethods) {
  Result<RepoConfig> r = Parse(WithView("  - {name: s, features: [v]}\n"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_NE(r->FindEntity("rider"), nullptr);
  EXPECT_EQ(r->FindEntity("rider")->value_type, ScalarType::kString);
  EXPECT_EQ(r->FindEntity("nobody"), nullptr);
  ASSERT_NE(r->FindSource("push_src"), nullptr);
  EXPECT_EQ(r->FindSource("push_src")->kind, SourceKind::kPush);
  EXPECT_EQ(r->FindSource("v"), nullptr);
  ASSERT_NE(r->FindView("v"), nullptr);
  EXPECT_EQ(r->FindView("s"), nullptr);
  ASSERT_NE(r->FindService("s"), nullptr);
  EXPECT_EQ(r->FindService("v"), nullptr);
}

TEST(RepoConfigTest, LoadsExampleRepo) {
  Result<RepoConfig> r = LoadRepoConfig(LARDER_SOURCE_DIR "/examples/driver_stats");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RepoConfig& c = *r;
  EXPECT_EQ(c.project, "driver_stats");
  EXPECT_EQ(c.repo_dir, LARDER_SOURCE_DIR "/examples/driver_stats");
  EXPECT_EQ(c.online_store.path, "/dev/shm/larder-driver_stats");
  EXPECT_EQ(c.online_store.initial_capacity, 1000u);
  EXPECT_EQ(c.online_store.memory_limit, 64ull << 20);
  ASSERT_NE(c.FindSource("driver_stats_source"), nullptr);
  EXPECT_EQ(c.FindSource("driver_stats_source")->resolved_path,
            LARDER_SOURCE_DIR "/examples/driver_stats/data/driver_stats.csv");
  EXPECT_EQ(c.FindSource("driver_stats_push")->batch_source, "driver_stats_source");
  const FeatureViewDef* hourly = c.FindView("driver_hourly_stats");
  ASSERT_NE(hourly, nullptr);
  EXPECT_EQ(hourly->ttl_seconds, 3650 * 86400);
  EXPECT_EQ(hourly->source, "driver_stats_push");
  std::vector<FieldDef> features = {{"conv_rate", {ScalarType::kFloat32, false}},
                                    {"acc_rate", {ScalarType::kFloat32, false}},
                                    {"avg_daily_trips", {ScalarType::kInt64, false}},
                                    {"top_cities", {ScalarType::kString, true}}};
  EXPECT_EQ(hourly->features, features);
  EXPECT_EQ(hourly->join_keys, (std::vector<JoinKeyDef>{{"driver_id", ScalarType::kInt64}}));
  const FeatureViewDef* daily = c.FindView("driver_daily_quality");
  ASSERT_NE(daily, nullptr);
  EXPECT_EQ(daily->ttl_seconds, 0);
  EXPECT_EQ(daily->source, "driver_stats_push");
  EXPECT_EQ(daily->features.size(), 2u);
  const FeatureServiceDef* service = c.FindService("driver_activity_v1");
  ASSERT_NE(service, nullptr);
  ASSERT_EQ(service->projections.size(), 2u);
  EXPECT_EQ(service->projections[0].view, "driver_hourly_stats");
  EXPECT_EQ(service->projections[0].features,
            (std::vector<std::string>{"conv_rate", "avg_daily_trips"}));
  EXPECT_EQ(service->projections[1].view, "driver_daily_quality");
  EXPECT_TRUE(service->projections[1].features.empty());
}

TEST(RepoConfigTest, LoadFromTempDir) {
  testing::TempDir dir;
  dir.Write("feature_store.yaml", "project: p\nbogus: 1\n");
  Result<RepoConfig> r = LoadRepoConfig(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kConfigError);
  EXPECT_NE(r.status().message().find(dir.path() + "/feature_store.yaml:2:1: "), std::string::npos)
      << r.status().message();
}

// --- file-level errors -----------------------------------------------------------------------

TEST(RepoConfigErrorTest, MissingFile) {
  testing::TempDir dir;
  Result<RepoConfig> r = LoadRepoConfig(dir.path() + "/nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kConfigError);
  EXPECT_NE(r.status().message().find(dir.path() + "/nope/feature_store.yaml"), std::string::npos);
  EXPECT_NE(r.status().message().find("No such file"), std::string::npos);
}

TEST(RepoConfigErrorTest, YamlSyntaxError) {
  EXPECT_TRUE(
      IsConfigError("project: p\nentities: [a, b\nsources: 1\n", "3:8", {"YAML syntax error"}));
  EXPECT_TRUE(IsConfigError("project: p\n  bad: indent\n", "2:6", {"YAML"}));
}

TEST(RepoConfigErrorTest, EmptyFileAndWrongTopLevel) {
  EXPECT_TRUE(IsConfigError("", "1:1", {"empty"}));
  EXPECT_TRUE(IsConfigError("- project\n", "1:1", {"must be a map", "a list"}));
  EXPECT_TRUE(IsConfigError("project: p\n---\nproject: q\n", "3:1", {"one YAML document"}));
}

TEST(RepoConfigErrorTest, DuplicateYamlKey) {
  EXPECT_TRUE(IsConfigError("project: p\nproject: q\n", "2:1", {"duplicate key 'project'"}));
}

// --- unknown keys ----------------------------------------------------------------------------

TEST(RepoConfigErrorTest, UnknownKeys) {
  EXPECT_TRUE(IsConfigError("project: p\nfeature_view: []\n", "2:1",
                            {"unknown key 'feature_view'", "feature_views", "project"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  size: 3\n", "3:3",
                            {"'size'", "online_store", "memory_limit"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, joinkeys: [a]}\n", "3:15",
                            {"'joinkeys'", "entity 'e'", "join_keys"}));
  EXPECT_TRUE(IsConfigError("project: p\nsources:\n  - name: s\n    type: file\n    file: x.csv\n",
                            "5:5", {"'file'", "source 's'", "timestamp_field"}));
  EXPECT_TRUE(IsConfigError(WithHead("  - name: v\n    features: []\n"), "18:5",
                            {"'features'", "feature view 'v'", "schema"}));
  EXPECT_TRUE(IsConfigError(WithHead(R"(  - name: v
    entities: [driver]
    source: push_src
    schema:
      - {name: f, dtype: Int64, description: x}
)"),
                            "21:33", {"'description'", "field #1", "dtype"}));
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: [v], ttl: 1}\n"), "23:30",
                            {"'ttl'", "feature service 's'", "features"}));
}

// --- missing required fields -----------------------------------------------------------------

TEST(RepoConfigErrorTest, MissingProject) {
  EXPECT_TRUE(IsConfigError("entities: []\n", "1:1", {"'project'", "missing"}));
  EXPECT_TRUE(IsConfigError("project:\n", "1:1", {"'project'", "no value"}));
}

TEST(RepoConfigErrorTest, MissingNames) {
  EXPECT_TRUE(
      IsConfigError("project: p\nentities:\n  - join_keys: [a]\n", "3:5", {"entity #1", "'name'"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nsources:\n  - {type: push}\n", "3:5", {"source #1", "'name'"}));
  EXPECT_TRUE(
      IsConfigError(WithHead("  - {source: push_src}\n"), "17:5", {"feature view #1", "'name'"}));
  EXPECT_TRUE(
      IsConfigError(WithView("  - {features: [v]}\n"), "23:5", {"feature service #1", "'name'"}));
}

TEST(RepoConfigErrorTest, MissingViewFields) {
  EXPECT_TRUE(IsConfigError(
      WithHead("  - name: v\n    source: push_src\n    schema: [{name: f, dtype: Int64}]\n"),
      "17:5", {"feature view 'v'", "'entities'"}));
  EXPECT_TRUE(IsConfigError(
      WithHead("  - name: v\n    entities: [driver]\n    schema: [{name: f, dtype: Int64}]\n"),
      "17:5", {"feature view 'v'", "'source'"}));
  EXPECT_TRUE(IsConfigError(WithHead("  - name: v\n    entities: [driver]\n    source: push_src\n"),
                            "17:5", {"feature view 'v'", "'schema'"}));
  EXPECT_TRUE(IsConfigError(
      WithHead("  - name: v\n    entities: [driver]\n    source: push_src\n    schema:\n"), "20:5",
      {"feature view 'v'", "'schema'", "no value"}));
  EXPECT_TRUE(IsConfigError(WithHead(R"(  - name: v
    entities: [driver]
    source: push_src
    schema: [{name: f}]
)"),
                            "20:14", {"field 'f'", "'dtype'"}));
}

TEST(RepoConfigErrorTest, MissingSourceFields) {
  EXPECT_TRUE(
      IsConfigError("project: p\nsources:\n  - name: s\n", "3:5", {"source 's'", "'type'"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nsources:\n  - {name: s, type: file, timestamp_field: ts}\n", "3:5",
                    {"source 's'", "'path'"}));
  EXPECT_TRUE(IsConfigError("project: p\nsources:\n  - {name: s, type: file, path: x}\n", "3:5",
                            {"source 's'", "'timestamp_field'"}));
}

TEST(RepoConfigErrorTest, MissingServiceFeatures) {
  EXPECT_TRUE(
      IsConfigError(WithView("  - name: s\n"), "23:5", {"feature service 's'", "'features'"}));
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: []}\n"), "23:25",
                            {"feature service 's'", "must not be empty"}));
}

// --- wrong node kinds ------------------------------------------------------------------------

TEST(RepoConfigErrorTest, WrongNodeKinds) {
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  driver: {}\n", "3:3",
                            {"the top level", "'entities' must be a list", "a map"}));
  EXPECT_TRUE(IsConfigError("project: [p]\n", "1:10", {"'project' must be a string"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store: big\n", "2:15",
                            {"online_store must be a map", "a scalar"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nentities:\n  - driver\n", "3:5", {"entity #1 must be a map"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, join_keys: {a: b}}\n", "3:26",
                            {"'join_keys' must be a list"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, tags: [a]}\n", "3:21",
                            {"entity 'e' tags must be a map"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, tags: {a: [b]}}\n", "3:25",
                            {"tag 'a' must be a string"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: [e]}\n", "3:12",
                            {"'name' must be a string"}));
  EXPECT_TRUE(IsConfigError(WithHead(R"(  - name: v
    entities: [driver]
    source: push_src
    schema: conv_rate
)"),
                            "20:13", {"'schema' must be a list", "a scalar"}));
  EXPECT_TRUE(IsConfigError(WithHead(R"(  - name: v
    entities: [driver]
    source: push_src
    schema: [conv_rate]
)"),
                            "20:14", {"schema field #1 must be a map"}));
  EXPECT_TRUE(IsConfigError(WithHead(R"(  - name: v
    entities: [driver]
    source: push_src
    online: maybe
    schema: [{name: f, dtype: Int64}]
)"),
                            "20:13", {"'online' must be true or false", "'maybe'"}));
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: v}\n"), "23:25",
                            {"'features' must be a list"}));
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: [{v: [f], w: [g]}]}\n"), "23:26",
                            {"single-key map"}));
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: [{v: f}]}\n"), "23:30",
                            {"must be a non-empty list"}));
}

// --- names -----------------------------------------------------------------------------------

TEST(RepoConfigErrorTest, InvalidNames) {
  EXPECT_TRUE(IsConfigError("project: Driver-Ranking\n", "1:10",
                            {"invalid project name 'Driver-Ranking'"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nentities:\n  - name: my-driver\n", "3:11", {"'my-driver'"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - name: ''\n", "3:11", {"invalid name ''"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, join_keys: [a, b c]}\n", "3:30",
                            {"'b c'"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nsources:\n  - {name: s.1, type: push}\n", "3:12", {"'s.1'"}));
  EXPECT_TRUE(IsConfigError(WithHead(R"(  - name: v
    entities: [driver]
    source: push_src
    schema: [{name: conv rate, dtype: Int64}]
)"),
                            "20:21", {"'conv rate'"}));
}

TEST(RepoConfigErrorTest, DuplicateNames) {
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - name: e\n  - name: e\n", "4:11",
                            {"duplicate entity name 'e'", "line 3"}));
  // File and push sources share one namespace.
  EXPECT_TRUE(IsConfigError(R"(project: p
sources:
  - {name: s, type: file, path: x.csv, timestamp_field: ts}
  - {name: s, type: push, batch_source: s}
)",
                            "4:12", {"duplicate source name 's'"}));
  EXPECT_TRUE(IsConfigError(
      WithHead(
          R"(  - {name: v, entities: [driver], source: push_src, schema: [{name: f, dtype: Int64}]}
  - {name: v, entities: [rider], source: push_src, schema: [{name: f, dtype: Int64}]}
)"),
      "18:12", {"duplicate feature view name 'v'"}));
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: [v]}\n  - name: s\n    "
                                     "features: [v]\n"),
                            "24:11", {"duplicate feature service name 's'"}));
}

TEST(RepoConfigErrorTest, DuplicateFeatureInView) {
  EXPECT_TRUE(IsConfigError(WithHead(R"(  - name: v
    entities: [driver]
    source: push_src
    schema:
      - {name: f, dtype: Int64}
      - {name: f, dtype: Float32}
)"),
                            "22:16", {"feature view 'v'", "field 'f' twice"}));
}

// --- entities --------------------------------------------------------------------------------

TEST(RepoConfigErrorTest, EntityValueType) {
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, value_type: Float32}\n", "3:27",
                            {"invalid value_type 'Float32'", "entity 'e'"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, value_type: Array(Int64)}\n",
                            "3:27", {"'Array(Int64)'"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nentities:\n  - {name: e, value_type: int}\n", "3:27", {"'int'"}));
}

TEST(RepoConfigErrorTest, EntityJoinKeys) {
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, join_keys: []}\n", "3:26",
                            {"entity 'e'", "'join_keys' must not be empty"}));
  EXPECT_TRUE(IsConfigError("project: p\nentities:\n  - {name: e, join_keys: [a, a]}\n", "3:30",
                            {"'a' appears twice"}));
}

// --- sources ---------------------------------------------------------------------------------

TEST(RepoConfigErrorTest, SourceType) {
  EXPECT_TRUE(IsConfigError("project: p\nsources:\n  - {name: s, type: kafka}\n", "3:21",
                            {"unknown source type 'kafka'", "source 's'"}));
}

TEST(RepoConfigErrorTest, PushSourceBatchSource) {
  EXPECT_TRUE(IsConfigError("project: p\nsources:\n  - {name: s, type: push}\n", "3:5",
                            {"A batch_source needs to be specified for push source 's'"}));
  EXPECT_TRUE(IsConfigError("project: p\nsources:\n  - {name: s, type: push, batch_source: nope}\n",
                            "3:41", {"push source 's'", "unknown batch source 'nope'"}));
  EXPECT_TRUE(IsConfigError(R"(project: p
sources:
  - {name: a, type: push, batch_source: b}
  - {name: b, type: push, batch_source: c}
  - {name: c, type: file, path: c.csv, timestamp_field: ts}
)",
                            "3:41", {"push source 'a'", "'b'", "must be a file source"}));
}

TEST(RepoConfigErrorTest, FileOnlyKeysOnPushSource) {
  EXPECT_TRUE(
      IsConfigError("project: p\nsources:\n  - {name: s, type: push, batch_source: f, path: x}\n",
                    "3:44", {"'path'", "not allowed for a push source"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nsources:\n  - {name: s, type: push, "
                    "timestamp_field: ts, batch_source: f}\n",
                    "3:27", {"'timestamp_field'", "not allowed"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nsources:\n  - {name: s, type: file, path: x, "
                    "timestamp_field: ts, batch_source: f}\n",
                    "3:57", {"'batch_source'", "only allowed for push sources"}));
}

// --- feature views ---------------------------------------------------------------------------

std::string View(const std::string& entities, const std::string& source, const std::string& ttl,
                 const std::string& schema) {
  return WithHead("  - name: v\n    entities: " + entities + "\n    source: " + source +
                  "\n    ttl: " + ttl + "\n    schema: " + schema + "\n");
}

constexpr char kSchema[] = "[{name: f, dtype: Int64}]";

TEST(RepoConfigErrorTest, ViewEntities) {
  EXPECT_TRUE(IsConfigError(View("[driver, drivr]", "push_src", "0", kSchema), "18:24",
                            {"feature view 'v' names unknown entity 'drivr'"}));
  EXPECT_TRUE(IsConfigError(View("[]", "push_src", "0", kSchema), "18:15",
                            {"'entities' must not be empty"}));
  EXPECT_TRUE(IsConfigError(View("[driver, driver]", "push_src", "0", kSchema), "18:24",
                            {"'driver' appears twice"}));
}

TEST(RepoConfigErrorTest, ViewSharedJoinKeyAcrossEntities) {
  EXPECT_TRUE(IsConfigError(R"(project: p
entities:
  - {name: a, join_keys: [id]}
  - {name: b, join_keys: [id]}
sources:
  - {name: s, type: file, path: x.csv, timestamp_field: ts}
feature_views:
  - {name: v, entities: [a, b], source: s, schema: [{name: f, dtype: Int64}]}
)",
                            "8:29", {"join key 'id'", "entity 'b'"}));
}

TEST(RepoConfigErrorTest, ViewSource) {
  EXPECT_TRUE(IsConfigError(View("[driver]", "pushsrc", "0", kSchema), "19:13",
                            {"feature view 'v' names unknown source 'pushsrc'"}));
}

TEST(RepoConfigErrorTest, ViewTtl) {
  EXPECT_TRUE(IsConfigError(View("[driver]", "push_src", "-1", kSchema), "20:10",
                            {"ttl", "invalid duration '-1'"}));
  EXPECT_TRUE(IsConfigError(View("[driver]", "push_src", "1.5h", kSchema), "20:10", {"'1.5h'"}));
  EXPECT_TRUE(IsConfigError(View("[driver]", "push_src", "soon", kSchema), "20:10", {"'soon'"}));
}

TEST(RepoConfigErrorTest, ViewDType) {
  EXPECT_TRUE(IsConfigError(View("[driver]", "push_src", "0", "[{name: f, dtype: Float}]"), "21:31",
                            {"field 'f'", "'Float'"}));
  EXPECT_TRUE(IsConfigError(View("[driver]", "push_src", "0", "[{name: f, dtype: Array(Map)}]"),
                            "21:31", {"'Array(Map)'"}));
}

TEST(RepoConfigErrorTest, ViewKeyColumnType) {
  EXPECT_TRUE(IsConfigError(View("[driver]", "push_src", "0",
                                 "[{name: driver_id, dtype: String}, {name: f, dtype: Int64}]"),
                            "21:39", {"field 'driver_id'", "join key of type Int64", "'String'"}));
  EXPECT_TRUE(
      IsConfigError(View("[driver]", "push_src", "0",
                         "[{name: f, dtype: Int64}, {name: driver_id, dtype: Array(Int64)}]"),
                    "21:64", {"'driver_id'", "'Array(Int64)'"}));
}

TEST(RepoConfigErrorTest, ViewWithoutFeatures) {
  EXPECT_TRUE(IsConfigError(View("[driver]", "push_src", "0", "[{name: driver_id, dtype: Int64}]"),
                            "21:13", {"feature view 'v' has no features"}));
  EXPECT_TRUE(IsConfigError(View("[driver]", "push_src", "0", "[]"), "21:13", {"has no features"}));
}

// --- feature services ------------------------------------------------------------------------

TEST(RepoConfigErrorTest, ServiceUnknownViewOrFeature) {
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: [v, w]}\n"), "23:29",
                            {"feature service 's'", "unknown feature view 'w'"}));
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: [{w: [f]}]}\n"), "23:27",
                            {"unknown feature view 'w'"}));
  EXPECT_TRUE(IsConfigError(WithView("  - name: s\n    features:\n      - v: [f, g]\n"), "25:16",
                            {"unknown feature 'g'", "feature view 'v'"}));
  EXPECT_TRUE(IsConfigError(WithView("  - name: s\n    features:\n      - v: [driver_id]\n"),
                            "25:13", {"unknown feature 'driver_id'"}));
}

TEST(RepoConfigErrorTest, ServiceDuplicateFeatureInOneItem) {
  EXPECT_TRUE(IsConfigError(WithView("  - {name: s, features: [{v: [f, f]}]}\n"), "23:34",
                            {"feature 'f' listed twice"}));
}

// --- online_store ----------------------------------------------------------------------------

TEST(RepoConfigErrorTest, OnlineStoreValues) {
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  memory_limit: 1KiB\n", "3:17",
                            {"memory_limit", "'1KiB'", "minimum"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  memory_limit: lots\n", "3:17",
                            {"memory_limit", "'lots'"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  initial_capacity: 0\n", "3:21",
                            {"initial_capacity", "'0'"}));
  EXPECT_TRUE(
      IsConfigError("project: p\nonline_store:\n  initial_capacity: -5\n", "3:21", {"'-5'"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  path: ''\n", "3:9",
                            {"'path' must not be empty"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  reader_grace_ms: 0\n", "3:20",
                            {"reader_grace_ms", "'0'", "from 1 to 3600000"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  reader_grace_ms: 1s\n", "3:20",
                            {"reader_grace_ms", "'1s'"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  reader_grace_ms: 3600001\n", "3:20",
                            {"'3600001'"}));
  EXPECT_TRUE(IsConfigError("project: p\nonline_store:\n  owner: ''\n", "3:10",
                            {"'owner' must not be empty"}));
}

// --- durations and byte sizes ----------------------------------------------------------------

TEST(ParseDurationTest, GoodValues) {
  EXPECT_EQ(*ParseDuration("0"), 0);
  EXPECT_EQ(*ParseDuration("0s"), 0);
  EXPECT_EQ(*ParseDuration("45s"), 45);
  EXPECT_EQ(*ParseDuration("90m"), 5400);
  EXPECT_EQ(*ParseDuration("2h"), 7200);
  EXPECT_EQ(*ParseDuration("1d"), 86400);
  EXPECT_EQ(*ParseDuration("1w"), 604800);
  EXPECT_EQ(*ParseDuration("3600"), 3600);
  EXPECT_EQ(*ParseDuration("9223372036854775807"), std::numeric_limits<int64_t>::max());
}

TEST(ParseDurationTest, BadValues) {
  for (const char* text : {"", "-1", "1.5h", "h", "1x", "1 d", "1D", "1h30m", "+5",
                           "9223372036854775808", "99999999999999999999", "106751991167301d"}) {
    Result<int64_t> r = ParseDuration(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(r.status().message().find("'" + std::string(text) + "'"), std::string::npos)
        << r.status().message();
  }
}

TEST(ParseByteSizeTest, GoodValues) {
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576u);
  EXPECT_EQ(*ParseByteSize("0"), 0u);
  EXPECT_EQ(*ParseByteSize("10B"), 10u);
  EXPECT_EQ(*ParseByteSize("2KB"), 2000u);
  EXPECT_EQ(*ParseByteSize("100MB"), 100000000u);
  EXPECT_EQ(*ParseByteSize("3GB"), 3000000000u);
  EXPECT_EQ(*ParseByteSize("1TB"), 1000000000000u);
  EXPECT_EQ(*ParseByteSize("2KiB"), 2048u);
  EXPECT_EQ(*ParseByteSize("512MiB"), 512ull << 20);
  EXPECT_EQ(*ParseByteSize("1GiB"), 1ull << 30);
  EXPECT_EQ(*ParseByteSize("4TiB"), 4ull << 40);
  EXPECT_EQ(*ParseByteSize("18446744073709551615"), std::numeric_limits<uint64_t>::max());
}

TEST(ParseByteSizeTest, BadValues) {
  for (const char* text : {"", "GiB", "1.5GiB", "-1", "1gib", "1K", "1 GiB", "1GiBs", "1iB",
                           "18446744073709551616", "16777216TiB"}) {
    Result<uint64_t> r = ParseByteSize(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(r.status().message().find("'" + std::string(text) + "'"), std::string::npos)
        << r.status().message();
  }
}

}  // namespace
}  // namespace larder
