// push(to=offline): validate, then render canonical CSV records and append them durably, or
// write a Parquet part file (engine/offline/parquet_push.h).
#include "engine/offline/offline_push.h"

#include <algorithm>
#include <filesystem>

#include "engine/offline/batch_source.h"
#include "engine/offline/offline_log.h"
#include "engine/offline/parquet_push.h"
#include "engine/offline/parquet_source.h"
#include "engine/quote.h"
#include "engine/row_stager.h"
#include "engine/values/cell_convert.h"
#include "engine/values/csv_stream.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

// Renders every row of `f` in the order of `header`, each cell in its canonical text (the
// column's first dtype), from the columns converted in `cells` (converting there what it lacks:
// every dtype a batch column has, so a cell that one view cannot take is refused).
Result<std::string> RenderRows(const BatchSource& bs, const Frame& f,
                               const std::vector<std::string>& header, const std::string& path,
                               ConvertedCells& cells) {
  LARDER_RETURN_IF_ERROR(CheckSourceColumns(bs, header, path, "header"));
  struct Out {
    int frame_col;
    const BatchColumn* spec;  // null: a column of the file no view reads (copied as is)
    const std::vector<Value>* values = nullptr;  // join keys and features, as dtypes[0]
    const std::vector<std::optional<TimestampMicros>>* times = nullptr;  // timestamp columns
  };
  std::vector<Out> outs;
  for (const std::string& name : header) {
    Out& o = outs.emplace_back(Out{f.FindColumn(name), bs.Find(name)});
    if (o.frame_col < 0 || o.spec == nullptr) continue;
    const BatchColumn::Role role = o.spec->role;
    if (role == BatchColumn::Role::kTimestamp || role == BatchColumn::Role::kCreated) {
      LARDER_ASSIGN_OR_RETURN(o.times, cells.Timestamps(o.frame_col, name));
      continue;
    }
    for (size_t i = 0; i < o.spec->dtypes.size(); ++i) {
      LARDER_ASSIGN_OR_RETURN(const std::vector<Value>* values,
                              cells.Values(o.frame_col, o.spec->dtypes[i], name));
      if (i == 0) o.values = values;
    }
  }
  std::string data;
  std::string text;
  data.reserve(f.num_rows() * header.size() * 8);
  for (size_t r = 0; r < f.num_rows(); ++r) {
    for (size_t i = 0; i < outs.size(); ++i) {
      if (i > 0) data.push_back(',');
      const Out& o = outs[i];
      if (o.frame_col < 0) continue;
      const Cell& cell = f.columns[o.frame_col][r];
      const bool present = cell.kind != Cell::Kind::kNull;
      text.clear();
      if (o.spec == nullptr) {
        if (present) AppendCellText(cell, &text);
      } else if (!present) {
        if (o.spec->role == BatchColumn::Role::kTimestamp) {  // the conversion's own error
          return CellError(f, r, header[i], CellToTimestamp(cell).status());
        }
        if (o.spec->role == BatchColumn::Role::kJoinKey) {
          return CellError(f, r, header[i], InvalidArgument("join key is null"));
        }
      } else if (o.times != nullptr && (*o.times)[r]) {
        text.append(FormatTimestamp(*(*o.times)[r]));
      } else if (o.values != nullptr) {
        AppendValueText((*o.values)[r], &text);
      }
      if (present) AppendCsvField(text, &data);
    }
    data.push_back('\n');
  }
  return data;
}

}  // namespace

Status ValidatePushFrame(const std::vector<const ViewInfo*>& views, const Frame& f,
                         ConvertedCells* cells, TimestampMicros latest_event_ts) {
  LARDER_RETURN_IF_ERROR(f.CheckShape());
  for (const ViewInfo* view : views) {
    LARDER_ASSIGN_OR_RETURN(RowStager rows, RowStager::Make(*view, f, cells, latest_event_ts));
    for (size_t r = 0; r < f.num_rows(); ++r) LARDER_RETURN_IF_ERROR(rows.Stage(r));
  }
  return Status::Ok();
}

