// The micro-benchmarks' shared fixture: a store of N entities with one view of 10 Float32
// features and one String feature, built once per N and removed at exit (or on SIGINT/SIGTERM;
// segments of killed runs are removed by the next run).
// Thread-safety: benchmarks run on the main thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/index_stats.h"
#include "engine/rows/catalog.h"
#include "larder/feature_store.h"

namespace benchmark {
class State;
}

namespace larder::bench {

inline constexpr int kFloatFeatures = 10;

struct BenchStore {
  int64_t n = 0;
  std::string repo_dir;
  std::string segment_path;
  std::unique_ptr<FeatureStore> store;    // writable (push benchmarks)
  std::unique_ptr<OnlineReader> reader;   // read-only attachment (lookup benchmarks)
  std::unique_ptr<OnlineReader> reader_unverified;  // same, ReaderOptions::verify_rows off
  std::unique_ptr<OnlineReader> reader_newest;      // same, ReaderOptions::snapshot_reads off
  std::shared_ptr<const Catalog> catalog;  // the segment's registry (view ids assigned)
  IndexStats stats;                        // right after the build
  double build_seconds = 0;
};

// The store of `n` entities (ids 0..n-1), built on first use.
BenchStore& GetStore(int64_t n);

// A repo (feature_store.yaml) for `n` entities whose segment is `segment_path`.
std::string WriteRepo(const std::string& dir, const std::string& segment_path, int64_t n);

// Rows for entities [first, first + count) with event timestamp `ts` (seconds).
Frame MakeRows(int64_t first, int64_t count, int64_t ts);
// The same for the given ids, in their order.
Frame MakeRows(const std::vector<int64_t>& ids, int64_t ts);

// The feature values MakeRows gives entity `id` (feature i < 10: Float32; 10: the String).
std::vector<Value> RowValues(int64_t id);

// All 11 features of the view, as a request with `batch` entity rows (ids set later).
OnlineRequest MakeRequest(int64_t batch);

// Table size, load, probe lengths and bytes per entity as benchmark counters.
void AddStoreCounters(benchmark::State& state, const BenchStore& s);

// Removes every store built so far (also runs at exit).
void RemoveStores();

}  // namespace larder::bench
