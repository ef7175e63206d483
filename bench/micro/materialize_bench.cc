// Materialization end to end (docs/offline.md): a batch-source CSV of R rows x 10 Float32
// features for R/10 entities (10 rows per entity, later rows newer; and, as the worst case,
// R/2 rows of distinct entities, every row written), materialized into a fresh store: stream +
// parse + latest-per-entity + ordered writes + interval. rows/s = rows / time.
//
//   build/bin/larder_microbench --benchmark_filter=Materialize
//   LARDER_BENCH_MATERIALIZE_ROWS=200000 build/bin/larder_microbench ...   # smaller (0: skip)
//
// The CSV (~200 bytes a row) is written once under $TMPDIR and removed at exit. The Parquet
// variants read the same rows from a Parquet file written by Larder's own writer
// (engine/parquet/parquet_writer.h: PLAIN, row groups of 1Mi rows, timestamp statistics):
// uncompressed, and Snappy-compressed as pyarrow writes by default.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/parquet/parquet_writer.h"
#include "larder/feature_store.h"
#include "larder/timestamp.h"

namespace larder::bench {
namespace {

constexpr int kFeatures = 10;
constexpr TimestampMicros kBase = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z

struct MaterializeData {
  std::string dir;
  std::string segment;
  int64_t rows = 0;
  int64_t rows_per_entity = 0;
  int source = 0;  // 0: CSV; else 1 + the Parquet codec
  ~MaterializeData() {
    if (dir.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    for (const char* ext : {"", ".readers", ".lock"}) std::filesystem::remove(segment + ext, ec);
  }
};

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

// Writes the repo and its CSV once per shape.
MaterializeData& Data(int64_t rows, int64_t rows_per_entity, int source) {
  static std::unique_ptr<MaterializeData> data;
  if (data && data->rows == rows && data->rows_per_entity == rows_per_entity &&
      data->source == source) {
    return *data;
  }
  data.reset();
  data = std::make_unique<MaterializeData>();
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp ? tmp : "/tmp") + "/larder-matbench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  data->dir = tmpl;
  data->segment = "/dev/shm/larder-matbench-" + std::to_string(::getpid());
  data->rows = rows;
  data->rows_per_entity = rows_per_entity;
  data->source = source;
  const int64_t entities = std::max<int64_t>(1, rows / rows_per_entity);
  std::string yaml = "project: larder_matbench\nonline_store:\n  path: " + data->segment +
                     "\n  initial_capacity: " + std::to_string(entities + entities / 4) +
                     "\n  memory_limit: 2GiB\n"
                     "entities:\n  - {name: driver, join_keys: [driver_id], value_type: Int64}\n"
                     "sources:\n"
                     "  - {name: stats_file, type: file, path: " +
                     std::string(source != 0 ? "stats.parquet" : "stats.csv") +
                     ",\n"
                     "     timestamp_field: event_timestamp, created_timestamp_column: created}\n"
                     "  - {name: stats_push, type: push, batch_source: stats_file}\n"
                     "feature_views:\n  - name: stats\n    entities: [driver]\n"
                     "    source: stats_push\n    schema:\n";
  for (int f = 0; f < kFeatures; ++f) {
    yaml += "      - {name: f" + std::to_string(f) + ", dtype: Float32}\n";
  }
  std::ofstream(data->dir + "/feature_store.yaml") << yaml;
  auto value = [](int64_t i, int f) {
    return static_cast<float>((i * 7 + f * 13) % 100'000) / 1000.0f;
  };
  if (source != 0) {
    using parquet::PhysicalType;
    std::vector<parquet::WriteColumn> specs;
    std::vector<parquet::Column> cols(3 + kFeatures);
    for (const char* name : {"event_timestamp", "created"}) {
      specs.push_back(
          {.name = name, .type = PhysicalType::kInt64, .timestamp = true, .optional = false});
    }
    specs.push_back({.name = "driver_id", .type = PhysicalType::kInt64, .optional = false});
    for (int f = 0; f < kFeatures; ++f) {
      specs.push_back(
          {.name = "f" + std::to_string(f), .type = PhysicalType::kFloat, .optional = false});
    }
    for (size_t c = 0; c < cols.size(); ++c) {
      cols[c].rows = static_cast<size_t>(rows);
      for (int64_t i = 0; i < rows; ++i) {
        if (c < 2)
          cols[c].i64.push_back(kBase + i * 1'000'000);
        else if (c == 2)
          cols[c].i64.push_back(i % entities);
        else
          cols[c].f64.push_back(value(i, static_cast<int>(c) - 3));
      }
    }
    parquet::WriteOptions options;
    options.codec = static_cast<parquet::Codec>(source - 1);
    std::string bytes;
    Status st = parquet::WriteParquet(specs, cols, options, &bytes);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      std::abort();
    }
    std::ofstream(data->dir + "/stats.parquet", std::ios::binary) << bytes;
    return *data;
  }

