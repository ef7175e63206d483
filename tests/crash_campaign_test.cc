// Crash campaigns (docs/reliability.md): hundreds of SIGKILLs of writers and of readers, with
// readers running throughout, and the bounds the store promises checked after every kill.
//
//  - WriterKills: a writer child is killed at every named fault point of the write path
//    (engine/fault.h: LARDER_CRASH_AT=<point>:<n>, over many n and over apply as well as push)
//    and at random moments. Two reader processes run through the whole campaign and check every
//    row they see (all features of a row carry one counter and the row's own entity; a counter
//    never goes back; a row once seen never vanishes) and their worst lookup latency (the stall
//    bound). After every kill a new writer attaches, finds every acknowledged push, repairs the
//    store on its first batch (recovery time measured) and the store passes Check().
//  - ReaderKills: a writer child rewrites every row as fast as it can while reader processes are
//    killed mid-lookup; a dead reader's slot must be released (its hold on reclamation lifted)
//    within the grace period, the arena must stop growing, and limbo must drain at the end.
//  - OfflineLogKills: a child appends batches of ~100 KB to an offline (batch source) log
//    (engine/offline/offline_log.h) and is killed mid-append; every acknowledged append stays, the torn
//    tail is set aside (PATH.torn) by the next append, and the file holds whole records only.
//
// Default counts give >= 200 writer kills and >= 200 reader kills in well under two minutes on
// two cores. LARDER_CAMPAIGN_SCALE=<factor> multiplies them for longer runs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/fault.h"
#include "engine/offline/offline_log.h"
#include "engine/segment/process_liveness.h"
#include "larder/feature_store.h"
#include "tests/reader_check.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::Child;
using testing::CounterRowChecker;
using testing::DescribeWait;
using testing::Features;
using testing::I;
using testing::Ints;
using testing::kMicros;
using testing::MakeFrame;
using testing::Readable;
using testing::Repeat;
using testing::SlotOf;
using testing::StoreOptions;
using testing::WaitChild;
using Clock = std::chrono::steady_clock;

// The campaign asserts no wall-clock time: the worst lookup, the recovery times and the
// release times it prints depend on the machine's load and its disk, so they are figures
// (docs/reliability.md), not bounds. What it asserts is counted: rows, kills, batches, bytes.

double Scale() {
  const char* s = std::getenv("LARDER_CAMPAIGN_SCALE");
  double v = s != nullptr ? std::atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}
int Scaled(int n) { return std::max(1, static_cast<int>(n * Scale())); }

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Parent ends of the pipes to long-running children. Every child forked here closes them first:
// a child that kept another child's stop pipe open would keep that child from ever seeing EOF.
std::vector<int>& ParentFds() {
  static std::vector<int> fds;
  return fds;
}
// testing::ForkChild, closing ParentFds() in the child before `body` runs.
Child ForkChild(const std::function<void(int report_fd)>& body) {
  return testing::ForkChild([&](int report_fd) {
    for (int fd : ParentFds()) ::close(fd);
    body(report_fd);
  });
}
void KeepParentFd(int fd) { ParentFds().push_back(fd); }
void CloseParentFd(int fd) {
  std::erase(ParentFds(), fd);
  ::close(fd);
}

// ---- The counter view: every feature of a row encodes one counter ---------------------------

constexpr char kCounterView[] = R"(feature_views:
  - name: counters
    entities: [driver]
    source: stats_push
    schema:
      - {name: c_id, dtype: Int64}
      - {name: c_i64, dtype: Int64}
      - {name: c_f64, dtype: Float64}
      - {name: c_str, dtype: String}
      - {name: c_arr, dtype: Array(Int64)}
      - {name: c_pad, dtype: String}
)";
constexpr int kFeatures = 6;

// A second view on its own push source whose schema flips between applies (Int64 / Float64):
// each flip re-creates it, so apply rebuilds the index (fault point before_index_publish).
std::string ScratchView(const char* dtype) {
  return std::string(R"(  - name: scratch
    entities: [driver]
    source: scratch_push
    schema:
      - {name: x, dtype: )") +
         dtype + "}\n";
}
constexpr char kScratchSource[] = R"(  - name: scratch_push
    type: push
    batch_source: stats_file
)";

std::string CampaignRepo(const char* scratch_dtype) {
  // kDriverPreamble ends inside its `sources:` list: the scratch source joins it.
  return std::string(testing::kDriverPreamble) + kScratchSource + kCounterView +
         ScratchView(scratch_dtype);
}

std::string Pad(int64_t k) { return std::string(static_cast<size_t>(k % 29), 'p'); }
std::string Str(int64_t k) { return "v" + std::to_string(k); }

// Entities `ids`, all at counter k (event time k seconds).
Frame CounterRows(const std::vector<int64_t>& ids, int64_t k) {
  size_t n = ids.size();
  std::vector<Cell> arrs;
  for (int64_t id : ids) arrs.push_back(Cell::Array({I(k), I(id)}));
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"c_id", Ints(ids)},
                    {"c_i64", Repeat(I(k), n)},
                    {"c_f64", Repeat(Cell::Double(static_cast<double>(k)), n)},
                    {"c_str", Repeat(Cell::String(Str(k)), n)},
                    {"c_arr", std::move(arrs)},
                    {"c_pad", Repeat(Cell::String(Pad(k)), n)},
                    {"event_timestamp", Repeat(I(k), n)},
                    {"created", Repeat(Cell::Null(), n)}});
}

