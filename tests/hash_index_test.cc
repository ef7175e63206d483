// The index type on its own (engine/index/): probing, tags, wrap-around, rebuild and iteration,
// over a private buffer laid out as a segment (header, row blocks, then the table).
#include "engine/index/hash_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "engine/index/index_writer.h"
#include "layout/segment_layout.h"

namespace larder {
namespace {

// A segment-shaped buffer: rows from kHeaderSize on, index tables after them.
class Segment {
 public:
  Segment() : mem_(kBytes / 8, 0) {}

  uint8_t* base() { return reinterpret_cast<uint8_t*>(mem_.data()); }
  uint64_t size() const { return kBytes; }

  // Writes a row block of `view_id` with key `key`; returns its offset.
  uint64_t AddRow(uint32_t view_id, const std::string& key) {
    const uint64_t bytes = layout::RowBlockBytes(key.size(), 8);
    const uint64_t off = top_;
    top_ += bytes;
    EXPECT_LE(top_, kRowsEnd);
    auto* h = reinterpret_cast<layout::BlockHeader*>(base() + off);
    h->units = static_cast<uint32_t>(bytes / layout::kBlockAlign);
    h->kind = layout::BlockKind::kRow;
    h->key_len = static_cast<uint16_t>(key.size());
    h->view_id = view_id;
    h->payload_len = 8;
    std::memcpy(base() + off + layout::kRowKeyOffset, key.data(), key.size());
    return off;
  }

  // A fresh (zero) table of 2^log2 buckets after the rows, as a rebuild allocates one.
  HashIndex NewTable(uint32_t log2) {
    const uint64_t data = next_table_;
    next_table_ += (layout::IndexDataBytes(log2) + 63) & ~uint64_t{63};
    EXPECT_LE(next_table_, kBytes);
    return HashIndex::FromDesc(base(), layout::MakeIndexDesc(data, log2));
  }

  // The raw word at `position` of a table whose words start at `data`: what damage or a
  // hand-built table looks like.
  std::atomic<uint64_t>& Word(const HashIndex& idx, uint64_t position) {
    return reinterpret_cast<std::atomic<uint64_t>*>(base() + idx.data_offset())[position];
  }

