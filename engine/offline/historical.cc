// Point-in-time join of an entity dataframe against batch-source files.
#include "engine/offline/historical.h"

#include <sys/stat.h>

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "engine/feature_refs.h"
#include "engine/offline/batch_source.h"
#include "engine/offline/offline_log.h"
#include "engine/offline/parquet_source.h"
#include "engine/parquet/parquet_file.h"
#include "engine/values/cell_convert.h"
#include "engine/values/csv_stream.h"
#include "engine/values/value_text.h"
#include "larder/timestamp.h"

namespace larder {

namespace {

constexpr char kEntityTimestamp[] = "event_timestamp";
constexpr uint32_t kNoEntity = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kNoRow = std::numeric_limits<uint32_t>::max();

using Planned = ResolvedFeature;

Result<std::vector<Planned>> Plan(const Catalog& cat, const HistoricalRequest& req) {
  LARDER_ASSIGN_OR_RETURN(std::vector<Planned> plan,
                          ResolveFeatureRefs(cat, req.features, req.feature_service,
                                             req.full_feature_names, "feature repo"));
  for (const Planned& p : plan) {
    if (req.entity_df.FindColumn(p.output_name) >= 0) {
      return InvalidArgument("feature name '" + p.output_name +
                             "' is also a column of the entity dataframe" +
                             (req.full_feature_names ? "" : "; set full_feature_names"));
    }
  }
  return plan;
}

Status DataError(const std::string& path, uint64_t line, const std::string& column,
                 const Status& st) {
  return Status(ErrorCode::kDataSourceError, path + " line " + std::to_string(line) + ", column '" +
                                                 column + "': " + st.message());
}

// A batch-source row that may answer some entity row.
struct Candidate {
  uint32_t entity;
  TimestampMicros ts;
  TimestampMicros created;
  uint32_t record;  // index into the kept records (file order)
};

// The entities of the entity dataframe, for one view's join keys.
struct Entities {
  std::unordered_map<std::string, uint32_t> slot_of;
  std::vector<uint32_t> row_slot;      // per entity row; kNoEntity for a null key
  std::vector<TimestampMicros> max_t;  // per slot
  std::vector<TimestampMicros> min_t;
};

Result<Entities> IndexEntities(const ViewInfo& view, const Frame& edf,
                               const std::vector<TimestampMicros>& t) {
  std::vector<int> cols;
  for (const JoinKeyDef& k : view.def.join_keys) {
    int c = edf.FindColumn(k.name);
    if (c < 0) {
      return Status(ErrorCode::kMissingJoinKey, "the entity dataframe lacks join key '" + k.name +
                                                    "' needed by feature view '" + view.def.name +
                                                    "'");
    }
    cols.push_back(c);
  }
  Entities e;
  e.row_slot.assign(edf.num_rows(), kNoEntity);
  std::string key;
  for (size_t r = 0; r < edf.num_rows(); ++r) {
    key.clear();
    bool null_key = false;
    for (size_t k = 0; k < cols.size(); ++k) {
      const Cell& cell = edf.columns[cols[k]][r];
      if (cell.kind == Cell::Kind::kNull) {
        null_key = true;
        break;
      }
      Status st = AppendKeyPartFromCell(cell, view.def.join_keys[k].type, &key);
      if (!st.ok()) {
        return InvalidArgument(edf.DescribeRow(r) + ", join key '" + view.def.join_keys[k].name +
                               "': " + st.message());
      }
    }
    if (null_key) continue;  // never matches: its features are null
    auto [it, inserted] = e.slot_of.emplace(key, static_cast<uint32_t>(e.max_t.size()));
    if (inserted) {
      e.max_t.push_back(t[r]);
      e.min_t.push_back(t[r]);
    } else {
      e.max_t[it->second] = std::max(e.max_t[it->second], t[r]);
      e.min_t[it->second] = std::min(e.min_t[it->second], t[r]);
    }
    e.row_slot[r] = it->second;
  }
  return e;
}

// The record answering each entity row (kNoRow: none), from the candidates.
std::vector<uint32_t> Choose(std::vector<Candidate>* candidates, const Entities& ent,
                             const std::vector<TimestampMicros>& t, int64_t ttl) {
  std::vector<Candidate>& cands = *candidates;
  // Per entity, ascending (ts, created, file order): the answer for T is the last with ts <= T.
  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    if (a.entity != b.entity) return a.entity < b.entity;
    if (a.ts != b.ts) return a.ts < b.ts;
    if (a.created != b.created) return a.created < b.created;
    return a.record < b.record;
  });
  std::vector<size_t> begin(ent.max_t.size() + 1, cands.size());
  for (size_t i = cands.size(); i-- > 0;) begin[cands[i].entity] = i;
  for (size_t s = ent.max_t.size(); s-- > 0;) begin[s] = std::min(begin[s], begin[s + 1]);

