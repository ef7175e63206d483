// What one client may cost the HTTP server (tools/server/limits.h, docs/server.md "Limits"):
// entities and values per request, reply bytes per connection and waiting in total, the
// request timeout from a request's first byte, and transfer codings the server does not
// implement. Each test starts its own server on a free loopback port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "engine/quote.h"
#include "tests/http_client.h"
#include "tests/store_fixture.h"
#include "tools/server/routes.h"
#include "tools/server/server.h"
#include "wire/request_json.h"

namespace larder {
namespace {

using server::Server;
using server::ServerOptions;
using testing::Exchange;
using testing::ReadResponse;
using testing::StatusOf;

const std::string kBody = std::string(testing::kDriverPreamble) + testing::kTripsView;

std::string Request(const std::string& target, const std::string& body,
                    const std::string& extra_headers = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string GetBody(int64_t first, int64_t n, const std::string& features) {
  std::string ids;
  for (int64_t i = 0; i < n; ++i) ids += (i == 0 ? "" : ",") + std::to_string(first + i);
  return R"({"features":[)" + features + R"(],"entities":{"driver_id":[)" + ids + "]}}";
}

const char kTwoFeatures[] = R"("driver_stats:trips","driver_stats:conv_rate")";

// The value of an unlabelled /metrics sample (or -1).
int64_t MetricValue(uint16_t port, const std::string& name) {
  const std::string r = Exchange(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::smatch m;
  if (!std::regex_search(r, m, std::regex("\n" + name + " (\\d+)"))) return -1;
  return std::stoll(m[1]);
}

class ServerLimits : public testing::StoreFixture {
 protected:
  void SetUp() override {
    repo_.Write(kBody);
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    store_ = std::move(fs).value();
  }
  void TearDown() override {
    if (server_) {
      server_->Shutdown();
      server_->Wait();
    }
  }
  ServerOptions Options() const {
    ServerOptions o;
    o.port = 0;
    o.threads = 2;
    o.handle_signals = false;
    o.shutdown_timeout = std::chrono::milliseconds(2000);
    return o;
  }
  // Starts a server whose request timeout (500 ms) is far shorter than its idle timeout, and
  // returns a connection to it that waits up to 60 s for an answer (-1 if it fails).
  int StartWithShortRequestTimeout() {
    ServerOptions o = Options();
    o.idle_timeout = std::chrono::milliseconds(600000);
    o.request_timeout = std::chrono::milliseconds(500);
    Start(o);
    return server_ ? testing::ConnectLoopback(port_, /*timeout_s=*/60) : -1;
  }
  void Start(const ServerOptions& o) {
    auto s = Server::Start(store_.get(), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    port_ = server_->port();
  }

  std::unique_ptr<FeatureStore> store_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

// Entities per request and values (columns x entities) per reply are capped with a 413 that
// names the limit; requests within the limits are answered; /metrics shows the limits.
TEST_F(ServerLimits, EntitiesAndValuesPerRequestAreCapped) {
  ServerOptions o = Options();
  o.limits.max_entities = 10;
  o.limits.max_values = 25;  // 3 columns (the key and 2 features) x 8 entities = 24
  Start(o);
  std::string r = Exchange(port_, Request("/get-online-features", GetBody(1, 11, kTwoFeatures)));
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("TooManyEntities"), std::string::npos) << r;
  EXPECT_NE(r.find("11 entity rows, more than the limit of 10"), std::string::npos) << r;
  r = Exchange(port_, Request("/get-online-features", GetBody(1, 9, kTwoFeatures)));
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("TooManyValues"), std::string::npos) << r;
  EXPECT_NE(r.find("3 columns x 9 entity rows = 27 values"), std::string::npos) << r;
  // Counted before the lookup (which sizes every column for every entity): a request whose
  // reply would be too large is refused even before its view is looked up (before: 404 from
  // the lookup, after the memory was taken).
  r = Exchange(
      port_,
      Request("/get-online-features",
              GetBody(1, 9, R"("no_such_view:x","driver_stats:trips","driver_stats:conv_rate")")));
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("TooManyValues"), std::string::npos) << r;
  r = Exchange(port_, Request("/get-online-features", GetBody(1, 8, kTwoFeatures)));
  EXPECT_EQ(StatusOf(r), 200) << r;
  const std::string metrics = Exchange(port_, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_NE(metrics.find("larder_http_limit{limit=\"max_entities\"} 10\n"), std::string::npos);
  EXPECT_NE(metrics.find("larder_http_limit{limit=\"max_values\"} 25\n"), std::string::npos);
  EXPECT_NE(metrics.find("larder_http_limit{limit=\"max_queued_bytes\"} 268435456\n"),
            std::string::npos);
  // The timeouts too (the defaults: 5 s, 30 s, 60 s).
  EXPECT_NE(metrics.find("larder_http_limit{limit=\"stall_timeout_ms\"} 5000\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("larder_http_limit{limit=\"request_timeout_ms\"} 30000\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("larder_http_limit{limit=\"idle_timeout_ms\"} 60000\n"),
            std::string::npos);
}

// The entity rows, and the values they make with the requested features, are judged as soon as
// the parser knows how many rows there are, before any entity value is converted into the frame
// (about 80 bytes a cell: a 16 MiB body of small keys took several hundred MiB). A request over
// a limit is refused even when one of its values would fail the conversion: before, the frame
// was built first and the conversion's 422 came instead of the 413.
TEST_F(ServerLimits, EntityLimitsAreCheckedBeforeTheEntityFrameIsBuilt) {
  ServerOptions o = Options();
  o.limits.max_entities = 10;
  o.limits.max_values = 15;  // 2 features x 7 entities = 14
  Start(o);
  // `n` entities, the last of them an object: a value the frame refuses (nested objects).
  auto with_bad_last = [](int n) {
    std::string ids;
    for (int i = 1; i < n; ++i) ids += std::to_string(i) + ",";
    return std::string(R"({"features":[)") + kTwoFeatures + R"(],"entities":{"driver_id":[)" + ids +
           "{}]}}";
  };
  std::string r = Exchange(port_, Request("/get-online-features", with_bad_last(11)));
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("TooManyEntities"), std::string::npos) << r;
  EXPECT_NE(r.find("11 entity rows, more than the limit of 10"), std::string::npos) << r;
  r = Exchange(port_, Request("/get-online-features", with_bad_last(8)));
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("TooManyValues"), std::string::npos) << r;
  EXPECT_NE(r.find("2 columns x 8 entity rows = 16 values"), std::string::npos) << r;
  // Within the limits, the value is converted and refused.
  r = Exchange(port_, Request("/get-online-features", with_bad_last(7)));
  EXPECT_EQ(StatusOf(r), 422) << r;
  EXPECT_NE(r.find("nested objects"), std::string::npos) << r;
  // Few rows, but many entity columns, or values nested in one: their cells are judged too
  // (before, both were converted, then refused, or served: found by review).
  std::string wide = std::string(R"({"features":[)") + kTwoFeatures + R"(],"entities":{)";
  for (int c = 0; c < 4; ++c)
    wide += (c == 0 ? "\"c" : ",\"c") + std::to_string(c) + "\":[1,2,3,4]";
  wide += "}}";
  r = Exchange(port_, Request("/get-online-features", wide));
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("entities hold up to 16 values"), std::string::npos) << r;
  r = Exchange(
      port_,
      Request("/get-online-features",
              std::string(R"({"features":[)") + kTwoFeatures +
                  R"(],"entities":{"driver_id":[[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]]}})"));
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("TooManyValues"), std::string::npos) << r;
}

// The parser's check is given the features and the row count before any value is converted,
// and its error is the parse's: the structural half of the test above, without a server.
TEST(ServerLimitsParse, TheEntityCheckSeesTheRowCountBeforeAnyValueIsConverted) {
  size_t seen_rows = 0;
  std::vector<std::string> seen_features;
  auto at_most_10 = [&](const OnlineRequest& selection, size_t rows, size_t) {
    seen_rows = rows;
    seen_features = selection.features;
    return rows > 10 ? InvalidArgument("over 10") : Status::Ok();
  };
  // `n` rows whose first value is an object (refused by the conversion).
  auto body = [](int n) {
    std::string ids = "{}";
    for (int i = 1; i < n; ++i) ids += "," + std::to_string(i);
    return R"({"features":["v:f"],"entities":{"k":[)" + ids + "]}}";
  };
  auto req = ParseOnlineRequestJson(body(11), UnknownFields::kIgnore, at_most_10);
  ASSERT_FALSE(req.ok());
  EXPECT_EQ(req.status().message(), "over 10");
  EXPECT_EQ(seen_rows, 11u);
  EXPECT_EQ(seen_features, std::vector<std::string>{"v:f"});
  req = ParseOnlineRequestJson(body(10), UnknownFields::kIgnore, at_most_10);
  ASSERT_FALSE(req.ok());
  EXPECT_NE(req.status().message().find("nested objects"), std::string::npos)
      << req.status().ToString();
  EXPECT_EQ(seen_rows, 10u);
  // The row count is the first column's; a longer later column is refused by its length
  // (before it is allocated).
  req = ParseOnlineRequestJson(
      R"({"features":["v:f"],"entities":{"k":[1,2],"other":[1,2,3,4,5,6,7,8,9,10,11,12]}})",
      UnknownFields::kIgnore, at_most_10);
  ASSERT_FALSE(req.ok());
  EXPECT_NE(req.status().message().find("column 'other' has 12 values but column 'k' has 2"),
            std::string::npos)
      << req.status().ToString();
}

// The check also sees the cells the entity frame would take: several columns of a row each
// take a cell, and values nested in arrays take one each. Before, only rows were judged, so a
// 16 MiB body of 80 entity columns x 100,000 rows, or of one row holding an array of 8 million
// values, built a frame of several hundred MiB while passing every early check (found by review).
TEST(ServerLimitsParse, TheEntityCheckSeesCellsOfEveryColumnAndNestedValues) {
  size_t seen_rows = 0;
  size_t seen_cells = 0;
  auto record = [&](const OnlineRequest&, size_t rows, size_t cells) {
    seen_rows = rows;
    seen_cells = cells;
    return InvalidArgument("judged");
  };
  std::string wide = R"({"features":["v:f"],"entities":{)";
  for (int c = 0; c < 80; ++c) {
    wide += (c == 0 ? "\"c" : ",\"c") + std::to_string(c) + "\":[1,2,3,4,5]";
  }
  wide += "}}";
  EXPECT_FALSE(ParseOnlineRequestJson(wide, UnknownFields::kIgnore, record).ok());
  EXPECT_EQ(seen_rows, 5u);
  EXPECT_EQ(seen_cells, 400u);
  std::string nested = R"({"features":["v:f"],"entities":{"k":[[)";
  for (int i = 0; i < 1000; ++i) nested += i == 0 ? "0" : ",0";
  nested += "]]}}";
  EXPECT_FALSE(ParseOnlineRequestJson(nested, UnknownFields::kIgnore, record).ok());
  EXPECT_EQ(seen_rows, 1u);
  EXPECT_GE(seen_cells, 1000u) << "the nested values were not counted";
  EXPECT_FALSE(ParseOnlineRequestJson(R"({"features":["v:f"],"entities":{"k":["a","b"]}})",
                                      UnknownFields::kIgnore, record)
                   .ok());
  EXPECT_EQ(seen_cells, 2u);
}

// Row counts are exact past 0xFFFFFF elements, where simdjson's array size() stops counting.
// Before, a column of more values (a 32 MiB body: a raised --max-body, or `larder push` of a
// JSON file) was sized at 16,777,215 cells and written past its end.
TEST(ServerLimitsParse, RowCountsPastSimdjsonsSaturatedSizeAreExact) {
  constexpr size_t kRows = 0xFFFFFF + 2;
  std::string body = R"({"features":["v:f"],"entities":{"k":[)";
  body.reserve(body.size() + 2 * kRows + 8);
  for (size_t i = 0; i < kRows; ++i) body += i == 0 ? "0" : ",0";
  body += "]}}";
  size_t seen_rows = 0;
  bool refused = false;
  // On a thread of its own: the parser it uses (thread_local, about 14 bytes a body byte here)
  // is freed with the thread instead of staying with the test process.
  std::thread([&] {
    auto req = ParseOnlineRequestJson(body, UnknownFields::kIgnore,
                                      [&](const OnlineRequest&, size_t rows, size_t) {
                                        seen_rows = rows;
                                        return InvalidArgument("counted");
                                      });
    refused = !req.ok();
  }).join();
  EXPECT_TRUE(refused);
  EXPECT_EQ(seen_rows, kRows);
}

// Every piece of client input an error quotes is cut at 200 bytes and given its length: a
// 1 MiB name gets an error reply of a few hundred bytes that still names the problem. Before,
// the reply quoted the whole name back (over 1 MiB, built and queued for the client).
TEST_F(ServerLimits, ErrorsQuoteAtMostAFewHundredBytesOfEachInput) {
  Start(Options());
  const std::string huge(1 << 20, 'a');
  const std::string cut = "'" + std::string(200, 'a') + "...' (1048576 bytes)";
  struct Case {
    std::string target, body;
    int status;
    std::string code, says;
  };
  const std::vector<Case> cases = {
      {"/get-online-features",
       R"({"features":["driver_stats:)" + huge + R"("],"entities":{"driver_id":[1]}})", 404,
       "FeatureNotFound", "feature " + cut + " is not in feature view 'driver_stats'"},
      {"/get-online-features", R"({"features":[")" + huge + R"(:x"],"entities":{"driver_id":[1]}})",
       404, "FeatureViewNotFound", "feature view " + cut + " is not in the"},
      {"/get-online-features", R"({"features":[")" + huge + R"("],"entities":{"driver_id":[1]}})",
       422, "InvalidArgument", "feature reference " + cut + " is not of the form"},
      {"/get-online-features",
       R"({"features":["driver_stats:trips"],"entities":{")" + huge + R"(":[1]}})", 422,
       "MissingJoinKey",
       "lack join key 'driver_id' needed by feature view 'driver_stats' (given: " + cut + ")"},
      {"/get-online-features",
       R"({"features":["driver_stats:trips"],"entities":{"driver_id":[1],")" + huge +
           R"(":[1,2]}})",
       422, "InvalidArgument", "column " + cut + " has 2 values but column 'driver_id' has 1"},
      {"/push", R"({"push_source_name":")" + huge + R"(","df":{"driver_id":[1]}})", 422,
       "PushSourceNotFound", "push source " + cut + " is not in the registry"},
      {"/push",
       R"({"push_source_name":"stats_push","to":")" + huge + R"(","df":{"driver_id":[1]}})", 422,
       "InvalidArgument", "push mode " + cut + " is not one of"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.code + ": " + c.says.substr(0, 40));
    const std::string r = Exchange(port_, Request(c.target, c.body));
    EXPECT_EQ(StatusOf(r), c.status) << r.substr(0, 500);
    EXPECT_LT(r.size(), 1500u) << r.substr(0, 500);
    EXPECT_NE(r.find(c.code), std::string::npos) << r.substr(0, 500);
    EXPECT_NE(r.find(c.says), std::string::npos) << r.substr(0, 1500);
  }
}

