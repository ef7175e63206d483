#include "engine/offline/parquet_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "engine/row_stager.h"

namespace larder {

namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool ScalarFits(parquet::ValueKind kind, ScalarType t) {
  using parquet::ValueKind;
  switch (t) {
    case ScalarType::kInt32:
    case ScalarType::kInt64:
      return kind == ValueKind::kInt;
    case ScalarType::kFloat32:
    case ScalarType::kFloat64:
      return kind == ValueKind::kFloat || kind == ValueKind::kDouble || kind == ValueKind::kInt;
    case ScalarType::kBool:
      return kind == ValueKind::kBool;
    case ScalarType::kString:
      return kind == ValueKind::kString;
    case ScalarType::kBytes:
      return kind == ValueKind::kBytes || kind == ValueKind::kString;
    case ScalarType::kUnixTimestamp:
      return kind == ValueKind::kTimestamp;
  }
  return false;
}

}  // namespace

bool IsParquetSource(const std::string& path) {
  if (EndsWith(path, ".parquet")) return true;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> ParquetSourceFiles(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::vector<std::string>{path};
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(path, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || name[0] == '_') continue;
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {
      return Status(ErrorCode::kDataSourceError,
                    path + ": subdirectory '" + name +
                        "' of a Parquet source directory is not read (hive-style partition "
                        "folders key=value/ are not supported; put the part files directly in " +
                        path + ")");
    }
    if (EndsWith(name, ".parquet")) names.push_back(name);
  }
  if (ec) {
    return Status(ErrorCode::kDataSourceError,
                  "cannot list Parquet source directory " + path + ": " + ec.message());
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> out;
  out.reserve(names.size());
  for (const std::string& n : names) out.push_back((std::filesystem::path(path) / n).string());
  return out;
}

bool ParquetFieldFits(const parquet::Field& field, DType dtype) {
  return field.kind != parquet::ValueKind::kUnsupported && field.is_list == dtype.is_array &&
         ScalarFits(field.kind, dtype.scalar);
}

Result<ParquetViewFields> LocateParquetViewFields(const ViewInfo& view,
                                                  const parquet::ParquetFile& file) {
  ParquetViewFields out;
  std::vector<std::pair<std::string, std::string>> missing;
  Status mismatch;
  auto need = [&](const std::string& name, const char* role, DType dtype) {
    const parquet::Field* f = file.FindField(name);
    if (f == nullptr) {
      missing.emplace_back(name, role);
    } else if (mismatch.ok() && !ParquetFieldFits(*f, dtype)) {
      std::string why = f->kind == parquet::ValueKind::kUnsupported && !f->unsupported_why.empty()
                            ? " (" + f->unsupported_why + ")"
                            : "";
      mismatch = Status(ErrorCode::kDataSourceError,
                        file.origin() + ": column '" + name + "' (" + role + " of feature view '" +
                            view.def.name + "') has Parquet type " + f->type_name + why +
                            ", which cannot be read as " + DTypeName(dtype));
    }
    return f;
  };
  const DType ts_type{ScalarType::kUnixTimestamp, false};
  out.timestamp = need(view.timestamp_field, "timestamp field", ts_type);
  for (const JoinKeyDef& k : view.def.join_keys) {
    out.keys.push_back(need(k.name, "join key", DType{k.type, false}));
  }
  for (const FeatureInfo& f : view.features)
    out.features.push_back(need(f.name, "feature", f.dtype));
  if (!missing.empty()) {
    return Status(ErrorCode::kDataSourceError,
                  file.origin() + ": the file lacks " + DescribeColumnList(missing) +
                      " that feature view '" + view.def.name + "' needs");
  }
  if (!view.created_timestamp_column.empty()) {
    out.created = file.FindField(view.created_timestamp_column);
    if (out.created != nullptr)
      need(view.created_timestamp_column, "created timestamp column", ts_type);
  }
  if (!mismatch.ok()) return mismatch;
  return out;
}

}  // namespace larder
