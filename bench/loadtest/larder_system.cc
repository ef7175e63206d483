// Larder under test: the store is built through FeatureStore (apply + push), read through
// OnlineReader (GetOnlineFeatures into a reused response, or GetOnlineFeaturesColumnar), and
// written by a writer process through FeatureStore::Push.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "bench/common/bucket_order.h"
#include "bench/common/index_stats.h"
#include "bench/loadtest/loadtest.h"
#include "larder/feature_store.h"

namespace larder::loadtest {

namespace {

std::string WriteRepo(const Env& env) {
  const Config& c = env.cfg;
  std::filesystem::create_directories(env.repo_dir);
  std::ofstream y(env.repo_dir + "/feature_store.yaml");
  // Rows of the default data set take ~180 bytes; the index at most doubles past n. The
  // segment is sparse: memory_limit only caps it.
  const int64_t row_estimate = 160 + 8 * c.float_features + 48 * c.string_features;
  y << "project: " << kProject << "\n"
    << "online_store: {path: " << env.segment_path << ", initial_capacity: " << c.entities
    << ", memory_limit: " << (c.entities * row_estimate * 3 + (256 << 20)) << "}\n"
    << "entities: [{name: user, join_keys: [" << kJoinKey << "], value_type: Int64}]\n"
    << "sources:\n  - {name: batch, type: file, path: b.csv, timestamp_field: ts}\n"
    << "  - {name: push, type: push, batch_source: batch}\n"
    << "feature_views:\n  - name: " << kView
    << "\n    entities: [user]\n    source: push\n    schema:\n";
  for (int i = 0; i < c.float_features; ++i) y << "      - {name: f" << i << ", dtype: Float32}\n";
  for (int j = 0; j < c.string_features; ++j) y << "      - {name: s" << j << ", dtype: String}\n";
  y.close();
  return y ? "" : "cannot write " + env.repo_dir + "/feature_store.yaml";
}

// A push frame for the given entity ids, with event timestamp `ts` (seconds).
Frame MakeFrame(const Config& c, const std::vector<int64_t>& ids, int64_t ts) {
  Frame f;
  f.origin = "loadtest";
  f.names = {kJoinKey, "ts"};
  for (const std::string& n : FeatureNames(c)) f.names.push_back(n);
  f.columns.resize(f.names.size());
  for (auto& col : f.columns) col.reserve(ids.size());
  for (int64_t id : ids) {
    f.columns[0].push_back(Cell::Int(id));
    f.columns[1].push_back(Cell::Int(ts));
    size_t k = 2;
    for (int i = 0; i < c.float_features; ++i) f.columns[k++].push_back(Cell::Double(FloatValue(id, i)));
    for (int j = 0; j < c.string_features; ++j) f.columns[k++].push_back(Cell::String(StringValue(id, j)));
  }
  return f;
}

OnlineRequest MakeRequest(const Config& c) {
  OnlineRequest req;
  for (const std::string& n : FeatureNames(c)) req.features.push_back(std::string(kView) + ":" + n);
  req.entities.names = {kJoinKey};
  req.entities.columns.resize(1);
  return req;
}

class LarderClient : public Client {
 public:
  LarderClient(const Config& c, std::unique_ptr<OnlineReader> reader, bool columnar)
      : cfg_(c), reader_(std::move(reader)), columnar_(columnar), req_(MakeRequest(c)) {}

  int64_t Lookup(const int64_t* ids, size_t n) override {
    std::vector<Cell>& cells = req_.entities.columns[0];
    if (cells.size() != n) cells.assign(n, Cell::Int(0));
    for (size_t j = 0; j < n; ++j) cells[j].i = ids[j];
    Status st = columnar_ ? reader_->GetOnlineFeaturesColumnar(req_, &columns_)
                          : reader_->GetOnlineFeatures(req_, &resp_);
    if (!st.ok()) {
      error_ = st.ToString();
      return -1;
    }
    const std::vector<FieldStatus>& statuses =
        columnar_ ? columns_.features[0].statuses : resp_.results[1].statuses;
    int64_t found = 0;
    for (FieldStatus s : statuses) found += s == FieldStatus::kPresent;
    return found;
  }

  bool Check(size_t r, int64_t id) const override {
    if (!columnar_) return CheckResponseRow(cfg_, resp_, r, id);
    size_t k = 0;
    for (int i = 0; i < cfg_.float_features; ++i, ++k) {
      const ColumnarFeature& f = columns_.features[k];
      if (f.statuses[r] != FieldStatus::kPresent || f.floats[r] != FloatValue(id, i)) return false;
    }
    for (int j = 0; j < cfg_.string_features; ++j, ++k) {
      const ColumnarFeature& f = columns_.features[k];
      if (f.statuses[r] != FieldStatus::kPresent || f.strings[r] != StringValue(id, j)) return false;
    }
    return true;
  }

