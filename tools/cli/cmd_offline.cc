// larder materialize START END | materialize-incremental END | get-historical-features, and
// the batch-source checks of `larder check`.
#include "tools/cli/cmd_offline.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "engine/offline/offline_check.h"
#include "engine/offline/parquet_source.h"
#include "engine/values/frame_readers.h"
#include "larder/feature_store.h"
#include "larder/timestamp.h"
#include "tools/cli/commands.h"
#include "wire/offline_json.h"

namespace larder::cli {

namespace {

constexpr int kUsageError = 2;

Result<TimestampMicros> ParseTimeArg(const std::string& text, const char* what) {
  if (text == "now") {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  auto ts = ParseTimestamp(text);
  if (!ts.ok()) return ts.status().WithContext(what);
  return ts;
}

// "1.52 M", "830 k", "12".
std::string Human(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2f M", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.0f k", v / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  }
  return buf;
}

// The progress line on stderr (only when it is a terminal, and only for runs past half a
// second): rows, rows/s, percent of bytes, ETA.
class ProgressLine {
 public:
  ProgressLine() : tty_(::isatty(2) == 1) {}
  ~ProgressLine() { Clear(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void Clear() {
    if (shown_) std::fputs("\r\033[K", stderr);
    shown_ = false;
  }

  void Update(const MaterializeProgress& p) {
    last_ = p;
    if (!tty_ || p.seconds < 0.5 || p.seconds - shown_at_ < 0.2) return;
    shown_ = true;
    shown_at_ = p.seconds;
    double frac = p.bytes_total > 0
                      ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total)
                      : 1.0;
    double eta = frac > 0 ? p.seconds * (1 - frac) / frac : 0;
    std::fprintf(stderr, "\rmaterialize: %s rows, %s rows/s, %3.0f%%, ETA %.0f s\033[K",
                 Human(static_cast<double>(p.rows_scanned)).c_str(),
                 Human(static_cast<double>(p.rows_scanned) / p.seconds).c_str(), frac * 100, eta);
    std::fflush(stderr);
  }
  const MaterializeProgress& last() const { return last_; }

 private:
  bool tty_;
  bool shown_ = false;
  double shown_at_ = 0;
  MaterializeProgress last_;
};

void PrintMaterialized(const MaterializeResult& r, const MaterializeProgress& p, double seconds) {
  for (const MaterializeResult::View& v : r.views) {
    std::cout << "materialized feature view '" << v.name << "' from " << FormatTimestamp(v.start)
              << " to " << FormatTimestamp(v.end) << ": " << v.rows_read << " rows in range, "
              << v.rows_written << " written, " << v.rows_skipped
              << " skipped as older than stored rows\n";
  }
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%.2f s (%llu rows read, %s rows/s)", seconds,
                static_cast<unsigned long long>(p.rows_scanned),
                Human(seconds > 0 ? static_cast<double>(p.rows_scanned) / seconds : 0).c_str());
  std::cout << "materialized " << r.views.size()
            << (r.views.size() == 1 ? " feature view in " : " feature views in ") << buf << "\n";
}

int RunMaterializeCmd(const OfflineOptions& o, bool incremental) {
  const std::string_view cmd = incremental ? "materialize-incremental" : "materialize";
  TimestampMicros start = 0;
  if (!incremental) {
    auto s = ParseTimeArg(o.start, "START");
    if (!s.ok()) return Fail(cmd, s.status());
    start = *s;
  }
  auto end = ParseTimeArg(o.end, "END");
  if (!end.ok()) return Fail(cmd, end.status());
  auto store = FeatureStore::Open(o.repo);
  if (!store.ok()) return Fail(cmd, store.status());
  ProgressLine line;
  auto on_progress = [&line](const MaterializeProgress& p) { line.Update(p); };
  auto t0 = std::chrono::steady_clock::now();
  auto result = incremental ? (*store)->MaterializeIncremental(*end, o.views, on_progress)
                            : (*store)->Materialize(start, *end, o.views, on_progress);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MaterializeProgress last = line.last();
  line.Clear();
  if (!result.ok()) return Fail(cmd, result.status());
  PrintMaterialized(*result, last, seconds);
  return 0;
}

int RunHistorical(const OfflineOptions& o) {
  constexpr std::string_view kCmd = "get-historical-features";
  if (o.features.empty() == o.feature_service.empty()) {
    std::cerr << "larder " << kCmd << ": give --features or --feature-service (one of them)\n";
    return kUsageError;
  }
  auto store = FeatureStore::Open(o.repo);
  if (!store.ok()) return Fail(kCmd, store.status());
  auto entity_df = ReadInputFrame(o.entity_df);
  if (!entity_df.ok()) return Fail(kCmd, entity_df.status());
  HistoricalRequest req;
  req.features = o.features;
  req.feature_service = o.feature_service;
  req.entity_df = std::move(entity_df).value();
  req.full_feature_names = o.full_feature_names;
  auto frame = (*store)->GetHistoricalFeatures(req);
  if (!frame.ok()) return Fail(kCmd, frame.status());
  std::string csv = FrameToCsv(*frame);
  if (o.output.empty()) {
    std::cout << csv;
    return 0;
  }
  std::ofstream out(o.output, std::ios::binary | std::ios::trunc);
  out << csv;
  out.close();
  if (!out) return Fail(kCmd, IoError("cannot write '" + o.output + "'"));
  std::cerr << "wrote " << frame->num_rows() << " rows to " << o.output << "\n";
  return 0;
}

}  // namespace

OfflineCommands AddOfflineCommands(CLI::App& app, OfflineOptions* o) {
  OfflineCommands c;
  auto add_repo = [o](CLI::App* sub) {
    sub->add_option("--repo", o->repo, "feature repo directory, holding feature_store.yaml")
        ->capture_default_str();
  };
  auto add_views = [o](CLI::App* sub) {
    sub->add_option("--views", o->views, "feature views (default: every online view)")
        ->delimiter(',');
  };
  c.materialize = app.add_subcommand(
      "materialize",
      "Load the latest row per entity with START <= event time <= END from the batch sources "
      "into the online store");
  c.materialize->add_option("START", o->start, "RFC 3339 time (or 'now')")->required();
  c.materialize->add_option("END", o->end, "RFC 3339 time (or 'now')")->required();
  add_views(c.materialize);
  add_repo(c.materialize);

  c.incremental = app.add_subcommand(
      "materialize-incremental",
      "Materialize each view from the end of its last materialized interval (or now - ttl) to "
      "END");
  c.incremental->add_option("END", o->end, "RFC 3339 time (or 'now')")->required();
  add_views(c.incremental);
  add_repo(c.incremental);

  c.historical = app.add_subcommand(
      "get-historical-features",
      "Point-in-time join: the feature values of each entity row as of its event_timestamp, "
      "as CSV");
  c.historical
      ->add_option("--entity-df", o->entity_df,
                   "entity rows: join keys and event_timestamp (.csv, .json, .jsonl, .parquet)")
      ->required();
  CLI::Option* features =
      c.historical->add_option("--features", o->features, "feature refs VIEW:FEATURE[,...]")
          ->delimiter(',');
  CLI::Option* service =
      c.historical->add_option("--feature-service", o->feature_service, "feature service name");
  features->excludes(service);
  service->excludes(features);
  c.historical->add_flag("--full-feature-names", o->full_feature_names,
                         "name features VIEW__FEATURE");
  c.historical->add_option("--output", o->output, "write the CSV here instead of stdout");
  add_repo(c.historical);
  return c;
}

int RunOfflineCommand(const OfflineCommands& c, const OfflineOptions& o) {
  if (c.materialize->parsed()) return RunMaterializeCmd(o, /*incremental=*/false);
  if (c.incremental->parsed()) return RunMaterializeCmd(o, /*incremental=*/true);
  if (c.historical->parsed()) return RunHistorical(o);
  return -1;
}

int CheckOfflineStore(const std::string& repo) {
  auto config = LoadRepoConfig(repo);
  if (!config.ok()) return 0;  // the segment check reports the repo's problem
  auto checks = CheckBatchSources(*config);
  if (!checks.ok()) {
    std::cout << "violation: offline: " << checks.status().message() << "\n";
    return 1;
  }
  int violations = 0;
  for (const OfflineFileCheck& fc : *checks) {
    if (fc.torn_bytes > 0) {
      std::cout << "warning: offline: " << fc.path << ": incomplete final record at line "
                << fc.torn_line << " (" << fc.torn_bytes
                << " bytes, no line feed: a torn append), ignored by readers; the next append "
                   "moves it to "
                << fc.path << ".torn\n";
    }
    for (const std::string& v : fc.violations) {
      std::cout << "violation: offline: " << v << "\n";
      ++violations;
    }
  }
  return violations;
}

}  // namespace larder::cli
