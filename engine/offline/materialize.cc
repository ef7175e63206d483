// Materialization: stream each batch-source file once, keep the latest record per entity per
// view, write the winners online in batches through the ordered write path.
#include "engine/offline/materialize.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>

#include "engine/index/hash_index.h"
#include "engine/offline/batch_source.h"
#include "engine/offline/offline_log.h"
#include "engine/offline/parquet_source.h"
#include "engine/parquet/parquet_file.h"
#include "engine/quote.h"
#include "engine/row_stager.h"
#include "engine/values/cell_convert.h"
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

  static constexpr size_t kLost = static_cast<size_t>(-1);

  // `pack(std::string*)` writes the record's packed form (called only when it wins). Returns
  // the index of the winner the record now is, or kLost.
  template <class Pack>
  size_t Offer(std::string_view key, TimestampMicros ts, TimestampMicros created, uint64_t line,
               Pack&& pack) {
    if ((winners_.size() + 1) * 2 > slots_.size()) Grow();
    const uint64_t h = XXH3_64bits(key.data(), key.size());
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      uint32_t s = slots_[i];
      if (s == 0) {
        slots_[i] = static_cast<uint32_t>(winners_.size() + 1);
        winners_.push_back({h, ts, created, line, std::string(key), std::string()});
        pack(&winners_.back().record);
        return winners_.size() - 1;
      }
      Winner& w = winners_[s - 1];
      if (w.hash != h || w.key != key) continue;
      if (ts > w.ts || (ts == w.ts && created >= w.created)) {
        w.ts = ts;
        w.created = created;
        w.line = line;
        pack(&w.record);
        return s - 1;
      }
      return kLost;
    }
  }

  Winner& at(size_t i) { return winners_[i]; }

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

// Views of one source with the same key columns and interval share a winner table.
struct GroupCommon {
  std::vector<ScalarType> key_types;
  TimestampMicros start;
  TimestampMicros end;
  uint64_t rows = 0;
  WinnerTable table;
  std::vector<Target*> targets;
};

