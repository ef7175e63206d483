// Row verification (engine/rows/row_codec.h): VerifyRowBuffer checks a whole row; VerifyRowForView
// checks what reading one view's features touches. Valid rows of every dtype pass both; a
// truncated or damaged row fails whichever verifier covers the damaged part; a damaged vector
// of a class the view never reads fails only the whole-row check.
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/rows/catalog.h"
#include "engine/rows/row_codec.h"
#include "fuzz/fuzz_targets.h"

namespace larder {
namespace {

class RowVerify : public ::testing::Test {
 protected:
  // The views of fuzz/fuzz_targets.h's kRowVerifyRepo (also fuzz_row_verify's).
  void SetUp() override {
    const Catalog& cat = fuzz::RowVerifyCatalog();
    every_ = cat.FindView("every_kind");
    floats_ = cat.FindView("floats");
    flat_ = cat.FindView("flat");
    ASSERT_NE(every_, nullptr);
    ASSERT_NE(floats_, nullptr);
    ASSERT_NE(flat_, nullptr);
  }

  // A row of `flat`: feature i null when bit i of `nulls` is set; strings `s` and `s2`.
  std::vector<uint64_t> FlatRow(uint32_t nulls, const std::string& s, size_t* len) {
    return EncodeRow(*flat_, 0, len, [&](const FeatureInfo& f, Value* v) {
      v->is_null = ((nulls >> f.index) & 1) != 0;
      v->i64 = -3;
      v->f64 = 1.25;
      v->str = f.name == "s" ? s : "second";
    });
  }

  // A row of `every_kind` with a value in every feature, in an 8-aligned buffer (as in the
  // segment).
  std::vector<uint64_t> EveryKindRow(size_t* len) {
    return EncodeRow(*every_, 5, len, [](const FeatureInfo&, Value* v) {
      v->i64 = 7;
      v->f64 = 0.5;
      v->str = "text";
      v->i64s = {1, 2, 3};
      v->f64s = {0.25, 0.75};
      v->strs = {"a", "bc"};
    });
  }

