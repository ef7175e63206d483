// End-to-end tests of the HTTP feature server (tools/server/, `larder serve`): a real server on
// a free loopback port, driven by a C++ client (Boost.Beast), raw sockets for malformed HTTP,
// and curl with the commands of Feast's documentation (no Content-Type). Covers every endpoint
// and status code, keep-alive, 64 concurrent clients pushing and reading, a reader-only process
// seeing rows pushed over HTTP, SO_REUSEPORT and a graceful SIGTERM shutdown.
#include "tools/server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/http_client.h"
#include "tests/store_fixture.h"
#include "tools/server/routes.h"
#include "wire/response_json.h"

extern char** environ;

namespace larder {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using server::Server;
using server::ServerOptions;
using testing::kDriverPreamble;
using testing::ReadFile;
using testing::Repo;
using testing::StoreOptions;
using testing::TempDir;

// Two views read from one push source, every value kind, and a feature service.
const std::string kViews = std::string(kDriverPreamble) + R"(feature_views:
  - name: driver_hourly_stats
    entities: [driver]
    source: stats_push
    schema:
      - {name: conv_rate, dtype: Float32}
      - {name: acc_rate, dtype: Float64}
      - {name: avg_daily_trips, dtype: Int64}
      - {name: payload, dtype: Bytes}
      - {name: last_seen, dtype: UnixTimestamp}
      - {name: top_cities, dtype: Array(String)}
  - name: driver_daily
    entities: [driver]
    source: stats_push
    schema:
      - {name: trips_today, dtype: Int64}
feature_services:
  - name: driver_activity
    features:
      - driver_hourly_stats: [conv_rate, avg_daily_trips]
      - driver_daily
)";

// A push body for stats_push: one row per id, trips = `trips`, event time 2026-11-02 + `sec`.
std::string PushBody(const std::vector<int64_t>& ids, int64_t trips, int64_t sec = 0,
                     const std::string& to = "") {
  std::string idl, ts, conv, acc, tr, pay, seen, cities, today;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string c = i == 0 ? "" : ",";
    idl += c + std::to_string(ids[i]);
    ts += c + std::to_string(1793610000 + sec);  // epoch seconds
    conv += c + "0.5";
    acc += c + "0.25";
    tr += c + std::to_string(trips);
    pay += c + "\"AAEC\"";  // base64 of 00 01 02
    seen += c + "\"2026-11-02T09:00:00Z\"";
    cities += c + "[\"Paris\"]";
    today += c + std::to_string(trips + 1);
  }
  std::string body = R"({"push_source_name":"stats_push","df":{"driver_id":[)" + idl +
                     R"(],"event_timestamp":[)" + ts + R"(],"conv_rate":[)" + conv +
                     R"(],"acc_rate":[)" + acc + R"(],"avg_daily_trips":[)" + tr +
                     R"(],"payload":[)" + pay + R"(],"last_seen":[)" + seen +
                     R"(],"top_cities":[)" + cities + R"(],"trips_today":[)" + today + "]}";
  if (!to.empty()) body += R"(,"to":")" + to + "\"";
  return body + "}";
}

std::string GetBody(const std::vector<int64_t>& ids,
                    const std::string& features = R"("driver_hourly_stats:avg_daily_trips")") {
  std::string idl;
  for (size_t i = 0; i < ids.size(); ++i) idl += (i == 0 ? "" : ",") + std::to_string(ids[i]);
  return R"({"features":[)" + features + R"(],"entities":{"driver_id":[)" + idl + "]}}";
}

// results[col].values[row] of a get-online-features response as an integer (or -1).
int64_t IntAt(const std::string& body, size_t col, size_t row) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc)) return -1;
  int64_t v = -1;
  if (doc["results"].at(col)["values"].at(row).get_int64().get(v)) return -1;
  return v;
}

// Larder's code in an error body: a JSON string holding Feast's error detail object (parsed
// twice, as Feast's client does).
std::string ErrorCodeOf(const std::string& body) {
  simdjson::dom::parser outer;
  simdjson::dom::element doc;
  std::string_view inner;
  if (outer.parse(body).get(doc) || doc.get_string().get(inner)) return "";
  simdjson::dom::parser parser;
  std::string_view code;
  if (parser.parse(std::string(inner)).get(doc) || doc["code"].get_string().get(code)) return "";
  return std::string(code);
}

// ---- Clients ----------------------------------------------------------------------------------

struct HttpResult {
  int status = 0;
  std::string body;
  bool keep_alive = false;
  std::string content_type;
  std::string allow;
};

