#include "engine/row_stager.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "engine/quote.h"
#include "engine/values/cell_convert.h"
#include "larder/timestamp.h"
#include "larder/types.h"
#include "layout/entity_key.h"
#include "layout/segment_layout.h"

namespace larder {

Status CellError(const Frame& f, size_t row, std::string_view column, const Status& st) {
  return Status(st.code(),
                f.DescribeRow(row) + ", column " + QuoteInput(column) + ": " + st.message());
}

std::string DescribeColumns(const std::vector<std::pair<std::string, std::string>>& named_roles) {
  std::string out;
  for (const auto& [name, role] : named_roles) {
    out += (out.empty() ? "'" : ", '") + name + "' (" + role + ")";
  }
  return out;
}

std::string DescribeColumnList(
    const std::vector<std::pair<std::string, std::string>>& named_roles) {
  return std::string(named_roles.size() > 1 ? "columns " : "column ") +
         DescribeColumns(named_roles);
}

int ColumnRequirement::Need(const std::string& name, std::string_view role) {
  int c = f_->FindColumn(name);
  if (c < 0) missing_.emplace_back(name, std::string(role));
  return c;
}

Status ColumnRequirement::Check(std::string_view who) const {
  if (missing_.empty()) return Status::Ok();
  return InvalidArgument(f_->origin + ": " + std::string(who) + " needs " +
                         DescribeColumnList(missing_) +
                         ", missing from the request (nothing was written)");
}

Result<const std::vector<Value>*> ConvertedCells::Values(int col, DType dtype,
                                                         std::string_view name) {
  for (const ValueColumn& c : values_) {
    if (c.col != col) continue;
    if (c.dtype == dtype) {
      if (c.values.size() != f_->num_rows()) {
        return Status(ErrorCode::kInternal, "column '" + std::string(name) +
                                                "' was provided with " +
                                                std::to_string(c.values.size()) + " values for " +
                                                std::to_string(f_->num_rows()) + " rows");
      }
      return &c.values;
    }
    // Provided as another dtype: the frame's cells of that column may be placeholders, so
    // converting them would read every value as null. Refused instead.
    if (c.provided) {
      return InvalidArgument(f_->origin + ": column '" + std::string(name) + "' was read as " +
                             DTypeName(c.dtype) + " but the store's registry has it as " +
                             DTypeName(dtype) +
                             ": the repo and the store differ, run `larder apply` first (nothing "
                             "was written)");
    }
  }
  std::vector<Value> values(f_->num_rows());
  const std::vector<Cell>& cells = f_->columns[col];
  for (size_t r = 0; r < values.size(); ++r) {
    Status st = CellToValueInto(cells[r], dtype, &values[r]);
    if (!st.ok()) return CellError(*f_, r, name, st);
  }
  values_.push_back({col, dtype, std::move(values), /*provided=*/false});
  return &values_.back().values;
}

Result<const std::vector<std::optional<TimestampMicros>>*> ConvertedCells::Timestamps(
    int col, std::string_view name) {
  for (const TimestampColumn& c : timestamps_) {
    if (c.col == col) return &c.times;
  }
  std::vector<std::optional<TimestampMicros>> times(f_->num_rows());
  const std::vector<Cell>& cells = f_->columns[col];
  for (size_t r = 0; r < times.size(); ++r) {
    if (cells[r].kind == Cell::Kind::kNull) continue;
    auto ts = CellToTimestamp(cells[r]);
    if (!ts.ok()) return CellError(*f_, r, name, ts.status());
    times[r] = *ts;
  }
  timestamps_.push_back({col, std::move(times)});
  return &timestamps_.back().times;
}

void ConvertedCells::Provide(int col, DType dtype, std::vector<Value> values) {
  values_.push_back({col, dtype, std::move(values), /*provided=*/true});
}

void ConvertedCells::ProvideTimestamps(int col, std::vector<std::optional<TimestampMicros>> times) {
  timestamps_.push_back({col, std::move(times)});
}

TimestampMicros LatestAllowedEventTime(int64_t skew_seconds) {
  if (skew_seconds <= 0) return kNoEventTimeLimit;
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  constexpr int64_t kMicros = 1000000;
  if (skew_seconds > (kNoEventTimeLimit - now) / kMicros) return kNoEventTimeLimit;
  return static_cast<TimestampMicros>(now + skew_seconds * kMicros);
}

Status CheckEventTime(TimestampMicros event_ts, TimestampMicros latest) {
  if (event_ts <= latest) return Status::Ok();
  const int64_t past = (event_ts - latest) / 1000000;
  return InvalidArgument("event time " + FormatTimestamp(event_ts) + " lies " +
                         std::to_string(past) +
                         " s past the clock plus max_future_skew (feature_store.yaml): refused");
}

Result<RowStager> RowStager::Make(const ViewInfo& view, const Frame& f, ConvertedCells* cells,
                                  TimestampMicros latest_event_ts) {
  RowStager s(view, f);
  s.latest_event_ts_ = latest_event_ts;
  ColumnRequirement need(f);
  for (const JoinKeyDef& k : view.def.join_keys) {
    s.key_cols_.push_back(need.Need(k.name, "join key"));
  }
  for (const FeatureInfo& fi : view.features) {
    s.feature_cols_.push_back(need.Need(fi.name, "feature"));
  }
  s.ts_col_ = need.Need(view.timestamp_field, "timestamp field");
  LARDER_RETURN_IF_ERROR(need.Check("feature view '" + view.def.name + "'"));
  // The created-timestamp column only breaks ties between equal event times: when the request
  // lacks it, every row's created timestamp is 0.
  if (!view.created_timestamp_column.empty()) {
    s.created_col_ = f.FindColumn(view.created_timestamp_column);
  }
  s.values_.resize(view.features.size());
  if (cells != nullptr) LARDER_RETURN_IF_ERROR(s.UseConverted(*cells));
  return s;
}

Status RowStager::UseConverted(ConvertedCells& cells) {
  for (size_t k = 0; k < key_cols_.size(); ++k) {
    const JoinKeyDef& jk = view_->def.join_keys[k];
    LARDER_ASSIGN_OR_RETURN(const std::vector<Value>* keys,
                            cells.Values(key_cols_[k], DType{jk.type, false}, jk.name));
    converted_keys_.push_back(keys);
  }
  LARDER_ASSIGN_OR_RETURN(converted_ts_, cells.Timestamps(ts_col_, view_->timestamp_field));
  if (created_col_ >= 0) {
    LARDER_ASSIGN_OR_RETURN(converted_created_,
                            cells.Timestamps(created_col_, view_->created_timestamp_column));
  }
  for (size_t i = 0; i < feature_cols_.size(); ++i) {
    const FeatureInfo& fi = view_->features[i];
    LARDER_ASSIGN_OR_RETURN(const std::vector<Value>* values,
                            cells.Values(feature_cols_[i], fi.dtype, fi.name));
    converted_features_.push_back(values);
  }
  return Status::Ok();
}

Status RowStager::StageKey(size_t r) {
  key_.clear();
  for (size_t k = 0; k < key_cols_.size(); ++k) {
    const JoinKeyDef& jk = view_->def.join_keys[k];
    const Value* part = &key_value_;
    Status st;
    if (converted_keys_.empty()) {
      st = CellToValueInto(f_->columns[key_cols_[k]][r], DType{jk.type, false}, &key_value_);
    } else {
      part = &(*converted_keys_[k])[r];
    }
    if (st.ok()) st = layout::AppendEntityKeyPart(*part, jk.type, &key_);
    if (!st.ok()) return CellError(*f_, r, jk.name, st);
  }
  if (key_.size() > layout::kMaxKeyLen) {
    return InvalidArgument(f_->DescribeRow(r) + ": entity key of " + std::to_string(key_.size()) +
                           " bytes exceeds the limit of " + std::to_string(layout::kMaxKeyLen));
  }
  return Status::Ok();
}

Status RowStager::StageTimestamps(size_t r) {
  if (converted_ts_ != nullptr) {
    const std::optional<TimestampMicros>& ts = (*converted_ts_)[r];
    if (!ts) {  // a null cell: the conversion's own error
      return CellError(*f_, r, view_->timestamp_field,
                       CellToTimestamp(f_->columns[ts_col_][r]).status());
    }
    event_ts_ = *ts;
    if (Status late = CheckEventTime(event_ts_, latest_event_ts_); !late.ok()) {
      return CellError(*f_, r, view_->timestamp_field, late);
    }
    created_ts_ = 0;
    if (converted_created_ != nullptr) created_ts_ = (*converted_created_)[r].value_or(0);
    return Status::Ok();
  }
  auto ts = CellToTimestamp(f_->columns[ts_col_][r]);
  if (!ts.ok()) return CellError(*f_, r, view_->timestamp_field, ts.status());
  event_ts_ = *ts;
  if (Status late = CheckEventTime(event_ts_, latest_event_ts_); !late.ok()) {
    return CellError(*f_, r, view_->timestamp_field, late);
  }
  created_ts_ = 0;
  if (created_col_ >= 0 && f_->columns[created_col_][r].kind != Cell::Kind::kNull) {
    auto c = CellToTimestamp(f_->columns[created_col_][r]);
    if (!c.ok()) return CellError(*f_, r, view_->created_timestamp_column, c.status());
    created_ts_ = *c;
  }
  return Status::Ok();
}

Status RowStager::Stage(size_t r) {
  LARDER_RETURN_IF_ERROR(StageKey(r));
  LARDER_RETURN_IF_ERROR(StageTimestamps(r));
  if (!converted_features_.empty()) {
    for (size_t i = 0; i < converted_features_.size(); ++i)
      values_[i] = (*converted_features_[i])[r];
    return Status::Ok();
  }
  for (size_t i = 0; i < feature_cols_.size(); ++i) {
    const FeatureInfo& fi = view_->features[i];
    Status st = CellToValueInto(f_->columns[feature_cols_[i]][r], fi.dtype, &values_[i]);
    if (!st.ok()) return CellError(*f_, r, fi.name, st);
  }
  return Status::Ok();
}

bool RowStager::any_value() const {
  return std::any_of(values_.begin(), values_.end(), [](const Value& v) { return !v.is_null; });
}

}  // namespace larder
