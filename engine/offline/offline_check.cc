#include "engine/offline/offline_check.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>

#include "engine/offline/batch_source.h"
#include "engine/offline/offline_log.h"
#include "engine/offline/parquet_source.h"
#include "engine/parquet/parquet_file.h"
#include "engine/values/cell_convert.h"
#include "engine/values/csv_stream.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"
#include "layout/segment_layout.h"

namespace larder {

namespace {

// The entity key of a view's row, built by AppendKeyPart* (Int32 parts 8 bytes wide), as long
// as the store keeps it (layout/entity_key.h: Int32 parts 4 bytes wide): InvalidArgument when
// over layout::kMaxKeyLen, as the write path refuses it.
Status CheckKeyLength(const std::string& key, const std::vector<ScalarType>& types,
                      const std::string& view) {
  size_t len = key.size();
  for (ScalarType t : types) len -= t == ScalarType::kInt32 ? 4 : 0;
  if (len <= layout::kMaxKeyLen) return Status::Ok();
  return InvalidArgument("entity key of feature view '" + view + "' is " + std::to_string(len) +
                         " bytes, over the limit of " + std::to_string(layout::kMaxKeyLen));
}

// One column check: a value of `dtype` (or a timestamp, or a join key) in column `col`.
struct ColumnCheck {
  int col;
  BatchColumn::Role role;
  DType dtype;
  friend bool operator==(const ColumnCheck&, const ColumnCheck&) = default;
};

Status CheckField(const CsvStream& cs, const ColumnCheck& c) {
  std::string_view text = cs.field(static_cast<size_t>(c.col));
  const bool null = cs.is_null(static_cast<size_t>(c.col));
  switch (c.role) {
    case BatchColumn::Role::kTimestamp:
      return ParseTimestampField(text, null).status();
    case BatchColumn::Role::kCreated:
      return null ? Status::Ok() : ParseTimestamp(text).status();
    case BatchColumn::Role::kJoinKey: {
      if (!null && c.dtype.scalar == ScalarType::kString) {  // its UTF-8, as a write checks it
        LARDER_RETURN_IF_ERROR(CellToValue(Cell::String(std::string(text)), c.dtype).status());
      }
      std::string key;
      return AppendKeyPartFromText(text, null, c.dtype.scalar, &key);
    }
    case BatchColumn::Role::kFeature:
      return null ? Status::Ok() : CellToValue(Cell::String(std::string(text)), c.dtype).status();
  }
  return Status::Ok();
}

void CheckFile(const Catalog& cat, const SourceDef& src, OfflineFileCheck* fc) {
  auto add = [fc](const std::string& v) {
    if (fc->violations.size() < kMaxOfflineViolations) fc->violations.push_back(v);
  };
  auto snap = OfflineSnapshot::Open(fc->path);
  if (!snap.ok()) {
    if (snap.status().code() != ErrorCode::kDataSourceNotFound) add(snap.status().message());
    return;
  }
  fc->exists = true;
  CsvStream cs((*snap)->fd(), (*snap)->limit(), fc->path);
  auto finish = [&] {
    fc->torn_bytes = (*snap)->torn_beyond_limit() + cs.torn_bytes();
    fc->torn_line = cs.torn_bytes() > 0 ? cs.torn_line() : cs.next_line();
  };
  auto got = cs.Next();
  if (!got.ok()) return add(got.status().message());
  if (!*got) return finish();
  std::vector<std::string> header;
  for (size_t i = 0; i < cs.num_fields(); ++i) header.emplace_back(cs.field(i));
  cs.set_expected_fields(header.size());

  std::vector<ColumnCheck> checks;
  auto check = [&checks](int col, BatchColumn::Role role, DType dtype) {
    ColumnCheck c{col, role, dtype};
    for (const ColumnCheck& have : checks) {
      if (have == c) return;
    }
    checks.push_back(c);
  };
  auto bs = ResolveBatchSource(cat, src.name);
  if (!bs.ok()) return add(bs.status().message());
  const DType ts_type{ScalarType::kUnixTimestamp, false};
  struct KeyCheck {
    const ViewInfo* view;
    std::vector<int> cols;
  };
  std::vector<KeyCheck> key_checks;
  for (const ViewInfo* v : bs->views) {
    auto vc = LocateViewColumns(*v, header, fc->path);
    if (!vc.ok()) {
      add(vc.status().message());
      continue;
    }
    key_checks.push_back({v, vc->keys});
    check(vc->timestamp, BatchColumn::Role::kTimestamp, ts_type);
    if (vc->created >= 0) check(vc->created, BatchColumn::Role::kCreated, ts_type);
    for (size_t k = 0; k < vc->keys.size(); ++k) {
      check(vc->keys[k], BatchColumn::Role::kJoinKey, DType{v->key_types[k], false});
    }
    for (size_t f = 0; f < vc->features.size(); ++f) {
      check(vc->features[f], BatchColumn::Role::kFeature, v->features[f].dtype);
    }
  }
  for (;;) {
    auto more = cs.Next();
    if (!more.ok()) return add(more.status().message());  // the reader cannot resynchronize
    if (!*more) break;
    ++fc->records;
    for (const ColumnCheck& c : checks) {
      Status st = CheckField(cs, c);
      if (st.ok()) continue;
      add(fc->path + " line " + std::to_string(cs.line()) + ", column '" + header[c.col] +
          "': " + st.message());
      if (fc->violations.size() >= kMaxOfflineViolations) return finish();
    }
    for (const KeyCheck& kc : key_checks) {
      std::string key;
      bool parts_ok = true;  // a part in error is reported above
      for (size_t k = 0; k < kc.cols.size() && parts_ok; ++k) {
        const auto col = static_cast<size_t>(kc.cols[k]);
        parts_ok =
            AppendKeyPartFromText(cs.field(col), cs.is_null(col), kc.view->key_types[k], &key).ok();
      }
      if (!parts_ok) continue;
      Status st = CheckKeyLength(key, kc.view->key_types, kc.view->def.name);
      if (st.ok()) continue;
      add(fc->path + " line " + std::to_string(cs.line()) + ": " + st.message());
      if (fc->violations.size() >= kMaxOfflineViolations) return finish();
    }
  }
  finish();
}

// The same checks over a Parquet source: every part file's columns against their dtypes,
// then every row of every row group (null timestamps and keys, values a dtype refuses).
void CheckParquetSource(const Catalog& cat, const SourceDef& src, OfflineFileCheck* fc) {
  auto add = [fc](const std::string& v) {
    if (fc->violations.size() < kMaxOfflineViolations) fc->violations.push_back(v);
  };
  struct stat st {};
  if (::stat(fc->path.c_str(), &st) != 0) return;  // absent: as a CSV file not yet written
  fc->exists = true;
  auto files = ParquetSourceFiles(fc->path);
  if (!files.ok()) return add(files.status().message());
  auto bs = ResolveBatchSource(cat, src.name);
  if (!bs.ok()) return add(bs.status().message());
  struct Check {
    const parquet::Field* field;
    BatchColumn::Role role;
    DType dtype;
  };
  const DType ts_type{ScalarType::kUnixTimestamp, false};
  Cell scratch;
  Value value;
  std::string packed;
  std::string key;
  for (size_t fi = 0; fi < files->size(); ++fi) {
    auto pf = OpenParquetSourceFile((*files)[fi]);
    if (!pf.ok()) {
      add(pf.status().message());
      continue;
    }
    std::vector<Check> checks;
    auto check = [&checks](const parquet::Field* f, BatchColumn::Role role, DType dtype) {
      for (const Check& c : checks) {
        if (c.field == f && c.role == role && c.dtype == dtype) return;
      }
      checks.push_back({f, role, dtype});
    };
    struct KeyCheck {
      const ViewInfo* view;
      std::vector<const parquet::Field*> fields;
    };
    std::vector<KeyCheck> key_checks;
    for (const ViewInfo* v : bs->views) {
      auto vf = LocateParquetViewFields(*v, **pf);
      if (!vf.ok()) {
        add(vf.status().message());
        continue;
      }
      check(vf->timestamp, BatchColumn::Role::kTimestamp, ts_type);
      if (vf->created != nullptr) check(vf->created, BatchColumn::Role::kCreated, ts_type);
      for (size_t k = 0; k < vf->keys.size(); ++k) {
        check(vf->keys[k], BatchColumn::Role::kJoinKey, DType{v->key_types[k], false});
      }
      for (size_t f = 0; f < vf->features.size(); ++f) {
        check(vf->features[f], BatchColumn::Role::kFeature, v->features[f].dtype);
      }
      key_checks.push_back({v, vf->keys});
    }
    uint64_t row_base = 0;
    for (size_t rg = 0; rg < (*pf)->num_row_groups(); ++rg) {
      const auto rows = static_cast<uint64_t>((*pf)->row_group_rows(rg));
      fc->records += rows;
      // Each column the checks read, decoded once (nullopt: it failed to decode, reported).
      std::map<const parquet::Field*, std::optional<parquet::Column>> decoded;
      auto column = [&](const parquet::Field* f) -> const parquet::Column* {
        auto [it, fresh] = decoded.try_emplace(f);
        if (fresh) {
          auto col = (*pf)->ReadColumn(rg, *f);
          if (col.ok()) {
            it->second = std::move(col).value();
          } else {
            add(col.status().message());
          }
        }
        return it->second ? &*it->second : nullptr;
      };
      auto violation = [&](uint64_t r, const std::string& what) {
        add(DescribeParquetRow(*files, ParquetRowId(fi, row_base + r)) + what);
        return fc->violations.size() >= kMaxOfflineViolations;
      };
      for (const Check& c : checks) {
        const parquet::Column* col = column(c.field);
        if (col == nullptr) continue;
        for (size_t r = 0; r < rows; ++r) {
          Status vst;
          const bool valid = col->valid[r] != 0;
          switch (c.role) {
            case BatchColumn::Role::kTimestamp:
              vst = valid ? CheckTimestampRange(col->i64[r]) : InvalidArgument("timestamp is null");
              break;
            case BatchColumn::Role::kCreated:
              if (valid) vst = CheckTimestampRange(col->i64[r]);
              break;
            case BatchColumn::Role::kJoinKey:
              key.clear();
              vst = AppendParquetKeyPart(*col, r, c.dtype.scalar, &key);
              break;
            case BatchColumn::Role::kFeature: {
              packed.clear();
              PackParquetValue(*col, r, &packed);
              PackedReader in(packed);
              vst = PackedToValue(in, c.dtype, &scratch, &value);
              break;
            }
          }
          if (vst.ok()) continue;
          if (violation(r, ", column '" + c.field->name + "': " + vst.message())) return;
        }
      }
      for (const KeyCheck& kc : key_checks) {
        std::vector<const parquet::Column*> cols;
        for (const parquet::Field* f : kc.fields) cols.push_back(column(f));
        if (std::find(cols.begin(), cols.end(), nullptr) != cols.end()) continue;
        for (size_t r = 0; r < rows; ++r) {
          key.clear();
          bool parts_ok = true;  // a part in error is reported above
          for (size_t k = 0; k < cols.size() && parts_ok; ++k) {
            parts_ok = AppendParquetKeyPart(*cols[k], r, kc.view->key_types[k], &key).ok();
          }
          if (!parts_ok) continue;
          Status st = CheckKeyLength(key, kc.view->key_types, kc.view->def.name);
          if (!st.ok() && violation(r, ": " + st.message())) return;
        }
      }
      row_base += rows;
    }
  }
}

}  // namespace

Result<std::vector<OfflineFileCheck>> CheckBatchSources(const RepoConfig& repo) {
  LARDER_ASSIGN_OR_RETURN(auto cat, Catalog::Build(repo, 0));
  std::vector<OfflineFileCheck> out;
  for (const SourceDef& s : repo.sources) {
    if (s.kind != SourceKind::kFile) continue;
    OfflineFileCheck fc;
    fc.source = s.name;
    fc.path = s.resolved_path;
    if (IsParquetSource(fc.path)) {
      CheckParquetSource(*cat, s, &fc);
    } else {
      CheckFile(*cat, s, &fc);
    }
    out.push_back(std::move(fc));
  }
  return out;
}

}  // namespace larder
