// Lookup micro-benchmarks through the public read API (OnlineReader, response buffers reused
// as a serving thread would): single lookup hit and miss, and a batch of 100 entities (value
// response and columnar response), all 11 features of the view requested. "verify:0" runs
// with ReaderOptions::verify_rows off (no FlatBuffer verification of each row read).
//
// BM_LookupSnapshot measures snapshot reads (issue 22): the same lookups with
// ReaderOptions::snapshot_reads on and off ("snapshot:1" / "snapshot:0"), alone and while a
// writer thread pushes 16 random entities per batch as fast as it can ("writer:1"). Run them
// interleaved (--benchmark_enable_random_interleaving, --benchmark_repetitions) to compare.
//
// Entities are drawn uniformly from 2^20 pre-generated random ids, so a store larger than the
// caches is measured with cold rows, not with a handful of hot ones.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "bench/micro/bench_store.h"

namespace larder::bench {

namespace {

constexpr size_t kIdPool = size_t{1} << 20;

std::vector<int64_t> IdPool(int64_t n, bool miss) {
  std::mt19937_64 rng(42);
  std::vector<int64_t> ids(kIdPool);
  for (auto& id : ids) {
    id = static_cast<int64_t>(rng() % static_cast<uint64_t>(n)) + (miss ? n : 0);
  }
  return ids;
}

enum class Shape { kValues, kColumnar };

void BM_Lookup(benchmark::State& state, int64_t n, int64_t batch, bool miss, Shape shape,
               bool verify) {
  BenchStore& s = GetStore(n);
  const OnlineReader& reader = verify ? *s.reader : *s.reader_unverified;
  const std::vector<int64_t> ids = IdPool(n, miss);
  OnlineRequest req = MakeRequest(batch);
  std::vector<Cell>& cells = req.entities.columns[0];
  OnlineResponse resp;       // reused, as a serving thread would
  ColumnarResponse columns;  // reused
  size_t pos = 0;
  for (auto _ : state) {
    for (Cell& c : cells) c.i = ids[pos++ & (kIdPool - 1)];
    Status st = shape == Shape::kValues ? reader.GetOnlineFeatures(req, &resp)
                                        : reader.GetOnlineFeaturesColumnar(req, &columns);
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
  }
  // The last response must hold what was pushed (f0 of entity id is id) or NOT_FOUND.
  for (size_t r = 0; r < cells.size(); ++r) {
    FieldStatus status;
    double f0;
    if (shape == Shape::kValues) {
      status = resp.results[1].statuses[r];
      f0 = resp.results[1].values[r].f64;
    } else {
      status = columns.features[0].statuses[r];
      f0 = columns.features[0].floats[r];
    }
    const bool want_hit = !miss;
    if ((status == FieldStatus::kPresent) != want_hit ||
        (want_hit && f0 != static_cast<float>(cells[r].i))) {
      state.SkipWithError("lookup returned a wrong value or status");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
  // Seconds per entity (printed as e.g. "45.2n" = 45.2 ns).
  state.counters["per_entity"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  AddStoreCounters(state, s);
}

// A thread that pushes 16 random entities of the store per batch (their values unchanged, a
// newer event time each batch, so every row is replaced) until it is destroyed.
class BackgroundWriter {
 public:
  explicit BackgroundWriter(BenchStore& s) : thread_([this, &s] { Run(s); }) {}
  ~BackgroundWriter() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }
  uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }

 private:
  void Run(BenchStore& s) {
    static std::atomic<int64_t> next_ts{2};  // the store was built at time 1
    std::mt19937_64 rng(7);
    std::vector<int64_t> ids(16);
    while (!stop_.load(std::memory_order_relaxed)) {
      for (int64_t& id : ids) id = static_cast<int64_t>(rng() % static_cast<uint64_t>(s.n));
      auto r = s.store->Push("push", MakeRows(ids, next_ts.fetch_add(1)));
      if (!r.ok()) {
        std::fprintf(stderr, "background writer: %s\n", r.status().ToString().c_str());
        return;
      }
      batches_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> batches_{0};
  std::thread thread_;  // last: starts once the counters exist
};

void BM_LookupSnapshot(benchmark::State& state, int64_t n, int64_t batch, bool snapshot,
                       bool writer) {
  BenchStore& s = GetStore(n);
  const OnlineReader& reader = snapshot ? *s.reader : *s.reader_newest;
  const std::vector<int64_t> ids = IdPool(n, false);
  OnlineRequest req = MakeRequest(batch);
  std::vector<Cell>& cells = req.entities.columns[0];
  OnlineResponse resp;
  size_t pos = 0;
  std::unique_ptr<BackgroundWriter> w;
  if (writer) w = std::make_unique<BackgroundWriter>(s);
  for (auto _ : state) {
    for (Cell& c : cells) c.i = ids[pos++ & (kIdPool - 1)];
    Status st = reader.GetOnlineFeatures(req, &resp);
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
  }
  const uint64_t pushes = w ? w->batches() : 0;
  w.reset();
  for (size_t r = 0; r < cells.size(); ++r) {
    if (resp.results[1].statuses[r] != FieldStatus::kPresent ||
        resp.results[1].values[r].f64 != static_cast<float>(cells[r].i)) {
      state.SkipWithError("lookup returned a wrong value or status");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["per_entity"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["pushes"] = static_cast<double>(pushes);
}

}  // namespace

void RegisterLookupBenchmarks(int64_t n) {
  const std::string sz = "/" + std::to_string(n);
  auto reg = [&](const std::string& name, int64_t batch, bool miss, Shape shape, bool verify) {
    std::string full = name + sz + "/batch:" + std::to_string(batch);
    if (!verify) full += "/verify:0";
    benchmark::RegisterBenchmark(full.c_str(), [=](benchmark::State& st) {
      BM_Lookup(st, n, batch, miss, shape, verify);
    });
  };
  reg("BM_LookupHit", 1, false, Shape::kValues, true);
  reg("BM_LookupMiss", 1, true, Shape::kValues, true);
  reg("BM_LookupHit", 100, false, Shape::kValues, true);
  reg("BM_LookupHitColumnar", 100, false, Shape::kColumnar, true);
  reg("BM_LookupHit", 1, false, Shape::kValues, false);
  reg("BM_LookupHitColumnar", 100, false, Shape::kColumnar, false);
  for (int64_t batch : {1, 100}) {
    for (bool writer : {false, true}) {
      for (bool snapshot : {true, false}) {
        const std::string name = "BM_LookupSnapshot" + sz + "/batch:" + std::to_string(batch) +
                                 "/writer:" + std::to_string(writer) +
                                 "/snapshot:" + std::to_string(snapshot);
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
          BM_LookupSnapshot(st, n, batch, snapshot, writer);
        });
      }
    }
  }
}

}  // namespace larder::bench
