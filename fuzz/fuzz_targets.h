// The fuzz targets' bodies, shared by the libFuzzer binaries (fuzz/fuzz_*.cc, clang build with
// -DLARDER_FUZZ=ON) and by tests/fuzz_regression_test.cc (every build), which replays the seed
// corpora (fuzz/corpus/<target>/) and every input that once crashed (fuzz/regressions/<target>/).
//
// Each target must never crash, hang or trip a sanitizer, whatever the bytes; errors are fine.
// Beyond that, targets check invariants and abort() when one fails (Fail below):
//  - a push that fails leaves the store exactly as it was (rows_written, index_entries), and
//    the store passes Check() after any sequence of pushes;
//  - a YAML that parses encodes to a registry that decodes back to the same bytes and builds a
//    catalog;
//  - a timestamp that parses formats back to text that parses to the same instant;
//  - VerifyRowForView's written-out checks accept exactly the rows its reference (FlatBuffers'
//    own verifier calls) accepts, and an accepted row decodes.
//
// Header-only (inline) so that tests/CMakeLists.txt's glob needs no change.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/feast/feast_registry.h"
#include "engine/parquet/parquet_file.h"
#include "engine/rows/catalog.h"
#include "engine/rows/registry_codec.h"
#include "engine/rows/row_codec.h"
#include "engine/segment/arena.h"
#include "engine/segment/segment_file.h"
#include "engine/snapshot/snapshot_file.h"
#include "engine/store.h"
#include "engine/store_impl.h"
#include "engine/values/cell_convert.h"
#include "engine/values/frame_readers.h"
#include "larder/feature_store.h"
#include "larder/frame.h"
#include "larder/repo_config.h"
#include "larder/timestamp.h"
#include "layout/segment_layout.h"
#include "wire/request_json.h"
#include "wire/response_json.h"

namespace larder::fuzz {

[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline bool WriteFileBytes(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
  return true;
}

// A repo with an entity of every join-key type and a view of every dtype, one push source per
// view (so a push names which views it must satisfy), and a feature service.
inline constexpr char kFuzzRepoBody[] = R"(entities:
  - {name: driver, join_keys: [driver_id], value_type: Int64}
  - {name: city, join_keys: [city], value_type: String}
  - {name: shard, join_keys: [shard_id], value_type: Int32}
  - {name: blob, join_keys: [blob_key], value_type: Bytes}
sources:
  - {name: stats_file, type: file, path: data/stats.csv, timestamp_field: event_timestamp,
     created_timestamp_column: created}
  - {name: scalars_push, type: push, batch_source: stats_file}
  - {name: arrays_push, type: push, batch_source: stats_file}
  - {name: shard_push, type: push, batch_source: stats_file}
feature_views:
  - name: scalars
    entities: [driver]
    ttl: 1d
    source: scalars_push
    schema:
      - {name: i32, dtype: Int32}
      - {name: i64, dtype: Int64}
      - {name: f32, dtype: Float32}
      - {name: f64, dtype: Float64}
      - {name: s, dtype: String}
      - {name: b, dtype: Bytes}
      - {name: flag, dtype: Bool}
      - {name: ts, dtype: UnixTimestamp}
  - name: arrays
    entities: [driver, city]
    source: arrays_push
    schema:
      - {name: a_i32, dtype: Array(Int32)}
      - {name: a_i64, dtype: Array(Int64)}
      - {name: a_f32, dtype: Array(Float32)}
      - {name: a_f64, dtype: Array(Float64)}
      - {name: a_s, dtype: Array(String)}
      - {name: a_b, dtype: Array(Bytes)}
      - {name: a_flag, dtype: Array(Bool)}
      - {name: a_ts, dtype: Array(UnixTimestamp)}
  - name: by_shard
    entities: [shard, blob]
    source: shard_push
    schema:
      - {name: n, dtype: Int64}
feature_services:
  - name: everything
    features: [scalars, arrays, {by_shard: [n]}]
)";

inline const char* const kFuzzPushSources[] = {"scalars_push", "arrays_push", "shard_push"};

// A feature repo in a scratch directory with its segment in /dev/shm; removed at exit.
class ScratchRepo {
 public:
  ScratchRepo(const std::string& tag, const std::string& memory_limit, int initial_capacity) {
    char tmpl[] = "/tmp/larder-fuzz-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) Fail("mkdtemp");
    dir_ = tmpl;
    segment_ = "/dev/shm/larder-fuzz-" + std::to_string(::getpid()) + "-" + tag;
    std::string yaml = "project: larder_fuzz\nonline_store:\n  path: " + segment_ +
                       "\n  initial_capacity: " + std::to_string(initial_capacity) +
                       "\n  memory_limit: " + memory_limit + "\n" + kFuzzRepoBody;
    if (!WriteFileBytes(dir_ + "/feature_store.yaml", yaml)) Fail("cannot write the fuzz repo");
  }
  ~ScratchRepo() {
    if (::getpid() != owner_) return;  // a fork()ed child exiting: the files are its parent's
    fs_.reset();
    (void)Store::Teardown(segment_);
    ::unlink((dir_ + "/feature_store.yaml").c_str());
    ::rmdir(dir_.c_str());
  }
  ScratchRepo(const ScratchRepo&) = delete;
  ScratchRepo& operator=(const ScratchRepo&) = delete;

