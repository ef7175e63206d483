// Push micro-benchmark: a batch of 1,000 rows (10 Float32 + 1 String, updates of random
// existing entities, each newer than the stored row) through FeatureStore::Push, i.e. the C++
// API from loosely typed cells to published rows, including the writer lock, conversion,
// encoding, allocation, publication and reclamation of the replaced rows.
#include <benchmark/benchmark.h>

#include <map>
#include <random>
#include <string>

#include "bench/micro/bench_store.h"

namespace larder::bench {

namespace {

void BM_Push(benchmark::State& state, int64_t n, int64_t rows_per_push) {
  BenchStore& s = GetStore(n);
  // Google Benchmark calls this function several times: the timestamp must keep increasing
  // across calls, or later calls push rows older than the stored ones (correctly skipped).
  static std::map<int64_t, int64_t> next_ts;
  int64_t& ts = next_ts.try_emplace(n, 2).first->second;
  std::mt19937_64 rng(99);
  std::vector<Frame> frames;
  for (int k = 0; k < 16; ++k) {
    Frame f = MakeRows(0, rows_per_push, ts);
    for (size_t r = 0; r < f.num_rows(); ++r) {
      const int64_t id = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
      f.columns[0][r].i = id;
      f.columns[2][r].s = "user-" + std::to_string(id);
      for (int i = 0; i < kFloatFeatures; ++i) f.columns[3 + i][r].d = 0.5 * i + id;
    }
    frames.push_back(std::move(f));
  }
  size_t k = 0;
  uint64_t written = 0, skipped = 0;
  for (auto _ : state) {
    Frame& rows = frames[k++ & 15];
    for (Cell& c : rows.columns[1]) c.i = ts;  // newer each round, so every row is written
    ++ts;
    auto r = s.store->Push("push", rows);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    written += r->rows_written;
    skipped += r->rows_skipped;
  }
  // Random ids may repeat within a batch: a repeat is written too (same timestamp wins).
  if (skipped != 0) state.SkipWithError("push skipped rows");
  state.SetItemsProcessed(static_cast<int64_t>(written));
  AddStoreCounters(state, s);
}

}  // namespace

void RegisterPushBenchmarks(int64_t n) {
  const std::string name = "BM_Push/" + std::to_string(n) + "/rows:1000";
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& st) { BM_Push(st, n, 1000); });
}

}  // namespace larder::bench
