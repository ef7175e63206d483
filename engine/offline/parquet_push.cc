// Offline pushes to a directory Parquet source: the part's schema, the push's values converted
// to it (refusing what a column cannot hold), and the atomic install of the new part file.
#include "engine/offline/parquet_push.h"

#include <sys/stat.h>

#include <charconv>
#include <cmath>
#include <filesystem>

#include "engine/offline/parquet_source.h"
#include "engine/offline/part_file.h"
#include "engine/parquet/parquet_writer.h"
#include "engine/values/cell_convert.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

using parquet::PhysicalType;
using parquet::TimeUnit;
using parquet::WriteColumn;

// The Parquet type of `c` as error messages spell it ("INT64 (TIMESTAMP(NANOS,UTC))").
std::string TypeName(const WriteColumn& c) {
  std::string t = parquet::PhysicalTypeName(c.type);
  if (c.string) t += " (STRING)";
  if (c.timestamp) {
    t += std::string(" (TIMESTAMP(") +
         (c.unit == TimeUnit::kMillis   ? "MILLIS"
          : c.unit == TimeUnit::kMicros ? "MICROS"
                                        : "NANOS") +
         (c.utc ? ",UTC))" : "))");
  }
  return c.list ? "list<" + t + ">" : t;
}

// One column of the part: its schema, and where its values come from.
struct Target {
  WriteColumn spec;
  std::string origin;  // the part file whose schema this is, or the directory
};

Status Refuse(const Target& t, const std::string& why) {
  return Status(ErrorCode::kDataSourceError, t.origin + ": column '" + t.spec.name +
                                                 "' (Parquet type " + TypeName(t.spec) + ") " +
                                                 why + " (nothing was written)");
}

// The part schema of an existing part file: its top-level columns as they are, each one the
// writer can reproduce exactly (else refused: dropping an annotation would change the schema).
Result<std::vector<Target>> SchemaOfPart(const std::string& path) {
  LARDER_ASSIGN_OR_RETURN(auto file, OpenParquetSourceFile(path));
  std::vector<Target> out;
  for (const parquet::Field& f : file->fields()) {
    const parquet::SchemaElement& leaf = *f.leaf_schema;
    Target& t = out.emplace_back(Target{{.name = f.name, .type = f.shape.type}, path});
    WriteColumn& c = t.spec;
    c.list = f.is_list;
    const auto& rep = f.path_repetition;
    const bool standard = f.path.size() == 3 && rep[0] != parquet::Repetition::kRepeated &&
                          rep[1] == parquet::Repetition::kRepeated &&
                          rep[2] != parquet::Repetition::kRepeated;
    if (c.list && standard) {  // <name> { repeated group <list> { <element> } }: names kept
      c.list_group_name = f.path[1];
      c.element_name = f.path[2];
    } else if (c.list) {
      const std::string layout = f.path.size() == 1   ? "the legacy bare repeated layout"
                                 : f.path.size() == 2 ? "the legacy two-level layout"
                                                      : "a layout of nested groups";
      return Status(ErrorCode::kDataSourceError,
                    path + ": column '" + f.name + "' is a list in " + layout +
                        ", which Larder does not write, so a part file with this schema cannot "
                        "be added beside it (nothing was written)");
    }
    c.optional = c.list ? f.def_present > 0 : f.shape.max_def > 0;
    c.element_optional = c.list && f.shape.max_def > f.def_repeated;
    const bool plain = leaf.logical == parquet::LogicalKind::kNone && !leaf.converted;
    bool ok = f.kind != parquet::ValueKind::kUnsupported;
    switch (f.kind) {
      case parquet::ValueKind::kBool:
      case parquet::ValueKind::kInt:
      case parquet::ValueKind::kFloat:
      case parquet::ValueKind::kDouble:
        ok = ok && plain;  // not INTEGER(8), unsigned, ...: the writer does not annotate those
        break;
      case parquet::ValueKind::kString:
        c.string = true;
        ok = leaf.logical == parquet::LogicalKind::kString ||
             (leaf.logical == parquet::LogicalKind::kNone && leaf.converted == parquet::kUtf8);
        break;
      case parquet::ValueKind::kBytes:
        ok = c.type == PhysicalType::kByteArray && plain;
        break;
      case parquet::ValueKind::kTimestamp:
        c.timestamp = true;
        ok = c.type == PhysicalType::kInt64;
        if (leaf.logical == parquet::LogicalKind::kTimestamp) {
          c.unit = leaf.unit, c.utc = leaf.utc;
        } else {
          c.unit =
              leaf.converted == parquet::kTimestampMillis ? TimeUnit::kMillis : TimeUnit::kMicros;
        }
        break;
      default:
        break;
    }
    if (!ok) {
      return Status(ErrorCode::kDataSourceError,
                    path + ": column '" + f.name + "' has Parquet type " + f.type_name +
                        ", which Larder does not write, so a part file with this schema cannot be "
                        "added (nothing was written)" +
                        (f.unsupported_why.empty() ? "" : ": " + f.unsupported_why));
    }
  }
  return out;
}

