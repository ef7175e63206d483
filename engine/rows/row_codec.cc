#include "engine/rows/row_codec.h"

#include <cstdint>
#include <cstring>

namespace larder {

namespace {

using flatbuffers::Offset;

constexpr size_t Idx(StorageClass c) { return static_cast<size_t>(c); }

template <typename T, typename V>
Offset<void> ListOf(flatbuffers::FlatBufferBuilder& b, const std::vector<V>& src) {
  std::vector<T> tmp(src.begin(), src.end());
  return b.CreateVector(tmp).Union();
}

// An empty value of an offset class, for the slot of a removed feature.
Offset<void> EmptyItem(flatbuffers::FlatBufferBuilder& b, StorageClass c) {
  switch (c) {
    case StorageClass::kStr:
      return b.CreateString("").Union();
    case StorageClass::kBytes:
      return fb::CreateBytesValue(b).Union();
    case StorageClass::kI32List:
      return fb::CreateInt32List(b).Union();
    case StorageClass::kI64List:
      return fb::CreateInt64List(b).Union();
    case StorageClass::kF32List:
      return fb::CreateFloatList(b).Union();
    case StorageClass::kF64List:
      return fb::CreateDoubleList(b).Union();
    case StorageClass::kBoolList:
      return fb::CreateBoolList(b).Union();
    case StorageClass::kStrList:
      return fb::CreateStringList(b).Union();
    case StorageClass::kBytesList:
      return fb::CreateBytesList(b).Union();
    default:
      return Offset<void>();
  }
}

}  // namespace

std::string_view RowEncoder::Encode(const ViewInfo& view, TimestampMicros event_ts,
                                    TimestampMicros created_ts, const Value* values) {
  b_.Clear();
  const auto& counts = view.class_counts;
  i32_.assign(counts[Idx(StorageClass::kI32)], 0);
  i64_.assign(counts[Idx(StorageClass::kI64)], 0);
  f32_.assign(counts[Idx(StorageClass::kF32)], 0);
  f64_.assign(counts[Idx(StorageClass::kF64)], 0);
  bools_.assign(counts[Idx(StorageClass::kBool)], 0);
  nulls_.clear();
  for (size_t c = Idx(StorageClass::kStr); c < Idx(StorageClass::kCount); ++c) {
    offsets_[c].assign(counts[c], Offset<void>());
  }
  bool any_null = false;
  // Pass 1: scalars into scratch vectors; variable-length values into the builder (they must be
  // created before the Row table starts).
  for (const FeatureInfo& f : view.features) {
    const Value& v = values[f.index];
    if (v.is_null) {
      if (!any_null) nulls_.assign((view.null_bits + 7) / 8, 0);
      any_null = true;
      nulls_[f.null_bit / 8] |= static_cast<uint8_t>(1u << (f.null_bit % 8));
    }
    switch (f.cls) {
      case StorageClass::kI32: i32_[f.slot] = static_cast<int32_t>(v.i64); break;
      case StorageClass::kI64: i64_[f.slot] = v.i64; break;
      case StorageClass::kF32: f32_[f.slot] = static_cast<float>(v.f64); break;
      case StorageClass::kF64: f64_[f.slot] = v.f64; break;
      case StorageClass::kBool: bools_[f.slot] = v.i64 != 0; break;
      case StorageClass::kStr:
        offsets_[Idx(f.cls)][f.slot] = b_.CreateString(v.str).Union();
        break;
      case StorageClass::kBytes:
        offsets_[Idx(f.cls)][f.slot] =
            fb::CreateBytesValue(b_, b_.CreateVector(reinterpret_cast<const uint8_t*>(v.str.data()),
                                                     v.str.size()))
                .Union();
        break;
      case StorageClass::kI32List:
        offsets_[Idx(f.cls)][f.slot] =
            fb::CreateInt32List(b_, ListOf<int32_t>(b_, v.i64s).o).Union();
        break;
      case StorageClass::kI64List:
        offsets_[Idx(f.cls)][f.slot] = fb::CreateInt64List(b_, b_.CreateVector(v.i64s)).Union();
        break;
      case StorageClass::kF32List:
        offsets_[Idx(f.cls)][f.slot] =
            fb::CreateFloatList(b_, ListOf<float>(b_, v.f64s).o).Union();
        break;
      case StorageClass::kF64List:
        offsets_[Idx(f.cls)][f.slot] = fb::CreateDoubleList(b_, b_.CreateVector(v.f64s)).Union();
        break;
      case StorageClass::kBoolList: {
        std::vector<uint8_t> tmp(v.i64s.begin(), v.i64s.end());
        offsets_[Idx(f.cls)][f.slot] = fb::CreateBoolList(b_, b_.CreateVector(tmp)).Union();
        break;
      }
      case StorageClass::kStrList:
        offsets_[Idx(f.cls)][f.slot] =
            fb::CreateStringList(b_, b_.CreateVectorOfStrings(v.strs)).Union();
        break;
      case StorageClass::kBytesList: {
        std::vector<Offset<fb::BytesValue>> items;
        for (const std::string& s : v.strs) {
          items.push_back(fb::CreateBytesValue(
              b_, b_.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
        }
        offsets_[Idx(f.cls)][f.slot] = fb::CreateBytesList(b_, b_.CreateVector(items)).Union();
        break;
      }
      case StorageClass::kCount: break;
    }
  }
  // Slots of removed features (below a live feature's slot) hold an empty value: an offset
  // vector cannot hold a null offset. No reader reads them (apply waits for readers of the
  // registry that still had the feature before any row of the new layout is written).
  auto vec_or_null = [&](StorageClass c) -> flatbuffers::uoffset_t {
    auto& offs = offsets_[Idx(c)];
    if (offs.empty()) return 0;
    Offset<void> empty;
    for (Offset<void>& o : offs) {
      if (!o.IsNull()) continue;
      if (empty.IsNull()) empty = EmptyItem(b_, c);
      o = empty;
    }
    return b_.CreateVector(offs).o;
  };
  // Vectors of offsets must also precede the table.
  flatbuffers::uoffset_t o_str = vec_or_null(StorageClass::kStr);
  flatbuffers::uoffset_t o_bytes = vec_or_null(StorageClass::kBytes);
  flatbuffers::uoffset_t o_lists[7];
  for (size_t k = 0; k < 7; ++k) {
    o_lists[k] = vec_or_null(static_cast<StorageClass>(Idx(StorageClass::kI32List) + k));
  }
  auto o_i32 = i32_.empty() ? 0 : b_.CreateVector(i32_).o;
  auto o_i64 = i64_.empty() ? 0 : b_.CreateVector(i64_).o;
  auto o_f32 = f32_.empty() ? 0 : b_.CreateVector(f32_).o;
  auto o_f64 = f64_.empty() ? 0 : b_.CreateVector(f64_).o;
  auto o_bools = bools_.empty() ? 0 : b_.CreateVector(bools_).o;
  auto o_nulls = any_null ? b_.CreateVector(nulls_).o : 0;

  fb::RowBuilder rb(b_);
  rb.add_event_ts(event_ts);
  if (created_ts != 0) rb.add_created_ts(created_ts);
  using flatbuffers::Offset;
  using flatbuffers::Vector;
  if (o_nulls) rb.add_nulls(Offset<Vector<uint8_t>>(o_nulls));
  if (o_i32) rb.add_i32(Offset<Vector<int32_t>>(o_i32));
  if (o_i64) rb.add_i64(Offset<Vector<int64_t>>(o_i64));
  if (o_f32) rb.add_f32(Offset<Vector<float>>(o_f32));
  if (o_f64) rb.add_f64(Offset<Vector<double>>(o_f64));
  if (o_bools) rb.add_bools(Offset<Vector<uint8_t>>(o_bools));
  if (o_str) rb.add_strs(Offset<Vector<Offset<flatbuffers::String>>>(o_str));
  if (o_bytes) rb.add_bytes(Offset<Vector<Offset<fb::BytesValue>>>(o_bytes));
  if (o_lists[0]) rb.add_i32_lists(Offset<Vector<Offset<fb::Int32List>>>(o_lists[0]));
  if (o_lists[1]) rb.add_i64_lists(Offset<Vector<Offset<fb::Int64List>>>(o_lists[1]));
  if (o_lists[2]) rb.add_f32_lists(Offset<Vector<Offset<fb::FloatList>>>(o_lists[2]));
  if (o_lists[3]) rb.add_f64_lists(Offset<Vector<Offset<fb::DoubleList>>>(o_lists[3]));
  if (o_lists[4]) rb.add_bool_lists(Offset<Vector<Offset<fb::BoolList>>>(o_lists[4]));
  if (o_lists[5]) rb.add_str_lists(Offset<Vector<Offset<fb::StringList>>>(o_lists[5]));
  if (o_lists[6]) rb.add_bytes_lists(Offset<Vector<Offset<fb::BytesList>>>(o_lists[6]));
  b_.Finish(rb.Finish());
  return {reinterpret_cast<const char*>(b_.GetBufferPointer()), b_.GetSize()};
}

namespace {

constexpr size_t kMaxDepth = 8;
constexpr size_t kMaxTables = 1u << 20;

// The verifier checks only that a vector's length prefix is 4-aligned: in a damaged row a
// vector of 8-byte elements may sit 4 bytes off, and reading it is a misaligned load (UB).
// Empty vectors are exempt: the builder does not align them (nothing is read from them).
template <typename Vec>
bool Aligned8(const Vec* vec) {
  return vec == nullptr || vec->size() == 0 || reinterpret_cast<uintptr_t>(vec->Data()) % 8 == 0;
}

template <typename Lists>
bool ListsAligned8(const Lists* lists) {
  if (lists == nullptr) return true;
  for (const auto* item : *lists) {
    if (item != nullptr && !Aligned8(item->v())) return false;
  }
  return true;
}

// One storage class's vector of a row whose table start was verified.
bool VerifyClass(flatbuffers::Verifier& v, const flatbuffers::Table& t, const fb::Row& row,
                 StorageClass c) {
  using R = fb::Row;
  switch (c) {
    case StorageClass::kI32:
      return t.VerifyOffset(v, R::VT_I32) && v.VerifyVector(row.i32());
    case StorageClass::kI64:
      return t.VerifyOffset(v, R::VT_I64) && v.VerifyVector(row.i64()) && Aligned8(row.i64());
    case StorageClass::kF32:
      return t.VerifyOffset(v, R::VT_F32) && v.VerifyVector(row.f32());
    case StorageClass::kF64:
      return t.VerifyOffset(v, R::VT_F64) && v.VerifyVector(row.f64()) && Aligned8(row.f64());
    case StorageClass::kBool:
      return t.VerifyOffset(v, R::VT_BOOLS) && v.VerifyVector(row.bools());
    case StorageClass::kStr:
      return t.VerifyOffset(v, R::VT_STRS) && v.VerifyVector(row.strs()) &&
             v.VerifyVectorOfStrings(row.strs());
    case StorageClass::kBytes:
      return t.VerifyOffset(v, R::VT_BYTES) && v.VerifyVector(row.bytes()) &&
             v.VerifyVectorOfTables(row.bytes());
    case StorageClass::kI32List:
      return t.VerifyOffset(v, R::VT_I32_LISTS) && v.VerifyVector(row.i32_lists()) &&
             v.VerifyVectorOfTables(row.i32_lists());
    case StorageClass::kI64List:
      return t.VerifyOffset(v, R::VT_I64_LISTS) && v.VerifyVector(row.i64_lists()) &&
             v.VerifyVectorOfTables(row.i64_lists()) && ListsAligned8(row.i64_lists());
    case StorageClass::kF32List:
      return t.VerifyOffset(v, R::VT_F32_LISTS) && v.VerifyVector(row.f32_lists()) &&
             v.VerifyVectorOfTables(row.f32_lists());
    case StorageClass::kF64List:
      return t.VerifyOffset(v, R::VT_F64_LISTS) && v.VerifyVector(row.f64_lists()) &&
             v.VerifyVectorOfTables(row.f64_lists()) && ListsAligned8(row.f64_lists());
    case StorageClass::kBoolList:
      return t.VerifyOffset(v, R::VT_BOOL_LISTS) && v.VerifyVector(row.bool_lists()) &&
             v.VerifyVectorOfTables(row.bool_lists());
    case StorageClass::kStrList:
      return t.VerifyOffset(v, R::VT_STR_LISTS) && v.VerifyVector(row.str_lists()) &&
             v.VerifyVectorOfTables(row.str_lists());
    case StorageClass::kBytesList:
      return t.VerifyOffset(v, R::VT_BYTES_LISTS) && v.VerifyVector(row.bytes_lists()) &&
             v.VerifyVectorOfTables(row.bytes_lists());
    case StorageClass::kCount:
      break;
  }
  return false;
}

}  // namespace

bool VerifyRowBuffer(const uint8_t* data, size_t len) {
  flatbuffers::Verifier v(data, len, kMaxDepth, kMaxTables);
  if (!fb::VerifyRowBuffer(v)) return false;
  const fb::Row* row = fb::GetRow(data);
  return Aligned8(row->i64()) && Aligned8(row->f64()) && ListsAligned8(row->i64_lists()) &&
         ListsAligned8(row->f64_lists());
}

bool VerifyRowForViewReference(const uint8_t* data, size_t len, const ViewInfo& view) {
  // What Verifier::VerifyBuffer does before Row::Verify: a minimum size and a root offset
  // that stays inside the buffer.
  using flatbuffers::soffset_t;  // named by FLATBUFFERS_MIN_BUFFER_SIZE
  using flatbuffers::uoffset_t;
  if (len < FLATBUFFERS_MIN_BUFFER_SIZE) return false;
  flatbuffers::Verifier v(data, len, kMaxDepth, kMaxTables);
  const flatbuffers::uoffset_t root = v.VerifyOffset(0);
  if (root == 0) return false;
  // fb::Row is a flatbuffers::Table (privately derived, no members of its own): the generated
  // Row::Verify runs these same calls on itself, for every class.
  const auto& t = *reinterpret_cast<const flatbuffers::Table*>(data + root);
  const auto& row = *reinterpret_cast<const fb::Row*>(data + root);
  if (!t.VerifyTableStart(v) || !t.VerifyField<int64_t>(v, fb::Row::VT_EVENT_TS, 8) ||
      !t.VerifyField<int64_t>(v, fb::Row::VT_CREATED_TS, 8) ||
      !t.VerifyOffset(v, fb::Row::VT_NULLS) || !v.VerifyVector(row.nulls())) {
    return false;
  }
  for (uint32_t mask = view.class_mask; mask != 0; mask &= mask - 1) {
    const auto c = static_cast<StorageClass>(__builtin_ctz(mask));
    if (!VerifyClass(v, t, row, c)) return false;
  }
  return v.EndTable();
}

namespace {

// The classes VerifyRowForView checks itself: their vectors are flat (scalars, or offsets to
// strings). Views with any other class are checked with the reference verifier.
constexpr uint32_t kFlatClasses = (1u << static_cast<uint32_t>(StorageClass::kI32)) |
                                  (1u << static_cast<uint32_t>(StorageClass::kI64)) |
                                  (1u << static_cast<uint32_t>(StorageClass::kF32)) |
                                  (1u << static_cast<uint32_t>(StorageClass::kF64)) |
                                  (1u << static_cast<uint32_t>(StorageClass::kBool)) |
                                  (1u << static_cast<uint32_t>(StorageClass::kStr));

// A row buffer read with flatbuffers::Verifier's checks, spelled out for the shapes a Row's
// flat vectors have. Positions are offsets from the buffer start, as the verifier counts them
// (alignment included); every method is the verifier method its comment names.
class FlatRowChecker {
 public:
  FlatRowChecker(const uint8_t* data, size_t len) : d_(data), n_(len) {}

  // Verifier::Verify(pos, bytes).
  bool Fits(size_t pos, size_t bytes) const { return bytes < n_ && pos <= n_ - bytes; }
  // Verifier::Verify<T>(pos) for a T of `bytes` bytes.
  bool FitsAligned(size_t pos, size_t bytes) const {
    return (pos & (bytes - 1)) == 0 && Fits(pos, bytes);
  }
  template <typename T>
  T Read(size_t pos) const {
    T v;
    std::memcpy(&v, d_ + pos, sizeof(T));
    return v;
  }
  // Verifier::VerifyOffset(pos): the target of the uoffset at pos, or 0.
  size_t Target(size_t pos) const {
    if (!FitsAligned(pos, sizeof(uint32_t))) return 0;
    const uint32_t o = Read<uint32_t>(pos);
    if (o == 0 || static_cast<int32_t>(o) < 0 || !Fits(pos + o, 1)) return 0;
    return pos + o;
  }
  // Verifier::VerifyVectorOrString(vec, elem_size, end).
  bool VectorFits(size_t vec, size_t elem_size, size_t* end) const {
    if (!FitsAligned(vec, sizeof(uint32_t))) return false;
    const uint32_t size = Read<uint32_t>(vec);
    if (size >= FLATBUFFERS_MAX_BUFFER_SIZE / elem_size) return false;
    const size_t bytes = sizeof(uint32_t) + elem_size * size;
    *end = vec + bytes;
    return Fits(vec, bytes);
  }
  // Verifier::VerifyTableStart(table); sets the vtable position and size.
  bool TableStart(size_t table) {
    if (!FitsAligned(table, sizeof(int32_t))) return false;
    // Unsigned wrap-around, as the verifier computes it: a vtable "before" 0 lands far past n_.
    vt_ = table - static_cast<size_t>(static_cast<int64_t>(Read<int32_t>(table)));
    if (!FitsAligned(vt_, sizeof(uint16_t))) return false;
    vsize_ = Read<uint16_t>(vt_);
    return (vsize_ & 1) == 0 && Fits(vt_, vsize_);
  }
  // Table::GetOptionalFieldOffset (inside the vtable: field < vsize, both even).
  uint16_t FieldOffset(uint16_t field) const {
    return field < vsize_ ? Read<uint16_t>(vt_ + field) : 0;
  }
  // Table::VerifyField<int64_t>(field, 8).
  bool ScalarField8(size_t table, uint16_t field) const {
    const uint16_t fo = FieldOffset(field);
    return fo == 0 || FitsAligned(table + fo, 8);
  }
  // Table::VerifyOffset(field) then Verifier::VerifyVector: the vector's position in *vec
  // (0 when the field is absent). An 8-byte element vector must also be 8-aligned in memory
  // (Aligned8).
  bool VectorField(size_t table, uint16_t field, size_t elem_size, size_t* vec) const {
    *vec = 0;
    const uint16_t fo = FieldOffset(field);
    if (fo == 0) return true;
    const size_t v = Target(table + fo);
    size_t end;
    if (v == 0 || !VectorFits(v, elem_size, &end)) return false;
    *vec = v;
    if (elem_size == 8 && Read<uint32_t>(v) != 0 &&
        reinterpret_cast<uintptr_t>(d_ + v + sizeof(uint32_t)) % 8 != 0) {
      return false;
    }
    return true;
  }
  // Verifier::VerifyVectorOfStrings on the vector at vec (already verified).
  bool Strings(size_t vec) const {
    const uint32_t count = Read<uint32_t>(vec);
    for (uint32_t i = 0; i < count; ++i) {
      const size_t elem = vec + sizeof(uint32_t) + size_t{4} * i;
      const size_t str = elem + Read<uint32_t>(elem);  // Vector::Get: no check of its own
      size_t end;
      if (!VectorFits(str, 1, &end) || !Fits(end, 1) || d_[end] != 0) return false;
    }
    return true;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t vt_ = 0;
  uint16_t vsize_ = 0;
};

bool VerifyFlatRow(const uint8_t* data, size_t len, uint32_t class_mask) {
  using flatbuffers::soffset_t;  // named by FLATBUFFERS_MIN_BUFFER_SIZE
  using flatbuffers::uoffset_t;
  using R = fb::Row;
  if (len < FLATBUFFERS_MIN_BUFFER_SIZE) return false;
  FlatRowChecker c(data, len);
  const size_t t = c.Target(0);
  size_t vec;
  if (t == 0 || !c.TableStart(t) || !c.ScalarField8(t, R::VT_EVENT_TS) ||
      !c.ScalarField8(t, R::VT_CREATED_TS) || !c.VectorField(t, R::VT_NULLS, 1, &vec)) {
    return false;
  }
  for (uint32_t mask = class_mask; mask != 0; mask &= mask - 1) {
    bool ok = false;
    switch (static_cast<StorageClass>(__builtin_ctz(mask))) {
      case StorageClass::kI32: ok = c.VectorField(t, R::VT_I32, 4, &vec); break;
      case StorageClass::kI64: ok = c.VectorField(t, R::VT_I64, 8, &vec); break;
      case StorageClass::kF32: ok = c.VectorField(t, R::VT_F32, 4, &vec); break;
      case StorageClass::kF64: ok = c.VectorField(t, R::VT_F64, 8, &vec); break;
      case StorageClass::kBool: ok = c.VectorField(t, R::VT_BOOLS, 1, &vec); break;
      case StorageClass::kStr:
        ok = c.VectorField(t, R::VT_STRS, 4, &vec) && (vec == 0 || c.Strings(vec));
        break;
      default: return false;  // not a flat class: the caller checks kFlatClasses
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool VerifyRowForView(const uint8_t* data, size_t len, const ViewInfo& view) {
  if ((view.class_mask & ~kFlatClasses) != 0) return VerifyRowForViewReference(data, len, view);
  return VerifyFlatRow(data, len, view.class_mask);
}

namespace {

template <typename Vec>
bool InRange(const Vec* v, uint32_t slot) {
  return v != nullptr && slot < v->size();
}

template <typename ListVec, typename Fn>
bool DecodeList(const ListVec* lists, uint32_t slot, Fn&& each) {
  if (!InRange(lists, slot)) return false;
  const auto* item = lists->Get(slot);
  if (item == nullptr) return false;
  if (const auto* v = item->v()) {
    for (auto x : *v) each(x);
  }
  return true;
}

}  // namespace

bool RowHasSlot(const fb::Row* row, const FeatureInfo& f) {
  const uint32_t s = f.slot;
  switch (f.cls) {
    case StorageClass::kI32:
      return InRange(row->i32(), s);
    case StorageClass::kI64:
      return InRange(row->i64(), s);
    case StorageClass::kF32:
      return InRange(row->f32(), s);
    case StorageClass::kF64:
      return InRange(row->f64(), s);
    case StorageClass::kBool:
      return InRange(row->bools(), s);
    case StorageClass::kStr:
      return InRange(row->strs(), s);
    case StorageClass::kBytes:
      return InRange(row->bytes(), s);
    case StorageClass::kI32List:
      return InRange(row->i32_lists(), s);
    case StorageClass::kI64List:
      return InRange(row->i64_lists(), s);
    case StorageClass::kF32List:
      return InRange(row->f32_lists(), s);
    case StorageClass::kF64List:
      return InRange(row->f64_lists(), s);
    case StorageClass::kBoolList:
      return InRange(row->bool_lists(), s);
    case StorageClass::kStrList:
      return InRange(row->str_lists(), s);
    case StorageClass::kBytesList:
      return InRange(row->bytes_lists(), s);
    case StorageClass::kCount:
      break;
  }
  return false;
}

bool DecodeFeature(const fb::Row* row, const FeatureInfo& f, Value* out) {
  out->dtype = f.dtype;
  out->is_null = false;
  switch (f.cls) {
    case StorageClass::kI32:
      if (!InRange(row->i32(), f.slot)) return false;
      out->i64 = row->i32()->Get(f.slot);
      return true;
    case StorageClass::kI64:
      if (!InRange(row->i64(), f.slot)) return false;
      out->i64 = row->i64()->Get(f.slot);
      return true;
    case StorageClass::kF32:
      if (!InRange(row->f32(), f.slot)) return false;
      out->f64 = row->f32()->Get(f.slot);
      return true;
    case StorageClass::kF64:
      if (!InRange(row->f64(), f.slot)) return false;
      out->f64 = row->f64()->Get(f.slot);
      return true;
    case StorageClass::kBool:
      if (!InRange(row->bools(), f.slot)) return false;
      out->i64 = row->bools()->Get(f.slot) ? 1 : 0;
      return true;
    case StorageClass::kStr: {
      if (!InRange(row->strs(), f.slot)) return false;
      const auto* s = row->strs()->Get(f.slot);
      if (s == nullptr) return false;
      out->str.assign(s->data(), s->size());
      return true;
    }
    case StorageClass::kBytes: {
      if (!InRange(row->bytes(), f.slot)) return false;
      const auto* b = row->bytes()->Get(f.slot);
      if (b == nullptr) return false;
      out->str.clear();
      if (b->v()) out->str.assign(reinterpret_cast<const char*>(b->v()->data()), b->v()->size());
      return true;
    }
    case StorageClass::kI32List:
      out->i64s.clear();
      return DecodeList(row->i32_lists(), f.slot, [&](int32_t x) { out->i64s.push_back(x); });
    case StorageClass::kI64List:
      out->i64s.clear();
      return DecodeList(row->i64_lists(), f.slot, [&](int64_t x) { out->i64s.push_back(x); });
    case StorageClass::kF32List:
      out->f64s.clear();
      return DecodeList(row->f32_lists(), f.slot, [&](float x) { out->f64s.push_back(x); });
    case StorageClass::kF64List:
      out->f64s.clear();
      return DecodeList(row->f64_lists(), f.slot, [&](double x) { out->f64s.push_back(x); });
    case StorageClass::kBoolList:
      out->i64s.clear();
      return DecodeList(row->bool_lists(), f.slot, [&](uint8_t x) { out->i64s.push_back(x != 0); });
    case StorageClass::kStrList:
      out->strs.clear();
      return DecodeList(row->str_lists(), f.slot, [&](const flatbuffers::String* s) {
        out->strs.emplace_back(s ? s->str() : std::string());
      });
    case StorageClass::kBytesList:
      out->strs.clear();
      return DecodeList(row->bytes_lists(), f.slot, [&](const fb::BytesValue* b) {
        std::string s;
        if (b && b->v()) s.assign(reinterpret_cast<const char*>(b->v()->data()), b->v()->size());
        out->strs.push_back(std::move(s));
      });
    case StorageClass::kCount:
      return false;
  }
  return false;
}

}  // namespace larder
