// Feast repos (issue 18, part 2): a Feast feature_store.yaml names Feast's registry file, whose
// definitions Larder imports (engine/feast/). Registries here are built with the project's
// wire-compatible messages (each case states what it exercises); tests/data/feast_registries/
// holds real ones written by `feast apply` of several Feast versions (FeastFixtures below).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/feast/feast_registry.pb.h"
#include "larder/repo_config.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::IsError;
using testing::MakeFrame;
namespace pb = feast_import;

// A Feast project's definitions, built like `feast apply` writes them (Feast 0.3x shapes:
// top-level data sources, entity columns on views, push sources with embedded batch sources).
struct RegistryBuilder {
  pb::FeastRegistry reg;
  std::string project = "rides";

  pb::FeastEntitySpec* Entity(const std::string& name, const std::string& join_key,
                              pb::FeastValueType type) {
    pb::FeastEntitySpec* e = reg.add_entities()->mutable_spec();
    e->set_name(name);
    e->set_join_key(join_key);
    e->set_value_type(type);
    e->set_project(project);
    return e;
  }
  static void FileSource(pb::FeastDataSource* ds, const std::string& name, const std::string& uri) {
    ds->set_type(pb::FeastDataSource::BATCH_FILE);
    ds->set_name(name);
    ds->mutable_file_options()->set_uri(uri);
    ds->set_timestamp_field("event_timestamp");
    ds->set_created_timestamp_column("created");
  }
  pb::FeastDataSource* PushSource(const std::string& name, const std::string& batch_uri) {
    pb::FeastDataSource* ds = reg.add_data_sources();
    ds->set_type(pb::FeastDataSource::PUSH_SOURCE);
    ds->set_name(name);
    ds->set_project(project);
    FileSource(ds->mutable_batch_source(), name + "_batch", batch_uri);
    return ds;
  }
  static void AddFeature(google::protobuf::RepeatedPtrField<pb::FeastFeature>* list,
                         const std::string& name, pb::FeastValueType type) {
    pb::FeastFeature* f = list->Add();
    f->set_name(name);
    f->set_value_type(type);
  }
  pb::FeastFeatureViewSpec* View(const std::string& name, const std::string& entity,
                                 const std::string& key, pb::FeastValueType key_type) {
    pb::FeastFeatureViewSpec* v = reg.add_feature_views()->mutable_spec();
    v->set_name(name);
    v->set_project(project);
    v->add_entities(entity);
    AddFeature(v->mutable_entity_columns(), key, key_type);
    v->set_online(true);
    v->mutable_ttl()->set_seconds(86400);
    return v;
  }
  std::string Bytes() const { return reg.SerializeAsString(); }
};