  // A row of `view` (each feature's Value filled by `fill`), encoded by RowEncoder into an
  // 8-aligned buffer, as rows sit in the segment.
  template <typename Fill>
  static std::vector<uint64_t> EncodeRow(const ViewInfo& view, int64_t created, size_t* len,
                                         Fill fill) {
    std::vector<Value> values;
    for (const FeatureInfo& f : view.features) {
      Value v;
      v.dtype = f.dtype;
      fill(f, &v);
      values.push_back(v);
    }
    RowEncoder enc;
    std::string_view b = enc.Encode(view, 1'700'000'000'000'000, created, values.data());
    std::vector<uint64_t> buf((b.size() + 7) / 8);
    std::memcpy(buf.data(), b.data(), b.size());
    *len = b.size();
    return buf;
  }

  const ViewInfo* every_ = nullptr;
  const ViewInfo* floats_ = nullptr;
  const ViewInfo* flat_ = nullptr;
};

TEST_F(RowVerify, ValidRowsOfEveryKindPassBoth) {
  size_t len = 0;
  auto buf = EveryKindRow(&len);
  const auto* data = reinterpret_cast<const uint8_t*>(buf.data());
  EXPECT_TRUE(VerifyRowBuffer(data, len));
  EXPECT_TRUE(VerifyRowForView(data, len, *every_));
  const fb::Row* row = RowFromBuffer(data);
  for (const FeatureInfo& f : every_->features) {
    Value out;
    EXPECT_TRUE(DecodeFeature(row, f, &out)) << f.name;
  }
}

// Every truncation of a valid row fails both verifiers (the row's vectors end near its end).
TEST_F(RowVerify, TruncatedRowsFail) {
  size_t len = 0;
  auto buf = EveryKindRow(&len);
  const auto* data = reinterpret_cast<const uint8_t*>(buf.data());
  for (size_t cut = 0; cut + 8 <= len; ++cut) {
    SCOPED_TRACE(cut);
    EXPECT_FALSE(VerifyRowBuffer(data, cut));
    EXPECT_FALSE(VerifyRowForView(data, cut, *every_));
  }
}

// A vector whose length runs past the buffer, or a vector of doubles 4 bytes off its
// alignment, fails both when the view reads that class.
TEST_F(RowVerify, DamagedVectorsOfTheViewsClassesFail) {
  size_t len = 0;
  auto buf = EveryKindRow(&len);
  auto* data = reinterpret_cast<uint8_t*>(buf.data());
  const fb::Row* row = RowFromBuffer(data);
  const size_t f64_len_at = static_cast<size_t>(row->f64()->Data() - data) - 4;
  const size_t str_len_at =
      static_cast<size_t>(reinterpret_cast<const uint8_t*>(row->strs()->Get(0)) - data);
  for (size_t at : {f64_len_at, str_len_at}) {
    SCOPED_TRACE(at);
    auto damaged = buf;
    auto* d = reinterpret_cast<uint8_t*>(damaged.data());
    const uint32_t huge = 0x10000000;
    std::memcpy(d + at, &huge, 4);
    EXPECT_FALSE(VerifyRowBuffer(d, len));
    EXPECT_FALSE(VerifyRowForView(d, len, *every_));
  }
  // The uoffset to the f64 vector moved by 4: its elements sit at 4 mod 8.
  const size_t f64_field_at = static_cast<size_t>(
      reinterpret_cast<const uint8_t*>(row) +
      reinterpret_cast<const flatbuffers::Table*>(row)->GetOptionalFieldOffset(fb::Row::VT_F64) -
      data);
  auto shifted = buf;
  auto* d = reinterpret_cast<uint8_t*>(shifted.data());
  uint32_t off = 0;
  std::memcpy(&off, d + f64_field_at, 4);
  off -= 4;
  std::memcpy(d + f64_field_at, &off, 4);
  EXPECT_FALSE(VerifyRowBuffer(d, len));
  EXPECT_FALSE(VerifyRowForView(d, len, *every_));
}

// A row carrying a damaged vector of a class `floats` never reads: the whole-row check fails,
// the view's check passes, and the view's features decode from the verified part.
TEST_F(RowVerify, ClassesTheViewDoesNotReadAreNotChecked) {
  flatbuffers::FlatBufferBuilder b;
  auto f32 = b.CreateVector(std::vector<float>{1.5f, 2.5f});
  auto i32 = b.CreateVector(std::vector<int32_t>{1, 2, 3});
  fb::RowBuilder rb(b);
  rb.add_event_ts(1);
  rb.add_f32(f32);
  rb.add_i32(i32);
  b.Finish(rb.Finish());
  std::vector<uint64_t> buf((b.GetSize() + 7) / 8);
  std::memcpy(buf.data(), b.GetBufferPointer(), b.GetSize());
  auto* data = reinterpret_cast<uint8_t*>(buf.data());
  const size_t len = b.GetSize();
  ASSERT_TRUE(VerifyRowBuffer(data, len));
  const fb::Row* row = RowFromBuffer(data);
  const size_t i32_len_at = static_cast<size_t>(row->i32()->Data() - data) - 4;
  const uint32_t huge = 0x10000000;
  std::memcpy(data + i32_len_at, &huge, 4);
  EXPECT_FALSE(VerifyRowBuffer(data, len));
  ASSERT_TRUE(VerifyRowForView(data, len, *floats_));
  Value a, c;
  ASSERT_TRUE(DecodeFeature(row, floats_->features[0], &a));
  ASSERT_TRUE(DecodeFeature(row, floats_->features[1], &c));
  EXPECT_EQ(a.f64, 1.5);
  EXPECT_EQ(c.f64, 2.5);
  EXPECT_FALSE(VerifyRowForView(data, len, *every_));
}

// For views of scalar and String features VerifyRowForView runs its own written-out checks;
// they must accept exactly what the reference (FlatBuffers' own verifier calls) accepts: on
// valid rows, every truncation, and random damage to every part of the row. Whatever is
// accepted decodes (under ASan, without reading outside the buffer).
TEST_F(RowVerify, WrittenOutChecksAgreeWithTheReference) {
  std::mt19937_64 rng(99);
  size_t accepted = 0, refused = 0;
  for (uint32_t nulls : {0u, 0b100101u, 0xffu}) {
    for (const std::string& text : {std::string(), std::string("user-42"), std::string(300, 'x')}) {
      SCOPED_TRACE("nulls " + std::to_string(nulls) + ", string of " + std::to_string(text.size()));
      size_t len = 0;
      const auto good = FlatRow(nulls, text, &len);
      const auto* data = reinterpret_cast<const uint8_t*>(good.data());
      ASSERT_TRUE(VerifyRowForViewReference(data, len, *flat_));
      ASSERT_TRUE(VerifyRowForView(data, len, *flat_));
      for (size_t cut = 0; cut < len; ++cut) {
        ASSERT_EQ(VerifyRowForView(data, cut, *flat_), VerifyRowForViewReference(data, cut, *flat_))
            << "cut " << cut;
      }
      for (int trial = 0; trial < 5000; ++trial) {
        auto damaged = good;
        auto* d = reinterpret_cast<uint8_t*>(damaged.data());
        // One to three bytes, or one aligned 32-bit word (offsets and lengths), rewritten.
        if (trial % 2 == 0) {
          for (int k = 0; k <= trial % 3; ++k) d[rng() % len] = static_cast<uint8_t>(rng());
        } else {
          const size_t at = (rng() % (len / 4)) * 4;
          const uint32_t word =
              trial % 4 == 1 ? static_cast<uint32_t>(rng() % 512) : static_cast<uint32_t>(rng());
          std::memcpy(d + at, &word, 4);
        }
        const bool fast = VerifyRowForView(d, len, *flat_);
        ASSERT_EQ(fast, VerifyRowForViewReference(d, len, *flat_)) << "trial " << trial;
        if (!fast) {
          ++refused;
          continue;
        }
        ++accepted;
        const fb::Row* row = RowFromBuffer(d);
        const auto* nulls_vec = row->nulls();
        for (const FeatureInfo& f : flat_->features) {
          Value out;
          if (!IsNullIn(nulls_vec, f)) (void)DecodeFeature(row, f, &out);
        }
      }
    }
  }
  // Both outcomes were exercised.
  EXPECT_GT(accepted, 1000u);
  EXPECT_GT(refused, 1000u);
}

}  // namespace
}  // namespace larder
