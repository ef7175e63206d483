// Replays the fuzz targets (fuzz/fuzz_targets.h) over their seed corpora (fuzz/corpus/<target>/)
// and over every input that once crashed one (fuzz/regressions/<target>/), in every build (GCC,
// ASan + UBSan, TSan): a crash found by scripts/fuzz.sh becomes a file here and stays fixed.
// The targets abort() when an invariant fails; the push targets check the store after every
// push here.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fuzz/fuzz_segment_live.h"
#include "fuzz/fuzz_targets.h"
#include "tests/store_fixture.h"
#include "tests/test_util.h"

namespace larder {
namespace {

namespace stdfs = std::filesystem;

// Files of fuzz/<kind>/<target>/, sorted.
std::vector<std::string> Inputs(const std::string& kind, const std::string& target) {
  std::vector<std::string> out;
  stdfs::path dir = stdfs::path(LARDER_SOURCE_DIR) / "fuzz" / kind / target;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

using Target = std::function<int(const uint8_t*, size_t)>;

// Runs `fn` over every corpus and regression file of `target`; returns how many.
size_t Replay(const std::string& target, const Target& fn) {
  size_t n = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    for (const std::string& path : Inputs(kind, target)) {
      SCOPED_TRACE(path);
      std::string bytes = testing::ReadFile(path);
      fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++n;
    }
  }
  return n;
}

TEST(FuzzRegression, Segment) { EXPECT_GT(Replay("segment", fuzz::FuzzSegment), 3u); }

TEST(FuzzRegression, SegmentMutate) {
  EXPECT_GT(Replay("segment_mutate", fuzz::FuzzSegmentMutate), 3u);
}

// In-process only: the damage is written into the live segment under the attached reader, but
// without fuzz_segment_live's reader process (a process forked for the rest of the test binary
// is not worth it here; the fuzzer's runs have it).
TEST(FuzzRegression, SegmentLive) {
  EXPECT_GT(Replay("segment_live",
                   [](const uint8_t* d, size_t n) { return fuzz::FuzzSegmentLive(d, n, false); }),
            3u);
}

TEST(FuzzRegression, RepoConfig) { EXPECT_GT(Replay("repo_config", fuzz::FuzzRepoConfig), 3u); }
TEST(FuzzRegression, FeastRegistry) {
  EXPECT_GE(Replay("feast_registry", fuzz::FuzzFeastRegistry), 2u);
}

TEST(FuzzRegression, Snapshot) { EXPECT_GE(Replay("snapshot", fuzz::FuzzSnapshot), 2u); }

TEST(FuzzRegression, PushJson) {
  EXPECT_GT(Replay("push_json",
                   [](const uint8_t* d, size_t n) { return fuzz::FuzzPushJson(d, n, true); }),
            3u);
}

TEST(FuzzRegression, OnlineRequest) {
  EXPECT_GT(Replay("online_request", fuzz::FuzzOnlineRequest), 3u);
}

TEST(FuzzRegression, Csv) {
  EXPECT_GT(Replay("csv", [](const uint8_t* d, size_t n) { return fuzz::FuzzCsv(d, n, true); }),
            3u);
}

TEST(FuzzRegression, Parquet) { EXPECT_GT(Replay("parquet", fuzz::FuzzParquet), 3u); }

TEST(FuzzRegression, Timestamp) { EXPECT_GT(Replay("timestamp", fuzz::FuzzTimestamp), 3u); }

TEST(FuzzRegression, RowVerify) { EXPECT_GT(Replay("row_verify", fuzz::FuzzRowVerify), 3u); }

TEST(FuzzRegression, SegmentWriter) {
  EXPECT_GT(Replay("segment_writer", fuzz::FuzzSegmentWriter), 3u);
}

// Found by fuzz_segment_mutate: a damaged row's vector of doubles 4 bytes off its alignment
// passed FlatBuffers' verifier and was read misaligned; VerifyRowBuffer now refuses it. Valid
// rows must still pass, empty 8-byte arrays included (the builder does not align those).
TEST(FuzzRegression, RowsWithEmptyAndFullEightByteArraysVerify) {
  testing::Repo repo;
  repo.Write(std::string(testing::kDriverPreamble) + R"(feature_views:
  - name: arrs
    entities: [driver]
    source: stats_push
    schema:
      - {name: f, dtype: Array(Float64)}
      - {name: i, dtype: Array(Int64)}
      - {name: t, dtype: Array(UnixTimestamp)}
      - {name: s, dtype: Array(String)}
      - {name: x, dtype: Float64}
)");
  auto fs = repo.OpenApplied();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  std::vector<Cell> ids, f, i, t, s, x;
  for (int64_t k = 0; k < 12; ++k) {
    std::vector<Cell> elems;
    for (int64_t e = 0; e < k % 4; ++e) elems.push_back(Cell::Int(e + 1));
    ids.push_back(Cell::Int(k));
    f.push_back(Cell::Array(elems));
    i.push_back(Cell::Array(elems));
    t.push_back(Cell::Array(elems));
    s.push_back(
        Cell::Array(k % 3 == 0 ? std::vector<Cell>{} : std::vector<Cell>{Cell::String("a")}));
    x.push_back(Cell::Double(0.5));
  }
  Frame frame = testing::MakeFrame({{"driver_id", ids},
                                    {"f", f},
                                    {"i", i},
                                    {"t", t},
                                    {"s", s},
                                    {"x", x},
                                    {"event_timestamp", testing::Repeat(Cell::Int(1), 12)}});
  ASSERT_TRUE((*fs)->Push("stats_push", frame).ok());
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < 12; ++k) keys.push_back(k);
  auto r = (*fs)->GetOnlineFeatures(
      testing::Features({"arrs:f", "arrs:i", "arrs:t", "arrs:s", "arrs:x"},
                        testing::MakeFrame({{"driver_id", testing::Ints(keys)}})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (size_t c = 1; c < r->results.size(); ++c) {
    for (size_t k = 0; k < keys.size(); ++k) {
      EXPECT_EQ(r->results[c].statuses[k], FieldStatus::kPresent) << "column " << c << " row " << k;
    }
  }
  auto check = (*fs)->Check();
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok()) << check->violations[0];
}

// Found by fuzz_repo_config: yaml-cpp's LoadAll() never returned on a stray ',' at the top level.
TEST(FuzzRegression, StrayCommaInYamlIsAnErrorNotAHang) {
  for (const char* text : {",\n $psrprojebt", ",", ", a", "project: p\n,\n"}) {
    SCOPED_TRACE(text);
    auto r = ParseRepoConfig(text, "feature_store.yaml", "/nonexistent");
    EXPECT_EQ(r.status().code(), ErrorCode::kConfigError) << r.status().ToString();
  }
}

// Found by every fuzz target at exit: a Store destroyed after the main thread's thread_local
// objects (a reader held in a static) used a destroyed per-thread catalog cache. The child's
// exit runs that order; under ASan it reported a heap-use-after-free.
TEST(FuzzRegression, StoreHeldInAStaticIsDestroyedSafelyAtExit) {
  testing::Repo repo;
  repo.Write(std::string(testing::kDriverPreamble) + R"(feature_views:
  - name: v
    entities: [driver]
    source: stats_push
    schema:
      - {name: x, dtype: Int64}
)");
  ASSERT_TRUE(repo.OpenApplied().ok());
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    static std::unique_ptr<OnlineReader> reader;  // destroyed after thread_locals, at exit
    auto r = OnlineReader::Attach(repo.segment());
    if (!r.ok()) ::_exit(2);
    reader = std::move(r).value();
    if (!reader->Inspect().ok()) ::_exit(3);
    std::exit(0);
  }
  int status = testing::WaitChild(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::DescribeWait(status);
}

}  // namespace
}  // namespace larder