OnlineRequest CounterRequest(const std::vector<int64_t>& ids) {
  std::vector<std::string> refs;
  for (const char* f : {"c_id", "c_i64", "c_f64", "c_str", "c_arr", "c_pad"}) {
    refs.push_back(std::string("counters:") + f);
  }
  return Features(refs, MakeFrame({{"driver_id", Ints(ids)}}));
}

// Checks row `row` of a response; "" or what is wrong. `k` receives the counter (-1: absent).
std::string CheckRow(const OnlineResponse& r, size_t row, int64_t id, int64_t* k) {
  *k = -1;
  if (r.results.size() != kFeatures + 1) return "wrong column count";
  FieldStatus st = r.results[1].statuses[row];
  for (int c = 1; c <= kFeatures; ++c) {
    if (r.results[c].statuses[row] != st) return "statuses differ within one row";
  }
  if (st == FieldStatus::kNotFound) return "";
  if (st != FieldStatus::kPresent) return std::string("status ") + FieldStatusName(st);
  const int64_t v = r.results[2].values[row].i64;
  *k = v;
  for (int c = 1; c <= kFeatures; ++c) {
    if (r.results[c].event_timestamps[row] != v * kMicros) return "event timestamps differ";
  }
  auto at = [&](int c) -> const Value& { return r.results[c].values[row]; };
  if (at(1).i64 != id) return "row of entity " + std::to_string(at(1).i64) + " returned";
  if (at(3).f64 != static_cast<double>(v)) return "c_f64 differs (torn or mixed row)";
  if (at(4).str != Str(v)) return "c_str differs (torn or mixed row)";
  const std::vector<int64_t>& arr = at(5).i64s;
  if (arr.size() != 2 || arr[0] != v || arr[1] != id) return "c_arr differs (torn or mixed row)";
  if (at(6).str != Pad(v)) return "c_pad differs (torn or mixed row)";
  return "";
}

// ---- Reader processes --------------------------------------------------------------------------

struct ReaderReport {
  uint64_t lookups = 0;   // entity lookups
  uint64_t requests = 0;  // GetOnlineFeatures calls
  uint64_t present = 0;
  uint64_t violations = 0;
  double max_lookup_ms = 0;
  uint64_t by_log2_us[32] = {};  // requests by latency: [i] = under 2^i microseconds
  char first[240] = {};

  // The latency under which `q` of the requests completed, in microseconds (a power of 2).
  double QuantileUs(double q) const {
    uint64_t seen = 0;
    for (int i = 0; i < 32; ++i) {
      seen += by_log2_us[i];
      if (static_cast<double>(seen) >= q * static_cast<double>(requests)) return std::ldexp(1, i);
    }
    return std::ldexp(1, 32);
  }
};

// Loops lookups of `batch` random entities in [0, max_id) until `stop_fd` becomes readable
// (closed by the parent), checking every row; writes a ReaderReport to `report_fd`.
[[noreturn]] void RunCheckingReader(const std::string& segment, int64_t max_id, size_t batch,
                                    uint32_t seed, int pause_us, int stop_fd, int report_fd) {
  ReaderReport rep;
  auto fail = [&](const std::string& what) {
    if (rep.violations++ == 0) std::snprintf(rep.first, sizeof(rep.first), "%s", what.c_str());
  };
  auto reader = OnlineReader::Attach(segment);
  if (!reader.ok()) {
    fail("attach: " + reader.status().ToString());
  } else {
    std::mt19937 rng(seed);
    CounterRowChecker rows(max_id, CheckRow);
    std::vector<int64_t> ids(batch);
    OnlineRequest req = CounterRequest(ids);
    OnlineResponse resp;
    auto deadline = Clock::now() + std::chrono::minutes(10);
    while (!Readable(stop_fd) && Clock::now() < deadline) {
      for (size_t i = 0; i < batch; ++i) {
        ids[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(max_id));
        req.entities.columns[0][i].i = ids[i];
      }
      auto t0 = Clock::now();
      Status st = (*reader)->GetOnlineFeatures(req, &resp);
      double ms = MsSince(t0);
      rep.max_lookup_ms = std::max(rep.max_lookup_ms, ms);
      int bucket = 0;
      while (bucket < 31 && std::ldexp(1, bucket) <= ms * 1000) ++bucket;
      ++rep.by_log2_us[bucket];
      ++rep.requests;
      if (pause_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
      if (!st.ok()) {
        fail("lookup: " + st.ToString());
        break;
      }
      rows.Check(resp, ids, fail);
      rep.lookups += batch;
    }
    rep.present = rows.present();
  }
  testing::WriteAll(report_fd, &rep, sizeof(rep));
  ::_exit(0);
}

struct ReaderProc {
  pid_t pid = -1;
  int stop_w = -1;
  int report_r = -1;
};

ReaderProc StartCheckingReader(const std::string& segment, int64_t max_id, size_t batch,
                               uint32_t seed, int pause_us) {
  int stop[2];
  if (::pipe(stop) != 0) return {};
  Child c = ForkChild([&](int report_fd) {
    ::close(stop[1]);
    RunCheckingReader(segment, max_id, batch, seed, pause_us, stop[0], report_fd);
  });
  ::close(stop[0]);
  if (c.pid < 0) {
    ::close(stop[1]);
    return {};
  }
  KeepParentFd(stop[1]);
  KeepParentFd(c.report_fd);
  return {c.pid, stop[1], c.report_fd};
}

// Stops a reader and returns its report (nullopt if it died without one).
std::optional<ReaderReport> StopReader(ReaderProc& p, std::string* how) {
  CloseParentFd(p.stop_w);
  ReaderReport rep;
  size_t got = testing::ReadAll(p.report_r, &rep, sizeof(rep));
  CloseParentFd(p.report_r);
  *how = DescribeWait(WaitChild(p.pid));
  if (got != sizeof(rep)) return std::nullopt;
  return rep;
}

// ---- Writer kills ------------------------------------------------------------------------------

constexpr int64_t kHot = 100;           // entities [0, kHot) are rewritten by every batch
constexpr int64_t kNewPerBatch = 20;    // and each batch adds this many new entities ...
constexpr int64_t kMaxEntities = 3000;  // ... up to this id

// One acknowledged push: entities [0, kHot) and [first_new, first_new + n_new) at counter k.
struct Ack {
  int64_t k;
  int64_t first_new;
  int64_t n_new;
};

std::vector<int64_t> BatchIds(const Ack& a) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kHot; ++i) ids.push_back(i);
  for (int64_t i = 0; i < a.n_new; ++i) ids.push_back(a.first_new + i);
  return ids;
}

