// The order in which `larder materialize` writes a bulk load: by the store's index bucket
// (InBucketOrder, engine/index/hash_index.h), so that each bucket's rows lie side by side and its
// run hint names them (layout/segment_layout.h, "Run hints"). The benchmarks build their
// stores in this order by default, in pushes of a few thousand rows, to measure a store laid
// out as a materialized one is; pushing ids in their own order instead lays rows out as
// streaming pushes of unrelated keys do.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/index/hash_index.h"
#include "larder/feature_store.h"
#include "layout/entity_key.h"

namespace larder::bench {

// ids 0..n-1 (Int64 keys of the first view of the store at `segment_path`, whose id in the
// store's registry seeds the keys' hash) in the order materialize would write them.
inline Result<std::vector<int64_t>> IdsInBucketOrder(const std::string& segment_path, int64_t n) {
  LARDER_ASSIGN_OR_RETURN(auto reader, OnlineReader::Attach(segment_path));
  LARDER_ASSIGN_OR_RETURN(RepoConfig registry, reader->Registry());
  if (registry.views.empty()) return InvalidArgument("the store has no feature view");
  const uint32_t view_id = registry.views[0].id;
  const std::vector<uint32_t> order = InBucketOrder(static_cast<size_t>(n), [&](size_t id) {
    char key[layout::kInt64EntityKeyPartBytes];
    layout::PutInt64EntityKeyPart(static_cast<int64_t>(id), key);
    return HashEntityKey(view_id, std::string_view(key, sizeof key));
  });
  return std::vector<int64_t>(order.begin(), order.end());
}

}  // namespace larder::bench
