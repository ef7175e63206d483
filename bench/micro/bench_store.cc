#include "bench/micro/bench_store.h"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "bench/common/bucket_order.h"
#include "bench/common/cleanup.h"

namespace larder::bench {

namespace {

std::map<int64_t, std::unique_ptr<BenchStore>>& Stores() {
  static auto* stores = new std::map<int64_t, std::unique_ptr<BenchStore>>();
  return *stores;
}

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "larder_microbench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

}  // namespace

std::string WriteRepo(const std::string& dir, const std::string& segment_path, int64_t n) {
  std::filesystem::create_directories(dir);
  std::ofstream y(dir + "/feature_store.yaml");
  // Rows are ~180 bytes; the index at most doubles past n. memory_limit is sparse until used.
  y << "project: bench\n"
    << "online_store: {path: " << segment_path << ", initial_capacity: " << n
    << ", memory_limit: " << (n * 600 + (64 << 20)) << "}\n"
    << "entities: [{name: user, join_keys: [user_id], value_type: Int64}]\n"
    << "sources:\n  - {name: batch, type: file, path: b.csv, timestamp_field: ts}\n"
    << "  - {name: push, type: push, batch_source: batch}\n"
    << "feature_views:\n  - name: stats\n    entities: [user]\n    source: push\n    schema:\n";
  for (int f = 0; f < kFloatFeatures; ++f) y << "      - {name: f" << f << ", dtype: Float32}\n";
  y << "      - {name: label, dtype: String}\n";
  return dir;
}

Frame MakeRows(int64_t first, int64_t count, int64_t ts) {
  std::vector<int64_t> ids(static_cast<size_t>(count));
  for (int64_t r = 0; r < count; ++r) ids[static_cast<size_t>(r)] = first + r;
  return MakeRows(ids, ts);
}

Frame MakeRows(const std::vector<int64_t>& ids, int64_t ts) {
  const auto count = static_cast<int64_t>(ids.size());
  Frame f;
  f.origin = "bench";
  f.names = {"user_id", "ts", "label"};
  for (int i = 0; i < kFloatFeatures; ++i) f.names.push_back("f" + std::to_string(i));
  f.columns.resize(f.names.size());
  for (auto& c : f.columns) c.reserve(static_cast<size_t>(count));
  for (int64_t r = 0; r < count; ++r) {
    const int64_t id = ids[static_cast<size_t>(r)];
    f.columns[0].push_back(Cell::Int(id));
    f.columns[1].push_back(Cell::Int(ts));
    f.columns[2].push_back(Cell::String("user-" + std::to_string(id)));
    for (int i = 0; i < kFloatFeatures; ++i) f.columns[3 + i].push_back(Cell::Double(0.5 * i + id));
  }
  return f;
}

std::vector<Value> RowValues(int64_t id) {
  std::vector<Value> v;
  for (int i = 0; i < kFloatFeatures; ++i) v.push_back(Value::Float32(static_cast<float>(0.5 * i + id)));
  v.push_back(Value::String("user-" + std::to_string(id)));
  return v;
}

OnlineRequest MakeRequest(int64_t batch) {
  OnlineRequest req;
  for (int i = 0; i < kFloatFeatures; ++i) req.features.push_back("stats:f" + std::to_string(i));
  req.features.push_back("stats:label");
  req.entities.names = {"user_id"};
  req.entities.columns.resize(1);
  req.entities.columns[0].assign(static_cast<size_t>(batch), Cell::Int(0));
  return req;
}

BenchStore& GetStore(int64_t n) {
  auto& slot = Stores()[n];
  if (slot) return *slot;
  // Where segments live: /dev/shm, or LARDER_BENCH_DIR (e.g. a tmpfs mounted huge=always).
  const char* dir_env = std::getenv("LARDER_BENCH_DIR");
  const std::string shm = dir_env != nullptr && *dir_env != 0 ? dir_env : "/dev/shm";
  static bool cleaned = false;
  if (!cleaned) {
    cleaned = true;
    Cleanup::RemoveStale(shm, "larder-microbench");
    Cleanup::RemoveStale("/tmp", "larder-microbench");
  }
  auto s = std::make_unique<BenchStore>();
  s->n = n;
  const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(n);
  s->segment_path = shm + "/larder-microbench-" + tag;
  s->repo_dir = "/tmp/larder-microbench-" + tag;
  for (const char* suffix : {"", ".readers", ".lock"}) {
    Cleanup::RegisterFile(s->segment_path + suffix);
  }
  Cleanup::RegisterDir(s->repo_dir);
  WriteRepo(s->repo_dir, s->segment_path, n);

  const auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr, "building a store of %lld entities in %s ...\n", static_cast<long long>(n),
               s->segment_path.c_str());
  auto opened = FeatureStore::Open(s->repo_dir);
  if (!opened.ok()) Die("open repo", opened.status());
  s->store = std::move(opened).value();
  if (auto a = s->store->Apply(); !a.ok()) Die("apply", a.status());
  // Rows go in as materialize writes a bulk load: in the order of the index buckets
  // (bench/common/bucket_order.h).
  auto ordered = IdsInBucketOrder(s->segment_path, n);
  if (!ordered.ok()) Die("bucket order", ordered.status());
  const std::vector<int64_t> order = std::move(ordered).value();
  constexpr int64_t kChunk = 50000;
  for (int64_t first = 0; first < n; first += kChunk) {
    const std::vector<int64_t> ids(order.begin() + first,
                                   order.begin() + std::min(n, first + kChunk));
    auto r = s->store->Push("push", MakeRows(ids, 1));
    if (!r.ok()) Die("push", r.status());
    if (n >= 5'000'000 && (first / kChunk) % 20 == 19) {
      std::fprintf(stderr, "  %lld / %lld rows\n", static_cast<long long>(first + kChunk),
                   static_cast<long long>(n));
    }
  }
  auto reader = OnlineReader::Attach(s->segment_path);
  if (!reader.ok()) Die("attach", reader.status());
  s->reader = std::move(reader).value();
  ReaderOptions unverified;
  unverified.verify_rows = false;
  auto reader2 = OnlineReader::Attach(s->segment_path, unverified);
  if (!reader2.ok()) Die("attach", reader2.status());
  s->reader_unverified = std::move(reader2).value();
  ReaderOptions newest;
  newest.snapshot_reads = false;
  auto reader3 = OnlineReader::Attach(s->segment_path, newest);
  if (!reader3.ok()) Die("attach", reader3.status());
  s->reader_newest = std::move(reader3).value();
  auto reg = s->reader->Registry();
  if (!reg.ok()) Die("registry", reg.status());
  auto cat = Catalog::Build(std::move(reg).value(), 1);
  if (!cat.ok()) Die("catalog", cat.status());
  s->catalog = std::move(cat).value();
  s->build_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s->stats = ComputeIndexStats(s->segment_path);
  if (!s->stats.ok) {
    std::fprintf(stderr, "larder_microbench: %s\n", s->stats.error.c_str());
    std::exit(1);
  }
  std::fprintf(stderr,
               "  built in %.1f s: %llu buckets, load %.2f, probe avg %.2f / max %llu words, "
               "%.0f segment bytes per entity (row block %.0f, key + row %.0f)\n",
               s->build_seconds, static_cast<unsigned long long>(s->stats.buckets),
               s->stats.load, s->stats.avg_probe_words,
               static_cast<unsigned long long>(s->stats.max_probe_words),
               s->stats.bytes_per_entity, s->stats.avg_block_bytes,
               s->stats.avg_key_bytes + s->stats.avg_payload_bytes);
  slot = std::move(s);
  return *slot;
}

void AddStoreCounters(benchmark::State& state, const BenchStore& s) {
  const IndexStats& st = s.stats;
  state.counters["entities"] = static_cast<double>(s.n);
  state.counters["buckets"] = static_cast<double>(st.buckets);
  state.counters["load"] = st.load;
  state.counters["probe_avg"] = st.avg_probe_words;
  state.counters["probe_max"] = static_cast<double>(st.max_probe_words);
  state.counters["miss_probe_avg"] = st.avg_miss_probe_words;
  state.counters["home_bucket"] = st.home_bucket_fraction;
  state.counters["run_hint_cover"] = st.run_hint_cover;
  state.counters["B_per_entity"] = st.bytes_per_entity;
}

void RemoveStores() {
  for (auto& [n, s] : Stores()) {
    if (!s) continue;
    s->reader.reset();
    s->reader_unverified.reset();
    if (s->store) (void)s->store->Teardown();
    s->store.reset();
    std::error_code ec;
    std::filesystem::remove_all(s->repo_dir, ec);
  }
  Stores().clear();
  Cleanup::RunNow();
}

}  // namespace larder::bench
