// One writer process and several reader processes on one segment (fork, no exec).
//
//  - Concurrent: a writer pushes rows whose features ALL encode one counter value while readers
//    do millions of lookups; every row a reader sees must be whole (all features one counter,
//    its own entity), counters per entity never go backwards for a reader, and a row once seen
//    never disappears (also while the index grows).
//  - Snapshot reads: a writer pushes two entities through a source read by two views while
//    readers check that every request sees each push whole (all or none of its rows).
//  - Dead readers: a reader killed with SIGKILL inside a lookup does not hold reclamation back
//    for good (the writer reaps its slot), also while it is an unreaped zombie; readers killed
//    outside a lookup do not use up the reader table; a forked child's exit does not release its
//    parent's slots.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/segment/process_liveness.h"
#include "engine/segment/reader_slots.h"
#include "larder/feature_store.h"
#include "layout/segment_layout.h"
#include "tests/reader_check.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::Child;
using testing::CounterRowChecker;
using testing::DescribeWait;
using testing::Features;
using testing::ForkChild;
using testing::I;
using testing::Ints;
using testing::kMicros;
using testing::MakeFrame;
using testing::Repeat;
using testing::SlotOf;
using testing::StoreOptions;
using testing::WaitChild;

constexpr char kCounterRepo[] = R"(feature_views:
  - name: counters
    entities: [driver]
    source: stats_push
    schema:
      - {name: c_id, dtype: Int64}
      - {name: c_i64, dtype: Int64}
      - {name: c_f64, dtype: Float64}
      - {name: c_str, dtype: String}
      - {name: c_i32, dtype: Int32}
      - {name: c_f32, dtype: Float32}
      - {name: c_ts, dtype: UnixTimestamp}
      - {name: c_arr, dtype: Array(Int64)}
      - {name: c_pad, dtype: String}
)";
constexpr int kFeatures = 9;
constexpr int64_t kEntities = 1000;

std::string CounterRepo() { return std::string(testing::kDriverPreamble) + kCounterRepo; }

// c_pad: a string whose length varies with the counter, so rows change size and blocks of many
// size classes are freed and reused under the readers.
std::string Pad(int64_t k) {
  return std::string(static_cast<size_t>(k % 61), 'p') + std::to_string(k);
}
std::string Str(int64_t k) { return "v" + std::to_string(k); }

// Entities `ids` all at counter k (event time k seconds).
Frame CounterRowsOf(const std::vector<int64_t>& ids, int64_t k) {
  const auto n = static_cast<int64_t>(ids.size());
  std::vector<Cell> strs, pads, arrs, ts;
  for (int64_t id : ids) {
    strs.push_back(Cell::String(Str(k)));
    pads.push_back(Cell::String(Pad(k)));
    arrs.push_back(Cell::Array({I(k), I(id), I(k)}));
  }
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"c_id", Ints(ids)},
                    {"c_i64", Repeat(I(k), n)},
                    {"c_f64", Repeat(Cell::Double(static_cast<double>(k)), n)},
                    {"c_str", std::move(strs)},
                    {"c_i32", Repeat(I(k), n)},
                    {"c_f32", Repeat(I(k), n)},
                    {"c_ts", Repeat(I(k), n)},
                    {"c_arr", std::move(arrs)},
                    {"c_pad", std::move(pads)},
                    {"event_timestamp", Repeat(I(k), n)},
                    {"created", Repeat(Cell::Null(), n)}});
}

// Entities [0, n) all at counter k.
Frame CounterRows(int64_t n, int64_t k) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;
  return CounterRowsOf(ids, k);
}

OnlineRequest CounterRequest(const std::vector<int64_t>& ids) {
  std::vector<std::string> refs;
  for (const char* f :
       {"c_id", "c_i64", "c_f64", "c_str", "c_i32", "c_f32", "c_ts", "c_arr", "c_pad"}) {
    refs.push_back(std::string("counters:") + f);
  }
  return Features(refs, MakeFrame({{"driver_id", Ints(ids)}}));
}

// Checks one entity row of a response; returns "" or what is wrong. `k` receives the counter.
std::string CheckRow(const OnlineResponse& r, size_t row, int64_t id, int64_t* k) {
  *k = -1;
  if (r.results.size() != kFeatures + 1)
    return "response has " + std::to_string(r.results.size()) + " columns";
  FieldStatus st = r.results[1].statuses[row];
  for (int c = 1; c <= kFeatures; ++c) {
    if (r.results[c].statuses[row] != st) return "statuses differ within one row";
  }
  if (st == FieldStatus::kNotFound) return "";
  if (st != FieldStatus::kPresent) {
    return std::string("status ") + FieldStatusName(st);
  }
  const int64_t v = r.results[2].values[row].i64;
  *k = v;
  for (int c = 1; c <= kFeatures; ++c) {
    if (r.results[c].event_timestamps[row] != v * kMicros) return "event timestamp differs";
  }
  auto at = [&](int c) -> const Value& { return r.results[c].values[row]; };
  if (at(1).i64 != id)
    return "row of entity " + std::to_string(at(1).i64) + " returned for " + std::to_string(id);
  if (at(3).f64 != static_cast<double>(v)) return "c_f64 differs";
  if (at(4).str != Str(v))
    return "c_str '" + at(4).str + "' differs from counter " + std::to_string(v);
  if (at(5).i64 != v) return "c_i32 differs";
  if (at(6).f64 != static_cast<double>(static_cast<float>(v))) return "c_f32 differs";
  if (at(7).i64 != v * kMicros) return "c_ts differs";
  const std::vector<int64_t>& arr = at(8).i64s;
  if (arr.size() != 3 || arr[0] != v || arr[1] != id || arr[2] != v) return "c_arr differs";
  if (at(9).str != Pad(v)) return "c_pad differs";
  return "";
}

struct ReaderReport {
  uint64_t lookups = 0;
  uint64_t present = 0;
  uint64_t violations = 0;
  uint64_t backwards = 0;
  uint64_t max_counter = 0;
  double seconds = 0;
  char first[240] = {};
};

struct WriterReport {
  uint64_t batches = 0;
  uint64_t rows = 0;
  uint64_t growths = 0;
  int64_t last_counter = 0;
  char error[240] = {};
};

