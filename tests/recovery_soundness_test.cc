// Issue 16, parts 2, 3 and 5: the three windows a writer killed between two stores left
// unrecoverable, readers that follow damaged words of a live segment, and `check` while writers
// run. Each test reproduces the state the finding described (the crash-prefix tests,
// crash_prefix_test.cc, cover every other kill point of the same batches).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "larder/feature_store.h"
#include "layout/segment_layout.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::Features;
using testing::Ints;
using testing::MakeFrame;
using testing::StoreOptions;

constexpr char kNotesView[] = R"(  - name: driver_notes
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
)";
constexpr char kNotesViewChanged[] = R"(  - name: driver_notes
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int32}
      - {name: conv_rate, dtype: Float64}
)";

class RecoverySoundness : public testing::StoreFixture {
 protected:
  void SetUp() override {
    repo_.Write(std::string(testing::kDriverPreamble) + testing::kTripsView + kNotesView,
                StoreOptions{200, "4MiB"});
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
    ASSERT_TRUE(fs_->Push("stats_push", testing::TripsRows(0, 50, 1000, 1)).ok());
  }

  // trips of ids [0, n) through `view`, as `fs` reads them (-1: not found).
  static std::vector<int64_t> Trips(FeatureStore& fs, const std::string& view, int64_t n) {
    std::vector<int64_t> ids, out;
    for (int64_t id = 0; id < n; ++id) ids.push_back(id);
    auto r =
        fs.GetOnlineFeatures(Features({view + ":trips"}, MakeFrame({{"driver_id", Ints(ids)}})));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    for (size_t i = 0; i < ids.size(); ++i) {
      out.push_back(r->results.back().statuses[i] == FieldStatus::kPresent
                        ? r->results.back().values[i].i64
                        : -1);
    }
    return out;
  }

  std::unique_ptr<FeatureStore> fs_;
};

// PublishRegistry stores the registry block, then advances the generation. Killed between
// the two: the new registry stood under the old generation, so a long-lived process kept its
// old catalog for good, pushed rows under the dead view id (acknowledged, then invisible, and
// `check` reported them), while a fresh process saw the new catalog.
TEST_F(RecoverySoundness, RegistryPublishedWithoutItsGenerationIsReloadedByTheNextWriter) {
  // fs_ is the long-lived process: its catalog is of the current generation.
  ASSERT_EQ(Trips(*fs_, "driver_notes", 3), (std::vector<int64_t>{1000, 1001, 1002}));
  uint64_t generation = 0;
  {
    testing::RawSegment raw(repo_.segment());
    generation = raw.header()->registry_generation.load();
  }
  // Another process applies a changed dtype for driver_notes (a new view id)...
  repo_.Write(std::string(testing::kDriverPreamble) + testing::kTripsView + kNotesViewChanged,
              StoreOptions{200, "4MiB"});
  {
    auto applier = repo_.OpenApplied(nullptr, ApplyOptions{.force = true});
    ASSERT_TRUE(applier.ok()) << applier.status().ToString();
  }
  // ...and is killed after storing the registry block, before advancing the generation: the
  // generation is as before and the store is marked dirty.
  {
    testing::RawSegment raw(repo_.segment());
    ASSERT_EQ(raw.header()->registry_generation.load(), generation + 1);
    raw.header()->registry_generation.store(generation);
    raw.header()->writer_pid.store(4194304);  // above any pid_max: a dead writer
  }
  // The long-lived process pushes: as the next writer it recovers, and must write under the
  // registry that stands, not the catalog it cached.
  ASSERT_TRUE(fs_->Push("stats_push", testing::TripsRows(0, 3, 2000, 2)).ok());
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs_->Check());
  EXPECT_TRUE(check.ok()) << check.violations[0];
  EXPECT_EQ(check.dead_writer_pid, 0u);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fresh, repo_.Open());
  for (FeatureStore* reader : {fs_.get(), fresh.get()}) {
    EXPECT_EQ(Trips(*reader, "driver_notes", 4), (std::vector<int64_t>{2000, 2001, 2002, -1}));
    auto conv = reader->GetOnlineFeatures(
        Features({"driver_notes:conv_rate"}, MakeFrame({{"driver_id", Ints({0})}})));
    EXPECT_TRUE(conv.ok()) << conv.status().ToString();
  }
}

