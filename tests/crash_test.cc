// Writer crashes: a child process pushes and is killed with SIGKILL at each fault point of the
// write path (engine/fault.h: LARDER_CRASH_AT=<point>:<n>) and at random moments. After every
// kill a fresh FeatureStore must find every acknowledged push, recover on its next write
// (Inspect().recoveries grows), and pass Check().
//
// The long randomized campaign is elsewhere; this unit test makes ~60 kills in a few seconds.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/fault.h"
#include "larder/feature_store.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::DescribeWait;
using testing::Features;
using testing::I;
using testing::Ints;
using testing::MakeFrame;
using testing::Repeat;
using testing::StoreOptions;
using testing::WaitChild;

constexpr char kCrashView[] = R"(feature_views:
  - name: crash_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: value, dtype: Int64}
      - {name: pad, dtype: String}
)";

constexpr int64_t kHot = 10;          // entities [0, kHot) are rewritten by every batch
constexpr int64_t kNewPerBatch = 40;  // each batch also adds this many new entities
constexpr int64_t kFirstNewId = 1000;

// One acknowledged batch: the hot entities and [first_new, first_new + n_new) at counter k.
struct Ack {
  int64_t k;
  int64_t first_new;
  int64_t n_new;
};

// A batch at counter k: the hot entities plus `n_new` new ones; value = k, event time = k.
Frame Batch(int64_t k, int64_t first_new, int64_t n_new) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kHot; ++i) ids.push_back(i);
  for (int64_t i = 0; i < n_new; ++i) ids.push_back(first_new + i);
  size_t n = ids.size();
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"value", Repeat(I(k), n)},
                    {"pad", Repeat(Cell::String(std::string(static_cast<size_t>(k % 37), 'p')), n)},
                    {"event_timestamp", Repeat(I(k), n)},
                    {"created", Repeat(Cell::Null(), n)}});
}

// Rows [first, first + n) of `f`.
Frame Rows(const Frame& f, size_t first, size_t n) {
  Frame out = f;
  for (std::vector<Cell>& col : out.columns) {
    col = std::vector<Cell>(col.begin() + static_cast<std::ptrdiff_t>(first),
                            col.begin() + static_cast<std::ptrdiff_t>(first + n));
  }
  return out;
}

// What the parent knows was acknowledged, and what may have been in flight.
struct Model {
  std::map<int64_t, int64_t> acked;  // entity -> value of its newest acknowledged write
  int64_t next_k = 1;                // counters used so far are < next_k
  int64_t next_id = kFirstNewId;     // new entity ids used so far are < next_id

  void Apply(const Ack& a) {
    for (int64_t i = 0; i < kHot; ++i) acked[i] = std::max(acked[i], a.k);
    for (int64_t i = 0; i < a.n_new; ++i) acked[a.first_new + i] = a.k;
  }
};

class CrashTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    ::unsetenv("LARDER_CRASH_AT");
    repo_.Write(std::string(testing::kDriverPreamble) + kCrashView, StoreOptions{16, "256MiB"});
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  }

  // The parent pushes one batch through a fresh FeatureStore (an acknowledged push).
  void ParentPush(int64_t n_new) {
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
    Ack a{model_.next_k++, model_.next_id, n_new};
    model_.next_id += n_new;
    LARDER_ASSERT_OK(fs->Push("stats_push", Batch(a.k, a.first_new, a.n_new)));
    model_.Apply(a);
  }

  // Forks a child that sets LARDER_CRASH_AT=`crash_at` ("" = none), opens the repo and pushes
  // batches (acknowledging each through a pipe) until it dies, or `max_batches` are done. With
  // `grow`, each batch adds enough new entities to make the index grow. With `kill_after` > 0
  // the parent SIGKILLs it after that many microseconds. Returns the child's wait status and
  // applies its acknowledgements to the model.
  int RunChild(const std::string& crash_at, int max_batches, bool grow, int kill_after_us) {
    const int64_t first_k = model_.next_k;
    const int64_t first_id = model_.next_id;
    // The child takes counters and ids from these ranges; reserve them whatever happens.
    constexpr int64_t kIdsPerChild = 1'000'000;
    model_.next_k += max_batches + 1;
    model_.next_id += kIdsPerChild;
    testing::Child child = testing::ForkChild([&](int report_fd) {
      if (!crash_at.empty()) ::setenv("LARDER_CRASH_AT", crash_at.c_str(), 1);
      EnableFaultInjection();  // fault points obey it only in a test child
      auto fs = FeatureStore::Open(repo_.dir());
      if (!fs.ok()) ::_exit(2);
      int64_t id = first_id;
      for (int b = 0; b < max_batches; ++b) {
        int64_t n_new = kNewPerBatch;
        if (grow) {
          auto info = (*fs)->Inspect();
          if (!info.ok()) ::_exit(3);
          n_new = static_cast<int64_t>(info->index_capacity - info->index_entries) + 1;
        }
        if (id + n_new > first_id + kIdsPerChild) ::_exit(4);
        Ack a{first_k + b, id, n_new};
        auto r = (*fs)->Push("stats_push", Batch(a.k, a.first_new, a.n_new));
        if (!r.ok()) ::_exit(5);
        id += n_new;
        if (!testing::WriteAll(report_fd, &a, sizeof(a))) ::_exit(6);
      }
      ::_exit(7);  // never crashed
    });
    if (child.pid < 0) return -1;
    if (kill_after_us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(kill_after_us));
      ::kill(child.pid, SIGKILL);
    }
    // Read acknowledgements until the child's end of the pipe closes (it died or exited).
    Ack a;
    while (testing::ReadAll(child.report_fd, &a, sizeof(a)) == sizeof(a)) model_.Apply(a);
    ::close(child.report_fd);
    last_child_first_k_ = first_k;
    last_child_last_k_ = first_k + max_batches - 1;
    return WaitChild(child.pid);
  }

  // After a kill: a fresh FeatureStore finds every acknowledged row (rows of the batch in
  // flight may or may not be there, all or some of them), recovers on its next push if the dead
  // child was inside a write batch, and passes Check(). `must_recover`: the child died inside
  // a batch for sure.
  void VerifyAndRecover(bool must_recover) {
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
    ExpectAcknowledgedRows(*fs, /*inflight_ok=*/true);
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before, fs->Inspect());
    if (must_recover) {
      EXPECT_NE(before.writer_pid, 0u) << "the child died outside a write batch";
    }
    // The next push repairs the store, and succeeds.
    Ack a{model_.next_k++, model_.next_id, 5};
    model_.next_id += a.n_new;
    auto r = fs->Push("stats_push", Batch(a.k, a.first_new, a.n_new));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->rows_written, static_cast<uint64_t>(kHot + a.n_new));
    model_.Apply(a);
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after, fs->Inspect());
    EXPECT_EQ(after.writer_pid, 0u);
    if (before.writer_pid != 0) {
      EXPECT_EQ(after.recoveries, before.recoveries + 1);
      ++recoveries_seen_;
    } else {
      EXPECT_EQ(after.recoveries, before.recoveries);
    }
    EXPECT_EQ(after.index_entries,
              static_cast<uint64_t>(CountRows(*fs)) + after.index_withdrawn_rows);
    LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
    std::string all;
    for (const std::string& v : check.violations) all += "\n  " + v;
    EXPECT_TRUE(check.ok()) << "Check() after recovery:" << all;
    // Exactly the acknowledged values now (the hot rows were overwritten by this push).
    ExpectAcknowledgedRows(*fs, /*inflight_ok=*/true);
    ++kills_;
  }

  // Every acknowledged entity holds at least its acknowledged value; a larger value can only
  // come from the batch in flight when the child died.
  void ExpectAcknowledgedRows(FeatureStore& fs, bool inflight_ok) {
    std::vector<int64_t> ids;
    for (const auto& [id, v] : model_.acked) ids.push_back(id);
    auto r = fs.GetOnlineFeatures(
        Features({"crash_stats:value"}, MakeFrame({{"driver_id", Ints(ids)}})));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    size_t i = 0;
    for (const auto& [id, v] : model_.acked) {
      const FeatureColumn& col = r->results[1];
      ASSERT_EQ(col.statuses[i], FieldStatus::kPresent) << "acknowledged entity " << id << " lost";
      int64_t got = col.values[i].i64;
      if (got != v) {
        ASSERT_TRUE(inflight_ok && got > v && got >= last_child_first_k_ &&
                    got <= last_child_last_k_)
            << "entity " << id << ": acknowledged " << v << ", found " << got;
      }
      ++i;
    }
  }

  // Rows of crash_stats (every id ever used by the parent or a child).
  size_t CountRows(FeatureStore& fs) {
    auto info = fs.Inspect();
    return info.ok() && !info->views.empty() ? info->views[0].rows : 0;
  }

  Model model_;
  int64_t last_child_first_k_ = 0;
  int64_t last_child_last_k_ = 0;
  int kills_ = 0;
  int recoveries_seen_ = 0;
};