// A reader process: lookups of random entities in requests of `batch`, at least `lookups` of
// them and for at least `seconds` (at most 40 s); with a `stop_fd`, until that pipe is closed
// instead of `seconds`.
[[noreturn]] void RunReader(const std::string& segment, uint64_t lookups, double seconds,
                            size_t batch, uint32_t seed, int report_fd, int stop_fd = -1) {
  ReaderReport rep;
  auto fail = [&](const std::string& what) {
    if (rep.violations++ == 0) std::snprintf(rep.first, sizeof(rep.first), "%s", what.c_str());
  };
  auto start = std::chrono::steady_clock::now();
  auto reader = OnlineReader::Attach(segment);
  if (!reader.ok()) {
    fail("attach: " + reader.status().ToString());
  } else {
    std::mt19937 rng(seed);
    CounterRowChecker rows(kEntities, CheckRow);
    std::vector<int64_t> ids(batch);
    OnlineRequest req = CounterRequest(ids);
    OnlineResponse resp;
    auto deadline = start + std::chrono::seconds(40);
    auto min_end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(seconds));
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      const bool done_waiting = stop_fd >= 0 ? testing::Readable(stop_fd) : now >= min_end;
      if (now >= deadline || (rep.lookups >= lookups && done_waiting)) break;
      for (size_t i = 0; i < batch; ++i) {
        ids[i] = static_cast<int64_t>(rng() % kEntities);
        req.entities.columns[0][i].i = ids[i];
      }
      Status st = (*reader)->GetOnlineFeatures(req, &resp);
      if (!st.ok()) {
        fail("lookup: " + st.ToString());
        break;
      }
      rows.Check(resp, ids, fail);
      rep.lookups += batch;
    }
    rep.present = rows.present();
    rep.backwards = rows.backwards();
    rep.max_counter = rows.max_counter();
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  testing::WriteAll(report_fd, &rep, sizeof(rep));
  ::_exit(0);
}

// The writer process: entities grow from 50 to kEntities (the index grows from its initial 16
// buckets under the readers), then every batch rewrites all of them at the next counter.
[[noreturn]] void RunWriter(const std::string& repo_dir, int ready_fd, int stop_fd, int report_fd) {
  WriterReport rep;
  auto fs = FeatureStore::Open(repo_dir);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  if (!fs.ok()) {
    std::snprintf(rep.error, sizeof(rep.error), "%s", fs.status().ToString().c_str());
  } else {
    for (int64_t k = 1; std::chrono::steady_clock::now() < deadline; ++k) {
      int64_t n = std::min<int64_t>(kEntities, 50 * k);
      auto r = (*fs)->Push("stats_push", CounterRows(n, k));
      if (!r.ok() || r->rows_written != static_cast<uint64_t>(n)) {
        std::snprintf(rep.error, sizeof(rep.error), "batch %ld: %s", static_cast<long>(k),
                      r.ok() ? "rows skipped" : r.status().ToString().c_str());
        break;
      }
      ++rep.batches;
      rep.rows += r->rows_written;
      rep.last_counter = k;
      if (k == 1) {
        char one = 1;
        testing::WriteAll(ready_fd, &one, 1);
      }
      if (n == kEntities && testing::Readable(stop_fd)) break;  // closed by the parent
    }
    auto info = (*fs)->Inspect();
    if (info.ok()) rep.growths = info->index_growths;
  }
  testing::WriteAll(report_fd, &rep, sizeof(rep));
  ::_exit(0);
}

class MultiProcess : public testing::StoreFixture {};

// The issue's required test.
TEST_F(MultiProcess, ReadersNeverSeeTornRows) {
  repo_.Write(CounterRepo(), StoreOptions{16, "256MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  int ready[2], stop[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(stop), 0);
  Child writer = ForkChild([&](int report_fd) {
    ::close(stop[1]);
    RunWriter(repo_.dir(), ready[1], stop[0], report_fd);
  });
  ASSERT_GE(writer.pid, 0);
  ::close(ready[1]);
  ::close(stop[0]);
  char one = 0;
  ASSERT_EQ(testing::ReadAll(ready[0], &one, 1), 1u) << "the writer never pushed";

  // Three readers for at least 3 seconds, with requests of 100, 16 and 1 entities (the last
  // enters and leaves an epoch per lookup). The first two make at least a million lookups each.
  constexpr int kReaders = 3;
  constexpr size_t kBatch[kReaders] = {100, 16, 1};
  constexpr uint64_t kMinLookups[kReaders] = {1'100'000, 1'000'000, 0};
  std::vector<Child> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.push_back(ForkChild([&](int report_fd) {
      RunReader(repo_.segment(), kMinLookups[i], 3.0, kBatch[i], 1000 + static_cast<uint32_t>(i),
                report_fd);
    }));
    ASSERT_GE(readers.back().pid, 0);
  }
  uint64_t total = 0, present = 0;
  for (int i = 0; i < kReaders; ++i) {
    ReaderReport rep;
    size_t got = testing::ReadAll(readers[i].report_fd, &rep, sizeof(rep));
    int status = WaitChild(readers[i].pid);
    ::close(readers[i].report_fd);
    ASSERT_EQ(got, sizeof(rep)) << "reader " << i << " ended with " << DescribeWait(status);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeWait(status);
    EXPECT_EQ(rep.violations, 0u) << "reader " << i << ": " << rep.first;
    EXPECT_EQ(rep.backwards, 0u);
    EXPECT_GT(rep.present, 0u) << "reader " << i << " never saw a row";
    EXPECT_GT(rep.max_counter, 1u) << "reader " << i << " never saw an update";
    total += rep.lookups;
    present += rep.present;
    std::printf(
        "[   INFO   ] reader %d (%zu per request): %lu lookups (%lu present) in %.2f s, "
        "max counter %lu\n",
        i, kBatch[i], static_cast<unsigned long>(rep.lookups),
        static_cast<unsigned long>(rep.present), rep.seconds,
        static_cast<unsigned long>(rep.max_counter));
  }
  ::close(stop[1]);  // tells the writer to stop
  WriterReport wr;
  size_t got = testing::ReadAll(writer.report_fd, &wr, sizeof(wr));
  int status = WaitChild(writer.pid);
  ::close(writer.report_fd);
  ::close(ready[0]);
  ASSERT_EQ(got, sizeof(wr)) << "writer ended with " << DescribeWait(status);
  EXPECT_STREQ(wr.error, "");
  std::printf("[   INFO   ] writer: %lu batches, %lu rows, %lu index growths\n",
              static_cast<unsigned long>(wr.batches), static_cast<unsigned long>(wr.rows),
              static_cast<unsigned long>(wr.growths));
  EXPECT_GE(total, 2'000'000u);
  EXPECT_GT(present, 0u);
  EXPECT_GT(wr.batches, 20u);  // past the growing phase, rewriting rows under the readers
  EXPECT_GT(wr.growths, 0u);

  // Everything the writer acknowledged is there, and the store is sound.
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kEntities; ++i) ids.push_back(i);
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r, fs->GetOnlineFeatures(CounterRequest(ids)));
  for (int64_t i = 0; i < kEntities; ++i) {
    int64_t k = -1;
    ASSERT_EQ(CheckRow(r, static_cast<size_t>(i), i, &k), "") << i;
    ASSERT_EQ(k, wr.last_counter) << i;
  }
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  EXPECT_EQ(info.index_entries, static_cast<uint64_t>(kEntities));
  EXPECT_EQ(info.writer_pid, 0u);
}