class CrashCampaign : public testing::StoreFixture {
 protected:
  void SetUp() override {
    ::unsetenv("LARDER_CRASH_AT");
    // Two repos on one segment: identical but for the scratch view's dtype.
    repo_.Write(CampaignRepo("Int64"), StoreOptions{16, "256MiB"});
    alt_.Write(CampaignRepo("Float64"), StoreOptions{16, "256MiB", repo_.segment()});
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  }

  // Next push of `n_new` new entities (fewer once kMaxEntities are in use).
  Ack NextAck(int64_t n_new) {
    n_new = std::max<int64_t>(0, std::min(n_new, kMaxEntities - next_id_));
    Ack a{next_k_++, next_id_, n_new};
    next_id_ += n_new;
    return a;
  }
  void Acknowledge(const Ack& a) {
    for (int64_t id : BatchIds(a)) acked_[id] = std::max(acked_[id], a.k);
  }

  enum class Mode { kPush, kGrow, kApply };

  // Forks a writer child that sets LARDER_CRASH_AT=`crash_at` ("" = none) and writes until it
  // dies: in kPush mode batches of kHot + kNewPerBatch rows, in kGrow mode batches that each
  // make the index grow, in kApply mode applies that flip the scratch view (with a push between
  // them). Each acknowledged push goes back through a pipe. With `kill_after_us` > 0 the parent
  // SIGKILLs it after that long. Returns the wait status.
  int RunWriter(const std::string& crash_at, Mode mode, int kill_after_us) {
    // The child takes counters and ids from ranges reserved here, whatever happens to it.
    constexpr int kMaxBatches = 100000;
    const int64_t first_k = next_k_;
    next_k_ += kMaxBatches + 1;
    inflight_first_k_ = first_k;
    inflight_last_k_ = first_k + kMaxBatches;
    const int64_t first_id = next_id_;
    const int64_t id_room = kMaxEntities - next_id_;
    const bool flip_to_alt = !scratch_alt_;
    // kGrow: the child's first batch adds this many new entities, which makes the index grow.
    int64_t grow_need = 0;
    if (mode == Mode::kGrow) {
      auto fs = repo_.Open();
      auto info = fs.ok() ? (*fs)->Inspect() : Result<StoreInfo>(fs.status());
      if (!info.ok()) return -1;
      grow_need = static_cast<int64_t>(info->index_capacity - info->index_entries) + 1;
    }
    Child c = ForkChild([&](int report_fd) {
      if (!crash_at.empty()) ::setenv("LARDER_CRASH_AT", crash_at.c_str(), 1);
      EnableFaultInjection();  // fault points obey it only in a test child
      auto fs = FeatureStore::Open(repo_.dir());
      auto alt = FeatureStore::Open(alt_.dir());
      if (!fs.ok() || !alt.ok()) ::_exit(2);
      // Tell the parent the writing starts now (k = -1), so a random kill lands in it.
      Ack started{-1, 0, 0};
      if (!testing::WriteAll(report_fd, &started, sizeof(started))) ::_exit(7);
      int64_t id = first_id;
      for (int b = 0; b < kMaxBatches; ++b) {
        if (mode == Mode::kApply) {
          bool to_alt = (b % 2 == 0) == flip_to_alt;
          auto r = (to_alt ? *alt : *fs)->Apply();
          if (!r.ok()) ::_exit(3);
        }
        int64_t n_new = std::min<int64_t>(kNewPerBatch, first_id + id_room - id);
        if (mode == Mode::kGrow) {
          auto info = (*fs)->Inspect();
          if (!info.ok()) ::_exit(4);
          n_new = static_cast<int64_t>(info->index_capacity - info->index_entries) + 1;
          if (id + n_new > first_id + id_room) ::_exit(5);  // out of ids: no more growth
        }
        n_new = std::max<int64_t>(0, n_new);
        Ack a{first_k + b, id, n_new};
        auto r = (*fs)->Push("stats_push", CounterRows(BatchIds(a), a.k));
        if (!r.ok()) ::_exit(6);
        id += n_new;
        if (!testing::WriteAll(report_fd, &a, sizeof(a))) ::_exit(7);
      }
      ::_exit(8);
    });
    if (c.pid < 0) return -1;
    Ack a;
    bool started = testing::ReadAll(c.report_fd, &a, sizeof(a)) == sizeof(a) && a.k == -1;
    if (started && kill_after_us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(kill_after_us));
      ::kill(c.pid, SIGKILL);
    }
    int64_t max_id = first_id;
    while (started && testing::ReadAll(c.report_fd, &a, sizeof(a)) == sizeof(a)) {
      Acknowledge(a);
      max_id = std::max(max_id, a.first_new + a.n_new);
    }
    ::close(c.report_fd);
    // Ids the child may have used in a batch that was not acknowledged are burnt.
    next_id_ = std::min(kMaxEntities, std::max(max_id + kNewPerBatch, next_id_));
    if (mode == Mode::kGrow)
      next_id_ = std::min(kMaxEntities, std::max(next_id_, first_id + grow_need));
    if (mode == Mode::kApply) scratch_alt_ = !scratch_alt_;
    return WaitChild(c.pid);
  }

  // After a kill: every acknowledged row is there (a newer value only from the batch in
  // flight); the next writer repairs the store on its first batch, within the bound; Check()
  // passes.
  void VerifyAndRecover() {
    auto t0 = Clock::now();
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
    ExpectAcknowledged(*fs);
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo before, fs->Inspect());
    Ack a = NextAck(5);
    auto t1 = Clock::now();
    auto r = fs->Push("stats_push", CounterRows(BatchIds(a), a.k));
    double push_ms = MsSince(t1);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Acknowledge(a);
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo after, fs->Inspect());
    EXPECT_EQ(after.writer_pid, 0u);
    if (before.writer_pid != 0) {
      ASSERT_EQ(after.recoveries, before.recoveries + 1);
      ++recoveries_;
      double rec_ms = static_cast<double>(after.last_recovery_micros) / 1000;
      max_recovery_ms_ = std::max(max_recovery_ms_, rec_ms);
      max_recovering_push_ms_ = std::max(max_recovering_push_ms_, push_ms);
    }
    LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
    ASSERT_TRUE(check.ok()) << "Check() after a kill: " << check.violations[0];
    ExpectAcknowledged(*fs);
    max_verify_ms_ = std::max(max_verify_ms_, MsSince(t0));
  }

  void ExpectAcknowledged(FeatureStore& fs) {
    std::vector<int64_t> ids;
    for (const auto& [id, v] : acked_) ids.push_back(id);
    LARDER_ASSERT_OK_AND_ASSIGN(OnlineResponse r, fs.GetOnlineFeatures(CounterRequest(ids)));
    size_t i = 0;
    for (const auto& [id, v] : acked_) {
      int64_t k = -1;
      std::string why = CheckRow(r, i, id, &k);
      ASSERT_EQ(why, "") << "entity " << id;
      ASSERT_GE(k, v) << "acknowledged entity " << id << " lost or older";
      if (k != v) {
        ASSERT_TRUE(k >= inflight_first_k_ && k <= inflight_last_k_)
            << "entity " << id << ": acknowledged " << v << ", found " << k;
      }
      ++i;
    }
  }

  testing::Repo alt_;
  std::map<int64_t, int64_t> acked_;  // entity -> newest acknowledged counter
  int64_t next_k_ = 1;
  int64_t next_id_ = kHot;
  int64_t inflight_first_k_ = 0, inflight_last_k_ = 0;
  bool scratch_alt_ = false;  // which repo the next apply run starts with (either works)
  int recoveries_ = 0;
  double max_recovery_ms_ = 0;
  double max_recovering_push_ms_ = 0;
  double max_verify_ms_ = 0;
  int random_inside_ = 0;  // random kills that landed inside a write batch
};

