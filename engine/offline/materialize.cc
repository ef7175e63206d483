// Materialization: stream each batch-source file once, keep the latest record per entity per
// view, write the winners online in batches through the ordered write path.
#include "engine/offline/materialize.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "engine/index/hash_index.h"
#include "engine/offline/batch_source.h"
#include "engine/offline/offline_log.h"
#include "engine/quote.h"
#include "engine/row_stager.h"
#include "engine/values/csv_stream.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

constexpr size_t kWriteBatch = 32768;
constexpr uint64_t kProgressEvery = 65536;
constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kYearSeconds = 365 * 86'400;

using Clock = std::chrono::steady_clock;

// The latest record of each entity seen so far: by event timestamp, then created timestamp;
// on a tie the later record wins (as the ordered write rule would have it). Records are kept
// packed (PackRecord), so the winners become frame cells without parsing CSV again.
class WinnerTable {
 public:
  struct Winner {
    uint64_t hash;
    TimestampMicros ts;
    TimestampMicros created;
    uint64_t line;
    std::string key;
    std::string record;  // packed
  };

  void Offer(std::string_view key, TimestampMicros ts, TimestampMicros created,
             const CsvStream& record, uint64_t line) {
    if ((winners_.size() + 1) * 2 > slots_.size()) Grow();
    const uint64_t h = XXH3_64bits(key.data(), key.size());
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      uint32_t s = slots_[i];
      if (s == 0) {
        slots_[i] = static_cast<uint32_t>(winners_.size() + 1);
        winners_.push_back({h, ts, created, line, std::string(key), std::string()});
        PackRecord(record, &winners_.back().record);
        return;
      }
      Winner& w = winners_[s - 1];
      if (w.hash != h || w.key != key) continue;
      if (ts > w.ts || (ts == w.ts && created >= w.created)) {
        w.ts = ts;
        w.created = created;
        w.line = line;
        PackRecord(record, &w.record);
      }
      return;
    }
  }

  const std::vector<Winner>& winners() const { return winners_; }

 private:
  void Grow() {
    std::vector<uint32_t> slots(std::max<size_t>(1024, slots_.size() * 2), 0);
    const size_t mask = slots.size() - 1;
    for (size_t k = 0; k < winners_.size(); ++k) {
      size_t i = winners_[k].hash & mask;
      while (slots[i] != 0) i = (i + 1) & mask;
      slots[i] = static_cast<uint32_t>(k + 1);
    }
    slots_ = std::move(slots);
  }

  std::vector<uint32_t> slots_;
  std::vector<Winner> winners_;
};

struct Target {
  const ViewInfo* view;
  uint32_t store_view_id;  // the view's id in the store's registry (its keys' hash seed)
  TimestampMicros start;
  TimestampMicros end;
  MaterializeResult::View* out;
  std::optional<TimestampMicros> event_time;  // replaces each written row's event timestamp
};

// Views of one file with the same key columns and interval share a winner table.
struct Group {
  std::vector<int> key_cols;
  std::vector<ScalarType> key_types;
  TimestampMicros start;
  TimestampMicros end;
  uint64_t rows = 0;
  WinnerTable table;
  std::vector<Target*> targets;
};

struct Progress {
  const MaterializeProgressFn* fn;
  Clock::time_point t0;
  uint64_t bytes_total = 0;
  uint64_t bytes_base = 0;  // bytes of the files already done
  uint64_t rows = 0;

  void Report(uint64_t bytes_in_file) const {
    if (*fn == nullptr) return;
    MaterializeProgress p;
    p.rows_scanned = rows;
    p.bytes_done = std::min(bytes_total, bytes_base + bytes_in_file);
    p.bytes_total = bytes_total;
    p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    (*fn)(p);
  }
};

Status DataError(const std::string& path, uint64_t line, const std::string& column,
                 const Status& st) {
  return Status(ErrorCode::kDataSourceError, path + " line " + std::to_string(line) + ", column '" +
                                                 column + "': " + st.message());
}