// What one racing writer had acknowledged: per entity, the highest counter it pushed (0: none).
struct RacingWriterReport {
  int64_t max_k[kEntities] = {};
  uint64_t batches = 0;
  uint64_t skipped = 0;  // rows its pushes found older than the stored row
  char error[240] = {};
};

// One of several writers pushing at once: `batches` pushes of 100 random entities (most of
// them pushed by the other writers too), each at one counter. Counters trend upwards with
// jitter wider than a batch's step, so pushes arrive older than the stored row as often as
// newer, and writer `w`'s counters are w + 1 modulo 3: no two writers push the same counter.
void RunRacingWriter(FeatureStore& fs, int w, int batches, RacingWriterReport* rep) {
  std::mt19937 rng(7000 + static_cast<uint32_t>(w));
  std::vector<int64_t> ids(100);
  for (int b = 0; b < batches; ++b) {
    for (int64_t& id : ids) id = static_cast<int64_t>(rng() % kEntities);
    const int64_t k = 3 * (int64_t{b} * 20 + static_cast<int64_t>(rng() % 200)) + w + 1;
    auto r = fs.Push("stats_push", CounterRowsOf(ids, k));
    if (!r.ok()) {
      std::snprintf(rep->error, sizeof(rep->error), "writer %d, batch %d: %s", w, b,
                    r.status().ToString().c_str());
      return;
    }
    ++rep->batches;
    rep->skipped += r->rows_skipped;
    for (int64_t id : ids) rep->max_k[id] = std::max(rep->max_k[id], k);
  }
}

// Two writer processes, one of them with two FeatureStore instances on two threads, push
// overlapping entities at once while reader processes check every row they see. The writer
// lock (a flock on PATH.lock, per open file description, so also between two instances in
// one process) lets one batch in at a time: the store stays sound, and each entity ends with
// the row of the highest counter any writer had acknowledged for it (the ordering rule).
TEST_F(MultiProcess, WritersAtOnceKeepTheLatestRowOfEachEntity) {
  repo_.Write(CounterRepo(), StoreOptions{16, "256MiB"});  // the index grows under them
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  int stop[2];
  ASSERT_EQ(::pipe(stop), 0);
  constexpr size_t kBatch[] = {16, 1};
  std::vector<Child> readers;
  for (size_t i = 0; i < std::size(kBatch); ++i) {
    readers.push_back(ForkChild([&](int report_fd) {
      ::close(stop[1]);
      RunReader(repo_.segment(), 20'000, 0, kBatch[i], 2000 + static_cast<uint32_t>(i), report_fd,
                stop[0]);
    }));
    ASSERT_GE(readers.back().pid, 0);
  }
  ::close(stop[0]);
  constexpr int kBatches = 150;
  const std::string dir = repo_.dir();
  Child one = ForkChild([&](int report_fd) {
    auto rep = std::make_unique<RacingWriterReport>();
    auto store = FeatureStore::Open(dir);
    if (!store.ok()) {
      std::snprintf(rep->error, sizeof(rep->error), "%s", store.status().ToString().c_str());
    } else {
      RunRacingWriter(**store, 0, kBatches, rep.get());
    }
    testing::WriteAll(report_fd, rep.get(), sizeof(*rep));
    ::_exit(0);
  });
  ASSERT_GE(one.pid, 0);
  Child two = ForkChild([&](int report_fd) {
    std::unique_ptr<RacingWriterReport> reps[2] = {std::make_unique<RacingWriterReport>(),
                                                   std::make_unique<RacingWriterReport>()};
    auto a = FeatureStore::Open(dir);
    auto b = FeatureStore::Open(dir);
    if (!a.ok() || !b.ok()) {
      std::snprintf(reps[0]->error, sizeof(reps[0]->error), "open failed");
    } else {
      std::thread t([&] { RunRacingWriter(**b, 2, kBatches, reps[1].get()); });
      RunRacingWriter(**a, 1, kBatches, reps[0].get());
      t.join();
    }
    for (auto& rep : reps) testing::WriteAll(report_fd, rep.get(), sizeof(*rep));
    ::_exit(0);
  });
  ASSERT_GE(two.pid, 0);

  std::vector<std::unique_ptr<RacingWriterReport>> writers;
  for (Child* c : {&one, &two, &two}) {
    auto rep = std::make_unique<RacingWriterReport>();
    size_t got = testing::ReadAll(c->report_fd, rep.get(), sizeof(*rep));
    ASSERT_EQ(got, sizeof(*rep)) << "a writer process ended with "
                                 << DescribeWait(WaitChild(c->pid));
    EXPECT_STREQ(rep->error, "");
    EXPECT_EQ(rep->batches, static_cast<uint64_t>(kBatches));
    writers.push_back(std::move(rep));
  }
  for (Child* c : {&one, &two}) {
    const int status = WaitChild(c->pid);
    ::close(c->report_fd);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeWait(status);
  }
  ::close(stop[1]);  // the readers stop
  for (size_t i = 0; i < readers.size(); ++i) {
    ReaderReport rep;
    size_t got = testing::ReadAll(readers[i].report_fd, &rep, sizeof(rep));
    const int status = WaitChild(readers[i].pid);
    ::close(readers[i].report_fd);
    ASSERT_EQ(got, sizeof(rep)) << "reader " << i << " ended with " << DescribeWait(status);
    EXPECT_EQ(rep.violations, 0u) << "reader " << i << ": " << rep.first;
    EXPECT_EQ(rep.backwards, 0u) << "reader " << i << " saw an entity's counter go back";
    EXPECT_GT(rep.present, 0u) << "reader " << i << " never saw a row";
  }

  // Each entity holds the highest counter acknowledged to any writer; none was lost.
  uint64_t skipped = 0, pushed_entities = 0;
  for (const auto& w : writers) skipped += w->skipped;
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kEntities; ++i) ids.push_back(i);
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r, fs->GetOnlineFeatures(CounterRequest(ids)));
  for (int64_t i = 0; i < kEntities; ++i) {
    int64_t want = 0;
    for (const auto& w : writers) want = std::max(want, w->max_k[i]);
    pushed_entities += want > 0;
    int64_t k = -1;
    ASSERT_EQ(CheckRow(r, static_cast<size_t>(i), i, &k), "") << "entity " << i;
    ASSERT_EQ(k, want > 0 ? want : -1) << "entity " << i;
  }
  EXPECT_GT(skipped, 0u) << "no push ever arrived older than the stored row";
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  std::string all;
  for (const std::string& v : check.violations) all += "\n  " + v;
  EXPECT_TRUE(check.ok()) << all;
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  EXPECT_EQ(info.index_entries, pushed_entities);
  EXPECT_EQ(info.writer_pid, 0u);
  EXPECT_EQ(info.recoveries, 0u) << "a writer took another's batch for a dead writer's";
  EXPECT_GT(info.index_growths, 0u);
  std::printf("[   INFO   ] 3 writers x %d batches: %lu rows skipped as older, %lu entities\n",
              kBatches, static_cast<unsigned long>(skipped),
              static_cast<unsigned long>(pushed_entities));
}

