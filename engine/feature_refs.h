// Resolving a request's feature references ("view:feature" or a feature service) against a
// catalog: the shared first step of online lookups (engine/lookup.cc) and historical retrieval
// (engine/offline/historical.cc).
// Thread-safety: pure functions of their arguments.
#pragma once

#include <string>
#include <vector>

#include "engine/rows/catalog.h"
#include "larder/status.h"

namespace larder {

struct ResolvedFeature {
  const ViewInfo* view;
  const FeatureInfo* feature;
  std::string output_name;  // feature, or view__feature with full_feature_names
};

// Exactly one of `features` and `feature_service` must be given. A feature service contributes
// its projections in order (a projection without features: every feature of the view). Errors:
// kFeatureServiceNotFound, kFeatureViewNotFound, kFeatureNotFound (the message says the name is
// not "in the <catalog_name>"), kInvalidArgument for a malformed reference, both or neither
// given, or an output name requested twice.
Result<std::vector<ResolvedFeature>> ResolveFeatureRefs(const Catalog& cat,
                                                        const std::vector<std::string>& features,
                                                        const std::string& feature_service,
                                                        bool full_feature_names,
                                                        const std::string& catalog_name);

}  // namespace larder
