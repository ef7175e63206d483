// Permissions and exposure (docs/reliability.md): the modes of the files apply creates, their
// configuration (online_store.file_mode / readers_mode), readers that map the data read-only
// (a write through a reader's mapping faults), and a reader that has only the group's read
// permission. (The HTTP server's limits are tested in tests/server_test.cc.)
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/segment/segment_file.h"
#include "engine/store.h"
#include "larder/feature_store.h"
#include "tests/store_fixture.h"

namespace larder {
namespace {

using testing::DescribeWait;
using testing::Features;
using testing::Ints;
using testing::MakeFrame;
using testing::Repeat;
using testing::StoreOptions;
using testing::WaitChild;

constexpr char kView[] = R"(feature_views:
  - name: v
    entities: [driver]
    source: stats_push
    schema:
      - {name: x, dtype: Int64}
)";

std::string Body() { return std::string(testing::kDriverPreamble) + kView; }

uint32_t ModeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 07777;
  return st.st_mode & 07777;
}

Frame Row(int64_t id, int64_t x) {
  return MakeFrame({{"driver_id", Ints({id})}, {"x", Ints({x})}, {"event_timestamp", Ints({1})}});
}

// Restores the umask on scope exit.
struct Umask {
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
  mode_t old;
};

class Permissions : public testing::StoreFixture {};

// Defaults: segment 0640 (owner rw, group r), reader table 0660 (readers claim slots), lock
// 0600 (only the owner writes); exactly, whatever the umask.
TEST_F(Permissions, CreatedFilesHaveRestrictiveModes) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    SCOPED_TRACE("umask " + std::to_string(mask));
    Umask u(mask);
    repo_.Write(Body());
    ASSERT_TRUE(repo_.OpenApplied().ok());
    EXPECT_EQ(ModeOf(repo_.segment()), 0640u);
    EXPECT_EQ(ModeOf(ReadersPath(repo_.segment())), 0660u);
    EXPECT_EQ(ModeOf(LockPath(repo_.segment())), 0600u);
    ASSERT_TRUE(Store::Teardown(repo_.segment()).ok());
  }
}

// A caller of Store::Apply cannot make the lock file reachable to others: whatever modes it
// passes, the lock file is 0600 (before, a lock mode in FileModes was used as given, and a
// group member who could open the file could hold its flock and stop every write).
TEST_F(Permissions, TheLockFileIsOwnerOnlyWhateverTheCallerAsks) {
  repo_.Write(Body());
  auto config = LoadRepoConfig(repo_.dir());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  FileModes asked;
  asked.segment = 0640;
  asked.readers = 0660;
  asked.lock = 0666;
  auto created = Store::Apply(*config, asked);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(ModeOf(LockPath(repo_.segment())), 0600u);
  asked.segment = 0600;  // not the defaults: the modes given are used, but never for the lock
  auto updated = Store::Apply(*config, asked);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(ModeOf(repo_.segment()), 0600u);
  EXPECT_EQ(ModeOf(LockPath(repo_.segment())), 0600u);
}

// online_store.file_mode / readers_mode: used at creation, applied to existing files by the
// next apply; a mode without owner read-write, or not octal, is a config error.
TEST_F(Permissions, ModesAreConfigurable) {
  auto with_modes = [&](const std::string& file_mode, const std::string& readers_mode) {
    std::string yaml = "project: larder_test\nonline_store:\n  path: " + repo_.segment() +
                       "\n  memory_limit: 16MiB\n  file_mode: \"" + file_mode +
                       "\"\n  readers_mode: \"" + readers_mode + "\"\n" + Body();
    testing::TempDir dir;
    dir.Write("feature_store.yaml", yaml);
    return FeatureStore::Open(dir.path());
  };
  {
    auto fs = with_modes("0600", "0666");
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    ASSERT_TRUE((*fs)->Apply().ok());
    EXPECT_EQ(ModeOf(repo_.segment()), 0600u);
    EXPECT_EQ(ModeOf(ReadersPath(repo_.segment())), 0666u);
    EXPECT_EQ(ModeOf(LockPath(repo_.segment())), 0600u);
  }
  {
    auto fs = with_modes("0644", "0660");
    ASSERT_TRUE(fs.ok());
    auto report = (*fs)->Apply();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(ModeOf(repo_.segment()), 0644u);
    EXPECT_EQ(ModeOf(ReadersPath(repo_.segment())), 0660u);
    EXPECT_EQ(ModeOf(LockPath(repo_.segment())), 0600u);
  }
  for (const char* bad : {"0400", "abc", "8", "01777", ""}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(testing::IsError(with_modes(bad, "0660"), ErrorCode::kConfigError, {"file_mode"}));
  }
}

