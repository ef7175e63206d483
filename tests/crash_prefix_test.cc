// Crash-prefix tests (issue 16, part 2): a writer is a process, and a kill leaves every store it
// executed visible, in program order, and none after. So for a write batch, record its stores to
// the segment (tests/store_recorder.h) and, for every prefix of them, rebuild the segment as a
// writer killed there leaves it: the bytes before the batch plus the prefix. On each, the next
// writer's recovery must succeed, `check` must find no violation, every row must read whole as
// either its version before the batch or after it (nothing acknowledged before the batch is
// lost), and the batch run again by the next writer must leave exactly the state the whole
// batch left. docs/reliability.md lists the prefix counts of each scenario.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/offline/materialize.h"
#include "engine/segment/segment_file.h"
#include "engine/store.h"
#include "engine/store_impl.h"
#include "larder/repo_config.h"
#include "tests/store_fixture.h"
#include "tests/store_recorder.h"

namespace larder {
namespace {

using testing::Features;
using testing::Ints;
using testing::MakeFrame;
using testing::RecordedStore;
using testing::StoreOptions;

#if defined(__SANITIZE_THREAD__)
constexpr bool kCanRecord = false;  // TSan runs synchronous signals' handlers in its own frames
#elif defined(__x86_64__)
constexpr bool kCanRecord = true;
#else
constexpr bool kCanRecord = false;  // the recorder sets x86's trap flag
#endif

constexpr char kPreamble[] = R"(entities:
  - name: driver
    join_keys: [driver_id]
    value_type: Int64
sources:
  - name: stats_file
    type: file
    path: data/stats.csv
    timestamp_field: event_timestamp
  - name: stats_push
    type: push
    batch_source: stats_file
)";

// driver_stats keeps its schema, driver_notes changes a dtype, driver_trips is dropped and
// driver_conv added by kAppliedViews.
constexpr char kViews[] = R"(feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
      - {name: conv_rate, dtype: Float64}
      - {name: note, dtype: String}
  - name: driver_notes
    entities: [driver]
    source: stats_push
    schema:
      - {name: note, dtype: String}
  - name: driver_trips
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
)";
constexpr char kAppliedViews[] = R"(feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
      - {name: conv_rate, dtype: Float64}
      - {name: note, dtype: String}
  - name: driver_notes
    entities: [driver]
    source: stats_push
    schema:
      - {name: note, dtype: Bytes}
  - name: driver_conv
    entities: [driver]
    source: stats_push
    schema:
      - {name: conv_rate, dtype: Float64}
)";

// kViews with one more feature in driver_trips (its last view), which an apply to kViews
// removes (it keeps the view's rows: a compatible change).
const std::string kViewsBeforeRetiring =
    std::string(kViews) + "      - {name: conv_rate, dtype: Float64}\n";

// What a reader may ask: view → features. A key "view#name" is another probe of `view`.
using Probes = std::map<std::string, std::vector<std::string>>;
const Probes kProbes = {
    {"driver_stats", {"trips", "conv_rate", "note"}},
    {"driver_notes", {"note"}},
    {"driver_trips", {"trips"}},
    {"driver_conv", {"conv_rate"}},
};

// Rows for ids [first, first + n): trips = 1000 k + id, conv_rate = k + id / 100, a note of
// `note_bytes` bytes, at event time k seconds.
Frame Rows(int64_t first, int64_t n, int64_t k, size_t note_bytes) {
  std::vector<int64_t> ids, trips;
  std::vector<Cell> conv, note, ts;
  for (int64_t id = first; id < first + n; ++id) {
    ids.push_back(id);
    trips.push_back(1000 * k + id);
    conv.push_back(Cell::Double(static_cast<double>(k) + static_cast<double>(id) / 100));
    std::string text(note_bytes, static_cast<char>('a' + (id + k) % 26));
    note.push_back(Cell::String(std::to_string(id) + "/" + std::to_string(k) + ":" + text));
    ts.push_back(Cell::Int(k));
  }
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"trips", Ints(trips)},
                    {"conv_rate", std::move(conv)},
                    {"note", std::move(note)},
                    {"event_timestamp", std::move(ts)}});
}

