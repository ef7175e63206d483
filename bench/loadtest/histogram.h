// A log-linear latency histogram in the manner of HdrHistogram: values (nanoseconds) below
// 2 * kSub are counted exactly; above, each power-of-two range is split into kSub equal
// buckets, so a recorded value is known to within 1/kSub (0.8%). Fixed size (no allocation
// while recording), mergeable, and sent between processes as raw counts.
// Thread-safety: one writer; merge copies.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace larder::loadtest {

class Histogram {
 public:
  static constexpr uint32_t kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 128 buckets per power of two
  static constexpr uint32_t kMaxBits = 40;                    // values up to ~18 minutes (ns)
  static constexpr size_t kBuckets = (kMaxBits - kSubBits + 1) * kSub;

  static size_t IndexOf(uint64_t v) {
    if (v >= (uint64_t{1} << kMaxBits)) v = (uint64_t{1} << kMaxBits) - 1;
    if (v < 2 * kSub) return static_cast<size_t>(v);
    const uint32_t msb = 63 - static_cast<uint32_t>(std::countl_zero(v));
    const uint32_t shift = msb - kSubBits;
    return static_cast<size_t>((shift + 1) * kSub + ((v >> shift) - kSub));
  }
  // The largest value that lands in bucket `i` (HdrHistogram's "highest equivalent value").
  static uint64_t HighestOf(size_t i) {
    if (i < 2 * kSub) return i;
    const uint64_t shift = i / kSub - 1;
    const uint64_t sub = i % kSub + kSub;
    return ((sub + 1) << shift) - 1;
  }
  static uint64_t LowestOf(size_t i) {
    if (i < 2 * kSub) return i;
    const uint64_t shift = i / kSub - 1;
    return (i % kSub + kSub) << shift;
  }

  void Record(uint64_t ns) {
    ++counts_[IndexOf(ns)];
    ++total_;
    sum_ += ns;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
  }

  void Merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

  void Clear() { *this = Histogram(); }

  // The value at quantile q (0..1): the highest value of the bucket holding the q-th sample,
  // clamped to the exact min and max. 0 when empty.
  uint64_t Quantile(double q) const {
    if (total_ == 0) return 0;
    if (q <= 0) return min_;
    if (q >= 1) return max_;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return std::clamp(HighestOf(i), min_, max_);
    }
    return max_;
  }

  uint64_t count() const { return total_; }
  uint64_t min() const { return total_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0; }
  const std::array<uint64_t, kBuckets>& counts() const { return counts_; }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

}  // namespace larder::loadtest