// Arena::TakeLarge shrinks a free block into an alignment filler: `units = pad`, then
// `kind = kPad`, after writing the aligned block's header behind it. Killed between the two
// with a one-unit filler, recovery took the 16-byte block for a dead one and retired it, and
// its link store overwrote the next block's header: check failed and recovery then failed.
TEST_F(RecoverySoundness, OneUnitFillerLeftMarkedFreeSurvivesRecovery) {
  // Rewrite a row twice: the old versions' blocks are on a free list.
  ASSERT_TRUE(fs_->Push("stats_push", testing::TripsRows(0, 50, 2000, 2)).ok());
  ASSERT_TRUE(fs_->Push("stats_push", testing::TripsRows(0, 50, 3000, 3)).ok());
  {
    testing::RawSegment raw(repo_.segment());
    layout::SegmentHeader* h = raw.header();
    uint64_t off = 0;
    for (uint32_t u = 3; u <= layout::kSmallClasses && off == 0; ++u) off = h->alloc.free_heads[u];
    ASSERT_NE(off, 0u) << "no free block of 3+ units";
    layout::BlockHeader* b = raw.block(off);
    const uint32_t units = b->units;
    // The state TakeLarge leaves after `units = pad` (1) and before `kind = kPad`.
    layout::BlockHeader* aligned = raw.block(off + layout::kBlockAlign);
    aligned->units = units - 1;
    aligned->kind = layout::BlockKind::kFree;
    b->units = 1;
    h->writer_pid.store(4194304);
  }
  auto pushed = fs_->Push("stats_push", testing::TripsRows(0, 60, 4000, 4));
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs_->Check());
  EXPECT_TRUE(check.ok()) << check.violations.size()
                          << " violations, first: " << check.violations[0];
  std::vector<int64_t> want;
  for (int64_t id = 0; id < 60; ++id) want.push_back(4000 + id);
  EXPECT_EQ(Trips(*fs_, "driver_stats", 60), want);
  // And the next batch recovers nothing more: the lists it left are sound.
  ASSERT_TRUE(fs_->Push("stats_push", testing::TripsRows(0, 60, 5000, 5)).ok());
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport again, fs_->Check());
  EXPECT_TRUE(again.ok()) << again.violations[0];
}

// When recovery fails in WriteSession::Begin, the session's destructor used to Finish(): it
// reclaimed over the dead writer's lists and cleared the dirty mark, so the next writer skipped
// recovery and trusted the torn lists.
TEST_F(RecoverySoundness, FailedRecoveryLeavesTheStoreMarkedDirty) {
  uint64_t first_block = 0;
  uint32_t first_units = 0;
  {
    testing::RawSegment raw(repo_.segment());
    first_block = raw.header()->arena_begin;
    first_units = raw.block(first_block)->units;
    raw.block(first_block)->units = 0;  // the blocks no longer tile the arena
    raw.header()->writer_pid.store(4194304);
  }
  EXPECT_TRUE(testing::IsError(fs_->Push("stats_push", testing::TripsRows(0, 5, 2000, 2)),
                               ErrorCode::kCorruptStore, {"cannot repair"}));
  {
    testing::RawSegment raw(repo_.segment());
    EXPECT_EQ(raw.header()->writer_pid.load(), 4194304u) << "the dirty mark was cleared";
    raw.block(first_block)->units = first_units;  // the damage is mended (say, by hand)
  }
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before, fs_->Inspect());
  ASSERT_TRUE(fs_->Push("stats_push", testing::TripsRows(0, 5, 2000, 2)).ok());
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after, fs_->Inspect());
  EXPECT_EQ(after.recoveries, before.recoveries + 1) << "the next writer skipped recovery";
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs_->Check());
  EXPECT_TRUE(check.ok()) << check.violations[0];
}

// `check` during pushes used to walk half-made blocks and lists without the writer lock and
// reported violations (4 of 30 runs), and took a batch in progress for a dead writer.
TEST_F(RecoverySoundness, CheckDuringPushesGivesAConsistentVerdict) {
  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  std::thread writer([&] {
    auto fs = repo_.Open();
    for (int64_t k = 2; !stop.load(); ++k) {
      // A failed push still counts, so that the checking loop never waits for it.
      EXPECT_TRUE(fs.ok() &&
                  (*fs)->Push("stats_push", testing::TripsRows(0, 400, 1000 * k, k)).ok());
      batches.fetch_add(1);
    }
  });
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  for (int run = 0; run < 30; ++run) {
    // Each check starts once another batch has completed, so checks and batches interleave.
    const int seen = batches.load();
    while (batches.load() == seen) std::this_thread::yield();
    auto check = reader->Check();
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    EXPECT_TRUE(check->ok()) << "run " << run << ": " << check->violations[0];
    EXPECT_EQ(check->dead_writer_pid, 0u) << "run " << run;
  }
  stop.store(true);
  writer.join();
}