  std::string csv = "event_timestamp,created,driver_id";
  for (int f = 0; f < kFeatures; ++f) csv += ",f" + std::to_string(f);
  csv += "\n";
  std::ofstream out(data->dir + "/stats.csv", std::ios::binary);
  for (int64_t i = 0; i < rows; ++i) {
    const std::string ts = FormatTimestamp(kBase + i * 1'000'000);
    csv += ts;
    csv += ',';
    csv += ts;
    csv += ',';
    AppendInt(i % entities, &csv);
    for (int f = 0; f < kFeatures; ++f) {
      csv += ',';
      char buf[32];
      float v = value(i, f);
      auto res = std::to_chars(buf, buf + sizeof(buf), v);
      csv.append(buf, res.ptr);
    }
    csv += '\n';
    if (csv.size() > (8 << 20)) {
      out << csv;
      csv.clear();
    }
  }
  out << csv;
  return *data;
}

void BM_Materialize(benchmark::State& state, int source) {
  MaterializeData& d = Data(state.range(0), state.range(1), source);
  auto fs = FeatureStore::Open(d.dir);
  if (!fs.ok()) {
    state.SkipWithError(fs.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    (void)(*fs)->Teardown();
    auto applied = (*fs)->Apply();
    if (!applied.ok()) {
      state.SkipWithError(applied.status().ToString().c_str());
      return;
    }
    state.ResumeTiming();
    auto r = (*fs)->Materialize(kBase, kBase + d.rows * 1'000'000);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    state.counters["written"] = static_cast<double>(r->views[0].rows_written);
  }
  (void)(*fs)->Teardown();
  state.SetItemsProcessed(state.iterations() * d.rows);
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(d.rows),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

[[maybe_unused]] const bool kRegistered = [] {
  int64_t rows = 2'000'000;
  if (const char* env = std::getenv("LARDER_BENCH_MATERIALIZE_ROWS"); env && *env) {
    rows = std::strtoll(env, nullptr, 10);
  }
  if (rows <= 0) return false;
  // 0: CSV; else 1 + the Parquet codec.
  const std::pair<int, const char*> variants[] = {
      {0, "BM_Materialize/10xFloat32"},
      {1 + static_cast<int>(parquet::Codec::kUncompressed), "BM_Materialize/Parquet/10xFloat32"},
      {1 + static_cast<int>(parquet::Codec::kSnappy), "BM_Materialize/Parquet/Snappy/10xFloat32"}};
  for (auto [source, name] : variants) {
    benchmark::RegisterBenchmark(
        name, [source](benchmark::State& state) { BM_Materialize(state, source); })
        ->Args({rows, 10})
        ->Args({rows / 2, 1})
        ->ArgNames({"rows", "rows_per_entity"})
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(2.0);
  }
  return true;
}();

}  // namespace
}  // namespace larder::bench
