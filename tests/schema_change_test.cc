// Schema changes keep rows where they can (engine/schema_plan.h): features added or removed
// leave every stored value where the rows hold it (FieldDef::slot), a view's layout travels in
// the registry in a form older builds refuse rather than misread, and `plan` writes nothing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/rows/catalog.h"
#include "engine/rows/registry_codec.h"
#include "engine/store.h"
#include "larder/feature_store.h"
#include "layout/registry_generated.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::Column;
using testing::Features;
using testing::I;
using testing::Ints;
using testing::MakeFrame;
using testing::S;

// Three Int64 features and two Strings, so that removing a middle one of each class leaves a
// hole below a live slot.
std::string ViewWith(const std::vector<std::string>& schema) {
  std::string yaml = std::string(testing::kDriverPreamble) +
                     "feature_views:\n  - name: wide\n    entities: [driver]\n"
                     "    source: stats_push\n    schema:\n";
  for (const std::string& field : schema) yaml += "      - {" + field + "}\n";
  return yaml;
}

const std::vector<std::string> kWide = {"name: a, dtype: Int64", "name: b, dtype: Int64",
                                        "name: c, dtype: Int64", "name: s1, dtype: String",
                                        "name: s2, dtype: String"};

Frame WideRows(int64_t id, int64_t base, int64_t event_s, bool with_b_s1 = true) {
  std::vector<Column> cols = {{"driver_id", Ints({id})},
                              {"a", {I(base + 1)}},
                              {"c", {I(base + 3)}},
                              {"s2", {S("s2-" + std::to_string(base))}},
                              {"event_timestamp", {I(event_s)}}};
  if (with_b_s1) {
    cols.push_back({"b", {I(base + 2)}});
    cols.push_back({"s1", {S("s1-" + std::to_string(base))}});
  }
  return MakeFrame(std::move(cols));
}

