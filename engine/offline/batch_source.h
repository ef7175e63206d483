// Batch sources (`type: file`): which feature views read one, which columns its CSV file
// holds, and where each view's columns are in a file's header.
// Thread-safety: plain values over an immutable Catalog.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/rows/catalog.h"
#include "larder/status.h"

namespace larder {

struct BatchColumn {
  enum class Role : uint8_t { kTimestamp, kCreated, kJoinKey, kFeature };
  std::string name;
  Role role = Role::kFeature;
  // The dtypes views give this column (usually one; join keys use their scalar type).
  std::vector<DType> dtypes;
};
// "timestamp field", "created timestamp column", "join key", "feature".
const char* BatchColumnRoleName(BatchColumn::Role role);

struct BatchSource {
  const SourceDef* file = nullptr;     // the `type: file` source
  std::vector<const ViewInfo*> views;  // views reading it directly or through a push source
  // The timestamp field, the created-timestamp column (if any), then every view's join keys
  // and features in registry order, each name once.
  std::vector<BatchColumn> columns;

  const BatchColumn* Find(std::string_view name) const;
  std::vector<std::string> ColumnNames() const;
};

// Whether a file's columns (`names`: a CSV header, a Parquet part's schema) hold every column
// of `bs` but the created-timestamp column: kDataSourceError "<path>: the <what> lacks column
// 'x' (feature) that feature views reading batch source 'b' need; add them to the file
// (nothing was written)" otherwise. Offline pushes check this before writing.
Status CheckSourceColumns(const BatchSource& bs, const std::vector<std::string>& names,
                          const std::string& path, std::string_view what);

// The batch source behind `source` (a file source, or a push source's batch source).
// kDataSourceNotFound when `source` names neither.
Result<BatchSource> ResolveBatchSource(const Catalog& repo, std::string_view source);

// Positions of a view's columns in a file's header.
struct ViewColumns {
  int timestamp = -1;
  int created = -1;  // -1: the file has no created column (rows get created timestamp 0)
  std::vector<int> keys;
  std::vector<int> features;
};
// kDataSourceError naming `path`, the view and every missing column, or a column the header
// names twice.
Result<ViewColumns> LocateViewColumns(const ViewInfo& view, const std::vector<std::string>& header,
                                      const std::string& path);

}  // namespace larder