// The usual test repo: entity driver (driver_id INT64), push source driver_push over a CSV
// batch source, view driver_stats (conv_rate FLOAT, trips INT64, cities STRING_LIST) fed by
// it, and service ranking reading conv_rate.
RegistryBuilder DriverRegistry() {
  RegistryBuilder b;
  b.Entity("driver", "driver_id", pb::INT64)->set_description("A driver.");
  pb::FeastDataSource* push = b.PushSource("driver_push", "data/driver_stats.parquet");
  pb::FeastFeatureViewSpec* v = b.View("driver_stats", "driver", "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(v->mutable_features(), "conv_rate", pb::FLOAT);
  RegistryBuilder::AddFeature(v->mutable_features(), "trips", pb::INT64);
  RegistryBuilder::AddFeature(v->mutable_features(), "cities", pb::STRING_LIST);
  *v->mutable_stream_source() = *push;
  *v->mutable_batch_source() = push->batch_source();
  (*v->mutable_tags())["team"] = "rides";
  pb::FeastFeatureServiceSpec* s = b.reg.add_feature_services()->mutable_spec();
  s->set_name("ranking");
  s->set_project(b.project);
  pb::FeastProjection* p = s->add_features();
  p->set_feature_view_name("driver_stats");
  RegistryBuilder::AddFeature(p->mutable_feature_columns(), "conv_rate", pb::FLOAT);
  return b;
}

// A Feast repo directory: feature_store.yaml as `feast init` writes it (online store switched
// to Larder) and the registry file.
class FeastRepo {
 public:
  void Write(const std::string& registry_bytes, const std::string& extra_yaml = "",
             const std::string& project = "rides") {
    dir_.Write("data/registry.db", registry_bytes);
    dir_.Write("feature_store.yaml", "project: " + project +
                                         "\nregistry: data/registry.db\nprovider: local\n"
                                         "online_store:\n  type: larder\n  path: " +
                                         seg_.path() + "\n  memory_limit: 16MiB\n" + extra_yaml +
                                         "entity_key_serialization_version: 3\n");
  }
  const std::string& dir() const { return dir_.path(); }
  const testing::TempDir& temp() const { return dir_; }
  Result<std::unique_ptr<FeatureStore>> OpenApplied() const {
    LARDER_ASSIGN_OR_RETURN(auto fs, FeatureStore::Open(dir_.path()));
    LARDER_RETURN_IF_ERROR(fs->Apply().status());
    return fs;
  }

 private:
  testing::TempDir dir_;
  testing::TempSegmentPath seg_;
};

TEST(FeastRegistry, ImportsEntitiesSourcesViewsAndServices) {
  FeastRepo repo;
  repo.Write(DriverRegistry().Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  EXPECT_EQ(c.project, "rides");
  ASSERT_EQ(c.entities.size(), 1u);
  EXPECT_EQ(c.entities[0].join_keys, std::vector<std::string>{"driver_id"});
  EXPECT_EQ(c.entities[0].value_type, ScalarType::kInt64);
  EXPECT_EQ(c.entities[0].description, "A driver.");
  const SourceDef* push = c.FindSource("driver_push");
  ASSERT_NE(push, nullptr);
  EXPECT_EQ(push->kind, SourceKind::kPush);
  const SourceDef* batch = c.FindSource(push->batch_source);
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->kind, SourceKind::kFile);
  EXPECT_EQ(batch->resolved_path, repo.dir() + "/data/driver_stats.parquet");
  EXPECT_EQ(batch->timestamp_field, "event_timestamp");
  EXPECT_EQ(batch->created_timestamp_column, "created");
  const FeatureViewDef* v = c.FindView("driver_stats");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->source, "driver_push");
  EXPECT_EQ(v->ttl_seconds, 86400);
  EXPECT_EQ(v->tags.at("team"), "rides");
  ASSERT_EQ(v->features.size(), 3u);
  EXPECT_EQ(v->features[0].dtype, (DType{ScalarType::kFloat32, false}));
  EXPECT_EQ(v->features[2].dtype, (DType{ScalarType::kString, true}));
  ASSERT_EQ(v->join_keys.size(), 1u);
  EXPECT_EQ(v->join_keys[0].name, "driver_id");
  const FeatureServiceDef* s = c.FindService("ranking");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->projections.size(), 1u);
  EXPECT_EQ(s->projections[0].features, std::vector<std::string>{"conv_rate"});
}

TEST(FeastRegistry, PushesAndReadsUseFeastNames) {
  FeastRepo repo;
  repo.Write(DriverRegistry().Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  Frame rows = MakeFrame({{"driver_id", testing::Ints({7})},
                          {"conv_rate", {testing::F(0.5)}},
                          {"trips", testing::Ints({12})},
                          {"cities", {testing::Arr({testing::S("Oslo")})}},
                          {"event_timestamp", testing::Ints({testing::NowSeconds()})}});
  LARDER_ASSERT_OK(fs->Push("driver_push", rows));
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r,
                              fs->GetOnlineFeatures(testing::Service(
                                  "ranking", MakeFrame({{"driver_id", testing::Ints({7})}}))));
  int col = testing::ColumnIndex(r, "conv_rate");
  ASSERT_GE(col, 0);
  EXPECT_EQ(r.results[col].statuses[0], FieldStatus::kPresent);
  EXPECT_DOUBLE_EQ(r.results[col].values[0].f64, 0.5);
}

TEST(FeastRegistry, EntityKeyTypeComesFromViewsWhenTheEntityHasNone) {
  RegistryBuilder b = DriverRegistry();
  b.reg.mutable_entities(0)->mutable_spec()->set_value_type(pb::INVALID);
  b.reg.mutable_feature_views(0)->mutable_spec()->mutable_entity_columns(0)->set_value_type(
      pb::STRING);
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  EXPECT_EQ(c.entities[0].value_type, ScalarType::kString);
  EXPECT_EQ(c.views[0].join_keys[0].type, ScalarType::kString);
}