// The part schema of a directory without part files: the batch source's columns.
std::vector<Target> SchemaOfSource(const BatchSource& bs, const std::string& dir) {
  std::vector<Target> out;
  for (const BatchColumn& b : bs.columns) {
    WriteColumn c{.name = b.name};
    const bool time =
        b.role == BatchColumn::Role::kTimestamp || b.role == BatchColumn::Role::kCreated;
    const DType d = time ? DType{ScalarType::kUnixTimestamp, false} : b.dtypes[0];
    c.list = d.is_array;
    switch (d.scalar) {
      case ScalarType::kInt32:
        c.type = PhysicalType::kInt32;
        break;
      case ScalarType::kFloat32:
        c.type = PhysicalType::kFloat;
        break;
      case ScalarType::kFloat64:
        c.type = PhysicalType::kDouble;
        break;
      case ScalarType::kBool:
        c.type = PhysicalType::kBoolean;
        break;
      case ScalarType::kString:
      case ScalarType::kBytes:
        c.type = PhysicalType::kByteArray;
        c.string = d.scalar == ScalarType::kString;
        break;
      case ScalarType::kUnixTimestamp:
        c.timestamp = true;
        break;
      default:
        break;  // Int64
    }
    c.optional = b.role != BatchColumn::Role::kJoinKey && b.role != BatchColumn::Role::kTimestamp;
    out.push_back(Target{c, dir});
  }
  return out;
}

// The dtype whose values a column of the part holds naturally (for a push column no view reads).
DType NaturalDType(const WriteColumn& c) {
  ScalarType s = ScalarType::kInt64;
  if (c.timestamp) {
    s = ScalarType::kUnixTimestamp;
  } else if (c.type == PhysicalType::kInt32) {
    s = ScalarType::kInt32;
  } else if (c.type == PhysicalType::kFloat) {
    s = ScalarType::kFloat32;
  } else if (c.type == PhysicalType::kDouble) {
    s = ScalarType::kFloat64;
  } else if (c.type == PhysicalType::kBoolean) {
    s = ScalarType::kBool;
  } else if (c.type == PhysicalType::kByteArray) {
    s = c.string ? ScalarType::kString : ScalarType::kBytes;
  }
  return DType{s, c.list};
}

// Whether values of scalar type `s` may go into column `c` at all (each value is then checked
// to be representable): the reader must read them back as that same dtype.
bool Accepts(const WriteColumn& c, ScalarType s) {
  const bool integer = s == ScalarType::kInt32 || s == ScalarType::kInt64;
  const bool real = s == ScalarType::kFloat32 || s == ScalarType::kFloat64;
  if (c.timestamp) return s == ScalarType::kUnixTimestamp;
  switch (c.type) {
    case PhysicalType::kBoolean:
      return s == ScalarType::kBool;
    case PhysicalType::kInt32:
    case PhysicalType::kInt64:
      return integer;
    case PhysicalType::kFloat:
    case PhysicalType::kDouble:
      return integer || real;
    case PhysicalType::kByteArray:
      return s == ScalarType::kString || (!c.string && s == ScalarType::kBytes);
    default:
      return false;
  }
}

// The shortest text that reads back as `d` (for error messages).
std::string ShortestText(double d) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, res.ptr);
}