// Writes a group's winners to one view, in batches of kWriteBatch rows, in the order of the
// store's index buckets (BucketOrderKey): written into fresh arena space, the rows of each
// bucket then lie side by side, which its run hint names (layout/segment_layout.h).
Status WriteWinners(Store& store, const std::vector<std::string>& header, const std::string& path,
                    const Group& g, Target* t) {
  const auto& winners = g.table.winners();
  const std::vector<uint32_t> order = InBucketOrder(
      winners.size(), [&](size_t i) { return HashEntityKey(t->store_view_id, winners[i].key); });
  for (size_t b = 0; b < winners.size(); b += kWriteBatch) {
    size_t e = std::min(winners.size(), b + kWriteBatch);
    Frame frame;
    frame.origin = path;
    frame.names = header;
    frame.columns.resize(header.size());
    for (auto& column : frame.columns) column.reserve(e - b);
    frame.row_lines.reserve(e - b);
    for (size_t i = b; i < e; ++i) {
      const auto& w = winners[order[i]];
      AppendPackedRecord(w.record, &frame.columns);
      frame.row_lines.push_back(w.line);
    }
    if (t->event_time) {
      const int ts = frame.FindColumn(t->view->timestamp_field);
      if (ts >= 0) {
        const Cell now = Cell::String(FormatTimestamp(*t->event_time));
        for (Cell& c : frame.columns[ts]) c = now;
      }
    }
    auto res = store.WriteToView(t->view->def.name, frame, Store::AllNullRows::kWrite);
    if (!res.ok()) {
      Status st = res.status();
      if (st.code() == ErrorCode::kInvalidArgument) {
        st = Status(ErrorCode::kDataSourceError, st.message());
      }
      return st.WithContext("materializing feature view '" + t->view->def.name + "'");
    }
    t->out->rows_written += res->rows_written;
    t->out->rows_skipped += res->rows_skipped;
  }
  return Status::Ok();
}

// Streams one batch-source file for every target reading it.
Status MaterializeFile(Store& store, const std::string& path, const std::vector<Target*>& targets,
                       Progress* progress) {
  LARDER_ASSIGN_OR_RETURN(auto snap, OfflineSnapshot::Open(path));
  CsvStream cs(snap->fd(), snap->limit(), path);
  LARDER_ASSIGN_OR_RETURN(bool has_header, cs.Next());
  if (!has_header) return Status::Ok();  // an empty file: no rows
  std::vector<std::string> header;
  for (size_t i = 0; i < cs.num_fields(); ++i) header.emplace_back(cs.field(i));
  cs.set_expected_fields(header.size());

  std::vector<Group> groups;
  int ts_col = -1;
  int created_col = -1;
  for (Target* t : targets) {
    LARDER_ASSIGN_OR_RETURN(ViewColumns vc, LocateViewColumns(*t->view, header, path));
    ts_col = vc.timestamp;
    created_col = vc.created;
    Group* g = nullptr;
    for (Group& cand : groups) {
      if (cand.key_cols == vc.keys && cand.start == t->start && cand.end == t->end) g = &cand;
    }
    if (g == nullptr) {
      g = &groups.emplace_back();
      g->key_cols = vc.keys;
      g->key_types = t->view->key_types;
      g->start = t->start;
      g->end = t->end;
    }
    g->targets.push_back(t);
  }

  std::string key;
  for (;;) {
    LARDER_ASSIGN_OR_RETURN(bool more, cs.Next());
    if (!more) break;
    if (++progress->rows % kProgressEvery == 0) progress->Report(cs.bytes_consumed());
    auto ts = ParseTimestampField(cs.field(ts_col), cs.is_null(ts_col));
    if (!ts.ok()) return DataError(path, cs.line(), header[ts_col], ts.status());
    bool have_created = false;
    TimestampMicros created = 0;
    for (Group& g : groups) {
      if (*ts < g.start || *ts > g.end) continue;
      if (!have_created && created_col >= 0 && !cs.is_null(created_col)) {
        auto c = ParseTimestamp(cs.field(created_col));
        if (!c.ok()) return DataError(path, cs.line(), header[created_col], c.status());
        created = *c;
      }
      have_created = true;
      ++g.rows;
      key.clear();
      for (size_t k = 0; k < g.key_cols.size(); ++k) {
        int c = g.key_cols[k];
        Status st = AppendKeyPartFromText(cs.field(c), cs.is_null(c), g.key_types[k], &key);
        if (!st.ok()) return DataError(path, cs.line(), header[c], st);
      }
      g.table.Offer(key, *ts, created, cs, cs.line());
    }
  }
  progress->Report(snap->limit());

  for (Group& g : groups) {
    for (Target* t : g.targets) {
      t->out->rows_read = g.rows;
      LARDER_RETURN_IF_ERROR(WriteWinners(store, header, path, g, t));
    }
  }
  return Status::Ok();
}

TimestampMicros NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The views a run covers, checked against the repo and the store's registry.
Result<std::vector<const ViewInfo*>> SelectViews(const Catalog& repo, const Catalog& registry,
                                                 const std::vector<std::string>& names) {
  std::vector<const ViewInfo*> out;
  if (names.empty()) {
    for (const ViewInfo& v : repo.views()) {
      if (v.def.online) out.push_back(&v);
    }
  } else {
    for (const std::string& name : names) {
      const ViewInfo* v = repo.FindView(name);
      if (v == nullptr) {
        return Status(ErrorCode::kFeatureViewNotFound,
                      "feature view " + QuoteInput(name) + " is not in the feature repo");
      }
      if (!v->def.online) {
        return InvalidArgument("feature view '" + name +
                               "' is not online (online: false); there is nothing to materialize "
                               "it into");
      }
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    }
  }
  for (const ViewInfo* v : out) {
    if (registry.FindView(v->def.name) == nullptr) {
      return Status(ErrorCode::kFeatureViewNotFound,
                    "feature view '" + v->def.name +
                        "' is not in the online store's registry (run `larder apply` first)");
    }
  }
  return out;
}