#if defined(LARDER_FAULT_INJECTION)

TEST_F(CrashCampaign, WriterKills) {
  auto start = Clock::now();
  {
    LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
    Ack a = NextAck(kNewPerBatch);
    LARDER_ASSERT_OK(fs->Push("stats_push", CounterRows(BatchIds(a), a.k)));
    Acknowledge(a);
  }
  std::vector<ReaderProc> readers;
  for (uint32_t i = 0; i < 2; ++i) {
    // One reader spins on batches of 16; the other makes single lookups 20 us apart.
    readers.push_back(StartCheckingReader(repo_.segment(), kMaxEntities, i == 0 ? 16 : 1, 7 + i,
                                          i == 0 ? 0 : 20));
    ASSERT_GT(readers.back().pid, 0);
  }

  struct Kill {
    std::string crash_at;  // "" = a random moment
    Mode mode;
    int delay_us;
  };
  std::vector<Kill> plan;
  std::mt19937 rng(20240607);
  const int rounds = Scaled(1);
  for (int round = 0; round < rounds; ++round) {
    // Index growth first, while there are ids left to grow with.
    for (int i = 0; i < 4; ++i) plan.push_back({"before_index_publish:1", Mode::kGrow, 0});
    // Rows: each push batch holds 120 rows (100 hot + 20 new; 5 + 100 after kMaxEntities).
    for (int n : {1, 2, 3, 50, 119, 120, 121, 240, 241, 600, 1000, 2500}) {
      plan.push_back({"before_publish_row:" + std::to_string(n), Mode::kPush, 0});
      plan.push_back({"after_publish_row:" + std::to_string(n), Mode::kPush, 0});
    }
    for (int i = 0; i < 30; ++i) {
      int n = 1 + static_cast<int>(rng() % 3000);
      plan.push_back({std::string(i % 2 ? "after" : "before") + "_publish_row:" + std::to_string(n),
                      Mode::kPush, 0});
    }
    for (int n : {1, 2, 3, 5, 8, 13, 21}) {
      plan.push_back({"before_finish:" + std::to_string(n), Mode::kPush, 0});
    }
    // Apply: its index rebuild (the scratch view is re-created), registry publication, pushes.
    for (int n : {1, 1, 2, 2, 3, 4, 5, 1, 2, 3, 6, 7, 1, 2, 3, 4, 5, 6, 7, 8}) {
      plan.push_back({"before_index_publish:" + std::to_string(n), Mode::kApply, 0});
    }
    for (int n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}) {
      plan.push_back({"before_finish:" + std::to_string(n), Mode::kApply, 0});
    }
    for (int n : {1, 5, 60, 200, 400, 700}) {
      plan.push_back({"before_publish_row:" + std::to_string(n), Mode::kApply, 0});
    }
    // Random moments: 0.05 to 5 ms after the writer starts writing.
    for (int i = 0; i < 110; ++i) {
      Mode m = i % 8 == 7 ? Mode::kApply : Mode::kPush;
      plan.push_back({"", m, 50 + static_cast<int>(rng() % 4950)});
    }
  }

  int kills = 0, fault_kills = 0, random_kills = 0, exited = 0;
  auto plan_start = Clock::now();
  for (const Kill& k : plan) {
    SCOPED_TRACE((k.crash_at.empty() ? "random " + std::to_string(k.delay_us) + "us" : k.crash_at) +
                 (k.mode == Mode::kApply  ? " (apply)"
                  : k.mode == Mode::kGrow ? " (grow)"
                                          : ""));
    const int recoveries_before = recoveries_;
    int status = RunWriter(k.crash_at, k.mode, k.delay_us);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++kills;
      (k.crash_at.empty() ? random_kills : fault_kills)++;
    } else {
      // Only growth may run out of ids before it reaches its fault point.
      ASSERT_EQ(k.mode, Mode::kGrow) << "writer ended with " << DescribeWait(status);
      ++exited;
    }
    VerifyAndRecover();
    if (k.crash_at.empty()) random_inside_ += recoveries_ - recoveries_before;
    if (HasFatalFailure()) break;
  }

  const double plan_s = MsSince(plan_start) / 1000;
  std::vector<ReaderReport> reports;
  for (ReaderProc& p : readers) {
    std::string how;
    auto rep = StopReader(p, &how);
    ASSERT_TRUE(rep.has_value()) << "a reader died: " << how;
    EXPECT_EQ(rep->violations, 0u) << rep->first;
    EXPECT_GT(rep->present, 0u);
    reports.push_back(*rep);
  }
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
  std::printf(
      "[ CAMPAIGN ] writer kills: %d (%d at fault points, %d at random moments, %d of them inside "
      "a batch), %d recoveries, "
      "max recovery %.2f ms, max recovering push %.2f ms, max verify %.1f ms, %zu entities, "
      "arena %.1f MiB, kills in %.1f s, %.1f s in all\n",
      kills, fault_kills, random_kills, random_inside_, recoveries_, max_recovery_ms_,
      max_recovering_push_ms_, max_verify_ms_, acked_.size(),
      static_cast<double>(info.arena_used) / (1 << 20), plan_s, MsSince(start) / 1000);
  for (size_t i = 0; i < reports.size(); ++i) {
    const ReaderReport& r = reports[i];
    std::printf(
        "[ CAMPAIGN ] reader %zu: %lu requests (%lu lookups, %lu present, 0 torn or "
        "mixed rows); latency p50 < %.0f us, p99.9 < %.0f us, p99.99 < %.0f us, "
        "max %.2f ms\n",
        i, static_cast<unsigned long>(r.requests), static_cast<unsigned long>(r.lookups),
        static_cast<unsigned long>(r.present), r.QuantileUs(0.5), r.QuantileUs(0.999),
        r.QuantileUs(0.9999), r.max_lookup_ms);
  }
  EXPECT_GE(kills, std::min(200, Scaled(200)));
  // Every fault point lies inside a batch, so each kill there is followed by exactly one
  // recovery. How many random moments fall inside a batch depends on the machine's speed (about
  // a tenth under ASan, more in a release build): reported above, not asserted.
  EXPECT_EQ(recoveries_ - random_inside_, fault_kills);
  // Dead writers' blocks are recovered, not leaked: every byte of the arena is a live row, the
  // index, the registry (and alignment pads), or on a free list, or in limbo.
  ASSERT_EQ(info.views.size(), 2u);
  const uint64_t live = info.views[0].row_bytes + info.views[1].row_bytes + info.index_bytes;
  const uint64_t accounted = info.free_list_bytes + info.limbo_bytes + live;
  std::printf(
      "[ CAMPAIGN ] arena %.2f MiB: live rows and index %.2f MiB, free %.2f MiB, "
      "limbo %.2f MiB\n",
      static_cast<double>(info.arena_used) / (1 << 20), static_cast<double>(live) / (1 << 20),
      static_cast<double>(info.free_list_bytes) / (1 << 20),
      static_cast<double>(info.limbo_bytes) / (1 << 20));
  EXPECT_LE(info.arena_used, accounted + (64u << 10)) << "blocks lost to the kills";
}