TEST(FeastRegistry, ConflictingJoinKeyTypesMakeTheViewUnservable) {
  RegistryBuilder b = DriverRegistry();  // entity INT64
  b.reg.mutable_feature_views(0)->mutable_spec()->mutable_entity_columns(0)->set_value_type(
      pb::STRING);
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  const UnservableDef* u = c.FindUnservable(UnservableDef::Kind::kView, "driver_stats");
  ASSERT_NE(u, nullptr);
  for (const char* part : {"join key 'driver_id'", "STRING", "Int64"}) {
    EXPECT_NE(u->reason.find(part), std::string::npos) << u->reason;
  }
  EXPECT_NE(c.FindUnservable(UnservableDef::Kind::kService, "ranking"), nullptr);
}

// One definition Larder cannot use is kept by name; the rest of the repo imports.
TEST(FeastRegistry, NamesLarderCannotUseMakeOnlyTheirDefinitionUnservable) {
  RegistryBuilder b = DriverRegistry();
  pb::FeastFeatureViewSpec* dashed = b.View("dashed", "driver", "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(dashed->mutable_features(), "conv-rate", pb::FLOAT);
  RegistryBuilder::FileSource(dashed->mutable_batch_source(), "dashed_file", "data/d.csv");
  pb::FeastFeatureViewSpec* pushed = b.View("pushed", "driver", "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(pushed->mutable_features(), "x", pb::INT64);
  pb::FeastDataSource* push = pushed->mutable_stream_source();
  push->set_type(pb::FeastDataSource::PUSH_SOURCE);
  push->set_name("driver-push");
  RegistryBuilder::FileSource(push->mutable_batch_source(), "pushed_file", "data/p.csv");
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  EXPECT_NE(c.FindView("driver_stats"), nullptr);
  const UnservableDef* u = c.FindUnservable(UnservableDef::Kind::kView, "dashed");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->reason.find("'conv-rate'"), std::string::npos) << u->reason;
  u = c.FindUnservable(UnservableDef::Kind::kView, "pushed");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->reason.find("'driver-push'"), std::string::npos) << u->reason;
}

