#include "engine/offline/offline_check.h"

#include "engine/offline/batch_source.h"
#include "engine/offline/offline_log.h"
#include "engine/values/cell_convert.h"
#include "engine/values/csv_stream.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

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
  for (const ViewInfo* v : bs->views) {
    auto vc = LocateViewColumns(*v, header, fc->path);
    if (!vc.ok()) {
      add(vc.status().message());
      continue;
    }
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
  }
  finish();
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
    CheckFile(*cat, s, &fc);
    out.push_back(std::move(fc));
  }
  return out;
}

}  // namespace larder
