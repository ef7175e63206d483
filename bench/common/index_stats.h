// Read-only statistics of a segment's index and rows, for the benchmarks: table size, load,
// probe lengths (computed by walking the index words and re-hashing each row's key), and the
// bytes a stored entity costs. Maps the segment read-only on its own; never writes to it and
// takes no reader slot, so call it only while no writer is running (the benchmarks call it
// right after building a store).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/index/hash_index.h"
#include "layout/segment_layout.h"

namespace larder::bench {

struct IndexStats {
  bool ok = false;
  std::string error;
  uint64_t file_size = 0;      // the segment's mapped size (memory_limit)
  uint64_t segment_bytes = 0;  // header + arena up to arena_top: what the store occupies
  uint64_t buckets = 0;        // 64-byte buckets of 8 words
  uint64_t words = 0;
  uint64_t entries = 0;  // non-empty words
  double load = 0;       // entries / words
  // A hit's probe: words loaded until the key's word (1 = first word of its home bucket), and
  // buckets touched (1 = found in its home bucket).
  double avg_probe_words = 0;
  uint64_t max_probe_words = 0;
  double avg_probe_buckets = 0;
  uint64_t max_probe_buckets = 0;
  double home_bucket_fraction = 0;  // entries found in their home bucket
  // Entries whose row starts inside the lines their bucket's run hint names: a single lookup
  // of them starts its row's load with the bucket's (layout/segment_layout.h, "Run hints").
  double run_hint_cover = 0;
  // A miss's probe: words loaded until the first empty word, averaged over every home bucket.
  double avg_miss_probe_words = 0;
  uint64_t max_miss_probe_words = 0;
  // Rows the index points at.
  double avg_block_bytes = 0;  // row block (24-byte header, key, padding, FlatBuffer)
  double avg_key_bytes = 0;
  double avg_payload_bytes = 0;  // the FlatBuffer Row
  double bytes_per_entity = 0;   // segment_bytes / entries
  // segment bytes per entity / encoded row size (key + FlatBuffer payload)
  double bytes_per_encoded_row = 0;
};

inline IndexStats ComputeIndexStats(const std::string& segment_path) {
  IndexStats s;
  int fd = ::open(segment_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    s.error = "cannot open " + segment_path;
    return s;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < layout::kHeaderSize) {
    ::close(fd);
    s.error = "cannot stat " + segment_path;
    return s;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    s.error = "cannot map " + segment_path;
    return s;
  }
  const auto* base = static_cast<const uint8_t*>(map);
  const auto* h = reinterpret_cast<const layout::SegmentHeader*>(base);
  // The mapping is read-only; the table's words are only loaded here.
  const uint64_t desc = h->index_desc.load(std::memory_order_acquire);
  const uint64_t arena_top = h->arena_top.load(std::memory_order_acquire);
  if (!HashIndex::DescInBounds(desc, size) || arena_top > size) {
    ::munmap(map, size);
    s.error = "index or arena out of bounds in " + segment_path;
    return s;
  }
  const HashIndex idx = HashIndex::FromDesc(const_cast<uint8_t*>(base), desc);
  s.file_size = size;
  s.segment_bytes = arena_top;
  s.buckets = idx.buckets();
  s.words = idx.capacity_words();

  uint64_t sum_words = 0, sum_buckets = 0, home = 0, covered = 0;
  uint64_t sum_block = 0, sum_key = 0, sum_payload = 0;
  idx.ForEach([&](const IndexEntry& e) {
    const uint64_t off = e.row();
    if (off < layout::kHeaderSize || off + sizeof(layout::BlockHeader) > size) return;
    const auto* b = reinterpret_cast<const layout::BlockHeader*>(base + off);
    if (off + layout::kRowKeyOffset + b->key_len > size) return;
    ++s.entries;
    std::string_view key(reinterpret_cast<const char*>(base + off + layout::kRowKeyOffset),
                         b->key_len);
    const uint64_t hash = HashEntityKey(b->view_id, key);
    const uint64_t probe_words = idx.ProbeWords(e, hash);
    const uint64_t probe_buckets = idx.ProbeBuckets(e, hash);
    sum_words += probe_words;
    sum_buckets += probe_buckets;
    s.max_probe_words = std::max(s.max_probe_words, probe_words);
    s.max_probe_buckets = std::max<uint64_t>(s.max_probe_buckets, probe_buckets);
    if (probe_buckets == 1) ++home;
    LineRun run;
    if (idx.HintedRun(e.bucket(), &run) && run.Contains(off)) ++covered;
    sum_block += uint64_t{b->units} * layout::kBlockAlign;
    sum_key += b->key_len;
    sum_payload += b->payload_len;
  });
  // Misses: from each home bucket, the words a probe loads until it meets an empty word.
  uint64_t sum_miss = 0;
  for (uint64_t b = 0; b < s.buckets; ++b) {
    const uint64_t n = idx.MissProbeWords(b);
    sum_miss += n;
    s.max_miss_probe_words = std::max(s.max_miss_probe_words, n);
  }
  ::munmap(map, size);

  s.load = s.words ? static_cast<double>(s.entries) / static_cast<double>(s.words) : 0;
  if (s.entries > 0) {
    const double e = static_cast<double>(s.entries);
    s.avg_probe_words = static_cast<double>(sum_words) / e;
    s.avg_probe_buckets = static_cast<double>(sum_buckets) / e;
    s.home_bucket_fraction = static_cast<double>(home) / e;
    s.run_hint_cover = static_cast<double>(covered) / e;
    s.avg_block_bytes = static_cast<double>(sum_block) / e;
    s.avg_key_bytes = static_cast<double>(sum_key) / e;
    s.avg_payload_bytes = static_cast<double>(sum_payload) / e;
    s.bytes_per_entity = static_cast<double>(s.segment_bytes) / e;
    s.bytes_per_encoded_row = s.bytes_per_entity / (s.avg_key_bytes + s.avg_payload_bytes);
  }
  s.avg_miss_probe_words =
      s.buckets ? static_cast<double>(sum_miss) / static_cast<double>(s.buckets) : 0;
  s.ok = true;
  return s;
}

}  // namespace larder::bench
