// Footer, schema resolution (top-level scalars and lists of scalars) and row-aligned columns.
#include "engine/parquet/parquet_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "engine/parquet/encodings.h"

namespace larder::parquet {

namespace {

constexpr uint64_t kMaxFooterBytes = 64ull << 20;
constexpr int64_t kMicrosPerDay = 86'400'000'000;
constexpr int64_t kJulianUnixEpoch = 2'440'588;

Status FileError(const std::string& origin, const std::string& what) {
  return Status(ErrorCode::kDataSourceError, origin + ": " + what);
}

bool IsString(const SchemaElement& e) {
  if (e.logical == LogicalKind::kString || e.logical == LogicalKind::kEnum ||
      e.logical == LogicalKind::kJson) {
    return true;
  }
  return e.converted && (*e.converted == kUtf8 || *e.converted == kEnum || *e.converted == kJson);
}

bool IsUnsigned(const SchemaElement& e) {
  if (e.logical == LogicalKind::kInteger) return !e.int_signed;
  return e.converted && *e.converted >= kUint8 && *e.converted <= kUint64;
}

std::string UnitName(TimeUnit u) {
  return u == TimeUnit::kMillis ? "MILLIS" : u == TimeUnit::kMicros ? "MICROS" : "NANOS";
}

// The annotation text of a leaf, for type names in errors.
std::string Annotation(const SchemaElement& e) {
  switch (e.logical) {
    case LogicalKind::kString:
      return "STRING";
    case LogicalKind::kEnum:
      return "ENUM";
    case LogicalKind::kJson:
      return "JSON";
    case LogicalKind::kBson:
      return "BSON";
    case LogicalKind::kUuid:
      return "UUID";
    case LogicalKind::kDate:
      return "DATE";
    case LogicalKind::kDecimal:
      return "DECIMAL";
    case LogicalKind::kTime:
      return "TIME(" + UnitName(e.unit) + ")";
    case LogicalKind::kTimestamp:
      return "TIMESTAMP(" + UnitName(e.unit) + (e.utc ? ",UTC)" : ")");
    case LogicalKind::kInteger:
      return std::string(e.int_signed ? "INT(" : "UINT(") + std::to_string(e.int_bits) + ")";
    case LogicalKind::kOther:
      return "an unknown logical type";
    default:
      break;
  }
  if (!e.converted) return "";
  switch (*e.converted) {
    case kUtf8:
      return "UTF8";
    case kEnum:
      return "ENUM";
    case kJson:
      return "JSON";
    case kDecimal:
      return "DECIMAL";
    case kDate:
      return "DATE";
    case kTimeMillis:
      return "TIME_MILLIS";
    case kTimeMicros:
      return "TIME_MICROS";
    case kTimestampMillis:
      return "TIMESTAMP_MILLIS";
    case kTimestampMicros:
      return "TIMESTAMP_MICROS";
    case kInterval:
      return "INTERVAL";
    default:
      return "converted type " + std::to_string(*e.converted);
  }
}

// The value kind of a leaf; sets *why when it is unsupported.
ValueKind KindOf(const SchemaElement& e, std::string* why) {
  const bool time = e.logical == LogicalKind::kTime ||
                    (e.converted && (*e.converted == kTimeMillis || *e.converted == kTimeMicros));
  const bool decimal =
      e.logical == LogicalKind::kDecimal || (e.converted && *e.converted == kDecimal);
  if (decimal) {
    *why = "DECIMAL is not read (store it as DOUBLE or INT64)";
    return ValueKind::kUnsupported;
  }
  if (time) {
    *why = "TIME of day is not read";
    return ValueKind::kUnsupported;
  }
  switch (*e.type) {
    case PhysicalType::kBoolean:
      return ValueKind::kBool;
    case PhysicalType::kInt32:
      if (e.logical == LogicalKind::kDate || (e.converted && *e.converted == kDate)) {
        return ValueKind::kTimestamp;
      }
      return ValueKind::kInt;
    case PhysicalType::kInt64:
      if (e.logical == LogicalKind::kTimestamp ||
          (e.converted && (*e.converted == kTimestampMillis || *e.converted == kTimestampMicros))) {
        return ValueKind::kTimestamp;
      }
      return ValueKind::kInt;
    case PhysicalType::kInt96:
      return ValueKind::kTimestamp;
    case PhysicalType::kFloat:
      return ValueKind::kFloat;
    case PhysicalType::kDouble:
      return ValueKind::kDouble;
    case PhysicalType::kByteArray:
      return IsString(e) ? ValueKind::kString : ValueKind::kBytes;
    case PhysicalType::kFixedLenByteArray:
      if (e.logical == LogicalKind::kOther) {
        *why = "FIXED_LEN_BYTE_ARRAY with an unknown logical type (FLOAT16?) is not read";
        return ValueKind::kUnsupported;
      }
      return ValueKind::kBytes;
  }
  *why = "unknown physical type";
  return ValueKind::kUnsupported;
}

// How a timestamp-kind leaf stores its instants.
enum class TsForm { kMillis, kMicros, kNanos, kDate, kInt96 };

TsForm FormOf(const SchemaElement& e) {
  if (*e.type == PhysicalType::kInt96) return TsForm::kInt96;
  if (*e.type == PhysicalType::kInt32) return TsForm::kDate;
  if (e.logical == LogicalKind::kTimestamp) {
    return e.unit == TimeUnit::kMillis   ? TsForm::kMillis
           : e.unit == TimeUnit::kMicros ? TsForm::kMicros
                                         : TsForm::kNanos;
  }
  return e.converted && *e.converted == kTimestampMillis ? TsForm::kMillis : TsForm::kMicros;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

Result<int64_t> Int96ToMicros(std::string_view b) {
  if (b.size() != 12) return EncodingError("INT96 value of " + std::to_string(b.size()) + " bytes");
  int64_t nanos;
  int32_t day;
  std::memcpy(&nanos, b.data(), 8);
  std::memcpy(&day, b.data() + 8, 4);
  // Spark's arithmetic, wrapping as it does for instants past the int64 range (their values
  // are refused later as out of the years 1..9999).
  uint64_t us = static_cast<uint64_t>(static_cast<int64_t>(day) - kJulianUnixEpoch) *
                    static_cast<uint64_t>(kMicrosPerDay) +
                static_cast<uint64_t>(nanos / 1000);
  return static_cast<int64_t>(us);
}

}  // namespace

Result<int64_t> TimestampToMicros(const Field& f, int64_t raw) {
  switch (FormOf(*f.leaf_schema)) {
    case TsForm::kMillis: {
      int64_t out;
      if (__builtin_mul_overflow(raw, int64_t{1000}, &out)) {
        return EncodingError("TIMESTAMP(MILLIS) value out of range");
      }
      return out;
    }
    case TsForm::kMicros:
      return raw;
    case TsForm::kNanos:
      return FloorDiv(raw, 1000);
    case TsForm::kDate: {
      // An INT32 of days past about +-106.7 million (292,000 years) overflows int64
      // microseconds; a hostile file's values or statistics may hold any: an error, not a wrap.
      int64_t out;
      if (__builtin_mul_overflow(static_cast<int64_t>(static_cast<int32_t>(raw)), kMicrosPerDay,
                                 &out)) {
        return EncodingError("DATE value out of range");
      }
      return out;
    }
    case TsForm::kInt96:
      break;
  }
  return EncodingError("INT96 has no integer form");
}

ParquetFile::~ParquetFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status ParquetFile::OpenFd(struct stat* st) {
  // O_NONBLOCK: a FIFO at the path must not block the open (it is refused below as not a
  // regular file); reads of a regular file ignore the flag.
  fd_ = ::open(origin_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) {
    int e = errno;
    if (e == ENOENT) return Status(ErrorCode::kDataSourceNotFound, origin_ + ": no such file");
    if (e == ELOOP) return FileError(origin_, "is a symbolic link (not followed)");
    return IoError(origin_ + ": open: " + std::strerror(e));
  }
  if (::fstat(fd_, st) != 0) return IoError(origin_ + ": fstat: " + std::strerror(errno));
  if (!S_ISREG(st->st_mode)) return FileError(origin_, "not a regular file");
  return Status::Ok();
}

Result<std::unique_ptr<ParquetFile>> ParquetFile::Open(const std::string& path) {
  std::unique_ptr<ParquetFile> f(new ParquetFile());
  f->origin_ = path;
  struct stat st {};
  LARDER_RETURN_IF_ERROR(f->OpenFd(&st));
  f->size_ = static_cast<uint64_t>(st.st_size);
  f->dev_ = static_cast<uint64_t>(st.st_dev);
  f->ino_ = static_cast<uint64_t>(st.st_ino);
  f->mtime_ns_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  LARDER_RETURN_IF_ERROR(f->Init());
  return f;
}

void ParquetFile::Detach() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  detached_ = true;
}

Status ParquetFile::Attach() {
  if (!detached_) return Status::Ok();
  struct stat st {};
  Status opened = OpenFd(&st);
  if (opened.ok()) {
    const int64_t mtime_ns =
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (static_cast<uint64_t>(st.st_dev) != dev_ || static_cast<uint64_t>(st.st_ino) != ino_ ||
        static_cast<uint64_t>(st.st_size) != size_ || mtime_ns != mtime_ns_) {
      opened = FileError(origin_,
                         "was replaced or changed since it was opened (another file now lies at "
                         "the path, or it was rewritten): read it again");
    }
  }
  if (!opened.ok()) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return opened;
  }
  detached_ = false;
  return Status::Ok();
}

