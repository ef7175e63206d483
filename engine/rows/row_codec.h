// Encodes a view's feature values into a FlatBuffer Row (layout/row.fbs) and decodes single
// features back. Values are placed by the catalog's (class, slot) map.
// Thread-safety: RowEncoder is single-threaded scratch; the decode functions are pure.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <string_view>
#include <vector>

#include "engine/rows/catalog.h"
#include "larder/types.h"
#include "layout/row_generated.h"

namespace larder {

class RowEncoder {
 public:
  // `values[i]` is feature i of `view` (schema order): null, or a value of the feature's dtype.
  // The returned bytes stay valid until the next Encode.
  std::string_view Encode(const ViewInfo& view, TimestampMicros event_ts,
                          TimestampMicros created_ts, const Value* values);

 private:
  flatbuffers::FlatBufferBuilder b_{1024};
  std::vector<int32_t> i32_;
  std::vector<int64_t> i64_;
  std::vector<float> f32_;
  std::vector<double> f64_;
  std::vector<uint8_t> bools_;
  std::vector<uint8_t> nulls_;
  std::vector<flatbuffers::Offset<void>> offsets_[static_cast<size_t>(StorageClass::kCount)];
};

// Verifies a row buffer (bounds of every table and vector, and the alignment of 8-byte
// vectors). `larder check` and Inspect call it on every row.
bool VerifyRowBuffer(const uint8_t* data, size_t len);

// Verifies what reading `view`'s features from a row touches: the root table, event_ts,
// created_ts, the null bitmap and the vectors of the storage classes in view.class_mask;
// vectors of other classes are never read through this view, so they are not checked.
// Readers call it before decoding. For views of scalar and String features (the common case)
// it runs FlatBuffers' verifier checks written out for the Row's flat vectors (about a third
// of the generic verifier's instructions); other views go to VerifyRowForViewReference. It
// accepts exactly what VerifyRowForViewReference accepts (tests/row_verify_test.cc compares
// them on every truncation and on random damage).
bool VerifyRowForView(const uint8_t* data, size_t len, const ViewInfo& view);

// The same checks made with flatbuffers::Verifier's own calls.
bool VerifyRowForViewReference(const uint8_t* data, size_t len, const ViewInfo& view);

inline const fb::Row* RowFromBuffer(const uint8_t* data) { return fb::GetRow(data); }

// True when feature `f` is null according to a row's null bitmap (row->nulls(), may be null).
inline bool IsNullIn(const flatbuffers::Vector<uint8_t>* nulls, const FeatureInfo& f) {
  if (nulls == nullptr) return false;
  uint32_t byte = f.null_bit / 8;
  return byte < nulls->size() && ((nulls->Get(byte) >> (f.null_bit % 8)) & 1) != 0;
}

// Whether the row's vector of `f`'s class reaches `f`'s slot. A row written before the feature
// was added to its view (by an apply that kept the view's rows) does not: the feature has no
// value in it, which reads as NOT_FOUND, as a field missing from a stored row does in Feast.
bool RowHasSlot(const fb::Row* row, const FeatureInfo& f);

// True when feature `f` is null in `row`.
inline bool IsNullFeature(const fb::Row* row, const FeatureInfo& f) {
  return IsNullIn(row->nulls(), f);
}

// Decodes feature `f` into `out` (dtype set). Returns false when the row does not have the
// feature's slot (see RowHasSlot) or its item there is missing (only on corruption).
bool DecodeFeature(const fb::Row* row, const FeatureInfo& f, Value* out);

}  // namespace larder