// Appends one present scalar to `out` (the slot's value), or says why it does not fit.
Status PutScalar(const Target& t, ScalarType s, int64_t i, double d, const std::string& str,
                 parquet::Column* out) {
  const WriteColumn& c = t.spec;
  auto refuse = [&](const std::string& v) {
    return Refuse(t, "cannot hold the " + std::string(ScalarTypeName(s)) + " value " + v);
  };
  const bool integer = s == ScalarType::kInt32 || s == ScalarType::kInt64;
  if (c.timestamp) {
    int64_t raw = i;
    if (c.unit == TimeUnit::kMillis) {
      if (i % 1000 != 0) return refuse(FormatTimestamp(i) + " (finer than a millisecond)");
      raw = i / 1000;
    } else if (c.unit == TimeUnit::kNanos && __builtin_mul_overflow(i, int64_t{1000}, &raw)) {
      return refuse(FormatTimestamp(i) + " (out of the nanosecond range)");
    }
    out->i64.push_back(raw);
    return Status::Ok();
  }
  switch (c.type) {
    case PhysicalType::kBoolean:
    case PhysicalType::kInt64:
      out->i64.push_back(i);
      return Status::Ok();
    case PhysicalType::kInt32:
      if (i < INT32_MIN || i > INT32_MAX) return refuse(std::to_string(i) + " (out of range)");
      out->i64.push_back(i);
      return Status::Ok();
    case PhysicalType::kFloat: {
      const double v = integer ? static_cast<double>(i) : d;
      const auto f = static_cast<float>(v);
      // An integer near 2^63 rounds to 2^63, which no int64_t holds: refused before the cast
      // back (undefined behaviour past INT64_MAX).
      if (!std::isnan(v) &&
          (static_cast<double>(f) != v ||
           (integer && (static_cast<double>(f) >= 0x1p63 || static_cast<int64_t>(f) != i)))) {
        return refuse((integer ? std::to_string(i) : ShortestText(d)) + " (not exact as FLOAT)");
      }
      out->f64.push_back(v);
      return Status::Ok();
    }
    case PhysicalType::kDouble:
      if (integer && (i > (int64_t{1} << 53) || i < -(int64_t{1} << 53))) {
        return refuse(std::to_string(i) + " (not exact as DOUBLE)");
      }
      out->f64.push_back(integer ? static_cast<double>(i) : d);
      return Status::Ok();
    default:
      out->bytes += str;
      out->off.push_back(static_cast<uint32_t>(out->bytes.size()));
      return Status::Ok();
  }
}

// A slot with no value (a null; the writer ignores what it holds).
void PutNothing(const WriteColumn& c, parquet::Column* out) {
  if (c.type == PhysicalType::kByteArray) {
    out->off.push_back(static_cast<uint32_t>(out->bytes.size()));
  } else if (c.type == PhysicalType::kFloat || c.type == PhysicalType::kDouble) {
    out->f64.push_back(0);
  } else {
    out->i64.push_back(0);
  }
}

