// The machine's floor under any single lookup: what dependent cache misses cost here. A
// lookup in a hash index that points at rows needs two reads that depend on each other (the
// bucket, then the row it names); nothing can overlap them within one lookup.
//
// BM_DependentReads/k: a pointer chase through a 192 MiB buffer in /dev/shm (about the size of
// the 10^6-entity store, on the same 4 KiB tmpfs pages), one 64-byte line per step, the next
// line's index stored in the current one (a random cycle over all lines, so the hardware
// prefetchers cannot guess it). Each iteration takes k steps: time per iteration = what k
// dependent misses cost, TLB misses included, as a lookup pays them.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace larder::bench {
namespace {

constexpr size_t kBufferBytes = size_t{192} << 20;
constexpr size_t kLine = 64;
constexpr size_t kLines = kBufferBytes / kLine;

// The chase buffer, built once: line i holds the index of the line after it in one random
// cycle through every line (Sattolo's algorithm).
const uint64_t* ChaseBuffer() {
  static const uint64_t* buffer = [] {
    const std::string name = "/larder-bench-chase-" + std::to_string(::getpid());
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
      std::perror("shm_open");
      std::exit(1);
    }
    ::shm_unlink(name.c_str());  // the mapping keeps the memory; nothing is left behind
    if (::ftruncate(fd, static_cast<off_t>(kBufferBytes)) != 0) {
      std::perror("ftruncate");
      std::exit(1);
    }
    void* p = ::mmap(nullptr, kBufferBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
      std::perror("mmap");
      std::exit(1);
    }
    auto* words = static_cast<uint64_t*>(p);
    std::vector<uint32_t> order(kLines);
    std::iota(order.begin(), order.end(), 0u);
    std::mt19937_64 rng(7);
    for (size_t i = kLines - 1; i > 0; --i) {
      std::swap(order[i], order[rng() % i]);  // Sattolo: one cycle through every line
    }
    for (size_t i = 0; i < kLines; ++i) {
      words[static_cast<size_t>(order[i]) * (kLine / 8)] = order[(i + 1) % kLines];
    }
    return words;
  }();
  return buffer;
}

void BM_DependentReads(benchmark::State& state) {
  const uint64_t* words = ChaseBuffer();
  const int64_t steps = state.range(0);
  uint64_t line = 0;
  for (auto _ : state) {
    for (int64_t k = 0; k < steps; ++k) line = words[line * (kLine / 8)];
    benchmark::DoNotOptimize(line);
  }
  state.counters["buffer_MiB"] = static_cast<double>(kBufferBytes >> 20);
}
BENCHMARK(BM_DependentReads)->Arg(1)->Arg(2)->Arg(3);

}  // namespace
}  // namespace larder::bench