// Registry changes under readers: a writer process alternates pushes with applies that add and
// drop another view and change the counters view's ttl and description; readers keep reading
// whole rows and never get an error (the registry block they decode stays valid for their
// request, and a changed generation is picked up by the next one).
TEST_F(MultiProcess, ReadersSurviveRegistryChanges) {
  const StoreOptions opts{2000, "256MiB"};
  repo_.Write(CounterRepo(), opts);
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", CounterRows(kEntities, 1)));
  testing::Repo other;  // the same store, declared with an extra view and another ttl
  std::string alt = CounterRepo();
  alt.replace(alt.find("    source: stats_push\n"), 0, "    ttl: 36500d\n    description: alt\n");
  alt += R"(  - name: extra
    entities: [driver]
    source: stats_push
    schema:
      - {name: c_i64, dtype: Int64}
)";
  other.Write(alt, StoreOptions{opts.initial_capacity, opts.memory_limit, repo_.segment()});

  // Readers first, reading until the writer is done (the stop pipe closes) and for at least
  // 2000 entities each (so a reader scheduled late still checks rows): the writer makes a fixed
  // count of applies, not whatever a wall-clock window allowed.
  int stop[2];
  ASSERT_EQ(::pipe(stop), 0);
  std::vector<Child> readers;
  for (int i = 0; i < 2; ++i) {
    readers.push_back(ForkChild([&](int report_fd) {
      ::close(stop[1]);
      RunReader(repo_.segment(), 2000, 0, i == 0 ? 50 : 1, 77 + static_cast<uint32_t>(i),
                report_fd, stop[0]);
    }));
    ASSERT_GE(readers.back().pid, 0);
  }
  ::close(stop[0]);
  constexpr uint64_t kApplies = 100;
  Child writer = ForkChild([&](int report_fd) {
    ::close(stop[1]);
    WriterReport rep;
    auto a = FeatureStore::Open(repo_.dir());
    auto b = FeatureStore::Open(other.dir());
    for (int64_t k = 2; a.ok() && b.ok() && rep.growths < kApplies; ++k) {
      auto r = (*a)->Push("stats_push", CounterRows(kEntities, k));
      if (!r.ok()) {
        std::snprintf(rep.error, sizeof(rep.error), "push: %s", r.status().ToString().c_str());
        break;
      }
      rep.last_counter = k;
      ++rep.batches;
      auto ap = (k % 2 ? *a : *b)->Apply(ApplyOptions{.force = true});
      if (!ap.ok() || !ap->changed) {
        std::snprintf(rep.error, sizeof(rep.error), "apply: %s",
                      ap.ok() ? "no change" : ap.status().ToString().c_str());
        break;
      }
      ++rep.growths;  // applies
    }
    if (!a.ok() || !b.ok()) {
      std::snprintf(rep.error, sizeof(rep.error), "open: %s",
                    (a.ok() ? b.status() : a.status()).ToString().c_str());
    }
    testing::WriteAll(report_fd, &rep, sizeof(rep));
  });
  ASSERT_GE(writer.pid, 0);
  WriterReport wr;
  size_t got = testing::ReadAll(writer.report_fd, &wr, sizeof(wr));
  int status = WaitChild(writer.pid);
  ::close(writer.report_fd);
  ::close(stop[1]);  // the writer is done: readers stop
  for (size_t i = 0; i < readers.size(); ++i) {
    ReaderReport rep;
    size_t rgot = testing::ReadAll(readers[i].report_fd, &rep, sizeof(rep));
    int rstatus = WaitChild(readers[i].pid);
    ::close(readers[i].report_fd);
    ASSERT_EQ(rgot, sizeof(rep)) << "reader " << i << " ended with " << DescribeWait(rstatus);
    EXPECT_EQ(rep.violations, 0u) << "reader " << i << ": " << rep.first;
    EXPECT_GT(rep.present, 0u);
  }
  ASSERT_EQ(got, sizeof(wr)) << "writer ended with " << DescribeWait(status);
  EXPECT_STREQ(wr.error, "");
  EXPECT_EQ(wr.growths, kApplies);
  std::printf("[   INFO   ] writer: %lu batches, %lu applies\n",
              static_cast<unsigned long>(wr.batches), static_cast<unsigned long>(wr.growths));
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  EXPECT_GE(info.registry_generation, kApplies);
}

// ---- Snapshot reads ---------------------------------------------------------------------------

// Two views of one push source, and a service over both: a push of counter k writes k into
// every feature of both views for every entity it carries.
constexpr char kTwoViewRepo[] = R"(feature_views:
  - name: left
    entities: [driver]
    source: stats_push
    schema:
      - {name: l_k, dtype: Int64}
      - {name: l_s, dtype: String}
  - name: right
    entities: [driver]
    source: stats_push
    schema:
      - {name: r_k, dtype: Int64}
      - {name: r_f, dtype: Float64}
