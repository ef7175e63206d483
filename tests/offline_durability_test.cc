// Durability of offline appends (engine/offline/offline_log.cc): an append is acknowledged only after
// its records reached the disk (fdatasync of the file after its last write) and, for a file the
// append created, after its directory entry did (fsync of the directory). A test cannot pull
// the power, so it records the order of those calls through engine/offline/file_ops.h, and makes the
// sync fail to see that a failed sync is never acknowledged.
#include <errno.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/offline/file_ops.h"
#include "engine/offline/offline_log.h"
#include "tests/offline_fixture.h"

namespace larder {
namespace {

using namespace larder::testing;  // NOLINT

struct Call {
  std::string op;    // "write", "fdatasync", "fsync", "ftruncate", or "acknowledged"
  std::string path;  // what the descriptor names (/proc/self/fd)
};

// Records every call of the append path, then makes it (or fails it when asked to).
class RecordingOps : public FileOps {
 public:
  ssize_t Write(int fd, const void* data, size_t n) override {
    Record("write", fd);
    return FileOps::Write(fd, data, n);
  }
  int Fdatasync(int fd) override {
    if (Record("fdatasync", fd) == fail_sync_of) {
      errno = EIO;
      return -1;
    }
    return FileOps::Fdatasync(fd);
  }
  int Fsync(int fd) override {
    if (Record("fsync", fd) == fail_sync_of) {
      errno = EIO;
      return -1;
    }
    return FileOps::Fsync(fd);
  }
  int Ftruncate(int fd, off_t length) override {
    Record("ftruncate", fd);
    return FileOps::Ftruncate(fd, length);
  }

  // The caller got its answer: calls recorded after this one did not precede it.
  void Acknowledged() {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back({"acknowledged", ""});
  }
  std::vector<Call> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(calls_, {});
  }

  std::string fail_sync_of;  // a path whose fdatasync and fsync fail with EIO

 private:
  std::string Record(const char* op, int fd) {
    char target[4096];
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    std::string path = n > 0 ? std::string(target, static_cast<size_t>(n)) : "?";
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back({op, path});
    return path;
  }

  std::mutex mu_;
  std::vector<Call> calls_;
};

// Installs a RecordingOps for the scope.
class ScopedOps {
 public:
  explicit ScopedOps(FileOps* ops) : previous_(SetFileOpsForTesting(ops)) {}
  ~ScopedOps() { SetFileOpsForTesting(previous_); }

 private:
  FileOps* previous_;
};

std::string Describe(const std::vector<Call>& calls) {
  std::string out;
  for (const Call& c : calls) out += "\n  " + c.op + " " + c.path;
  return out;
}

// The calls show `file` written, then synced, with nothing written to it after the sync, and,
// when `new_file`, its directory synced after the file was first written; all of it before the
// acknowledgement.
void ExpectDurableBeforeAck(const std::vector<Call>& calls, const std::string& file,
                            bool new_file) {
  const std::string path = std::filesystem::weakly_canonical(file).string();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  int ack = -1, first_write = -1, last_write = -1, sync = -1, dir_sync = -1;
  for (int i = 0; i < static_cast<int>(calls.size()); ++i) {
    const Call& c = calls[static_cast<size_t>(i)];
    if (c.op == "acknowledged") {
      ack = i;
      break;
    }
    if (c.path == path && (c.op == "write" || c.op == "ftruncate")) {
      if (first_write < 0) first_write = i;
      last_write = i;
    }
    if (c.path == path && (c.op == "fdatasync" || c.op == "fsync")) sync = i;
    if (c.path == dir && c.op == "fsync" && first_write >= 0) dir_sync = i;
  }
  ASSERT_GE(ack, 0) << "no acknowledgement among the calls:" << Describe(calls);
  ASSERT_GE(last_write, 0) << "nothing written to " << path << Describe(calls);
  EXPECT_GT(sync, last_write) << path
                              << " was not synced after its last write and before the "
                                 "acknowledgement:"
                              << Describe(calls);
  if (new_file) {
    EXPECT_GE(dir_sync, 0) << "the directory " << dir << " of the new file " << path
                           << " was not synced before the acknowledgement:" << Describe(calls);
  }
}

class OfflineDurability : public OfflineFixture {};

TEST_F(OfflineDurability, AppendSyncsTheFileAndANewFilesDirectoryBeforeReturning) {
  RecordingOps ops;
  ScopedOps scoped(&ops);
  const std::string path = repo_.dir() + "/fresh/dir/log.csv";
  auto render = [](int64_t id) {
    return [id](const std::vector<std::string>&) -> Result<std::string> {
      return std::to_string(id) + ",x\n";
    };
  };
  auto first = AppendRecords(path, {"id", "v"}, render(1));
  ops.Acknowledged();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->created);
  ExpectDurableBeforeAck(ops.Take(), path, /*new_file=*/true);

  auto second = AppendRecords(path, {"id", "v"}, render(2));
  ops.Acknowledged();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ExpectDurableBeforeAck(ops.Take(), path, /*new_file=*/false);
  EXPECT_EQ(Slurp(path), "id,v\n1,x\n2,x\n");
}

// The same through the public API: a push to the offline store, and to both stores, returns
// only after the batch source's file is synced.
TEST_F(OfflineDurability, PushesAreSyncedBeforeTheyReturn) {
  RecordingOps ops;
  ScopedOps scoped(&ops);
  auto created =
      fs_->Push("stats_push", StatsFrame({{1, "2026-01-01T08:00:00Z", "", 0.5, 3, "Paris", 1.25}}),
                PushMode::kOffline);
  ops.Acknowledged();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ExpectDurableBeforeAck(ops.Take(), csv_, /*new_file=*/true);

  auto both =
      fs_->Push("stats_push", StatsFrame({{2, "2026-01-01T09:00:00Z", "", 0.25, 4, "Lyon", 2.5}}),
                PushMode::kOnlineAndOffline);
  ops.Acknowledged();
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ExpectDurableBeforeAck(ops.Take(), csv_, /*new_file=*/false);
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 2).status, FieldStatus::kPresent);
}

// A failed sync is never acknowledged: the push fails naming the file, the file keeps only
// what was acknowledged before, and the online store is not written either.
TEST_F(OfflineDurability, AFailedSyncFailsThePushAndLeavesTheFileAsItWas) {
  LARDER_ASSERT_OK(fs_->Push("stats_push",
                             StatsFrame({{1, "2026-01-01T08:00:00Z", "", 0.5, 3, "Paris", 1.25}}),
                             PushMode::kOffline));
  const std::string before = Slurp(csv_);
  RecordingOps ops;
  ops.fail_sync_of = std::filesystem::weakly_canonical(csv_).string();
  ScopedOps scoped(&ops);
  for (PushMode mode : {PushMode::kOffline, PushMode::kOnlineAndOffline}) {
    auto r = fs_->Push("stats_push",
                       StatsFrame({{7, "2026-01-01T09:00:00Z", "", 0.75, 5, "Rome", 3.5}}), mode);
    EXPECT_TRUE(IsError(r, ErrorCode::kIoError, {"cannot sync", "stats.csv"}));
    EXPECT_EQ(Slurp(csv_), before);
  }
  EXPECT_EQ(ReadOne(*fs_, "quality:conv", 7).status, FieldStatus::kNotFound);
  EXPECT_FALSE(ops.Take().empty());
}

}  // namespace
}  // namespace larder
