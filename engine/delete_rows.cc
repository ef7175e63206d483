// Store::DeleteRows (`larder delete`): removing entities' rows from a view, to repair poisoned
// rows (a row from the far future wins over every later push of its entity). Index words never
// go back to empty (lookups stop at the first empty word), so a removal rebuilds the table
// without the rows, as apply does for dropped views: the same crash safety (the old table
// serves until the new one is published with one store), O(index) work, for an operator's
// occasional repair.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/index/row_version.h"
#include "engine/rows/row_codec.h"
#include "engine/store_impl.h"
#include "engine/values/cell_convert.h"
#include "layout/entity_key.h"

namespace larder {

namespace {

// "k1=v1,k2=v2", as typed, for messages.
std::string DescribeEntity(const Frame& f, const std::vector<int>& cols, size_t row) {
  std::string out;
  for (int c : cols) {
    const Cell& cell = f.columns[static_cast<size_t>(c)][row];
    const std::string text = cell.kind == Cell::Kind::kInt ? std::to_string(cell.i) : cell.s;
    out += (out.empty() ? "" : ",") + f.names[static_cast<size_t>(c)] + "=" + text;
  }
  return out;
}

}  // namespace

Result<Store::DeleteResult> Store::DeleteRows(const std::string& view, const Frame& entities) {
  LARDER_RETURN_IF_ERROR(entities.CheckShape());
  LARDER_ASSIGN_OR_RETURN(auto ws, WriteSession::Begin(*impl_));
  LARDER_ASSIGN_OR_RETURN(auto cat, impl_->WriterCatalog());
  LARDER_ASSIGN_OR_RETURN(const ViewInfo* v, cat->RequireView(view));
  std::vector<int> cols;
  for (const JoinKeyDef& k : v->def.join_keys) {
    const int c = entities.FindColumn(k.name);
    if (c < 0) {
      return Status(ErrorCode::kMissingJoinKey, "feature view '" + view + "' is keyed by '" +
                                                    k.name +
                                                    "', missing from the entities (nothing was "
                                                    "removed)");
    }
    cols.push_back(c);
  }
  // Entity key bytes -> the entity as typed; every key is validated before anything is removed.
  std::map<std::string, std::string> wanted;
  for (size_t r = 0; r < entities.num_rows(); ++r) {
    std::string key;
    for (size_t k = 0; k < cols.size(); ++k) {
      const JoinKeyDef& jk = v->def.join_keys[k];
      auto value =
          CellToValue(entities.columns[static_cast<size_t>(cols[k])][r], DType{jk.type, false});
      if (!value.ok()) {
        return value.status().WithContext(entities.DescribeRow(r) + ", column '" + jk.name +
                                          "' (nothing was removed)");
      }
      Status appended = layout::AppendEntityKeyPart(*value, jk.type, &key);
      if (!appended.ok()) {
        return appended.WithContext(entities.DescribeRow(r) + ", column '" + jk.name +
                                    "' (nothing was removed)");
      }
    }
    wanted.emplace(std::move(key), DescribeEntity(entities, cols, r));
  }
  DeleteResult result;
  std::set<std::string> found;
  const uint32_t view_id = v->id();
  LARDER_ASSIGN_OR_RETURN(HashIndex idx, impl_->index());
  // The index is rebuilt only when some entity has a row: a delete of nothing writes nothing.
  bool any_stored = false;
  for (const auto& [key, entity] : wanted) {
    // A row recovery withdrew is no row (the rebuild would drop it, reporting nothing).
    const layout::BlockHeader* row =
        idx.FindRow(impl_->base(), impl_->seg->size(), HashEntityKey(view_id, key), view_id, key);
    any_stored = any_stored || (row != nullptr && !IsWithdrawnRow(row));
  }
  auto keep = [&](const layout::BlockHeader& row) {
    if (row.view_id != view_id) return true;
    const std::string key(reinterpret_cast<const char*>(&row) + layout::kRowKeyOffset, row.key_len);
    auto it = wanted.find(key);
    if (it == wanted.end()) return true;
    const auto* payload =
        reinterpret_cast<const uint8_t*>(&row) + layout::RowPayloadOffset(row.key_len);
    // The event time is read only from a row whose FlatBuffer verifies.
    const TimestampMicros ts = VerifyRowBuffer(payload, row.payload_len)
                                   ? RowFromBuffer(payload)->event_ts()
                                   : TimestampMicros{0};
    result.removed.push_back({it->second, ts});
    found.insert(key);
    return false;
  };
  if (any_stored) {
    // The rebuilt table is a second one of the same size until the old one is retired: a
    // store too full to hold both says so.
    Status rebuilt = ws->RebuildIndexKeeping(idx.log2_buckets(), keep);
    if (!rebuilt.ok()) {
      return rebuilt.WithContext("cannot remove rows from '" + view +
                                 "' (it rebuilds the index beside the old one; nothing was "
                                 "removed)");
    }
  }
  for (const auto& [key, entity] : wanted) {
    if (found.count(key) == 0) result.not_found.push_back(entity);
  }
  return result;
}

}  // namespace larder