// A keep-alive HTTP/1.1 client on one connection (Boost.Beast, blocking).
class Client {
 public:
  explicit Client(uint16_t port) : stream_(ioc_) {
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  HttpResult Send(http::verb verb, const std::string& target, std::string body,
                  bool keep_alive = true, unsigned version = 11) {
    http::request<http::string_body> req{verb, target, version};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(stream_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream_, buffer_, parser);
    const auto& res = parser.get();
    HttpResult out;
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    out.keep_alive = res.keep_alive();
    out.content_type = std::string(res[http::field::content_type]);
    out.allow = std::string(res[http::field::allow]);
    return out;
  }
  HttpResult Post(const std::string& target, std::string body) {
    return Send(http::verb::post, target, std::move(body));
  }
  HttpResult Get(const std::string& target) { return Send(http::verb::get, target, ""); }

  // True when the server closed the connection (a read returns EOF within `wait`).
  bool ClosedByServer(std::chrono::milliseconds wait = std::chrono::milliseconds(3000)) {
    stream_.expires_after(wait);
    char c;
    beast::error_code ec;
    stream_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

// Polls `done` every millisecond until it holds or 30 s have passed (a deadline for failures
// only); returns its last value.
template <typename Pred>
bool WaitUntil(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Whether the server has read every byte the client wrote on `fd`, a connection to
// 127.0.0.1:`server_port`: the client's send queue is empty (the server's kernel acknowledged
// every byte) and the server's socket of this connection has nothing left to read
// (/proc/net/tcp, rx_queue).
bool ServerReadEverything(int fd, uint16_t server_port) {
  int unacknowledged = 0;
  if (::ioctl(fd, SIOCOUTQ, &unacknowledged) != 0 || unacknowledged != 0) return false;
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  const unsigned client_port = ntohs(local.sin_port);
  auto port_of = [](const std::string& address) {  // "0100007F:1F90" -> 8080
    return static_cast<unsigned>(std::stoul(address.substr(address.find(':') + 1), nullptr, 16));
  };
  std::istringstream table(ReadFile("/proc/net/tcp"));
  std::string line;
  std::getline(table, line);  // the column names
  while (std::getline(table, line)) {
    std::istringstream row(line);
    std::string slot, local_address, remote_address, state, queues;
    row >> slot >> local_address >> remote_address >> state >> queues;
    if (queues.empty() || port_of(local_address) != server_port ||
        port_of(remote_address) != client_port) {
      continue;
    }
    return std::stoul(queues.substr(queues.find(':') + 1), nullptr, 16) == 0;  // tx:rx
  }
  return false;  // not accepted yet
}

struct CmdOutput {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command, returning its exit code and stdout.
CmdOutput Shell(const std::string& cmd) {
  CmdOutput r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// curl -s <args>, returning the HTTP status and the body. Quotes in args are the caller's.
HttpResult Curl(const std::string& args) {
  CmdOutput r = Shell("curl -s -S -w '\\n%{http_code}' " + args + " 2>&1");
  HttpResult out;
  const size_t nl = r.out.rfind('\n');
  if (nl == std::string::npos) {
    out.body = r.out;
    return out;
  }
  out.body = r.out.substr(0, nl);
  out.status = std::atoi(r.out.c_str() + nl + 1);
  return out;
}

// ---- The in-process server fixture ----------------------------------------------------------

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.Write(kViews);
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    store_ = std::move(fs).value();
  }
  void TearDown() override {
    if (server_) {
      server_->Shutdown();
      EXPECT_EQ(server_->Wait(), 0);
      server_.reset();
    }
  }

  ServerOptions DefaultOptions() const {
    ServerOptions o;
    o.port = 0;
    o.threads = 2;
    o.max_body_bytes = 4u << 20;
    o.handle_signals = false;
    return o;
  }
  void Start() { Start(DefaultOptions()); }
  void Start(const ServerOptions& options) {
    auto s = Server::Start(store_.get(), options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    port_ = server_->port();
    url_ = "http://localhost:" + std::to_string(port_);
  }

  Repo repo_;
  std::unique_ptr<FeatureStore> store_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::string url_;
};

TEST_F(ServerTest, FeastDocCurlExamplesPushThenGet) {
  Start();
  // Feast's docs: curl -X POST "http://localhost:6566/push" -d '{...}' (no Content-Type).
  HttpResult push = Curl("-X POST \"" + url_ + "/push\" -d '" + PushBody({1001, 1002}, 27) + "'");
  ASSERT_EQ(push.status, 200) << push.body;
  EXPECT_EQ(push.body,
            R"({"rows":2,"views":2,"rows_written":4,"rows_skipped":0,"rows_all_null":0})");

  HttpResult get = Curl("-X POST \"" + url_ + "/get-online-features\" -d '" +
                        R"({"features": ["driver_hourly_stats:conv_rate", )"
                        R"("driver_hourly_stats:avg_daily_trips", "driver_hourly_stats:payload", )"
                        R"("driver_hourly_stats:last_seen", "driver_hourly_stats:top_cities"], )"
                        R"("entities": {"driver_id": [1001, 9999]}, "full_feature_names": false})" +
                        "'");
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.body,
            R"({"metadata":{"feature_names":["driver_id","conv_rate","avg_daily_trips","payload",)"
            R"("last_seen","top_cities"]},"results":[)"
            R"({"values":[1001,9999],"statuses":["PRESENT","PRESENT"],)"
            R"("event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[0.5,null],"statuses":["PRESENT","NOT_FOUND"],)"
            R"("event_timestamps":["2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[27,null],"statuses":["PRESENT","NOT_FOUND"],)"
            R"("event_timestamps":["2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":["AAEC",null],"statuses":["PRESENT","NOT_FOUND"],)"
            R"("event_timestamps":["2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[1793610000,null],"statuses":["PRESENT","NOT_FOUND"],)"
            R"("event_timestamps":["2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[["Paris"],null],"statuses":["PRESENT","NOT_FOUND"],)"
            R"("event_timestamps":["2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]}]})");

  // Byte for byte what `larder get` prints (without its newline).
  CmdOutput cli = Shell(std::string(LARDER_BIN_DIR) + "/larder get --repo " + repo_.dir() +
                        " --features driver_hourly_stats:conv_rate,driver_hourly_stats:"
                        "avg_daily_trips,driver_hourly_stats:payload,driver_hourly_stats:"
                        "last_seen,driver_hourly_stats:top_cities"
                        " --entity driver_id=1001 --entity driver_id=9999");
  ASSERT_EQ(cli.exit_code, 0) << cli.out;
  EXPECT_EQ(cli.out, get.body + "\n");

  // A feature service with full feature names; a JSON content type changes nothing.
  HttpResult svc =
      Curl("-X POST \"" + url_ + "/get-online-features\" -H 'Content-Type: application/json' -d '" +
           R"({"feature_service": "driver_activity", "entities": {"driver_id": [1002]},)"
           R"( "full_feature_names": true})" +
           "'");
  ASSERT_EQ(svc.status, 200) << svc.body;
  EXPECT_NE(svc.body.find(R"(["driver_id","driver_hourly_stats__conv_rate",)"
                          R"("driver_hourly_stats__avg_daily_trips","driver_daily__trips_today"])"),
            std::string::npos)
      << svc.body;
  EXPECT_EQ(IntAt(svc.body, 3, 0), 28);

  // write-to-online-store, then the health and metrics endpoints.
  HttpResult write = Curl("-X POST \"" + url_ + "/write-to-online-store\" -d '" +
                          R"({"feature_view_name": "driver_daily", "df": {"driver_id": [1003], )"
                          R"("event_timestamp": ["2026-11-02 10:00:00"], "trips_today": [5]}})" +
                          "'");
  ASSERT_EQ(write.status, 200) << write.body;
  EXPECT_EQ(write.body,
            R"({"rows":1,"views":1,"rows_written":1,"rows_skipped":0,"rows_all_null":0})");
  // A body over 1 MiB: curl asks with Expect: 100-continue first.
  std::vector<int64_t> many;
  for (int64_t i = 0; i < 20000; ++i) many.push_back(200000 + i);
  TempDir scratch;
  const std::string big = scratch.Write("push.json", PushBody(many, 3));
  ASSERT_GT(big.size(), 0u);
  HttpResult big_push = Curl("-X POST \"" + url_ + "/push\" --data-binary @" + big);
  ASSERT_EQ(big_push.status, 200) << big_push.body;
  EXPECT_EQ(big_push.body,
            R"({"rows":20000,"views":2,"rows_written":40000,"rows_skipped":0,"rows_all_null":0})");
  HttpResult health = Curl("\"" + url_ + "/health\"");
  EXPECT_EQ(health.status, 200) << health.body;
  HttpResult metrics = Curl("\"" + url_ + "/metrics\"");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("larder_http_requests_total{endpoint=\"/push\",code=\"200\"} 2"),
            std::string::npos)
      << metrics.body;
}