// Column `t` of the part from the frame: values converted once through `cells`.
Result<parquet::Column> BuildColumn(const BatchSource& bs, const Frame& f, ConvertedCells& cells,
                                    const Target& t) {
  const WriteColumn& c = t.spec;
  parquet::Column out;
  out.rows = f.num_rows();
  if (c.type == PhysicalType::kByteArray) out.off.push_back(0);
  if (c.list) out.list_begin.push_back(0);
  const int col = f.FindColumn(c.name);
  const BatchColumn* spec = bs.Find(c.name);
  if (col < 0) {  // the push lacks it (an unread column of the file, or the created column)
    if (!c.optional) return Refuse(t, "is REQUIRED and the push does not have it");
    out.valid.assign(out.rows, 0);
    for (size_t r = 0; r < out.rows; ++r) {
      if (c.list)
        out.list_begin.push_back(0);
      else
        PutNothing(c, &out);
    }
    return out;
  }
  const bool time = spec != nullptr && (spec->role == BatchColumn::Role::kTimestamp ||
                                        spec->role == BatchColumn::Role::kCreated);
  const DType dtype = time              ? DType{ScalarType::kUnixTimestamp, false}
                      : spec != nullptr ? spec->dtypes[0]
                                        : NaturalDType(c);
  if (dtype.is_array != c.list || !Accepts(c, dtype.scalar)) {
    return Refuse(t, "cannot hold the push's " + DTypeName(dtype) + " values");
  }
  const std::vector<std::optional<TimestampMicros>>* times = nullptr;
  const std::vector<Value>* values = nullptr;
  if (time) {
    LARDER_ASSIGN_OR_RETURN(times, cells.Timestamps(col, c.name));
  } else {
    // Every dtype views give the column converts (as the CSV path checks).
    for (size_t i = 1; spec != nullptr && i < spec->dtypes.size(); ++i) {
      LARDER_RETURN_IF_ERROR(cells.Values(col, spec->dtypes[i], c.name).status());
    }
    LARDER_ASSIGN_OR_RETURN(values, cells.Values(col, dtype, c.name));
  }
  const std::string none;
  for (size_t r = 0; r < out.rows; ++r) {
    const bool present = time ? (*times)[r].has_value() : !(*values)[r].is_null;
    if (!present && spec != nullptr && spec->role == BatchColumn::Role::kTimestamp) {
      return CellError(f, r, c.name, CellToTimestamp(f.columns[col][r]).status());
    }
    if (!present && spec != nullptr && spec->role == BatchColumn::Role::kJoinKey) {
      return CellError(f, r, c.name, InvalidArgument("join key is null"));
    }
    if (!present && !c.optional) {
      return Refuse(t, "is REQUIRED and row " + std::to_string(r + 1) + " is null");
    }
    out.valid.push_back(present);
    if (!present) {
      if (c.list) {
        out.list_begin.push_back(out.list_begin.back());
      } else {
        PutNothing(c, &out);
      }
      continue;
    }
    if (time) {
      LARDER_RETURN_IF_ERROR(PutScalar(t, dtype.scalar, *(*times)[r], 0, none, &out));
      continue;
    }
    const Value& v = (*values)[r];
    if (!c.list) {
      LARDER_RETURN_IF_ERROR(PutScalar(t, dtype.scalar, v.i64, v.f64, v.str, &out));
      continue;
    }
    // Larder's arrays hold no null elements.
    const size_t n = !v.i64s.empty()   ? v.i64s.size()
                     : !v.f64s.empty() ? v.f64s.size()
                                       : v.strs.size();
    for (size_t e = 0; e < n; ++e) {
      LARDER_RETURN_IF_ERROR(PutScalar(t, dtype.scalar, e < v.i64s.size() ? v.i64s[e] : 0,
                                       e < v.f64s.size() ? v.f64s[e] : 0,
                                       e < v.strs.size() ? v.strs[e] : none, &out));
    }
    out.list_begin.push_back(out.list_begin.back() + static_cast<uint32_t>(n));
  }
  return out;
}

}  // namespace

bool IsParquetDirectorySource(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
  return !path.empty() && path.back() == '/';
}

Status WriteParquetPart(const BatchSource& bs, const Frame& frame, ConvertedCells& cells,
                        uint32_t file_mode) {
  const std::string& dir = bs.file->resolved_path;
  std::vector<std::string> parts;  // a missing directory has none
  // Checked before anything is encoded (InstallNewFile checks it again through the descriptor
  // it writes with).
  if (auto opened = OpenOwnedDirectory(dir); opened.ok()) {
    LARDER_ASSIGN_OR_RETURN(parts, ParquetDirectoryParts(dir));
  } else if (opened.status().code() != ErrorCode::kStoreNotFound) {
    return opened.status();
  }
  std::vector<Target> schema;
  if (parts.empty()) {
    schema = SchemaOfSource(bs, dir);
  } else {
    LARDER_ASSIGN_OR_RETURN(schema, SchemaOfPart(parts[0]));
    std::vector<std::string> names;
    for (const Target& t : schema) names.push_back(t.spec.name);
    LARDER_RETURN_IF_ERROR(CheckSourceColumns(bs, names, parts[0], "schema"));
  }
  std::vector<WriteColumn> specs;
  std::vector<parquet::Column> columns;
  for (const Target& t : schema) {
    LARDER_ASSIGN_OR_RETURN(parquet::Column c, BuildColumn(bs, frame, cells, t));
    specs.push_back(t.spec);
    columns.push_back(std::move(c));
  }
  std::string bytes;
  LARDER_RETURN_IF_ERROR(parquet::WriteParquet(specs, columns, {}, &bytes));
  const std::string name = NewParquetPartName();
  // Created (with its parents, each made durable) as the CSV append creates its file's
  // directory, only once the part is ready: a refused push leaves no directory either.
  LARDER_RETURN_IF_ERROR(CreateDirectoriesSynced(dir));
  return InstallNewFile(dir, name, bytes, file_mode);
}

}  // namespace larder