// One line per (probe, entity): each feature's status and value, or the request's error.
using Snapshot = std::map<std::pair<std::string, int64_t>, std::string>;

Snapshot Read(Store& store, int64_t ids, const Probes& probes) {
  Snapshot out;
  for (const auto& [probe, features] : probes) {
    const std::string view = probe.substr(0, probe.find('#'));
    std::vector<std::string> refs;
    for (const std::string& f : features) refs.push_back(view + ":" + f);
    std::vector<int64_t> all;
    for (int64_t id = 0; id < ids; ++id) all.push_back(id);
    auto r = store.GetOnlineFeatures(Features(refs, MakeFrame({{"driver_id", Ints(all)}})));
    for (int64_t id = 0; id < ids; ++id) {
      std::string line;
      if (!r.ok()) {
        line = std::string("error ") + ErrorCodeName(r.status().code());
      } else {
        for (size_t c = 1; c < r->results.size(); ++c) {
          const FeatureColumn& col = r->results[c];
          const Value& v = col.values[id];
          if (col.statuses[id] == FieldStatus::kNotFound) {
            line += "NF|";
            continue;
          }
          line += std::to_string(static_cast<int>(col.statuses[id])) + ":" + std::to_string(v.i64) +
                  "," + std::to_string(v.f64) + "," + v.str + "@" +
                  std::to_string(col.event_timestamps[id]) + "|";
        }
      }
      out[{probe, id}] = line;
    }
  }
  return out;
}

std::string NotFoundLine(const Probes& probes, const std::string& probe) {
  std::string line;
  for (size_t i = 0; i < probes.at(probe).size(); ++i) line += "NF|";
  return line;
}

bool WriteImage(const std::string& path, const std::string& image, uint64_t used) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::ftruncate(fd, 0) == 0 && ::ftruncate(fd, static_cast<off_t>(image.size())) == 0;
  for (uint64_t at = 0; ok && at < used;) {
    const ssize_t n = ::pwrite(fd, image.data() + at, used - at, static_cast<off_t>(at));
    ok = n > 0;
    at += ok ? static_cast<uint64_t>(n) : 0;
  }
  ::close(fd);
  return ok;
}

std::string ReadWhole(const std::string& path) { return testing::ReadFile(path); }

