// Decodes parquet.thrift's FileMetaData and PageHeader (the fields Larder uses; the others are
// skipped). Field ids are parquet.thrift's.
#include "engine/parquet/metadata.h"

#include "engine/parquet/thrift_compact.h"

namespace larder::parquet {

namespace {

// Calls `on_field(id, type)` for every field of the struct the reader is in; `on_field` reads
// the value or returns false to have it skipped. Consumes the stop byte.
template <typename F>
Status ForEachField(CompactReader& r, F&& on_field) {
  for (;;) {
    int16_t id = 0;
    TType type = TType::kStop;
    LARDER_ASSIGN_OR_RETURN(bool more, r.NextField(&id, &type));
    if (!more) return Status::Ok();
    LARDER_ASSIGN_OR_RETURN(bool used, on_field(id, type));
    if (!used) LARDER_RETURN_IF_ERROR(r.Skip(type));
  }
}

// A nested struct field: BeginStruct, fields, EndStruct.
template <typename F>
Status NestedStruct(CompactReader& r, F&& on_field) {
  LARDER_RETURN_IF_ERROR(r.BeginStruct());
  LARDER_RETURN_IF_ERROR(ForEachField(r, on_field));
  r.EndStruct();
  return Status::Ok();
}

Status WrongType(const char* what) {
  return Status(ErrorCode::kDataSourceError,
                std::string("corrupt Parquet metadata: field ") + what + " has the wrong type");
}

Result<bool> ReadI32Field(CompactReader& r, TType t, int32_t* out, const char* what) {
  if (t != TType::kI32 && t != TType::kI16 && t != TType::kByte) return WrongType(what);
  if (t == TType::kByte) {
    LARDER_ASSIGN_OR_RETURN(int8_t v, r.ReadByte());
    *out = v;
    return true;
  }
  LARDER_ASSIGN_OR_RETURN(*out, r.ReadI32());
  return true;
}

Result<bool> ReadI64Field(CompactReader& r, TType t, int64_t* out, const char* what) {
  if (t != TType::kI64 && t != TType::kI32) return WrongType(what);
  LARDER_ASSIGN_OR_RETURN(*out, r.ReadI64());
  return true;
}

Result<bool> ReadStringField(CompactReader& r, TType t, std::string* out, const char* what) {
  if (t != TType::kBinary) return WrongType(what);
  LARDER_ASSIGN_OR_RETURN(std::string_view s, r.ReadBinary());
  out->assign(s);
  return true;
}

Status ParseTimeUnit(CompactReader& r, TimeUnit* unit) {
  return NestedStruct(r, [&](int16_t id, TType t) -> Result<bool> {
    if (t != TType::kStruct) return false;
    if (id == 1) *unit = TimeUnit::kMillis;
    if (id == 2) *unit = TimeUnit::kMicros;
    if (id == 3) *unit = TimeUnit::kNanos;
    return false;  // the empty struct is skipped
  });
}

Status ParseLogicalType(CompactReader& r, SchemaElement* e) {
  return NestedStruct(r, [&](int16_t id, TType t) -> Result<bool> {
    if (t != TType::kStruct) return false;
    switch (id) {
      case 1:
        e->logical = LogicalKind::kString;
        return false;
      case 2:
        e->logical = LogicalKind::kMap;
        return false;
      case 3:
        e->logical = LogicalKind::kList;
        return false;
      case 4:
        e->logical = LogicalKind::kEnum;
        return false;
      case 5:
        e->logical = LogicalKind::kDecimal;
        return false;
      case 6:
        e->logical = LogicalKind::kDate;
        return false;
      case 12:
        e->logical = LogicalKind::kJson;
        return false;
      case 13:
        e->logical = LogicalKind::kBson;
        return false;
      case 14:
        e->logical = LogicalKind::kUuid;
        return false;
      case 7:
      case 8: {
        e->logical = id == 7 ? LogicalKind::kTime : LogicalKind::kTimestamp;
        LARDER_RETURN_IF_ERROR(NestedStruct(r, [&](int16_t fid, TType ft) -> Result<bool> {
          if (fid == 1 && (ft == TType::kTrue || ft == TType::kFalse)) {
            LARDER_ASSIGN_OR_RETURN(e->utc, r.ReadBool(ft));
            return true;
          }
          if (fid == 2 && ft == TType::kStruct) {
            LARDER_RETURN_IF_ERROR(ParseTimeUnit(r, &e->unit));
            return true;
          }
          return false;
        }));
        return true;
      }
      case 10: {
        e->logical = LogicalKind::kInteger;
        LARDER_RETURN_IF_ERROR(NestedStruct(r, [&](int16_t fid, TType ft) -> Result<bool> {
          if (fid == 1 && ft == TType::kByte) {
            LARDER_ASSIGN_OR_RETURN(e->int_bits, r.ReadByte());
            return true;
          }
          if (fid == 2 && (ft == TType::kTrue || ft == TType::kFalse)) {
            LARDER_ASSIGN_OR_RETURN(e->int_signed, r.ReadBool(ft));
            return true;
          }
          return false;
        }));
        return true;
      }
      default:
        e->logical = LogicalKind::kOther;
        return false;
    }
  });
}

Status ParseSchemaElement(CompactReader& r, SchemaElement* e) {
  return ForEachField(r, [&](int16_t id, TType t) -> Result<bool> {
    int32_t v = 0;
    switch (id) {
      case 1:
        LARDER_RETURN_IF_ERROR(ReadI32Field(r, t, &v, "SchemaElement.type").status());
        if (v < 0 || v > 7) {
          return Status(ErrorCode::kDataSourceError,
                        "corrupt Parquet schema: unknown physical type " + std::to_string(v));
        }
        e->type = static_cast<PhysicalType>(v);
        return true;
      case 2:
        return ReadI32Field(r, t, &e->type_length, "SchemaElement.type_length");
      case 3:
        LARDER_RETURN_IF_ERROR(ReadI32Field(r, t, &v, "SchemaElement.repetition_type").status());
        if (v < 0 || v > 2) {
          return Status(ErrorCode::kDataSourceError,
                        "corrupt Parquet schema: unknown repetition " + std::to_string(v));
        }
        e->repetition = static_cast<Repetition>(v);
        e->has_repetition = true;
        return true;
      case 4:
        return ReadStringField(r, t, &e->name, "SchemaElement.name");
      case 5:
        return ReadI32Field(r, t, &e->num_children, "SchemaElement.num_children");
      case 6:
        LARDER_RETURN_IF_ERROR(ReadI32Field(r, t, &v, "SchemaElement.converted_type").status());
        e->converted = v;
        return true;
      case 10:
        if (t != TType::kStruct) return false;
        LARDER_RETURN_IF_ERROR(ParseLogicalType(r, e));
        return true;
      default:
        return false;
    }
  });
}

// Reads a list of structs, calling `each(i)` with the reader inside element i.
template <typename F>
Status StructList(CompactReader& r, TType t, const char* what, F&& each) {
  if (t != TType::kList) return WrongType(what);
  TType elem;
  LARDER_ASSIGN_OR_RETURN(uint32_t n, r.ReadListHeader(&elem));
  if (elem != TType::kStruct) return WrongType(what);
  for (uint32_t i = 0; i < n; ++i) {
    LARDER_RETURN_IF_ERROR(r.BeginStruct());
    LARDER_RETURN_IF_ERROR(each(i, n));
    r.EndStruct();
  }
  return Status::Ok();
}

Status ParseStatistics(CompactReader& r, Statistics* s) {
  std::optional<std::string> legacy_min, legacy_max;
  LARDER_RETURN_IF_ERROR(NestedStruct(r, [&](int16_t id, TType t) -> Result<bool> {
    std::string v;
    switch (id) {
      case 1:
        LARDER_RETURN_IF_ERROR(ReadStringField(r, t, &v, "Statistics.max").status());
        legacy_max = v;
        return true;
      case 2:
        LARDER_RETURN_IF_ERROR(ReadStringField(r, t, &v, "Statistics.min").status());
        legacy_min = v;
        return true;
      case 3: {
        int64_t n = 0;
        LARDER_RETURN_IF_ERROR(ReadI64Field(r, t, &n, "Statistics.null_count").status());
        s->null_count = n;
        return true;
      }
      case 5:
        LARDER_RETURN_IF_ERROR(ReadStringField(r, t, &v, "Statistics.max_value").status());
        s->max = v;
        return true;
      case 6:
        LARDER_RETURN_IF_ERROR(ReadStringField(r, t, &v, "Statistics.min_value").status());
        s->min = v;
        return true;
      default:
        return false;
    }
  }));
  if (!s->min && !s->max && legacy_min && legacy_max) {
    s->min = legacy_min;
    s->max = legacy_max;
    s->legacy = true;
  }
  return Status::Ok();
}

Status ParseColumnMeta(CompactReader& r, ColumnMeta* m) {
  return NestedStruct(r, [&](int16_t id, TType t) -> Result<bool> {
    int32_t v = 0;
    switch (id) {
      case 1:
        LARDER_RETURN_IF_ERROR(ReadI32Field(r, t, &v, "ColumnMetaData.type").status());
        if (v < 0 || v > 7) {
          return Status(ErrorCode::kDataSourceError,
                        "corrupt Parquet column metadata: type " + std::to_string(v));
        }
        m->type = static_cast<PhysicalType>(v);
        return true;
      case 3: {
        if (t != TType::kList) return WrongType("ColumnMetaData.path_in_schema");
        TType elem;
        LARDER_ASSIGN_OR_RETURN(uint32_t n, r.ReadListHeader(&elem));
        if (elem != TType::kBinary) return WrongType("ColumnMetaData.path_in_schema");
        for (uint32_t i = 0; i < n; ++i) {
          LARDER_ASSIGN_OR_RETURN(std::string_view s, r.ReadBinary());
          m->path.emplace_back(s);
        }
        return true;
      }
      case 4:
        return ReadI32Field(r, t, &m->codec, "ColumnMetaData.codec");
      case 5:
        return ReadI64Field(r, t, &m->num_values, "ColumnMetaData.num_values");
      case 7:
        return ReadI64Field(r, t, &m->total_compressed_size,
                            "ColumnMetaData.total_compressed_size");
      case 9:
        return ReadI64Field(r, t, &m->data_page_offset, "ColumnMetaData.data_page_offset");
      case 11: {
        int64_t off = 0;
        LARDER_RETURN_IF_ERROR(
            ReadI64Field(r, t, &off, "ColumnMetaData.dictionary_page_offset").status());
        m->dictionary_page_offset = off;
        return true;
      }
      case 12:
        if (t != TType::kStruct) return WrongType("ColumnMetaData.statistics");
        LARDER_RETURN_IF_ERROR(ParseStatistics(r, &m->stats));
        return true;
      default:
        return false;
    }
  });
}

Status ParseRowGroup(CompactReader& r, RowGroup* g) {
  return ForEachField(r, [&](int16_t id, TType t) -> Result<bool> {
    if (id == 1) {
      LARDER_RETURN_IF_ERROR(StructList(r, t, "RowGroup.columns", [&](uint32_t, uint32_t n) {
        if (g->columns.empty()) g->columns.reserve(n);
        ColumnChunk& c = g->columns.emplace_back();
        return ForEachField(r, [&](int16_t cid, TType ct) -> Result<bool> {
          if (cid == 1) return ReadStringField(r, ct, &c.file_path, "ColumnChunk.file_path");
          if (cid == 3 && ct == TType::kStruct) {
            c.has_meta = true;
            LARDER_RETURN_IF_ERROR(ParseColumnMeta(r, &c.meta));
            return true;
          }
          return false;
        });
      }));
      return true;
    }
    if (id == 3) return ReadI64Field(r, t, &g->num_rows, "RowGroup.num_rows");
    return false;
  });
}

}  // namespace

const char* PhysicalTypeName(PhysicalType t) {
  switch (t) {
    case PhysicalType::kBoolean:
      return "BOOLEAN";
    case PhysicalType::kInt32:
      return "INT32";
    case PhysicalType::kInt64:
      return "INT64";
    case PhysicalType::kInt96:
      return "INT96";
    case PhysicalType::kFloat:
      return "FLOAT";
    case PhysicalType::kDouble:
      return "DOUBLE";
    case PhysicalType::kByteArray:
      return "BYTE_ARRAY";
    case PhysicalType::kFixedLenByteArray:
      return "FIXED_LEN_BYTE_ARRAY";
  }
  return "?";
}

const char* CodecName(int32_t codec) {
  switch (codec) {
    case 0:
      return "UNCOMPRESSED";
    case 1:
      return "SNAPPY";
    case 2:
      return "GZIP";
    case 3:
      return "LZO";
    case 4:
      return "BROTLI";
    case 5:
      return "LZ4";
    case 6:
      return "ZSTD";
    case 7:
      return "LZ4_RAW";
  }
  return "unknown";
}

Result<FileMetaData> ParseFileMetaData(const uint8_t* data, size_t size) {
  CompactReader r(data, size);
  FileMetaData md;
  LARDER_RETURN_IF_ERROR(ForEachField(r, [&](int16_t id, TType t) -> Result<bool> {
    switch (id) {
      case 1:
        return ReadI32Field(r, t, &md.version, "FileMetaData.version");
      case 2:
        LARDER_RETURN_IF_ERROR(StructList(r, t, "FileMetaData.schema", [&](uint32_t, uint32_t n) {
          if (md.schema.empty()) md.schema.reserve(n);
          return ParseSchemaElement(r, &md.schema.emplace_back());
        }));
        return true;
      case 3:
        return ReadI64Field(r, t, &md.num_rows, "FileMetaData.num_rows");
      case 4:
        LARDER_RETURN_IF_ERROR(
            StructList(r, t, "FileMetaData.row_groups", [&](uint32_t, uint32_t n) {
              if (md.row_groups.empty()) md.row_groups.reserve(n);
              return ParseRowGroup(r, &md.row_groups.emplace_back());
            }));
        return true;
      case 6:
        return ReadStringField(r, t, &md.created_by, "FileMetaData.created_by");
      default:
        return false;
    }
  }));
  return md;
}

Result<PageHeader> ParsePageHeader(const uint8_t* data, size_t size, size_t* consumed) {
  CompactReader r(data, size);
  PageHeader h;
  int32_t type = 0;
  LARDER_RETURN_IF_ERROR(ForEachField(r, [&](int16_t id, TType t) -> Result<bool> {
    switch (id) {
      case 1:
        return ReadI32Field(r, t, &type, "PageHeader.type");
      case 2:
        return ReadI32Field(r, t, &h.uncompressed_size, "PageHeader.uncompressed_page_size");
      case 3:
        return ReadI32Field(r, t, &h.compressed_size, "PageHeader.compressed_page_size");
      case 5:  // DataPageHeader
      case 7:  // DictionaryPageHeader
        if (t != TType::kStruct) return WrongType("PageHeader.data_page_header");
        LARDER_RETURN_IF_ERROR(NestedStruct(r, [&](int16_t fid, TType ft) -> Result<bool> {
          if (fid == 1) return ReadI32Field(r, ft, &h.num_values, "num_values");
          if (fid == 2) return ReadI32Field(r, ft, &h.encoding, "encoding");
          if (id == 5 && fid == 3) return ReadI32Field(r, ft, &h.def_encoding, "def encoding");
          if (id == 5 && fid == 4) return ReadI32Field(r, ft, &h.rep_encoding, "rep encoding");
          return false;
        }));
        return true;
      case 8:  // DataPageHeaderV2
        if (t != TType::kStruct) return WrongType("PageHeader.data_page_header_v2");
        LARDER_RETURN_IF_ERROR(NestedStruct(r, [&](int16_t fid, TType ft) -> Result<bool> {
          switch (fid) {
            case 1:
              return ReadI32Field(r, ft, &h.num_values, "num_values");
            case 2:
              return ReadI32Field(r, ft, &h.num_nulls, "num_nulls");
            case 3:
              return ReadI32Field(r, ft, &h.num_rows, "num_rows");
            case 4:
              return ReadI32Field(r, ft, &h.encoding, "encoding");
            case 5:
              return ReadI32Field(r, ft, &h.def_bytes, "definition_levels_byte_length");
            case 6:
              return ReadI32Field(r, ft, &h.rep_bytes, "repetition_levels_byte_length");
            case 7: {
              if (ft != TType::kTrue && ft != TType::kFalse) return false;
              LARDER_ASSIGN_OR_RETURN(h.is_compressed, r.ReadBool(ft));
              return true;
            }
            default:
              return false;
          }
        }));
        return true;
      default:
        return false;
    }
  }));
  if (type < 0 || type > 3) {
    return Status(ErrorCode::kDataSourceError,
                  "corrupt Parquet page header: page type " + std::to_string(type));
  }
  h.type = static_cast<PageType>(type);
  if (h.compressed_size < 0 || h.uncompressed_size < 0 || h.num_values < 0 || h.def_bytes < 0 ||
      h.rep_bytes < 0) {
    return Status(ErrorCode::kDataSourceError, "corrupt Parquet page header: negative size");
  }
  *consumed = r.consumed();
  return h;
}

}  // namespace larder::parquet
