// larder_microbench: Google Benchmark micro-benchmarks of Larder (docs/benchmarks.md).
//
//   build/bin/larder_microbench                         # codecs; stores of 10^4 and 10^6
//   LARDER_BENCH_10M=1 build/bin/larder_microbench      # adds a store of 10^7 (~2 GiB of
//                                                       # /dev/shm, ~1 min to build)
//   LARDER_BENCH_SIZES=10000,10000000 build/bin/larder_microbench --benchmark_filter=Lookup
//   LARDER_BENCH_DIR=/mnt/huge build/bin/larder_microbench   # segments there, not /dev/shm
//
// Every Google Benchmark flag works (--benchmark_filter, --benchmark_repetitions,
// --benchmark_out=FILE --benchmark_out_format=json, ...). A store is built only when a
// benchmark that needs it runs, and every segment is removed at exit (also on Ctrl-C).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "bench/micro/bench_store.h"

namespace larder::bench {
void RegisterLookupBenchmarks(int64_t n);
void RegisterPushBenchmarks(int64_t n);
}  // namespace larder::bench

namespace {

std::vector<int64_t> StoreSizes() {
  std::vector<int64_t> sizes = {10'000, 1'000'000};
  if (const char* env = std::getenv("LARDER_BENCH_SIZES"); env != nullptr && *env != 0) {
    sizes.clear();
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      const double v = std::strtod(item.c_str(), &end);  // accepts 1e7
      if (end == item.c_str() || *end != 0 || v < 1 || v > 1e9) {
        std::fprintf(stderr, "LARDER_BENCH_SIZES: '%s' is not an entity count\n", item.c_str());
        std::exit(2);
      }
      sizes.push_back(static_cast<int64_t>(v));
    }
  }
  if (const char* env = std::getenv("LARDER_BENCH_10M"); env != nullptr && *env == '1') {
    bool have = false;
    for (int64_t s : sizes) have = have || s == 10'000'000;
    if (!have) sizes.push_back(10'000'000);
  }
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  for (int64_t n : StoreSizes()) {
    larder::bench::RegisterLookupBenchmarks(n);
    larder::bench::RegisterPushBenchmarks(n);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  larder::bench::RemoveStores();
  return 0;
}
