// Redis under test, laid out as Feast's Redis online store lays it out (feast_redis_layout.h):
// a redis-server of our own (Debian's package) on a free loopback port and a Unix socket,
// loaded through a pipeline, read with HMGET (what Feast's online_read sends, pipelined per
// entity) or HGETALL through hiredis, values parsed from ValueProto bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/common/cleanup.h"
#include "bench/loadtest/feast_redis_layout.h"
#include "bench/loadtest/loadtest.h"
#include "larder/timestamp.h"

#if LARDER_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

namespace larder::loadtest {

#if LARDER_HAVE_HIREDIS

namespace {

pid_t g_redis_pid = 0;
std::string g_redis_log;

std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string p = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  // Debian installs redis-server in /usr/bin; some PATHs for root lack sbin, not bin.
  return "";
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

std::string LogTail() {
  std::ifstream f(g_redis_log);
  std::string line, tail;
  std::vector<std::string> lines;
  while (std::getline(f, line)) lines.push_back(line);
  for (size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) {
    tail += "\n  " + lines[i];
  }
  return tail;
}

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Context Connect(const Env& env, const std::string& transport, std::string* error) {
  Context c(transport == "unix" ? redisConnectUnix(env.redis_socket.c_str())
                                : redisConnect("127.0.0.1", env.redis_port));
  if (!c || c->err) {
    *error = "redis (" + transport + "): cannot connect: " + (c ? c->errstr : "out of memory");
    return nullptr;
  }
  return c;
}

Reply Command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

// A field of INFO's text ("used_memory:12345").
std::string InfoField(redisContext* c, const std::string& section, const std::string& field) {
  Reply r = Command(c, {"INFO", section});
  if (!r || r->type != REDIS_REPLY_STRING) return "";
  std::string text(r->str, r->len);
  auto p = text.find(field + ":");
  if (p == std::string::npos) return "";
  p += field.size() + 1;
  return text.substr(p, text.find_first_of("\r\n", p) - p);
}

class RedisClient : public Client {
 public:
  RedisClient(const Config& c, Context ctx, bool hgetall)
      : cfg_(c), ctx_(std::move(ctx)), hgetall_(hgetall), key_(kJoinKey, kProject) {
    for (const std::string& f : FeatureNames(c)) fields_.push_back(feast::FieldName(kView, f));
    fields_.push_back(feast::TimestampField(kView));
    if (hgetall_) {
      argv_ = {"HGETALL", nullptr};
      lens_ = {7, 0};
    } else {
      argv_ = {"HMGET", nullptr};
      lens_ = {5, 0};
      for (const std::string& f : fields_) {
        argv_.push_back(f.data());
        lens_.push_back(f.size());
      }
    }
  }

