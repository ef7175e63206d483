#include "engine/offline/parquet_source.h"

#include <simdjson.h>
#include <sys/stat.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <filesystem>
#include <limits>
#include <system_error>

#include "engine/row_stager.h"
#include "engine/values/cell_convert.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"

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
      return kind == ValueKind::kBytes;
    case ScalarType::kUnixTimestamp:
      return kind == ValueKind::kTimestamp;
  }
  return false;
}

}  // namespace

bool IsParquetSource(const std::string& path) {
  if (EndsWith(path, ".parquet") || EndsWith(path, "/")) return true;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> ParquetSourceFiles(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::vector<std::string>{path};
  LARDER_ASSIGN_OR_RETURN(std::vector<std::string> out, ParquetDirectoryParts(path));
  if (out.empty()) {
    // Read as empty, the source would materialize nothing and record the interval as done.
    return Status(ErrorCode::kDataSourceError,
                  path +
                      ": the Parquet source directory holds no *.parquet file (names starting "
                      "with '.' or '_' are skipped)");
  }
  return out;
}

Result<std::vector<std::string>> ParquetDirectoryParts(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(path, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == "_delta_log") {
      return Status(ErrorCode::kDataSourceError,
                    path +
                        " is a Delta table (it has a _delta_log): its log decides which part "
                        "files are live, and Larder does not read it; give a directory of "
                        "plain Parquet part files");
    }
    if (name.empty() || name[0] == '.' || name[0] == '_') continue;
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {
      return Status(ErrorCode::kDataSourceError,
                    path + ": subdirectory '" + name +
                        "' of a Parquet source directory is not read (hive-style partition "
                        "folders key=value/ are not supported; put the part files directly in " +
                        path + ")");
    }
    if (!EndsWith(name, ".parquet")) continue;
    std::error_code link_ec;
    if (!std::filesystem::is_regular_file(it->symlink_status(link_ec))) {
      return Status(ErrorCode::kDataSourceError,
                    path + ": '" + name +
                        "' is not a regular file (symbolic links and special files in a Parquet "
                        "source directory are not followed)");
    }
    names.push_back(name);
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

namespace {

Cell SlotCell(const parquet::Column& c, size_t slot) {
  switch (c.kind) {
    case parquet::ValueKind::kBool:
      return Cell::Bool(c.i64[slot] != 0);
    case parquet::ValueKind::kInt:
      return Cell::Int(c.i64[slot]);
    case parquet::ValueKind::kFloat:
    case parquet::ValueKind::kDouble:
      return Cell::Double(c.f64[slot]);
    case parquet::ValueKind::kString:
      return Cell::String(std::string(c.Bytes(slot)));
    case parquet::ValueKind::kBytes:
      return Cell::Bytes(std::string(c.Bytes(slot)));
    case parquet::ValueKind::kTimestamp:
      return Cell::String(FormatTimestamp(c.i64[slot]));
    case parquet::ValueKind::kUnsupported:
      break;
  }
  return Cell::Null();
}

}  // namespace

Result<Frame> ReadParquetFrame(const std::string& path, uint64_t max_cells) {
  LARDER_ASSIGN_OR_RETURN(auto pf, parquet::ParquetFile::Open(path));
  Frame f;
  f.origin = path;
  for (const parquet::Field& field : pf->fields()) {
    if (field.kind == parquet::ValueKind::kUnsupported) {
      return Status(ErrorCode::kInvalidArgument,
                    path + ": column '" + field.name + "' has Parquet type " + field.type_name +
                        ", which is not read (" + field.unsupported_why + ")");
    }
    f.names.push_back(field.name);
    f.columns.emplace_back();
  }
  // Cells (values and list elements) held so far: bounded, as a few compressed bytes can
  // declare and decode to billions of cells of ~80 bytes each.
  uint64_t cells = 0;
  auto too_many = [&path, max_cells](const std::string& what) {
    return Status(ErrorCode::kInvalidArgument,
                  path + ": " + what + ", more than the " + std::to_string(max_cells) +
                      " cells an entity dataframe may hold; split the file");
  };
  uint64_t declared = 0;
  for (size_t rg = 0; rg < pf->num_row_groups(); ++rg) {
    declared += static_cast<uint64_t>(std::max<int64_t>(pf->row_group_rows(rg), 0));
    if (declared > max_cells) break;
  }
  if (!f.names.empty() && declared > max_cells / f.names.size()) {
    return too_many("its row groups declare " + std::to_string(declared) + " rows of " +
                    std::to_string(f.names.size()) + " columns");
  }
  for (size_t rg = 0; rg < pf->num_row_groups(); ++rg) {
    for (size_t i = 0; i < pf->fields().size(); ++i) {
      LARDER_ASSIGN_OR_RETURN(parquet::Column c, pf->ReadColumn(rg, pf->fields()[i]));
      cells += c.rows + (c.is_list ? c.list_begin[c.rows] : 0);
      if (cells > max_cells) {
        return too_many("row group " + std::to_string(rg) + " brings it to " +
                        std::to_string(cells) + " cells");
      }
      std::vector<Cell>& out = f.columns[i];
      for (size_t r = 0; r < c.rows; ++r) {
        if (!c.valid[r]) {
          out.push_back(Cell::Null());
        } else if (!c.is_list) {
          out.push_back(SlotCell(c, r));
        } else {
          std::vector<Cell> elems;
          for (uint32_t e = c.list_begin[r]; e < c.list_begin[r + 1]; ++e) {
            elems.push_back(c.elem_valid[e] ? SlotCell(c, e) : Cell::Null());
          }
          out.push_back(Cell::Array(std::move(elems)));
        }
      }
    }
  }
  return f;
}

// ---- Packed values ----

namespace {

constexpr int kRowBits = 40;

void PackRaw(const void* p, size_t n, std::string* out) {
  out->append(static_cast<const char*>(p), n);
}

void PackSlot(const parquet::Column& c, size_t slot, std::string* out) {
  switch (c.kind) {
    case parquet::ValueKind::kFloat:
    case parquet::ValueKind::kDouble:
      out->push_back(kPackReal);
      PackRaw(&c.f64[slot], 8, out);
      return;
    case parquet::ValueKind::kString:
    case parquet::ValueKind::kBytes: {
      out->push_back(kPackBytes);
      const std::string_view b = c.Bytes(slot);
      const auto n = static_cast<uint32_t>(b.size());
      PackRaw(&n, 4, out);
      out->append(b);
      return;
    }
    default:  // kBool (0/1), kInt, kTimestamp (micros)
      out->push_back(kPackInt);
      PackRaw(&c.i64[slot], 8, out);
      return;
  }
}

}  // namespace

void PackParquetValue(const parquet::Column& c, size_t row, std::string* out) {
  if (!c.valid[row]) {
    out->push_back(kPackNull);
    return;
  }
  if (!c.is_list) {
    PackSlot(c, row, out);
    return;
  }
  out->push_back(kPackList);
  const uint32_t b = c.list_begin[row];
  const uint32_t e = c.list_begin[row + 1];
  const uint32_t n = e - b;
  PackRaw(&n, 4, out);
  for (uint32_t s = b; s < e; ++s) {
    if (c.elem_valid[s] == 0) {
      out->push_back(kPackNull);
    } else {
      PackSlot(c, s, out);
    }
  }
}

namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMinTimestampMicros = -62135596800LL * kMicrosPerSecond;      // 0001-01-01
constexpr int64_t kMaxTimestampMicros = 253402300800LL * kMicrosPerSecond - 1;  // 9999-12-31

}  // namespace

Status CheckTimestampRange(int64_t micros) {
  if (micros < kMinTimestampMicros || micros > kMaxTimestampMicros) {
    return InvalidArgument("timestamp of " + std::to_string(micros) +
                           " microseconds since the epoch is out of range (years 1..9999)");
  }
  return Status::Ok();
}

namespace {

// One scalar (tag already read) as a cell of its own kind for CellToValueInto: integers,
// doubles, booleans and raw bytes, no text.
void ReadScalarCell(PackedReader& in, char tag, ScalarType t, Cell* c) {
  switch (tag) {
    case kPackInt: {
      const int64_t v = in.Int();
      if (t == ScalarType::kBool) {
        c->kind = Cell::Kind::kBool;
        c->b = v != 0;
      } else {
        c->kind = Cell::Kind::kInt;
        c->i = v;
      }
      return;
    }
    case kPackReal:
      c->kind = Cell::Kind::kDouble;
      c->d = in.Real();
      return;
    case kPackBytes:
      c->kind = t == ScalarType::kString ? Cell::Kind::kString : Cell::Kind::kBytes;
      c->s.assign(in.Bytes());
      return;
    default:
      c->kind = Cell::Kind::kNull;
      return;
  }
}

}  // namespace

// The packed value at `in` as a Value of `dtype`: the conversions and checks of
// CellToValueInto (Int32 and Float32 ranges, UTF-8 of strings, nulls inside arrays), except
// timestamps, which are micros already (range-checked here).
Status PackedToValue(PackedReader& in, DType dtype, Cell* scratch, Value* out) {
  const char tag = in.Tag();
  if (tag == kPackNull) {
    *out = Value::Null(dtype);
    return Status::Ok();
  }
  if (dtype.scalar == ScalarType::kUnixTimestamp) {
    *out = Value::Null(dtype);
    out->is_null = false;
    if (!dtype.is_array) {
      out->i64 = in.Int();
      return CheckTimestampRange(out->i64);
    }
    for (uint32_t i = 0, n = in.Count(); i < n; ++i) {
      if (in.Tag() == kPackNull) {
        return InvalidArgument("element " + std::to_string(i) + " of " + DTypeName(dtype) +
                               " is null (null inside an array)");
      }
      out->i64s.push_back(in.Int());
      LARDER_RETURN_IF_ERROR(CheckTimestampRange(out->i64s.back()));
    }
    return Status::Ok();
  }
  // Numbers into numeric dtypes directly (the common case); anything else, and values out of
  // range (for the message), through the cell conversion.
  if (!dtype.is_array && (tag == kPackInt || tag == kPackReal)) {
    const ScalarType t = dtype.scalar;
    if (t == ScalarType::kFloat32 || t == ScalarType::kFloat64) {
      double x = tag == kPackReal ? in.Real() : static_cast<double>(in.Int());
      if (t == ScalarType::kFloat32 && !(std::isfinite(x) && std::fabs(x) > FLT_MAX)) {
        x = static_cast<double>(static_cast<float>(x));
      } else if (t == ScalarType::kFloat32) {
        *scratch = Cell::Double(x);
        return CellToValueInto(*scratch, dtype, out);
      }
      out->dtype = dtype;
      out->is_null = false;
      out->f64 = x;
      return Status::Ok();
    }
    if (tag == kPackInt && (t == ScalarType::kInt64 || t == ScalarType::kInt32)) {
      const int64_t v = in.Int();
      if (t == ScalarType::kInt32 &&
          (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())) {
        *scratch = Cell::Int(v);
        return CellToValueInto(*scratch, dtype, out);
      }
      out->dtype = dtype;
      out->is_null = false;
      out->i64 = v;
      return Status::Ok();
    }
  }
  if (!dtype.is_array) {
    ReadScalarCell(in, tag, dtype.scalar, scratch);
  } else {
    scratch->kind = Cell::Kind::kArray;
    scratch->arr.resize(in.Count());
    for (Cell& e : scratch->arr) ReadScalarCell(in, in.Tag(), dtype.scalar, &e);
  }
  return CellToValueInto(*scratch, dtype, out);
}

Status AppendParquetKeyPart(const parquet::Column& c, size_t r, ScalarType type, std::string* key) {
  if (!c.valid[r]) return InvalidArgument("join key is null");
  if (c.kind == parquet::ValueKind::kInt) return AppendKeyPartFromInt(c.i64[r], type, key);
  const std::string_view bytes = c.Bytes(r);
  if (type == ScalarType::kString && !simdjson::validate_utf8(bytes.data(), bytes.size())) {
    return CellToValue(Cell::String(std::string(bytes)), DType{type, false}).status();
  }
  AppendKeyPartFromBytes(bytes, key);
  return Status::Ok();
}

Result<std::unique_ptr<parquet::ParquetFile>> OpenParquetSourceFile(const std::string& path) {
  LARDER_ASSIGN_OR_RETURN(auto pf, parquet::ParquetFile::Open(path));
  uint64_t rows = 0;
  for (const parquet::RowGroup& g : pf->meta().row_groups) {
    rows += static_cast<uint64_t>(std::max<int64_t>(g.num_rows, 0));
    if (rows >= (uint64_t{1} << kRowBits)) {
      return Status(ErrorCode::kDataSourceError,
                    path + ": its row groups declare 2^" + std::to_string(kRowBits) +
                        " rows or more, more than Larder reads from one file");
    }
  }
  return pf;
}

uint64_t ParquetRowId(size_t file, uint64_t row) { return (uint64_t{file} << kRowBits) | row; }
std::string DescribeParquetRow(const std::vector<std::string>& files, uint64_t line) {
  const size_t file = line >> kRowBits;
  const uint64_t row = line & ((uint64_t{1} << kRowBits) - 1);
  if (file >= files.size()) return "row " + std::to_string(line) + " of no known file";
  return files[file] + " row " + std::to_string(row + 1);
}

}  // namespace larder
