// Shared helpers for the engine tests (store_test.cc, multiprocess_test.cc, crash_test.cc):
// a fixture that writes a feature repo (feature_store.yaml) into a TempDir with its online store
// in a unique /dev/shm segment, frame and request builders, and status assertions.
// Header-only: tests/CMakeLists.txt compiles *_test.cc and test_util.cc only.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "larder/feature_store.h"
#include "larder/frame.h"
#include "larder/online.h"
#include "larder/status.h"
#include "layout/segment_layout.h"
#include "tests/test_util.h"

namespace larder::testing {

// ---- Status assertions ----------------------------------------------------------------------

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

// ASSERT_OK(expr): expr is a Status or a Result<T>.
#define LARDER_ASSERT_OK(expr)                                                        \
  do {                                                                                \
    const auto& _larder_v = (expr);                                                   \
    ASSERT_TRUE(_larder_v.ok()) << ::larder::testing::StatusOf(_larder_v).ToString(); \
  } while (0)
#define LARDER_EXPECT_OK(expr)                                                        \
  do {                                                                                \
    const auto& _larder_v = (expr);                                                   \
    EXPECT_TRUE(_larder_v.ok()) << ::larder::testing::StatusOf(_larder_v).ToString(); \
  } while (0)

// ASSERT_OK_AND_ASSIGN(auto x, expr): declares x from an OK Result, or fails the test.
#define LARDER_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  LARDER_ASSERT_OK_AND_ASSIGN_IMPL(LARDER_CONCAT(_larder_t_, __LINE__), lhs, expr)
#define LARDER_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();      \
  lhs = std::move(tmp).value()

// `st` failed with `code` and its message contains every one of `parts`.
inline ::testing::AssertionResult IsError(const Status& st, ErrorCode code,
                                          std::initializer_list<std::string> parts) {
  if (st.ok())
    return ::testing::AssertionFailure() << "succeeded; expected " << ErrorCodeName(code);
  if (st.code() != code) {
    return ::testing::AssertionFailure() << "code " << ErrorCodeName(st.code()) << ", expected "
                                         << ErrorCodeName(code) << ": " << st.message();
  }
  for (const std::string& p : parts) {
    if (st.message().find(p) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message '" << st.message() << "' lacks '" << p << "'";
    }
  }
  return ::testing::AssertionSuccess();
}
template <typename T>
::testing::AssertionResult IsError(const Result<T>& r, ErrorCode code,
                                   std::initializer_list<std::string> parts) {
  return IsError(r.status(), code, parts);
}

// ---- Cells and frames -----------------------------------------------------------------------

inline Cell I(int64_t v) { return Cell::Int(v); }
inline Cell F(double v) { return Cell::Double(v); }
inline Cell S(std::string v) { return Cell::String(std::move(v)); }
inline Cell B(std::string v) { return Cell::Bytes(std::move(v)); }
inline Cell Bool(bool v) { return Cell::Bool(v); }
inline Cell Null() { return Cell::Null(); }
inline Cell Arr(std::vector<Cell> v) { return Cell::Array(std::move(v)); }

inline std::vector<Cell> Ints(const std::vector<int64_t>& v) {
  std::vector<Cell> out;
  out.reserve(v.size());
  for (int64_t x : v) out.push_back(Cell::Int(x));
  return out;
}
inline std::vector<Cell> Repeat(const Cell& c, size_t n) { return std::vector<Cell>(n, c); }
// first, first+1, ..., first+n-1
inline std::vector<Cell> Range(int64_t first, size_t n) {
  std::vector<Cell> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(Cell::Int(first + static_cast<int64_t>(i)));
  return out;
}

using Column = std::pair<std::string, std::vector<Cell>>;

inline Frame MakeFrame(std::vector<Column> cols, std::string origin = "request body") {
  Frame f;
  f.origin = std::move(origin);
  for (auto& [name, cells] : cols) {
    f.names.push_back(name);
    f.columns.push_back(std::move(cells));
  }
  return f;
}

inline OnlineRequest Features(std::vector<std::string> refs, Frame entities, bool full = false) {
  OnlineRequest r;
  r.features = std::move(refs);
  r.entities = std::move(entities);
  r.full_feature_names = full;
  return r;
}
inline OnlineRequest Service(std::string name, Frame entities, bool full = false) {
  OnlineRequest r;
  r.feature_service = std::move(name);
  r.entities = std::move(entities);
  r.full_feature_names = full;
  return r;
}

inline int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
constexpr int64_t kMicros = 1'000'000;

// Index of an output column by name, or -1.
inline int ColumnIndex(const OnlineResponse& r, const std::string& name) {
  for (size_t i = 0; i < r.feature_names.size(); ++i) {
    if (r.feature_names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

// Values equal, with NaN equal to NaN (Value's operator== follows IEEE).
inline bool SameDouble(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }
inline ::testing::AssertionResult SameValue(const Value& want, const Value& got) {
  auto fail = [&](const char* what) {
    return ::testing::AssertionFailure()
           << what << " differs (dtype " << DTypeName(want.dtype) << " vs " << DTypeName(got.dtype)
           << ", null " << want.is_null << " vs " << got.is_null << ")";
  };
  if (!(want.dtype == got.dtype)) return fail("dtype");
  if (want.is_null != got.is_null) return fail("null");
  if (want.is_null) return ::testing::AssertionSuccess();
  if (want.i64 != got.i64) {
    return ::testing::AssertionFailure() << "i64 " << want.i64 << " vs " << got.i64;
  }
  if (!SameDouble(want.f64, got.f64)) {
    return ::testing::AssertionFailure() << "f64 " << want.f64 << " vs " << got.f64;
  }
  if (want.str != got.str) return fail("str");
  if (want.i64s != got.i64s) return fail("i64s");
  if (want.strs != got.strs) return fail("strs");
  if (want.f64s.size() != got.f64s.size()) return fail("f64s size");
  for (size_t i = 0; i < want.f64s.size(); ++i) {
    if (!SameDouble(want.f64s[i], got.f64s[i])) {
      return ::testing::AssertionFailure()
             << "f64s[" << i << "] " << want.f64s[i] << " vs " << got.f64s[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// ---- The repo fixture -----------------------------------------------------------------------

struct StoreOptions {
  uint64_t initial_capacity = 1000;
  std::string memory_limit = "16MiB";
  std::string path;             // the online store's path; "" = the Repo's own unique segment path
  std::string file_mode;        // online_store.file_mode; "" = the default
  std::string reader_grace_ms;  // online_store.reader_grace_ms; "" = the default
};

// The common entity/source preamble: entity `driver` (driver_id Int64), file source
// `stats_file` (event_timestamp, created) and push source `stats_push` reading it.
inline constexpr char kDriverPreamble[] = R"(entities:
  - name: driver
    join_keys: [driver_id]
    value_type: Int64
sources:
  - name: stats_file
    type: file
    path: data/stats.csv
    timestamp_field: event_timestamp
    created_timestamp_column: created
  - name: stats_push
    type: push
    batch_source: stats_file
)";

// View `driver_stats` (trips Int64, conv_rate Float64) on kDriverPreamble's stats_push.
inline constexpr char kTripsView[] = R"(feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips, dtype: Int64}
      - {name: conv_rate, dtype: Float64}
)";

// Rows of kTripsView for ids [first, first + n): trips = trips_base + id, conv_rate = trips / 4,
// event time `event_s` (seconds); no created column (created 0).
inline Frame TripsRows(int64_t first, int64_t n, int64_t trips_base, int64_t event_s) {
  std::vector<int64_t> ids, trips;
  std::vector<Cell> conv;
  for (int64_t id = first; id < first + n; ++id) {
    ids.push_back(id);
    trips.push_back(trips_base + id);
    conv.push_back(Cell::Double(static_cast<double>(trips_base + id) / 4));
  }
  return MakeFrame({{"driver_id", Ints(ids)},
                    {"trips", Ints(trips)},
                    {"conv_rate", std::move(conv)},
                    {"event_timestamp", std::vector<Cell>(ids.size(), Cell::Int(event_s))}});
}

// A repo directory holding feature_store.yaml whose online store lives at a unique /dev/shm
// path; everything is removed on destruction.
class Repo {
 public:
  Repo() = default;
  Repo(const Repo&) = delete;
  Repo& operator=(const Repo&) = delete;

  const std::string& dir() const { return dir_.path(); }
  const std::string& segment() const { return seg_.path(); }

  // Writes feature_store.yaml: project + online_store, then `body` (entities, sources, views,
  // services) verbatim.
  void Write(const std::string& body, const StoreOptions& opts = {}) const {
    const std::string& path = opts.path.empty() ? seg_.path() : opts.path;
    std::string yaml = "project: larder_test\nonline_store:\n  path: " + path + "\n";
    yaml += "  initial_capacity: " + std::to_string(opts.initial_capacity) + "\n";
    yaml += "  memory_limit: " + opts.memory_limit + "\n";
    if (!opts.file_mode.empty()) yaml += "  file_mode: \"" + opts.file_mode + "\"\n";
    if (!opts.reader_grace_ms.empty()) yaml += "  reader_grace_ms: " + opts.reader_grace_ms + "\n";
    yaml += body;
    dir_.Write("feature_store.yaml", yaml);
  }

  // Opens the repo (parsing the YAML now on disk).
  Result<std::unique_ptr<FeatureStore>> Open() const { return FeatureStore::Open(dir_.path()); }

  // Opens the repo and applies it (with `options.force`: even a change that discards rows).
  Result<std::unique_ptr<FeatureStore>> OpenApplied(ApplyReport* report = nullptr,
                                                    ApplyOptions options = {}) const {
    LARDER_ASSIGN_OR_RETURN(auto fs, Open());
    LARDER_ASSIGN_OR_RETURN(ApplyReport r, fs->Apply(options));
    if (report != nullptr) *report = std::move(r);
    return fs;
  }

 private:
  TempDir dir_;
  TempSegmentPath seg_;
};

// The whole segment file, mapped read-write, as no reader or writer maps it: for tests that
// damage or rewrite bytes of the store (allocator state, links, run hints) behind its back.
class RawSegment {
 public:
  explicit RawSegment(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(layout::kHeaderSize)) {
      size_ = static_cast<size_t>(st.st_size);
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) base_ = static_cast<uint8_t*>(p);
    }
    ::close(fd);
  }
  RawSegment(const RawSegment&) = delete;
  RawSegment& operator=(const RawSegment&) = delete;
  ~RawSegment() {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  layout::SegmentHeader* header() const { return reinterpret_cast<layout::SegmentHeader*>(base_); }
  layout::BlockHeader* block(uint64_t offset) const {
    return reinterpret_cast<layout::BlockHeader*>(base_ + offset);
  }
  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

// Tests that own one repo.
class StoreFixture : public ::testing::Test {
 protected:
  Repo repo_;
};

// ---- Child processes ------------------------------------------------------------------------

// How a child ended, for messages: "exit 3", "signal 9".
inline std::string DescribeWait(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// waitpid that retries on EINTR; returns the wait status (or -1).
inline int WaitChild(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

// Writes all of `len` bytes (a child's report through a pipe).
inline bool WriteAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}
// Reads up to `len` bytes until EOF; returns the count read.
inline size_t ReadAll(int fd, void* data, size_t len) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::read(fd, p + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

}  // namespace larder::testing