feature_services:
  - name: both
    features: [left, right]
)";

// Entities 0 and 1 at counter k (event time k seconds), in one push.
Frame TwoEntityPush(int64_t k) {
  return MakeFrame({{"driver_id", Ints({0, 1})},
                    {"l_k", Repeat(I(k), 2)},
                    {"l_s", Repeat(Cell::String(Str(k)), 2)},
                    {"r_k", Repeat(I(k), 2)},
                    {"r_f", Repeat(Cell::Double(static_cast<double>(k)), 2)},
                    {"event_timestamp", Repeat(I(k), 2)},
                    {"created", Repeat(Cell::Null(), 2)}});
}

// How a snapshot reader asks: both views of both entities by feature refs (rows of Values, or
// columnar), or the service for one entity.
enum class SnapshotAsk { kRefsTwoEntities, kColumnarTwoEntities, kServiceOneEntity };

struct SnapshotReport {
  uint64_t requests = 0;
  uint64_t torn = 0;       // requests that saw a push half applied
  uint64_t backwards = 0;  // requests older than one this reader saw before
  uint64_t max_counter = 0;
  double seconds = 0;
  char first[240] = {};
};

// The counters one request saw (one per feature value, in response order), or why it is not a
// well-formed response. Every feature must be PRESENT (the first push precedes the readers).
std::string SnapshotCounters(const OnlineResponse& r, size_t entities, std::vector<int64_t>* ks) {
  if (r.results.size() != 5) return "response has " + std::to_string(r.results.size()) + " columns";
  for (size_t e = 0; e < entities; ++e) {
    for (size_t c = 1; c < 5; ++c) {
      if (r.results[c].statuses[e] != FieldStatus::kPresent) {
        return std::string("status ") + FieldStatusName(r.results[c].statuses[e]);
      }
    }
    const int64_t k = r.results[1].values[e].i64;
    if (r.results[2].values[e].str != Str(k)) return "l_s differs from l_k in one row";
    if (r.results[4].values[e].f64 != static_cast<double>(r.results[3].values[e].i64)) {
      return "r_f differs from r_k in one row";
    }
    ks->push_back(k);
    ks->push_back(r.results[3].values[e].i64);
  }
  return "";
}

std::string SnapshotCounters(const ColumnarResponse& r, size_t entities, std::vector<int64_t>* ks) {
  if (r.features.size() != 4)
    return "response has " + std::to_string(r.features.size()) + " features";
  for (size_t e = 0; e < entities; ++e) {
    for (const ColumnarFeature& f : r.features) {
      if (f.statuses[e] != FieldStatus::kPresent) {
        return std::string("status ") + FieldStatusName(f.statuses[e]);
      }
    }
    const int64_t k = r.features[0].ints[e];
    if (r.features[1].strings[e] != Str(k)) return "l_s differs from l_k in one row";
    if (r.features[3].doubles[e] != static_cast<double>(r.features[2].ints[e])) {
      return "r_f differs from r_k in one row";
    }
    ks->push_back(k);
    ks->push_back(r.features[2].ints[e]);
  }
  return "";
}

// A reader process: the same request over and over, at least `min_requests` of them and for at
// least `seconds` (at most 40 s). Every request must see one push whole (all its counters
// equal), and never one older than a request before it.
[[noreturn]] void RunSnapshotReader(const std::string& segment, SnapshotAsk ask,
                                    uint64_t min_requests, double seconds, int report_fd) {
  SnapshotReport rep;
  auto fail = [&](uint64_t* count, const std::string& what) {
    if (rep.torn + rep.backwards == 0) {
      std::snprintf(rep.first, sizeof(rep.first), "request %lu: %s",
                    static_cast<unsigned long>(rep.requests), what.c_str());
    }
    ++*count;
  };
  auto start = std::chrono::steady_clock::now();
  auto reader = OnlineReader::Attach(segment);
  if (!reader.ok()) {
    fail(&rep.torn, "attach: " + reader.status().ToString());
  } else {
    const bool service = ask == SnapshotAsk::kServiceOneEntity;
    const size_t entities = service ? 1 : 2;
    OnlineRequest req = service ? testing::Service("both", MakeFrame({{"driver_id", Ints({0})}}))
                                : Features({"left:l_k", "left:l_s", "right:r_k", "right:r_f"},
                                           MakeFrame({{"driver_id", Ints({0, 1})}}));
    OnlineResponse resp;
    ColumnarResponse columns;
    std::vector<int64_t> ks;
    int64_t last = 0;
    const auto deadline = start + std::chrono::seconds(40);
    const auto min_end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(seconds));
    for (;;) {
      // The clock only every 1024 requests: a request takes about a microsecond.
      if (rep.requests % 1024 == 0) {
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline || (rep.requests >= min_requests && now >= min_end)) break;
      }
      // The service reader alternates between the two entities of each push.
      if (service) req.entities.columns[0][0].i = static_cast<int64_t>(rep.requests & 1);
      ks.clear();
      Status st = ask == SnapshotAsk::kColumnarTwoEntities
                      ? (*reader)->GetOnlineFeaturesColumnar(req, &columns)
                      : (*reader)->GetOnlineFeatures(req, &resp);
      if (!st.ok()) {
        fail(&rep.torn, "lookup: " + st.ToString());
        break;
      }
      std::string why = ask == SnapshotAsk::kColumnarTwoEntities
                            ? SnapshotCounters(columns, entities, &ks)
                            : SnapshotCounters(resp, entities, &ks);
      ++rep.requests;
      if (!why.empty()) {
        fail(&rep.torn, why);
        continue;
      }
      std::string seen;
      for (int64_t k : ks) seen += (seen.empty() ? "" : ", ") + std::to_string(k);
      if (!std::all_of(ks.begin(), ks.end(), [&](int64_t k) { return k == ks[0]; })) {
        fail(&rep.torn, "a push half applied: [" + seen + "]");
      } else if (ks[0] < last) {
        fail(&rep.backwards, "counter went back from " + std::to_string(last) + " to " + seen);
      }
      last = std::max(last, ks[0]);
    }
    rep.max_counter = static_cast<uint64_t>(last);
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  testing::WriteAll(report_fd, &rep, sizeof(rep));
  ::_exit(0);
}

