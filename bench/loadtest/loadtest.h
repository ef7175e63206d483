// larder_loadtest: the load harness (docs/benchmarks.md). Shared declarations.
//
// The parent process builds the data set in every system under test, then runs each
// configuration (system x reader count) in rounds, interleaved: in every round each
// configuration forks its reader processes (and, for "larder+writer", one writer process),
// which attach on their own, warm up, meet at a start barrier (a pipe the parent closes),
// look up the same pre-generated entity sequence for a fixed time, and send their latency
// histogram back through a pipe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/loadtest/histogram.h"
#include "engine/rows/catalog.h"
#include "larder/online.h"

namespace larder::loadtest {

struct Config {
  int64_t entities = 1'000'000;
  int float_features = 10;
  int string_features = 1;
  std::vector<int> readers = {1};
  int batch = 1;
  std::string dist = "uniform";  // uniform | zipf
  // Larder's build: "bucket" pushes ids in the order materialize writes a bulk load (each
  // index bucket's rows side by side); "id" pushes them in id order, as streaming pushes of
  // unrelated keys lay rows out (bench/common/bucket_order.h).
  std::string build_order = "bucket";
  double zipf_s = 0.99;
  double duration = 3;  // seconds per configuration per round
  int rounds = 3;
  double warmup = 0.5;  // seconds of unrecorded lookups before the barrier
  bool writer = false;
  double write_rate = 0;  // rows/s; 0 = flat out
  int write_batch = 1000;
  std::vector<std::string> compare;  // redis, lmdb
  std::string redis_read = "hmget";  // hmget | hgetall | both
  std::string redis_server = "redis-server";
  uint64_t sequence = uint64_t{1} << 22;
  uint64_t seed = 42;
  std::string json = "loadtest.json";
  std::string dir = "/dev/shm";
  bool columnar = false;  // also run larder-columnar (on by default when batch > 1)
  bool verify_rows = true;  // Larder's ReaderOptions::verify_rows; LMDB verifies likewise
};

// The data set: entity e (0..entities-1) has Float32 feature i = FloatValue(e, i) and String
// feature j = "user-<e>-<j>", event timestamp kBaseSeconds.
inline constexpr int64_t kBaseSeconds = 1'767'225'600;  // 2026-01-01T00:00:00Z
inline float FloatValue(int64_t e, int i) {
  return static_cast<float>(e % 1000003) * 0.25f + static_cast<float>(i);
}
inline std::string StringValue(int64_t e, int j) {
  return "user-" + std::to_string(e) + "-" + std::to_string(j);
}
std::vector<std::string> FeatureNames(const Config& c);  // f0.., then s0..
inline constexpr const char* kProject = "loadtest";
inline constexpr const char* kView = "stats";
inline constexpr const char* kJoinKey = "user_id";

// Everything a child process needs to reach the systems (set up by the parent before fork).
struct Env {
  Config cfg;
  std::string tmp_dir;       // repo, redis socket and log
  std::string repo_dir;
  std::string segment_path;
  std::string lmdb_path;
  std::string redis_socket;
  int redis_port = 0;
  std::shared_ptr<const Catalog> catalog;  // the segment's registry (LMDB decodes with it)
  std::vector<int64_t> sequence;           // entity ids to look up, + batch ids wrapped
};

// A client of one system inside a reader process. Lookup() looks up `n` entities, filling the
// same response (Feast's shape: values, statuses, timestamps) for every system, and returns
// how many were found, or -1 on an error (then error() says why).
class Client {
 public:
  virtual ~Client() = default;
  virtual int64_t Lookup(const int64_t* ids, size_t n) = 0;
  // True when row r of the last lookup holds entity `id`'s data set values.
  virtual bool Check(size_t r, int64_t id) const = 0;
  const std::string& error() const { return error_; }

 protected:
  std::string error_;
};

// Checks an OnlineResponse row against the data set (features in FeatureNames order, after
// the join-key column).
bool CheckResponseRow(const Config& c, const OnlineResponse& resp, size_t r, int64_t id);
// Sizes `resp` for n rows of the data set's features (all NOT_FOUND), reusing buffers.
void PrepareResponse(const Config& c, size_t n, OnlineResponse* resp);

// ---- Systems ----
// Larder: build in the parent; clients in the children.
struct LarderBuild {
  double seconds = 0;
  double bytes_per_entity = 0;      // segment bytes (header + arena) / entities
  double encoded_row_bytes = 0;     // key + FlatBuffer row
  double row_block_bytes = 0;
  uint64_t index_buckets = 0;
  double index_load = 0;
  double probe_avg = 0;
  uint64_t probe_max = 0;
  double run_hint_cover = 0;  // rows inside their bucket's run hint (index_stats.h)
};
std::string BuildLarder(Env& env, LarderBuild* out);  // "" or an error
std::unique_ptr<Client> MakeLarderClient(const Env& env, bool columnar, std::string* error);

// The writer process body: opens the store and prepares its batches, calls ready_wait()
// (which announces readiness, waits for the start barrier and returns the deadline on the
// steady clock), then pushes until the deadline, flat out or at cfg.write_rate, recording
// each push's latency. `run` (unique per run of the test) keeps timestamps increasing.
// Returns rows written (rows skipped as older are counted apart), or -1 (error set).
int64_t RunWriter(const Env& env, int run, const std::function<int64_t()>& ready_wait,
                  Histogram* push_latency, int64_t* elapsed_ns, int64_t* skipped,
                  std::string* error);

// Redis (Feast's layout), a redis-server of our own.
struct RedisBuild {
  double seconds = 0;
  double bytes_per_entity = 0;  // used_memory growth / entities
  std::string version;
};
bool RedisAvailable();
std::string StartRedis(Env& env);                   // "" or an error
std::string LoadRedis(const Env& env, RedisBuild* out);
void StopRedis();
// transport: "tcp" | "unix"; command: "hmget" | "hgetall".
std::unique_ptr<Client> MakeRedisClient(const Env& env, const std::string& transport,
                                        const std::string& command, std::string* error);

// LMDB: key = Larder's entity key bytes, value = Larder's FlatBuffer row.
struct LmdbBuild {
  double seconds = 0;
  double bytes_per_entity = 0;  // used pages * page size / entities
  uint32_t depth = 0;
  std::string version;
};
bool LmdbAvailable();
std::string BuildLmdb(const Env& env, LmdbBuild* out);
std::unique_ptr<Client> MakeLmdbClient(const Env& env, std::string* error);

// The steady clock in nanoseconds.
int64_t NowNs();

// The lookup sequence (seeded; uniform or Zipfian over the entities): cfg.sequence ids,
// followed by its first cfg.batch ids again so a batch never wraps.
std::vector<int64_t> MakeSequence(const Config& c);

}  // namespace larder::loadtest