TEST_F(ServerTest, ValuesNaNInfinityNullsAndMissingTimestamps) {
  Start();
  Client c(port_);
  HttpResult push = c.Post(
      "/write-to-online-store",
      R"({"feature_view_name":"driver_hourly_stats","df":{"driver_id":[1,2,3,4],)"
      R"("event_timestamp":["2026-11-02T09:00:00.5Z","2026-11-02T09:00:00Z","2026-11-02T09:00:00Z","2026-11-02T09:00:00Z"],)"
      R"("conv_rate":["NaN","Infinity","-Infinity",null],"acc_rate":[1e300,null,-0.0,0.1],)"
      R"("avg_daily_trips":[1,2,3,4],"payload":[null,"",null,"/w=="],)"
      R"("last_seen":[null,null,null,null],"top_cities":[[],null,["a\"b"],["x","y"]]}})");
  ASSERT_EQ(push.status, 200) << push.body;
  HttpResult get =
      c.Post("/get-online-features",
             GetBody({1, 2, 3, 4, 5},
                     R"("driver_hourly_stats:conv_rate","driver_hourly_stats:acc_rate",)"
                     R"("driver_hourly_stats:payload","driver_hourly_stats:top_cities")"));
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.content_type, "application/json");
  EXPECT_NE(
      get.body.find(R"({"values":["NaN","Infinity","-Infinity",null,null],)"
                    R"("statuses":["PRESENT","PRESENT","PRESENT","NULL_VALUE","NOT_FOUND"],)"
                    R"("event_timestamps":["2026-11-02T09:00:00.500Z","2026-11-02T09:00:00Z",)"
                    R"("2026-11-02T09:00:00Z","2026-11-02T09:00:00Z","1970-01-01T00:00:00Z"]})"),
      std::string::npos)
      << get.body;
  EXPECT_NE(get.body.find(R"({"values":[1e+300,null,-0,0.1,null])"), std::string::npos) << get.body;
  EXPECT_NE(get.body.find(R"({"values":[null,"",null,"/w==",null])"), std::string::npos)
      << get.body;
  EXPECT_NE(get.body.find(R"({"values":[[],null,["a\"b"],["x","y"],null])"), std::string::npos)
      << get.body;
}