// The seconds each snapshot reader runs: 2, or LARDER_SNAPSHOT_TEST_SECONDS for a long run.
double SnapshotTestSeconds() {
  const char* s = std::getenv("LARDER_SNAPSHOT_TEST_SECONDS");
  return s != nullptr && std::atof(s) > 0 ? std::atof(s) : 2.0;
}

// The issue's snapshot test (issue 22): a writer process pushes counter k for two entities
// through a source read by two views, flat out, while reader processes ask for both views of
// both entities (by feature refs, as rows of Values or columnar) or for the service of one
// entity. No request may see a push half applied (one view or entity at k, another at k - 1),
// nor a push older than one it saw before. With ReaderOptions::snapshot_reads off (each row's
// newest version, as before issue 22) hundreds of requests per second are torn.
TEST_F(MultiProcess, RequestsSeeEveryPushWholeAcrossViewsAndEntities) {
  repo_.Write(std::string(testing::kDriverPreamble) + kTwoViewRepo, StoreOptions{16, "64MiB"});
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.OpenApplied());
  LARDER_ASSERT_OK(fs->Push("stats_push", TwoEntityPush(1)));
  int stop[2];
  ASSERT_EQ(::pipe(stop), 0);
  Child writer = ForkChild([&](int report_fd) {
    ::close(stop[1]);
    WriterReport rep;
    auto w = FeatureStore::Open(repo_.dir());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (int64_t k = 2; w.ok() && std::chrono::steady_clock::now() < deadline; ++k) {
      auto r = (*w)->Push("stats_push", TwoEntityPush(k));
      if (!r.ok() || r->rows_written != 4) {
        std::snprintf(rep.error, sizeof(rep.error), "push %ld: %s", static_cast<long>(k),
                      r.ok() ? "rows skipped" : r.status().ToString().c_str());
        break;
      }
      ++rep.batches;
      rep.last_counter = k;
      if (k % 64 == 0 && testing::Readable(stop[0])) break;  // closed by the parent
    }
    if (!w.ok()) std::snprintf(rep.error, sizeof(rep.error), "%s", w.status().ToString().c_str());
    testing::WriteAll(report_fd, &rep, sizeof(rep));
    ::_exit(0);
  });
  ASSERT_GE(writer.pid, 0);
  ::close(stop[0]);

  const double seconds = SnapshotTestSeconds();
  constexpr SnapshotAsk kAsks[] = {SnapshotAsk::kRefsTwoEntities, SnapshotAsk::kColumnarTwoEntities,
                                   SnapshotAsk::kServiceOneEntity};
  // At least 1.2 million requests in all (about a microsecond each; sanitizer builds run
  // several times slower and make fewer).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr uint64_t kMinRequests = 50'000;
#else
  constexpr uint64_t kMinRequests = 400'000;
#endif
  std::vector<Child> readers;
  for (SnapshotAsk ask : kAsks) {
    readers.push_back(ForkChild([&](int report_fd) {
      RunSnapshotReader(repo_.segment(), ask, kMinRequests, seconds, report_fd);
    }));
    ASSERT_GE(readers.back().pid, 0);
  }
  uint64_t requests = 0;
  for (size_t i = 0; i < readers.size(); ++i) {
    SnapshotReport rep;
    size_t got = testing::ReadAll(readers[i].report_fd, &rep, sizeof(rep));
    int status = WaitChild(readers[i].pid);
    ::close(readers[i].report_fd);
    ASSERT_EQ(got, sizeof(rep)) << "reader " << i << " ended with " << DescribeWait(status);
    EXPECT_EQ(rep.torn, 0u) << "reader " << i << " (" << rep.requests
                            << " requests): " << rep.first;
    EXPECT_EQ(rep.backwards, 0u) << "reader " << i << ": " << rep.first;
    EXPECT_GT(rep.max_counter, 2u) << "reader " << i << " never saw a push of the writer";
    requests += rep.requests;
    std::printf("[   INFO   ] reader %zu: %lu requests in %.2f s (%lu torn), max counter %lu\n", i,
                static_cast<unsigned long>(rep.requests), rep.seconds,
                static_cast<unsigned long>(rep.torn), static_cast<unsigned long>(rep.max_counter));
  }
  ::close(stop[1]);
  WriterReport wr;
  size_t got = testing::ReadAll(writer.report_fd, &wr, sizeof(wr));
  int status = WaitChild(writer.pid);
  ::close(writer.report_fd);
  ASSERT_EQ(got, sizeof(wr)) << "writer ended with " << DescribeWait(status);
  EXPECT_STREQ(wr.error, "");
  std::printf("[   INFO   ] writer: %lu pushes of 2 entities x 2 views\n",
              static_cast<unsigned long>(wr.batches));
  EXPECT_GE(requests, 3 * kMinRequests);
  EXPECT_GT(wr.batches, 1000u) << "too few pushes under the readers";

  // The last push is there, whole, and the store is sound.
  LARDER_ASSERT_OK_AND_ASSIGN(
      OnlineResponse r,
      fs->GetOnlineFeatures(Features({"left:l_k", "left:l_s", "right:r_k", "right:r_f"},
                                     MakeFrame({{"driver_id", Ints({0, 1})}}))));
  std::vector<int64_t> ks;
  ASSERT_EQ(SnapshotCounters(r, 2, &ks), "");
  EXPECT_EQ(ks, std::vector<int64_t>(4, wr.last_counter));
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
}

// ---- Dead readers ---------------------------------------------------------------------------

// Forks a reader that loops on 1000-entity lookups until killed; returns its pid once it has
// done one lookup.
pid_t StartLoopingReader(const std::string& segment) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kEntities; ++i) ids.push_back(i);
  const OnlineRequest req = CounterRequest(ids);
  Child c = ForkChild([&](int ready_fd) { testing::RunLoopingReader(segment, req, ready_fd); });
  if (c.pid < 0) return -1;
  char one = 0;
  bool ok = testing::ReadAll(c.report_fd, &one, 1) == 1;
  ::close(c.report_fd);
  if (!ok) {
    ::kill(c.pid, SIGKILL);
    WaitChild(c.pid);
    return -1;
  }
  return c.pid;
}