class CrashPrefix : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kCanRecord) GTEST_SKIP() << "the store recorder needs x86-64 and no TSan";
  }

  // Writes the repo (`views`), applies it and runs `setup` on a writable store.
  void Prepare(const StoreOptions& opts, const std::function<void(Store&)>& setup,
               const std::string& views = kViews) {
    repo_.Write(kPreamble + views, opts);
    ASSERT_TRUE(repo_.OpenApplied().ok());
    auto store = Store::Open(repo_.segment(), /*writable=*/true);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = *store;
    setup(*store_);
  }

  // Records `batch` on the prepared store, then checks every prefix of its stores. `dropping`:
  // views whose rows the batch removes (they may read empty while the batch is half done, see
  // docs/design.md "Registry and apply"). Returns the number of prefixes checked.
  size_t CheckEveryPrefix(const std::string& scenario, int64_t ids,
                          const std::function<Status(Store&)>& batch,
                          const std::set<std::string>& dropping = {}) {
    const std::string path = repo_.segment();
    const Snapshot before = Read(*store_, ids, probes_);
    const std::string pre = ReadWhole(path);
    EXPECT_GT(pre.size(), layout::kHeaderSize);
    const auto* pre_header = reinterpret_cast<const layout::SegmentHeader*>(pre.data());
    const uint64_t uid = pre_header->segment_uid;

    testing::StoreRecorder recorder;
    const std::string started = recorder.Start(path);
    EXPECT_EQ(started, "");
    if (!started.empty()) return 0;
    const Status ran = batch(*store_);
    std::string log_error;
    const std::vector<RecordedStore> stores = recorder.Stop(&log_error);
    EXPECT_TRUE(ran.ok()) << ran.ToString();
    EXPECT_EQ(log_error, "");
    const Snapshot after = Read(*store_, ids, probes_);

    // The log is complete: the bytes before the batch plus every store are the file now.
    std::string image = pre;
    uint64_t used = pre_header->arena_top.load();
    for (const RecordedStore& s : stores) {
      std::copy(s.bytes.begin(), s.bytes.end(), image.begin() + static_cast<ptrdiff_t>(s.offset));
      used = std::max<uint64_t>(used, s.offset + s.bytes.size());
    }
    EXPECT_TRUE(image == ReadWhole(path)) << "the recorder missed stores";
    recorded_ = stores;
    EXPECT_GT(stores.size(), 10u);

    const std::string copy = path + ".prefix";
    EXPECT_TRUE(WriteImage(copy, pre, used));
    EXPECT_TRUE(ReaderTableMapping::Create(copy, uid, FileModes{}).ok());
    image = pre;
    size_t failures = 0;
    for (size_t k = 0; k <= stores.size() && failures < 3; ++k) {
      if (k > 0) {
        const RecordedStore& s = stores[k - 1];
        std::copy(s.bytes.begin(), s.bytes.end(), image.begin() + static_cast<ptrdiff_t>(s.offset));
      }
      const std::string where = scenario + ", killed after store " + std::to_string(k) + " of " +
                                std::to_string(stores.size());
      if (!WriteImage(copy, image, used)) {
        ADD_FAILURE() << "cannot write " << copy;
        break;
      }
      if (!CheckPrefix(copy, ids, before, after, dropping, batch, where)) ++failures;
    }
    (void)Store::Teardown(copy);
    std::printf("[ prefixes ] %s: %zu stores, %zu prefixes checked\n", scenario.c_str(),
                stores.size(), stores.size() + 1);
    return stores.size() + 1;
  }

  // The next writer after a kill: recovery, check, every row old or new, the batch again.
  bool CheckPrefix(const std::string& copy, int64_t ids, const Snapshot& before,
                   const Snapshot& after, const std::set<std::string>& dropping,
                   const std::function<Status(Store&)>& batch, const std::string& where) {
    auto opened = Store::Open(copy, /*writable=*/true);
    if (!opened.ok()) {
      ADD_FAILURE() << where << ": attach failed: " << opened.status().ToString();
      return false;
    }
    Store& next = **opened;
    auto repaired = next.Repair();
    if (!repaired.ok()) {
      ADD_FAILURE() << where << ": recovery failed: " << repaired.status().ToString();
      return false;
    }
    auto check = next.Check();
    if (!check.ok() || !check->ok() || check->dead_writer_pid != 0) {
      ADD_FAILURE() << where << ": check after recovery: "
                    << (!check.ok()    ? check.status().ToString()
                        : !check->ok() ? check->violations[0]
                                       : std::string("still marked dirty"));
      return false;
    }
    const Snapshot now = Read(next, ids, probes_);
    for (const auto& [key, line] : now) {
      if (line == before.at(key) || line == after.at(key)) continue;
      if (dropping.count(key.first) && line == NotFoundLine(probes_, key.first)) continue;
      ADD_FAILURE() << where << ": " << key.first << " id " << key.second << " reads '" << line
                    << "'; before the batch '" << before.at(key) << "', after it '" << after.at(key)
                    << "'";
      return false;
    }
    const Status again = batch(next);
    if (!again.ok()) {
      ADD_FAILURE() << where << ": the batch run again failed: " << again.ToString();
      return false;
    }
    if (Read(next, ids, probes_) != after) {
      ADD_FAILURE() << where << ": the batch run again left another state than the whole batch";
      return false;
    }
    auto final_check = next.Check();
    if (!final_check.ok() || !final_check->ok()) {
      ADD_FAILURE() << where << ": check after the batch ran again: "
                    << (final_check.ok() ? final_check->violations[0]
                                         : final_check.status().ToString());
      return false;
    }
    return true;
  }

  testing::Repo repo_;
  std::shared_ptr<Store> store_;
  Probes probes_ = kProbes;              // what each prefix reads
  std::vector<RecordedStore> recorded_;  // the stores of the last CheckEveryPrefix's batch
};

