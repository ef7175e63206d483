// Codec micro-benchmarks: entity key encoding + XXH3, row encoding and row decoding, for the
// benchmark view (10 Float32 + 1 String). No store needed beyond its catalog.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

#include "bench/micro/bench_store.h"
#include "engine/index/hash_index.h"
#include "engine/rows/row_codec.h"
#include "engine/values/cell_convert.h"
#include "layout/entity_key.h"

namespace larder::bench {
namespace {

// The catalog of a small store (view ids as a real segment assigns them).
const ViewInfo& BenchView() {
  const BenchStore& s = GetStore(10000);
  return *s.catalog->FindView("stats");
}

std::vector<int64_t> RandomIds(size_t count, int64_t n) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> ids(count);
  for (auto& id : ids) id = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
  return ids;
}

// The read path's key step for one entity: request cell -> typed value -> key bytes -> XXH3.
void BM_KeyEncodeHash(benchmark::State& state) {
  const uint32_t view_id = BenchView().id();
  const auto ids = RandomIds(4096, 1'000'000);
  std::string key;
  size_t i = 0;
  uint64_t acc = 0;
  for (auto _ : state) {
    Cell c = Cell::Int(ids[i++ & 4095]);
    auto v = CellToValue(c, DType{ScalarType::kInt64, false});
    key.clear();
    Status st = layout::AppendEntityKeyPart(*v, ScalarType::kInt64, &key);
    benchmark::DoNotOptimize(st);
    acc += HashEntityKey(view_id, key);
  }
  benchmark::DoNotOptimize(acc);
  state.SetItemsProcessed(state.iterations());
}

// Only the XXH3 of an 8-byte (Int64) or 24-byte (String) key.
void BM_Xxh3(benchmark::State& state) {
  const size_t len = static_cast<size_t>(state.range(0));
  std::string key(len, 'k');
  uint64_t acc = 0;
  uint64_t x = 0;
  for (auto _ : state) {
    std::memcpy(key.data(), &x, sizeof(x));
    ++x;
    acc += HashEntityKey(1, key);
  }
  benchmark::DoNotOptimize(acc);
  state.SetItemsProcessed(state.iterations());
}

void BM_RowEncode(benchmark::State& state) {
  const ViewInfo& view = BenchView();
  std::vector<std::vector<Value>> rows;
  for (int64_t id = 0; id < 256; ++id) rows.push_back(RowValues(id * 1000));
  RowEncoder enc;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    std::string_view out = enc.Encode(view, 1'700'000'000'000'000, 0, rows[i++ & 255].data());
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["row_bytes"] =
      static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}

// Decoding one row into 11 Values as the read path does: verify the FlatBuffer as readers do
// (arg 2: VerifyRowForView), the whole row as `larder check` does (arg 1: VerifyRowBuffer), or
// not at all (arg 0), then null check + decode per feature. Rows are copied to 8-aligned
// buffers, as in the segment.
void BM_RowDecode(benchmark::State& state) {
  const int64_t verify = state.range(0);
  const ViewInfo& view = BenchView();
  RowEncoder enc;
  std::vector<std::vector<uint64_t>> bufs;  // 8-aligned copies
  std::vector<size_t> lens;
  for (int64_t id = 0; id < 256; ++id) {
    auto values = RowValues(id * 1000);
    std::string_view b = enc.Encode(view, 1'700'000'000'000'000, 0, values.data());
    bufs.emplace_back((b.size() + 7) / 8);
    std::memcpy(bufs.back().data(), b.data(), b.size());
    lens.push_back(b.size());
  }
  std::vector<Value> out(view.features.size());
  size_t i = 0;
  int64_t bad = 0;
  for (auto _ : state) {
    const size_t k = i++ & 255;
    const auto* data = reinterpret_cast<const uint8_t*>(bufs[k].data());
    if (verify == 1 && !VerifyRowBuffer(data, lens[k])) ++bad;
    if (verify == 2 && !VerifyRowForView(data, lens[k], view)) ++bad;
    const fb::Row* row = RowFromBuffer(data);
    benchmark::DoNotOptimize(row->event_ts());
    for (const FeatureInfo& f : view.features) {
      if (IsNullFeature(row, f) || !DecodeFeature(row, f, &out[f.index])) ++bad;
    }
    benchmark::DoNotOptimize(out.data());
  }
  if (bad != 0) state.SkipWithError("row failed to decode");
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_KeyEncodeHash);
BENCHMARK(BM_Xxh3)->Arg(8)->Arg(24);
BENCHMARK(BM_RowEncode);
BENCHMARK(BM_RowDecode)->ArgName("verify")->Arg(2)->Arg(1)->Arg(0);

}  // namespace
}  // namespace larder::bench