// A CSV source's group: its key columns by index.
struct Group : GroupCommon {
  std::vector<int> key_cols;
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

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

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
      g.table.Offer(key, *ts, created, cs.line(), [&cs](std::string* out) { PackRecord(cs, out); });
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

// ---- Parquet sources (engine/offline/parquet_source.h) ----
//
// Row groups are decoded column by column (parquet::Column); each row in a view's interval
// offers its key to the group's winner table, and a winning row's values are packed as typed
// values (below), never as text. The winners are converted to the Values the row stager takes
// (ConvertedCells::Provide), so the write path stages them without parsing anything.

struct ParquetGroup : GroupCommon {
  std::vector<std::string> key_names;
  // The columns each winner's record packs: the join keys, then every target's features, each
  // name once.
  std::vector<std::string> packed;
};

// Writes a group's winners to one view, as WriteWinners does, from their packed values.
Status WriteParquetWinners(Store& store, const std::string& path,
                           const std::vector<std::string>& files, const ParquetGroup& g,
                           Target* t) {
  const ViewInfo& v = *t->view;
  const auto& winners = g.table.winners();
  // The frame's columns: keys, features, the timestamp field, the created column. Their cells
  // are placeholders: every column is provided converted.
  std::vector<std::string> names;
  std::vector<DType> dtypes;
  std::vector<size_t> packed_index;
  auto index_of = [&g](const std::string& name) {
    return static_cast<size_t>(std::find(g.packed.begin(), g.packed.end(), name) -
                               g.packed.begin());
  };
  for (const JoinKeyDef& k : v.def.join_keys) {
    names.push_back(k.name);
    dtypes.push_back(DType{k.type, false});
    packed_index.push_back(index_of(k.name));
  }
  for (const FeatureInfo& f : v.features) {
    names.push_back(f.name);
    dtypes.push_back(f.dtype);
    packed_index.push_back(index_of(f.name));
  }
  const size_t value_cols = names.size();
  // The timestamp and created columns, after the values unless a feature has their name (it
  // is then the same column of the file: one frame column carries both).
  auto column_of = [&names](const std::string& name) {
    const auto at = std::find(names.begin(), names.end(), name);
    if (at != names.end()) return static_cast<size_t>(at - names.begin());
    names.push_back(name);
    return names.size() - 1;
  };
  const size_t ts_col = column_of(v.timestamp_field);
  const bool has_created = !v.created_timestamp_column.empty();
  const size_t created_col = has_created ? column_of(v.created_timestamp_column) : 0;

  const std::vector<uint32_t> order = InBucketOrder(
      winners.size(), [&](size_t i) { return HashEntityKey(t->store_view_id, winners[i].key); });
  Cell scratch;
  std::vector<size_t> starts(g.packed.size());
  // One frame for every batch: its cells are placeholders (null), sized once for the largest
  // batch and cut for the last, so they are not built and destroyed again per batch (80-byte
  // Cells, one per row and column: about a tenth of the time of a materialize that writes
  // 200,000 rows).
  Frame frame;
  frame.origin = path + " (a batch of materialized rows)";
  frame.names = names;
  frame.columns.assign(names.size(), std::vector<Cell>(std::min(winners.size(), kWriteBatch)));
  for (size_t b = 0; b < winners.size(); b += kWriteBatch) {
    const size_t e = std::min(winners.size(), b + kWriteBatch);
    const size_t n = e - b;
    frame.describe_row = [&files, &winners, &order, b](size_t r) {
      return DescribeParquetRow(files, winners[order[b + r]].line);
    };
    if (frame.num_rows() != n) {
      for (auto& column : frame.columns) column.resize(n);
    }
    std::vector<std::vector<Value>> values(value_cols);
    for (auto& column : values) column.resize(n);
    std::vector<std::optional<TimestampMicros>> times(n);
    std::vector<std::optional<TimestampMicros>> created(n);
    for (size_t i = b; i < e; ++i) {
      const auto& w = winners[order[i]];
      PackedReader scan(w.record);
      for (size_t& s : starts) {
        s = scan.pos();
        scan.Skip();
      }
      for (size_t c = 0; c < value_cols; ++c) {
        PackedReader in(w.record, starts[packed_index[c]]);
        Status st = PackedToValue(in, dtypes[c], &scratch, &values[c][i - b]);
        if (!st.ok()) {
          return Status(ErrorCode::kDataSourceError, DescribeParquetRow(files, w.line) +
                                                         ", column '" + names[c] +
                                                         "': " + st.message())
              .WithContext("materializing feature view '" + v.def.name + "'");
        }
      }
      times[i - b] = t->event_time ? *t->event_time : w.ts;
      created[i - b] = w.created;
    }
    ConvertedCells cells(frame);
    for (size_t c = 0; c < value_cols; ++c) {
      cells.Provide(static_cast<int>(c), dtypes[c], std::move(values[c]));
    }
    cells.ProvideTimestamps(static_cast<int>(ts_col), std::move(times));
    if (has_created) cells.ProvideTimestamps(static_cast<int>(created_col), std::move(created));
    auto res = store.WriteToView(v.def.name, frame, Store::AllNullRows::kWrite, &cells);
    if (!res.ok()) {
      Status st = res.status();
      if (st.code() == ErrorCode::kInvalidArgument) {
        st = Status(ErrorCode::kDataSourceError, st.message());
      }
      return st.WithContext("materializing feature view '" + v.def.name + "'");
    }
    t->out->rows_written += res->rows_written;
    t->out->rows_skipped += res->rows_skipped;
  }
  return Status::Ok();
}

// Opens every file of a Parquet source and checks every target's columns in each (names,
// and Parquet types against dtypes), before anything is read or written. The files are
// returned detached (their footers kept, no descriptor open): MaterializeParquet attaches one
// at a time, so a source of thousands of part files stays under the descriptor limit.
Result<std::vector<std::unique_ptr<parquet::ParquetFile>>> OpenParquetSource(
    const std::vector<std::string>& files, const std::vector<Target*>& targets) {
  std::vector<std::unique_ptr<parquet::ParquetFile>> out;
  for (const std::string& f : files) {
    LARDER_ASSIGN_OR_RETURN(auto pf, OpenParquetSourceFile(f));
    for (const Target* t : targets) {
      LARDER_RETURN_IF_ERROR(LocateParquetViewFields(*t->view, *pf).status());
    }
    pf->Detach();
    out.push_back(std::move(pf));
  }
  return out;
}

Status ParquetRowError(const std::vector<std::string>& files, size_t file, uint64_t row,
                       const std::string& column, const std::string& why) {
  return Status(ErrorCode::kDataSourceError, DescribeParquetRow(files, ParquetRowId(file, row)) +
                                                 ", column '" + column + "': " + why);
}

// Reads one Parquet source (a file or a directory of part files) for every target reading it.
Status MaterializeParquet(Store& store, const std::string& path,
                          const std::vector<std::string>& files,
                          const std::vector<std::unique_ptr<parquet::ParquetFile>>& opened,
                          const std::vector<Target*>& targets, Progress* progress) {
  std::vector<ParquetGroup> groups;
  for (Target* t : targets) {
    std::vector<std::string> key_names;
    for (const JoinKeyDef& k : t->view->def.join_keys) key_names.push_back(k.name);
    ParquetGroup* g = nullptr;
    for (ParquetGroup& cand : groups) {
      if (cand.key_names == key_names && cand.start == t->start && cand.end == t->end) g = &cand;
    }
    if (g == nullptr) {
      g = &groups.emplace_back();
      g->key_names = key_names;
      g->key_types = t->view->key_types;
      g->start = t->start;
      g->end = t->end;
      g->packed = key_names;
    }
    for (const FeatureInfo& f : t->view->features) {
      if (std::find(g->packed.begin(), g->packed.end(), f.name) == g->packed.end()) {
        g->packed.push_back(f.name);
      }
    }
    g->targets.push_back(t);
  }
  // Row groups whose timestamps all lie outside every group's interval are not decoded.
  TimestampMicros lo = groups.front().start;
  TimestampMicros hi = groups.front().end;
  for (const ParquetGroup& g : groups) {
    lo = std::min(lo, g.start);
    hi = std::max(hi, g.end);
  }
  const std::string& ts_name = targets.front()->view->timestamp_field;
  const std::string& created_name = targets.front()->view->created_timestamp_column;
  uint64_t skipped_groups = 0;
  std::string key;
  std::vector<std::vector<std::pair<size_t, size_t>>> won(groups.size());  // (winner, row)
  for (size_t fi = 0; fi < opened.size(); ++fi) {
    parquet::ParquetFile& pf = *opened[fi];
    LARDER_RETURN_IF_ERROR(pf.Attach());
    const parquet::Field* ts_field = pf.FindField(ts_name);
    const parquet::Field* created_field =
        created_name.empty() ? nullptr : pf.FindField(created_name);
    uint64_t row_base = 0;
    // Progress in bytes: the file's size spread evenly over its row groups.
    const uint64_t file_bytes = FileSize(files[fi]);
    uint64_t done_in_file = 0;
    for (size_t rg = 0; rg < pf.num_row_groups(); ++rg) {
      const auto rows = static_cast<uint64_t>(pf.row_group_rows(rg));
      done_in_file = file_bytes * rg / pf.num_row_groups();
      if (auto range = pf.TimestampRange(rg, *ts_field);
          range && (range->second < lo || range->first > hi)) {
        ++skipped_groups;
        row_base += rows;
        continue;
      }
      // Each column this row group needs, decoded once.
      // A deque: the pointers handed out stay valid as columns are added.
      std::deque<std::pair<const parquet::Field*, parquet::Column>> decoded;
      auto column = [&](const parquet::Field* f) -> Result<const parquet::Column*> {
        for (const auto& [field, col] : decoded) {
          if (field == f) return &col;
        }
        LARDER_ASSIGN_OR_RETURN(parquet::Column col, pf.ReadColumn(rg, *f));
        decoded.emplace_back(f, std::move(col));
        return &decoded.back().second;
      };
      LARDER_ASSIGN_OR_RETURN(const parquet::Column* ts, column(ts_field));
      const parquet::Column* created = nullptr;
      if (created_field != nullptr) {
        LARDER_ASSIGN_OR_RETURN(created, column(created_field));
      }
      std::vector<std::vector<const parquet::Column*>> packed(groups.size());
      for (size_t gi = 0; gi < groups.size(); ++gi) {
        for (const std::string& name : groups[gi].packed) {
          LARDER_ASSIGN_OR_RETURN(const parquet::Column* c, column(pf.FindField(name)));
          packed[gi].push_back(c);
        }
      }
      for (size_t r = 0; r < rows; ++r) {
        if (++progress->rows % kProgressEvery == 0) progress->Report(done_in_file);
        if (!ts->valid[r]) {
          return ParquetRowError(files, fi, row_base + r, ts_name, "timestamp is null");
        }
        const TimestampMicros when = ts->i64[r];
        if (Status st = CheckTimestampRange(when); !st.ok()) {  // as RFC 3339 text would be
          return ParquetRowError(files, fi, row_base + r, ts_name, st.message());
        }
        const TimestampMicros made = created != nullptr && created->valid[r] ? created->i64[r] : 0;
        if (Status st = CheckTimestampRange(made); !st.ok()) {
          return ParquetRowError(files, fi, row_base + r, created_name, st.message());
        }
        for (size_t gi = 0; gi < groups.size(); ++gi) {
          ParquetGroup& g = groups[gi];
          if (when < g.start || when > g.end) continue;
          ++g.rows;
          key.clear();
          for (size_t k = 0; k < g.key_names.size(); ++k) {
            Status st = AppendParquetKeyPart(*packed[gi][k], r, g.key_types[k], &key);
            if (!st.ok()) {
              return ParquetRowError(files, fi, row_base + r, g.key_names[k], st.message());
            }
          }
          // Packed once the row group is done, if the row still wins then (entities recur
          // within a row group: most rows that win are beaten again before its end).
          const size_t w =
              g.table.Offer(key, when, made, ParquetRowId(fi, row_base + r), [](std::string*) {});
          if (w != WinnerTable::kLost) won[gi].emplace_back(w, r);
        }
      }
      for (size_t gi = 0; gi < groups.size(); ++gi) {
        for (const auto& [w, r] : won[gi]) {
          WinnerTable::Winner& winner = groups[gi].table.at(w);
          if (winner.line != ParquetRowId(fi, row_base + r)) continue;  // beaten since
          winner.record.clear();
          for (const parquet::Column* c : packed[gi]) PackParquetValue(*c, r, &winner.record);
        }
        won[gi].clear();
      }
      row_base += rows;
    }
    pf.Detach();
    progress->bytes_base += file_bytes;
    progress->Report(0);
  }
  for (ParquetGroup& g : groups) {
    for (Target* t : g.targets) {
      t->out->rows_read = g.rows;
      t->out->row_groups_skipped = skipped_groups;
      LARDER_RETURN_IF_ERROR(WriteParquetWinners(store, path, files, g, t));
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
      LARDER_ASSIGN_OR_RETURN(const ViewInfo* v, repo.RequireView(name, "feature repo"));
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
  // One pass over a file per timestamp field and created column: two sources may name the same
  // file with different ones, and each view must be read by its own.
  struct Pass {
    std::string path;
    std::string timestamp_field;
    std::string created_column;
    auto operator<=>(const Pass&) const = default;
  };
  std::map<Pass, std::vector<Target*>> by_pass;
  std::vector<Pass> pass_order;
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
    Result<BatchSource> resolved = ResolveBatchSource(*repo_cat, t.view->def.source);
    if (!resolved.ok() && views.empty()) {
      return resolved.status().WithContext(
          "materialize covers every online view when none is named; name the views to "
          "materialize to leave out feature view '" +
          t.view->def.name + "'");
    }
    LARDER_ASSIGN_OR_RETURN(BatchSource bs, std::move(resolved));
    Pass pass{bs.file->resolved_path, t.view->timestamp_field, t.view->created_timestamp_column};
    if (by_pass.find(pass) == by_pass.end()) {
      // Every file must be there before anything is written.
      struct stat st {};
      if (::stat(pass.path.c_str(), &st) != 0) {
        return Status(ErrorCode::kDataSourceNotFound, "batch source file '" + pass.path +
                                                          "' of feature view '" + t.view->def.name +
                                                          "' does not exist");
      }
      if (S_ISREG(st.st_mode)) progress.bytes_total += static_cast<uint64_t>(st.st_size);
      pass_order.push_back(pass);
    }
    by_pass[pass].push_back(&t);
  }
  // Parquet sources: every file opened and every view's columns checked against its dtypes
  // before anything is written.
  struct ParquetSource {
    std::vector<std::string> files;
    std::vector<std::unique_ptr<parquet::ParquetFile>> opened;
  };
  std::map<Pass, ParquetSource> parquet_sources;
  for (const Pass& pass : pass_order) {
    if (!IsParquetSource(pass.path)) continue;
    ParquetSource& ps = parquet_sources[pass];
    LARDER_ASSIGN_OR_RETURN(ps.files, ParquetSourceFiles(pass.path));
    LARDER_ASSIGN_OR_RETURN(ps.opened, OpenParquetSource(ps.files, by_pass[pass]));
    if (ps.files.size() != 1 || ps.files[0] != pass.path) {  // a directory: its part files' bytes
      for (const std::string& f : ps.files) progress.bytes_total += FileSize(f);
    }
  }
  for (const Pass& pass : pass_order) {
    if (auto it = parquet_sources.find(pass); it != parquet_sources.end()) {
      LARDER_RETURN_IF_ERROR(MaterializeParquet(store, pass.path, it->second.files,
                                                it->second.opened, by_pass[pass], &progress));
      continue;
    }
    LARDER_RETURN_IF_ERROR(MaterializeFile(store, pass.path, by_pass[pass], &progress));
    struct stat st {};
    if (::stat(pass.path.c_str(), &st) == 0) {
      progress.bytes_base += static_cast<uint64_t>(st.st_size);
    }
  }
  std::vector<MaterializedInterval> intervals;
  for (const Target& t : targets) intervals.push_back({t.view->def.name, t.start, t.end});
  LARDER_RETURN_IF_ERROR(store.RecordIntervals(intervals));
  return result;
}

}  // namespace larder