  // Tears down any old segment and applies the repo afresh.
  FeatureStore& Reset() {
    fs_.reset();
    (void)Store::Teardown(segment_);
    auto fs = FeatureStore::Open(dir_);
    if (!fs.ok()) Fail("fuzz repo: " + fs.status().ToString());
    auto applied = (*fs)->Apply();
    if (!applied.ok()) Fail("fuzz repo apply: " + applied.status().ToString());
    fs_ = std::move(fs).value();
    pushes_ = 0;
    return *fs_;
  }
  FeatureStore& fs() { return fs_ ? *fs_ : Reset(); }
  const std::string& segment() const { return segment_; }
  const std::string& dir() const { return dir_; }
  uint64_t& pushes() { return pushes_; }

 private:
  pid_t owner_ = ::getpid();
  std::string dir_;
  std::string segment_;
  std::unique_ptr<FeatureStore> fs_;
  uint64_t pushes_ = 0;
};

// The store every push and lookup target uses (one per process).
inline ScratchRepo& SharedRepo() {
  static ScratchRepo repo("shared", "32MiB", 64);
  return repo;
}

inline void ExpectCheckOk(FeatureStore& fs, const std::string& when) {
  auto check = fs.Check();
  if (!check.ok()) Fail("Check() failed " + when + ": " + check.status().ToString());
  if (!check->ok()) Fail("Check() " + when + ": " + check->violations[0]);
}

// Pushes `frame` to `source`: a push either succeeds whole or changes nothing. Every 64 pushes
// (and always when `check_every`) the store must pass Check(). A full store is started afresh.
inline void PushAndVerify(const std::string& source, const Frame& frame, bool check_every) {
  ScratchRepo& repo = SharedRepo();
  FeatureStore& fs = repo.fs();
  auto before = fs.Inspect();
  if (!before.ok()) Fail("Inspect: " + before.status().ToString());
  auto r = fs.Push(source, frame);
  auto after = fs.Inspect();
  if (!after.ok()) Fail("Inspect: " + after.status().ToString());
  if (!r.ok()) {
    if (after->rows_written != before->rows_written ||
        after->index_entries != before->index_entries) {
      Fail("a failed push (" + r.status().ToString() + ") wrote rows");
    }
    if (r.status().code() == ErrorCode::kInternal) Fail("push: " + r.status().ToString());
    if (r.status().code() == ErrorCode::kStoreFull) repo.Reset();
    return;
  }
  if (after->rows_written != before->rows_written + r->rows_written) {
    Fail("rows_written moved by " + std::to_string(after->rows_written - before->rows_written) +
         ", push said " + std::to_string(r->rows_written));
  }
  if (check_every || ++repo.pushes() % 64 == 0) ExpectCheckOk(fs, "after a push");
}

// ---- Read path over any segment ------------------------------------------------------------

// A few entity rows for `view`'s join keys.
inline Frame EntitiesFor(const FeatureViewDef& view) {
  Frame f;
  f.origin = "fuzz";
  for (const JoinKeyDef& k : view.join_keys) {
    f.names.push_back(k.name);
    std::vector<Cell> cells;
    for (int64_t i = 0; i < 4; ++i) {
      switch (k.type) {
        case ScalarType::kString:
          cells.push_back(Cell::String("k" + std::to_string(i)));
          break;
        case ScalarType::kBytes:
          cells.push_back(Cell::Bytes(std::string(1, char('a' + i))));
          break;
        default:
          cells.push_back(Cell::Int(i * 1000 + 1));
          break;
      }
    }
    f.columns.push_back(std::move(cells));
  }
  return f;
}

// The lookups a reader can make of `reg`: every feature of each view (also as a columnar
// request) and each feature service, over a few entity rows of every join key.
struct ReaderLookup {
  OnlineRequest request;
  bool columnar = false;
};

inline std::vector<ReaderLookup> LookupsFor(const RepoConfig& reg) {
  std::vector<ReaderLookup> out;
  for (const FeatureViewDef& v : reg.views) {
    ReaderLookup l;
    for (const FieldDef& f : v.features) l.request.features.push_back(v.name + ":" + f.name);
    if (l.request.features.empty()) continue;
    l.request.entities = EntitiesFor(v);
    l.request.full_feature_names = true;
    l.columnar = true;
    out.push_back(std::move(l));
  }
  for (const FeatureServiceDef& s : reg.services) {
    ReaderLookup l;
    l.request.feature_service = s.name;
    l.request.full_feature_names = true;
    for (const FeatureViewDef& v : reg.views) {
      Frame e = EntitiesFor(v);
      for (size_t i = 0; i < e.names.size(); ++i) {
        if (l.request.entities.FindColumn(e.names[i]) >= 0) continue;
        l.request.entities.names.push_back(e.names[i]);
        l.request.entities.columns.push_back(e.columns[i]);
      }
    }
    out.push_back(std::move(l));
  }
  return out;
}

// Makes every lookup of `lookups` through `reader`, serializing what succeeds. Errors are fine;
// crashes are not.
inline void RunLookups(const OnlineReader& reader, const std::vector<ReaderLookup>& lookups) {
  OnlineResponse resp;
  ColumnarResponse col;
  for (const ReaderLookup& l : lookups) {
    if (reader.GetOnlineFeatures(l.request, &resp).ok()) (void)OnlineResponseToJson(resp);
    if (l.columnar) (void)reader.GetOnlineFeaturesColumnar(l.request, &col);
  }
}

// Attaches read-only to the segment at `path` and uses everything a reader can: inspect,
// check, the registry, a lookup of every feature of every view and of every service. Errors
// are fine; crashes are not.
inline void ExerciseReader(const std::string& path) {
  auto reader = OnlineReader::Attach(path);
  if (!reader.ok()) return;
  (void)(*reader)->Inspect();
  (void)(*reader)->Check();
  auto reg = (*reader)->Registry();
  if (!reg.ok()) return;
  RunLookups(**reader, LookupsFor(*reg));
}

// Target fuzz_segment: the input is a segment file (arbitrary bytes: truncated, flipped,
// foreign). A file whose header asks for more bytes than the input holds (up to 4 MiB) is
// padded with zeros, as a sparse segment is; the reader table is made to match its uid.
inline int FuzzSegment(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/larder-fuzz-" + std::to_string(::getpid()) + "-segment";
  std::string bytes(AsText(data, size));
  uint64_t uid = 0;
  if (size >= sizeof(layout::SegmentHeader)) {
    uint64_t file_size = 0;
    std::memcpy(&file_size, data + offsetof(layout::SegmentHeader, file_size), 8);
    std::memcpy(&uid, data + offsetof(layout::SegmentHeader, segment_uid), 8);
    if (file_size > size && file_size <= (4u << 20)) bytes.resize(file_size, '\0');
  }
  if (!WriteFileBytes(path, bytes)) Fail("cannot write " + path);
  if (!ReaderTableMapping::Create(path, uid, FileModes{}).ok()) Fail("cannot create readers");
  ExerciseReader(path);
  (void)Store::Teardown(path);
  return 0;
}

// ---- Target fuzz_segment_mutate: a valid segment, damaged as the input says ------------------

// A small (1 MiB) segment holding rows of every view, replaced rows in limbo and on free
// lists, and a grown index; its bytes are the base every input damages.
struct BaseSegment {
  std::string bytes;
  uint64_t used = 0;  // arena_top: the bytes that matter
  uint64_t uid = 0;
};

inline Frame BaseRows(int64_t first, int64_t n, int64_t k) {
  auto ints = [&](int64_t mul) {
    std::vector<Cell> v;
    for (int64_t i = 0; i < n; ++i) v.push_back(Cell::Int((first + i) * mul + k));
    return v;
  };
  auto same = [&](const Cell& c) { return std::vector<Cell>(static_cast<size_t>(n), c); };
  Frame f;
  f.origin = "base";
  auto col = [&](const char* name, std::vector<Cell> cells) {
    f.names.push_back(name);
    f.columns.push_back(std::move(cells));
  };
  std::vector<Cell> ids, cities, shards, blobs;
  for (int64_t i = 0; i < n; ++i) {
    ids.push_back(Cell::Int((first + i) * 1000 + 1));
    cities.push_back(Cell::String("k" + std::to_string((first + i) % 4)));
    shards.push_back(Cell::Int((first + i) * 1000 + 1));
    blobs.push_back(Cell::Bytes(std::string(1, char('a' + (first + i) % 4))));
  }
  col("driver_id", ids);
  col("city", cities);
  col("shard_id", shards);
  col("blob_key", blobs);
  col("i32", ints(1));
  col("i64", ints(7));
  col("f32", same(Cell::Double(1.5 + static_cast<double>(k))));
  col("f64", same(Cell::Double(-2.25 * static_cast<double>(k))));
  col("s", same(Cell::String(std::string(static_cast<size_t>(k % 40), 's'))));
  col("b", same(Cell::Bytes("\x00\x01\xff")));
  col("flag", same(Cell::Bool(k % 2 == 0)));
  col("ts", same(Cell::Int(1700000000 + k)));
  col("a_i32", same(Cell::Array({Cell::Int(1), Cell::Int(k)})));
  col("a_i64", same(Cell::Array({Cell::Int(k)})));
  col("a_f32", same(Cell::Array({Cell::Double(0.5)})));
  col("a_f64", same(Cell::Array({Cell::Double(0.25), Cell::Double(-0.0)})));
  col("a_s", same(Cell::Array({Cell::String("x"), Cell::String(std::string(k % 9, 'y'))})));
  col("a_b", same(Cell::Array({Cell::Bytes("z")})));
  col("a_flag", same(Cell::Array({Cell::Bool(true)})));
  col("a_ts", same(Cell::Array({Cell::Int(1700000000)})));
  col("n", ints(3));
  col("event_timestamp", same(Cell::Int(1700000000 + k)));
  col("created", same(Cell::Null()));
  return f;
}

inline const BaseSegment& Base() {
  static const BaseSegment base = [] {
    ScratchRepo repo("base", "1MiB", 8);
    FeatureStore& fs = repo.Reset();
    for (int64_t k = 1; k <= 6; ++k) {
      for (const char* src : kFuzzPushSources) {
        auto r = fs.Push(src, BaseRows(0, 12 * k, k));
        if (!r.ok()) Fail("base segment: " + r.status().ToString());
      }
    }
    BaseSegment b;
    int fd = ::open(repo.segment().c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || ::fstat(fd, &st) != 0) Fail("base segment: cannot open");
    b.bytes.resize(static_cast<size_t>(st.st_size));
    if (::pread(fd, b.bytes.data(), b.bytes.size(), 0) != static_cast<ssize_t>(b.bytes.size())) {
      Fail("base segment: short read");
    }
    ::close(fd);
    const auto* h = reinterpret_cast<const layout::SegmentHeader*>(b.bytes.data());
    b.used = h->arena_top.load(std::memory_order_relaxed);
    b.uid = h->segment_uid;
    return b;
  }();
  return base;
}

// One 5-byte record of a segment-damage input (fuzz_segment_mutate, fuzz_segment_live): offset
// (3 bytes, folded into the used part of the file, or the header for ops 4-5), op, value. Ops:
// 0 set byte, 1 xor byte, 2/3 set a 64-bit word to an interesting value, 4/5 the same inside
// the header, 6 truncate the file there, 7 grow it by value pages.
struct SegmentEdit {
  uint64_t off = 0;
  uint8_t op = 0;  // 0-7
  uint8_t val = 0;
  uint64_t at = 0;  // ops 0-5: the bytes changed in place are [at, at + len)
  size_t len = 0;   // 0 for ops 6 and 7 (resizing: left to the caller)
};

// Decodes the record at `rec` and applies ops 0-5 to `bytes`, a copy of `base.bytes` (of the
// same size).
inline SegmentEdit ApplySegmentEdit(const BaseSegment& base, const uint8_t* rec,
                                    std::string* bytes) {
  SegmentEdit e;
  e.off = (uint64_t{rec[0]} << 16) | (uint64_t{rec[1]} << 8) | rec[2];
  e.op = rec[3] % 8;
  e.val = rec[4];
  const uint64_t size = base.bytes.size();
  const uint64_t interesting[] = {
      0,    1,           0xff,       4096,       base.used,         base.used - 16,
      size, size + 4096, UINT32_MAX, UINT64_MAX, uint64_t{1} << 47, 0xffffffffffffull,
      63,   64};
  const uint64_t word = interesting[e.val % (sizeof(interesting) / sizeof(interesting[0]))];
  switch (e.op) {
    case 0:
    case 1:
      e.at = e.off % base.used;
      e.len = 1;
      if (e.op == 0) {
        (*bytes)[e.at] = static_cast<char>(e.val);
      } else {
        (*bytes)[e.at] ^= static_cast<char>(e.val == 0 ? 1 : e.val);
      }
      break;
    case 2:
    case 3:
    case 4:
    case 5: {
      const uint64_t span = e.op <= 3 ? base.used : layout::kHeaderSize;
      e.at = (e.off % (span - 8)) & ~uint64_t{7};
      e.len = 8;
      std::memcpy(bytes->data() + e.at, &word, 8);
      break;
    }
    default:  // 6, 7: resizing
      break;
  }
  return e;
}

// Target fuzz_segment_mutate: the base segment damaged by the input's records (SegmentEdit),
// then read by a reader that attaches to it.
inline int FuzzSegmentMutate(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/larder-fuzz-" + std::to_string(::getpid()) + "-mutated";
  const BaseSegment& base = Base();
  std::string bytes = base.bytes;
  size_t file_len = bytes.size();
  for (size_t i = 0; i + 5 <= size; i += 5) {
    const SegmentEdit e = ApplySegmentEdit(base, data + i, &bytes);
    if (e.op == 6) file_len = std::min<size_t>(file_len, e.off % bytes.size());
    if (e.op == 7) file_len += size_t{e.val} * 4096;
  }
  bytes.resize(file_len, '\0');
  if (!WriteFileBytes(path, bytes)) Fail("cannot write " + path);
  if (!ReaderTableMapping::Create(path, base.uid, FileModes{}).ok()) Fail("cannot create readers");
  ExerciseReader(path);
  (void)Store::Teardown(path);
  return 0;
}

// Target fuzz_segment_writer: the base segment with its allocator state damaged, then written.
// Each 5-byte record of the input picks a word (3 bytes: which one), what to damage (op) and
// a value. Ops: 0-1 a word of the allocator state (the free and limbo list heads, the limbo
// epochs and byte counts), 2 the link of one of the arena's blocks, 3 the free and limbo byte
// counters. Values: offsets of blocks (on the grid or 8 bytes off it), the arena's ends, and
// extremes. Then a writer opens the store, pushes rewritten and new rows to every source and
// checks the store. The writer must not crash, loop or touch memory outside the segment (the
// sanitizers see it), and a push either applies or fails with CorruptStore or StoreFull.
// (Rows are not checked: a link to another well-formed free block of the same size is not
// detectable without walking every list, and can cost rows; `larder check` reports that.)
inline int FuzzSegmentWriter(const uint8_t* data, size_t size) {
  static ScratchRepo repo("writer", "1MiB", 8);
  static const std::vector<uint64_t> blocks = [] {  // every block of the base's arena
    const BaseSegment& base = Base();
    const auto* h = reinterpret_cast<const layout::SegmentHeader*>(base.bytes.data());
    std::vector<uint64_t> out;
    Status walk =
        ForEachBlock(reinterpret_cast<const uint8_t*>(base.bytes.data()), *h,
                     [&](uint64_t off, const layout::BlockHeader&) { out.push_back(off); });
    if (!walk.ok() || out.empty()) Fail("base segment: " + walk.ToString());
    return out;
  }();
  const BaseSegment& base = Base();
  std::string bytes = base.bytes;
  auto* h = reinterpret_cast<layout::SegmentHeader*>(bytes.data());
  auto* alloc_words = reinterpret_cast<uint64_t*>(&h->alloc);
  constexpr size_t kAllocWords = sizeof(layout::AllocatorState) / sizeof(uint64_t);
  for (size_t i = 0; i + 5 <= size; i += 5) {
    const uint64_t which = (uint64_t{data[i]} << 16) | (uint64_t{data[i + 1]} << 8) | data[i + 2];
    const uint8_t op = data[i + 3] % 4;
    const uint8_t val = data[i + 4];
    const uint64_t block = blocks[val % blocks.size()];
    const uint64_t values[] = {0,
                               block,
                               block + 8,
                               block + 16,
                               base.used,
                               base.used - 16,
                               base.used + 4096,
                               bytes.size(),
                               UINT64_MAX,
                               4096,
                               1,
                               uint64_t{1} << 47};
    const uint64_t value = values[(val >> 4) % (sizeof(values) / sizeof(values[0]))];
    switch (op) {
      case 0:
      case 1:
        alloc_words[which % kAllocWords] = value;
        break;
      case 2: {
        const uint64_t at = blocks[which % blocks.size()] + offsetof(layout::BlockHeader, link);
        std::memcpy(bytes.data() + at, &value, sizeof value);
        break;
      }
      case 3:
        (which % 2 == 0 ? h->free_bytes : h->limbo_bytes).store(value, std::memory_order_relaxed);
        break;
    }
  }
  if (!WriteFileBytes(repo.segment(), bytes)) Fail("cannot write " + repo.segment());
  if (!ReaderTableMapping::Create(repo.segment(), base.uid, FileModes{}).ok()) {
    Fail("cannot create readers");
  }
  {
    auto fs = FeatureStore::Open(repo.dir());
    if (!fs.ok()) Fail("writer open: " + fs.status().ToString());
    for (int64_t k = 7; k <= 8; ++k) {
      for (const char* src : kFuzzPushSources) {
        auto r = (*fs)->Push(src, BaseRows(k == 7 ? 0 : 40, 48, k), PushMode::kOnline);
        if (!r.ok() && r.status().code() != ErrorCode::kCorruptStore &&
            r.status().code() != ErrorCode::kStoreFull) {
          Fail("push into a damaged store: " + r.status().ToString());
        }
      }
    }
    (void)(*fs)->Check();
  }
  ExerciseReader(repo.segment());
  (void)Store::Teardown(repo.segment());
  return 0;
}

// ---- Text inputs ------------------------------------------------------------------------------

// A parsed or imported repo: its registry encodes, decodes to the same bytes, and builds a
// catalog.
inline void CheckRegistryRoundTrip(RepoConfig c) {
  uint32_t id = 1;
  for (FeatureViewDef& v : c.views) v.id = id++;
  std::string encoded = EncodeRegistry(c, id);
  uint32_t next_id = 0;
  auto decoded = DecodeRegistry(encoded, &next_id);
  if (!decoded.ok())
    Fail("a parsed repo's registry does not decode: " + decoded.status().ToString());
  if (next_id != id || EncodeRegistry(*decoded, next_id) != encoded) {
    Fail("registry round trip changed the repo");
  }
  auto cat = Catalog::Build(std::move(decoded).value(), 1);
  if (!cat.ok()) Fail("a parsed repo builds no catalog: " + cat.status().ToString());
}

// Target fuzz_repo_config: feature_store.yaml.
inline int FuzzRepoConfig(const uint8_t* data, size_t size) {
  auto config = ParseRepoConfig(std::string(AsText(data, size)), "feature_store.yaml",
                                "/nonexistent-fuzz-repo");
  if (!config.ok()) {
    if (config.status().code() != ErrorCode::kConfigError) {
      Fail("YAML error of code " + std::string(ErrorCodeName(config.status().code())));
    }
    return 0;
  }
  CheckRegistryRoundTrip(std::move(config).value());
  return 0;
}

// Target fuzz_feast_registry: Feast's registry file (protobuf), imported for project "rides"
// (the seeds' project). Bad bytes are a ConfigError; anything imported round-trips.
inline int FuzzFeastRegistry(const uint8_t* data, size_t size) {
  RepoConfig c;
  c.project = "rides";
  c.repo_dir = "/nonexistent-fuzz-repo";
  Status st = ImportFeastRegistry(AsText(data, size), "registry.db", &c);
  if (!st.ok()) {
    if (st.code() != ErrorCode::kConfigError) {
      Fail("registry error of code " + std::string(ErrorCodeName(st.code())));
    }
    return 0;
  }
  CheckRegistryRoundTrip(std::move(c));
  return 0;
}

// Target fuzz_snapshot: a snapshot file (layout/snapshot_format.h) as `larder restore` checks
// it. The last 8 bytes are replaced by the checksum of the others first, so that mutations reach
// the checks behind it. Bad bytes are CorruptStore or IncompatibleStore; a snapshot accepted is
// rebuilt from what was read and accepted again, with the same rows.
inline int FuzzSnapshot(const uint8_t* data, size_t size) {
  std::string bytes(AsText(data, size));  // a heap copy: 8-byte aligned, as a file read is
  if (bytes.size() >= layout::kSnapshotChecksumBytes) {
    const size_t body = bytes.size() - layout::kSnapshotChecksumBytes;
    const uint64_t sum = XXH3_64bits(bytes.data(), body);
    std::memcpy(bytes.data() + body, &sum, sizeof(sum));
  }
  // The project the snapshot names (none when its registry does not decode).
  std::string project = "none";
  if (auto parsed = ParseSnapshot(bytes, "fuzz.snapshot"); parsed.ok()) {
    uint32_t next_id = 0;
    if (auto reg = DecodeRegistry(parsed->registry, &next_id); reg.ok()) project = reg->project;
  }
  auto checked = CheckSnapshot(bytes, "fuzz.snapshot", project);
  if (!checked.ok()) {
    const ErrorCode code = checked.status().code();
    if (code != ErrorCode::kCorruptStore && code != ErrorCode::kIncompatibleStore &&
        code != ErrorCode::kInvalidArgument && code != ErrorCode::kConfigError) {
      Fail("snapshot error of code " + std::string(ErrorCodeName(code)) + ": " +
           checked.status().message());
    }
    return 0;
  }
  SnapshotBuilder again(checked->visible_batch, checked->taken_micros,
                        EncodeRegistry(checked->registry, checked->next_view_id));
  for (const NewRow& r : checked->rows) again.AddRow(r.view_id, r.key, r.payload);
  const std::string rebuilt = std::move(again).Finish();
  auto second = CheckSnapshot(rebuilt, "rebuilt.snapshot", project);
  if (!second.ok()) Fail("a rebuilt snapshot is refused: " + second.status().ToString());
  if (second->rows.size() != checked->rows.size()) Fail("a rebuilt snapshot lost rows");
  return 0;
}

// Target fuzz_push_json: a push body ({"push_source_name", "df", "to"}), pushed for real; the
// same bytes as a write-to-online-store body and as a bare `df` / JSON-lines file.
inline int FuzzPushJson(const uint8_t* data, size_t size, bool check_every = false) {
  std::string_view text = AsText(data, size);
  (void)ReadJsonColumnsFrame(text, "fuzz.json");
  (void)ReadJsonLinesFrame(text, "fuzz.jsonl");
  auto w = ParseWriteToOnlineStoreJson(text);
  if (w.ok()) {
    // A view name is not a push source: write through the view's own push source instead.
    for (const char* src : kFuzzPushSources) {
      if (w->feature_view_name + "_push" == src) PushAndVerify(src, w->df, check_every);
    }
  }
  auto p = ParsePushRequestJson(text);
  if (!p.ok()) return 0;
  PushAndVerify(p->push_source_name, p->df, check_every);
  return 0;
}

// Target fuzz_online_request: a get-online-features body, looked up in the shared store (which
// holds a few rows) and serialized.
inline int FuzzOnlineRequest(const uint8_t* data, size_t size) {
  static bool seeded = [] {
    for (const char* src : kFuzzPushSources) {
      auto r = SharedRepo().fs().Push(src, BaseRows(0, 4, 1));
      if (!r.ok()) Fail("seeding the shared store: " + r.status().ToString());
    }
    return true;
  }();
  (void)seeded;
  auto req = ParseOnlineRequestJson(AsText(data, size));
  if (!req.ok()) return 0;
  auto resp = SharedRepo().fs().GetOnlineFeatures(*req);
  if (resp.ok()) {
    (void)OnlineResponseToJson(*resp);
  } else if (resp.status().code() == ErrorCode::kInternal) {
    Fail("lookup: " + resp.status().ToString());
  } else {
    (void)ErrorToJson(resp.status());
  }
  return 0;
}

// Target fuzz_csv: a CSV push file, pushed to every push source.
inline int FuzzCsv(const uint8_t* data, size_t size, bool check_every = false) {
  auto frame = ReadCsvFrame(AsText(data, size), "fuzz.csv");
  if (!frame.ok()) return 0;
  for (const char* src : kFuzzPushSources) PushAndVerify(src, *frame, check_every);
  return 0;
}

// Target fuzz_parquet: a Parquet file (hostile footer, page headers, lengths, dictionaries):
// every column of every row group is read; what decodes must be row-aligned and in bounds.
inline int FuzzParquet(const uint8_t* data, size_t size) {
  auto file = parquet::ParquetFile::FromBytes(std::string(AsText(data, size)), "fuzz.parquet");
  if (!file.ok()) return 0;
  const parquet::ParquetFile& f = **file;
  for (size_t rg = 0; rg < f.num_row_groups(); ++rg) {
    for (const parquet::Field& field : f.fields()) {
      (void)f.TimestampRange(rg, field);
      auto col = f.ReadColumn(rg, field);
      if (!col.ok()) continue;
      const parquet::Column& c = *col;
      size_t slots = c.rows;
      if (c.rows != static_cast<uint64_t>(f.row_group_rows(rg)) || c.valid.size() != c.rows) {
        Fail("parquet: column '" + field.name + "' is not aligned with its row group");
      }
      if (c.is_list) {
        if (c.list_begin.size() != c.rows + 1 || c.list_begin[0] != 0) Fail("parquet: list offsets");
        for (size_t r = 0; r < c.rows; ++r) {
          if (c.list_begin[r] > c.list_begin[r + 1]) Fail("parquet: list offsets go back");
        }
        slots = c.list_begin[c.rows];
        if (c.elem_valid.size() != slots) Fail("parquet: element validity");
      }
      const bool bytes = c.kind == parquet::ValueKind::kString ||
                         c.kind == parquet::ValueKind::kBytes;
      const bool reals = c.kind == parquet::ValueKind::kFloat ||
                         c.kind == parquet::ValueKind::kDouble;
      if (bytes) {
        if (c.off.size() != slots + 1) Fail("parquet: byte offsets");
        for (size_t s = 0; s < slots; ++s) {
          if (c.off[s] > c.off[s + 1] || c.off[s + 1] > c.bytes.size()) Fail("parquet: bytes");
        }
      } else if (reals ? c.f64.size() != slots : c.i64.size() != slots) {
        Fail("parquet: value count");
      }
    }
  }
  return 0;
}

// Target fuzz_timestamp: timestamps as text and as numbers, durations and byte sizes.
inline int FuzzTimestamp(const uint8_t* data, size_t size) {
  std::string_view text = AsText(data, size);
  auto ts = ParseTimestamp(text);
  if (ts.ok()) {
    std::string formatted = FormatTimestamp(*ts);
    auto again = ParseTimestamp(formatted);
    if (!again.ok() || *again != *ts) {
      Fail("timestamp '" + std::string(text) + "' formats as '" + formatted +
           "', which does not parse back to the same instant");
    }
  }
  (void)CellToTimestamp(Cell::String(std::string(text)));
  if (size >= 8) {
    double d;
    int64_t i;
    std::memcpy(&d, data, 8);
    std::memcpy(&i, data, 8);
    auto td = CellToTimestamp(Cell::Double(d));
    auto ti = CellToTimestamp(Cell::Int(i));
    if (ti.ok()) (void)FormatTimestamp(*ti);
    if (td.ok()) (void)FormatTimestamp(*td);
    for (DType t : {DType{ScalarType::kInt32, false}, DType{ScalarType::kInt64, false},
                    DType{ScalarType::kFloat32, false}, DType{ScalarType::kUnixTimestamp, false},
                    DType{ScalarType::kBool, false}}) {
      (void)CellToValue(Cell::Double(d), t);
      (void)CellToValue(Cell::Int(i), t);
    }
  }
  (void)FormatTimestamp(size >= 8 ? static_cast<TimestampMicros>(
                                        (uint64_t{data[0]} << 56) | (uint64_t{data[1]} << 48) |
                                        (uint64_t{data[2]} << 40) | (uint64_t{data[3]} << 32) |
                                        (uint64_t{data[4]} << 24) | (uint64_t{data[5]} << 16) |
                                        (uint64_t{data[6]} << 8) | data[7])
                                  : 0);
  (void)ParseDuration(text);
  (void)ParseByteSize(text);
  (void)ParseDType(text);
  (void)Base64Decode(text);
  for (DType t : {DType{ScalarType::kInt32, false}, DType{ScalarType::kInt64, false},
                  DType{ScalarType::kFloat32, false}, DType{ScalarType::kFloat64, false},
                  DType{ScalarType::kBool, false}, DType{ScalarType::kUnixTimestamp, false},
                  DType{ScalarType::kBytes, false}, DType{ScalarType::kInt64, true},
                  DType{ScalarType::kString, true}, DType{ScalarType::kFloat32, true}}) {
    (void)CellToValue(Cell::String(std::string(text)), t);
  }
  return 0;
}

}  // namespace larder::fuzz