// QuoteInput keeps 200 bytes, never half a UTF-8 character; a whole error message is capped at
// kMaxErrorMessageBytes, whatever it holds (many quoted pieces, or text no caller cut).
TEST(ServerErrorReplies, QuotedInputAndWholeMessagesAreCapped) {
  EXPECT_EQ(QuoteInput("abc"), "'abc'");
  EXPECT_EQ(QuoteInput(std::string(200, 'x')), "'" + std::string(200, 'x') + "'");
  // 2-byte characters from byte 1 on: byte 200 would split one, so 199 bytes are kept.
  const std::string accents = "x" + [] {
    std::string s;
    for (int i = 0; i < 150; ++i) s += "\xC3\xA9";
    return s;
  }();
  EXPECT_EQ(QuoteInput(accents), "'" + accents.substr(0, 199) + "...' (301 bytes)");
  const std::string m(1 << 20, 'x');
  for (const server::Reply& r :
       {server::ErrorReply(InvalidArgument(m)), server::HttpErrorReply(400, "BadRequest", m)}) {
    EXPECT_LT(r.body.size(), server::kMaxErrorMessageBytes + 300) << r.body.substr(0, 300);
    EXPECT_NE(r.body.find("(message cut at 4096 of 1048576 bytes)"), std::string::npos)
        << r.body.substr(r.body.size() - 300);
  }
}