#else

TEST(CrashCampaign, RequiresFaultInjection) {
  GTEST_SKIP() << "built without LARDER_FAULT_INJECTION";
}

#endif

// ---- Reader kills ------------------------------------------------------------------------------

constexpr int64_t kReaderEntities = 1000;

// Batches the store's writers have finished (0 when Inspect fails: the caller then waits on).
uint64_t WriteBatches(FeatureStore& fs) {
  auto info = fs.Inspect();
  return info.ok() ? info->write_batches : 0;
}

// What the kernel says of process `pid`: /proc/PID/stat's state, flags and thread count, and
// the pending-signal masks of /proc/PID/status; "gone" once it has been reaped.
std::string ProcState(pid_t pid) {
  TaskStat t;
  if (!ReadTaskStat(ProcFile(pid, "stat"), &t)) return "gone";
  char flags[32];
  std::snprintf(flags, sizeof flags, "%#llx", static_cast<unsigned long long>(t.flags));
  std::string out = "state " + std::string(1, t.state) + ", flags " + flags + ", threads " +
                    std::to_string(t.threads);
  if (FILE* f = std::fopen(ProcFile(pid, "status").c_str(), "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      std::string l(line);
      if (l.rfind("SigPnd:", 0) == 0 || l.rfind("ShdPnd:", 0) == 0) {
        while (!l.empty() && (l.back() == '\n' || l.back() == '\t')) l.pop_back();
        out += ", " + l;
      }
    }
    std::fclose(f);
  }
  return out;
}