TEST(FeastRegistry, Feast019UnnamedListedSourcesAreReadThroughTheirViews) {
  // Feast 0.19 listed module-level sources in data_sources even without a name.
  RegistryBuilder b = DriverRegistry();
  pb::FeastDataSource* unnamed = b.reg.add_data_sources();
  RegistryBuilder::FileSource(unnamed, "", "data/orders.parquet");
  unnamed->set_project(b.project);
  pb::FeastFeatureViewSpec* v = b.View("orders", "driver", "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(v->mutable_features(), "total", pb::DOUBLE);
  *v->mutable_batch_source() = *unnamed;
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  ASSERT_NE(c.FindView("orders"), nullptr);
  EXPECT_EQ(c.FindView("orders")->source, "orders_source");
}

TEST(FeastRegistry, ServiceProjectionsOfOneViewMergeAndRepeatsCountOnce) {
  RegistryBuilder b = DriverRegistry();
  pb::FeastFeatureServiceSpec* s = b.reg.add_feature_services()->mutable_spec();
  s->set_name("twice");
  s->set_project(b.project);
  for (const char* f : {"conv_rate", "conv_rate", "trips"}) {
    pb::FeastProjection* p = s->add_features();
    p->set_feature_view_name("driver_stats");
    RegistryBuilder::AddFeature(p->mutable_feature_columns(), f, pb::FLOAT);
    if (std::string(f) == "trips") {
      RegistryBuilder::AddFeature(p->mutable_feature_columns(), "trips", pb::INT64);
    }
  }
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  const FeatureServiceDef* twice = c.FindService("twice");
  ASSERT_NE(twice, nullptr);
  ASSERT_EQ(twice->projections.size(), 1u);
  EXPECT_EQ(twice->projections[0].features, (std::vector<std::string>{"conv_rate", "trips"}));
}

TEST(FeastRegistry, TheLongestTtlWithNanosDoesNotOverflow) {
  RegistryBuilder b = DriverRegistry();
  auto* ttl = b.reg.mutable_feature_views(0)->mutable_spec()->mutable_ttl();
  ttl->set_seconds(INT64_MAX);
  ttl->set_nanos(5);
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  EXPECT_EQ(c.FindView("driver_stats")->ttl_seconds, INT64_MAX);
}

TEST(FeastRegistry, PicksTheYamlsProjectAndNamesTheOthersWhenAbsent) {
  RegistryBuilder b = DriverRegistry();
  RegistryBuilder other;
  other.project = "fraud";
  other.Entity("card", "card_id", pb::STRING);
  for (const auto& e : other.reg.entities()) *b.reg.add_entities() = e;
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  ASSERT_EQ(c.entities.size(), 1u);
  EXPECT_EQ(c.entities[0].name, "driver");

  FeastRepo wrong;
  wrong.Write(b.Bytes(), "", "payments");
  EXPECT_TRUE(IsError(LoadRepoConfig(wrong.dir()), ErrorCode::kConfigError,
                      {"holds no project 'payments'", "'fraud'", "'rides'"}));
}

TEST(FeastRegistry, OnDemandViewsAndTheirServicesAreRefusedByName) {
  RegistryBuilder b = DriverRegistry();
  pb::FeastNamedSpec* odfv = b.reg.add_on_demand_feature_views()->mutable_spec();
  odfv->set_name("trip_ratio");
  odfv->set_project(b.project);
  pb::FeastFeatureServiceSpec* s = b.reg.add_feature_services()->mutable_spec();
  s->set_name("with_ratio");
  s->set_project(b.project);
  s->add_features()->set_feature_view_name("driver_stats");
  s->add_features()->set_feature_view_name("trip_ratio");
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  Frame key = MakeFrame({{"driver_id", testing::Ints({7})}});
  EXPECT_TRUE(IsError(fs->GetOnlineFeatures(testing::Features({"trip_ratio:ratio"}, key)),
                      ErrorCode::kFeatureViewNotFound,
                      {"'trip_ratio' cannot be served", "on-demand feature view"}));
  EXPECT_TRUE(
      IsError(fs->GetOnlineFeatures(testing::Service("with_ratio", key)),
              ErrorCode::kFeatureServiceNotFound,
              {"'with_ratio' cannot be served", "reads 'trip_ratio'", "on-demand feature view"}));
  // The rest of the repo serves.
  LARDER_EXPECT_OK(fs->GetOnlineFeatures(testing::Service("ranking", key)));
  // A reader of the segment alone (no repo files) gives the same reason.
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::AttachTo(c));
  EXPECT_TRUE(IsError(reader->GetOnlineFeatures(testing::Features({"trip_ratio:ratio"}, key)),
                      ErrorCode::kFeatureViewNotFound, {"on-demand feature view"}));
}

TEST(FeastRegistry, TypesLarderCannotStoreMakeTheViewUnservable) {
  RegistryBuilder b = DriverRegistry();
  RegistryBuilder::AddFeature(b.reg.mutable_feature_views(0)->mutable_spec()->mutable_features(),
                              "profile", static_cast<pb::FeastValueType>(20));  // Feast MAP
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  EXPECT_EQ(c.FindView("driver_stats"), nullptr);
  const UnservableDef* u = c.FindUnservable(UnservableDef::Kind::kView, "driver_stats");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->reason.find("'profile' of Feast type value type 20"), std::string::npos)
      << u->reason;
  // The service reading it goes with it.
  EXPECT_NE(c.FindUnservable(UnservableDef::Kind::kService, "ranking"), nullptr);
}

TEST(FeastRegistry, SourcesLarderCannotReadAreNamedWhenRead) {
  RegistryBuilder b = DriverRegistry();
  pb::FeastDataSource* batch = b.reg.mutable_data_sources(0)->mutable_batch_source();
  batch->clear_file_options();
  batch->set_type(pb::FeastDataSource::BATCH_BIGQUERY);
  batch->set_data_source_class_type("feast.infra.offline_stores.bigquery_source.BigQuerySource");
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  // Online pushes work; reading the batch source is refused with what it is.
  Frame rows = MakeFrame({{"driver_id", testing::Ints({7})},
                          {"conv_rate", {testing::F(0.5)}},
                          {"trips", testing::Ints({12})},
                          {"cities", {testing::Null()}},
                          {"event_timestamp", testing::Ints({testing::NowSeconds()})}});
  LARDER_EXPECT_OK(fs->Push("driver_push", rows));
  EXPECT_TRUE(IsError(
      fs->Materialize(0, testing::NowSeconds() * testing::kMicros), ErrorCode::kDataSourceError,
      {"'driver_push_batch'", "a BigQuery source", "BATCH_BIGQUERY", "BigQuerySource",
       "name the views to materialize", "leave out feature view 'driver_stats'"}));
}