Result<std::unique_ptr<ParquetFile>> ParquetFile::FromBytes(std::string bytes, std::string origin) {
  std::unique_ptr<ParquetFile> f(new ParquetFile());
  f->origin_ = std::move(origin);
  f->mem_ = std::move(bytes);
  f->size_ = f->mem_.size();
  LARDER_RETURN_IF_ERROR(f->Init());
  return f;
}

Status ParquetFile::ReadAt(uint64_t offset, size_t n, std::string* out) const {
  if (offset > size_ || n > size_ - offset) {
    return FileError(origin_, "a range of the file lies past its end (" + std::to_string(size_) +
                                  " bytes): corrupt or truncated");
  }
  if (detached_) {
    return Status(ErrorCode::kInternal, origin_ + ": read while detached (Attach it first)");
  }
  if (fd_ < 0) {
    out->assign(mem_, static_cast<size_t>(offset), n);
    return Status::Ok();
  }
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, out->data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return IoError(origin_ + ": read: " + std::strerror(errno));
    if (r == 0) return FileError(origin_, "the file shrank while it was read");
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status ParquetFile::Init() {
  if (size_ < 12) return FileError(origin_, "not a Parquet file (shorter than 12 bytes)");
  std::string tail;
  LARDER_RETURN_IF_ERROR(ReadAt(size_ - 8, 8, &tail));
  std::string head;
  LARDER_RETURN_IF_ERROR(ReadAt(0, 4, &head));
  if (tail.substr(4) == "PARE") return FileError(origin_, "encrypted Parquet is not supported");
  if (head != "PAR1" || tail.substr(4) != "PAR1") {
    return FileError(origin_, "not a Parquet file (no PAR1 magic at its start and end)");
  }
  uint32_t footer_len;
  std::memcpy(&footer_len, tail.data(), 4);
  if (footer_len > size_ - 12 || footer_len > kMaxFooterBytes) {
    return FileError(origin_, "footer length " + std::to_string(footer_len) +
                                  " does not fit the file: corrupt or truncated");
  }
  std::string footer;
  LARDER_RETURN_IF_ERROR(ReadAt(size_ - 8 - footer_len, footer_len, &footer));
  auto md = ParseFileMetaData(reinterpret_cast<const uint8_t*>(footer.data()), footer.size());
  if (!md.ok()) return FileError(origin_, md.status().message());
  meta_ = std::move(*md);
  return ResolveSchema();
}

Status ParquetFile::ResolveSchema() {
  const auto& s = meta_.schema;
  if (s.empty()) return FileError(origin_, "empty schema");
  // Depth-first walk: each node's path from the top-level field, counting levels.
  struct Frame {
    size_t node;
    int children_left;
  };
  int leaves = 0;
  size_t i = 1;
  const int top_children = s[0].num_children;
  if (top_children < 0 || static_cast<size_t>(top_children) > s.size()) {
    return FileError(origin_,
                     "corrupt schema: root has " + std::to_string(top_children) + " children");
  }
  for (int t = 0; t < top_children; ++t) {
    if (i >= s.size()) return FileError(origin_, "corrupt schema: fewer elements than children");
    Field f;
    f.name = s[i].name;
    // Walk the subtree rooted at i.
    std::vector<Frame> stack;
    std::vector<size_t> path;  // nodes from the top-level field down to the current one
    size_t first_leaf_node = 0;
    int leaf_count = 0;
    int repeated_nodes = 0;
    size_t node = i;
    std::vector<size_t> leaf_path;
    for (;;) {
      if (node >= s.size()) return FileError(origin_, "corrupt schema: truncated subtree");
      const SchemaElement& e = s[node];
      path.push_back(node);
      if (e.type.has_value() || e.num_children == 0) {
        if (!e.type.has_value())
          return FileError(origin_, "corrupt schema: group without children");
        if (leaf_count++ == 0) {
          first_leaf_node = node;
          leaf_path = path;
        }
        ++leaves;
        path.pop_back();
        ++node;
        // Pop finished groups.
        while (!stack.empty() && --stack.back().children_left == 0) {
          stack.pop_back();
          path.pop_back();
        }
        if (stack.empty()) break;
      } else {
        if (e.num_children < 0 || static_cast<size_t>(e.num_children) > s.size() ||
            stack.size() >= 64) {
          return FileError(origin_, "corrupt schema: bad group '" + e.name + "'");
        }
        stack.push_back({node, e.num_children});
        ++node;
      }
    }
    i = node;
    f.leaf = leaves - leaf_count;
    for (size_t n : leaf_path) {
      if (s[n].repetition == Repetition::kRepeated) ++repeated_nodes;
    }
    const SchemaElement& leaf = s[first_leaf_node];
    f.leaf_schema = &leaf;
    for (size_t n : leaf_path) {
      f.path.push_back(s[n].name);
      f.path_repetition.push_back(s[n].repetition);
    }
    f.shape.type = *leaf.type;
    f.shape.type_length = leaf.type_length;
    int def = 0, rep = 0;
    for (size_t k = 0; k < leaf_path.size(); ++k) {
      const SchemaElement& e = s[leaf_path[k]];
      // The root's own repetition, if any, is ignored; these are the field's nodes.
      if (e.repetition == Repetition::kOptional) ++def;
      if (e.repetition == Repetition::kRepeated) {
        ++def;
        ++rep;
        f.def_repeated = def;
      }
      if (k == 0) f.def_present = e.repetition == Repetition::kOptional ? def : 0;
    }
    f.shape.max_def = def;
    f.shape.max_rep = rep;
    f.is_list = rep > 0;
    std::string why;
    f.kind = KindOf(leaf, &why);
    std::string ann = Annotation(leaf);
    std::string scalar =
        std::string(PhysicalTypeName(*leaf.type)) + (ann.empty() ? "" : " (" + ann + ")");
    f.type_name = f.is_list ? "list<" + scalar + ">" : scalar;
    if (leaf_count > 1) {
      f.kind = ValueKind::kUnsupported;
      why = "a group of " + std::to_string(leaf_count) + " columns (struct or map) is not read";
      f.type_name = "group";
    } else if (std::any_of(leaf_path.begin(), leaf_path.end(), [&](size_t n) {
                 const SchemaElement& e = s[n];
                 return e.logical == LogicalKind::kMap ||
                        (e.converted && (*e.converted == kMap || *e.converted == kMapKeyValue));
               })) {
      // A map of keys alone (parquet-rs writes one) has a single leaf: not a list either.
      f.kind = ValueKind::kUnsupported;
      why = "a map is not read";
      f.type_name = "map";
    } else if (repeated_nodes == 0 && leaf_path.size() > 1) {
      f.kind = ValueKind::kUnsupported;
      why = "a struct is not read";
      f.type_name = "group";
    } else if (repeated_nodes > 1) {
      f.kind = ValueKind::kUnsupported;
      why = "nested lists are not read";
    }
    f.unsupported_why = why;
    fields_.push_back(std::move(f));
  }
  if (i != s.size()) return FileError(origin_, "corrupt schema: elements after the last field");
  for (size_t g = 0; g < meta_.row_groups.size(); ++g) {
    const RowGroup& rg = meta_.row_groups[g];
    if (rg.columns.size() != static_cast<size_t>(leaves)) {
      return FileError(origin_, "row group " + std::to_string(g) + " has " +
                                    std::to_string(rg.columns.size()) + " column chunks for " +
                                    std::to_string(leaves) + " schema columns");
    }
    if (rg.num_rows < 0) return FileError(origin_, "negative row count");
  }
  return Status::Ok();
}

const Field* ParquetFile::FindField(std::string_view name) const {
  for (const Field& f : fields_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Result<Column> ParquetFile::ReadColumn(size_t rg, const Field& field) const {
  auto where = [&](const std::string& what) {
    return FileError(origin_,
                     "row group " + std::to_string(rg) + ", column '" + field.name + "': " + what);
  };
  if (field.kind == ValueKind::kUnsupported) {
    return where(field.type_name + ": " + field.unsupported_why);
  }
  const RowGroup& g = meta_.row_groups[rg];
  const ColumnChunk& cc = g.columns[static_cast<size_t>(field.leaf)];
  if (!cc.file_path.empty())
    return where("data in another file ('" + cc.file_path + "') is not read");
  if (!cc.has_meta) return where("column chunk without metadata");
  const ColumnMeta& m = cc.meta;
  if (m.type != field.shape.type) return where("column chunk type differs from the schema's");
  if (g.num_rows == 0) {
    // An empty row group (Arrow writes one for an empty table, and between others) has no
    // values to read, and its chunk offsets need not point at a page: none is read.
    if (m.num_values != 0) return where("values in a row group of no rows");
    Column empty;
    empty.kind = field.kind;
    empty.is_list = field.is_list;
    if (field.is_list) empty.list_begin.push_back(0);
    if (field.kind == ValueKind::kString || field.kind == ValueKind::kBytes) empty.off.push_back(0);
    return empty;
  }
  int64_t start = m.data_page_offset;
  if (m.dictionary_page_offset && *m.dictionary_page_offset > 0 &&
      *m.dictionary_page_offset < start) {
    start = *m.dictionary_page_offset;
  }
  if (start < 4 || m.total_compressed_size < 0) return where("bad column chunk offsets");
  std::string chunk;
  LARDER_RETURN_IF_ERROR(
      ReadAt(static_cast<uint64_t>(start), static_cast<size_t>(m.total_compressed_size), &chunk));
  auto leaf =
      ReadLeaf(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size(), m, field.shape);
  if (!leaf.ok()) return where(leaf.status().message());
  LeafData& d = *leaf;

  Column c;
  c.kind = field.kind;
  c.is_list = field.is_list;
  const int max_def = field.shape.max_def;
  // Slots: rows for scalars; elements for lists.
  size_t slots = 0;
  std::vector<uint8_t> slot_valid;
  if (!field.is_list) {
    c.rows = d.entries;
    c.valid.resize(d.entries, 1);
    if (max_def > 0) {
      for (size_t e = 0; e < d.entries; ++e) c.valid[e] = d.def[e] == max_def;
    }
    slots = d.entries;
  } else {
    // At most one row per decoded entry: a declared count is not believed for the reservation.
    const size_t rows_at_most = std::min(static_cast<size_t>(g.num_rows), d.entries);
    c.valid.reserve(rows_at_most);
    c.list_begin.reserve(rows_at_most + 1);
    for (size_t e = 0; e < d.entries; ++e) {
      int def = d.def.empty() ? max_def : d.def[e];
      if (d.rep[e] == 0) {
        c.list_begin.push_back(static_cast<uint32_t>(slots));
        c.valid.push_back(def >= field.def_present);
        ++c.rows;
      }
      if (def >= field.def_repeated) {
        c.elem_valid.push_back(def == max_def);
        ++slots;
      }
    }
    c.list_begin.push_back(static_cast<uint32_t>(slots));
  }
  if (c.rows != static_cast<uint64_t>(g.num_rows)) {
    return where("holds " + std::to_string(c.rows) + " rows where the row group has " +
                 std::to_string(g.num_rows));
  }
  const std::vector<uint8_t>& present = field.is_list ? c.elem_valid : c.valid;
  size_t have = 0;
  for (uint8_t v : present) have += v;
  if (have != d.values()) {
    return where("levels promise " + std::to_string(have) + " values, pages hold " +
                 std::to_string(d.values()));
  }

  const PhysicalType pt = field.shape.type;
  if (c.kind == ValueKind::kFloat || c.kind == ValueKind::kDouble) {
    if (have == slots) {
      c.f64 = std::move(d.reals);
    } else {
      c.f64.assign(slots, 0.0);
      for (size_t s = 0, j = 0; s < slots; ++s) {
        if (present[s]) c.f64[s] = d.reals[j++];
      }
    }
  } else if (c.kind == ValueKind::kString || c.kind == ValueKind::kBytes) {
    if (d.offsets.empty()) d.offsets.push_back(0);
    if (have == slots) {
      c.off = std::move(d.offsets);
    } else {
      c.off.resize(slots + 1);
      c.off[0] = d.offsets[0];
      for (size_t s = 0, j = 0; s < slots; ++s) {
        c.off[s + 1] = present[s] ? d.offsets[++j] : c.off[s];
      }
    }
    c.bytes = std::move(d.bytes);
  } else if (pt == PhysicalType::kInt96) {
    c.i64.assign(slots, 0);
    for (size_t s = 0, j = 0; s < slots; ++s) {
      if (!present[s]) continue;
      std::string_view b(d.bytes.data() + d.offsets[j], d.offsets[j + 1] - d.offsets[j]);
      ++j;
      auto us = Int96ToMicros(b);
      if (!us.ok()) return where(us.status().message());
      c.i64[s] = *us;
    }
  } else {
    if (have == slots) {
      c.i64 = std::move(d.ints);
    } else {
      c.i64.assign(slots, 0);
      for (size_t s = 0, j = 0; s < slots; ++s) {
        if (present[s]) c.i64[s] = d.ints[j++];
      }
    }
    if (c.kind == ValueKind::kInt && IsUnsigned(*field.leaf_schema)) {
      for (int64_t& v : c.i64) {
        if (pt == PhysicalType::kInt32) v = static_cast<int64_t>(static_cast<uint32_t>(v));
        if (v < 0) return where("UINT64 value over 2^63 - 1");
      }
    } else if (c.kind == ValueKind::kTimestamp) {
      const TsForm form = FormOf(*field.leaf_schema);
      if (form != TsForm::kMicros) {
        for (size_t s = 0; s < slots; ++s) {
          if (!present[s]) continue;
          auto us = TimestampToMicros(field, c.i64[s]);
          if (!us.ok()) return where(us.status().message());
          c.i64[s] = *us;
        }
      }
    }
  }
  return c;
}

std::optional<std::pair<int64_t, int64_t>> ParquetFile::TimestampRange(size_t rg,
                                                                       const Field& field) const {
  if (field.kind != ValueKind::kTimestamp || field.is_list) return std::nullopt;
  const ColumnChunk& cc = meta_.row_groups[rg].columns[static_cast<size_t>(field.leaf)];
  const Statistics& st = cc.meta.stats;
  if (!cc.has_meta || !st.min || !st.max) return std::nullopt;
  const size_t w = field.shape.type == PhysicalType::kInt64   ? 8
                   : field.shape.type == PhysicalType::kInt32 ? 4
                                                              : 0;
  if (w == 0 || st.min->size() != w || st.max->size() != w) return std::nullopt;
  auto raw = [&](const std::string& b) -> int64_t {
    if (w == 8) {
      int64_t v;
      std::memcpy(&v, b.data(), 8);
      return v;
    }
    int32_t v;
    std::memcpy(&v, b.data(), 4);
    return v;
  };
  auto lo = TimestampToMicros(field, raw(*st.min));
  auto hi = TimestampToMicros(field, raw(*st.max));
  if (!lo.ok() || !hi.ok() || *lo > *hi) return std::nullopt;
  // Nanosecond maxima floor to a microsecond; a row can only be later within that microsecond.
  return std::make_pair(*lo, *hi);
}

}  // namespace larder::parquet
