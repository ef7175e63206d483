// A column chunk of the writer: checks, levels, PLAIN values, one compressed v1 data page.
#include "engine/parquet/column_writer.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include "engine/parquet/compression.h"
#include "engine/parquet/encodings.h"
#include "engine/parquet/thrift_compact.h"

namespace larder::parquet {

namespace {

Status Bad(const WriteColumn& c, const std::string& why) {
  return InvalidArgument("Parquet column '" + c.name + "': " + why + " (nothing was written)");
}

bool Supported(PhysicalType t) {
  return t == PhysicalType::kBoolean || t == PhysicalType::kInt32 || t == PhysicalType::kInt64 ||
         t == PhysicalType::kFloat || t == PhysicalType::kDouble || t == PhysicalType::kByteArray;
}

}  // namespace

Levels LevelsOf(const WriteColumn& c) {
  Levels l;
  if (!c.list) {
    l.max_def = c.optional ? 1 : 0;
    return l;
  }
  l.list_def = c.optional ? 1 : 0;
  l.max_def = l.list_def + 1 + (c.element_optional ? 1 : 0);
  l.max_rep = 1;
  return l;
}

PageCost RowPageCost(const WriteColumn& s, const Column& c, size_t r) {
  auto value_bytes = [&](size_t slot) -> size_t {
    switch (s.type) {
      case PhysicalType::kBoolean:
        return 1;
      case PhysicalType::kInt32:
      case PhysicalType::kFloat:
        return 4;
      case PhysicalType::kByteArray:
        return 4 + (c.off[slot + 1] - c.off[slot]);
      default:
        return 8;
    }
  };
  const bool present = c.valid.empty() || c.valid[r];
  PageCost p;
  if (!s.list) {
    p.entries = 1;
    p.bytes = 4 + (present ? value_bytes(r) : 0);
    return p;
  }
  const uint32_t begin = c.list_begin[r], end = c.list_begin[r + 1];
  p.entries = present && end > begin ? end - begin : 1;
  p.bytes = 4 * p.entries;
  if (!present) return p;
  for (uint32_t e = begin; e < end; ++e) {
    if (c.elem_valid.empty() || c.elem_valid[e]) p.bytes += value_bytes(e);
  }
  return p;
}

// Checks one column's schema and values against each other; `rows` is the file's row count.
Status CheckColumn(const WriteColumn& s, const Column& c, size_t rows) {
  if (!Supported(s.type)) {
    return Bad(s, std::string("type ") + PhysicalTypeName(s.type) + " is not written");
  }
  if (s.timestamp && s.type != PhysicalType::kInt64) return Bad(s, "a timestamp must be INT64");
  if (s.string && s.type != PhysicalType::kByteArray) return Bad(s, "a string must be BYTE_ARRAY");
  if (c.rows != rows) {
    return Bad(s,
               std::to_string(c.rows) + " rows where the first column has " + std::to_string(rows));
  }
  if (!c.valid.empty() && c.valid.size() != rows) return Bad(s, "validity of the wrong length");
  size_t slots = rows;
  if (s.list) {
    if (c.list_begin.size() != rows + 1 || c.list_begin[0] != 0) return Bad(s, "bad list offsets");
    for (size_t r = 0; r < rows; ++r) {
      if (c.list_begin[r + 1] < c.list_begin[r]) return Bad(s, "list offsets go backwards");
    }
    slots = c.list_begin[rows];
    if (!c.elem_valid.empty() && c.elem_valid.size() != slots) {
      return Bad(s, "element validity of the wrong length");
    }
  }
  for (size_t r = 0; r < rows && !s.optional; ++r) {
    if (!c.valid.empty() && !c.valid[r]) {
      return Bad(s, "row " + std::to_string(r + 1) + " is null in a REQUIRED column");
    }
  }
  for (size_t e = 0; e < c.elem_valid.size() && s.list && !s.element_optional; ++e) {
    if (!c.elem_valid[e]) return Bad(s, "a null element in a list of required elements");
  }
  switch (s.type) {
    case PhysicalType::kFloat:
    case PhysicalType::kDouble:
      if (c.f64.size() != slots) return Bad(s, "f64 holds the wrong number of values");
      return Status::Ok();
    case PhysicalType::kByteArray:
      if (slots == 0 && c.off.empty()) return Status::Ok();
      if (c.off.size() != slots + 1 || c.off[0] != 0 || c.off[slots] > c.bytes.size()) {
        return Bad(s, "bad byte offsets");
      }
      for (size_t i = 0; i < slots; ++i) {
        if (c.off[i + 1] < c.off[i]) return Bad(s, "byte offsets go backwards");
      }
      return Status::Ok();
    default:
      if (c.i64.size() != slots) return Bad(s, "i64 holds the wrong number of values");
      if (s.type == PhysicalType::kInt32) {
        for (int64_t v : c.i64) {
          if (v < INT32_MIN || v > INT32_MAX)
            return Bad(s, std::to_string(v) + " does not fit INT32");
        }
      }
      return Status::Ok();
  }
}

void AppendRaw(const void* p, size_t n, std::string* out) {
  out->append(static_cast<const char*>(p), n);
}

namespace {

// Levels as the RLE / bit-packed hybrid, RLE runs only, prefixed with their 4-byte length.
void AppendLevels(const std::vector<uint8_t>& levels, int max_level, std::string* out) {
  int width = 0;
  while ((1 << width) <= max_level) ++width;
  std::string runs;
  for (size_t i = 0; i < levels.size();) {
    size_t j = i;
    while (j < levels.size() && levels[j] == levels[i]) ++j;
    uint64_t header = static_cast<uint64_t>(j - i) << 1;  // low bit 0: an RLE run
    while (header >= 0x80) {
      runs.push_back(static_cast<char>((header & 0x7f) | 0x80));
      header >>= 7;
    }
    runs.push_back(static_cast<char>(header));
    runs.push_back(static_cast<char>(levels[i]));  // width <= 8: one byte
    i = j;
  }
  const auto len = static_cast<uint32_t>(runs.size());
  AppendRaw(&len, 4, out);
  out->append(runs);
}

}  // namespace

void MinMax::Int(int64_t v) {
  imin = any ? std::min(imin, v) : v;
  imax = any ? std::max(imax, v) : v;
  any = true;
}

void MinMax::Real(double v) {
  if (std::isnan(v)) return;  // NaN is not ordered: left out, as parquet-cpp does
  fmin = any ? std::min(fmin, v) : v;
  fmax = any ? std::max(fmax, v) : v;
  any = true;
}

// Encodes rows [first, first + n) of one column as a data page and appends it to `*file`.
Status WriteChunk(const WriteColumn& s, const Column& c, size_t first, size_t n, int32_t codec,
                  std::string* file, Chunk* ch) {
  const Levels lv = LevelsOf(s);
  std::vector<uint8_t> def, rep;
  std::string values;
  uint8_t bits = 0;
  int nbits = 0;
  auto value = [&](size_t slot) {
    switch (s.type) {
      case PhysicalType::kBoolean:
        if (c.i64[slot] != 0) bits |= static_cast<uint8_t>(1u << nbits);
        ch->mm.Int(c.i64[slot] != 0);
        if (++nbits == 8) values.push_back(static_cast<char>(bits)), bits = 0, nbits = 0;
        return;
      case PhysicalType::kInt32: {
        const auto v = static_cast<int32_t>(c.i64[slot]);
        ch->mm.Int(v);
        return AppendRaw(&v, 4, &values);
      }
      case PhysicalType::kInt64:
        ch->mm.Int(c.i64[slot]);
        return AppendRaw(&c.i64[slot], 8, &values);
      case PhysicalType::kFloat: {
        const auto v = static_cast<float>(c.f64[slot]);
        ch->mm.Real(v);
        return AppendRaw(&v, 4, &values);
      }
      case PhysicalType::kDouble:
        ch->mm.Real(c.f64[slot]);
        return AppendRaw(&c.f64[slot], 8, &values);
      default: {
        const uint32_t len = c.off[slot + 1] - c.off[slot];
        AppendRaw(&len, 4, &values);
        values.append(c.bytes, c.off[slot], len);
        return;
      }
    }
  };
  for (size_t r = first; r < first + n; ++r) {
    const bool present = c.valid.empty() || c.valid[r];
    if (!s.list) {
      if (lv.max_def > 0) def.push_back(present ? 1 : 0);
      if (present) value(r);
      ch->nulls += !present;
      continue;
    }
    if (!present || c.list_begin[r] == c.list_begin[r + 1]) {  // a null or an empty list
      def.push_back(static_cast<uint8_t>(present ? lv.list_def : 0));
      rep.push_back(0);
      ++ch->nulls;
      continue;
    }
    for (uint32_t e = c.list_begin[r]; e < c.list_begin[r + 1]; ++e) {
      const bool elem = c.elem_valid.empty() || c.elem_valid[e];
      def.push_back(static_cast<uint8_t>(elem ? lv.max_def : lv.list_def + 1));
      rep.push_back(e == c.list_begin[r] ? 0 : 1);
      if (elem) value(e);
      ch->nulls += !elem;
    }
  }
  if (nbits > 0) values.push_back(static_cast<char>(bits));
  ch->entries = static_cast<int64_t>(s.list ? def.size() : n);
  std::string page;
  if (lv.max_rep > 0) AppendLevels(rep, lv.max_rep, &page);
  if (lv.max_def > 0) AppendLevels(def, lv.max_def, &page);
  page += values;
  std::string packed;
  LARDER_RETURN_IF_ERROR(Compress(codec, page.data(), page.size(), &packed));
  if (page.size() > INT32_MAX || packed.size() > INT32_MAX || ch->entries > INT32_MAX) {
    return Bad(s, "a row group's page exceeds 2 GiB; write fewer rows per group");
  }
  std::string header;
  CompactWriter h(&header);  // PageHeader
  h.FieldI32(1, static_cast<int32_t>(PageType::kDataPage));
  h.FieldI32(2, static_cast<int32_t>(page.size()));
  h.FieldI32(3, static_cast<int32_t>(packed.size()));
  h.BeginStructField(5);  // DataPageHeader
  h.FieldI32(1, static_cast<int32_t>(ch->entries));
  h.FieldI32(2, kPlain);
  h.FieldI32(3, kRle);  // definition_level_encoding
  h.FieldI32(4, kRle);  // repetition_level_encoding
  h.EndStruct();
  h.EndStruct();
  ch->offset = static_cast<int64_t>(file->size());
  ch->compressed = static_cast<int64_t>(header.size() + packed.size());
  ch->uncompressed = static_cast<int64_t>(header.size() + page.size());
  *file += header;
  *file += packed;
  return Status::Ok();
}

}  // namespace larder::parquet