#if defined(LARDER_FAULT_INJECTION)

TEST_F(CrashTest, KilledAtEveryFaultPointAndAtRandom) {
  auto start = std::chrono::steady_clock::now();
  ParentPush(kNewPerBatch);
  struct Point {
    const char* name;
    std::vector<int> hits;  // the n of LARDER_CRASH_AT=<name>:<n>
    bool grow;              // make every batch grow the index
  };
  // Batches hold kHot + 40 = 50 rows, so :1, :37 and :50 die in the first batch and larger n
  // in later ones.
  const std::vector<Point> points = {
      {"before_publish_row", {1, 2, 37, 50, 51, 123, 260}, false},
      {"after_publish_row", {1, 2, 37, 50, 51, 123, 260}, false},
      {"before_finish", {1, 2, 3, 5, 8}, false},
      {"before_index_publish", {1, 1, 1, 2, 1}, true},
  };
  for (const Point& p : points) {
    for (int n : p.hits) {
      SCOPED_TRACE(std::string(p.name) + ":" + std::to_string(n));
      ParentPush(kNewPerBatch);  // acknowledged before the crash
      int status = RunChild(std::string(p.name) + ":" + std::to_string(n), 20, p.grow, 0);
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
          << "child ended with " << DescribeWait(status);
      VerifyAndRecover(/*must_recover=*/true);
      if (HasFatalFailure()) return;
    }
  }
  // Random moments: the child pushes as fast as it can and is killed after 0.2 to 4 ms (it
  // spends about 1 ms opening the repo first).
  std::mt19937 rng(20240601);
  for (int i = 0; i < 36; ++i) {
    SCOPED_TRACE("random kill " + std::to_string(i));
    ParentPush(kNewPerBatch);
    int delay = 200 + static_cast<int>(rng() % 3800);
    int status = RunChild("", 100000, /*grow=*/i % 6 == 5, delay);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child ended with " << DescribeWait(status);
    VerifyAndRecover(/*must_recover=*/false);
    if (HasFatalFailure()) return;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  std::printf("[   INFO   ] %d kills, %d recoveries, %zu entities, %.2f s, arena %.1f MiB\n",
              kills_, recoveries_seen_, model_.acked.size(), secs,
              static_cast<double>(info.arena_used) / (1 << 20));
  EXPECT_GE(kills_, 50);
  EXPECT_GE(recoveries_seen_, 24);  // every fault-point kill, and some random ones
  EXPECT_GT(info.index_growths, 4u);
  // Recovery returns what dead writers allocated: the arena holds the live rows, the index, and
  // room freed by replaced rows and old index tables, not a leak per crash.
  ASSERT_EQ(info.views.size(), 1u);
  EXPECT_LT(info.arena_used, 2 * info.views[0].row_bytes + 3 * info.index_bytes + (4u << 20))
      << "rows " << info.views[0].row_bytes << ", index " << info.index_bytes;
}

// Forks a child that writes `yaml` into the repo, sets LARDER_CRASH_AT=`crash_at` and applies;
// returns its wait status.
int ApplyInChild(const testing::Repo& repo, const std::string& yaml, const std::string& crash_at) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    repo.Write(yaml, StoreOptions{16, "256MiB"});
    ::setenv("LARDER_CRASH_AT", crash_at.c_str(), 1);
    EnableFaultInjection();  // fault points obey it only in a test child
    auto fs = FeatureStore::Open(repo.dir());
    if (!fs.ok()) ::_exit(2);
    auto r = (*fs)->Apply(ApplyOptions{.force = true});
    ::_exit(r.ok() ? 7 : 3);
  }
  return pid < 0 ? -1 : WaitChild(pid);
}