TEST_F(ServerTest, EveryErrorStatus) {
  ServerOptions o = DefaultOptions();
  o.max_body_bytes = 64u << 10;
  Start(o);
  Client c(port_);
  auto expect_error = [&c](const std::string& target, const std::string& body, int status,
                           const std::string& code, const std::string& in_message) {
    HttpResult r = c.Post(target, body);
    EXPECT_EQ(r.status, status) << target << " " << body << " -> " << r.body;
    EXPECT_EQ(ErrorCodeOf(r.body), code) << r.body;
    EXPECT_NE(r.body.find(in_message), std::string::npos) << r.body;
    EXPECT_TRUE(r.keep_alive) << "an error response keeps the connection";
  };
  // 404: unknown view, feature, service.
  expect_error("/get-online-features", GetBody({1}, R"("nope:conv_rate")"), 404,
               "FeatureViewNotFound", "'nope'");
  expect_error("/get-online-features", GetBody({1}, R"("driver_hourly_stats:nope")"), 404,
               "FeatureNotFound", "'nope'");
  expect_error("/get-online-features", R"({"feature_service":"nope","entities":{"driver_id":[1]}})",
               404, "FeatureServiceNotFound", "'nope'");
  expect_error("/write-to-online-store", R"({"feature_view_name":"nope","df":{"driver_id":[1]}})",
               404, "FeatureViewNotFound", "'nope'");
  // 422: unknown push source.
  expect_error("/push", R"({"push_source_name":"nope","df":{"driver_id":[1]}})", 422,
               "PushSourceNotFound", "'nope'");
  // 422 (validation, as Feast): malformed JSON, wrong types, missing fields, missing join keys, bad
  // values.
  expect_error("/get-online-features", R"({"features":)", 422, "InvalidArgument", "not valid JSON");
  expect_error("/get-online-features", "[1,2]", 422, "InvalidArgument", "JSON object");
  expect_error("/get-online-features", R"({"features":"x","entities":{}})", 422, "InvalidArgument",
               "'features'");
  expect_error("/get-online-features", R"({"features":["driver_hourly_stats:conv_rate"]})", 422,
               "InvalidArgument", "'entities'");
  expect_error(
      "/get-online-features",
      R"({"features":["driver_hourly_stats:conv_rate"],"entities":{"driver_id":[1]},"full_feature_names":1})",
      422, "InvalidArgument", "'full_feature_names'");
  expect_error("/get-online-features",
               R"({"features":["driver_hourly_stats:conv_rate"],"entities":{"rider_id":[1]}})", 422,
               "MissingJoinKey", "'driver_id'");
  expect_error("/get-online-features",
               R"({"features":["driver_hourly_stats:conv_rate"],"entities":{"driver_id":["abc"]}})",
               422, "InvalidArgument", "driver_id");
  expect_error("/push", R"({"df":{"driver_id":[1]}})", 422, "InvalidArgument",
               "'push_source_name'");
  expect_error("/push", R"({"push_source_name":"stats_push","df":{"driver_id":[1]},"to":"x"})", 422,
               "InvalidArgument", "x");
  expect_error("/push", R"({"push_source_name":"stats_push","df":{"driver_id":[1]}})", 422,
               "InvalidArgument", "event_timestamp");
  expect_error("/materialize", R"({"end_ts":"2026-01-01T00:00:00"})", 422, "InvalidArgument",
               "'start_ts'");
  expect_error("/materialize", R"({"start_ts":"yesterday","end_ts":"2026-01-01T00:00:00"})", 422,
               "InvalidArgument", "'start_ts'");
  expect_error("/materialize-incremental", R"({"end_ts":"2026-01-01","feature_views":7})", 422,
               "InvalidArgument", "'feature_views'");
  expect_error("/materialize-incremental", R"({"end_ts":"2026-01-01","version":"v2"})", 422,
               "InvalidArgument", "'version'");
  // 405 (with Allow) and 404 for wrong method or path.
  HttpResult r = c.Get("/get-online-features");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "POST");
  EXPECT_EQ(ErrorCodeOf(r.body), "MethodNotAllowed");
  r = c.Post("/health", "");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "GET");
  r = c.Send(http::verb::put, "/push", "{}");
  EXPECT_EQ(r.status, 405);
  r = c.Get("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCodeOf(r.body), "RouteNotFound");
  r = c.Post("/get-online-features/extra", "{}");
  EXPECT_EQ(r.status, 404);
  // The 404 names every route of the table, with its method.
  r = c.Get("/nope");
  EXPECT_NE(r.body.find("POST /get-online-features, /push, /write-to-online-store, "
                        "/materialize, /materialize-incremental; GET /health, /metrics"),
            std::string::npos)
      << r.body;
  // Every route of the table answers its path (a query string ignored), and refuses the other
  // method with 405 and the right Allow.
  for (const server::Route& route : server::Router::Routes()) {
    const std::string path(route.path);
    EXPECT_EQ(server::EndpointForTarget(path + "?x=1"), route.endpoint) << path;
    EXPECT_EQ(server::EndpointLabel(route.endpoint), route.path);
    const bool post = route.method == server::Method::kPost;
    HttpResult wrong = post ? c.Get(path) : c.Post(path, "{}");
    EXPECT_EQ(wrong.status, 405) << path;
    EXPECT_EQ(wrong.allow, post ? "POST" : "GET") << path;
  }
  EXPECT_EQ(server::EndpointLabel(server::Endpoint::kOther), "other");
  EXPECT_EQ(server::Router::RouteOf(server::Endpoint::kOther), nullptr);
  EXPECT_TRUE(server::Router::IsWrite(server::Endpoint::kMaterializeIncremental));
  EXPECT_FALSE(server::Router::IsWrite(server::Endpoint::kGetOnlineFeatures));
  // Still the same connection, still serving.
  EXPECT_EQ(c.Get("/health").status, 200);

  // 413: a body over --max-body, with Content-Length (the server answers without reading it,
  // then drains, so the client gets the answer rather than a reset) and chunked.
  {
    Client big(port_);
    HttpResult too_big = big.Post("/push", std::string(100u << 10, ' '));
    EXPECT_EQ(too_big.status, 413);
    EXPECT_EQ(ErrorCodeOf(too_big.body), "PayloadTooLarge");
    EXPECT_FALSE(too_big.keep_alive);
  }
  TempDir scratch;
  const std::string big_file = scratch.Write("big.json", std::string(200000, ' '));
  HttpResult curl_big = Curl("-X POST \"" + url_ + "/push\" --data-binary @" + big_file);
  EXPECT_EQ(curl_big.status, 413) << curl_big.body;
  std::string chunked =
      "POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 80; ++i) chunked += "400\r\n" + std::string(1024, ' ') + "\r\n";
  chunked += "0\r\n\r\n";
  EXPECT_EQ(testing::StatusOf(testing::ExchangeToEof(port_, chunked)), 413);
  // Expect: 100-continue over the limit: 413 at once, no 100.
  std::string expect = testing::ExchangeToEof(port_,
                                              "POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: "
                                              "100-continue\r\nContent-Length: 999999\r\n\r\n");
  EXPECT_EQ(testing::StatusOf(expect), 413) << expect;

  // 400 for malformed HTTP, 431 for a huge head.
  std::string garbage = testing::ExchangeToEof(port_, "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(testing::StatusOf(garbage), 400) << garbage;
  EXPECT_NE(garbage.find("BadRequest"), std::string::npos) << garbage;
  std::string huge_head = testing::ExchangeToEof(
      port_, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(32u << 10, 'a') +
                 "\r\n\r\n");
  EXPECT_EQ(testing::StatusOf(huge_head), 431) << huge_head.substr(0, 200);

  // None of the bad requests wrote anything.
  auto info = store_->Inspect();
  ASSERT_TRUE(info.ok());
  for (const ViewStats& v : info->views) EXPECT_EQ(v.rows, 0u) << v.name;
}

TEST_F(ServerTest, HttpStatusMapping) {
  using server::HttpStatusFor;
  EXPECT_EQ(HttpStatusFor(ErrorCode::kFeatureViewNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kFeatureNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kFeatureServiceNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPushSourceNotFound), 422);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 422);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kMissingJoinKey), 422);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnsupported), 501);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kStoreFull), 507);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kBusy), 503);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kIoError), 500);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kCorruptStore), 500);
  server::Reply r = server::ErrorReply(Status(ErrorCode::kBusy, "writer lock"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, ErrorToJson(Status(ErrorCode::kBusy, "writer lock")));
}

