// Reader processes of the multi-process tests (multiprocess_test.cc, crash_campaign_test.cc):
// the checks a reader makes of the counter rows a writer keeps rewriting, a reader that loops on
// lookups until it is killed, and the reader slot a process holds.
// Header-only: tests/CMakeLists.txt compiles *_test.cc and test_util.cc only.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "larder/feature_store.h"
#include "larder/online.h"
#include "tests/store_fixture.h"

namespace larder::testing {

// What a reader sees of counter rows: every feature of an entity's row encodes one counter, and
// the writer only ever raises an entity's counter. Every row a reader sees must be whole (all
// features one counter, its own entity), an entity's counter never goes back for a reader, and a
// row once seen never vanishes.
class CounterRowChecker {
 public:
  // Checks row `row` of a response for entity `id`: "" or what is wrong. `k` receives the
  // counter (-1: the entity is absent).
  using CheckRowFn = std::string (*)(const OnlineResponse& r, size_t row, int64_t id, int64_t* k);

  // For entities [0, entities).
  CounterRowChecker(int64_t entities, CheckRowFn check_row)
      : check_row_(check_row), last_(static_cast<size_t>(entities), -1) {}

  // Checks row i of `resp` as entity ids[i], for every i; calls fail(what) for each violation.
  template <typename Fail>
  void Check(const OnlineResponse& resp, const std::vector<int64_t>& ids, Fail&& fail) {
    for (size_t i = 0; i < ids.size(); ++i) {
      int64_t k = -1;
      std::string why = check_row_(resp, i, ids[i], &k);
      int64_t& prev = last_[static_cast<size_t>(ids[i])];
      if (!why.empty()) {
        fail("entity " + std::to_string(ids[i]) + ": " + why);
      } else if (k < 0 && prev >= 0) {
        fail("entity " + std::to_string(ids[i]) + " vanished after counter " +
             std::to_string(prev));
      } else if (k >= 0) {
        ++present_;
        if (k < prev) {
          ++backwards_;
          fail("entity " + std::to_string(ids[i]) + " went back from " + std::to_string(prev) +
               " to " + std::to_string(k));
        }
        prev = std::max(prev, k);
        max_counter_ = std::max<uint64_t>(max_counter_, static_cast<uint64_t>(k));
      }
    }
  }

  uint64_t present() const { return present_; }          // rows found present
  uint64_t backwards() const { return backwards_; }      // rows older than one seen before
  uint64_t max_counter() const { return max_counter_; }  // the newest counter seen

 private:
  CheckRowFn check_row_;
  std::vector<int64_t> last_;  // per entity: the newest counter seen, -1 = none yet
  uint64_t present_ = 0;
  uint64_t backwards_ = 0;
  uint64_t max_counter_ = 0;
};

// A reader child's body: attaches to `segment` and looks up `req` over and over until it is
// killed, writing one byte to `ready_fd` after its first lookup. Exits 2 if it cannot attach, 3
// if a lookup fails.
[[noreturn]] inline void RunLoopingReader(const std::string& segment, const OnlineRequest& req,
                                          int ready_fd) {
  auto reader = OnlineReader::Attach(segment);
  if (!reader.ok()) ::_exit(2);
  OnlineResponse resp;
  for (uint64_t n = 0;; ++n) {
    if (!(*reader)->GetOnlineFeatures(req, &resp).ok()) ::_exit(3);
    if (n == 0) {
      char one = 1;
      WriteAll(ready_fd, &one, 1);
    }
  }
}

// The reader slot of `pid`, if it holds one.
inline std::optional<ReaderInfo> SlotOf(FeatureStore& fs, pid_t pid) {
  auto info = fs.Inspect();
  if (!info.ok()) return std::nullopt;
  for (const ReaderInfo& r : info->readers) {
    if (r.pid == static_cast<uint64_t>(pid)) return r;
  }
  return std::nullopt;
}

}  // namespace larder::testing