// Where an incremental run of `v` starts.
Result<TimestampMicros> IncrementalStart(const ViewInfo& v, const RepoConfig& registry,
                                         TimestampMicros end) {
  bool found = false;
  TimestampMicros last = 0;
  for (const MaterializedInterval& i : registry.intervals) {
    if (i.view != v.def.name) continue;
    last = found ? std::max(last, i.end) : i.end;
    found = true;
  }
  if (!found) {
    int64_t back = v.def.ttl_seconds > 0 ? v.def.ttl_seconds : kYearSeconds;
    last = NowMicros() - back * kMicrosPerSecond;
  }
  if (last > end && found) {
    return InvalidArgument("feature view '" + v.def.name + "' is already materialized up to " +
                           FormatTimestamp(last) + ", after the end " + FormatTimestamp(end));
  }
  if (last > end) {
    return InvalidArgument(
        "feature view '" + v.def.name +
        "' has no materialized interval, so an incremental run starts at now - " +
        (v.def.ttl_seconds > 0 ? "its ttl" : "a year") + " = " + FormatTimestamp(last) +
        ", after the end " + FormatTimestamp(end) + " (run `larder materialize START END` first)");
  }
  return last;
}

}  // namespace

Result<MaterializeResult> MaterializeRepo(Store& store, const RepoConfig& repo,
                                          std::optional<TimestampMicros> start, TimestampMicros end,
                                          const std::vector<std::string>& views,
                                          const MaterializeProgressFn& progress_fn,
                                          std::optional<TimestampMicros> event_time) {
  if (start && *start > end) {
    return InvalidArgument("start " + FormatTimestamp(*start) + " is after end " +
                           FormatTimestamp(end));
  }
  // Rows up to `end` may be written: with max_future_skew, an end past what a push may carry
  // could stop the run part-way at a far-future row, so it is refused before anything is read.
  if (const TimestampMicros latest = LatestAllowedEventTime(repo.max_future_skew_seconds);
      end > latest) {
    return InvalidArgument("end " + FormatTimestamp(end) +
                           " lies past the clock plus max_future_skew (feature_store.yaml): give "
                           "an end no later than " +
                           FormatTimestamp(latest) + " (nothing was written)");
  }
  LARDER_ASSIGN_OR_RETURN(auto repo_cat, Catalog::Build(repo, 0));
  LARDER_ASSIGN_OR_RETURN(auto reg_cat, store.CurrentCatalog());
  LARDER_ASSIGN_OR_RETURN(auto selected, SelectViews(*repo_cat, *reg_cat, views));

  MaterializeResult result;
  result.views.resize(selected.size());
  std::vector<Target> targets;
  targets.reserve(selected.size());
  std::map<std::string, std::vector<Target*>> by_file;  // path → targets, one pass per file
  std::vector<std::string> file_order;
  for (size_t i = 0; i < selected.size(); ++i) {
    const ViewInfo* v = selected[i];
    TimestampMicros s = 0;
    if (start) {
      s = *start;
    } else {
      LARDER_ASSIGN_OR_RETURN(s, IncrementalStart(*v, reg_cat->config(), end));
    }
    result.views[i].name = v->def.name;
    result.views[i].start = s;
    result.views[i].end = end;
    targets.push_back(
        {v, reg_cat->FindView(v->def.name)->id(), s, end, &result.views[i], event_time});
  }
  Progress progress{&progress_fn, Clock::now()};
  for (Target& t : targets) {
    LARDER_ASSIGN_OR_RETURN(BatchSource bs, ResolveBatchSource(*repo_cat, t.view->def.source));
    const std::string& path = bs.file->resolved_path;
    if (by_file.find(path) == by_file.end()) {
      // Every file must be there before anything is written.
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) {
        return Status(ErrorCode::kDataSourceNotFound, "batch source file '" + path +
                                                          "' of feature view '" + t.view->def.name +
                                                          "' does not exist");
      }
      progress.bytes_total += static_cast<uint64_t>(st.st_size);
      file_order.push_back(path);
    }
    by_file[path].push_back(&t);
  }
  for (const std::string& path : file_order) {
    LARDER_RETURN_IF_ERROR(MaterializeFile(store, path, by_file[path], &progress));
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) progress.bytes_base += static_cast<uint64_t>(st.st_size);
  }
  std::vector<MaterializedInterval> intervals;
  for (const Target& t : targets) intervals.push_back({t.view->def.name, t.start, t.end});
  LARDER_RETURN_IF_ERROR(store.RecordIntervals(intervals));
  return result;
}

}  // namespace larder