  std::vector<uint32_t> chosen(t.size(), kNoRow);  // record index per entity row
  for (size_t r = 0; r < t.size(); ++r) {
    uint32_t s = ent.row_slot[r];
    if (s == kNoEntity) continue;
    auto first = cands.begin() + static_cast<ptrdiff_t>(begin[s]);
    auto last = cands.begin() + static_cast<ptrdiff_t>(begin[s + 1]);
    auto it = std::upper_bound(first, last, t[r],
                               [](TimestampMicros v, const Candidate& c) { return v < c.ts; });
    if (it == first) continue;
    const Candidate& c = *(it - 1);
    if (ttl > 0 && c.ts <= t[r] - ttl) continue;
    chosen[r] = c.record;
  }

  return chosen;
}

// JoinView over a Parquet source: the same candidates and choice, from typed columns.
Status JoinViewParquet(const ViewInfo& view, const std::vector<const Planned*>& feats,
                       const Frame& edf, const std::vector<TimestampMicros>& t, const Entities& ent,
                       const std::string& path, std::vector<std::vector<Cell>*> out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status(
        ErrorCode::kDataSourceNotFound,
        "batch source file '" + path + "' of feature view '" + view.def.name + "' does not exist");
  }
  LARDER_ASSIGN_OR_RETURN(std::vector<std::string> files, ParquetSourceFiles(path));
  std::vector<std::unique_ptr<parquet::ParquetFile>> opened;
  for (const std::string& f : files) {
    LARDER_ASSIGN_OR_RETURN(auto pf, OpenParquetSourceFile(f));
    LARDER_RETURN_IF_ERROR(LocateParquetViewFields(view, *pf).status());
    pf->Detach();  // attached one at a time below: thousands of part files stay under EMFILE
    opened.push_back(std::move(pf));
  }
  const int64_t ttl = view.ttl_micros;
  // Row groups wholly after every entity row's time, or (with a ttl) wholly at or before every
  // entity row's time - ttl, cannot answer any: they are not decoded.
  TimestampMicros latest = std::numeric_limits<TimestampMicros>::min();
  TimestampMicros earliest = std::numeric_limits<TimestampMicros>::max();
  for (size_t s = 0; s < ent.max_t.size(); ++s) {
    latest = std::max(latest, ent.max_t[s]);
    earliest = std::min(earliest, ent.min_t[s]);
  }
  std::vector<Candidate> cands;
  std::vector<std::string> records;  // the requested features, packed
  std::vector<uint64_t> record_rows;
  std::string key;
  for (size_t fi = 0; fi < opened.size() && !ent.max_t.empty(); ++fi) {
    parquet::ParquetFile& pf = *opened[fi];
    LARDER_RETURN_IF_ERROR(pf.Attach());
    LARDER_ASSIGN_OR_RETURN(ParquetViewFields vf, LocateParquetViewFields(view, pf));
    uint64_t row_base = 0;
    for (size_t rg = 0; rg < pf.num_row_groups(); ++rg) {
      const auto rows = static_cast<uint64_t>(pf.row_group_rows(rg));
      if (auto range = pf.TimestampRange(rg, *vf.timestamp);
          range && (range->first > latest || (ttl > 0 && range->second <= earliest - ttl))) {
        row_base += rows;
        continue;
      }
      LARDER_ASSIGN_OR_RETURN(parquet::Column ts, pf.ReadColumn(rg, *vf.timestamp));
      parquet::Column created;
      if (vf.created != nullptr) {
        LARDER_ASSIGN_OR_RETURN(created, pf.ReadColumn(rg, *vf.created));
      }
      std::vector<parquet::Column> keys;
      for (const parquet::Field* f : vf.keys) {
        LARDER_ASSIGN_OR_RETURN(keys.emplace_back(), pf.ReadColumn(rg, *f));
      }
      std::vector<parquet::Column> values;
      for (const Planned* p : feats) {
        const parquet::Field* f = pf.FindField(p->feature->name);
        LARDER_ASSIGN_OR_RETURN(values.emplace_back(), pf.ReadColumn(rg, *f));
      }
      for (size_t r = 0; r < rows; ++r) {
        const uint64_t id = ParquetRowId(fi, row_base + r);
        key.clear();
        for (size_t k = 0; k < keys.size(); ++k) {
          Status kst = AppendParquetKeyPart(keys[k], r, view.key_types[k], &key);
          if (!kst.ok()) {
            return Status(ErrorCode::kDataSourceError,
                          DescribeParquetRow(files, id) + ", column '" +
                              view.def.join_keys[k].name + "': " + kst.message());
          }
        }
        auto it = ent.slot_of.find(key);
        if (it == ent.slot_of.end()) continue;
        const uint32_t slot = it->second;
        if (!ts.valid[r]) {
          return Status(ErrorCode::kDataSourceError, DescribeParquetRow(files, id) + ", column '" +
                                                         view.timestamp_field +
                                                         "': timestamp is null");
        }
        const TimestampMicros when = ts.i64[r];
        const TimestampMicros made = vf.created != nullptr && created.valid[r] ? created.i64[r] : 0;
        for (auto [name, micros] :
             {std::pair<const std::string&, TimestampMicros>(view.timestamp_field, when),
              {view.created_timestamp_column, made}}) {
          if (Status range = CheckTimestampRange(micros); !range.ok()) {
            return Status(
                ErrorCode::kDataSourceError,
                DescribeParquetRow(files, id) + ", column '" + name + "': " + range.message());
          }
        }
        if (when > ent.max_t[slot]) continue;
        if (ttl > 0 && when <= ent.min_t[slot] - ttl) continue;
        cands.push_back({slot, when, made, static_cast<uint32_t>(records.size())});
        std::string& rec = records.emplace_back();
        for (const parquet::Column& c : values) PackParquetValue(c, r, &rec);
        record_rows.push_back(id);
      }
      row_base += rows;
    }
    pf.Detach();
  }
  const std::vector<uint32_t> chosen = Choose(&cands, ent, t, ttl);

  // The chosen records' values, converted once each.
  std::vector<uint32_t> pos(records.size(), kNoRow);
  std::vector<std::vector<Cell>> converted(feats.size());
  Cell scratch;
  Value v;
  for (uint32_t rec : chosen) {
    if (rec == kNoRow || pos[rec] != kNoRow) continue;
    pos[rec] = static_cast<uint32_t>(converted[0].size());
    PackedReader in(records[rec]);
    for (size_t k = 0; k < feats.size(); ++k) {
      const FeatureInfo& f = *feats[k]->feature;
      Status vst = PackedToValue(in, f.dtype, &scratch, &v);
      if (!vst.ok()) {
        return Status(ErrorCode::kDataSourceError, DescribeParquetRow(files, record_rows[rec]) +
                                                       ", column '" + f.name +
                                                       "': " + vst.message());
      }
      converted[k].push_back(ValueToCell(v));
    }
  }
  for (size_t k = 0; k < feats.size(); ++k) {
    std::vector<Cell>& dst = *out[k];
    dst.assign(edf.num_rows(), Cell::Null());
    for (size_t r = 0; r < edf.num_rows(); ++r) {
      if (chosen[r] != kNoRow) dst[r] = converted[k][pos[chosen[r]]];
    }
  }
  return Status::Ok();
}