// Each requested feature of entity `id`: its value as text, or its status when not PRESENT.
std::vector<std::string> Read(FeatureStore& fs, int64_t id, const std::vector<std::string>& f) {
  std::vector<std::string> refs;
  for (const std::string& name : f) refs.push_back("wide:" + name);
  const OnlineRequest req = Features(refs, MakeFrame({{"driver_id", Ints({id})}}));
  std::vector<std::string> out;
  auto r = fs.GetOnlineFeatures(req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return out;
  for (size_t i = 1; i < r->results.size(); ++i) {
    const FeatureColumn& c = r->results[i];
    if (c.statuses[0] != FieldStatus::kPresent) {
      out.push_back(FieldStatusName(c.statuses[0]));
    } else if (c.values[0].dtype.scalar == ScalarType::kString) {
      out.push_back(c.values[0].str);
    } else {
      out.push_back(std::to_string(c.values[0].i64));
    }
  }
  // The columnar shape (its class-by-class copy when a row allows it) reads the same.
  ColumnarResponse columns;
  auto reader = OnlineReader::Attach(fs.config().online_store.path);
  EXPECT_TRUE(reader.ok());
  if (!reader.ok()) return out;
  EXPECT_TRUE((*reader)->GetOnlineFeaturesColumnar(req, &columns).ok());
  std::vector<std::string> columnar;
  for (const ColumnarFeature& c : columns.features) {
    if (c.statuses.empty() || c.statuses[0] != FieldStatus::kPresent) {
      columnar.push_back(c.statuses.empty() ? "?" : FieldStatusName(c.statuses[0]));
    } else if (c.dtype.scalar == ScalarType::kString) {
      columnar.push_back(c.strings[0]);
    } else {
      columnar.push_back(std::to_string(c.ints[0]));
    }
  }
  EXPECT_EQ(columnar, out) << "the columnar response differs";
  return out;
}

class SchemaChange : public testing::StoreFixture {};

// Removing b and s1 (middle slots of their classes) must leave a, c and s2 where the rows hold
// them: in schema order c and s2 would take the removed features' slots and read their values.
// Features added later get fresh slots: rows stored before read them as NOT_FOUND, never as a
// removed feature's value, even when one comes back under its old name.
TEST_F(SchemaChange, RemovedAndAddedFeaturesLeaveStoredValuesInPlace) {
  repo_.Write(ViewWith(kWide));
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", WideRows(1, 100, 1000)));

  repo_.Write(
      ViewWith({"name: a, dtype: Int64", "name: c, dtype: Int64", "name: s2, dtype: String"}));
  ApplyReport shrunk;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs2, repo_.OpenApplied(&shrunk));
  EXPECT_EQ(shrunk.rows_discarded, 0u);
  EXPECT_EQ(Read(*fs2, 1, {"a", "c", "s2"}), (std::vector<std::string>{"101", "103", "s2-100"}));
  // A row written now leaves the removed slots empty; it reads the same way.
  LARDER_ASSERT_OK(fs2->Push("stats_push", WideRows(2, 200, 1000, /*with_b_s1=*/false)));
  EXPECT_EQ(Read(*fs2, 2, {"a", "c", "s2"}), (std::vector<std::string>{"201", "203", "s2-200"}));

  repo_.Write(
      ViewWith({"name: a, dtype: Int64", "name: c, dtype: Int64", "name: s2, dtype: String",
                "name: d, dtype: Int64", "name: s3, dtype: String", "name: b, dtype: Int64"}));
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs3, repo_.OpenApplied());
  for (int64_t id : {1, 2}) {
    EXPECT_EQ(Read(*fs3, id, {"d", "s3", "b"}),
              (std::vector<std::string>{"NOT_FOUND", "NOT_FOUND", "NOT_FOUND"}))
        << "entity " << id;
  }
  EXPECT_EQ(Read(*fs3, 1, {"a", "c", "s2"}), (std::vector<std::string>{"101", "103", "s2-100"}));
  Frame fresh = WideRows(3, 300, 1000);
  fresh.names.push_back("d");
  fresh.columns.push_back({I(304)});
  fresh.names.push_back("s3");
  fresh.columns.push_back({S("s3-300")});
  LARDER_ASSERT_OK(fs3->Push("stats_push", fresh));
  EXPECT_EQ(Read(*fs3, 3, {"a", "b", "c", "d", "s2", "s3"}),
            (std::vector<std::string>{"301", "302", "303", "304", "s2-300", "s3-300"}));
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs3->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
}

// Reordering features keeps the rows, and each feature its values.
TEST_F(SchemaChange, ReorderedFeaturesKeepTheirValues) {
  repo_.Write(ViewWith(kWide));
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", WideRows(1, 100, 1000)));
  repo_.Write(ViewWith({kWide[4], kWide[2], kWide[0], kWide[3], kWide[1]}));
  ApplyReport report;
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs2, repo_.OpenApplied(&report));
  EXPECT_EQ(report.rows_discarded, 0u);
  EXPECT_EQ(report.messages,
            (std::vector<std::string>{
                "updated feature view 'wide', keeping its rows: changed feature order"}));
  EXPECT_EQ(Read(*fs2, 1, {"a", "b", "c", "s1", "s2"}),
            (std::vector<std::string>{"101", "102", "103", "s1-100", "s2-100"}));
  LARDER_ASSERT_OK(fs2->Push("stats_push", WideRows(2, 200, 1000)));
  EXPECT_EQ(Read(*fs2, 2, {"s2", "c", "a", "s1", "b"}),
            (std::vector<std::string>{"s2-200", "203", "201", "s1-200", "202"}));
}

