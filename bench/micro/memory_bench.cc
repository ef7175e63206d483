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

// A fresh buffer of kBufferBytes in /dev/shm (tmpfs pages, as the segment's), mapped
// read-write; the name is unlinked at once, so nothing is left behind.
uint64_t* MapShmBuffer() {
  const std::string name = "/larder-bench-chase-" + std::to_string(::getpid());
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    std::perror("shm_open");
    std::exit(1);
  }
  ::shm_unlink(name.c_str());  // the mapping keeps the memory
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
  return static_cast<uint64_t*>(p);
}

// A random order of 0..n-1 that is one cycle through all of them (Sattolo's algorithm), so
// the hardware prefetchers cannot guess the next step.
std::vector<uint32_t> RandomCycle(size_t n) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(7);
  for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng() % i]);
  return order;
}

// The chase buffer, built once: line i holds the index of the line after it in one random
// cycle through every line.
const uint64_t* ChaseBuffer() {
  static const uint64_t* buffer = [] {
    uint64_t* words = MapShmBuffer();
    const std::vector<uint32_t> order = RandomCycle(kLines);
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

// BM_BlockChase/bytes: the floor of a layout that would keep an entity's index entry and its
// row together in one block of `bytes` at a place the key's hash gives (one idea for one miss
// per lookup; docs/benchmarks.md). Each step requests every line of its block at once, then
// reads the block's first line (the "directory") for which line holds the "row", then that
// line for the next block. The two reads still depend on each other, as a lookup's do, but
// their lines were requested together. Compare with BM_DependentReads/1 and /2.
void BM_BlockChase(benchmark::State& state) {
  const size_t block = static_cast<size_t>(state.range(0));
  const size_t lines = block / kLine;
  const size_t blocks = kBufferBytes / block;
  // One buffer for every block size, its cycle rewritten when the size changes (words of an
  // earlier size left in it are never reached).
  static uint64_t* words = MapShmBuffer();
  static size_t built_for = 0;
  if (built_for != block) {
    const std::vector<uint32_t> order = RandomCycle(blocks);
    std::mt19937_64 rng(11);
    for (size_t i = 0; i < blocks; ++i) {
      const size_t b = order[i];
      const uint64_t row_line = 1 + rng() % (lines - 1);
      words[b * (block / 8)] = row_line;                                          // directory
      words[b * (block / 8) + row_line * (kLine / 8)] = order[(i + 1) % blocks];  // the row
    }
    built_for = block;
  }
  uint64_t b = 0;
  for (auto _ : state) {
    const uint64_t* base = words + b * (block / 8);
    for (size_t l = 0; l < lines; ++l) __builtin_prefetch(base + l * (kLine / 8));
    const uint64_t row_line = base[0];
    b = base[row_line * (kLine / 8)];
    benchmark::DoNotOptimize(b);
  }
  state.counters["buffer_MiB"] = static_cast<double>(kBufferBytes >> 20);
}
BENCHMARK(BM_BlockChase)->Arg(256)->Arg(512)->Arg(1024);

// BM_IndexThenRow/index_MiB: a lookup's two reads, with 10^6 rows of three lines each spread
// over the 192 MiB buffer and an index of `index_MiB`: a random index line, whose word (with
// the key's other bits, as a bucket holds several keys) names one of the rows, whose first
// word gives the next key. The index's size is all that varies: how much of the first miss a
// smaller index saves (it stays in the caches more often while rows stream through them)
// tells whether a more compact index is worth its layout change.
void BM_IndexThenRow(benchmark::State& state) {
  constexpr size_t kRows = 1'000'000;
  constexpr size_t kRowLines = 3;
  const size_t index_lines = (static_cast<size_t>(state.range(0)) << 20) / kLine;
  static uint64_t* rows = nullptr;
  if (rows == nullptr) {
    rows = MapShmBuffer();
    std::mt19937_64 rng(17);
    for (size_t r = 0; r < kRows; ++r) rows[r * kRowLines * (kLine / 8)] = rng();
  }
  std::vector<uint64_t> index(index_lines * (kLine / 8));
  std::mt19937_64 rng(13);
  for (size_t i = 0; i < index_lines; ++i) index[i * (kLine / 8)] = rng();
  uint64_t key = 1;
  uint64_t step = 0;
  for (auto _ : state) {
    const uint64_t word = index[(key % index_lines) * (kLine / 8)];
    const uint64_t row = ((word ^ (key >> 32)) % kRows) * kRowLines;
    // The step count is mixed in: a chase through a fixed function of the key would fall
    // into a short cycle (a random mapping of 10^6 values cycles within ~1,000 steps).
    key = (rows[row * (kLine / 8)] ^ (++step * 0x9E3779B97F4A7C15ull)) * 0xFF51AFD7ED558CCDull;
    benchmark::DoNotOptimize(key);
  }
  state.counters["index_MiB"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_IndexThenRow)->Arg(1)->Arg(4)->Arg(8)->Arg(16);

}  // namespace
}  // namespace larder::bench
