// Historical retrieval: Feast's point-in-time join of an entity dataframe against the batch
// sources (docs/offline.md).
//
// For each entity row (join keys, event_timestamp T) and each requested view: the row of the
// view's batch source with the same entity and the greatest (event ts, created ts) such that
// ts <= T and, when the view has a ttl, ts > T - ttl (equal pairs: the later row in the file).
// No such row: null. Each batch-source file is streamed once per view; only rows of entities in
// the entity dataframe (and not after their latest T) are kept in memory.
// Thread-safety: pure function over an immutable catalog.
#pragma once

#include "engine/rows/catalog.h"
#include "larder/feature_store.h"
#include "larder/frame.h"
#include "larder/status.h"

namespace larder {

// `repo` is the feature repo's catalog (views, services, sources and their resolved paths).
Result<Frame> GetHistoricalFeatures(const Catalog& repo, const HistoricalRequest& request);

}  // namespace larder