// A push that grows the index (rebuilt from a block of the large free list, behind an
// alignment filler), replaces rows (into blocks split from large free ones) and adds rows.
TEST_F(CrashPrefix, PushWithGrowthAndSplits) {
  Prepare(StoreOptions{16, "2MiB"}, [](Store& s) {
    // Large rows written twice: the first versions' blocks end on the large free list.
    ASSERT_TRUE(s.Push("stats_push", Rows(0, 4, 1, 6000)).ok());
    ASSERT_TRUE(s.Push("stats_push", Rows(0, 4, 2, 6000)).ok());
    ASSERT_TRUE(s.Push("stats_push", Rows(4, 4, 2, 8)).ok());
  });
  const size_t prefixes = CheckEveryPrefix("push with growth and splits", 40, [](Store& s) {
    Frame rows = Rows(0, 2, 3, 4200);  // replaced by rows split from 6 KiB free blocks
    auto large = s.Push("stats_push", rows);
    if (!large.ok()) return large.status();
    return s.Push("stats_push", Rows(2, 38, 3, 8)).status();  // grows the index
  });
  EXPECT_GT(prefixes, 100u);
}

// apply --force: driver_stats kept, driver_notes' dtype changed (new id, rows dropped),
// driver_trips dropped, driver_conv added: an index rebuild without the dead rows, a new registry.
TEST_F(CrashPrefix, ApplyAddsChangesAndDropsViews) {
  Prepare(StoreOptions{64, "2MiB"},
          [](Store& s) { ASSERT_TRUE(s.Push("stats_push", Rows(0, 20, 1, 8)).ok()); });
  testing::TempDir dir2;
  dir2.Write("feature_store.yaml",
             "project: larder_test\nonline_store:\n  path: " + repo_.segment() +
                 "\n  initial_capacity: 64\n  memory_limit: 2MiB\n" + kPreamble + kAppliedViews);
  auto config = LoadRepoConfig(dir2.path());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const RepoConfig applied = *config;
  CheckEveryPrefix("apply", 20,
                   [&applied](Store& s) {
                     return Store::Impl::ApplyUpdate(s, applied, /*force=*/true).status();
                   },
                   {"driver_notes", "driver_trips"});
}