// A reply larger than max_reply_bytes is refused (413) instead of being queued.
TEST_F(ServerLimits, AReplyLargerThanTheLimitIs413) {
  ServerOptions o = Options();
  o.limits.max_reply_bytes = 2000;
  Start(o);
  std::string r = Exchange(port_, Request("/get-online-features", GetBody(1, 200, kTwoFeatures)));
  EXPECT_EQ(StatusOf(r), 413) << r.substr(0, 300);
  EXPECT_NE(r.find("ReplyTooLarge"), std::string::npos);
  r = Exchange(port_, Request("/get-online-features", GetBody(1, 2, kTwoFeatures)));
  EXPECT_EQ(StatusOf(r), 200) << r;
}

// A client that asks for a large reply and does not read it leaves the reply queued; while
// the queued bytes are at the limit, other reads get 503 Overloaded; once the client reads,
// reads are served again.
TEST_F(ServerLimits, RepliesWaitingForSlowClientsAreCappedInTotal) {
  ASSERT_TRUE(store_->Push("stats_push", testing::TripsRows(1, 1000, 0, 1)).ok());
  ServerOptions o = Options();
  o.limits.max_queued_bytes = 1000;
  o.limits.stall_timeout = std::chrono::minutes(10);  // the slow client's reply is not cut here
  Start(o);
  // 60,000 entities: a reply of ~3 MB, far more than the socket buffers of a client whose
  // receive buffer is 4 KiB, so most of it stays queued in the server.
  const int slow = testing::ConnectLoopback(port_, 30, 4096);
  ASSERT_GE(slow, 0);
  const std::string big = Request("/get-online-features", GetBody(1, 60000, kTwoFeatures));
  testing::WriteAll(slow, big.data(), big.size());
  int64_t queued = 0;
  for (int i = 0; i < 3000 && queued < 1000; ++i) {  // waits for the condition (<= 30 s)
    queued = MetricValue(port_, "larder_http_queued_reply_bytes");
    if (queued < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int64_t queued_while_waiting = queued;
  ASSERT_GE(queued, 1000) << "the slow client's reply was never queued";
  std::string r = Exchange(port_, Request("/get-online-features", GetBody(1, 1, kTwoFeatures)));
  EXPECT_EQ(StatusOf(r), 503) << r;
  EXPECT_NE(r.find("Overloaded"), std::string::npos) << r;
  EXPECT_GE(MetricValue(port_, "larder_http_requests_overloaded_total"), 1);
  // The slow client reads its reply whole: the queue empties and reads are served again.
  const std::string reply = ReadResponse(slow);
  ::close(slow);
  EXPECT_EQ(StatusOf(reply), 200) << reply.substr(0, 300);
  // The server holds the whole reply until it is written: all of it is counted (before, only
  // the part the first send left over, so replies a little larger than the socket buffers
  // could pile up uncounted).
  EXPECT_EQ(queued_while_waiting, static_cast<int64_t>(reply.size()));
  for (int i = 0; i < 3000 && MetricValue(port_, "larder_http_queued_reply_bytes") != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r = Exchange(port_, Request("/get-online-features", GetBody(1, 1, kTwoFeatures)));
  EXPECT_EQ(StatusOf(r), 200) << r;
}

// At the queued-bytes cap, a reply that has not moved for --stall-timeout is cut (its connection
// closed), so that a client that stopped reading does not keep every read refused until its
// --request-timeout (here 10 minutes). Before, reads were 503 until then.
TEST_F(ServerLimits, AStalledReplyIsCutWhenTheQueuedBytesReachTheCap) {
  ASSERT_TRUE(store_->Push("stats_push", testing::TripsRows(1, 1000, 0, 1)).ok());
  ServerOptions o = Options();
  o.limits.max_queued_bytes = 1000;
  o.limits.stall_timeout = std::chrono::milliseconds(200);
  o.request_timeout = std::chrono::minutes(10);
  o.idle_timeout = std::chrono::minutes(10);
  Start(o);
  // As above: a reply of ~3 MB to a client with a 4 KiB receive buffer that never reads.
  const int stalled = testing::ConnectLoopback(port_, 60, 4096);
  ASSERT_GE(stalled, 0);
  const std::string big = Request("/get-online-features", GetBody(1, 60000, kTwoFeatures));
  testing::WriteAll(stalled, big.data(), big.size());
  int64_t queued = 0;
  for (int i = 0; i < 3000 && queued < 1000; ++i) {  // waits for the condition (<= 30 s)
    queued = MetricValue(port_, "larder_http_queued_reply_bytes");
    if (queued < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(queued, 1000) << "the stalled client's reply was never queued";
  // Reads are refused until the stalled reply is cut; then served. Retries wait for that
  // condition (<= 60 s, far below the request timeout that would otherwise free the reply).
  std::string r;
  int overloaded = 0;
  for (int i = 0; i < 600; ++i) {
    r = Exchange(port_, Request("/get-online-features", GetBody(1, 1, kTwoFeatures)));
    if (StatusOf(r) != 503) break;
    ++overloaded;
    EXPECT_NE(r.find("Overloaded"), std::string::npos) << r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(StatusOf(r), 200) << "reads were still refused: " << r;
  EXPECT_GE(overloaded, 1);
  EXPECT_EQ(MetricValue(port_, "larder_http_stalled_replies_cut_total"), 1);
  // The stalled client gets what the sockets held of its reply, then the end of the
  // connection (0), not its 60 s receive timeout (-1 with EAGAIN).
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(stalled, buf, sizeof(buf), 0)) > 0) {
  }
  const int err = errno;
  ::close(stalled);
  EXPECT_TRUE(n == 0 || (err != EAGAIN && err != EWOULDBLOCK))
      << "the stalled connection was not closed";
}

// A request head sent slowly is cut at --request-timeout (counted from its first byte), not at
// the much longer --idle-timeout that applies before a request starts.
TEST_F(ServerLimits, ASlowlySentHeadIsCutAtTheRequestTimeout) {
  const int fd = StartWithShortRequestTimeout();
  ASSERT_GE(fd, 0);
  const std::string part = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";  // the head never ends
  testing::WriteAll(fd, part.data(), part.size());
  char c;
  const ssize_t n = ::recv(fd, &c, 1, 0);  // 0: the server closed; -1: our 60 s ran out
  ::close(fd);
  EXPECT_EQ(n, 0) << "the connection was not closed by the request timeout";
}

// The request timeout covers head and body together, from the request's first byte: a head
// sent over 400 ms and a body over another 400 ms are cut at 500 ms. Before, the deadline was
// set again when the head was done, so the body got another whole timeout and was served.
TEST_F(ServerLimits, HeadAndBodyTogetherGetOneRequestTimeout) {
  const int fd = StartWithShortRequestTimeout();
  ASSERT_GE(fd, 0);
  const std::string body = GetBody(1, 1, kTwoFeatures);
  const std::string head =
      "POST /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  // `pieces` pieces, `gap` apart (no pause after the last).
  auto send_slowly = [&](const std::string& bytes, size_t pieces, int gap_ms) {
    const size_t step = (bytes.size() + pieces - 1) / pieces;
    for (size_t at = 0; at < bytes.size(); at += step) {
      if (at > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
      const std::string piece = bytes.substr(at, step);
      // MSG_NOSIGNAL: once the server has closed, a write fails instead of raising SIGPIPE.
      if (::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) < 0) return;
    }
  };
  // The head ends at about 400 ms; the body's last byte comes at about 750 ms: 250 ms past the
  // request timeout, and 150 ms before a timeout started again at the head's end would run out.
  send_slowly(head, 3, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  send_slowly(body, 4, 100);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;)
    got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(got.find(" 200 "), std::string::npos)
      << "a request that took 800 ms was served under a 500 ms request timeout: " << got;
}

// Transfer codings other than chunked are refused as RFC 9112 says: 501 when the server does
// not implement one, 400 when chunked is not the last (the body cannot be framed).
TEST_F(ServerLimits, UnimplementedTransferCodingsAreRefused) {
  Start(Options());
  const std::string chunk = "5\r\nhello\r\n0\r\n\r\n";
  auto send = [&](const std::string& te) {
    return Exchange(port_, "POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + te +
                               "\r\n\r\n" + chunk);
  };
  std::string r = send("gzip, chunked");
  EXPECT_EQ(StatusOf(r), 501) << r;
  EXPECT_NE(r.find("transfer coding 'gzip' is not supported"), std::string::npos) << r;
  r = send("chunked, gzip");
  EXPECT_TRUE(StatusOf(r) == 400 || StatusOf(r) == 501) << r;
  r = send("chunked");  // plain chunked goes on to the push (a bad body here: 422)
  EXPECT_EQ(StatusOf(r), 422) << r;
  EXPECT_EQ(r.find("transfer coding"), std::string::npos) << r;
}

// A key given twice at the top level of a body is refused (as inside `df` and `entities`),
// instead of one of the two silently winning.
TEST_F(ServerLimits, DuplicateTopLevelKeysAreRefused) {
  Start(Options());
  const std::string df = R"("df":{"driver_id":[1],"trips":[7],"conv_rate":[0.5],)"
                         R"("event_timestamp":[1]})";
  std::string r = Exchange(port_, Request("/push", R"({"push_source_name":"stats_push",)" + df +
                                                       R"(,"to":"offline","to":"online"})"));
  EXPECT_EQ(StatusOf(r), 422) << r;
  EXPECT_NE(r.find("duplicate field 'to'"), std::string::npos) << r;
  r = Exchange(port_, Request("/get-online-features",
                              R"({"features":["driver_stats:trips"],"features":["x:y"],)"
                              R"("entities":{"driver_id":[1]}})"));
  EXPECT_EQ(StatusOf(r), 422) << r;
  EXPECT_NE(r.find("duplicate field 'features'"), std::string::npos) << r;
  r = Exchange(port_, Request("/push", R"({"push_source_name":"stats_push",)" + df + "}"));
  EXPECT_EQ(StatusOf(r), 200) << r;
}

// A request carrying an Origin header (what a browser sends on a cross-site request, such as a
// web page's text/plain POST to 127.0.0.1) is refused unless --allow-origin names the origin;
// requests without one (curl, Feast's client) are served. Nothing is written by a refused push.
TEST_F(ServerLimits, BrowserOriginsAreRefusedUnlessAllowed) {
  ServerOptions o = Options();
  o.access.allowed_origins = {"https://app.example"};
  Start(o);
  const std::string push = R"({"push_source_name":"stats_push","df":{"driver_id":[5],"trips":[9],)"
                           R"("conv_rate":[0.5],"event_timestamp":["9999-12-31T23:59:59Z"]}})";
  std::string r = Exchange(port_, Request("/push", push,
                                          "Origin: https://evil.example\r\n"
                                          "Content-Type: text/plain\r\n"));
  EXPECT_EQ(StatusOf(r), 403) << r;
  EXPECT_NE(r.find("OriginNotAllowed"), std::string::npos) << r;
  EXPECT_NE(r.find("https://evil.example"), std::string::npos) << r;
  const std::string get = GetBody(5, 1, R"("driver_stats:trips")");
  r = Exchange(port_, Request("/get-online-features", get));
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("NOT_FOUND"), std::string::npos) << "the refused push wrote: " << r;
  r = Exchange(port_, Request("/get-online-features", get, "Origin: https://app.example\r\n"));
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("Access-Control-Allow-Origin: https://app.example\r\n"), std::string::npos);
  r = Exchange(port_, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: null\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 403) << r;
}

// DNS rebinding: a page at http://evil.example:6566 whose name the attacker re-points at
// 127.0.0.1 reaches a loopback server as a same-origin page: its GETs carry no Origin header,
// only `Host: evil.example:6566`. A server on loopback serves only Host names that are loopback
// addresses, localhost, or --allow-host names; before, /get-online-features and /metrics were
// answered to it.
TEST_F(ServerLimits, ALoopbackServerRefusesHostNamesItWasNotGiven) {
  ServerOptions o = Options();
  o.access.allowed_hosts = {"Features.Internal"};
  Start(o);
  const std::string get = GetBody(5, 1, R"("driver_stats:trips")");
  auto with_host = [&](const std::string& host) {
    return "POST /get-online-features HTTP/1.1\r\nHost: " + host +
           "\r\nContent-Length: " + std::to_string(get.size()) + "\r\n\r\n" + get;
  };
  for (const std::string& host :
       std::vector<std::string>{"evil.example:" + std::to_string(port_), "evil.example",
                                "127.0.0.1.evil.example", "localhost.evil.example:80"}) {
    std::string r = Exchange(port_, with_host(host));
    EXPECT_EQ(StatusOf(r), 403) << host << "\n" << r;
    EXPECT_NE(r.find("HostNotAllowed"), std::string::npos) << r;
    r = Exchange(port_, "GET /metrics HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    EXPECT_EQ(StatusOf(r), 403) << host << "\n" << r;
  }
  for (const std::string& host : std::vector<std::string>{
           "127.0.0.1:" + std::to_string(port_), "localhost", "LOCALHOST.:" + std::to_string(port_),
           "[::1]:8080", "127.1.2.3", "features.internal:443"}) {
    const std::string r = Exchange(port_, with_host(host));
    EXPECT_EQ(StatusOf(r), 200) << host << "\n" << r;
  }
}

// A request with the server's token is not judged on Host: a rebinding page cannot send the
// token, while a proxy on the same host that keeps its client's Host header can.
TEST_F(ServerLimits, ARequestWithTheTokenIsNotJudgedOnHost) {
  ServerOptions o = Options();
  o.access.token = "s3cret-token";
  Start(o);
  const std::string health = "GET /health HTTP/1.1\r\nHost: features.example\r\n";
  EXPECT_EQ(StatusOf(Exchange(port_, health + "Authorization: Bearer s3cret-token\r\n\r\n")), 200);
  EXPECT_EQ(StatusOf(Exchange(port_, health + "Authorization: Bearer wrong\r\n\r\n")), 403);
  EXPECT_EQ(StatusOf(Exchange(port_, health + "\r\n")), 403);
}

// Through a non-loopback address the server cannot know the names clients use: it does not
// judge Host there. Entries of --allow-host compare without port, brackets, dot or case.
TEST(ServerAccess, OnlyRequestsThroughLoopbackHaveTheirHostJudged) {
  server::AccessOptions access;
  const std::string_view evil = "evil.example";
  EXPECT_TRUE(server::HostAllowed(access, /*via_loopback=*/false, &evil));
  EXPECT_FALSE(server::HostAllowed(access, true, &evil));
  EXPECT_TRUE(server::HostAllowed(access, true, nullptr));  // no Host header
  const std::string_view empty = "";
  EXPECT_FALSE(server::HostAllowed(access, true, &empty));  // also: several Host headers
  const std::string_view mapped = "[::ffff:127.0.0.1]:6566";
  EXPECT_TRUE(server::HostAllowed(access, true, &mapped));
  access.allowed_hosts = {"Features.Internal.:6566"};
  const std::string_view named = "features.internal";
  EXPECT_TRUE(server::HostAllowed(access, true, &named));
  access.allowed_hosts = {"*"};
  EXPECT_TRUE(server::HostAllowed(access, true, &evil));
  access.allowed_hosts = {"http://x/"};
  EXPECT_FALSE(server::ValidateAccess("127.0.0.1", access).ok());
}

// A server bound to every address is reached through 127.0.0.1 too: those requests have their
// Host judged as on a loopback server (before, only a --host that was a loopback literal was).
TEST_F(ServerLimits, AServerOnEveryAddressJudgesHostThroughLoopback) {
  ServerOptions o = Options();
  o.host = "0.0.0.0";
  o.access.no_auth = true;
  Start(o);
  std::string r = Exchange(port_, "GET /metrics HTTP/1.1\r\nHost: evil.example\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 403) << r;
  r = Exchange(port_, "GET /health HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 403) << "several Host headers: " << r;
  r = Exchange(port_, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 200) << r;
}

// --auth-token-file: requests without the bearer token get 401 (with WWW-Authenticate), for
// every endpoint or, with --auth writes, for writes only.
TEST_F(ServerLimits, ABearerTokenGuardsAllEndpointsOrWrites) {
  const std::string push = R"({"push_source_name":"stats_push","df":{"driver_id":[5],"trips":[9],)"
                           R"("conv_rate":[0.5],"event_timestamp":[1]}})";
  const std::string health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (bool writes_only : {false, true}) {
    SCOPED_TRACE(writes_only ? "--auth writes" : "--auth all");
    ServerOptions o = Options();
    o.access.token = "s3cret-token";
    o.access.token_for_writes_only = writes_only;
    Start(o);
    std::string r = Exchange(port_, Request("/push", push));
    EXPECT_EQ(StatusOf(r), 401) << r;
    EXPECT_NE(r.find("WWW-Authenticate: Bearer"), std::string::npos) << r;
    r = Exchange(port_, Request("/push", push, "Authorization: Bearer s3cret-tokeX\r\n"));
    EXPECT_EQ(StatusOf(r), 401) << r;
    r = Exchange(port_, Request("/push", push, "Authorization: Bearer s3cret-token\r\n"));
    EXPECT_EQ(StatusOf(r), 200) << r;
    r = Exchange(port_, health + "\r\n");
    EXPECT_EQ(StatusOf(r), writes_only ? 200 : 401) << r;
    r = Exchange(port_, health + "Authorization: bearer s3cret-token\r\n\r\n");
    EXPECT_EQ(StatusOf(r), 200) << r;
    server_->Shutdown();
    server_->Wait();
    server_.reset();
  }
}

// A CORS preflight from an allowed origin is answered even when a token is required (browsers
// never send credentials on a preflight, so before, every preflight got 401 and browsers could
// not use a server with a token); one from another origin is refused. A preflight that carries
// a body closes the connection after its answer: those bytes are never read as a next request
// (before, they were, without the Origin check a browser's request gets).
TEST_F(ServerLimits, PreflightsAreAnsweredBeforeTheTokenAndNeverSmuggleABody) {
  ServerOptions o = Options();
  o.access.allowed_origins = {"https://app.example"};
  o.access.token = "s3cret-token";
  Start(o);
  const std::string preflight =
      "OPTIONS /push HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.example\r\n"
      "Access-Control-Request-Method: POST\r\n";
  std::string r = Exchange(port_, preflight + "\r\n");
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("Access-Control-Allow-Origin: https://app.example\r\n"), std::string::npos) << r;
  r = Exchange(port_,
               "OPTIONS /push HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 403) << r;
  // A body after the preflight holding a whole request (without Origin, with the token).
  const std::string push = R"({"push_source_name":"stats_push","df":{"driver_id":[5],"trips":[9],)"
                           R"("conv_rate":[0.5],"event_timestamp":[1]}})";
  const std::string inner = Request("/push", push, "Authorization: Bearer s3cret-token\r\n");
  const int fd = testing::ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  const std::string bytes =
      preflight + "Content-Length: " + std::to_string(inner.size()) + "\r\n\r\n" + inner;
  testing::WriteAll(fd, bytes.data(), bytes.size());
  std::string all;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;)
    all.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(StatusOf(all), 200) << all;
  EXPECT_EQ(all.find("HTTP/1.1", 1), std::string::npos)
      << "the preflight's body was answered as a request: " << all;
  EXPECT_EQ(store_->Inspect()->rows_written, 0u) << "the smuggled push was written";
}

// Only address literals of loopback, and "localhost", count as loopback: a name such as
// 127.foo.example may resolve anywhere (before, any host starting with "127." counted).
TEST(ServerAccess, LoopbackIsJudgedOnAddressesNotOnNames) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) {
    EXPECT_TRUE(server::IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"127.foo.example", "0.0.0.0", "::", "", "10.0.0.1", "example.com"}) {
    EXPECT_FALSE(server::IsLoopbackHost(host)) << host;
  }
}

// A server listening beyond loopback refuses to start without a token unless --no-auth.
TEST_F(ServerLimits, ANonLoopbackHostNeedsATokenOrNoAuth) {
  ServerOptions o = Options();
  o.host = "0.0.0.0";
  auto refused = Server::Start(store_.get(), o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--auth-token-file"), std::string::npos)
      << refused.status().ToString();
  o.access.no_auth = true;
  Start(o);
  EXPECT_GT(port_, 0);
  server_->Shutdown();
  server_->Wait();
  server_.reset();
  o.access.no_auth = false;
  o.access.token = "t";
  Start(o);
  ServerOptions bad = Options();
  bad.access.allowed_origins = {"https://app.example/"};
  EXPECT_FALSE(Server::Start(store_.get(), bad).ok());
  ServerOptions zero = Options();
  zero.limits.max_queued_bytes = 0;  // every read would be refused
  EXPECT_FALSE(Server::Start(store_.get(), zero).ok());
  // A stall timeout of 0 would cut replies that are moving (found by review).
  ServerOptions no_stall = Options();
  no_stall.limits.stall_timeout = std::chrono::milliseconds(0);
  EXPECT_TRUE(testing::IsError(Server::Start(store_.get(), no_stall), ErrorCode::kInvalidArgument,
                               {"--stall-timeout"}));
}

// The token file must be its owner's alone; its first line is the token. Tokens compare equal
// only when every byte and the length match.
TEST(ServerAccess, TokenFilesAndComparison) {
  testing::TempDir dir;
  const std::string path = dir.Write("token", "  abc123  \nsecond line\n");
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_FALSE(server::LoadTokenFile(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto token = server::LoadTokenFile(path);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(*token, "abc123");
  const std::string link = dir.path() + "/link";  // as Kubernetes mounts a secret
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  auto linked = server::LoadTokenFile(link);
  ASSERT_TRUE(linked.ok()) << linked.status().ToString();
  EXPECT_EQ(*linked, "abc123");
  const std::string fifo = dir.path() + "/fifo";  // refused without blocking the start
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(server::LoadTokenFile(fifo).ok());
  const std::string empty = dir.Write("empty", "\n");
  ASSERT_EQ(::chmod(empty.c_str(), 0600), 0);
  EXPECT_FALSE(server::LoadTokenFile(empty).ok());
  EXPECT_TRUE(server::TokensEqual("abc123", "abc123"));
  EXPECT_FALSE(server::TokensEqual("abc124", "abc123"));
  EXPECT_FALSE(server::TokensEqual("abc12", "abc123"));
  EXPECT_FALSE(server::TokensEqual("abc1234", "abc123"));
  EXPECT_FALSE(server::TokensEqual("", "abc123"));
}

}  // namespace
}  // namespace larder
