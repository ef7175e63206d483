// Entity key bytes: the join-key values of one entity in a view's key order, concatenated.
//   Int64: 8 bytes little-endian; Int32: 4 bytes little-endian;
//   String / Bytes: u32 little-endian length, then the bytes.
// Join-key names are not encoded: a view's key columns are fixed by its schema (Feast's v3
// serialization spells the names out; Larder's keys are therefore shorter and are hashed with
// the view id as the XXH3 seed). Changing this encoding is a layout change.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "larder/status.h"
#include "larder/types.h"

namespace larder::layout {

// Appends `v` (non-null, of scalar `type`) to `out`. Errors: null value, wrong dtype.
Status AppendEntityKeyPart(const Value& v, ScalarType type, std::string* out);
// The Int64 part alone (8 bytes, little-endian), for callers that hold the integer already:
// the read path encodes every entity row's key without building a Value.
void AppendInt64EntityKeyPart(int64_t v, std::string* out);
constexpr size_t kInt64EntityKeyPartBytes = 8;
// The same part written at `out` (kInt64EntityKeyPartBytes bytes): keys of Int64 join keys
// have a fixed width, so the read path writes a request's keys in place.
inline void PutInt64EntityKeyPart(int64_t v, char* out) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "key encoding assumes little-endian");
  std::memcpy(out, &v, kInt64EntityKeyPartBytes);
}

// Splits key bytes back into values of `types`; CorruptStore when the bytes do not fit.
Result<std::vector<Value>> DecodeEntityKey(std::string_view key,
                                           const std::vector<ScalarType>& types);

}  // namespace larder::layout