// apply (no --force needed): driver_trips loses conv_rate and keeps its rows, so the apply
// records a pending registry wait (layout::PendingRegistryWait) before it publishes the new
// registry, waits out older lookups (none here) and clears the mark. At every prefix the kept
// feature reads the same stored values, and the removed one reads its stored value (older
// registry) or FeatureNotFound (newer): never an empty slot, never a lost row.
TEST_F(CrashPrefix, ApplyRetiresAFeatureOfAViewHoldingRows) {
  Prepare(
      StoreOptions{64, "2MiB"},
      [](Store& s) { ASSERT_TRUE(s.Push("stats_push", Rows(0, 20, 1, 8)).ok()); },
      kViewsBeforeRetiring);
  probes_["driver_trips#removed"] = {"conv_rate"};
  testing::TempDir dir2;
  dir2.Write("feature_store.yaml",
             "project: larder_test\nonline_store:\n  path: " + repo_.segment() +
                 "\n  initial_capacity: 64\n  memory_limit: 2MiB\n" + kPreamble + kViews);
  auto config = LoadRepoConfig(dir2.path());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const RepoConfig applied = *config;
  CheckEveryPrefix("apply retiring a feature", 20, [&applied](Store& s) {
    return Store::Impl::ApplyUpdate(s, applied, /*force=*/false).status();
  });
  // The batch is the one meant: it set the pending wait (and cleared it) and kept the rows.
  size_t wait_stores = 0;
  for (const RecordedStore& st : recorded_) {
    if (st.offset <= layout::kPendingRegistryWaitOffset &&
        layout::kPendingRegistryWaitOffset < st.offset + st.bytes.size()) {
      ++wait_stores;
    }
  }
  EXPECT_GE(wait_stores, 2u) << "the apply did not set and clear a pending registry wait";
  const Snapshot now = Read(*store_, 20, probes_);
  EXPECT_NE(now.at({"driver_trips", 5}).find(":1005,"), std::string::npos)
      << now.at({"driver_trips", 5});
  EXPECT_EQ(now.at({"driver_trips#removed", 5}), "error FeatureNotFound");
}

// materialize: rows of the batch source, newer than some stored rows and older than others,
// written in the store's write batches, and the interval recorded in the registry.
TEST_F(CrashPrefix, Materialize) {
  Prepare(StoreOptions{64, "2MiB"},
          [](Store& s) { ASSERT_TRUE(s.Push("stats_push", Rows(0, 10, 5, 8)).ok()); });
  std::string csv = "event_timestamp,driver_id,trips,conv_rate,note\n";
  for (int64_t id = 0; id < 20; ++id) {
    const int64_t k = id % 3 == 0 ? 4 : 6;  // every third row is older than the stored one
    csv += "1970-01-01T00:00:0" + std::to_string(k) + "Z," + std::to_string(id) + "," +
           std::to_string(1000 * k + id) + "," + std::to_string(k) + ",m" + std::to_string(id) +
           "\n";
  }
  const std::string data = repo_.dir() + "/data";
  ::mkdir(data.c_str(), 0700);
  FILE* f = std::fopen((data + "/stats.csv").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(csv.c_str(), f);
  std::fclose(f);
  auto config = LoadRepoConfig(repo_.dir());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const RepoConfig repo = *config;
  CheckEveryPrefix("materialize", 20, [&repo](Store& s) {
    return MaterializeRepo(s, repo, 0, 10 * 1'000'000, {}, nullptr).status();
  });
}

// Teardown removes files and stores nothing into the segment: a kill leaves the first k of its
// unlinks done. After each k, apply must create (or find) a sound store that takes pushes.
TEST_F(CrashPrefix, Teardown) {
  repo_.Write(std::string(kPreamble) + kViews, StoreOptions{64, "2MiB"});
  const std::string path = repo_.segment();
  const std::vector<std::string> files = {path, ReadersPath(path), LockPath(path)};
  for (size_t k = 0; k <= files.size(); ++k) {
    (void)Store::Teardown(path);
    {
      auto fs = repo_.OpenApplied();
      ASSERT_TRUE(fs.ok()) << fs.status().ToString();
      LARDER_ASSERT_OK((*fs)->Push("stats_push", Rows(0, 10, 1, 8)));
    }
    for (size_t i = 0; i < k; ++i) ASSERT_EQ(::unlink(files[i].c_str()), 0) << files[i];
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << "after " << k << " unlinks: " << fs.status().ToString();
    LARDER_ASSERT_OK((*fs)->Push("stats_push", Rows(0, 3, 2, 8)));
    auto check = (*fs)->Check();
    ASSERT_TRUE(check.ok()) << "after " << k << " unlinks: " << check.status().ToString();
    EXPECT_TRUE(check->ok()) << "after " << k << " unlinks: " << check->violations[0];
  }
}

}  // namespace
}  // namespace larder