  int64_t Lookup(const int64_t* ids, size_t n) override {
    PrepareResponse(cfg_, n, &resp_);
    // Pipelined: every command is sent before the first reply is read (Feast's pipeline).
    for (size_t r = 0; r < n; ++r) {
      key_.Set(ids[r]);
      argv_[1] = key_.bytes.data();
      lens_[1] = key_.bytes.size();
      if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv_.size()), argv_.data(),
                                 lens_.data()) != REDIS_OK) {
        error_ = std::string("redis: ") + ctx_->errstr;
        return -1;
      }
    }
    int64_t found = 0;
    for (size_t r = 0; r < n; ++r) {
      void* raw = nullptr;
      if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
        error_ = std::string("redis: ") + ctx_->errstr;
        return -1;
      }
      Reply reply(static_cast<redisReply*>(raw));
      Value& key = resp_.results[0].values[r];
      key.is_null = false;
      key.i64 = ids[r];
      const int got = hgetall_ ? FromHgetall(reply.get(), r) : FromHmget(reply.get(), r);
      if (got < 0) return -1;
      found += got;
    }
    return found;
  }

  bool Check(size_t r, int64_t id) const override { return CheckResponseRow(cfg_, resp_, r, id); }

 private:
  // Feature k (FeatureNames order) of row r from its ValueProto bytes.
  bool PutFeature(size_t k, size_t r, const char* data, size_t len) {
    feast::ParsedValue pv;
    if (!feast::ParseValue(std::string_view(data, len), &pv)) {
      error_ = "redis: a value is not a ValueProto float or string";
      return false;
    }
    FeatureColumn& col = resp_.results[1 + k];
    Value& v = col.values[r];
    col.statuses[r] = FieldStatus::kPresent;
    switch (pv.kind) {
      case feast::ParsedValue::Kind::kFloat: v.is_null = false; v.f64 = pv.f; break;
      case feast::ParsedValue::Kind::kString: v.is_null = false; v.str.assign(pv.s); break;
      case feast::ParsedValue::Kind::kNull: col.statuses[r] = FieldStatus::kNullValue; break;
    }
    return true;
  }
  int SetTimestamp(size_t r, const char* data, size_t len) {
    int64_t ts = 0;
    if (!feast::ParseTimestamp(std::string_view(data, len), &ts)) {
      error_ = "redis: bad timestamp";
      return -1;
    }
    for (size_t k = 1; k < resp_.results.size(); ++k) resp_.results[k].event_timestamps[r] = ts;
    return 1;
  }
  int FromHmget(const redisReply* rep, size_t r) {
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != fields_.size()) {
      error_ = "redis: unexpected HMGET reply";
      return -1;
    }
    const size_t nf = fields_.size() - 1;
    const redisReply* ts = rep->element[nf];
    if (ts->type != REDIS_REPLY_STRING) return 0;  // no such entity: NOT_FOUND
    for (size_t k = 0; k < nf; ++k) {
      const redisReply* e = rep->element[k];
      if (e->type != REDIS_REPLY_STRING) continue;
      if (!PutFeature(k, r, e->str, e->len)) return -1;
    }
    return SetTimestamp(r, ts->str, ts->len);
  }
  int FromHgetall(const redisReply* rep, size_t r) {
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0) {
      error_ = "redis: unexpected HGETALL reply";
      return -1;
    }
    int found = 0;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
      const redisReply* f = rep->element[i];
      const redisReply* v = rep->element[i + 1];
      for (size_t k = 0; k < fields_.size(); ++k) {
        if (fields_[k].size() != f->len || std::memcmp(fields_[k].data(), f->str, f->len) != 0) {
          continue;
        }
        if (k + 1 == fields_.size()) {
          found = SetTimestamp(r, v->str, v->len);
          if (found < 0) return -1;
        } else if (!PutFeature(k, r, v->str, v->len)) {
          return -1;
        }
        break;
      }
    }
    return found;
  }

  Config cfg_;
  Context ctx_;
  bool hgetall_;
  feast::EntityKeyTemplate key_;
  std::vector<std::string> fields_;
  std::vector<const char*> argv_;
  std::vector<size_t> lens_;
  OnlineResponse resp_;
};

}  // namespace

bool RedisAvailable() { return true; }

std::string StartRedis(Env& env) {
  const std::string exe = FindExecutable(env.cfg.redis_server);
  if (exe.empty()) {
    return "'" + env.cfg.redis_server +
           "' was not found: --compare redis needs redis-server (Debian: apt-get install "
           "redis-server, or bash scripts/install-deps.sh), or --redis-server PATH";
  }
  env.redis_port = FreeLoopbackPort();
  if (env.redis_port <= 0) return "no free loopback TCP port for redis-server";
  env.redis_socket = env.tmp_dir + "/redis.sock";
  g_redis_log = env.tmp_dir + "/redis.log";
  const std::string port = std::to_string(env.redis_port);
  std::vector<std::string> args = {
      exe, "--port", port, "--bind", "127.0.0.1", "--unixsocket", env.redis_socket,
      "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", env.tmp_dir,
      "--logfile", g_redis_log, "--daemonize", "no", "--protected-mode", "yes"};
  const pid_t pid = ::fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) {
    ::setsid();  // scheduled as its own service (see main.cc), and killed with the harness
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    _exit(127);
  }
  g_redis_pid = pid;
  bench::Cleanup::RegisterChild(pid);
  // Wait for it to answer PING on the Unix socket (and TCP).
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      g_redis_pid = 0;
      bench::Cleanup::ForgetChild(pid);
      return "redis-server exited at start (" + exe + "); its log:" + LogTail();
    }
    std::string err;
    Context c = Connect(env, "unix", &err);
    Context t = c ? Connect(env, "tcp", &err) : nullptr;
    if (c && t) {
      Reply r = Command(c.get(), {"PING"});
      if (r && r->type == REDIS_REPLY_STATUS) return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "redis-server did not answer PING within 10 s; its log:" + LogTail();
}