TEST(FeastRegistry, OldRegistriesWithSourcesInsideEachViewImport) {
  // Feast 0.10-0.16: no top-level data sources; each view carries its own unnamed source in
  // field 7 (then `input`), with the timestamp in field 3 (then `event_timestamp_column`); no
  // entity columns; the entity's name differs from its join key; a view without entities
  // refers to Feast's `__dummy` entity.
  RegistryBuilder b;
  b.Entity("customer", "customer_id", pb::STRING);
  b.Entity("__dummy", "__dummy_id", pb::STRING);
  for (const char* name : {"orders", "global_stats"}) {
    pb::FeastFeatureViewSpec* v = b.reg.add_feature_views()->mutable_spec();
    v->set_name(name);
    v->set_project(b.project);
    v->add_entities(std::string(name) == "orders" ? "customer" : "__dummy");
    v->set_online(true);
    RegistryBuilder::AddFeature(v->mutable_features(), "total", pb::DOUBLE);
    RegistryBuilder::FileSource(v->mutable_batch_source(), "", "data/orders.parquet");
  }
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  const FeatureViewDef* orders = c.FindView("orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->join_keys[0].name, "customer_id");
  EXPECT_EQ(orders->join_keys[0].type, ScalarType::kString);
  EXPECT_EQ(orders->ttl_seconds, 0);  // no ttl: features never expire, as in Feast
  const SourceDef* src = c.FindSource(orders->source);
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->name, "orders_source");
  EXPECT_EQ(src->kind, SourceKind::kFile);
  EXPECT_EQ(src->resolved_path, repo.dir() + "/data/orders.parquet");
  EXPECT_EQ(c.FindEntity("__dummy"), nullptr);
  const UnservableDef* u = c.FindUnservable(UnservableDef::Kind::kView, "global_stats");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->reason.find("has no entities"), std::string::npos) << u->reason;
  // Reads name the entity's join key, or the entity itself (as Feast accepts it).
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  for (const char* column : {"customer_id", "customer"}) {
    LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r,
                                fs->GetOnlineFeatures(testing::Features(
                                    {"orders:total"}, MakeFrame({{column, {testing::S("c1")}}}))));
    EXPECT_EQ(r.results[1].statuses[0], FieldStatus::kNotFound) << column;
  }
}

TEST(FeastRegistry, RemoteAndMappedFileSourcesAreNotRead) {
  RegistryBuilder b = DriverRegistry();
  pb::FeastDataSource* batch = b.reg.mutable_data_sources(0)->mutable_batch_source();
  batch->mutable_file_options()->set_uri("s3://bucket/driver_stats.parquet");
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  const SourceDef* src = c.FindSource("driver_push_batch");
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->kind, SourceKind::kExternal);
  EXPECT_NE(src->external_type.find("'s3://bucket/driver_stats.parquet'"), std::string::npos);

  batch->mutable_file_options()->set_uri("file:///srv/driver_stats.parquet");
  (*batch->mutable_field_mapping())["ts"] = "event_timestamp";
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(c, LoadRepoConfig(repo.dir()));
  EXPECT_NE(c.FindSource("driver_push_batch")->external_type.find("field_mapping"),
            std::string::npos);
}

TEST(FeastRegistry, ApplyNamesWhatIsNotServedAndAReapplyChangesNothing) {
  RegistryBuilder b = DriverRegistry();
  pb::FeastNamedSpec* odfv = b.reg.add_on_demand_feature_views()->mutable_spec();
  odfv->set_name("trip_ratio");
  odfv->set_project(b.project);
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, FeatureStore::Open(repo.dir()));
  LARDER_ASSERT_OK_AND_ASSIGN(ApplyReport first, fs->Apply());
  bool named = false;
  for (const std::string& m : first.messages) {
    named = named || m.find("not served: feature view 'trip_ratio'") != std::string::npos;
  }
  EXPECT_TRUE(named);
  LARDER_ASSERT_OK_AND_ASSIGN(auto again, FeatureStore::Open(repo.dir()));
  LARDER_ASSERT_OK_AND_ASSIGN(ApplyReport second, again->Apply());
  EXPECT_FALSE(second.changed);
}

