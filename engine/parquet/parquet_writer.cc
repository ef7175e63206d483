// The writer: checks every column, writes each row group's column chunks (column_writer.h),
// then the footer. parquet.thrift field ids are named where they are written.
#include "engine/parquet/parquet_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/parquet/column_writer.h"
#include "engine/parquet/encodings.h"
#include "engine/parquet/thrift_compact.h"

#ifndef LARDER_VERSION
#error "LARDER_VERSION must be defined by the build (CMakeLists.txt: the project's version)"
#endif

namespace larder::parquet {

namespace {

// Statistics (ColumnMetaData field 12): null_count, and min_value / max_value for numbers.
void WriteStats(CompactWriter& w, const WriteColumn& s, const Chunk& ch) {
  w.BeginStructField(12);
  w.FieldI64(3, ch.nulls);
  if (ch.mm.any && s.type != PhysicalType::kByteArray) {
    std::string lo, hi;
    auto put = [&](auto a, auto b) { AppendRaw(&b, sizeof b, &hi), AppendRaw(&a, sizeof a, &lo); };
    switch (s.type) {
      case PhysicalType::kBoolean:
        put(static_cast<uint8_t>(ch.mm.imin), static_cast<uint8_t>(ch.mm.imax));
        break;
      case PhysicalType::kInt32:
        put(static_cast<int32_t>(ch.mm.imin), static_cast<int32_t>(ch.mm.imax));
        break;
      case PhysicalType::kInt64:
        put(ch.mm.imin, ch.mm.imax);
        break;
      // Zeros as -0.0 (min) and +0.0 (max), so a reader comparing either sign keeps the chunk.
      case PhysicalType::kFloat:
        put(static_cast<float>(ch.mm.fmin == 0 ? -0.0 : ch.mm.fmin),
            static_cast<float>(ch.mm.fmax == 0 ? 0.0 : ch.mm.fmax));
        break;
      default:
        put(ch.mm.fmin == 0 ? -0.0 : ch.mm.fmin, ch.mm.fmax == 0 ? 0.0 : ch.mm.fmax);
        break;
    }
    w.FieldBinary(5, hi);
    w.FieldBinary(6, lo);
  }
  w.EndStruct();
}

// One SchemaElement: a leaf (with its annotations) or, for lists, the groups around it.
void WriteSchema(CompactWriter& w, const WriteColumn& s) {
  auto leaf = [&](const std::string& name, bool optional) {
    w.BeginListStruct();
    w.FieldI32(1, static_cast<int32_t>(s.type));
    w.FieldI32(3, static_cast<int32_t>(optional ? Repetition::kOptional : Repetition::kRequired));
    w.FieldBinary(4, name);
    if (s.string) {
      w.FieldI32(6, kUtf8);
      w.BeginStructField(10);  // LogicalType: STRING (1)
      w.BeginStructField(1);
      w.EndStruct();
      w.EndStruct();
    } else if (s.timestamp) {
      if (s.utc && s.unit != TimeUnit::kNanos) {
        w.FieldI32(6, s.unit == TimeUnit::kMillis ? kTimestampMillis : kTimestampMicros);
      }
      w.BeginStructField(10);  // LogicalType: TIMESTAMP (8) { isAdjustedToUTC, unit }
      w.BeginStructField(8);
      w.FieldBool(1, s.utc);
      w.BeginStructField(2);  // TimeUnit: MILLIS (1), MICROS (2), NANOS (3)
      w.BeginStructField(s.unit == TimeUnit::kMillis ? 1 : s.unit == TimeUnit::kMicros ? 2 : 3);
      w.EndStruct();
      w.EndStruct();
      w.EndStruct();
      w.EndStruct();
    }
    w.EndStruct();
  };
  if (!s.list) return leaf(s.name, s.optional);
  w.BeginListStruct();
  w.FieldI32(3, static_cast<int32_t>(s.optional ? Repetition::kOptional : Repetition::kRequired));
  w.FieldBinary(4, s.name);
  w.FieldI32(5, 1);
  w.FieldI32(6, kList);
  w.BeginStructField(10);  // LogicalType: LIST (3)
  w.BeginStructField(3);
  w.EndStruct();
  w.EndStruct();
  w.EndStruct();
  w.BeginListStruct();
  w.FieldI32(3, static_cast<int32_t>(Repetition::kRepeated));
  w.FieldBinary(4, s.list_group_name);
  w.FieldI32(5, 1);
  w.EndStruct();
  leaf(s.element_name, s.element_optional);
}

// Row groups (first row, rows) of at most `per` rows, ended early where a column's page would
// grow past what Larder's reader accepts (each chunk is one page): long strings or lists make
// smaller groups. A row that alone exceeds it is refused. No rows: no row group.
Result<std::vector<std::pair<size_t, size_t>>> RowGroupBounds(
    const std::vector<WriteColumn>& schema, const std::vector<Column>& columns, size_t rows,
    size_t per) {
  std::vector<std::pair<size_t, size_t>> bounds;
  std::vector<PageCost> used(schema.size()), row(schema.size());
  size_t first = 0;
  for (size_t r = 0; r < rows; ++r) {
    bool fits = r - first < per;
    for (size_t i = 0; i < schema.size(); ++i) {
      row[i] = RowPageCost(schema[i], columns[i], r);
      if (row[i].entries > kMaxWrittenPageEntries || row[i].bytes > kMaxWrittenPageBytes) {
        return InvalidArgument(
            "Parquet column '" + schema[i].name + "': row " + std::to_string(r + 1) +
            " alone holds " + std::to_string(row[i].entries) + " values of about " +
            std::to_string(row[i].bytes) + " bytes, more than one page Larder reads (" +
            std::to_string(kMaxWrittenPageEntries) + " values, " +
            std::to_string(kMaxWrittenPageBytes) + " bytes; nothing was written)");
      }
      fits = fits && used[i].entries + row[i].entries <= kMaxWrittenPageEntries &&
             used[i].bytes + row[i].bytes <= kMaxWrittenPageBytes;
    }
    if (!fits) {
      bounds.emplace_back(first, r - first);
      first = r;
      std::fill(used.begin(), used.end(), PageCost{});
    }
    for (size_t i = 0; i < schema.size(); ++i) {
      used[i].entries += row[i].entries;
      used[i].bytes += row[i].bytes;
    }
  }
  if (rows > first) bounds.emplace_back(first, rows - first);
  return bounds;
}

}  // namespace

const char* WriterCreatedBy() { return "larder version " LARDER_VERSION; }

Status WriteParquet(const std::vector<WriteColumn>& schema, const std::vector<Column>& columns,
                    const WriteOptions& options, std::string* out) {
  if (schema.empty()) return InvalidArgument("a Parquet file needs at least one column");
  if (columns.size() != schema.size()) {
    return InvalidArgument("Parquet writer: " + std::to_string(columns.size()) +
                           " columns of values for " + std::to_string(schema.size()) + " columns");
  }
  if (options.rows_per_group <= 0) return InvalidArgument("rows per row group must be positive");
  const int32_t codec = static_cast<int32_t>(options.codec);
  if (codec != 0 && codec != 1 && codec != 6) {
    return InvalidArgument(std::string("Larder does not write the ") + CodecName(codec) + " codec");
  }
  const size_t rows = columns[0].rows;
  for (size_t i = 0; i < schema.size(); ++i) {
    LARDER_RETURN_IF_ERROR(CheckColumn(schema[i], columns[i], rows));
  }
  LARDER_ASSIGN_OR_RETURN(auto bounds, RowGroupBounds(schema, columns, rows,
                                                      static_cast<size_t>(options.rows_per_group)));

  std::string file = "PAR1";
  std::vector<std::vector<Chunk>> groups;
  for (const auto& [first_row, n] : bounds) {
    auto& chunks = groups.emplace_back(schema.size());
    for (size_t i = 0; i < schema.size(); ++i) {
      LARDER_RETURN_IF_ERROR(
          WriteChunk(schema[i], columns[i], first_row, n, codec, &file, &chunks[i]));
    }
  }
  std::string footer;
  CompactWriter w(&footer);  // FileMetaData
  w.FieldI32(1, 1);          // version
  size_t elements = 1;
  for (const WriteColumn& s : schema) elements += s.list ? 3 : 1;
  w.BeginListField(2, TType::kStruct, static_cast<uint32_t>(elements));
  w.BeginListStruct();  // the root
  w.FieldBinary(4, "schema");
  w.FieldI32(5, static_cast<int32_t>(schema.size()));
  w.EndStruct();
  for (const WriteColumn& s : schema) WriteSchema(w, s);
  w.FieldI64(3, static_cast<int64_t>(rows));
  w.BeginListField(4, TType::kStruct, static_cast<uint32_t>(groups.size()));
  for (size_t g = 0; g < groups.size(); ++g) {
    w.BeginListStruct();  // RowGroup
    w.BeginListField(1, TType::kStruct, static_cast<uint32_t>(schema.size()));
    int64_t total = 0;
    for (size_t i = 0; i < schema.size(); ++i) {
      const WriteColumn& s = schema[i];
      const Chunk& ch = groups[g][i];
      total += ch.uncompressed;
      w.BeginListStruct();  // ColumnChunk
      w.FieldI64(2, ch.offset);
      w.BeginStructField(3);  // ColumnMetaData
      w.FieldI32(1, static_cast<int32_t>(s.type));
      const bool levels = LevelsOf(s).max_def > 0;
      w.BeginListField(2, TType::kI32, levels ? 2 : 1);
      w.ListI32(kPlain);
      if (levels) w.ListI32(kRle);
      w.BeginListField(3, TType::kBinary, s.list ? 3 : 1);
      w.ListBinary(s.name);
      if (s.list) w.ListBinary(s.list_group_name), w.ListBinary(s.element_name);
      w.FieldI32(4, codec);
      w.FieldI64(5, ch.entries);
      w.FieldI64(6, ch.uncompressed);
      w.FieldI64(7, ch.compressed);
      w.FieldI64(9, ch.offset);
      WriteStats(w, s, ch);
      w.EndStruct();
      w.EndStruct();
    }
    w.FieldI64(2, total);
    w.FieldI64(3, static_cast<int64_t>(bounds[g].second));
    w.EndStruct();
  }
  w.FieldBinary(6, WriterCreatedBy());
  w.EndStruct();  // the FileMetaData's stop byte
  file += footer;
  const auto len = static_cast<uint32_t>(footer.size());
  AppendRaw(&len, 4, &file);
  file += "PAR1";
  *out = std::move(file);
  return Status::Ok();
}

Status WriteParquetToFd(int fd, const std::vector<WriteColumn>& schema,
                        const std::vector<Column>& columns, const WriteOptions& options) {
  std::string bytes;
  LARDER_RETURN_IF_ERROR(WriteParquet(schema, columns, options, &bytes));
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(std::string("cannot write a Parquet file: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace larder::parquet
