// larder_loadtest: Larder under load, side by side with Redis (Feast's layout) and LMDB.
//
//   build/bin/larder_loadtest                                   # Larder alone, 1 reader
//   build/bin/larder_loadtest --compare redis,lmdb --readers 1,2 --writer
//   build/bin/larder_loadtest --compare redis,lmdb --batch 100
//
// See docs/benchmarks.md. Every configuration (system x reader count) runs once per round, in
// the same order each round, so slow drifts of a shared machine hit every system alike; the
// table reports the median over rounds of each round's figures, and ratios to Larder.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/cleanup.h"
#include "bench/loadtest/json_writer.h"
#include "bench/loadtest/loadtest.h"

namespace larder::loadtest {

namespace {

// ---- Child processes and what they send back ---------------------------------------------

// Sent through a pipe by every reader and writer process: plain bytes.
struct ChildResult {
  int32_t ok = 0;
  char error[500] = {};
  uint64_t ops = 0;        // requests (a request looks up `batch` entities)
  uint64_t entities = 0;   // entity lookups
  uint64_t found = 0;
  uint64_t verified = 0;   // rows compared with the data set during warm-up
  uint64_t verify_failures = 0;
  int64_t elapsed_ns = 0;
  int64_t cpu_ns = 0;       // user + system CPU time while measuring (getrusage)
  int64_t preempted = 0;    // involuntary context switches while measuring
  int64_t writer_rows = 0;
  int64_t writer_skipped = 0;
  Histogram hist;          // per request (reader) or per push (writer), nanoseconds
};
static_assert(std::is_trivially_copyable_v<ChildResult>);

bool WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void SetError(ChildResult* r, const std::string& e) {
  r->ok = 0;
  std::snprintf(r->error, sizeof(r->error), "%s", e.c_str());
}

struct CpuMark {
  int64_t cpu_ns = 0;
  int64_t nivcsw = 0;
};
CpuMark CpuNow() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) { return int64_t{tv.tv_sec} * 1'000'000'000 + tv.tv_usec * 1000; };
  return {ns(ru.ru_utime) + ns(ru.ru_stime), ru.ru_nivcsw};
}

// Blocks until the parent closes the barrier's write end (EOF for every child at once).
void AwaitStart(int go_fd) {
  char c;
  while (::read(go_fd, &c, 1) < 0 && errno == EINTR) {
  }
}

struct Spec {
  std::string system;  // larder, larder-columnar, larder+writer, redis-tcp[-hgetall], ...
  int readers = 1;
  std::string name() const { return system + " x" + std::to_string(readers); }
};

std::unique_ptr<Client> MakeClient(const Env& env, const std::string& system, std::string* err) {
  if (system == "larder" || system == "larder+writer") return MakeLarderClient(env, false, err);
  if (system == "larder-columnar") return MakeLarderClient(env, true, err);
  if (system == "lmdb") return MakeLmdbClient(env, err);
  if (system.rfind("redis-", 0) == 0) {
    const bool hgetall = system.size() > 8 && system.substr(system.size() - 8) == "-hgetall";
    const std::string transport = system.substr(6, system.find('-', 6) - 6);
    return MakeRedisClient(env, transport, hgetall ? "hgetall" : "hmget", err);
  }
  *err = "unknown system " + system;
  return nullptr;
}

void ReaderMain(const Env& env, const Spec& spec, int index, int ready_fd, int go_fd,
                ChildResult* res) {
  const Config& c = env.cfg;
  std::string err;
  std::unique_ptr<Client> client = MakeClient(env, spec.system, &err);
  auto fail = [&](const std::string& e) {
    SetError(res, e);
    WriteAll(ready_fd, "E", 1);
  };
  if (!client) return fail(err);
  const size_t batch = static_cast<size_t>(c.batch);
  const size_t len = env.sequence.size() - batch;
  // Reader i starts at its own place in the shared sequence: the same places for every system.
  const size_t start = len / static_cast<size_t>(spec.readers) * static_cast<size_t>(index);
  const int64_t* seq = env.sequence.data();
  size_t pos = start;
  // Warm-up (not recorded): also checks returned values against the data set.
  const int64_t warm_end = NowNs() + static_cast<int64_t>(c.warmup * 1e9);
  do {
    int64_t found = client->Lookup(seq + pos, batch);
    if (found < 0) return fail(client->error());
    for (size_t r = 0; r < batch && res->verified < 1000; ++r, ++res->verified) {
      if (!client->Check(r, seq[pos + r])) ++res->verify_failures;
    }
    pos += batch;
    if (pos >= len) pos -= len;
  } while (NowNs() < warm_end || res->verified < std::min<uint64_t>(1000, len));
  WriteAll(ready_fd, "R", 1);
  AwaitStart(go_fd);

  pos = start;
  const CpuMark cpu0 = CpuNow();
  const int64_t t_start = NowNs();
  const int64_t deadline = t_start + static_cast<int64_t>(c.duration * 1e9);
  int64_t t1 = t_start;
  while (true) {
    const int64_t t0 = NowNs();
    const int64_t found = client->Lookup(seq + pos, batch);
    t1 = NowNs();
    if (found < 0) {
      SetError(res, client->error());
      return;
    }
    res->hist.Record(static_cast<uint64_t>(t1 - t0));
    ++res->ops;
    res->entities += batch;
    res->found += static_cast<uint64_t>(found);
    pos += batch;
    if (pos >= len) pos -= len;
    if (t1 >= deadline) break;
  }
  res->elapsed_ns = t1 - t_start;
  const CpuMark cpu1 = CpuNow();
  res->cpu_ns = cpu1.cpu_ns - cpu0.cpu_ns;
  res->preempted = cpu1.nivcsw - cpu0.nivcsw;
  res->ok = 1;
}

void WriterMain(const Env& env, int run, int ready_fd, int go_fd, ChildResult* res) {
  bool signalled = false;
  CpuMark cpu0;
  auto ready_wait = [&]() -> int64_t {
    signalled = true;
    WriteAll(ready_fd, "R", 1);
    AwaitStart(go_fd);
    cpu0 = CpuNow();
    return NowNs() + static_cast<int64_t>(env.cfg.duration * 1e9);
  };
  std::string err;
  const int64_t rows =
      RunWriter(env, run, ready_wait, &res->hist, &res->elapsed_ns, &res->writer_skipped, &err);
  res->cpu_ns = CpuNow().cpu_ns - cpu0.cpu_ns;
  if (rows < 0) {
    SetError(res, err);
    if (!signalled) WriteAll(ready_fd, "E", 1);
    return;
  }
  res->writer_rows = rows;
  res->ok = 1;
}

// ---- One run of one configuration ----------------------------------------------------------

struct RoundResult {
  std::vector<ChildResult> readers;
  bool has_writer = false;
  ChildResult writer;
  Histogram merged;
  double lookups_per_s = 0;  // entity lookups per second, all readers
  double ops_per_s = 0;
  double cpu = 0;            // CPU the readers got, in cores (sum of CPU time / wall time)
};

struct Child {
  pid_t pid = 0;
  int result_fd = -1;
};

Child Spawn(int ready_w, int go_r, const std::vector<int>& close_in_child,
            const std::function<void(ChildResult*)>& body) {
  int res[2];
  if (::pipe2(res, O_CLOEXEC) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid == 0) {
    bench::Cleanup::DisarmInChild();
    // Its own session, so each reader and the writer is scheduled as an independent service
    // would be (with sched_autogroup, all processes of one session share one CPU share); and
    // it dies with the harness.
    ::setsid();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(res[0]);
    for (int fd : close_in_child) ::close(fd);
    auto* r = new ChildResult();
    body(r);
    WriteAll(res[1], r, sizeof(*r));
    ::close(res[1]);
    (void)ready_w;
    (void)go_r;
    _exit(0);  // no destructors of the parent's objects, no atexit cleanup
  }
  ::close(res[1]);
  return {pid, res[0]};
}

// `run` numbers every run of the whole test (the writer's timestamps grow with it).
RoundResult RunOnce(const Env& env, const Spec& spec, int run) {
  int ready[2], go[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  RoundResult rr;
  std::vector<Child> children;
  std::vector<int> close_in_child = {ready[0], go[1]};
  for (int i = 0; i < spec.readers; ++i) {
    children.push_back(Spawn(ready[1], go[0], close_in_child, [&, i](ChildResult* r) {
      ReaderMain(env, spec, i, ready[1], go[0], r);
    }));
    close_in_child.push_back(children.back().result_fd);
  }
  rr.has_writer = spec.system == "larder+writer";
  if (rr.has_writer) {
    children.push_back(Spawn(ready[1], go[0], close_in_child, [&](ChildResult* r) {
      WriterMain(env, run, ready[1], go[0], r);
    }));
  }
  ::close(ready[1]);
  ::close(go[0]);
  size_t ready_count = 0;
  bool any_error = false;
  for (size_t i = 0; i < children.size(); ++i) {
    char c;
    if (!ReadAll(ready[0], &c, 1)) break;  // a child died before it was ready
    ++ready_count;
    any_error = any_error || c != 'R';
  }
  ::close(go[1]);  // the start barrier: every child's read() returns now
  ::close(ready[0]);
  std::string errors;
  for (size_t i = 0; i < children.size(); ++i) {  // readers first, then the writer
    ChildResult r;
    const bool got = ReadAll(children[i].result_fd, &r, sizeof(r));
    ::close(children[i].result_fd);
    int status = 0;
    ::waitpid(children[i].pid, &status, 0);
    if (!got) {
      r = ChildResult();
      SetError(&r, "process died (status " + std::to_string(status) + ")");
    }
    if (!r.ok) errors += std::string("\n  ") + r.error;
    if (r.verify_failures > 0) {
      errors += "\n  " + std::to_string(r.verify_failures) + " of " + std::to_string(r.verified) +
                " rows differ from the data set";
    }
    if (rr.has_writer && i + 1 == children.size()) {
      rr.writer = r;
    } else {
      rr.readers.push_back(r);
    }
  }
  if (!errors.empty() || any_error || ready_count != children.size()) {
    std::fprintf(stderr, "\nlarder_loadtest: %s failed:%s\n", spec.name().c_str(), errors.c_str());
    std::exit(1);
  }
  for (const ChildResult& r : rr.readers) {
    rr.merged.Merge(r.hist);
    const double secs = static_cast<double>(r.elapsed_ns) / 1e9;
    rr.lookups_per_s += static_cast<double>(r.entities) / secs;
    rr.cpu += static_cast<double>(r.cpu_ns) / static_cast<double>(r.elapsed_ns);
    rr.ops_per_s += static_cast<double>(r.ops) / secs;
  }
  return rr;
}

// ---- Summaries -----------------------------------------------------------------------------

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

struct Figures {
  double lookups_per_s = 0, ops_per_s = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
  double cpu = 0;        // CPU time / elapsed time of the process (1 = a whole core)
  double preempted = 0;  // involuntary context switches per second
};

Figures ReaderFigures(const ChildResult& c);

Figures FiguresOf(const Histogram& h, double lookups_per_s, double ops_per_s) {
  Figures f;
  f.lookups_per_s = lookups_per_s;
  f.ops_per_s = ops_per_s;
  f.p50 = static_cast<double>(h.Quantile(0.5));
  f.p90 = static_cast<double>(h.Quantile(0.9));
  f.p99 = static_cast<double>(h.Quantile(0.99));
  f.p999 = static_cast<double>(h.Quantile(0.999));
  f.max = static_cast<double>(h.max());
  f.mean = h.mean();
  return f;
}

Figures MedianOf(const std::vector<Figures>& fs) {
  auto med = [&](double Figures::*m) {
    std::vector<double> v;
    for (const Figures& f : fs) v.push_back(f.*m);
    return Median(v);
  };
  Figures r;
  for (double Figures::*m : {&Figures::lookups_per_s, &Figures::ops_per_s, &Figures::p50,
                             &Figures::p90, &Figures::p99, &Figures::p999, &Figures::max,
                             &Figures::mean, &Figures::cpu, &Figures::preempted}) {
    r.*m = med(m);
  }
  return r;
}

Figures ReaderFigures(const ChildResult& c) {
  const double secs = static_cast<double>(c.elapsed_ns) / 1e9;
  Figures f = FiguresOf(c.hist, static_cast<double>(c.entities) / secs,
                        static_cast<double>(c.ops) / secs);
  f.cpu = static_cast<double>(c.cpu_ns) / static_cast<double>(c.elapsed_ns);
  f.preempted = static_cast<double>(c.preempted) / secs;
  return f;
}

Figures TotalFigures(const RoundResult& rr) {
  Figures f = FiguresOf(rr.merged, rr.lookups_per_s, rr.ops_per_s);
  f.cpu = rr.cpu;
  return f;
}

struct ConfigResult {
  Spec spec;
  std::vector<RoundResult> rounds;
  Histogram all;                                // every request of every round
  Figures median;                               // medians over rounds of the totals
  std::vector<Figures> per_reader;              // medians over rounds, by reader index
  double writer_rows_per_s = 0;                 // median over rounds
  double writer_cpu = 0;                        // the writer's CPU time / wall time, median
  Figures writer_push;                          // push latency (per batch), medians
};

std::string Ns(double ns) {
  char buf[32];
  if (ns < 10'000) std::snprintf(buf, sizeof(buf), "%.0f ns", ns);
  else if (ns < 10'000'000) std::snprintf(buf, sizeof(buf), "%.1f µs", ns / 1e3);
  else std::snprintf(buf, sizeof(buf), "%.1f ms", ns / 1e6);
  return buf;
}

std::string Rate(double r) {
  char buf[32];
  if (r >= 1e6) std::snprintf(buf, sizeof(buf), "%.2f M", r / 1e6);
  else if (r >= 1e3) std::snprintf(buf, sizeof(buf), "%.1f k", r / 1e3);
  else std::snprintf(buf, sizeof(buf), "%.0f", r);
  return buf;
}

std::string Ratio(double x) {
  char buf[32];
  if (!std::isfinite(x) || x <= 0) return "-";
  std::snprintf(buf, sizeof(buf), x >= 100 ? "%.0fx" : x >= 10 ? "%.1fx" : "%.2fx", x);
  return buf;
}

std::string ReadMachineField(const char* file, const char* key) {
  std::ifstream f(file);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) {
      auto p = line.find(':');
      if (p == std::string::npos) continue;
      auto v = line.substr(p + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

// The cost of one timestamp: the gap between two back-to-back clock reads. Every recorded
// latency includes about one of these; nothing is subtracted.
Histogram ClockOverhead() {
  Histogram h;
  for (int i = 0; i < 1'000'000; ++i) {
    const int64_t a = NowNs();
    const int64_t b = NowNs();
    h.Record(static_cast<uint64_t>(b - a));
  }
  return h;
}

}  // namespace

int Main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"larder_loadtest: Larder under load, side by side with Redis and LMDB "
               "(docs/benchmarks.md)", "larder_loadtest"};
  app.add_option("-n,--entities", cfg.entities, "entities in the data set")->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}));
  app.add_option("-f,--features", cfg.float_features, "Float32 features per entity")->check(CLI::Range(1, 1000));
  app.add_option("--string-features", cfg.string_features, "String features per entity (\"user-<id>-<j>\")")->check(CLI::Range(0, 100));
  app.add_option("-r,--readers", cfg.readers, "reader processes; a list runs each count (1,2)")->delimiter(',')->check(CLI::Range(1, 256));
  app.add_option("-b,--batch", cfg.batch, "entities per request")->check(CLI::Range(1, 100000));
  app.add_option("--dist", cfg.dist, "entity popularity: uniform or zipf")->check(CLI::IsMember({"uniform", "zipf"}));
  app.add_option("--build-order", cfg.build_order,
                 "Larder's build: bucket (rows laid out as materialize writes a bulk load) or id "
                 "(as streaming pushes of unrelated keys lay them out)")
      ->check(CLI::IsMember({"bucket", "id"}));
  app.add_option("--zipf-s", cfg.zipf_s, "Zipf exponent")->check(CLI::Range(0.0, 10.0));
  app.add_option("-d,--duration", cfg.duration, "seconds each configuration runs per round")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--rounds", cfg.rounds, "rounds (every configuration once per round, interleaved)")->check(CLI::Range(1, 1000));
  app.add_option("--warmup", cfg.warmup, "seconds of unrecorded lookups per process before the start barrier")->check(CLI::Range(0.0, 600.0));
  app.add_flag("-w,--writer", cfg.writer, "add larder+writer: the readers while one writer process pushes");
  app.add_option("--write-rate", cfg.write_rate, "writer rows/s (0: flat out)")->check(CLI::Range(0.0, 1e9));
  app.add_option("--write-batch", cfg.write_batch, "rows per push")->check(CLI::Range(1, 1'000'000));
  app.add_option("--compare", cfg.compare, "other systems: redis, lmdb")->delimiter(',')->check(CLI::IsMember({"redis", "lmdb"}));
  app.add_option("--redis-read", cfg.redis_read, "Redis read command: hmget (Feast's), hgetall or both")->check(CLI::IsMember({"hmget", "hgetall", "both"}));
  app.add_option("--redis-server", cfg.redis_server, "the redis-server executable");
  app.add_flag("--columnar", cfg.columnar, "add larder-columnar (GetOnlineFeaturesColumnar); on when --batch > 1");
  bool no_verify = false;
  app.add_flag("--no-verify", no_verify, "readers skip FlatBuffer verification of rows (Larder's ReaderOptions::verify_rows = false, and LMDB alike)");
  app.add_option("--sequence", cfg.sequence, "length of the pre-generated lookup sequence")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  app.add_option("--seed", cfg.seed, "seed of the lookup sequence and the writer's rows");
  app.add_option("-o,--json", cfg.json, "result file");
  app.add_option("--dir", cfg.dir, "where the Larder segment and the LMDB file live");
  CLI11_PARSE(app, argc, argv);
  cfg.verify_rows = !no_verify;
  if (cfg.batch > 1) cfg.columnar = true;
  std::sort(cfg.readers.begin(), cfg.readers.end());
  cfg.readers.erase(std::unique(cfg.readers.begin(), cfg.readers.end()), cfg.readers.end());

  // Systems, in the order each round runs them.
  std::vector<std::string> systems = {"larder"};
  if (cfg.columnar) systems.push_back("larder-columnar");
  if (cfg.writer) systems.push_back("larder+writer");
  bool want_redis = false, want_lmdb = false;
  for (const std::string& c : cfg.compare) {
    want_redis = want_redis || c == "redis";
    want_lmdb = want_lmdb || c == "lmdb";
  }
  if (want_redis) {
    if (!RedisAvailable()) {
      std::fprintf(stderr, "larder_loadtest: --compare redis: this build has no hiredis (install "
                           "libhiredis-dev: bash scripts/install-deps.sh, then rebuild)\n");
      return 2;
    }
    for (const char* t : {"tcp", "unix"}) {
      if (cfg.redis_read != "hgetall") systems.push_back(std::string("redis-") + t);
      if (cfg.redis_read != "hmget") systems.push_back(std::string("redis-") + t + "-hgetall");
    }
  }
  if (want_lmdb) {
    if (!LmdbAvailable()) {
      std::fprintf(stderr, "larder_loadtest: --compare lmdb: this build has no LMDB (install "
                           "liblmdb-dev: bash scripts/install-deps.sh, then rebuild)\n");
      return 2;
    }
    systems.push_back("lmdb");
  }

  Env env;
  env.cfg = cfg;
  const std::string tag = "larder-loadtest-" + std::to_string(::getpid());
  bench::Cleanup::RemoveStale("/tmp", "larder-loadtest");
  bench::Cleanup::RemoveStale(cfg.dir, "larder-loadtest");
  env.tmp_dir = "/tmp/" + tag;
  env.repo_dir = env.tmp_dir + "/repo";
  env.segment_path = cfg.dir + "/" + tag;
  env.lmdb_path = cfg.dir + "/" + tag + ".lmdb";
  std::filesystem::create_directories(env.tmp_dir);
  bench::Cleanup::RegisterDir(env.tmp_dir);
  for (const char* s : {"", ".readers", ".lock", ".tmp", ".lmdb", ".lmdb-lock", ".before-writer"}) {
    bench::Cleanup::RegisterFile(env.segment_path + s);
  }

  // Redis first: a missing redis-server is reported before anything is built.
  if (want_redis) {
    if (std::string e = StartRedis(env); !e.empty()) {
      std::fprintf(stderr, "larder_loadtest: %s\n", e.c_str());
      return 2;
    }
  }

  const long nproc = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::string cpu = ReadMachineField("/proc/cpuinfo", "model name");
  const std::string mem = ReadMachineField("/proc/meminfo", "MemTotal");
  utsname un{};
  ::uname(&un);
  std::fprintf(stderr, "[setup] %ld CPUs (%s), %s; %lld entities, %d Float32 + %d String "
                       "features, batch %d, %s, %d round(s) of %.1f s per configuration\n",
               nproc, cpu.c_str(), mem.c_str(), static_cast<long long>(cfg.entities),
               cfg.float_features, cfg.string_features, cfg.batch, cfg.dist.c_str(), cfg.rounds,
               cfg.duration);
  for (int r : cfg.readers) {
    if (r + (cfg.writer ? 1 : 0) > nproc) {
      std::fprintf(stderr, "[setup] note: %d reader(s)%s on %ld CPUs: processes share cores\n", r,
                   cfg.writer ? " + a writer" : "", nproc);
    }
  }

  const Histogram clock = ClockOverhead();
  std::fprintf(stderr, "[setup] clock: steady_clock, two back-to-back reads p50 %llu ns, p99 "
                       "%llu ns (included in every latency, not subtracted)\n",
               static_cast<unsigned long long>(clock.Quantile(0.5)),
               static_cast<unsigned long long>(clock.Quantile(0.99)));

  LarderBuild larder_build;
  if (std::string e = BuildLarder(env, &larder_build); !e.empty()) {
    std::fprintf(stderr, "larder_loadtest: %s\n", e.c_str());
    return 1;
  }
  RedisBuild redis_build;
  if (want_redis) {
    if (std::string e = LoadRedis(env, &redis_build); !e.empty()) {
      std::fprintf(stderr, "larder_loadtest: %s\n", e.c_str());
      return 1;
    }
  }
  LmdbBuild lmdb_build;
  if (want_lmdb) {
    if (std::string e = BuildLmdb(env, &lmdb_build); !e.empty()) {
      std::fprintf(stderr, "larder_loadtest: %s\n", e.c_str());
      return 1;
    }
  }
  env.sequence = MakeSequence(cfg);

  // The runs: rounds x reader counts x systems, interleaved.
  std::vector<ConfigResult> results;
  for (int r : cfg.readers) {
    for (const std::string& s : systems) results.push_back({Spec{s, r}, {}, {}, {}, {}, 0, {}});
  }
  int run = 0;
  for (int round = 0; round < cfg.rounds; ++round) {
    for (ConfigResult& cr : results) {
      std::fprintf(stderr, "[round %d/%d] %-22s ", round + 1, cfg.rounds, cr.spec.name().c_str());
      // The writer replaces rows all over the store, and a replaced row leaves its bucket's run
      // (docs/design.md, "Run hints"). The segment is put back as it was before each writer
      // run, so every configuration of every round starts from the same store.
      const bool writes = cr.spec.system == "larder+writer";
      const std::string snapshot = env.segment_path + ".before-writer";
      if (writes)
        std::filesystem::copy_file(env.segment_path, snapshot,
                                   std::filesystem::copy_options::overwrite_existing);
      RoundResult rr = RunOnce(env, cr.spec, run++);
      if (writes) std::filesystem::rename(snapshot, env.segment_path);
      std::fprintf(stderr, "%9s lookups/s  p50 %-9s p99 %-9s max %s", Rate(rr.lookups_per_s).c_str(),
                   Ns(static_cast<double>(rr.merged.Quantile(0.5))).c_str(),
                   Ns(static_cast<double>(rr.merged.Quantile(0.99))).c_str(),
                   Ns(static_cast<double>(rr.merged.max())).c_str());
      if (rr.has_writer) {
        std::fprintf(stderr, "  writer %s rows/s",
                     Rate(static_cast<double>(rr.writer.writer_rows) /
                          (static_cast<double>(rr.writer.elapsed_ns) / 1e9)).c_str());
      }
      std::fprintf(stderr, "\n");
      cr.all.Merge(rr.merged);
      cr.rounds.push_back(std::move(rr));
    }
  }
  StopRedis();

  // Medians over rounds.
  for (ConfigResult& cr : results) {
    std::vector<Figures> totals, writer_push;
    std::vector<double> writer_rates, writer_cpu;
    std::vector<std::vector<Figures>> by_reader(static_cast<size_t>(cr.spec.readers));
    for (const RoundResult& rr : cr.rounds) {
      totals.push_back(TotalFigures(rr));
      for (size_t i = 0; i < rr.readers.size(); ++i) by_reader[i].push_back(ReaderFigures(rr.readers[i]));
      if (rr.has_writer) {
        const double secs = static_cast<double>(rr.writer.elapsed_ns) / 1e9;
        writer_rates.push_back(static_cast<double>(rr.writer.writer_rows) / secs);
        writer_cpu.push_back(static_cast<double>(rr.writer.cpu_ns) /
                             static_cast<double>(rr.writer.elapsed_ns));
        writer_push.push_back(FiguresOf(rr.writer.hist, 0, 0));
      }
    }
    cr.median = MedianOf(totals);
    for (auto& v : by_reader) cr.per_reader.push_back(MedianOf(v));
    cr.writer_rows_per_s = Median(writer_rates);
    cr.writer_cpu = Median(writer_cpu);
    if (!writer_push.empty()) cr.writer_push = MedianOf(writer_push);
  }
  auto larder_of = [&](int readers) -> const ConfigResult* {
    for (const ConfigResult& cr : results) {
      if (cr.spec.system == "larder" && cr.spec.readers == readers) return &cr;
    }
    return nullptr;
  };

  // ---- The table (Markdown) ----
  std::printf(
      "\n%lld entities, %d Float32 + %d String features, batch %d, %s lookups; "
      "%d rounds x %.1f s per configuration; %ld CPUs (%s); Larder built in %s order\n",
      static_cast<long long>(cfg.entities), cfg.float_features, cfg.string_features, cfg.batch,
      cfg.dist.c_str(), cfg.rounds, cfg.duration, nproc, cpu.c_str(), cfg.build_order.c_str());
  std::printf("Medians over rounds; latency per request of %d entit%s; ratios = system / Larder "
              "(same reader count); clock overhead ~%llu ns included; rows %s.\n\n",
              cfg.batch, cfg.batch == 1 ? "y" : "ies",
              static_cast<unsigned long long>(clock.Quantile(0.5)),
              cfg.verify_rows ? "verified before decoding (default)" : "not verified (--no-verify)");
  const bool batched = cfg.batch > 1;
  std::printf("| system | readers | lookups/s | reader CPU | lookups/CPU-s | p50 | p90 | p99 | "
              "p99.9 | max |%s p50 / Larder | p99 / Larder | Larder throughput / system |\n",
              batched ? " p50 per entity |" : "");
  std::printf("|---|---|---|---|---|---|---|---|---|---|%s---|---|---|\n", batched ? "---|" : "");
  for (const ConfigResult& cr : results) {
    const ConfigResult* base = larder_of(cr.spec.readers);
    const Figures& m = cr.median;
    std::printf("| %s | %d | %s | %.2f | %s | %s | %s | %s | %s | %s |", cr.spec.system.c_str(),
                cr.spec.readers, Rate(m.lookups_per_s).c_str(), m.cpu,
                Rate(m.cpu > 0 ? m.lookups_per_s / m.cpu : 0).c_str(), Ns(m.p50).c_str(),
                Ns(m.p90).c_str(), Ns(m.p99).c_str(), Ns(m.p999).c_str(), Ns(m.max).c_str());
    if (batched) std::printf(" %s |", Ns(m.p50 / cfg.batch).c_str());
    std::printf(" %s | %s | %s |\n", Ratio(m.p50 / base->median.p50).c_str(),
                Ratio(m.p99 / base->median.p99).c_str(),
                Ratio(base->median.lookups_per_s / m.lookups_per_s).c_str());
  }
  {
    std::printf("\nPer reader process (medians over rounds; CPU = the reader's CPU time / wall "
                "time, preempted = involuntary context switches per second):\n\n| system | "
                "readers | reader | lookups/s | p50 | p90 | p99 | p99.9 | max | CPU | preempted/s "
                "|\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const ConfigResult& cr : results) {
      for (size_t i = 0; i < cr.per_reader.size(); ++i) {
        const Figures& f = cr.per_reader[i];
        std::printf("| %s | %d | %zu | %s | %s | %s | %s | %s | %s | %.0f%% | %.0f |\n",
                    cr.spec.system.c_str(), cr.spec.readers, i, Rate(f.lookups_per_s).c_str(),
                    Ns(f.p50).c_str(), Ns(f.p90).c_str(), Ns(f.p99).c_str(), Ns(f.p999).c_str(),
                    Ns(f.max).c_str(), 100 * f.cpu, f.preempted);
      }
    }
  }
  if (*std::max_element(cfg.readers.begin(), cfg.readers.end()) > 1) {
    std::printf("\nScaling (total lookups/s at each reader count, and its ratio to %d reader(s); "
                "in brackets the CPU the readers got, in cores, and lookups per CPU-second):\n\n",
                cfg.readers[0]);
    for (const std::string& s : systems) {
      const ConfigResult* one = nullptr;
      std::printf("- %s:", s.c_str());
      for (const ConfigResult& cr : results) {
        if (cr.spec.system != s) continue;
        if (one == nullptr) one = &cr;
        std::printf(" %d readers %s/s (%s) [%.2f cores, %s/CPU-s];", cr.spec.readers,
                    Rate(cr.median.lookups_per_s).c_str(),
                    Ratio(cr.median.lookups_per_s / one->median.lookups_per_s).c_str(),
                    cr.median.cpu,
                    Rate(cr.median.cpu > 0 ? cr.median.lookups_per_s / cr.median.cpu : 0).c_str());
      }
      std::printf("\n");
    }
  }
  if (cfg.writer) {
    std::printf("\nWriter (one process, FeatureStore::Push of %d rows per call, %s):\n\n",
                cfg.write_batch, cfg.write_rate > 0 ? ("at " + Rate(cfg.write_rate) + " rows/s").c_str() : "flat out");
    for (const ConfigResult& cr : results) {
      if (cr.spec.system != "larder+writer") continue;
      const ConfigResult* idle = larder_of(cr.spec.readers);
      std::printf("- with %d reader(s): %s rows/s applied (writer CPU %.2f cores: %s rows per "
                  "CPU-second); push of %d rows p50 %s, p99 %s; reader p99 %s vs %s idle (%s), "
                  "p50 %s vs %s (%s)\n",
                  cr.spec.readers, Rate(cr.writer_rows_per_s).c_str(), cr.writer_cpu,
                  Rate(cr.writer_cpu > 0 ? cr.writer_rows_per_s / cr.writer_cpu : 0).c_str(),
                  cfg.write_batch,
                  Ns(cr.writer_push.p50).c_str(), Ns(cr.writer_push.p99).c_str(),
                  Ns(cr.median.p99).c_str(), Ns(idle->median.p99).c_str(),
                  Ratio(cr.median.p99 / idle->median.p99).c_str(), Ns(cr.median.p50).c_str(),
                  Ns(idle->median.p50).c_str(), Ratio(cr.median.p50 / idle->median.p50).c_str());
      int64_t skipped = 0;
      for (const RoundResult& rr : cr.rounds) skipped += rr.writer.writer_skipped;
      if (skipped > 0) {
        std::printf("  (%lld rows were skipped as older than the stored row)\n",
                    static_cast<long long>(skipped));
      }
    }
  }
  std::printf(
      "\nMemory: Larder %.0f segment bytes per entity (row block %.0f B; encoded row = "
      "key + FlatBuffer %.0f B; ratio %.2f); index %llu buckets, load %.2f, probe avg %.2f "
      "/ max %llu words, rows inside their run hint %.1f %%",
      larder_build.bytes_per_entity, larder_build.row_block_bytes, larder_build.encoded_row_bytes,
      larder_build.bytes_per_entity / larder_build.encoded_row_bytes,
      static_cast<unsigned long long>(larder_build.index_buckets), larder_build.index_load,
      larder_build.probe_avg, static_cast<unsigned long long>(larder_build.probe_max),
      100 * larder_build.run_hint_cover);
  if (want_redis) std::printf("; Redis %s %.0f B per entity", redis_build.version.c_str(), redis_build.bytes_per_entity);
  if (want_lmdb) std::printf("; LMDB %s %.0f B per entity (depth %u)", lmdb_build.version.c_str(), lmdb_build.bytes_per_entity, lmdb_build.depth);
  std::printf("\n");

  // ---- The JSON result file ----
  JsonWriter j;
  j.BeginObject();
  j.Str("tool", "larder_loadtest").Num("format", 1);
  j.BeginObject("machine")
      .Num("nproc", static_cast<double>(nproc))
      .Str("cpu", cpu)
      .Str("memory", mem)
      .Str("kernel", std::string(un.sysname) + " " + un.release)
      .EndObject();
  j.BeginObject("config")
      .Num("entities", static_cast<double>(cfg.entities))
      .Num("float_features", cfg.float_features)
      .Num("string_features", cfg.string_features)
      .Num("batch", cfg.batch)
      .Str("dist", cfg.dist)
      .Str("build_order", cfg.build_order)
      .Num("zipf_s", cfg.zipf_s)
      .Num("duration_s", cfg.duration)
      .Num("rounds", cfg.rounds)
      .Num("warmup_s", cfg.warmup)
      .Bool("writer", cfg.writer)
      .Num("write_rate", cfg.write_rate)
      .Num("write_batch", cfg.write_batch)
      .Str("redis_read", cfg.redis_read)
      .Bool("verify_rows", cfg.verify_rows)
      .Num("sequence", static_cast<double>(cfg.sequence))
      .Num("seed", static_cast<double>(cfg.seed));
  j.BeginArray("readers");
  for (int r : cfg.readers) j.Num({}, r);
  j.EndArray().EndObject();
  j.BeginObject("clock")
      .Str("source", "std::chrono::steady_clock (clock_gettime CLOCK_MONOTONIC)")
      .Num("back_to_back_p50_ns", static_cast<double>(clock.Quantile(0.5)))
      .Num("back_to_back_p99_ns", static_cast<double>(clock.Quantile(0.99)))
      .Bool("subtracted", false)
      .EndObject();
  j.BeginObject("build");
  j.BeginObject("larder")
      .Num("seconds", larder_build.seconds)
      .Num("bytes_per_entity", larder_build.bytes_per_entity)
      .Num("row_block_bytes", larder_build.row_block_bytes)
      .Num("encoded_row_bytes", larder_build.encoded_row_bytes)
      .Num("bytes_per_entity_over_encoded_row",
           larder_build.bytes_per_entity / larder_build.encoded_row_bytes)
      .Num("index_buckets", static_cast<double>(larder_build.index_buckets))
      .Num("index_load", larder_build.index_load)
      .Num("probe_avg_words", larder_build.probe_avg)
      .Num("probe_max_words", static_cast<double>(larder_build.probe_max))
      .Num("run_hint_cover", larder_build.run_hint_cover)
      .EndObject();
  if (want_redis) {
    j.BeginObject("redis")
        .Str("version", redis_build.version)
        .Num("seconds", redis_build.seconds)
        .Num("bytes_per_entity", redis_build.bytes_per_entity)
        .EndObject();
  }
  if (want_lmdb) {
    j.BeginObject("lmdb")
        .Str("version", lmdb_build.version)
        .Num("seconds", lmdb_build.seconds)
        .Num("bytes_per_entity", lmdb_build.bytes_per_entity)
        .Num("depth", lmdb_build.depth)
        .EndObject();
  }
  j.EndObject();
  auto put_figures = [&](std::string_view key, const Figures& f) {
    j.BeginObject(key)
        .Num("lookups_per_s", f.lookups_per_s)
        .Num("requests_per_s", f.ops_per_s)
        .Num("p50_ns", f.p50)
        .Num("p90_ns", f.p90)
        .Num("p99_ns", f.p99)
        .Num("p999_ns", f.p999)
        .Num("max_ns", f.max)
        .Num("mean_ns", f.mean)
        .Num("cpu", f.cpu)
        .Num("lookups_per_cpu_s", f.cpu > 0 ? f.lookups_per_s / f.cpu : 0)
        .Num("preempted_per_s", f.preempted)
        .EndObject();
  };
  j.BeginArray("runs");
  for (const ConfigResult& cr : results) {
    const ConfigResult* base = larder_of(cr.spec.readers);
    j.BeginObject().Str("system", cr.spec.system).Num("readers", cr.spec.readers).Num("batch", cfg.batch);
    put_figures("median", cr.median);
    j.BeginObject("ratio_to_larder")
        .Num("p50", cr.median.p50 / base->median.p50)
        .Num("p99", cr.median.p99 / base->median.p99)
        .Num("larder_throughput_over_system", base->median.lookups_per_s / cr.median.lookups_per_s)
        .EndObject();
    j.BeginArray("per_reader_median");
    for (size_t i = 0; i < cr.per_reader.size(); ++i) put_figures({}, cr.per_reader[i]);
    j.EndArray();
    if (cr.spec.system == "larder+writer") {
      j.BeginObject("writer")
          .Num("rows_per_s", cr.writer_rows_per_s)
          .Num("cpu", cr.writer_cpu)
          .Num("push_rows", cfg.write_batch);
      put_figures("push_latency", cr.writer_push);
      j.EndObject();
    }
    j.BeginArray("rounds");
    for (const RoundResult& rr : cr.rounds) {
      j.BeginObject();
      put_figures("total", TotalFigures(rr));
      j.BeginArray("per_reader");
      for (const ChildResult& c : rr.readers) put_figures({}, ReaderFigures(c));
      j.EndArray();
      if (rr.has_writer) {
        j.Num("writer_rows", static_cast<double>(rr.writer.writer_rows))
            .Num("writer_rows_skipped", static_cast<double>(rr.writer.writer_skipped))
            .Num("writer_seconds", static_cast<double>(rr.writer.elapsed_ns) / 1e9);
      }
      j.EndObject();
    }
    j.EndArray();
    // Percentile spectrum of every request of every round: [quantile, ns], HdrHistogram-style
    // (quantiles 1 - 2^(-k/8)), then the max.
    j.BeginArray("spectrum");
    const double total = static_cast<double>(cr.all.count());
    for (int k = 0;; ++k) {
      const double q = 1.0 - std::pow(2.0, -k / 8.0);
      if ((1.0 - q) * total < 1.0) break;
      j.Pair(q, static_cast<double>(cr.all.Quantile(q)));
    }
    j.Pair(1.0, static_cast<double>(cr.all.max()));
    j.EndArray();
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  std::ofstream out(cfg.json);
  out << j.str() << "\n";
  out.close();
  if (!out) {
    std::fprintf(stderr, "larder_loadtest: cannot write %s\n", cfg.json.c_str());
    return 1;
  }
  std::fprintf(stderr, "[done] results in %s\n", cfg.json.c_str());
  return 0;
}

}  // namespace larder::loadtest

int main(int argc, char** argv) { return larder::loadtest::Main(argc, argv); }