std::string LoadRedis(const Env& env, RedisBuild* out) {
  const Config& cfg = env.cfg;
  std::string err;
  Context c = Connect(env, "unix", &err);
  if (!c) return err;
  out->version = InfoField(c.get(), "server", "redis_version");
  const double before = std::atof(InfoField(c.get(), "memory", "used_memory").c_str());
  const int64_t t0 = NowNs();
  const std::vector<std::string> names = FeatureNames(cfg);
  std::vector<std::string> fields;
  for (const std::string& f : names) fields.push_back(feast::FieldName(kView, f));
  const std::string ts_field = feast::TimestampField(kView);
  const std::string ts_value = feast::TimestampValue(kBaseSeconds * 1'000'000);
  feast::EntityKeyTemplate key(kJoinKey, kProject);
  constexpr int64_t kPipeline = 1000;
  std::vector<std::string> values;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (int64_t first = 0; first < cfg.entities; first += kPipeline) {
    const int64_t last = std::min(cfg.entities, first + kPipeline);
    for (int64_t e = first; e < last; ++e) {
      key.Set(e);
      values.clear();
      for (int i = 0; i < cfg.float_features; ++i) values.push_back(feast::FloatValue(FloatValue(e, i)));
      for (int j = 0; j < cfg.string_features; ++j) values.push_back(feast::StringValue(StringValue(e, j)));
      argv = {"HSET", key.bytes.data()};
      lens = {4, key.bytes.size()};
      for (size_t k = 0; k < fields.size(); ++k) {
        argv.push_back(fields[k].data());
        lens.push_back(fields[k].size());
        argv.push_back(values[k].data());
        lens.push_back(values[k].size());
      }
      argv.push_back(ts_field.data());
      lens.push_back(ts_field.size());
      argv.push_back(ts_value.data());
      lens.push_back(ts_value.size());
      // hiredis copies the command into its output buffer: the vectors may change after.
      if (redisAppendCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(),
                                 lens.data()) != REDIS_OK) {
        return std::string("redis load: ") + c->errstr;
      }
    }
    for (int64_t e = first; e < last; ++e) {
      void* raw = nullptr;
      if (redisGetReply(c.get(), &raw) != REDIS_OK) return std::string("redis load: ") + c->errstr;
      Reply r(static_cast<redisReply*>(raw));
      if (r->type == REDIS_REPLY_ERROR) return "redis load: " + std::string(r->str, r->len);
    }
    if ((first / kPipeline) % 50 == 49 || last == cfg.entities) {
      std::fprintf(stderr, "\r[build] redis: %lld / %lld entities", static_cast<long long>(last),
                   static_cast<long long>(cfg.entities));
    }
  }
  out->seconds = static_cast<double>(NowNs() - t0) / 1e9;
  std::fprintf(stderr, " (%.1f s)\n", out->seconds);
  const double after = std::atof(InfoField(c.get(), "memory", "used_memory").c_str());
  out->bytes_per_entity = (after - before) / static_cast<double>(cfg.entities);
  return "";
}

void StopRedis() {
  if (g_redis_pid <= 0) return;
  ::kill(g_redis_pid, SIGTERM);  // redis-server shuts down cleanly (no save configured)
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (::waitpid(g_redis_pid, &status, WNOHANG) == g_redis_pid) break;
    if (i == 99) {
      ::kill(g_redis_pid, SIGKILL);
      ::waitpid(g_redis_pid, &status, 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  bench::Cleanup::ForgetChild(g_redis_pid);
  g_redis_pid = 0;
}

std::unique_ptr<Client> MakeRedisClient(const Env& env, const std::string& transport,
                                        const std::string& command, std::string* error) {
  Context c = Connect(env, transport, error);
  if (!c) return nullptr;
  return std::make_unique<RedisClient>(env.cfg, std::move(c), command == "hgetall");
}

#else  // !LARDER_HAVE_HIREDIS

bool RedisAvailable() { return false; }
std::string StartRedis(Env&) { return "built without hiredis"; }
std::string LoadRedis(const Env&, RedisBuild*) { return "built without hiredis"; }
void StopRedis() {}
std::unique_ptr<Client> MakeRedisClient(const Env&, const std::string&, const std::string&,
                                        std::string* error) {
  *error = "built without hiredis";
  return nullptr;
}

#endif

}  // namespace larder::loadtest