// Joins one view's features into `out` (one column per planned feature of the view).
Status JoinView(const Catalog& repo, const ViewInfo& view, const std::vector<const Planned*>& feats,
                const Frame& edf, const std::vector<TimestampMicros>& t,
                std::vector<std::vector<Cell>*> out) {
  LARDER_ASSIGN_OR_RETURN(Entities ent, IndexEntities(view, edf, t));
  LARDER_ASSIGN_OR_RETURN(BatchSource bs, ResolveBatchSource(repo, view.def.source));
  const std::string& path = bs.file->resolved_path;
  if (IsParquetSource(path)) return JoinViewParquet(view, feats, edf, t, ent, path, out);
  LARDER_ASSIGN_OR_RETURN(auto snap, OfflineSnapshot::Open(path));
  CsvStream cs(snap->fd(), snap->limit(), path);
  LARDER_ASSIGN_OR_RETURN(bool has_header, cs.Next());
  std::vector<std::string> header;
  for (size_t i = 0; has_header && i < cs.num_fields(); ++i) header.emplace_back(cs.field(i));
  cs.set_expected_fields(header.size());
  ViewColumns vc;
  if (has_header) {
    LARDER_ASSIGN_OR_RETURN(vc, LocateViewColumns(view, header, path));
  }
  const int64_t ttl = view.ttl_micros;

  std::vector<Candidate> cands;
  std::vector<std::string> records;
  std::vector<uint64_t> record_lines;
  std::string key;
  while (has_header) {
    LARDER_ASSIGN_OR_RETURN(bool more, cs.Next());
    if (!more) break;
    key.clear();
    for (size_t k = 0; k < vc.keys.size(); ++k) {
      int c = vc.keys[k];
      Status st = AppendKeyPartFromText(cs.field(c), cs.is_null(c), view.key_types[k], &key);
      if (!st.ok()) return DataError(path, cs.line(), header[c], st);
    }
    auto it = ent.slot_of.find(key);
    if (it == ent.slot_of.end()) continue;
    const uint32_t slot = it->second;
    auto ts = ParseTimestampField(cs.field(vc.timestamp), cs.is_null(vc.timestamp));
    if (!ts.ok()) return DataError(path, cs.line(), header[vc.timestamp], ts.status());
    if (*ts > ent.max_t[slot]) continue;
    if (ttl > 0 && *ts <= ent.min_t[slot] - ttl) continue;
    TimestampMicros created = 0;
    if (vc.created >= 0 && !cs.is_null(vc.created)) {
      auto c = ParseTimestamp(cs.field(vc.created));
      if (!c.ok()) return DataError(path, cs.line(), header[vc.created], c.status());
      created = *c;
    }
    cands.push_back({slot, *ts, created, static_cast<uint32_t>(records.size())});
    PackRecord(cs, &records.emplace_back());
    record_lines.push_back(cs.line());
  }
  const std::vector<uint32_t> chosen = Choose(&cands, ent, t, ttl);

  // The chosen records' cells, once each, then the requested features converted.
  std::vector<uint32_t> pos(records.size(), kNoRow);
  std::vector<uint64_t> lines;
  Frame rows;
  rows.names = header;
  rows.columns.resize(header.size());
  for (uint32_t rec : chosen) {
    if (rec == kNoRow || pos[rec] != kNoRow) continue;
    pos[rec] = static_cast<uint32_t>(lines.size());
    AppendPackedRecord(records[rec], &rows.columns);
    lines.push_back(record_lines[rec]);
  }
  for (size_t k = 0; k < feats.size(); ++k) {
    const FeatureInfo& f = *feats[k]->feature;
    std::vector<Cell> converted(lines.size());
    const int col = rows.FindColumn(f.name);
    for (size_t i = 0; i < lines.size() && col >= 0; ++i) {
      auto v = CellToValue(rows.columns[col][i], f.dtype);
      if (!v.ok()) return DataError(path, lines[i], f.name, v.status());
      converted[i] = ValueToCell(*v);
    }
    std::vector<Cell>& dst = *out[k];
    dst.assign(edf.num_rows(), Cell::Null());
    for (size_t r = 0; r < edf.num_rows(); ++r) {
      if (chosen[r] != kNoRow) dst[r] = converted[pos[chosen[r]]];
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Frame> GetHistoricalFeatures(const Catalog& repo, const HistoricalRequest& request) {
  Frame edf = request.entity_df;
  if (edf.origin.empty()) edf.origin = "entity_df";
  LARDER_RETURN_IF_ERROR(edf.CheckShape());
  LARDER_ASSIGN_OR_RETURN(std::vector<Planned> plan, Plan(repo, request));
  int ts_col = edf.FindColumn(kEntityTimestamp);
  if (ts_col < 0) {
    return InvalidArgument(edf.origin + ": the entity dataframe needs an '" +
                           std::string(kEntityTimestamp) + "' column");
  }
  std::vector<TimestampMicros> t(edf.num_rows());
  for (size_t r = 0; r < edf.num_rows(); ++r) {
    auto ts = CellToTimestamp(edf.columns[ts_col][r]);
    if (!ts.ok()) {
      return InvalidArgument(edf.DescribeRow(r) + ", column '" + kEntityTimestamp +
                             "': " + ts.status().message());
    }
    t[r] = *ts;
  }
  Frame out = edf;
  const size_t first = out.columns.size();
  for (const Planned& p : plan) out.names.push_back(p.output_name);
  out.columns.resize(first + plan.size());
  std::vector<const ViewInfo*> views;
  for (const Planned& p : plan) {
    if (std::find(views.begin(), views.end(), p.view) == views.end()) views.push_back(p.view);
  }
  for (const ViewInfo* v : views) {
    std::vector<const Planned*> feats;
    std::vector<std::vector<Cell>*> cols;
    for (size_t i = 0; i < plan.size(); ++i) {
      if (plan[i].view != v) continue;
      feats.push_back(&plan[i]);
      cols.push_back(&out.columns[first + i]);
    }
    LARDER_RETURN_IF_ERROR(JoinView(repo, *v, feats, edf, t, cols));
  }
  return out;
}

}  // namespace larder
