// JSON bodies of the offline endpoints (Feast's feature server shapes, the C API):
// materialize, materialize-incremental and get-historical-features.
// Every parse error is kInvalidArgument naming the field at fault.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wire/request_json.h"
#include "larder/feature_store.h"
#include "larder/frame.h"
#include "larder/status.h"

namespace larder {

struct MaterializeRequest {
  std::optional<TimestampMicros> start;    // empty for materialize-incremental
  TimestampMicros end = 0;                 // unset (0) when disable_event_timestamp
  std::vector<std::string> feature_views;  // empty = every online view
  // FeatureStore::MaterializeAsOfNow: every row up to now, written with now as its event time.
  bool disable_event_timestamp = false;
  bool full_feature_names = false;  // accepted, ignored: it names nothing in an online write
};
// Feast's MaterializeRequest: {"start_ts": "2021-01-01T00:00:00", "end_ts": "...",
// "feature_views": ["a"] | null, "disable_event_timestamp": false, "full_feature_names": false,
// "version": null}; MaterializeIncrementalRequest: without "start_ts" and
// "disable_event_timestamp". Timestamps: RFC 3339 strings or epoch seconds; both are required
// unless disable_event_timestamp is true, which ignores them (as Feast's server does).
// "version" other than null is kInvalidArgument: Larder keeps no feature view versions (Feast
// refuses it too unless its registry enables versioning).
Result<MaterializeRequest> ParseMaterializeRequestJson(
    std::string_view body, bool incremental, UnknownFields unknown = UnknownFields::kIgnore);

// {"features": [...] | "feature_service": "name", "entity_df": {"col": [...], ...},
//  "full_feature_names": false}
Result<HistoricalRequest> ParseHistoricalRequestJson(std::string_view body);

// {"views":[{"name":"v","start":"...","end":"...","rows_read":1,"rows_written":1,
//   "rows_skipped":0}]}
std::string MaterializeResultToJson(const MaterializeResult& result);

// A frame as a JSON object of columns, {"col": [v, ...], ...} (pandas' orient="list"): nulls
// are null, bytes base64, non-finite doubles "NaN", "Infinity", "-Infinity".
std::string FrameToJsonColumns(const Frame& frame);

// A frame as CSV: a header row, then one record per row (null = empty field; see
// AppendCellText).
std::string FrameToCsv(const Frame& frame);

}  // namespace larder
