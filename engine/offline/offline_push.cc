// push(to=offline): validate, render canonical CSV records, append durably.
#include "engine/offline/offline_push.h"

#include <algorithm>

#include "engine/offline/batch_source.h"
#include "engine/offline/offline_log.h"
#include "engine/row_stager.h"
#include "engine/values/cell_convert.h"
#include "engine/values/csv_stream.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

// The canonical text of one cell of a batch-source column (not CSV-quoted). *present is
// false for a null cell (written as an empty field).
Status RenderCell(const Cell& cell, const BatchColumn& col, std::string* out, bool* present) {
  *present = cell.kind != Cell::Kind::kNull;
  if (col.role == BatchColumn::Role::kTimestamp || col.role == BatchColumn::Role::kCreated) {
    if (!*present && col.role == BatchColumn::Role::kCreated) return Status::Ok();
    LARDER_ASSIGN_OR_RETURN(TimestampMicros ts, CellToTimestamp(cell));
    out->append(FormatTimestamp(ts));
    return Status::Ok();
  }
  if (!*present) {
    if (col.role == BatchColumn::Role::kJoinKey) return InvalidArgument("join key is null");
    return Status::Ok();
  }
  for (size_t i = 0; i < col.dtypes.size(); ++i) {
    LARDER_ASSIGN_OR_RETURN(Value v, CellToValue(cell, col.dtypes[i]));
    if (i == 0) AppendValueText(v, out);
  }
  return Status::Ok();
}

// Renders every row of `f` in the order of `header`.
Result<std::string> RenderRows(const BatchSource& bs, const Frame& f,
                               const std::vector<std::string>& header, const std::string& path) {
  std::vector<std::pair<std::string, std::string>> lacking;
  for (const BatchColumn& c : bs.columns) {
    if (c.role == BatchColumn::Role::kCreated) continue;
    if (std::find(header.begin(), header.end(), c.name) == header.end()) {
      lacking.emplace_back(c.name, BatchColumnRoleName(c.role));
    }
  }
  if (!lacking.empty()) {
    return Status(ErrorCode::kDataSourceError,
                  path + ": the header lacks " + DescribeColumnList(lacking) +
                      " that feature views reading batch source '" + bs.file->name +
                      "' need; add them to the file (nothing was written)");
  }
  struct Out {
    int frame_col;
    const BatchColumn* spec;
  };
  std::vector<Out> outs;
  for (const std::string& name : header) outs.push_back({f.FindColumn(name), bs.Find(name)});
  std::string data;
  std::string text;
  data.reserve(f.num_rows() * header.size() * 8);
  for (size_t r = 0; r < f.num_rows(); ++r) {
    for (size_t i = 0; i < outs.size(); ++i) {
      if (i > 0) data.push_back(',');
      const Out& o = outs[i];
      if (o.frame_col < 0) continue;
      const Cell& cell = f.columns[o.frame_col][r];
      text.clear();
      bool present = cell.kind != Cell::Kind::kNull;
      if (o.spec != nullptr) {
        Status st = RenderCell(cell, *o.spec, &text, &present);
        if (!st.ok()) return CellError(f, r, header[i], st);
      } else if (present) {
        AppendCellText(cell, &text);
      }
      if (present) AppendCsvField(text, &data);
    }
    data.push_back('\n');
  }
  return data;
}

}  // namespace

Status ValidatePushFrame(const std::vector<const ViewInfo*>& views, const Frame& f) {
  LARDER_RETURN_IF_ERROR(f.CheckShape());
  for (const ViewInfo* view : views) {
    LARDER_ASSIGN_OR_RETURN(RowStager rows, RowStager::Make(*view, f));
    for (size_t r = 0; r < f.num_rows(); ++r) LARDER_RETURN_IF_ERROR(rows.Stage(r));
  }
  return Status::Ok();
}

Result<PushResult> PushToOffline(const Catalog& repo, const std::string& push_source,
                                 const Frame& frame, int timeout_ms) {
  const SourceDef* src = repo.config().FindSource(push_source);
  if (src == nullptr || src->kind != SourceKind::kPush) {
    return Status(ErrorCode::kPushSourceNotFound,
                  "push source '" + push_source + "' is not in the feature repo");
  }
  LARDER_ASSIGN_OR_RETURN(BatchSource bs, ResolveBatchSource(repo, src->batch_source));
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
  auto render = [&](const std::vector<std::string>& header) {
    return RenderRows(bs, frame, header, path);
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
                  "push source '" + push_source + "' is not in the registry");
  }
  std::vector<const ViewInfo*> views;
  for (const ViewInfo* v : registry->ViewsOfSource(push_source)) {
    if (v->def.online) views.push_back(v);
  }
  LARDER_RETURN_IF_ERROR(ValidatePushFrame(views, frame));
  LARDER_ASSIGN_OR_RETURN(PushResult offline, PushToOffline(repo, push_source, frame, timeout_ms));
  (void)offline;
  return store.Push(push_source, frame);
}

}  // namespace larder