// The batch source's files an offline push creates (the CSV, its .lock and, once a torn tail is
// removed, its .torn) take online_store.file_mode exactly, whatever the umask; a file that
// already existed keeps its own mode.
TEST_F(Permissions, OfflineFilesTakeTheConfiguredMode) {
  const std::string csv = repo_.dir() + "/data/stats.csv";
  for (const char* mode_text : {"0640", "0600"}) {
    SCOPED_TRACE(mode_text);
    const uint32_t mode = static_cast<uint32_t>(std::stoul(mode_text, nullptr, 8));
    Umask u(077);  // the mode must hold past the umask (0640 would come out 0600)
    std::filesystem::remove_all(repo_.dir() + "/data");
    StoreOptions opts;
    opts.file_mode = mode_text;
    repo_.Write(Body(), opts);
    auto fs = repo_.OpenApplied();
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    ASSERT_TRUE((*fs)->Push("stats_push", Row(1, 42), PushMode::kOffline).ok());
    EXPECT_EQ(ModeOf(csv), mode);
    EXPECT_EQ(ModeOf(csv + ".lock"), mode);
    {
      std::ofstream torn(csv, std::ios::app);
      torn << "2026-01-01T00:00:00Z,,2,\"unfinished";  // a record without its line feed
    }
    ASSERT_TRUE((*fs)->Push("stats_push", Row(2, 43), PushMode::kOffline).ok());
    EXPECT_EQ(ModeOf(csv + ".torn"), mode);
    ASSERT_TRUE(Store::Teardown(repo_.segment()).ok());
  }
  // An existing file keeps its mode.
  ASSERT_EQ(::chmod(csv.c_str(), 0644), 0);
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok());
  ASSERT_TRUE((*fs)->Push("stats_push", Row(3, 44), PushMode::kOffline).ok());
  EXPECT_EQ(ModeOf(csv), 0644u);
}

// A reader maps the segment read-only: /proc/self/maps shows it "r--s", and a store through
// that mapping faults (SIGSEGV); the segment is unchanged. (The reader table is
// the one file a reader maps writable: it claims a slot there.)
TEST_F(Permissions, AWriteThroughAReadersMappingFaults) {
  repo_.Write(Body());
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok());
  ASSERT_TRUE((*fs)->Push("stats_push", Row(1, 42)).ok());
  const std::string before = testing::ReadFile(repo_.segment());
  testing::Child child = testing::ForkChild([&](int report_fd) {
    auto reader = OnlineReader::Attach(repo_.segment());
    if (!reader.ok()) ::_exit(2);
    auto r = (*reader)->GetOnlineFeatures(Features({"v:x"}, MakeFrame({{"driver_id", Ints({1})}})));
    if (!r.ok() || r->results[1].values[0].i64 != 42) ::_exit(3);
    std::ifstream maps("/proc/self/maps");
    std::string line, seg_perms, readers_perms;
    uintptr_t seg_start = 0;
    while (std::getline(maps, line)) {
      // "start-end perms offset dev inode path"
      auto sp = line.rfind(' ');
      std::string path = line.substr(sp + 1);
      std::string perms = line.substr(line.find(' ') + 1, 4);
      if (path == repo_.segment() && seg_perms.empty()) {
        seg_perms = perms;
        seg_start = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
      }
      if (path == ReadersPath(repo_.segment())) readers_perms = perms;
    }
    std::string report = seg_perms + " " + readers_perms;
    testing::WriteAll(report_fd, report.data(), report.size());
    ::close(report_fd);
    if (seg_perms != "r--s" || seg_start == 0) ::_exit(4);
    // A fault exits 77 (a handler of our own: sanitizers turn a plain SIGSEGV into an abort).
    struct sigaction sa {};
    sa.sa_handler = [](int) { ::_exit(77); };
    ::sigaction(SIGSEGV, &sa, nullptr);
    ::sigaction(SIGBUS, &sa, nullptr);
    // The first bytes of the header: the magic. This store must fault.
    *reinterpret_cast<volatile char*>(seg_start) = 'X';
    ::_exit(5);  // the write went through
  });
  ASSERT_GE(child.pid, 0);
  char buf[64] = {};
  testing::ReadAll(child.report_fd, buf, sizeof(buf) - 1);
  ::close(child.report_fd);
  int status = WaitChild(child.pid);
  EXPECT_EQ(std::string(buf), "r--s rw-s") << "mapping permissions (segment, reader table)";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 77)
      << "the reader ended with " << DescribeWait(status) << " (exit 77: the write faulted)";
  EXPECT_EQ(testing::ReadFile(repo_.segment()) == before, true) << "the segment changed";
  // And the store is intact.
  auto check = (*fs)->Check();
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok());
}

// A reader with only the group's permissions (segment 0640: read; reader table 0660: read-write)
// reads; it cannot open the segment for writing. Needs root (to switch users); skipped otherwise.
TEST_F(Permissions, AGroupMemberReadsButCannotWrite) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to another user";
  repo_.Write(Body());
  auto fs = repo_.OpenApplied();
  ASSERT_TRUE(fs.ok());
  ASSERT_TRUE((*fs)->Push("stats_push", Row(1, 42)).ok());
  const gid_t group = 65534;  // nogroup
  const uid_t user = 65534;   // nobody
  for (const std::string& f :
       {repo_.segment(), ReadersPath(repo_.segment()), LockPath(repo_.segment())}) {
    ASSERT_EQ(::chown(f.c_str(), 0, group), 0) << f;
  }
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(group) != 0 || ::setuid(user) != 0) ::_exit(2);
    auto reader = OnlineReader::Attach(repo_.segment());
    if (!reader.ok()) ::_exit(3);
    auto r = (*reader)->GetOnlineFeatures(Features({"v:x"}, MakeFrame({{"driver_id", Ints({1})}})));
    if (!r.ok() || r->results[1].values[0].i64 != 42) ::_exit(4);
    auto writer = Store::Open(repo_.segment(), /*writable=*/true);
    if (writer.ok()) ::_exit(5);
    if (writer.status().code() != ErrorCode::kIoError ||
        writer.status().message().find("ermission denied") == std::string::npos) {
      ::_exit(6);
    }
    ::_exit(0);
  }
  int status = WaitChild(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeWait(status);
  // Other users (not in the group) cannot even read it.
  for (const std::string& f : {repo_.segment(), ReadersPath(repo_.segment())}) {
    EXPECT_EQ(ModeOf(f) & 07, 0u) << f;
  }
}

}  // namespace
}  // namespace larder