TEST_F(ServerTest, MaterializeAndOfflinePushReachTheStore) {
  // The batch source of stats_push: driver 61 in the interval, driver 62 after it.
  std::filesystem::create_directories(repo_.dir() + "/data");
  {
    std::ofstream csv(repo_.dir() + "/data/stats.csv");
    csv << "event_timestamp,created,driver_id,conv_rate,acc_rate,avg_daily_trips,payload,"
           "last_seen,top_cities,trips_today\n"
           "2026-06-01T00:00:00Z,,61,0.5,0.5,6,,,,16\n"
           "2027-06-01T00:00:00Z,,62,0.5,0.5,6,,,,26\n";
  }
  Start();
  Client c(port_);
  // Wired to FeatureStore::Materialize*: 200 with what was written, or 501 from an engine
  // without the offline store.
  HttpResult m =
      c.Post("/materialize", R"({"start_ts":"2026-01-01T00:00:00","end_ts":"2026-12-31T00:00:00",)"
                             R"("feature_views":["driver_daily"]})");
  if (m.status == 501) {
    EXPECT_EQ(ErrorCodeOf(m.body), "Unsupported");
  } else {
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_NE(m.body.find(R"({"views":[{"name":"driver_daily","start":"2026-01-01T00:00:00Z",)"
                          R"("end":"2026-12-31T00:00:00Z",)"),
              std::string::npos)
        << m.body;
    HttpResult get =
        c.Post("/get-online-features", GetBody({61, 62}, R"("driver_daily:trips_today")"));
    EXPECT_EQ(IntAt(get.body, 1, 0), 16) << get.body;
    EXPECT_NE(get.body.find(R"("statuses":["PRESENT","NOT_FOUND"])"), std::string::npos)
        << get.body;
  }
  HttpResult mi = c.Post("/materialize-incremental",
                         R"({"end_ts":"2027-12-31T00:00:00","feature_views":null})");
  EXPECT_TRUE(mi.status == 200 || mi.status == 501) << mi.status << " " << mi.body;
  HttpResult off = c.Post("/push", PushBody({5}, 1, 0, "offline"));
  EXPECT_TRUE(off.status == 200 || off.status == 501) << off.body;
  if (off.status == 501) {
    EXPECT_EQ(ErrorCodeOf(off.body), "Unsupported");
  }
  if (m.status == 200) {
    // The batch source gone: an engine error outside the mapped codes is a 500.
    std::filesystem::remove(repo_.dir() + "/data/stats.csv");
    HttpResult gone = c.Post(
        "/materialize", R"({"start_ts":"2026-01-01","end_ts":"2026-12-31","feature_views":null})");
    EXPECT_EQ(gone.status, 500) << gone.body;
    EXPECT_EQ(ErrorCodeOf(gone.body), "DataSourceNotFound") << gone.body;
  }
}

TEST_F(ServerTest, StoreFullIs507AndWritesNothing) {
  Repo small;
  StoreOptions so;
  so.memory_limit = "1MiB";
  so.initial_capacity = 100;
  small.Write(kViews, so);
  auto fs = small.OpenApplied();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  ServerOptions o = DefaultOptions();
  auto srv = Server::Start(fs->get(), o);
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  Client c((*srv)->port());
  // 40 rows of 40 KB payload: 1.6 MB > the 1 MiB segment.
  const std::string blob = std::string(40000 / 3 * 4, 'A');
  std::string body = R"({"feature_view_name":"driver_hourly_stats","df":{"driver_id":[)";
  std::string rest;
  for (int i = 0; i < 40; ++i) body += (i ? "," : "") + std::to_string(i);
  body += R"(],"event_timestamp":[)";
  for (int i = 0; i < 40; ++i) body += std::string(i ? "," : "") + "1793610000";
  body += R"(],"payload":[)";
  for (int i = 0; i < 40; ++i) body += std::string(i ? "," : "") + "\"" + blob + "\"";
  for (const char* col : {"conv_rate", "acc_rate", "avg_daily_trips", "last_seen", "top_cities"}) {
    body += std::string("],\"") + col + "\":[";
    for (int i = 0; i < 40; ++i) body += std::string(i ? "," : "") + "null";
  }
  body += "]}}";
  HttpResult r = c.Post("/write-to-online-store", body);
  EXPECT_EQ(r.status, 507) << r.body.substr(0, 300);
  EXPECT_EQ(ErrorCodeOf(r.body), "StoreFull");
  HttpResult get = c.Post("/get-online-features", GetBody({0, 39}));
  EXPECT_NE(get.body.find(R"("statuses":["NOT_FOUND","NOT_FOUND"])"), std::string::npos)
      << get.body;
  (*srv)->Shutdown();
  EXPECT_EQ((*srv)->Wait(), 0);
}

TEST_F(ServerTest, BadRequestsDisturbNothing) {
  Start();
  Client a(port_);
  ASSERT_EQ(a.Post("/push", PushBody({1}, 10)).status, 200);
  // A push whose second row is bad: 422 naming the row and column, and neither row written.
  std::string bad = PushBody({2, 3}, 20);
  bad = std::regex_replace(bad, std::regex(R"("avg_daily_trips":\[20,20\])"),
                           R"("avg_daily_trips":[20,"many"])");
  HttpResult r = a.Post("/push", bad);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("avg_daily_trips"), std::string::npos) << r.body;
  HttpResult get = a.Post("/get-online-features", GetBody({1, 2, 3}));
  EXPECT_NE(
      get.body.find(R"("values":[10,null,null],"statuses":["PRESENT","NOT_FOUND","NOT_FOUND"])"),
      std::string::npos)
      << get.body;
  // Garbage on another connection closes only that one.
  EXPECT_EQ(testing::StatusOf(testing::ExchangeToEof(port_, "\x01\x02\r\n\r\n")), 400);
  EXPECT_EQ(a.Post("/get-online-features", GetBody({1})).status, 200);
}

TEST_F(ServerTest, KeepAliveReusesOneConnection) {
  Start();
  Client c(port_);
  ASSERT_EQ(c.Post("/push", PushBody({7}, 70)).status, 200);
  for (int i = 0; i < 200; ++i) {
    HttpResult r = c.Post("/get-online-features", GetBody({7}));
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(r.keep_alive);
    ASSERT_EQ(IntAt(r.body, 1, 0), 70);
  }
  HttpResult m = c.Get("/metrics");
  EXPECT_NE(m.body.find("larder_http_connections_accepted_total 1\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("larder_http_requests_total{endpoint=\"/get-online-features\",code="
                        "\"200\"} 200\n"),
            std::string::npos);
  // HTTP/1.0 without keep-alive, and Connection: close, end the connection after the answer.
  Client old(port_);
  HttpResult r10 = old.Send(http::verb::get, "/health", "", /*keep_alive=*/false, 10);
  EXPECT_EQ(r10.status, 200);
  EXPECT_FALSE(r10.keep_alive);
  EXPECT_TRUE(old.ClosedByServer());
  Client closing(port_);
  EXPECT_EQ(closing.Send(http::verb::get, "/health", "", false).status, 200);
  EXPECT_TRUE(closing.ClosedByServer());
}

// A HEAD request is answered with the head only: the status, the headers (Content-Length of
// the body a GET would carry) and no body bytes.
TEST_F(ServerTest, HeadIsAnsweredWithoutABody) {
  Start();
  const std::string out = testing::ExchangeToEof(
      port_, "HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(testing::StatusOf(out), 405) << out;
  EXPECT_NE(out.find("\r\nAllow: GET\r\n"), std::string::npos) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("Content-Length: (\\d+)\r\n"))) << out;
  EXPECT_GT(std::stoi(m[1]), 0);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n") << "a body followed the head: " << out;
}

