#include "engine/offline/batch_source.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>

#include "engine/quote.h"
#include "engine/row_stager.h"

namespace larder {

namespace {

int FindName(const std::vector<std::string>& header, std::string_view name) {
  auto it = std::find(header.begin(), header.end(), name);
  return it == header.end() ? -1 : static_cast<int>(it - header.begin());
}

}  // namespace

const char* BatchColumnRoleName(BatchColumn::Role role) {
  switch (role) {
    case BatchColumn::Role::kTimestamp:
      return "timestamp field";
    case BatchColumn::Role::kCreated:
      return "created timestamp column";
    case BatchColumn::Role::kJoinKey:
      return "join key";
    case BatchColumn::Role::kFeature:
      return "feature";
  }
  return "column";
}

const BatchColumn* BatchSource::Find(std::string_view name) const {
  for (const BatchColumn& c : columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::vector<std::string> BatchSource::ColumnNames() const {
  std::vector<std::string> out;
  out.reserve(columns.size());
  for (const BatchColumn& c : columns) out.push_back(c.name);
  return out;
}

Status CheckSourceColumns(const BatchSource& bs, const std::vector<std::string>& names,
                          const std::string& path, std::string_view what) {
  std::vector<std::pair<std::string, std::string>> lacking;
  for (const BatchColumn& c : bs.columns) {
    if (c.role == BatchColumn::Role::kCreated) continue;
    if (std::find(names.begin(), names.end(), c.name) == names.end()) {
      lacking.emplace_back(c.name, BatchColumnRoleName(c.role));
    }
  }
  if (lacking.empty()) return Status::Ok();
  return Status(ErrorCode::kDataSourceError,
                path + ": the " + std::string(what) + " lacks " + DescribeColumnList(lacking) +
                    " that feature views reading batch source '" + bs.file->name +
                    "' need; add them to the file (nothing was written)");
}

Result<BatchSource> ResolveBatchSource(const Catalog& repo, std::string_view source) {
  const RepoConfig& config = repo.config();
  const SourceDef* src = config.FindSource(source);
  if (src != nullptr && src->kind == SourceKind::kPush) src = config.FindSource(src->batch_source);
  if (src != nullptr && src->kind == SourceKind::kExternal) {
    return Status(ErrorCode::kDataSourceError,
                  "batch source " + QuoteInput(src->name) + " is " + src->external_type +
                      ", imported from the Feast registry: Larder reads only local CSV and "
                      "Parquet file sources, so it cannot read or write this one");
  }
  if (src == nullptr || src->kind != SourceKind::kFile) {
    return Status(ErrorCode::kDataSourceNotFound,
                  "no batch source behind source '" + std::string(source) + "'");
  }
  BatchSource bs;
  bs.file = src;
  for (const ViewInfo& v : repo.views()) {
    const SourceDef* vs = config.FindSource(v.def.source);
    if (vs == nullptr) continue;
    if (vs->name == src->name || (vs->kind == SourceKind::kPush && vs->batch_source == src->name)) {
      bs.views.push_back(&v);
    }
  }
  auto add = [&bs](const std::string& name, BatchColumn::Role role, DType dtype) {
    for (BatchColumn& c : bs.columns) {
      if (c.name != name) continue;
      if (std::find(c.dtypes.begin(), c.dtypes.end(), dtype) == c.dtypes.end()) {
        c.dtypes.push_back(dtype);
      }
      return;
    }
    bs.columns.push_back({name, role, {dtype}});
  };
  const DType ts_type{ScalarType::kUnixTimestamp, false};
  add(src->timestamp_field, BatchColumn::Role::kTimestamp, ts_type);
  if (!src->created_timestamp_column.empty()) {
    add(src->created_timestamp_column, BatchColumn::Role::kCreated, ts_type);
  }
  for (const ViewInfo* v : bs.views) {
    for (const JoinKeyDef& k : v->def.join_keys) {
      add(k.name, BatchColumn::Role::kJoinKey, DType{k.type, false});
    }
  }
  for (const ViewInfo* v : bs.views) {
    for (const FeatureInfo& f : v->features) add(f.name, BatchColumn::Role::kFeature, f.dtype);
  }
  return bs;
}

Result<ViewColumns> LocateViewColumns(const ViewInfo& view, const std::vector<std::string>& header,
                                      const std::string& path) {
  std::unordered_set<std::string_view> seen;
  for (const std::string& name : header) {
    if (!seen.insert(name).second) {
      return Status(ErrorCode::kDataSourceError,
                    path + ": duplicate column name '" + name + "' in the header");
    }
  }
  ViewColumns vc;
  std::vector<std::pair<std::string, std::string>> missing;
  auto need = [&](const std::string& name, const char* role) {
    int c = FindName(header, name);
    if (c < 0) missing.emplace_back(name, role);
    return c;
  };
  vc.timestamp = need(view.timestamp_field, "timestamp field");
  for (const JoinKeyDef& k : view.def.join_keys) vc.keys.push_back(need(k.name, "join key"));
  for (const FeatureInfo& f : view.features) vc.features.push_back(need(f.name, "feature"));
  if (!missing.empty()) {
    return Status(ErrorCode::kDataSourceError,
                  path + ": the header lacks " + DescribeColumnList(missing) +
                      " that feature view '" + view.def.name + "' needs");
  }
  if (!view.created_timestamp_column.empty()) {
    vc.created = FindName(header, view.created_timestamp_column);
  }
  return vc;
}

}  // namespace larder