// SIGKILLs looping readers until one dies inside a lookup (its slot keeps a non-zero epoch).
// Reaps the child only when `reap`. Returns its pid, or -1.
pid_t KillReaderInsideLookup(FeatureStore& fs, const std::string& segment, bool reap) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    pid_t pid = StartLoopingReader(segment);
    if (pid < 0) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(2 + attempt % 5));
    ::kill(pid, SIGKILL);
    if (reap) {
      WaitChild(pid);
    } else {
      // Wait until it is a zombie (it no longer runs) without reaping it.
      siginfo_t si;
      ::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT);
    }
    auto slot = SlotOf(fs, pid);
    if (slot && slot->epoch != 0) return pid;
    if (!reap) WaitChild(pid);
  }
  return -1;
}

// Overwrites all entities `rounds` times; returns arena_used after each round.
std::vector<uint64_t> Overwrite(FeatureStore& fs, int64_t first_counter, int rounds) {
  std::vector<uint64_t> used;
  for (int i = 0; i < rounds; ++i) {
    auto r = fs.Push("stats_push", CounterRows(kEntities, first_counter + i));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    auto info = fs.Inspect();
    used.push_back(info.ok() ? info->arena_used : 0);
  }
  return used;
}

// SIGKILLs and reaps a child when the test leaves early (a failed ASSERT), so that a stopped
// or sleeping child does not outlive the test; release() once the test has done so itself.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      WaitChild(pid_);
    }
  }
  void release() { pid_ = -1; }

 private:
  pid_t pid_;
};

class MultiProcessDeadReaders : public testing::StoreFixture {
 protected:
  void SetUp() override {
    // A grace period longer than any test: these tests are about telling dead readers from
    // live ones, not about withdrawing the holds of stuck ones (tests/reader_safety_test.cc).
    StoreOptions options{2000, "256MiB"};
    options.reader_grace_ms = "3600000";
    repo_.Write(CounterRepo(), options);
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
    ASSERT_TRUE(fs_->Push("stats_push", CounterRows(kEntities, 1)).ok());
  }
  // A dead reader that held an epoch: after the next batches its slot is gone and memory is
  // reused again (the arena stops growing).
  void ExpectReclamationResumes(pid_t dead) {
    // Row sizes cycle with the counter (c_pad) over 61 rounds; after one cycle every size
    // class has its blocks and the arena must stop growing.
    std::vector<uint64_t> used = Overwrite(*fs_, 100, 70);
    EXPECT_FALSE(SlotOf(*fs_, dead).has_value()) << "the dead reader's slot was not released";
    EXPECT_EQ(used[69], used[61]) << "arena grew from " << used[61] << " to " << used[69];
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs_->Inspect());
    EXPECT_EQ(info.limbo_bytes, 0u);
    // Without reclamation 70 rounds of 1000 rows would need far more than this.
    EXPECT_LT(info.arena_used, 4u * 1024 * 1024);
    LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs_->Check());
    EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
  }
  std::unique_ptr<FeatureStore> fs_;
};

TEST_F(MultiProcessDeadReaders, KilledInsideALookupDoesNotBlockReclamation) {
  pid_t dead = KillReaderInsideLookup(*fs_, repo_.segment(), /*reap=*/true);
  ASSERT_GT(dead, 0) << "no reader was killed inside a lookup";
  ExpectReclamationResumes(dead);
}

TEST_F(MultiProcessDeadReaders, KilledZombieDoesNotBlockReclamation) {
  // Until its parent reaps it, a killed process is a zombie: kill(pid, 0) still succeeds and
  // /proc/PID/stat still shows its start time. It runs no more code, so it must not count.
  pid_t dead = KillReaderInsideLookup(*fs_, repo_.segment(), /*reap=*/false);
  ASSERT_GT(dead, 0) << "no reader was killed inside a lookup";
  ExpectReclamationResumes(dead);
  WaitChild(dead);
}

TEST_F(MultiProcessDeadReaders, StoppedReaderHoldsMemoryBackOnlyUntilItResumes) {
  // A reader stopped (SIGSTOP) inside a lookup is alive: within the grace period (an hour here)
  // the writer must keep its rows, keep writing (the limbo ring stops the epoch from wrapping
  // past it), and reclaim once it runs. (After the grace period its hold is withdrawn:
  // ReaderSafety.StoppedReaderDoesNotFillTheStoreAndReadsAgainWhenResumed.)
  pid_t pid = -1;
  for (int attempt = 0; attempt < 50 && pid < 0; ++attempt) {
    pid_t p = StartLoopingReader(repo_.segment());
    ASSERT_GT(p, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(2 + attempt % 5));
    ::kill(p, SIGSTOP);
    siginfo_t si;
    ::waitid(P_PID, static_cast<id_t>(p), &si, WSTOPPED);
    auto slot = SlotOf(*fs_, p);
    if (slot && slot->epoch != 0) {
      pid = p;
    } else {
      ::kill(p, SIGKILL);
      WaitChild(p);
    }
  }
  ASSERT_GT(pid, 0) << "no reader was stopped inside a lookup";
  ChildGuard guard(pid);
  const uint64_t held = SlotOf(*fs_, pid)->epoch;
  // More batches than the limbo ring, with a pause longer than ReaderWatch::kExecCheckAfter in
  // the middle: the writer's scan then checks whether the process exec()ed (it did not: it
  // still maps the table), and must keep its slot.
  Overwrite(*fs_, 100, 50);
  std::this_thread::sleep_for(ReaderWatch::kExecCheckAfter + std::chrono::milliseconds(100));
  Overwrite(*fs_, 150, 50);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo stalled, fs_->Inspect());
  EXPECT_GT(stalled.limbo_bytes, 50u * 100000) << "rows were freed under a live reader";
  EXPECT_LT(stalled.global_epoch, held + layout::kLimboRing) << "the epoch wrapped the ring";
  ASSERT_TRUE(SlotOf(*fs_, pid).has_value());
  EXPECT_EQ(SlotOf(*fs_, pid)->epoch, held);
  // Every row is the newest one meanwhile.
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kEntities; ++i) ids.push_back(i);
  LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r, fs_->GetOnlineFeatures(CounterRequest(ids)));
  for (int64_t i = 0; i < kEntities; ++i) {
    int64_t k = -1;
    ASSERT_EQ(CheckRow(r, static_cast<size_t>(i), i, &k), "");
    ASSERT_EQ(k, 199);
  }
  // Resumed, the reader finishes its lookup and goes on reading; reclamation catches up.
  // (A few batches: the reader's next lookups must see the epoch advance past the stalled one;
  // on a loaded machine it may take a while to be scheduled.)
  ::kill(pid, SIGCONT);
  uint64_t limbo = stalled.limbo_bytes;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int64_t k = 200;
       limbo >= stalled.limbo_bytes / 10 && std::chrono::steady_clock::now() < deadline; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    Overwrite(*fs_, k, 1);
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo resumed, fs_->Inspect());
    limbo = resumed.limbo_bytes;
  }
  EXPECT_LT(limbo, stalled.limbo_bytes / 10) << "reclamation did not resume";
  guard.release();
  ::kill(pid, SIGKILL);
  WaitChild(pid);
  Overwrite(*fs_, 100000, 2);
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo done, fs_->Inspect());
  EXPECT_EQ(done.limbo_bytes, 0u);
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs_->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);
}