// --busy-poll: network threads poll instead of sleeping; every request is answered as
// without it, responses larger than the socket buffer too (the write finishes
// asynchronously), and shutdown drains and exits 0 (TearDown).
TEST_F(ServerTest, BusyPollAnswersLikeTheDefault) {
  ServerOptions o = DefaultOptions();
  o.busy_poll = std::chrono::microseconds(200);
  Start(o);
  std::vector<int64_t> ids;
  for (int64_t i = 1; i <= 20000; ++i) ids.push_back(i);
  Client c(port_);
  ASSERT_EQ(c.Post("/push", PushBody(ids, 9)).status, 200);
  const std::string features =
      R"("driver_hourly_stats:avg_daily_trips","driver_hourly_stats:top_cities",)"
      R"("driver_hourly_stats:payload","driver_hourly_stats:last_seen",)"
      R"("driver_hourly_stats:conv_rate","driver_hourly_stats:acc_rate")";
  HttpResult big = c.Post("/get-online-features", GetBody(ids, features));
  ASSERT_EQ(big.status, 200);
  EXPECT_GT(big.body.size(), 4u << 20) << "the response should exceed the socket buffer";
  EXPECT_EQ(IntAt(big.body, 1, 0), 9);
  EXPECT_EQ(IntAt(big.body, 1, 19999), 9);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      try {
        Client k(port_);
        for (int i = 0; i < 200; ++i) {
          HttpResult r = k.Post("/get-online-features", GetBody({1 + t * 100 + i % 100}));
          if (r.status != 200 || IntAt(r.body, 1, 0) != 9) failures.fetch_add(1);
        }
      } catch (const std::exception&) {
        failures.fetch_add(1);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(ServerTest, MetricsAndHealth) {
  Start();
  Client c(port_);
  ASSERT_EQ(c.Post("/push", PushBody({1, 2, 3}, 5)).status, 200);
  ASSERT_EQ(c.Post("/get-online-features", GetBody({1, 2})).status, 200);
  ASSERT_EQ(c.Post("/get-online-features", GetBody({1}, R"("x:y")")).status, 404);
  HttpResult h = c.Get("/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_NE(h.body.find(R"("status":"ok")"), std::string::npos) << h.body;
  HttpResult m = c.Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  for (const std::string& line : {
           std::string(
               "larder_http_requests_total{endpoint=\"/get-online-features\",code=\"200\"} 1"),
           std::string(
               "larder_http_requests_total{endpoint=\"/get-online-features\",code=\"404\"} 1"),
           std::string("larder_http_request_errors_total{endpoint=\"/get-online-features\"} 1"),
           std::string("larder_http_request_duration_seconds_count{endpoint=\"/push\"} 1"),
           std::string(
               "larder_http_request_duration_seconds_bucket{endpoint=\"/push\",le=\"+Inf\"} 1"),
           std::string("# TYPE larder_http_request_duration_seconds histogram"),
           std::string("larder_rows_pushed_total{endpoint=\"/push\"} 3"),
           std::string("larder_rows_written_total{endpoint=\"/push\"} 6"),
           std::string("larder_store_view_rows{view=\"driver_hourly_stats\"} 3"),
           std::string("larder_store_view_rows{view=\"driver_daily\"} 3"),
           std::string("larder_http_connections_open 1"),
       }) {
    EXPECT_NE(m.body.find(line + "\n"), std::string::npos) << line << "\n" << m.body;
  }
  EXPECT_NE(m.body.find("larder_store_view_bytes{view=\"driver_daily\"} "), std::string::npos);
  EXPECT_NE(m.body.find("larder_store_memory_limit_bytes 16777216\n"), std::string::npos);

  // The segment torn down under the server: /health says so (503), reads of the old mapping
  // still answer.
  auto other = repo_.Open();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Teardown().ok());
  HttpResult gone = c.Get("/health");
  EXPECT_EQ(gone.status, 503);
  EXPECT_EQ(ErrorCodeOf(gone.body), "StoreUnavailable");
}

// One live segment: after `teardown` the server answers errors, never the dead store's rows;
// after a new `apply` it reads and writes the new segment, without a restart.
TEST_F(ServerTest, FollowsTheStoreAcrossTeardownAndApply) {
  Start();
  Client c(port_);
  ASSERT_EQ(c.Post("/push", PushBody({1, 2, 3}, 5)).status, 200);
  HttpResult before = c.Post("/get-online-features", GetBody({1}));
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(IntAt(before.body, 1, 0), 5);

  auto other = repo_.Open();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Teardown().ok());
  HttpResult gone = c.Post("/get-online-features", GetBody({1}));
  EXPECT_EQ(gone.status, 503) << "a torn-down store was served: " << gone.body;
  EXPECT_EQ(ErrorCodeOf(gone.body), "StoreNotFound") << gone.body;
  EXPECT_EQ(c.Get("/health").status, 503);
  EXPECT_NE(c.Post("/push", PushBody({1}, 6)).status, 200);

  ASSERT_TRUE((*other)->Apply().ok());
  ASSERT_EQ(c.Post("/push", PushBody({1}, 7)).status, 200);
  HttpResult after = c.Post("/get-online-features", GetBody({1}));
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(IntAt(after.body, 1, 0), 7);
  EXPECT_EQ(c.Get("/health").status, 200);
  // The push went to the live segment: a fresh reader of the path sees it.
  auto fresh = OnlineReader::Attach(repo_.segment());
  ASSERT_TRUE(fresh.ok());
  auto resp = (*fresh)->GetOnlineFeatures(
      testing::Features({"driver_hourly_stats:avg_daily_trips"},
                        testing::MakeFrame({{"driver_id", {testing::I(1)}}})));
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->results[1].statuses[0], FieldStatus::kPresent);
}