std::string CrashRepoWithValueType(const std::string& dtype) {
  std::string yaml = std::string(testing::kDriverPreamble) + kCrashView;
  yaml.replace(yaml.find("{name: value, dtype: Int64}"),
               std::string("{name: value, dtype: Int64}").size(),
               "{name: value, dtype: " + dtype + "}");
  return yaml;
}

// A writer killed inside apply (a schema change re-creates the view: the index is rebuilt
// without its rows) leaves a store that stays readable, that the next writer recovers and that
// passes Check(); re-running apply completes the change.
TEST_F(CrashTest, KilledDuringApply) {
  for (int i = 0; i < 3; ++i) ParentPush(kNewPerBatch);
  struct Step {
    const char* crash_at;
    const char* dtype;   // the value's new dtype
    bool rerun_changes;  // whether re-running apply still has work to do
  };
  const Step steps[] = {
      {"before_index_publish:1", "Float64", true},  // nothing published yet
      {"before_finish:1", "Int64", false},          // everything published, batch unfinished
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.crash_at);
    int status = ApplyInChild(repo_, CrashRepoWithValueType(step.dtype), step.crash_at);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << DescribeWait(status);
    // The store the crash left is readable.
    LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
    LARDER_ASSERT_OK(reader->GetOnlineFeatures(
        Features({"crash_stats:value"}, MakeFrame({{"driver_id", Ints({0})}}))));
    // Re-running apply (the repo now holds the changed YAML) recovers and finishes the change.
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before, fs->Inspect());
    EXPECT_NE(before.writer_pid, 0u);
    LARDER_ASSERT_OK_AND_ASSIGN(ApplyReport report, fs->Apply(ApplyOptions{.force = true}));
    EXPECT_EQ(report.changed, step.rerun_changes);
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after, fs->Inspect());
    EXPECT_EQ(after.recoveries, before.recoveries + 1);
    EXPECT_EQ(after.index_entries, 0u);  // the view was re-created empty
    LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
    EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
    // The re-created view takes rows of its new schema.
    Frame f = Batch(model_.next_k++, kFirstNewId, 3);
    if (std::string(step.dtype) == "Float64") f.columns[1] = Repeat(Cell::Double(2.5), 13);
    LARDER_ASSERT_OK(fs->Push("stats_push", f));
    LARDER_ASSERT_OK_AND_ASSIGN(
        OnlineResponse r, fs->GetOnlineFeatures(Features({"crash_stats:value"},
                                                         MakeFrame({{"driver_id", Ints({0})}}))));
    EXPECT_EQ(r.results[1].statuses[0], FieldStatus::kPresent);
    EXPECT_EQ(r.results[1].values[0].dtype.scalar,
              std::string(step.dtype) == "Float64" ? ScalarType::kFloat64 : ScalarType::kInt64);
    LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check2, fs->Check());
    EXPECT_TRUE(check2.ok()) << (check2.violations.empty() ? "" : check2.violations[0]);
  }
}

