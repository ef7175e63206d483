// Request and response types of online reads and writes (Feast's shapes).
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "larder/frame.h"
#include "larder/status.h"
#include "larder/types.h"

namespace larder {

// Where a push goes (Feast's PushMode).
enum class PushMode { kOnline, kOffline, kOnlineAndOffline };
// "online" | "offline" | "online_and_offline"; error names the bad text.
Result<PushMode> ParsePushMode(std::string_view text);

// How a reader treats the rows it reads. Fields are added between versions (the C++ API is
// source-compatible only: rebuild against new headers, README "C++ and C APIs").
struct ReaderOptions {
  // Verify the parts of every row's FlatBuffer a read touches (bounds of the table, and of the
  // vectors and strings of the view's storage classes) before decoding it. On by default: a
  // corrupt or hostile segment file then yields INVALID statuses, never a crash. Turning it off
  // saves about 9 ns per row read (docs/design.md) and is only safe when nothing but Larder's
  // writer can write the segment file.
  bool verify_rows = true;
  // Snapshot reads: each request sees every write batch (a push, a write-to-online-store, a
  // materialize chunk) whole or not at all, across all its entities and views. On by default;
  // off, a request reads each row's newest version, so it may see a batch half applied (one
  // view already updated, another not yet). Costs one load per request and one compare per
  // row read (docs/design.md, "Snapshot reads").
  bool snapshot_reads = true;
  // The user (name, or decimal uid) whose segment this reader trusts besides its own user and
  // root: the writer's user when it differs from the reader's (online_store.owner in
  // feature_store.yaml). A segment of any other owner is refused, naming its owner: another
  // user could have created it at the path first and filled it with rows of their choosing.
  std::string segment_owner;
};

struct OnlineRequest {
  std::vector<std::string> features;  // "view:feature" refs; or
  std::string feature_service;        // a feature service name (exactly one of the two)
  // Entity rows, column-major: one column per join key (Feast's `entities` object).
  Frame entities;
  bool full_feature_names = false;
};

// One output column: a join key or a feature, one entry per entity row.
struct FeatureColumn {
  std::vector<Value> values;
  std::vector<FieldStatus> statuses;
  // 0 when unknown (join keys, an entity without a row); a feature NOT_FOUND in a row written
  // before it was added to its view has the row's timestamp.
  std::vector<TimestampMicros> event_timestamps;
};

// Feast's GetOnlineFeaturesResponse: metadata.feature_names[i] names results[i].
struct OnlineResponse {
  std::vector<std::string> feature_names;
  std::vector<FeatureColumn> results;
};

// A columnar response for large batches and bindings: one typed array per requested feature,
// no per-value objects. Fixed-width scalars land in contiguous buffers.
struct ColumnarFeature {
  std::string name;            // output name (view__feature with full_feature_names)
  DType dtype;
  std::vector<FieldStatus> statuses;          // one per entity row
  std::vector<TimestampMicros> event_timestamps;
  // Exactly one of these is filled, by dtype (null / not-found rows hold 0, "" or an empty
  // Value):
  std::vector<int64_t> ints;      // Int32, Int64, Bool (0/1), UnixTimestamp (micros)
  std::vector<float> floats;      // Float32
  std::vector<double> doubles;    // Float64
  std::vector<std::string> strings;  // String, Bytes
  std::vector<Value> arrays;      // Array(T)
};

struct ColumnarResponse {
  std::vector<ColumnarFeature> features;  // in request order (join-key columns not repeated)
  // The request's entity columns that gave a join key (others are ignored, as Feast ignores
  // them): (column index in OnlineRequest::entities, join key name), in request order. The
  // name differs from the column's when the request named the entity instead.
  std::vector<std::pair<size_t, std::string>> key_columns;
};

struct PushResult {
  uint64_t rows_in = 0;        // rows in the request
  uint64_t views = 0;          // feature views the push fanned out to
  uint64_t rows_written = 0;   // rows written across views
  uint64_t rows_skipped = 0;   // rows older than the stored row of their entity (not written)
  // Rows not written to a view because every feature of that view was null in every row of
  // the request (Feast does not write such a frame). Counted per view, like rows_written.
  uint64_t rows_all_null = 0;
};

}  // namespace larder