Result<PushResult> PushToOffline(const Catalog& repo, const std::string& push_source,
                                 const Frame& frame, int timeout_ms, ConvertedCells* cells) {
  const SourceDef* src = repo.config().FindSource(push_source);
  if (src == nullptr || src->kind != SourceKind::kPush) {
    return Status(ErrorCode::kPushSourceNotFound,
                  "push source " + QuoteInput(push_source) + " is not in the feature repo");
  }
  LARDER_ASSIGN_OR_RETURN(BatchSource bs, ResolveBatchSource(repo, src->batch_source));
  // A Parquet source takes pushes as new part files, so only a directory of them can: a single
  // file would have to be rewritten whole (every earlier row) on each push, and appending CSV
  // records to it would corrupt it.
  const bool parquet = IsParquetSource(bs.file->resolved_path);
  if (parquet && !IsParquetDirectorySource(bs.file->resolved_path)) {
    return Status(ErrorCode::kDataSourceError,
                  "batch source '" + bs.file->name + "' of push source '" + push_source +
                      "' is a single Parquet file (" + bs.file->resolved_path +
                      (std::filesystem::exists(bs.file->resolved_path)
                           ? ""
                           : ", not there yet: a path ending in .parquet names a file") +
                      "): offline pushes are refused for it (nothing was written), since adding "
                      "rows would mean rewriting the whole file, every earlier row, on each push; "
                      "make the source a directory of part files (move the file into a directory "
                      "and point `path` at the directory), where each push adds one part file");
  }
  LARDER_RETURN_IF_ERROR(frame.CheckShape());
  ColumnRequirement need(frame);
  for (const BatchColumn& c : bs.columns) {
    if (c.role != BatchColumn::Role::kCreated) need.Need(c.name, BatchColumnRoleName(c.role));
  }
  LARDER_RETURN_IF_ERROR(need.Check("batch source '" + bs.file->name + "'"));
  PushResult res;
  res.rows_in = frame.num_rows();
  res.views = bs.views.size();
  if (frame.num_rows() == 0) return res;
  const std::string& path = bs.file->resolved_path;
  ConvertedCells own(frame);
  ConvertedCells& converted = cells != nullptr ? *cells : own;
  const TimestampMicros latest = LatestAllowedEventTime(repo.config().max_future_skew_seconds);
  if (latest != kNoEventTimeLimit) {
    for (const BatchColumn& c : bs.columns) {
      if (c.role != BatchColumn::Role::kTimestamp) continue;
      const int col = frame.FindColumn(c.name);
      LARDER_ASSIGN_OR_RETURN(const auto* times, converted.Timestamps(col, c.name));
      for (size_t r = 0; r < times->size(); ++r) {
        if (!(*times)[r]) continue;  // a null event time: RenderRows / WriteParquetPart name it
        if (Status late = CheckEventTime(*(*times)[r], latest); !late.ok()) {
          return CellError(frame, r, c.name, late);
        }
      }
    }
  }
  if (parquet) {
    LARDER_RETURN_IF_ERROR(
        WriteParquetPart(bs, frame, converted, repo.config().online_store.file_mode));
    res.rows_written = frame.num_rows();
    return res;
  }
  auto render = [&](const std::vector<std::string>& header) {
    return RenderRows(bs, frame, header, path, converted);
  };
  LARDER_ASSIGN_OR_RETURN(AppendOutcome out,
                          AppendRecords(path, bs.ColumnNames(), render,
                                        repo.config().online_store.file_mode, timeout_ms));
  (void)out;
  res.rows_written = frame.num_rows();
  return res;
}

Result<PushResult> PushOnlineAndOffline(Store& store, const Catalog& repo,
                                        const std::string& push_source, const Frame& frame,
                                        int timeout_ms) {
  LARDER_ASSIGN_OR_RETURN(auto registry, store.CurrentCatalog());
  const SourceDef* src = registry->config().FindSource(push_source);
  if (src == nullptr || src->kind != SourceKind::kPush) {
    return Status(ErrorCode::kPushSourceNotFound,
                  "push source " + QuoteInput(push_source) + " is not in the registry");
  }
  std::vector<const ViewInfo*> views;
  for (const ViewInfo* v : registry->ViewsOfSource(push_source)) {
    if (v->def.online) views.push_back(v);
  }
  // Each cell is converted once, here, for the three uses: validation, the offline records and
  // the online rows. (When an apply changed the registry since, Push converts what it lacks.)
  ConvertedCells cells(frame);
  LARDER_RETURN_IF_ERROR(ValidatePushFrame(
      views, frame, &cells, LatestAllowedEventTime(repo.config().max_future_skew_seconds)));
  LARDER_ASSIGN_OR_RETURN(PushResult offline,
                          PushToOffline(repo, push_source, frame, timeout_ms, &cells));
  (void)offline;
  auto online = store.Push(push_source, frame, &cells);
  if (!online.ok()) {
    // The offline half is durable already: say so, or a caller retrying the whole push would
    // append the rows to the offline store a second time.
    const SourceDef* push = repo.config().FindSource(push_source);
    const SourceDef* batch =
        push != nullptr ? repo.config().FindSource(push->batch_source) : nullptr;
    const std::string where = batch != nullptr ? " (" + batch->resolved_path + ")" : "";
    return Status(online.status().code(),
                  online.status().message() +
                      "; the rows were already written to the offline store" + where +
                      " and stay there: retry writing them online only (`--to online`, "
                      "PushMode::kOnline, HTTP \"to\": \"online\") or materialize, not "
                      "online_and_offline, which would write them offline again");
  }
  return online;
}

}  // namespace larder
