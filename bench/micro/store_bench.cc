// Micro-benchmarks of the public API on a store of N entities (10 Float32 features + 1 String):
// single lookup (hit, miss), a batch of 100 entities, and a push of 1,000 rows.
// Run: build/bin/larder_microbench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "larder/feature_store.h"

namespace larder {
namespace {

constexpr int kFeatures = 10;

std::string SegmentPath(int64_t n) {
  return "/dev/shm/larder-microbench-" + std::to_string(getpid()) + "-" + std::to_string(n);
}

// A repo with one view of 10 Float32 features and one String feature.
std::string WriteRepo(int64_t n) {
  std::string dir = "/tmp/larder-microbench-" + std::to_string(getpid()) + "-" + std::to_string(n);
  std::string cmd = "mkdir -p " + dir;
  if (std::system(cmd.c_str()) != 0) std::abort();
  std::ofstream y(dir + "/feature_store.yaml");
  y << "project: bench\n"
    << "online_store: {path: " << SegmentPath(n) << ", initial_capacity: " << n
    << ", memory_limit: " << (n * 600 + (64 << 20)) << "}\n"
    << "entities: [{name: user, join_keys: [user_id], value_type: Int64}]\n"
    << "sources:\n  - {name: batch, type: file, path: b.csv, timestamp_field: ts}\n"
    << "  - {name: push, type: push, batch_source: batch}\n"
    << "feature_views:\n  - name: stats\n    entities: [user]\n    source: push\n    schema:\n";
  for (int f = 0; f < kFeatures; ++f) y << "      - {name: f" << f << ", dtype: Float32}\n";
  y << "      - {name: label, dtype: String}\n";
  return dir;
}

Frame MakeRows(int64_t first, int64_t count, int64_t ts) {
  Frame f;
  f.origin = "bench";
  f.names = {"user_id", "ts", "label"};
  for (int i = 0; i < kFeatures; ++i) f.names.push_back("f" + std::to_string(i));
  f.columns.resize(f.names.size());
  for (int64_t r = 0; r < count; ++r) {
    f.columns[0].push_back(Cell::Int(first + r));
    f.columns[1].push_back(Cell::Int(ts));
    f.columns[2].push_back(Cell::String("user-" + std::to_string(first + r)));
    for (int i = 0; i < kFeatures; ++i) f.columns[3 + i].push_back(Cell::Double(0.5 * i + r));
  }
  return f;
}

struct Fixture {
  std::unique_ptr<FeatureStore> store;
  std::unique_ptr<OnlineReader> reader;
  int64_t n = 0;
};

Fixture& GetFixture(int64_t n) {
  static std::map<int64_t, std::unique_ptr<Fixture>> cache;
  auto& fx = cache[n];
  if (fx) return *fx;
  fx = std::make_unique<Fixture>();
  fx->n = n;
  for (const char* suffix : {"", ".readers", ".lock"}) std::remove((SegmentPath(n) + suffix).c_str());
  fx->store = std::move(FeatureStore::Open(WriteRepo(n))).value();
  if (!fx->store->Apply().ok()) std::abort();
  for (int64_t first = 0; first < n; first += 50000) {
    auto r = fx->store->Push("push", MakeRows(first, std::min<int64_t>(50000, n - first), 1));
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      std::abort();
    }
  }
  fx->reader = std::move(OnlineReader::Attach(SegmentPath(n))).value();
  return *fx;
}

OnlineRequest Request(int64_t batch, std::mt19937_64& rng, int64_t n, bool miss) {
  OnlineRequest req;
  for (int i = 0; i < kFeatures; ++i) req.features.push_back("stats:f" + std::to_string(i));
  req.features.push_back("stats:label");
  req.entities.names = {"user_id"};
  req.entities.columns.resize(1);
  for (int64_t i = 0; i < batch; ++i) {
    int64_t id = static_cast<int64_t>(rng() % n) + (miss ? n : 0);
    req.entities.columns[0].push_back(Cell::Int(id));
  }
  return req;
}

void BM_Lookup(benchmark::State& state, bool miss) {
  Fixture& fx = GetFixture(state.range(0));
  const int64_t batch = state.range(1);
  std::mt19937_64 rng(42);
  std::vector<OnlineRequest> reqs;
  for (int i = 0; i < 1024; ++i) reqs.push_back(Request(batch, rng, fx.n, miss));
  size_t i = 0;
  OnlineResponse resp;  // reused, as a serving thread would
  for (auto _ : state) {
    Status st = fx.reader->GetOnlineFeatures(reqs[i++ & 1023], &resp);
    benchmark::DoNotOptimize(st);
  }
  state.SetItemsProcessed(state.iterations() * batch);
  auto info = fx.reader->Inspect();
  state.counters["entities"] = static_cast<double>(fx.n);
  state.counters["index_buckets"] = static_cast<double>(info->index_buckets);
  state.counters["load"] =
      static_cast<double>(info->index_entries) / (info->index_buckets * 8.0);
}

void BM_LookupHit(benchmark::State& s) { BM_Lookup(s, false); }
void BM_LookupMiss(benchmark::State& s) { BM_Lookup(s, true); }

void BM_Push1000(benchmark::State& state) {
  Fixture& fx = GetFixture(state.range(0));
  // Google Benchmark calls this function several times: the timestamp must keep increasing
  // across calls, or later calls push rows older than the stored ones (correctly skipped).
  static int64_t ts = 2;
  Frame rows = MakeRows(0, 1000, ts);
  for (auto _ : state) {
    for (auto& c : rows.columns[1]) c.i = ts;  // newer each round, so every row is written
    ++ts;
    auto r = fx.store->Push("push", rows);
    if (!r.ok() || r->rows_written != 1000) {
      state.SkipWithError(r.ok() ? "push skipped rows" : r.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}

BENCHMARK(BM_LookupHit)->Args({10000, 1})->Args({1000000, 1})->Args({10000, 100})->Args({1000000, 100});
BENCHMARK(BM_LookupMiss)->Args({1000000, 1});
BENCHMARK(BM_Push1000)->Arg(10000)->Arg(1000000);

}  // namespace
}  // namespace larder

BENCHMARK_MAIN();
