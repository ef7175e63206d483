// Staging of push input: the rows of a Frame, for one feature view, converted to what the store
// writes (entity-key bytes as layout/entity_key.h lays them out, event and created timestamps,
// one Value per feature), each cell converted once. Push (engine/push.cc), offline push and
// materialize (engine/offline/) all stage rows through RowStager, so they accept and refuse the
// same cells with the same messages.
//
// Also the two request errors every writer of frames reports: a bad cell (CellError) and
// columns a writer needs that the request lacks (ColumnRequirement); and the cells of a frame
// converted once for several writers (ConvertedCells: push(to=online_and_offline) validates,
// renders the offline records and stages the online rows from one conversion of each cell).
//
// Errors: kInvalidArgument for missing columns and oversized keys; a bad cell keeps the code of
// the conversion (cell_convert.h), its message prefixed with the row and column.
// Thread-safety: a RowStager or ColumnRequirement belongs to one thread and refers to the view
// and frame it was made for, which must outlive it.
#pragma once

#include <cstddef>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/rows/catalog.h"
#include "larder/frame.h"
#include "larder/status.h"
#include "larder/types.h"

namespace larder {

// `st` with "<row>, column '<column>': " before its message ("request body row 3, column 'x':
// ..."); its code is kept.
Status CellError(const Frame& f, size_t row, std::string_view column, const Status& st);

// "'a' (join key), 'b' (feature)": (name, role) pairs as error messages list them.
std::string DescribeColumns(const std::vector<std::pair<std::string, std::string>>& named_roles);
// "column 'a' (join key)" or "columns 'a' (join key), 'b' (feature)".
std::string DescribeColumnList(const std::vector<std::pair<std::string, std::string>>& named_roles);

// The columns of a frame a writer needs, each looked up once; missing ones are collected so one
// error names them all.
class ColumnRequirement {
 public:
  explicit ColumnRequirement(const Frame& f) : f_(&f) {}
  // The index of column `name` in the frame, or -1 (then remembered as missing, with `role`).
  int Need(const std::string& name, std::string_view role);
  // OK when nothing is missing; else kInvalidArgument "<origin>: <who> needs column(s) 'a'
  // (role), ..., missing from the request (nothing was written)" (who: "feature view 'v'").
  Status Check(std::string_view who) const;

 private:
  const Frame* f_;
  std::vector<std::pair<std::string, std::string>> missing_;
};

// Columns of one frame converted whole, each (column, dtype) once, for the writers of one
// request. A column's first bad cell is the error (CellError).
class ConvertedCells {
 public:
  explicit ConvertedCells(const Frame& f) : f_(&f) {}
  // Column `col` (`name` in errors) as `dtype`: one Value per row (null cells give null
  // Values). The vector lives as long as this object.
  Result<const std::vector<Value>*> Values(int col, DType dtype, std::string_view name);
  // Column `col` as timestamps: nullopt for a null cell (the caller decides whether that is
  // an error), else the converted time.
  Result<const std::vector<std::optional<TimestampMicros>>*> Timestamps(int col,
                                                                        std::string_view name);
  // How many column conversions were made (each converts every cell of its column once).
  size_t conversions() const { return values_.size() + timestamps_.size(); }
  // Column `col` as `dtype`, or as timestamps, already converted by the caller (one entry per
  // row; materialize decodes Parquet straight into these): Values and Timestamps then return
  // them and never look at the frame's cells of that column, which may be placeholders (asked
  // for another dtype, Values refuses: the caller converted for a schema the writer's differs
  // from). `values` must hold one entry per row.
  void Provide(int col, DType dtype, std::vector<Value> values);
  void ProvideTimestamps(int col, std::vector<std::optional<TimestampMicros>> times);

 private:
  struct ValueColumn {
    int col;
    DType dtype;
    std::vector<Value> values;
    bool provided;  // by Provide: the frame's cells of `col` may be placeholders
  };
  struct TimestampColumn {
    int col;
    std::vector<std::optional<TimestampMicros>> times;
  };
  const Frame* f_;
  std::deque<ValueColumn> values_;  // a deque: the vectors handed out keep their address
  std::deque<TimestampColumn> timestamps_;
};

// No limit on event times (RowStager::Make's default).
inline constexpr TimestampMicros kNoEventTimeLimit = std::numeric_limits<TimestampMicros>::max();
// The latest event time a row may carry now under max_future_skew (feature_store.yaml):
// the clock plus `skew_seconds`; kNoEventTimeLimit when it is 0 (no limit).
TimestampMicros LatestAllowedEventTime(int64_t skew_seconds);
// kInvalidArgument when `event_ts` lies past `latest` ("event time T lies N s past the clock
// plus max_future_skew ..."), for CellError to prefix with its row and column.
Status CheckEventTime(TimestampMicros event_ts, TimestampMicros latest);

// One view's rows of one frame. Make resolves the columns once; Stage converts one row.
class RowStager {
 public:
  // kInvalidArgument when the frame lacks a join key, feature or the timestamp field (all the
  // missing ones named). The created-timestamp column is optional: without it every row's
  // created timestamp is 0. With `cells`, the view's columns are taken from it (converted
  // there on first use, so a bad cell is the error of Make) and Stage converts nothing.
  // A row whose event time lies past `latest_event_ts` is refused by Stage (max_future_skew).
  static Result<RowStager> Make(const ViewInfo& view, const Frame& f,
                                ConvertedCells* cells = nullptr,
                                TimestampMicros latest_event_ts = kNoEventTimeLimit);

  // Converts row `r` (keys, key size, timestamp, created timestamp, features, in that order;
  // the first bad cell is the error). On success the accessors below describe row `r` until
  // the next call; on error they are unspecified.
  Status Stage(size_t r);

  const ViewInfo& view() const { return *view_; }
  std::string_view key() const { return key_; }
  TimestampMicros event_ts() const { return event_ts_; }
  TimestampMicros created_ts() const { return created_ts_; }
  // Feature i of the view (schema order), null or of the feature's dtype.
  const std::vector<Value>& values() const { return values_; }
  // True when some feature of the row is not null.
  bool any_value() const;

 private:
  RowStager(const ViewInfo& view, const Frame& f) : view_(&view), f_(&f) {}
  Status StageKey(size_t r);
  Status StageTimestamps(size_t r);
  Status UseConverted(ConvertedCells& cells);

  const ViewInfo* view_;
  const Frame* f_;
  std::vector<int> key_cols_;
  std::vector<int> feature_cols_;
  int ts_col_ = -1;
  int created_col_ = -1;
  TimestampMicros latest_event_ts_ = kNoEventTimeLimit;
  std::string key_;
  Value key_value_;
  TimestampMicros event_ts_ = 0;
  TimestampMicros created_ts_ = 0;
  std::vector<Value> values_;
  // With ConvertedCells: the view's columns, converted (else empty and null).
  std::vector<const std::vector<Value>*> converted_keys_;
  std::vector<const std::vector<Value>*> converted_features_;
  const std::vector<std::optional<TimestampMicros>>* converted_ts_ = nullptr;
  const std::vector<std::optional<TimestampMicros>>* converted_created_ = nullptr;
};

}  // namespace larder