// Real registries written by `feast apply` (Feast 0.10 to 0.63), when a directory of them is
// given: LARDER_FEAST_REGISTRIES=DIR, one subdirectory per registry holding the repo's own
// feature_store.yaml (for its project) and registry.db. The workplace keeps data files taken
// from public repositories out of this repository (docs/feast.md, "Tested against"), so CI
// skips this. Each must import, apply, serve a read of every view, and re-apply unchanged.
TEST(FeastFixtures, RealRegistriesApplyAndServe) {
  const char* root = std::getenv("LARDER_FEAST_REGISTRIES");
  if (root == nullptr) GTEST_SKIP() << "LARDER_FEAST_REGISTRIES is not set";
  namespace fs = std::filesystem;
  size_t tried = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    const fs::path dir = entry.path();
    if (!fs::exists(dir / "registry.db")) continue;
    SCOPED_TRACE(dir.string());
    // The repo's own feature_store.yaml, with only its online_store section replaced.
    std::string project;
    std::string yaml_text;
    std::ifstream yaml(dir / "feature_store.yaml");
    bool in_online_store = false;
    for (std::string line; std::getline(yaml, line);) {
      if (in_online_store && (line.empty() || line[0] == ' ' || line[0] == '\t')) continue;
      in_online_store = line.rfind("online_store:", 0) == 0;
      if (in_online_store) continue;
      if (line.rfind("project:", 0) == 0) project = line.substr(line.find_first_not_of(" ", 8));
      yaml_text += line + "\n";
    }
    ASSERT_FALSE(project.empty());
    testing::TempSegmentPath segment;
    testing::TempDir repo_dir;
    repo_dir.Write("data/registry.db", testing::ReadFile((dir / "registry.db").string()));
    repo_dir.Write("feature_store.yaml", yaml_text + "online_store:\n  type: larder\n  path: " +
                                             segment.path() + "\n  memory_limit: 16MiB\n");
    struct {
      const std::string& dir() const { return path; }
      Result<std::unique_ptr<FeatureStore>> OpenApplied() const {
        LARDER_ASSIGN_OR_RETURN(auto fs, FeatureStore::Open(path));
        LARDER_RETURN_IF_ERROR(fs->Apply().status());
        return fs;
      }
      std::string path;
    } repo{repo_dir.path()};
    LARDER_ASSERT_OK_AND_ASSIGN(auto store, repo.OpenApplied());
    LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
    EXPECT_FALSE(c.views.empty());
    for (const FeatureViewDef& v : c.views) {
      Frame keys;
      for (const JoinKeyDef& k : v.join_keys) {
        keys.names.push_back(k.name);
        keys.columns.push_back({k.type == ScalarType::kString  ? testing::S("k")
                                : k.type == ScalarType::kBytes ? testing::B("k")
                                                               : testing::I(1)});
      }
      LARDER_ASSERT_OK_AND_ASSIGN(
          OnlineResponse r,
          store->GetOnlineFeatures(testing::Features({v.name + ":" + v.features[0].name}, keys)));
      EXPECT_EQ(r.results.back().statuses[0], FieldStatus::kNotFound) << v.name;
    }
    LARDER_ASSERT_OK_AND_ASSIGN(auto again, FeatureStore::Open(repo.dir()));
    LARDER_ASSERT_OK_AND_ASSIGN(ApplyReport second, again->Apply());
    EXPECT_FALSE(second.changed);
    std::printf(
        "%s: project %s, %zu entities, %zu sources, %zu views, %zu services, %zu not served\n",
        dir.filename().c_str(), project.c_str(), c.entities.size(), c.sources.size(),
        c.views.size(), c.services.size(), c.unservable.size());
    ++tried;
  }
  EXPECT_GT(tried, 0u);
}