// A dead writer is reported as such, not as violations, and Repair() makes the next writer's
// repair.
TEST_F(RecoverySoundness, CheckNamesADeadWriterAndRepairMendsIt) {
  {
    testing::RawSegment raw(repo_.segment());
    raw.header()->writer_pid.store(4194304);
    raw.header()->alloc.large_free_head = 17;  // torn lists: not checked, rebuilt by Repair
  }
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport dirty, fs_->Check());
  EXPECT_TRUE(dirty.ok()) << dirty.violations[0];
  EXPECT_EQ(dirty.dead_writer_pid, 4194304u);
  LARDER_ASSERT_OK_AND_ASSIGN(bool repaired, fs_->Repair());
  EXPECT_TRUE(repaired);
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport clean, fs_->Check());
  EXPECT_TRUE(clean.ok()) << clean.violations[0];
  EXPECT_EQ(clean.dead_writer_pid, 0u);
  LARDER_ASSERT_OK_AND_ASSIGN(bool again, fs_->Repair());
  EXPECT_FALSE(again);
}

// A reader process keeps reading while the words it follows are damaged and mended under it
// (index descriptor, registry block and generation, arena top, index words, row bytes): no
// crash, no hang, only statuses or errors. The index descriptor was validated at attach only,
// and a damaged one sent lookups outside the mapping (SIGSEGV).
TEST_F(RecoverySoundness, ReaderSurvivesALiveSegmentDamagedUnderIt) {
  auto* progress = static_cast<std::atomic<uint64_t>*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(progress, MAP_FAILED);
  progress[0].store(0);  // rounds the reader finished
  progress[1].store(0);  // 1: stop
  const std::string path = repo_.segment();
  testing::Child child = testing::ForkChild([&](int) {
    auto reader = OnlineReader::Attach(path);
    if (!reader.ok()) ::_exit(2);
    std::vector<int64_t> ids;
    for (int64_t id = 0; id < 60; ++id) ids.push_back(id);
    const OnlineRequest one =
        Features({"driver_stats:trips"}, MakeFrame({{"driver_id", Ints({7})}}));
    const OnlineRequest many = Features({"driver_stats:trips", "driver_stats:conv_rate"},
                                        MakeFrame({{"driver_id", Ints(ids)}}));
    while (progress[1].load() == 0) {
      (void)(*reader)->GetOnlineFeatures(one);
      (void)(*reader)->GetOnlineFeatures(many);
      progress->fetch_add(1);
    }
    ::_exit(0);
  });
  ASSERT_GT(child.pid, 0);
  testing::RawSegment raw(path);
  layout::SegmentHeader* h = raw.header();
  const uint64_t top = h->arena_top.load();
  const uint64_t desc = h->index_desc.load();
  const uint64_t values[] = {0,          1,          63,
                             64,         4096,       top,
                             top - 16,   raw.size(), UINT32_MAX,
                             UINT64_MAX, 1ull << 47, 0xffffffffffffull,
                             desc + 64,  desc | 40,  desc + raw.size()};
  std::vector<std::atomic<uint64_t>*> words = {&h->index_desc, &h->registry_block,
                                               &h->registry_generation, &h->arena_top};
  const auto* idx_words =
      reinterpret_cast<std::atomic<uint64_t>*>(raw.base() + layout::DescDataOffset(desc));
  for (int i = 0; i < 16; ++i) words.push_back(const_cast<std::atomic<uint64_t>*>(idx_words + i));
  std::mt19937_64 rng(16);
  // Waits until the reader finished two more rounds, or ended (then the test fails below).
  int status = 0;
  bool reaped = false;
  auto two_more_rounds = [&] {
    const uint64_t seen = progress->load();
    while (progress->load() < seen + 2) {
      if (::waitpid(child.pid, &status, WNOHANG) == child.pid) {
        reaped = true;
        return false;
      }
      std::this_thread::yield();
    }
    return true;
  };
  bool alive = true;
  for (int round = 0; round < 400 && alive; ++round) {
    std::atomic<uint64_t>* word = words[rng() % words.size()];
    const uint64_t saved = word->load();
    word->store(round % 3 == 0 ? rng() : values[rng() % std::size(values)]);
    alive = two_more_rounds();
    word->store(saved);
  }
  // Row bytes: a byte of the arena at a time.
  for (int round = 0; round < 400 && alive; ++round) {
    uint8_t* byte = raw.base() + h->arena_begin + rng() % (top - h->arena_begin);
    const uint8_t saved = *byte;
    *byte = static_cast<uint8_t>(rng());
    alive = two_more_rounds();
    *byte = saved;
  }
  progress[1].store(1);
  if (!reaped) status = testing::WaitChild(child.pid);
  ::close(child.report_fd);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the reader " << testing::DescribeWait(status);
  ::munmap(progress, 4096);
}

}  // namespace
}  // namespace larder