 private:
  static constexpr uint64_t kBytes = 1 << 20;
  static constexpr uint64_t kRowsEnd = 1 << 19;
  std::vector<uint64_t> mem_;
  uint64_t top_ = layout::kHeaderSize;
  uint64_t next_table_ = kRowsEnd;
};

// A hash with home bucket `bucket` (of a small table) and tag `tag`.
uint64_t HashOf(uint64_t bucket, uint16_t tag) { return (uint64_t{tag} << 48) | bucket; }

// Publishes `row` for (view_id, key, hash) as a push does; returns the slot it took.
IndexSlot Publish(Segment& seg, const HashIndex& idx, uint64_t hash, uint32_t view_id,
                  const std::string& key, uint64_t row) {
  const IndexSlot p = idx.Find(seg.base(), seg.size(), hash, view_id, key);
  EXPECT_TRUE(p.has_slot());
  const IndexWriter writer(idx);
  writer.Publish(p, hash, row);
  writer.RefreshRunHintAfter(p, hash);
  return p;
}

TEST(HashIndex, FindsPublishedKeysAndTheEmptySlotForAbsentOnes) {
  Segment seg;
  const HashIndex idx = seg.NewTable(2);
  const uint64_t a = seg.AddRow(1, "alpha");
  const uint64_t h = HashOf(3, 0x1234);
  EXPECT_FALSE(idx.Find(seg.base(), seg.size(), h, 1, "alpha").found());
  Publish(seg, idx, h, 1, "alpha", a);
  const IndexSlot p = idx.Find(seg.base(), seg.size(), h, 1, "alpha");
  ASSERT_TRUE(p.found());
  EXPECT_EQ(p.row(), a);
  EXPECT_EQ(idx.FindRow(seg.base(), seg.size(), h, 1, "alpha"),
            reinterpret_cast<const layout::BlockHeader*>(seg.base() + a));
  // Same tag and bucket, another view or key: not this row.
  EXPECT_FALSE(idx.Find(seg.base(), seg.size(), h, 2, "alpha").found());
  EXPECT_FALSE(idx.Find(seg.base(), seg.size(), h, 1, "alphb").found());
  EXPECT_EQ(idx.FindRow(seg.base(), seg.size(), h, 1, "alphb"), nullptr);
}

TEST(HashIndex, ProbeStopsAtTheFirstEmptyWord) {
  Segment seg;
  const HashIndex idx = seg.NewTable(2);
  const uint64_t h = HashOf(0, 7);
  Publish(seg, idx, h, 1, "k0", seg.AddRow(1, "k0"));
  Publish(seg, idx, h, 1, "k1", seg.AddRow(1, "k1"));
  // A word for "k5" placed past a gap (positions 2..4 empty): writers never leave one, so a
  // probe that stops at the first empty word does not see it.
  const uint64_t k5 = seg.AddRow(1, "k5");
  seg.Word(idx, 5).store(layout::MakeIndexWord(layout::TagOf(h), k5));
  EXPECT_FALSE(idx.Find(seg.base(), seg.size(), h, 1, "k5").found());
  // The slot an absent key would take is that first empty word.
  const IndexSlot p = Publish(seg, idx, h, 1, "k2", seg.AddRow(1, "k2"));
  EXPECT_FALSE(p.found());
  std::set<uint64_t> positions;
  idx.ForEach([&](const IndexEntry& e) { positions.insert(e.position()); });
  EXPECT_EQ(positions, (std::set<uint64_t>{0, 1, 2, 5}));
  // With the gap filled the probe reaches "k5".
  Publish(seg, idx, h, 1, "k3", seg.AddRow(1, "k3"));
  Publish(seg, idx, h, 1, "k4", seg.AddRow(1, "k4"));
  EXPECT_TRUE(idx.Find(seg.base(), seg.size(), h, 1, "k5").found());
}

TEST(HashIndex, ATagMismatchIsNotAMatch) {
  Segment seg;
  const HashIndex idx = seg.NewTable(2);
  const uint64_t row = seg.AddRow(1, "key");
  const uint64_t h = HashOf(1, 0xBEEF);
  Publish(seg, idx, h, 1, "key", row);
  const uint64_t other_tag = HashOf(1, 0xBEEE);  // same bucket, same row bytes, other tag
  EXPECT_FALSE(idx.Find(seg.base(), seg.size(), other_tag, 1, "key").found());
  EXPECT_EQ(idx.CandidateRow(other_tag), 0u);
  EXPECT_EQ(idx.CandidateRow(h), row);
  idx.ForEach([&](const IndexEntry& e) {
    EXPECT_TRUE(e.TagMatches(h));
    EXPECT_FALSE(e.TagMatches(other_tag));
  });
}

TEST(HashIndex, ProbeWrapsFromTheLastBucketToTheFirst) {
  Segment seg;
  const HashIndex idx = seg.NewTable(1);  // 2 buckets, 16 words
  const uint64_t last = idx.buckets() - 1;
  std::vector<uint64_t> rows;
  for (uint32_t i = 0; i <= layout::kBucketWords; ++i) {
    const std::string key = "w" + std::to_string(i);
    rows.push_back(seg.AddRow(1, key));
    const IndexSlot p = Publish(seg, idx, HashOf(last, 9), 1, key, rows.back());
    EXPECT_FALSE(p.found());
  }
  // The ninth key overflowed the last bucket into bucket 0, word 0.
  bool wrapped = false;
  idx.ForEach([&](const IndexEntry& e) {
    if (e.row() != rows.back()) return;
    wrapped = true;
    EXPECT_EQ(e.position(), 0u);
    EXPECT_EQ(e.bucket(), 0u);
    EXPECT_EQ(idx.ProbeBuckets(e, HashOf(last, 9)), 2u);
    EXPECT_EQ(idx.ProbeWords(e, HashOf(last, 9)), layout::kBucketWords + 1);
  });
  EXPECT_TRUE(wrapped);
  const std::string key = "w" + std::to_string(layout::kBucketWords);
  const IndexSlot p = idx.Find(seg.base(), seg.size(), HashOf(last, 9), 1, key);
  ASSERT_TRUE(p.found());
  EXPECT_EQ(p.row(), rows.back());
  // A miss from the last bucket loads its 8 words, the one in bucket 0, then the empty one.
  EXPECT_EQ(idx.MissProbeWords(last), layout::kBucketWords + 2);
}

TEST(HashIndex, ForEachVisitsEveryPublishedWordOnce) {
  Segment seg;
  const HashIndex idx = seg.NewTable(4);
  std::set<uint64_t> published;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "key" + std::to_string(i);
    const uint64_t hash = HashEntityKey(1, key);
    const uint64_t row = seg.AddRow(1, key);
    Publish(seg, idx, hash, 1, key, row);
    published.insert(row);
  }
  // Replacing a key's row reuses its word: still one entry for it.
  const uint64_t newer = seg.AddRow(1, "key0");
  Publish(seg, idx, HashEntityKey(1, "key0"), 1, "key0", newer);
  published.erase(layout::kHeaderSize);  // key0's first row
  published.insert(newer);
  std::multiset<uint64_t> read_side, write_side;
  std::set<uint64_t> positions;
  idx.ForEach([&](const IndexEntry& e) {
    read_side.insert(e.row());
    positions.insert(e.position());
  });
  IndexWriter(idx).ForEach([&](const IndexEntry& e) { write_side.insert(e.row()); });
  EXPECT_EQ(read_side, std::multiset<uint64_t>(published.begin(), published.end()));
  EXPECT_EQ(write_side, read_side);
  EXPECT_EQ(positions.size(), published.size());
}

TEST(HashIndex, RebuildKeepsEveryEntryAndDropsWhatItIsTold) {
  Segment seg;
  const HashIndex small = seg.NewTable(2);
  std::vector<std::pair<uint32_t, std::string>> keys;
  for (int i = 0; i < 25; ++i) {
    const uint32_t view = i % 5 == 0 ? 2 : 1;
    const std::string key = "entity-" + std::to_string(i);
    Publish(seg, small, HashEntityKey(view, key), view, key, seg.AddRow(view, key));
    keys.emplace_back(view, key);
  }
  // Keep everything, at four times the size.
  const HashIndex big = seg.NewTable(4);
  std::vector<uint64_t> dropped;
  const int64_t kept = IndexWriter(big).RebuildFrom(
      seg.base(), small, [](const layout::BlockHeader&) { return true; },
      [&](uint64_t row) { dropped.push_back(row); });
  EXPECT_EQ(kept, 25);
  EXPECT_TRUE(dropped.empty());
  for (const auto& [view, key] : keys) {
    const uint64_t hash = HashEntityKey(view, key);
    const IndexSlot was = small.Find(seg.base(), seg.size(), hash, view, key);
    const IndexSlot now = big.Find(seg.base(), seg.size(), hash, view, key);
    ASSERT_TRUE(now.found()) << key;
    EXPECT_EQ(now.row(), was.row()) << key;
  }
  // Without view 2: its five rows are handed back, the others kept.
  const HashIndex without = seg.NewTable(4);
  const int64_t kept1 = IndexWriter(without).RebuildFrom(
      seg.base(), small, [](const layout::BlockHeader& row) { return row.view_id != 2; },
      [&](uint64_t row) { dropped.push_back(row); });
  EXPECT_EQ(kept1, 20);
  EXPECT_EQ(dropped.size(), 5u);
  for (const auto& [view, key] : keys) {
    EXPECT_EQ(without.Find(seg.base(), seg.size(), HashEntityKey(view, key), view, key).found(),
              view != 2)
        << key;
  }
  // A table too small to hold them all reports the overflow.
  const HashIndex tiny = seg.NewTable(0);  // 8 words
  EXPECT_EQ(
      IndexWriter(tiny).RebuildFrom(
          seg.base(), small, [](const layout::BlockHeader&) { return true; }, [](uint64_t) {}),
      -1);
}

}  // namespace
}  // namespace larder
