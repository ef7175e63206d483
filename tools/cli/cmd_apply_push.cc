// larder apply | plan | push | write-to-online-store | teardown | version.
#include <cstdio>
#include <iostream>

#include "engine/offline/parquet_source.h"
#include "engine/values/frame_readers.h"
#include "larder/feature_store.h"
#include "larder/larder.h"
#include "layout/segment_layout.h"
#include "tools/cli/commands.h"

namespace larder::cli {

namespace {

// "1 row", "3 rows".
std::string Count(uint64_t n, const char* singular, const char* plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

std::string DescribeWrite(const PushResult& r) {
  std::string s = "(" + std::to_string(r.rows_written) + " written, " +
                  std::to_string(r.rows_skipped) + " skipped as older than stored rows";
  if (r.rows_all_null > 0) {
    s += ", " + std::to_string(r.rows_all_null) + " skipped as all their features were null";
  }
  return s + ")";
}

}  // namespace

int Fail(std::string_view cmd, const Status& status) {
  std::cerr << "larder " << cmd << ": " << status.ToString() << "\n";
  return 1;
}

int RunApply(const std::string& repo, bool force) {
  auto store = FeatureStore::Open(repo);
  if (!store.ok()) return Fail("apply", store.status());
  auto report = (*store)->Apply(ApplyOptions{.force = force});
  if (!report.ok()) return Fail("apply", report.status());
  for (const std::string& line : report->messages) std::cout << line << "\n";
  return 0;
}

int RunPlan(const std::string& repo) {
  auto store = FeatureStore::Open(repo);
  if (!store.ok()) return Fail("plan", store.status());
  auto report = (*store)->Plan();
  if (!report.ok()) return Fail("plan", report.status());
  for (const std::string& line : report->messages) std::cout << line << "\n";
  return 0;
}

Result<Frame> ReadInputFrame(const std::string& path) {
  return path.ends_with(".parquet") ? ReadParquetFrame(path) : ReadFrameFile(path);
}

int RunPush(const std::string& repo, const std::string& source, const std::string& file,
            const std::string& to) {
  auto mode = ParsePushMode(to);
  if (!mode.ok()) return Fail("push", mode.status());
  auto store = FeatureStore::Open(repo);
  if (!store.ok()) return Fail("push", store.status());
  auto frame = ReadInputFrame(file);
  if (!frame.ok()) return Fail("push", frame.status());
  auto result = (*store)->Push(source, *frame, *mode);
  if (!result.ok()) return Fail("push", result.status());
  std::cout << "pushed " << Count(result->rows_in, "row", "rows") << " to "
            << Count(result->views, "feature view", "feature views") << " "
            << DescribeWrite(*result) << "\n";
  return 0;
}

int RunWriteToOnlineStore(const std::string& repo, const std::string& view,
                          const std::string& file) {
  constexpr std::string_view kCmd = "write-to-online-store";
  auto store = FeatureStore::Open(repo);
  if (!store.ok()) return Fail(kCmd, store.status());
  auto frame = ReadInputFrame(file);
  if (!frame.ok()) return Fail(kCmd, frame.status());
  auto result = (*store)->WriteToOnlineStore(view, *frame);
  if (!result.ok()) return Fail(kCmd, result.status());
  std::cout << "wrote " << Count(result->rows_in, "row", "rows") << " to feature view '" << view
            << "' " << DescribeWrite(*result) << "\n";
  return 0;
}

int RunTeardown(const std::string& repo) {
  auto store = FeatureStore::Open(repo);
  if (!store.ok()) return Fail("teardown", store.status());
  Status st = (*store)->Teardown();
  if (!st.ok()) return Fail("teardown", st);
  std::cout << "removed " << (*store)->config().online_store.path << "\n";
  return 0;
}

int RunVersion() {
  std::cout << "larder " << larder_version() << " (segment layout version "
            << layout::kLayoutVersion << ")\n";
  return 0;
}

}  // namespace larder::cli