namespace larder::fuzz {

// Views whose rows fuzz_row_verify checks (tests/row_verify_test.cc uses them too): `flat`
// and `floats` (scalars and strings: the written-out checks), `every_kind` (every storage
// class: the reference path).
inline constexpr char kRowVerifyRepo[] = R"(project: fuzz
entities:
  - {name: e, join_keys: [id], value_type: Int64}
sources:
  - {name: f, type: file, path: x.csv, timestamp_field: ts}
feature_views:
  - name: every_kind
    entities: [e]
    source: f
    schema:
      - {name: i32, dtype: Int32}
      - {name: i64, dtype: Int64}
      - {name: f32, dtype: Float32}
      - {name: f64, dtype: Float64}
      - {name: b, dtype: Bool}
      - {name: s, dtype: String}
      - {name: by, dtype: Bytes}
      - {name: ts, dtype: UnixTimestamp}
      - {name: ai32, dtype: Array(Int32)}
      - {name: ai64, dtype: Array(Int64)}
      - {name: af32, dtype: Array(Float32)}
      - {name: af64, dtype: Array(Float64)}
      - {name: ab, dtype: Array(Bool)}
      - {name: as, dtype: Array(String)}
      - {name: aby, dtype: Array(Bytes)}
  - name: floats
    entities: [e]
    source: f
    schema:
      - {name: a, dtype: Float32}
      - {name: b, dtype: Float32}
  - name: flat
    entities: [e]
    source: f
    schema:
      - {name: i32, dtype: Int32}
      - {name: i64, dtype: Int64}
      - {name: f32, dtype: Float32}
      - {name: f64, dtype: Float64}
      - {name: b, dtype: Bool}
      - {name: s, dtype: String}
      - {name: s2, dtype: String}
      - {name: ts, dtype: UnixTimestamp}
)";