// The innermost kernel functions process `pid` is in (/proc/PID/stack, readable by root only).
std::string KernelStack(pid_t pid) {
  std::string stack = testing::ReadFile(ProcFile(pid, "stack"));
  if (stack.empty()) return "(kernel stack unreadable)";
  std::string out;
  size_t pos = 0;
  for (int frames = 0; frames < 4 && pos < stack.size(); ++frames) {
    size_t end = stack.find('\n', pos);
    if (end == std::string::npos) end = stack.size();
    const size_t name = stack.find(' ', pos);
    out += (out.empty() ? "" : " < ") + stack.substr(name + 1, end - name - 1);
    pos = end + 1;
  }
  return out;
}

// A writer process: rewrites every entity at counter 1, 2, ... until `stop_fd` is readable.
// What the rewriter tells the test when it stops.
struct RewriterReport {
  uint64_t batches = 0;
  uint64_t max_limbo = 0;  // the most bytes in limbo after any of its batches
  uint64_t max_rows = 0;   // the most bytes of live rows (one row per entity) after any batch
  char error[200] = {};
};

[[noreturn]] void RunRewriter(const std::string& repo_dir, int stop_fd, int report_fd) {
  RewriterReport rep;
  auto fs = FeatureStore::Open(repo_dir);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kReaderEntities; ++i) ids.push_back(i);
  for (int64_t k = 2; fs.ok() && !Readable(stop_fd); ++k) {
    auto r = (*fs)->Push("stats_push", CounterRows(ids, k));
    auto info = r.ok() ? (*fs)->Inspect() : Result<StoreInfo>(r.status());
    if (!info.ok()) {
      std::snprintf(rep.error, sizeof(rep.error), "%s", info.status().ToString().c_str());
      break;
    }
    ++rep.batches;
    rep.max_limbo = std::max(rep.max_limbo, info->limbo_bytes);
    uint64_t rows = 0;
    for (const ViewStats& v : info->views) rows += v.row_bytes;
    rep.max_rows = std::max(rep.max_rows, rows);
  }
  testing::WriteAll(report_fd, &rep, sizeof(rep));
  ::_exit(0);
}