// The crash window between apply's two publications (index, then registry, or the reverse):
// Check() must hold after recovery even before apply is re-run.
TEST_F(CrashTest, StoreIsSoundBeforeApplyIsRerun) {
  for (int i = 0; i < 2; ++i) ParentPush(kNewPerBatch);
  const std::string original = std::string(testing::kDriverPreamble) + kCrashView;
  int status = ApplyInChild(repo_, CrashRepoWithValueType("Float64"), "before_index_publish:1");
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << DescribeWait(status);
  // A writer that does not re-apply: it pushes with whatever registry the crash left.
  repo_.Write(original, StoreOptions{16, "256MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
  auto pushed = fs->Push("stats_push", Batch(model_.next_k++, 5'000'000, 2));
  if (!pushed.ok()) {
    // Only a value of the wrong type may be refused (the registry already has the new schema).
    EXPECT_EQ(pushed.status().code(), ErrorCode::kInvalidArgument) << pushed.status().ToString();
  }
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  std::string all;
  for (const std::string& v : check.violations) all += "\n  " + v;
  EXPECT_TRUE(check.ok()) << "Check() after a crash inside apply:" << all;
}

// Snapshot reads (issue 22): a writer killed inside a batch leaves rows of that batch in the
// index, but no read request ever sees them: not before recovery (their batch never became
// visible), and not after the next writer's batch, which takes the same sequence number (the
// recovery rolls them back). Rows that were the first of their key are removed, so a later
// push of the key is written even with an older timestamp.
TEST_F(CrashTest, DeadBatchIsNeverSeenBeforeOrAfterRecovery) {
  ParentPush(kNewPerBatch);  // counter 1: hot entities [0, 10) and [1000, 1040)
  const int64_t acked_k = model_.next_k - 1;
  const int64_t dead_first_id = model_.next_id;
  // The child's first batch (10 hot rows, then 40 new ones) dies after publishing 30 rows: all
  // hot rows and the first 20 new entities.
  int status = RunChild("after_publish_row:30", 20, false, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << DescribeWait(status);
  std::vector<int64_t> hot, dead_new;
  for (int64_t i = 0; i < kHot; ++i) hot.push_back(i);
  for (int64_t i = 0; i < 20; ++i) dead_new.push_back(dead_first_id + i);
  auto expect_no_dead_rows = [&](FeatureStore& fs, const char* when) {
    SCOPED_TRACE(when);
    LARDER_ASSERT_OK_AND_ASSIGN(
        OnlineResponse r, fs.GetOnlineFeatures(Features({"crash_stats:value"},
                                                        MakeFrame({{"driver_id", Ints(hot)}}))));
    for (size_t i = 0; i < hot.size(); ++i) {
      EXPECT_EQ(r.results[1].statuses[i], FieldStatus::kPresent);
      EXPECT_EQ(r.results[1].values[i].i64, acked_k) << "hot entity " << hot[i];
    }
    LARDER_ASSERT_OK_AND_ASSIGN(
        r, fs.GetOnlineFeatures(
               Features({"crash_stats:value"}, MakeFrame({{"driver_id", Ints(dead_new)}}))));
    for (size_t i = 0; i < dead_new.size(); ++i) {
      EXPECT_EQ(r.results[1].statuses[i], FieldStatus::kNotFound) << "entity " << dead_new[i];
    }
  };
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before, fs->Inspect());
  ASSERT_NE(before.writer_pid, 0u);
  expect_no_dead_rows(*fs, "before recovery");
  // The next batch writes other entities only; it makes the dead batch's number visible.
  auto r = fs->Push("stats_push", Rows(Batch(model_.next_k++, 9'000'000, 1), kHot, 1));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after, fs->Inspect());
  EXPECT_EQ(after.recoveries, before.recoveries + 1);
  EXPECT_EQ(after.visible_batch, before.visible_batch + 1);
  expect_no_dead_rows(*fs, "after the next batch");
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  std::string all;
  for (const std::string& v : check.violations) all += "\n  " + v;
  EXPECT_TRUE(check.ok()) << "Check() after recovery:" << all;
  // 10 hot + 40 acknowledged new + the one just pushed, and the dead batch's 20 new keys,
  // whose words stay, withdrawn, until their keys are written again.
  EXPECT_EQ(after.index_withdrawn_rows, 20u);
  EXPECT_EQ(after.index_entries, static_cast<uint64_t>(kHot + kNewPerBatch + 1 + 20));
  // A push of the dead batch's keys at an older time than the dead rows is written.
  Frame again = Rows(Batch(acked_k, dead_first_id, 20), kHot, 20);
  LARDER_ASSERT_OK_AND_ASSIGN(PushResult res, fs->Push("stats_push", again));
  EXPECT_EQ(res.rows_written, 20u);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo last, fs->Inspect());
  EXPECT_EQ(last.index_withdrawn_rows, 0u);
  EXPECT_EQ(last.index_entries, after.index_entries);
}

#else

TEST(CrashTest, RequiresFaultInjection) { GTEST_SKIP() << "built without LARDER_FAULT_INJECTION"; }

#endif

}  // namespace
}  // namespace larder
