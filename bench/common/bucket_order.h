// The order in which `larder materialize` writes a bulk load: by the store's index bucket
// (BucketOrderKey of the key's hash), so that each bucket's rows lie side by side and its run
// hint names them (layout/segment_layout.h, "Run hints"). The benchmarks build their stores
// in this order by default, in pushes of a few thousand rows, to measure a store laid out as a
// materialized one is; pushing ids in their own order instead lays rows out as streaming
// pushes of unrelated keys do.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/hash_index.h"
#include "layout/entity_key.h"

namespace larder::bench {

// ids 0..n-1 (Int64 keys of view `view_id`) in the order materialize would write them.
inline std::vector<int64_t> IdsInBucketOrder(int64_t n, uint32_t view_id) {
  std::vector<std::pair<uint64_t, int64_t>> keyed(static_cast<size_t>(n));
  char key[layout::kInt64EntityKeyPartBytes];
  for (int64_t id = 0; id < n; ++id) {
    layout::PutInt64EntityKeyPart(id, key);
    keyed[static_cast<size_t>(id)] = {
        BucketOrderKey(HashEntityKey(view_id, std::string_view(key, sizeof key))), id};
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<int64_t> ids;
  ids.reserve(keyed.size());
  for (const auto& k : keyed) ids.push_back(k.second);
  return ids;
}

}  // namespace larder::bench