inline const Catalog& RowVerifyCatalog() {
  static const std::shared_ptr<const Catalog> cat = [] {
    auto config = ParseRepoConfig(kRowVerifyRepo, "feature_store.yaml", "/fuzz");
    if (!config.ok()) Fail("row verify repo: " + config.status().ToString());
    uint32_t id = 1;
    for (FeatureViewDef& v : config->views) v.id = id++;
    auto built = Catalog::Build(std::move(config).value(), 1);
    if (!built.ok()) Fail("row verify catalog: " + built.status().ToString());
    return std::move(built).value();
  }();
  return *cat;
}

// The bytes are a row buffer (a heap copy of exactly `size` bytes: malloc's alignment, as a
// row's 8-aligned place in the segment, and ASan sees any read past its end).
inline int FuzzRowVerify(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::vector<uint8_t> row(data, data + size);
  for (const ViewInfo& view : RowVerifyCatalog().views()) {
    const bool fast = VerifyRowForView(row.data(), size, view);
    if (fast != VerifyRowForViewReference(row.data(), size, view)) {
      Fail("VerifyRowForView says " + std::string(fast ? "valid" : "invalid") + " for view '" +
           view.def.name + "', the reference verifier the opposite");
    }
    if (!fast) continue;
    const fb::Row* r = RowFromBuffer(row.data());
    const auto* nulls = r->nulls();
    for (const FeatureInfo& f : view.features) {
      Value out;
      if (!IsNullIn(nulls, f)) (void)DecodeFeature(r, f, &out);
    }
  }
  return 0;
}

}  // namespace larder::fuzz
