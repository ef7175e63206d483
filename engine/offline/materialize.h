// Materialization: the latest row per entity of each view's batch source within an interval,
// written online through the ordered write path (engine/push.cc), with the interval recorded
// in the store's registry.
//
// Each batch-source file is read once, streamed in chunks, whatever the number of views that
// read it; per view (group of views with the same join keys and interval) a hash table keeps
// the winning record's raw text per entity; winners are then parsed and written in batches.
// Thread-safety: one call per thread; writes serialize on the store's writer lock.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/rows/catalog.h"
#include "engine/store.h"
#include "larder/feature_store.h"
#include "larder/status.h"

namespace larder {

// Feast's materialize (`start` set) or materialize_incremental (`start` empty: per view, the
// end of its last recorded interval, else now - ttl, a year when ttl is 0). `repo` is the
// feature repo (its sources' paths, its views); views are written by name into `store`, whose
// registry must know them. Empty `views` = every online view of the repo. `event_time`, when
// set, replaces every written row's event timestamp (Feast's disable_event_timestamp).
Result<MaterializeResult> MaterializeRepo(Store& store, const RepoConfig& repo,
                                          std::optional<TimestampMicros> start, TimestampMicros end,
                                          const std::vector<std::string>& views,
                                          const MaterializeProgressFn& progress,
                                          std::optional<TimestampMicros> event_time = {});

}  // namespace larder