// A process whose thread exec()s while another of its threads is inside a lookup: the kernel
// ends the reading thread, but the process keeps its pid and start time, so only the table's
// mapping (gone from the new program) shows that nothing reads through the slot any more.
TEST_F(MultiProcessDeadReaders, ReaderThatExecsInsideALookupDoesNotBlockReclamation) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kEntities; ++i) ids.push_back(i);
  const OnlineRequest req = CounterRequest(ids);
  const std::string segment = repo_.segment();
  pid_t pid = -1;
  for (int attempt = 0; attempt < 50 && pid < 0; ++attempt) {
    Child c = ForkChild([&](int ready_fd) {
      auto reader = OnlineReader::Attach(segment);
      if (!reader.ok()) ::_exit(2);
      std::atomic<bool> looked_up{false};
      std::thread([&] {
        OnlineResponse resp;
        for (;;) {
          if (!(*reader)->GetOnlineFeatures(req, &resp).ok()) ::_exit(3);
          looked_up.store(true, std::memory_order_relaxed);
        }
      }).detach();
      while (!looked_up.load(std::memory_order_relaxed)) std::this_thread::yield();
      char one = 1;
      testing::WriteAll(ready_fd, &one, 1);
      ::close(ready_fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(2 + attempt % 5));
      ::execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
      ::_exit(4);
    });
    ASSERT_GT(c.pid, 0);
    char one = 0;
    const bool ready = testing::ReadAll(c.report_fd, &one, 1) == 1;
    ::close(c.report_fd);
    ASSERT_TRUE(ready) << "the reader did not start";
    const std::string comm = ProcFile(c.pid, "comm");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (testing::ReadFile(comm) != "sleep\n" && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(testing::ReadFile(comm), "sleep\n") << "the reader did not exec";
    auto slot = SlotOf(*fs_, c.pid);
    if (slot && slot->epoch != 0) {
      pid = c.pid;
    } else {
      ::kill(c.pid, SIGKILL);
      WaitChild(c.pid);
    }
  }
  ASSERT_GT(pid, 0) << "no reader exec()ed inside a lookup";
  ChildGuard guard(pid);
  EXPECT_FALSE(SlotOf(*fs_, pid)->alive) << "inspect shows an exec()ed reader as alive";
  // The writer's scan checks a slot's mapping once it has held its epoch for
  // ReaderWatch::kExecCheckAfter: batches go on until one of them has released it (a 30 s
  // deadline only ends a test that fails).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (SlotOf(*fs_, pid).has_value()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "no writer batch released the slot of a reader that exec()ed";
    // One row at the same counter again (it replaces its row: same timestamp): the batches
    // retire next to nothing while the slot still holds limbo back.
    LARDER_ASSERT_OK(fs_->Push("stats_push", CounterRowsOf({0}, 50)));
    if (SlotOf(*fs_, pid).has_value()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ExpectReclamationResumes(pid);
}

TEST_F(MultiProcessDeadReaders, ReadersKilledOutsideLookupsDoNotExhaustTheTable) {
  // More readers than the table has slots die holding a slot (outside a lookup): new readers
  // must still find a slot.
  constexpr int kDead = 1100;
  constexpr int kParallel = 50;
  std::vector<pid_t> pids;
  for (int i = 0; i < kDead; ++i) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto reader = OnlineReader::Attach(repo_.segment());
      if (!reader.ok()) ::_exit(2);
      auto r = (*reader)->GetOnlineFeatures(CounterRequest({1}));
      ::_exit(r.ok() ? 0 : (r.status().code() == ErrorCode::kBusy ? 4 : 3));  // no clean-up
    }
    pids.push_back(pid);
    if (pids.size() == kParallel || i + 1 == kDead) {
      for (pid_t p : pids) {
        int status = WaitChild(p);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "reader " << i << ": " << DescribeWait(status);
      }
      pids.clear();
    }
  }
  // This process's threads still get slots.
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  std::thread t([&] { EXPECT_TRUE(reader->GetOnlineFeatures(CounterRequest({1})).ok()); });
  t.join();
  LARDER_ASSERT_OK(fs_->Push("stats_push", CounterRows(kEntities, 2)));
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs_->Inspect());
  EXPECT_LT(info.readers.size(), 1024u);
}

TEST_F(MultiProcessDeadReaders, ForkedChildExitKeepsParentSlots) {
  // This process reads (and so holds a slot), then forks a child that exits normally. The
  // child's exit runs thread-local and static destructors over the state it inherited; it must
  // not release the parent's slot (the parent still uses it).
  LARDER_ASSERT_OK_AND_ASSIGN(auto reader, OnlineReader::Attach(repo_.segment()));
  LARDER_ASSERT_OK(reader->GetOnlineFeatures(CounterRequest({1})));
  LARDER_ASSERT_OK(fs_->GetOnlineFeatures(CounterRequest({1})));
  ASSERT_TRUE(SlotOf(*fs_, ::getpid()).has_value());
  auto parent_slots = [&] {
    size_t n = 0;
    auto info = fs_->Inspect();
    for (const ReaderInfo& r : info->readers) n += r.pid == static_cast<uint64_t>(::getpid());
    return n;
  };
  const size_t before = parent_slots();
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child reads through the inherited objects (claiming slots of its own), then destroys
    // them and exits through exit(), running every destructor.
    bool ok = reader->GetOnlineFeatures(CounterRequest({1})).ok();
    reader.reset();
    fs_.reset();
    std::exit(ok ? 0 : 3);
  }
  int status = WaitChild(pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeWait(status);
  EXPECT_EQ(parent_slots(), before) << "the child released slots of its parent";
  EXPECT_FALSE(SlotOf(*fs_, pid).has_value()) << "the child did not release its own slot";
}

}  // namespace
}  // namespace larder