// A view laid out in schema order keeps the registry encoding every build reads; an evolved
// one lists its slots in placed_features behind a marker that an older build (which decodes
// only View.features) refuses, so it can never read the view's rows in schema order.
TEST_F(SchemaChange, EvolvedLayoutsTravelInAFormOlderBuildsRefuse) {
  RepoConfig config;
  config.project = "p";
  FeatureViewDef v;
  v.name = "wide";
  v.id = 1;
  v.features = {{"a", {ScalarType::kInt64, false}}, {"c", {ScalarType::kInt64, false}}};
  AssignSchemaOrderLayout(&v.features);
  config.views.push_back(v);
  const std::string plain = EncodeRegistry(config, 2);
  const fb::View* pv = fb::GetRegistry(plain.data())->views()->Get(0);
  EXPECT_EQ(pv->placed_features(), nullptr);
  ASSERT_EQ(pv->features()->size(), 2u);
  EXPECT_TRUE(DType::Decode(pv->features()->Get(1)->dtype()).ok());
  // Once a feature was added or removed with the rows kept, the placed form is used even when
  // the slots happen to be in schema order (an older build would take the rows stored before
  // the addition for damaged ones).
  config.views[0].layout_evolved = true;
  const std::string appended = EncodeRegistry(config, 2);
  EXPECT_NE(fb::GetRegistry(appended.data())->views()->Get(0)->placed_features(), nullptr);
  config.views[0].layout_evolved = false;

  // b (slot 1) was removed: c keeps slot 2.
  config.views[0].features[1].slot = 2;
  config.views[0].features[1].null_bit = 2;
  config.views[0].retired_features = {{"b", {ScalarType::kInt64, false}, 1, 1}};
  const std::string evolved = EncodeRegistry(config, 2);
  const fb::View* ev = fb::GetRegistry(evolved.data())->views()->Get(0);
  ASSERT_EQ(ev->features()->size(), 1u);
  EXPECT_FALSE(DType::Decode(ev->features()->Get(0)->dtype()).ok())
      << "an older build would decode this view's features in schema order";
  uint32_t next_id = 0;
  LARDER_ASSERT_OK_AND_ASSIGN(RepoConfig back, DecodeRegistry(evolved, &next_id));
  ASSERT_EQ(back.views.size(), 1u);
  EXPECT_EQ(back.views[0].features, config.views[0].features);
  EXPECT_EQ(back.views[0].retired_features, config.views[0].retired_features);

  // Untrusted bytes: two features on one slot are refused.
  config.views[0].features[1].slot = 1;
  EXPECT_TRUE(testing::IsError(DecodeRegistry(EncodeRegistry(config, 2), &next_id),
                               ErrorCode::kCorruptStore, {"feature view 'wide'", "slot 1"}));
  config.views[0].features[1].slot = kMaxLayoutSlots;
  EXPECT_TRUE(testing::IsError(DecodeRegistry(EncodeRegistry(config, 2), &next_id),
                               ErrorCode::kCorruptStore, {"out of range"}));
}

// plan reads the store as a reader: it reports what apply would do, with the rows each change
// discards, and leaves the registry as it was.
TEST_F(SchemaChange, PlanReportsWithoutWriting) {
  repo_.Write(ViewWith(kWide));
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", WideRows(1, 100, 1000)));
  LARDER_ASSERT_OK(fs->Push("stats_push", WideRows(2, 200, 1000)));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before, fs->Inspect());
  repo_.Write(ViewWith({"name: a, dtype: Int32", "name: c, dtype: Int64"}));
  LARDER_ASSERT_OK_AND_ASSIGN(auto changed, repo_.Open());
  LARDER_ASSERT_OK_AND_ASSIGN(ApplyReport plan, changed->Plan());
  EXPECT_EQ(plan.rows_discarded, 2u);
  ASSERT_EQ(plan.messages.size(), 2u);
  EXPECT_EQ(plan.messages[0],
            "re-create feature view 'wide' empty: feature 'a' changes dtype from Int64 to "
            "Int32; discards its 2 rows");
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after, fs->Inspect());
  EXPECT_EQ(after.registry_generation, before.registry_generation);
  EXPECT_EQ(after.write_batches, before.write_batches);
  EXPECT_EQ(Read(*fs, 1, {"a"}), (std::vector<std::string>{"101"}));
}

}  // namespace
}  // namespace larder