TEST(FeastRegistry, StreamFeatureViewsReadTheirBatchSourceUnlessPushed) {
  RegistryBuilder b = DriverRegistry();
  pb::FeastStreamFeatureViewSpec* v = b.reg.add_stream_feature_views()->mutable_spec();
  v->set_name("driver_clicks");
  v->set_project(b.project);
  v->add_entities("driver");
  RegistryBuilder::AddFeature(v->mutable_entity_columns(), "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(v->mutable_features(), "clicks", pb::INT64);
  v->set_online(true);
  RegistryBuilder::FileSource(v->mutable_batch_source(), "clicks_file", "data/clicks.parquet");
  pb::FeastDataSource* kafka = v->mutable_stream_source();
  kafka->set_type(pb::FeastDataSource::STREAM_KAFKA);
  kafka->set_name("clicks_kafka");
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  const FeatureViewDef* view = c.FindView("driver_clicks");
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->source, "clicks_file");
  ASSERT_NE(c.FindSource("clicks_kafka"), nullptr);
  EXPECT_EQ(c.FindSource("clicks_kafka")->kind, SourceKind::kExternal);
  EXPECT_NE(c.FindSource("clicks_kafka")->external_type.find("a Kafka source"), std::string::npos);
}

TEST(FeastRegistry, EmptyRegistryIsRefusedNotReadAsAnEmptyProject) {
  // Feast truncates the file before writing it: read then, it would drop every view.
  FeastRepo repo;
  repo.Write("");
  EXPECT_TRUE(IsError(LoadRepoConfig(repo.dir()), ErrorCode::kConfigError,
                      {"data/registry.db", "the Feast registry is empty", "try again"}));
}

TEST(FeastRegistry, ProjectionsListingTheJoinKeyColumnAreServed) {
  // Feast 0.20-0.21 put the entity column among a view's features and its projections.
  RegistryBuilder b = DriverRegistry();
  auto* columns = b.reg.mutable_feature_services(0)
                      ->mutable_spec()
                      ->mutable_features(0)
                      ->mutable_feature_columns();
  RegistryBuilder::AddFeature(columns, "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(b.reg.mutable_feature_views(0)->mutable_spec()->mutable_features(),
                              "driver_id", pb::INT64);
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  ASSERT_NE(c.FindService("ranking"), nullptr);
  EXPECT_EQ(c.FindService("ranking")->projections[0].features,
            std::vector<std::string>{"conv_rate"});
  EXPECT_EQ(c.FindView("driver_stats")->features.size(), 3u);  // not the key column
}

TEST(FeastRegistry, DerivedViewsDisabledViewsAndOddParquetNamesAreNotServedOrRead) {
  RegistryBuilder b = DriverRegistry();
  b.reg.mutable_feature_views(0)->mutable_spec()->mutable_feature_transformation();
  pb::FeastFeatureViewSpec* off = b.View("off", "driver", "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(off->mutable_features(), "x", pb::INT64);
  RegistryBuilder::FileSource(off->mutable_batch_source(), "off_file", "data/off.parquet");
  off->set_disabled(true);
  pb::FeastFeatureViewSpec* odd = b.View("odd", "driver", "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(odd->mutable_features(), "x", pb::INT64);
  RegistryBuilder::FileSource(odd->mutable_batch_source(), "odd_file", "data/odd.pq");
  pb::FeastFeatureViewSpec* delta = b.View("delta", "driver", "driver_id", pb::INT64);
  RegistryBuilder::AddFeature(delta->mutable_features(), "x", pb::INT64);
  RegistryBuilder::FileSource(delta->mutable_batch_source(), "delta_file", "data/delta.parquet");
  delta->mutable_batch_source()
      ->mutable_file_options()
      ->mutable_file_format()
      ->mutable_delta_format();
  FeastRepo repo;
  repo.Write(b.Bytes());
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  const UnservableDef* u = c.FindUnservable(UnservableDef::Kind::kView, "driver_stats");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->reason.find("transformation"), std::string::npos) << u->reason;
  u = c.FindUnservable(UnservableDef::Kind::kView, "off");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->reason.find("is disabled"), std::string::npos) << u->reason;
  ASSERT_NE(c.FindView("odd"), nullptr);
  EXPECT_EQ(c.FindSource("odd_file")->kind, SourceKind::kExternal);
  EXPECT_NE(c.FindSource("odd_file")->external_type.find("does not end in .parquet"),
            std::string::npos);
  EXPECT_NE(c.FindSource("delta_file")->external_type.find("Delta"), std::string::npos);
  // Materializing an unservable view by name gives its reason.
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo.OpenApplied());
  EXPECT_TRUE(IsError(fs->Materialize(0, testing::NowSeconds() * testing::kMicros, {"off"}),
                      ErrorCode::kFeatureViewNotFound, {"'off' cannot be served", "disabled"}));
}