TEST_F(CrashCampaign, ReaderKills) {
  auto start = Clock::now();
  LARDER_ASSERT_OK_AND_ASSIGN(auto fs, repo_.Open());
  std::vector<int64_t> all;
  for (int64_t i = 0; i < kReaderEntities; ++i) all.push_back(i);
  LARDER_ASSERT_OK(fs->Push("stats_push", CounterRows(all, 1)));

  int stop[2];
  ASSERT_EQ(::pipe(stop), 0);
  Child writer = ForkChild([&](int report_fd) {
    ::close(stop[1]);
    RunRewriter(repo_.dir(), stop[0], report_fd);
  });
  ASSERT_GE(writer.pid, 0);
  ::close(stop[0]);
  KeepParentFd(stop[1]);
  KeepParentFd(writer.report_fd);

  // One checking reader runs throughout (it must never see a torn row either).
  ReaderProc checker = StartCheckingReader(repo_.segment(), kReaderEntities, 8, 99, 20);
  ASSERT_GT(checker.pid, 0);

  std::mt19937 rng(4242);
  const int target = Scaled(220);
  int kills = 0, inside = 0, released = 0;
  double max_release_ms = 0;
  double max_death_ms = 0;      // SIGKILL to zombie: the victim tearing down its address space
  std::vector<uint64_t> arena;  // arena_used after every 20 kills
  uint64_t max_limbo = 0;
  for (int i = 0; i < target; ++i) {
    // A reader that loops on lookups of 100 entities until it is killed.
    std::vector<int64_t> ids;
    for (int64_t e = 0; e < 100; ++e) ids.push_back((e * 37 + i) % kReaderEntities);
    const OnlineRequest req = CounterRequest(ids);
    Child c =
        ForkChild([&](int ready_fd) { testing::RunLoopingReader(repo_.segment(), req, ready_fd); });
    ASSERT_GE(c.pid, 0);
    const pid_t pid = c.pid;
    char one = 0;
    bool started = testing::ReadAll(c.report_fd, &one, 1) == 1;
    ::close(c.report_fd);
    ASSERT_TRUE(started) << "reader " << i << " did not start";
    std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 3000));
    ::kill(pid, SIGKILL);
    auto killed_at = Clock::now();
    // Every other victim stays an unreaped zombie until its slot is released.
    bool reap_now = i % 2 == 0;
    if (reap_now) {
      WaitChild(pid);
    } else {
      siginfo_t si;
      ::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT);
    }
    max_death_ms = std::max(max_death_ms, MsSince(killed_at));
    ++kills;
    // Died inside a lookup: its slot holds an epoch. The first writer batch that starts after
    // the death must release it: by the time two more batches have ended (the one running at
    // the death may have scanned before it). The wall time is measured and reported, not
    // bounded: a batch includes the offline log's fdatasync, which a loaded disk can stall for
    // seconds. (60 s without that many batches means the writer stopped: that fails too.)
    auto s = SlotOf(*fs, pid);
    if (s && s->epoch != 0) {
      ++inside;
      const uint64_t b0 = WriteBatches(*fs);
      uint64_t b = b0;
      std::string victim_state;  // the kernel's view of the victim once the release is slow
      while (s && s->epoch != 0 && b < b0 + 2 && MsSince(killed_at) < 60000) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        s = SlotOf(*fs, pid);
        b = WriteBatches(*fs);
        if (victim_state.empty() && MsSince(killed_at) > 100) {
          victim_state = ProcState(pid) + "; writer: " + ProcState(writer.pid) + ", in " +
                         KernelStack(writer.pid);
        }
      }
      if (!victim_state.empty()) {
        std::printf("[ CAMPAIGN ] slow release of reader %d (%d batches, %.1f ms): victim %s\n",
                    pid, static_cast<int>(b - b0), MsSince(killed_at), victim_state.c_str());
      }
      s = SlotOf(*fs, pid);
      if (s && s->epoch != 0) {
        // What the writer's scan saw and whether the writer still runs, for the failure.
        int wstatus = 0;
        const pid_t w = ::waitpid(writer.pid, &wstatus, WNOHANG);
        FAIL() << "a dead reader's slot was not released by the writer's next batch (" << (b - b0)
               << " batches ended in " << MsSince(killed_at) << " ms; slot " << s->slot
               << ", epoch " << s->epoch << ", seen alive " << s->alive << ", victim reaped "
               << reap_now << ", victim now: " << ProcState(pid) << "; writer "
               << (w == 0 ? "running" : "exited with status " + std::to_string(wstatus)) << ")";
      }
      ++released;
      max_release_ms = std::max(max_release_ms, MsSince(killed_at));
    }
    if (!reap_now) WaitChild(pid);
    LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo info, fs->Inspect());
    max_limbo = std::max(max_limbo, info.limbo_bytes);
    if (i % 20 == 19) arena.push_back(info.arena_used);
  }

  CloseParentFd(stop[1]);
  RewriterReport wrep;
  size_t got = testing::ReadAll(writer.report_fd, &wrep, sizeof(wrep));
  CloseParentFd(writer.report_fd);
  int wstatus = WaitChild(writer.pid);
  ASSERT_EQ(got, sizeof(wrep)) << "writer ended with " << DescribeWait(wstatus);
  EXPECT_STREQ(wrep.error, "");
  std::string how;
  auto crep = StopReader(checker, &how);
  ASSERT_TRUE(crep.has_value()) << "the checking reader died: " << how;
  EXPECT_EQ(crep->violations, 0u) << crep->first;

  // With every reader gone, two more batches drain limbo completely.
  for (int64_t k = 0; k < 2; ++k) {
    LARDER_ASSERT_OK(fs->Push("stats_push", CounterRows(all, 1'000'000'000 + k)));
  }
  LARDER_ASSERT_OK_AND_ASSIGN(StoreInfo done, fs->Inspect());
  EXPECT_EQ(done.limbo_bytes, 0u) << "limbo did not drain";
  LARDER_ASSERT_OK_AND_ASSIGN(CheckReport check, fs->Check());
  EXPECT_TRUE(check.ok()) << (check.violations.empty() ? "" : check.violations[0]);

  std::printf(
      "[ CAMPAIGN ] reader kills: %d (%d inside a lookup, all released, max release %.1f ms; "
      "longest death %.1f ms), "
      "writer %lu batches, max limbo %.2f MiB, arena %.2f MiB at 20 kills -> %.2f MiB at end, "
      "checking reader: %lu lookups, p99.9 < %.0f us, max lookup %.2f ms, %.1f s\n",
      kills, inside, max_release_ms, max_death_ms, static_cast<unsigned long>(wrep.batches),
      static_cast<double>(max_limbo) / (1 << 20),
      static_cast<double>(arena.empty() ? 0 : arena.front()) / (1 << 20),
      static_cast<double>(done.arena_used) / (1 << 20), static_cast<unsigned long>(crep->lookups),
      crep->QuantileUs(0.999), crep->max_lookup_ms, MsSince(start) / 1000);
  std::string trend;
  for (uint64_t a : arena) trend += " " + std::to_string(a >> 10);
  std::printf("[ CAMPAIGN ] arena KiB every 20 kills:%s\n", trend.c_str());
  EXPECT_GE(kills, std::min(200, Scaled(200)));
  EXPECT_GT(inside, 0) << "no reader died inside a lookup";
  EXPECT_GT(wrep.batches, 50u);
  // The segment does not grow without bound: the arena is a high-water mark of the bytes in
  // use (the live rows, the index, the registry and pads, and the rows retired while readers
  // held epochs), plus the next batch's rows, allocated before its old rows are retired. How
  // large limbo grew depends on how fast the writer ran against the readers (its fdatasync, the
  // load), so the bound is derived from the most limbo the writer saw after a batch, not fixed.
  // Row sizes cycle through a few block sizes (Pad(k) and Str(k) vary), and a freed block is
  // reused only by a row of its size: each size may hold its own high-water mark
  // (kRowBlockSizes). Dead readers add nothing: their slots are released (above), and a leak
  // of a row set per kill (~200 row sets) would exceed the bound many times.
  ASSERT_FALSE(arena.empty());
  ASSERT_EQ(done.views.size(), 2u);
  ASSERT_TRUE(check.accounted);
  constexpr uint64_t kRowBlockSizes = 3;
  const uint64_t fixed = check.bytes.index + check.bytes.registry + check.bytes.pad;
  const uint64_t ceiling = fixed + kRowBlockSizes * (wrep.max_limbo + 2 * wrep.max_rows);
  EXPECT_LE(done.arena_used, ceiling)
      << "the arena grew to " << done.arena_used << " (index, registry and pads " << fixed
      << ", rows " << wrep.max_rows << ", max limbo after a batch " << wrep.max_limbo
      << ", max limbo sampled " << max_limbo << ")";
  std::printf("[ CAMPAIGN ] arena %.2f MiB, bound %.2f MiB (max limbo after a batch %.2f MiB)\n",
              static_cast<double>(done.arena_used) / (1 << 20),
              static_cast<double>(ceiling) / (1 << 20),
              static_cast<double>(wrep.max_limbo) / (1 << 20));
}

// ---- Offline log kills ---------------------------------------------------------------------

// One acknowledged append: ids [first, first + n).
struct LogAck {
  int64_t first;
  int64_t n;
};

constexpr size_t kLogPad = 200;  // bytes per record: an append (~100 KB) spans many pages

std::string LogRecords(int64_t first, int64_t n) {
  std::string out;
  for (int64_t i = first; i < first + n; ++i) {
    out += std::to_string(i) + "," + std::string(kLogPad, static_cast<char>('a' + i % 26)) + "\n";
  }
  return out;
}

TEST(CrashCampaignOffline, OfflineLogKills) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/stats.csv";
  std::map<int64_t, bool> acked;
  std::mt19937 rng(777);
  int64_t next = 0;
  int kills = 0, torn = 0;
  const int rounds = Scaled(60);
  for (int round = 0; round < rounds; ++round) {
    const int64_t first = next;
    next += 1'000'000;
    Child c = ForkChild([&](int report_fd) {
      for (int64_t id = first;; id += 500) {
        auto r = AppendRecords(path, {"id", "pad"},
                               [&](const std::vector<std::string>&) -> Result<std::string> {
                                 return LogRecords(id, 500);
                               });
        if (!r.ok()) ::_exit(3);
        LogAck a{id, 500};
        if (!testing::WriteAll(report_fd, &a, sizeof(a))) ::_exit(4);
      }
    });
    ASSERT_GE(c.pid, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 20000));
    ::kill(c.pid, SIGKILL);
    LogAck a;
    while (testing::ReadAll(c.report_fd, &a, sizeof(a)) == sizeof(a)) {
      for (int64_t i = a.first; i < a.first + a.n; ++i) acked[i] = true;
    }
    ::close(c.report_fd);
    int status = WaitChild(c.pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << DescribeWait(status);
    ++kills;
    // The next append sets any torn tail aside, then appends whole.
    const int64_t mine = next++;
    auto out = AppendRecords(path, {"id", "pad"},
                             [&](const std::vector<std::string>&) -> Result<std::string> {
                               return LogRecords(mine, 1);
                             });
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    torn += out->torn_bytes > 0;
    acked[mine] = true;
  }
  // The file holds the header, then whole records only; every acknowledged one is there.
  std::string text = testing::ReadFile(path);
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  std::map<int64_t, bool> found;
  size_t pos = text.find('\n') + 1;
  ASSERT_EQ(text.substr(0, pos), "id,pad\n");
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    size_t comma = line.find(',');
    ASSERT_NE(comma, std::string::npos) << "a torn record remained: " << line.substr(0, 40);
    int64_t id = std::stoll(line.substr(0, comma));
    ASSERT_EQ(line.substr(comma + 1), std::string(kLogPad, static_cast<char>('a' + id % 26)))
        << "record " << id << " is torn";
    ASSERT_FALSE(found[id]) << "record " << id << " appears twice";
    found[id] = true;
    pos = end + 1;
  }
  for (const auto& [id, yes] : acked)
    ASSERT_TRUE(found.count(id)) << "acknowledged " << id << " lost";
  std::printf("[ CAMPAIGN ] offline log kills: %d, torn tails set aside: %d, %zu records\n", kills,
              torn, found.size());
  EXPECT_GE(kills, Scaled(60));
}

}  // namespace
}  // namespace larder
