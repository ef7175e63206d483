// One live segment (docs/design.md, "Teardown"): after `teardown` (and a new `apply`), a
// process still attached to the old segment never has a push acknowledged into it and never
// serves it; FeatureStore follows the store to the new segment.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/store.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::IsError;
using testing::Repo;
using testing::TripsRows;

std::string Body() { return std::string(testing::kDriverPreamble) + testing::kTripsView; }

OnlineRequest TripsOf(int64_t id) {
  return testing::Features({"driver_stats:trips"},
                           testing::MakeFrame({{"driver_id", {testing::I(id)}}}));
}

// Teardown + apply by another process while this one keeps the old segment mapped.
void TearDownAndApplyElsewhere(const Repo& repo) {
  auto other = repo.Open();
  ASSERT_TRUE(other.ok());
  LARDER_ASSERT_OK((*other)->Teardown());
  LARDER_ASSERT_OK((*other)->Apply());
}

TEST(LiveSegment, WriterAttachedToATornDownSegmentNeverAcknowledges) {
  Repo repo;
  repo.Write(Body());
  ASSERT_TRUE(repo.OpenApplied().ok());
  auto writer = Store::Open(repo.segment(), /*writable=*/true);
  ASSERT_TRUE(writer.ok());
  LARDER_ASSERT_OK((*writer)->Push("stats_push", TripsRows(1, 3, 100, 1000)));
  EXPECT_FALSE((*writer)->Detached());

  TearDownAndApplyElsewhere(repo);
  EXPECT_TRUE((*writer)->Detached());
  EXPECT_TRUE(IsError((*writer)->Push("stats_push", TripsRows(1, 3, 200, 2000)),
                      ErrorCode::kStoreNotFound, {"torn down", repo.segment()}));
  // Nothing reached the live segment either.
  auto reader = OnlineReader::Attach(repo.segment());
  ASSERT_TRUE(reader.ok());
  auto got = (*reader)->GetOnlineFeatures(TripsOf(1));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->results[1].statuses[0], FieldStatus::kNotFound);
}

TEST(LiveSegment, ReaderOfATornDownSegmentAnswersAnError) {
  Repo repo;
  repo.Write(Body());
  {
    auto fs = repo.OpenApplied();
    ASSERT_TRUE(fs.ok());
    LARDER_ASSERT_OK((*fs)->Push("stats_push", TripsRows(1, 3, 100, 1000)));
  }
  auto reader = OnlineReader::Attach(repo.segment());
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->GetOnlineFeatures(TripsOf(1)).ok());
  auto other = repo.Open();
  ASSERT_TRUE(other.ok());
  LARDER_ASSERT_OK((*other)->Teardown());
  // The first lookup after the teardown already answers the error (the mark is set before
  // anything is unlinked), and so does every later one, with or without a new segment.
  EXPECT_TRUE(
      IsError((*reader)->GetOnlineFeatures(TripsOf(1)), ErrorCode::kStoreNotFound, {"torn down"}));
  // Every other read of the dead segment as well: its figures, its check, its registry.
  EXPECT_TRUE(IsError((*reader)->Inspect(), ErrorCode::kStoreNotFound, {"torn down"}));
  EXPECT_TRUE(IsError((*reader)->Check(), ErrorCode::kStoreNotFound, {"torn down"}));
  EXPECT_TRUE(IsError((*reader)->Registry(), ErrorCode::kStoreNotFound, {"torn down"}));
  EXPECT_TRUE((*reader)->Detached());
  LARDER_ASSERT_OK((*other)->Apply());
  EXPECT_TRUE(
      IsError((*reader)->GetOnlineFeatures(TripsOf(1)), ErrorCode::kStoreNotFound, {"torn down"}));
}

// A long-lived FeatureStore (the HTTP server's, a Python process's) writes to the new segment.
TEST(LiveSegment, FeatureStoreFollowsTheStoreToTheNewSegment) {
  Repo repo;
  repo.Write(Body());
  auto fs = repo.OpenApplied();
  ASSERT_TRUE(fs.ok());
  LARDER_ASSERT_OK((*fs)->Push("stats_push", TripsRows(1, 3, 100, 1000)));

  TearDownAndApplyElsewhere(repo);
  LARDER_ASSERT_OK((*fs)->Push("stats_push", TripsRows(1, 1, 200, 2000)));
  auto reader = OnlineReader::Attach(repo.segment());
  ASSERT_TRUE(reader.ok());
  auto got = (*reader)->GetOnlineFeatures(TripsOf(1));
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->results[1].statuses[0], FieldStatus::kPresent);
  EXPECT_EQ(got->results[1].values[0].i64, 201);
  auto own = (*fs)->GetOnlineFeatures(TripsOf(2));
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->results[1].statuses[0], FieldStatus::kNotFound) << "served the dead segment";
}

}  // namespace
}  // namespace larder