TEST(FeastRegistry, BytesThatAreNotARegistryAreRefused) {
  FeastRepo repo;
  repo.Write(std::string("\x0a\xff\xff\xff\xff\x0f", 6));
  EXPECT_TRUE(IsError(LoadRepoConfig(repo.dir()), ErrorCode::kConfigError,
                      {"data/registry.db", "not a Feast registry"}));
}

TEST(FeastYaml, OtherOnlineStoresRegistriesAndKeysAreRefused) {
  struct Case {
    std::string yaml;
    std::vector<std::string> parts;
  };
  const Case cases[] = {
      {"project: rides\nprovider: local\nonline_store:\n  type: sqlite\n  path: data/o.db\n",
       {"feature_store.yaml:4:9", "type 'sqlite' is another Feast online store", "type: larder"}},
      {"project: rides\nregistry:\n  registry_type: sql\n  path: postgresql://x/y\n",
       {"feature_store.yaml:3:18", "registry_type 'sql' is not supported"}},
      {"project: rides\nregistry: gs://bucket/registry.db\n",
       {"feature_store.yaml:2:11", "not a local file"}},
      {"project: rides\nprovider: local\nonline_store:\n  path: data/online_store.db\n",
       {"feature_store.yaml:4:3", "without a type is the provider's default store"}},
      {"project: rides\nregistry:\n  registry_store_type: S3RegistryStore\n  path: s3://b/r.db\n",
       {"feature_store.yaml:3:24", "registry_store_type 'S3RegistryStore' is not a local file"}},
      {"project: rides\nprovider: local\nentities: []\n",
       {"feature_store.yaml:3:1", "unknown key 'entities'"}},
      {"project: rides\nprovider: local\n", {"data/registry.db: cannot open the Feast registry"}},
  };
  for (const Case& c : cases) {
    testing::TempDir dir;
    dir.Write("feature_store.yaml", c.yaml);
    Result<RepoConfig> r = LoadRepoConfig(dir.path());
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().code(), ErrorCode::kConfigError);
    for (const std::string& p : c.parts) {
      EXPECT_NE(r.status().message().find(p), std::string::npos)
          << r.status().message() << " lacks " << p;
    }
  }
}

TEST(FeastYaml, ARegistryThatIsNotARegularFileIsRefusedNotWaitedOn) {
  FeastRepo repo;
  repo.Write(DriverRegistry().Bytes());
  const std::string registry = repo.dir() + "/data/registry.db";
  ASSERT_EQ(::unlink(registry.c_str()), 0);
  ASSERT_EQ(::mkfifo(registry.c_str(), 0600), 0);  // opening it for reading would block
  EXPECT_TRUE(IsError(LoadRepoConfig(repo.dir()), ErrorCode::kConfigError,
                      {"data/registry.db: the Feast registry is not a regular file"}));
}

TEST(FeastYaml, RegistryMapAndLarderOnlineStoreKeysAreRead) {
  FeastRepo repo;
  repo.temp().Write("reg/custom.db", DriverRegistry().Bytes());
  repo.temp().Write("feature_store.yaml",
                    "project: rides\nprovider: local\nregistry:\n  registry_type: file\n"
                    "  registry_store_type: FileRegistryStore\n  mcp: {enabled: false}\n"
                    "  path: reg/custom.db\n  cache_ttl_seconds: 60\nonline_store:\n"
                    "  type: larder\n  initial_capacity: 5000\n"
                    "offline_store:\n  type: file\nentity_key_serialization_version: 3\n");
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig c, LoadRepoConfig(repo.dir()));
  EXPECT_EQ(c.online_store.initial_capacity, 5000u);
  EXPECT_EQ(c.online_store.path, "/dev/shm/larder-rides");
  EXPECT_NE(c.FindView("driver_stats"), nullptr);
}

}  // namespace
}  // namespace larder