 private:
  Config cfg_;
  std::unique_ptr<OnlineReader> reader_;
  bool columnar_;
  OnlineRequest req_;
  OnlineResponse resp_;
  ColumnarResponse columns_;
};

}  // namespace

std::string BuildLarder(Env& env, LarderBuild* out) {
  const Config& c = env.cfg;
  if (std::string e = WriteRepo(env); !e.empty()) return e;
  const int64_t t0 = NowNs();
  auto store = FeatureStore::Open(env.repo_dir);
  if (!store.ok()) return "larder: " + store.status().ToString();
  if (auto a = store.value()->Apply(); !a.ok()) return "larder apply: " + a.status().ToString();
  std::vector<int64_t> order;
  if (c.build_order == "bucket") {
    auto ordered = bench::IdsInBucketOrder(env.segment_path, c.entities);
    if (!ordered.ok()) return "larder: " + ordered.status().ToString();
    order = std::move(ordered).value();
  } else {
    for (int64_t id = 0; id < c.entities; ++id) order.push_back(id);
  }
  constexpr int64_t kChunk = 20000;
  std::vector<int64_t> ids;
  for (int64_t first = 0; first < c.entities; first += kChunk) {
    ids.assign(order.begin() + first, order.begin() + std::min(c.entities, first + kChunk));
    auto r = store.value()->Push("push", MakeFrame(c, ids, kBaseSeconds));
    if (!r.ok()) return "larder push: " + r.status().ToString();
    if ((first / kChunk) % 25 == 24 || first + kChunk >= c.entities) {
      std::fprintf(stderr, "\r[build] larder: %lld / %lld entities",
                   static_cast<long long>(std::min(c.entities, first + kChunk)),
                   static_cast<long long>(c.entities));
    }
  }
  out->seconds = static_cast<double>(NowNs() - t0) / 1e9;
  std::fprintf(stderr, " (%.1f s)\n", out->seconds);
  store.value().reset();

  auto reader = OnlineReader::Attach(env.segment_path);
  if (!reader.ok()) return "larder attach: " + reader.status().ToString();
  auto reg = reader.value()->Registry();
  if (!reg.ok()) return "larder registry: " + reg.status().ToString();
  auto cat = Catalog::Build(std::move(reg).value(), 1);
  if (!cat.ok()) return "larder catalog: " + cat.status().ToString();
  env.catalog = std::move(cat).value();
  reader.value().reset();  // releases this process's reader slot before the children fork

  bench::IndexStats st = bench::ComputeIndexStats(env.segment_path);
  if (!st.ok) return "larder: " + st.error;
  out->bytes_per_entity = st.bytes_per_entity;
  out->encoded_row_bytes = st.avg_key_bytes + st.avg_payload_bytes;
  out->row_block_bytes = st.avg_block_bytes;
  out->index_buckets = st.buckets;
  out->index_load = st.load;
  out->probe_avg = st.avg_probe_words;
  out->probe_max = st.max_probe_words;
  out->run_hint_cover = st.run_hint_cover;
  return "";
}

std::unique_ptr<Client> MakeLarderClient(const Env& env, bool columnar, std::string* error) {
  ReaderOptions options;
  options.verify_rows = env.cfg.verify_rows;
  auto reader = OnlineReader::Attach(env.segment_path, options);
  if (!reader.ok()) {
    *error = "larder: " + reader.status().ToString();
    return nullptr;
  }
  return std::make_unique<LarderClient>(env.cfg, std::move(reader).value(), columnar);
}

int64_t RunWriter(const Env& env, int run, const std::function<int64_t()>& ready_wait,
                  Histogram* push_latency, int64_t* elapsed_ns, int64_t* skipped,
                  std::string* error) {
  const Config& c = env.cfg;
  auto store = FeatureStore::Open(env.repo_dir);
  if (!store.ok()) {
    *error = "writer: " + store.status().ToString();
    return -1;
  }
  // Updates of random existing entities, with the data set's values (readers still verify)
  // and timestamps newer than anything earlier runs wrote, so every row is applied.
  std::mt19937_64 rng(c.seed * 7919 + static_cast<uint64_t>(run));
  std::vector<Frame> frames;
  for (int k = 0; k < 32; ++k) {
    std::vector<int64_t> ids(static_cast<size_t>(c.write_batch));
    for (auto& id : ids) id = static_cast<int64_t>(rng() % static_cast<uint64_t>(c.entities));
    frames.push_back(MakeFrame(c, ids, 0));
  }
  int64_t ts = kBaseSeconds + 1 + int64_t{run + 1} * 10'000'000;
  int64_t rows = 0;
  const int64_t deadline_ns = ready_wait();
  const int64_t start = NowNs();
  int64_t end = start;
  for (size_t k = 0;; ++k) {
    int64_t now = NowNs();
    if (c.write_rate > 0) {
      const int64_t due = start + static_cast<int64_t>(static_cast<double>(rows) / c.write_rate * 1e9);
      if (due >= deadline_ns) break;
      if (due > now) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
        now = NowNs();
      }
    }
    if (now >= deadline_ns) break;
    Frame& f = frames[k % frames.size()];
    for (Cell& cell : f.columns[1]) cell.i = ts;
    ++ts;
    const int64_t t0 = NowNs();
    auto r = store.value()->Push("push", f);
    end = NowNs();
    push_latency->Record(static_cast<uint64_t>(end - t0));
    if (!r.ok()) {
      *error = "writer push: " + r.status().ToString();
      return -1;
    }
    rows += static_cast<int64_t>(r->rows_written);
    *skipped += static_cast<int64_t>(r->rows_skipped);
  }
  *elapsed_ns = end - start;
  return rows;
}

}  // namespace larder::loadtest
