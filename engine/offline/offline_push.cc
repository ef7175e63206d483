// push(to=offline): validate, render canonical CSV records, append durably.
#include "engine/offline/offline_push.h"

#include <algorithm>

#include "engine/offline/batch_source.h"
#include "engine/offline/csv_stream.h"
#include "engine/offline/offline_log.h"
#include "engine/values/cell_convert.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"
#include "layout/entity_key.h"
#include "layout/segment_layout.h"

namespace larder {

namespace {

Status CellError(const Frame& f, size_t row, const std::string& column, const Status& st) {
  return Status(st.code(), f.DescribeRow(row) + ", column '" + column + "': " + st.message());
}

std::string ColumnList(const std::vector<std::pair<std::string, std::string>>& missing) {
  return std::string(missing.size() > 1 ? "columns " : "column ") + DescribeColumns(missing);
}

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
                  path + ": the header lacks " + ColumnList(lacking) +
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
  std::string key;
  for (const ViewInfo* view : views) {
    std::vector<std::pair<std::string, std::string>> missing;
    auto need = [&](const std::string& name, const char* role) {
      int c = f.FindColumn(name);
      if (c < 0) missing.emplace_back(name, role);
      return c;
    };
    std::vector<int> key_cols, feat_cols;
    for (const JoinKeyDef& k : view->def.join_keys) key_cols.push_back(need(k.name, "join key"));
    for (const FeatureInfo& fi : view->features) feat_cols.push_back(need(fi.name, "feature"));
    int ts_col = need(view->timestamp_field, "timestamp field");
    if (!missing.empty()) {
      return InvalidArgument(f.origin + ": feature view '" + view->def.name + "' needs " +
                             ColumnList(missing) +
                             ", missing from the request (nothing was written)");
    }
    int created_col =
        view->created_timestamp_column.empty() ? -1 : f.FindColumn(view->created_timestamp_column);
    for (size_t r = 0; r < f.num_rows(); ++r) {
      key.clear();
      for (size_t k = 0; k < key_cols.size(); ++k) {
        const JoinKeyDef& jk = view->def.join_keys[k];
        auto v = CellToValue(f.columns[key_cols[k]][r], DType{jk.type, false});
        Status st = v.ok() ? layout::AppendEntityKeyPart(*v, jk.type, &key) : v.status();
        if (!st.ok()) return CellError(f, r, jk.name, st);
      }
      if (key.size() > layout::kMaxKeyLen) {
        return InvalidArgument(f.DescribeRow(r) + ": entity key of " + std::to_string(key.size()) +
                               " bytes exceeds the limit of " + std::to_string(layout::kMaxKeyLen));
      }
      auto ts = CellToTimestamp(f.columns[ts_col][r]);
      if (!ts.ok()) return CellError(f, r, view->timestamp_field, ts.status());
      if (created_col >= 0 && f.columns[created_col][r].kind != Cell::Kind::kNull) {
        auto c = CellToTimestamp(f.columns[created_col][r]);
        if (!c.ok()) return CellError(f, r, view->created_timestamp_column, c.status());
      }
      for (size_t i = 0; i < feat_cols.size(); ++i) {
        auto v = CellToValue(f.columns[feat_cols[i]][r], view->features[i].dtype);
        if (!v.ok()) return CellError(f, r, view->features[i].name, v.status());
      }
    }
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
  std::vector<std::pair<std::string, std::string>> missing;
  for (const BatchColumn& c : bs.columns) {
    if (c.role != BatchColumn::Role::kCreated && frame.FindColumn(c.name) < 0) {
      missing.emplace_back(c.name, BatchColumnRoleName(c.role));
    }
  }
  if (!missing.empty()) {
    return InvalidArgument(frame.origin + ": batch source '" + bs.file->name + "' needs " +
                           ColumnList(missing) +
                           ", missing from the request (nothing was written)");
  }
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