// Snapshot reads over HTTP (issue 22): while a client pushes counter k for two entities through
// stats_push (both views: avg_daily_trips = k, trips_today = k + 1), every /get-online-features
// of both entities and both views sees one push whole.
TEST_F(ServerTest, EveryRequestSeesEachPushWhole) {
  Start();
  ASSERT_EQ(Client(port_).Post("/push", PushBody({1, 2}, 1, 1)).status, 200);
  std::atomic<bool> done{false};
  std::atomic<int64_t> pushed{1};
  std::string push_error;
  std::thread writer([&] {
    Client w(port_);
    for (int64_t k = 2; k <= 4000; ++k) {
      HttpResult r = w.Post("/push", PushBody({1, 2}, k, k));
      if (r.status != 200) {
        push_error = r.body;
        break;
      }
      pushed.store(k, std::memory_order_relaxed);
    }
    done.store(true, std::memory_order_release);
  });
  Client c(port_);
  const std::string body =
      GetBody({1, 2}, R"("driver_hourly_stats:avg_daily_trips","driver_daily:trips_today")");
  int64_t requests = 0, torn = 0, last = 0;
  std::string first_torn;
  while (!done.load(std::memory_order_acquire)) {
    HttpResult r = c.Post("/get-online-features", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const int64_t k = IntAt(r.body, 1, 0);
    const bool whole =
        IntAt(r.body, 1, 1) == k && IntAt(r.body, 2, 0) == k + 1 && IntAt(r.body, 2, 1) == k + 1;
    if (!whole && torn++ == 0) first_torn = r.body;
    last = std::max(last, k);
    ++requests;
  }
  writer.join();
  EXPECT_EQ(push_error, "");
  EXPECT_EQ(torn, 0) << torn << " of " << requests << " requests saw a push half applied, e.g. "
                     << first_torn;
  EXPECT_GT(requests, 100);
  EXPECT_GT(last, 1) << "no request saw a push of the writer";
  std::printf("[   INFO   ] %ld requests during %ld pushes\n", static_cast<long>(requests),
              static_cast<long>(pushed.load()));
}

TEST_F(ServerTest, TooManyConnectionsAndIdleTimeout) {
  ServerOptions o = DefaultOptions();
  o.max_connections = 2;
  o.idle_timeout = std::chrono::milliseconds(1500);
  Start(o);
  Client a(port_), b(port_);
  ASSERT_EQ(a.Get("/health").status, 200);
  ASSERT_EQ(b.Get("/health").status, 200);
  std::string third =
      testing::ExchangeToEof(port_, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(testing::StatusOf(third), 503) << third;
  EXPECT_NE(third.find("TooManyConnections"), std::string::npos);
  // Idle keep-alive connections are closed after the idle timeout, freeing the slots...
  EXPECT_TRUE(a.ClosedByServer(std::chrono::milliseconds(10000)));
  EXPECT_TRUE(b.ClosedByServer(std::chrono::milliseconds(10000)));
  // ...and so is a request that stops half-way: no answer, the server closes the socket (an
  // end of stream, not the client's 30 s receive timeout running out).
  const int fd = testing::ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  const std::string half = "POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  ASSERT_TRUE(testing::WriteAll(fd, half.data(), half.size()));
  char byte = 0;
  ssize_t n = ::recv(fd, &byte, 1, 0);
  const int recv_errno = errno;
  ::close(fd);
  EXPECT_TRUE(n == 0 || (n < 0 && recv_errno == ECONNRESET))
      << "expected the server to close the half-sent request, got " << n << " ("
      << std::strerror(recv_errno) << ")";
}

TEST_F(ServerTest, SixtyFourConcurrentClientsPushAndRead) {
  Start();
  constexpr int kClients = 64;
  constexpr int kRounds = 50;
  std::atomic<int> failures{0};
  std::vector<std::string> first_failure(kClients);
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      try {
        Client c(port_);
        const int64_t id = 100000 + t;
        for (int i = 1; i <= kRounds; ++i) {
          // Each client pushes its own entity, then reads it and a batch of others'.
          HttpResult p = c.Post("/push", PushBody({id}, i, i));
          HttpResult g = c.Post("/get-online-features", GetBody({id, 100000, 100063, 5}));
          // A push is visible to every reader once it was answered.
          if (p.status != 200 || g.status != 200 || IntAt(g.body, 1, 0) != i) {
            if (failures.fetch_add(1) == 0) {
              first_failure[t] = std::to_string(p.status) + " " + p.body + " / " +
                                 std::to_string(g.status) + " " + g.body;
            }
          }
        }
      } catch (const std::exception& e) {
        failures.fetch_add(1);
        first_failure[t] = e.what();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::string why;
  for (const std::string& f : first_failure) why += f.empty() ? "" : f + "\n";
  EXPECT_EQ(failures.load(), 0) << why;
  Client c(port_);
  std::vector<int64_t> ids;
  for (int t = 0; t < kClients; ++t) ids.push_back(100000 + t);
  HttpResult all = c.Post("/get-online-features", GetBody(ids));
  ASSERT_EQ(all.status, 200);
  for (int t = 0; t < kClients; ++t) EXPECT_EQ(IntAt(all.body, 1, static_cast<size_t>(t)), kRounds);
  HttpResult m = c.Get("/metrics");
  EXPECT_NE(m.body.find("larder_rows_pushed_total{endpoint=\"/push\"} " +
                        std::to_string(kClients * kRounds) + "\n"),
            std::string::npos);
}

TEST_F(ServerTest, ReaderOnlyProcessSeesRowsPushedOverHttp) {
  // Fork before the server starts any thread; the child only attaches a reader.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const std::string segment = repo_.segment();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(go[1]);
    char byte = 0;
    if (testing::ReadAll(go[0], &byte, 1) != 1) ::_exit(3);
    auto reader = OnlineReader::Attach(segment);
    if (!reader.ok()) ::_exit(2);
    OnlineRequest req;
    req.features = {"driver_hourly_stats:avg_daily_trips", "driver_daily:trips_today"};
    req.entities.names = {"driver_id"};
    req.entities.columns = {{Cell::Int(4242)}};
    auto resp = (*reader)->GetOnlineFeatures(req);
    const bool ok = resp.ok() && resp->results.size() == 3 &&
                    resp->results[1].statuses[0] == FieldStatus::kPresent &&
                    resp->results[1].values[0].i64 == 77 && resp->results[2].values[0].i64 == 78;
    ::_exit(ok ? 0 : 1);
  }
  ::close(go[0]);
  Start();
  Client c(port_);
  ASSERT_EQ(c.Post("/push", PushBody({4242}, 77)).status, 200);
  ASSERT_TRUE(testing::WriteAll(go[1], "g", 1));
  ::close(go[1]);
  const int status = testing::WaitChild(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::DescribeWait(status);
}

// ---- `larder serve` as a process --------------------------------------------------------------

class ServeProcess {
 public:
  ServeProcess(const std::string& repo, std::vector<std::string> args) {
    err_path_ = scratch_.path() + "/stderr";
    std::vector<std::string> argv_s = {std::string(LARDER_BIN_DIR) + "/larder", "serve", "--repo",
                                       repo};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      testing::WaitChild(pid_);
    }
  }

  // The port from the start-up line, or 0 if the process exited or 30 s passed.
  uint16_t WaitForPort() {
    static const std::regex kLine("listening on http://127\\.0\\.0\\.1:(\\d+) ");
    for (int i = 0; i < 3000; ++i) {
      std::smatch m;
      std::string err = stderr_text();
      if (std::regex_search(err, m, kLine)) return static_cast<uint16_t>(std::stoi(m[1]));
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = status;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }
  // Waits for the exit (up to 30 s) and returns its wait status; -1 on timeout.
  int WaitExit() {
    if (pid_ <= 0) return exit_status_;
    for (int i = 0; i < 3000; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = status;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  pid_t pid() const { return pid_; }
  std::string stderr_text() const { return ReadFile(err_path_); }

 private:
  TempDir scratch_;
  std::string err_path_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

TEST_F(ServerTest, SigtermFinishesInFlightRequestsThenExitsZero) {
  ServeProcess serve(repo_.dir(), {"--port", "0", "--threads", "2"});
  const uint16_t port = serve.WaitForPort();
  ASSERT_NE(port, 0) << serve.stderr_text();
  EXPECT_NE(serve.stderr_text().find("views driver_hourly_stats,driver_daily"), std::string::npos)
      << serve.stderr_text();

  Client idle(port);
  ASSERT_EQ(idle.Get("/health").status, 200);
  // A push in flight: its head and half of its body sent when SIGTERM arrives.
  const std::string body = PushBody({31337}, 9);
  const std::string head =
      "POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  int fd = testing::ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  const std::string first = head + body.substr(0, body.size() / 2);
  ASSERT_TRUE(testing::WriteAll(fd, first.data(), first.size()));
  // SIGTERM only once the server holds the half request (it is in flight, not in a queue).
  ASSERT_TRUE(WaitUntil([&] { return ServerReadEverything(fd, port); }))
      << "the server did not read the half-sent request";
  ASSERT_EQ(::kill(serve.pid(), SIGTERM), 0);

  EXPECT_TRUE(idle.ClosedByServer(std::chrono::milliseconds(30000)))
      << "idle keep-alive connections close at once";
  // No new connections once shutting down.
  EXPECT_TRUE(WaitUntil([&] {
    const int other = testing::ConnectLoopback(port);
    if (other >= 0) ::close(other);
    return other < 0;
  }));
  const std::string rest = body.substr(body.size() / 2);
  ASSERT_TRUE(testing::WriteAll(fd, rest.data(), rest.size()));
  std::string answer = testing::ReadToEof(fd);
  ::close(fd);
  EXPECT_EQ(testing::StatusOf(answer), 200) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;

  const int status = serve.WaitExit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << testing::DescribeWait(status) << "\n"
      << serve.stderr_text();
  // The in-flight push was applied.
  auto reader = OnlineReader::Attach(repo_.segment());
  ASSERT_TRUE(reader.ok());
  OnlineRequest req;
  req.features = {"driver_hourly_stats:avg_daily_trips"};
  req.entities.names = {"driver_id"};
  req.entities.columns = {{Cell::Int(31337)}};
  auto resp = (*reader)->GetOnlineFeatures(req);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->results[1].values[0].i64, 9);
}

TEST_F(ServerTest, TwoServersShareOnePortWithReusePort) {
  ServeProcess first(repo_.dir(), {"--port", "0", "--reuse-port", "--threads", "1"});
  const uint16_t port = first.WaitForPort();
  ASSERT_NE(port, 0) << first.stderr_text();
  // The second polls (--busy-poll): it serves and shuts down like the first.
  ServeProcess second(repo_.dir(), {"--port", std::to_string(port), "--reuse-port", "--threads",
                                    "1", "--busy-poll", "20"});
  ASSERT_EQ(second.WaitForPort(), port) << second.stderr_text();
  // Without --reuse-port the port is taken.
  ServeProcess third(repo_.dir(), {"--port", std::to_string(port)});
  EXPECT_EQ(third.WaitForPort(), 0);
  EXPECT_NE(third.stderr_text().find("cannot listen"), std::string::npos) << third.stderr_text();
  int third_status = third.WaitExit();
  EXPECT_TRUE(WIFEXITED(third_status) && WEXITSTATUS(third_status) == 1);

  // Pushes through either server land in the one store; every new connection is served.
  for (int i = 0; i < 20; ++i) {
    Client c(port);
    ASSERT_EQ(c.Post("/push", PushBody({500 + i}, i)).status, 200);
  }
  Client c(port);
  HttpResult all = c.Post("/get-online-features", GetBody({500, 519}));
  EXPECT_EQ(IntAt(all.body, 1, 0), 0);
  EXPECT_EQ(IntAt(all.body, 1, 1), 19);
  for (ServeProcess* s : {&first, &second}) {
    ASSERT_EQ(::kill(s->pid(), SIGINT), 0);
    const int status = s->WaitExit();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::DescribeWait(status);
  }
}

TEST_F(ServerTest, ServeWithoutAStoreFails) {
  Repo empty;
  empty.Write(kViews);  // never applied
  ServeProcess serve(empty.dir(), {"--port", "0"});
  EXPECT_EQ(serve.WaitForPort(), 0);
  const int status = serve.WaitExit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  EXPECT_NE(serve.stderr_text().find("larder apply"), std::string::npos) << serve.stderr_text();
}

}  // namespace
}  // namespace larder
