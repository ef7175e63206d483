// The data set, the response checks shared by every system, and the lookup sequence.
#include "bench/loadtest/loadtest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

namespace larder::loadtest {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> FeatureNames(const Config& c) {
  std::vector<std::string> names;
  for (int i = 0; i < c.float_features; ++i) names.push_back("f" + std::to_string(i));
  for (int j = 0; j < c.string_features; ++j) names.push_back("s" + std::to_string(j));
  return names;
}

void PrepareResponse(const Config& c, size_t n, OnlineResponse* resp) {
  const size_t cols = 1 + static_cast<size_t>(c.float_features + c.string_features);
  if (resp->results.size() != cols) {
    resp->feature_names = {kJoinKey};
    for (const std::string& f : FeatureNames(c)) resp->feature_names.push_back(f);
    resp->results.assign(cols, FeatureColumn{});
  }
  for (size_t k = 0; k < cols; ++k) {
    FeatureColumn& col = resp->results[k];
    const DType t = k == 0 ? DType{ScalarType::kInt64, false}
                    : k <= static_cast<size_t>(c.float_features) ? DType{ScalarType::kFloat32, false}
                                                                 : DType{ScalarType::kString, false};
    col.values.resize(n);
    for (Value& v : col.values) {
      v.dtype = t;
      v.is_null = true;
    }
    col.statuses.assign(n, k == 0 ? FieldStatus::kPresent : FieldStatus::kNotFound);
    col.event_timestamps.assign(n, 0);
  }
}

bool CheckResponseRow(const Config& c, const OnlineResponse& resp, size_t r, int64_t id) {
  const size_t want = 1 + static_cast<size_t>(c.float_features + c.string_features);
  if (resp.results.size() != want || r >= resp.results[0].values.size()) return false;
  size_t k = 1;
  for (int i = 0; i < c.float_features; ++i, ++k) {
    const FeatureColumn& col = resp.results[k];
    if (col.statuses[r] != FieldStatus::kPresent || col.values[r].is_null ||
        col.values[r].f64 != static_cast<double>(FloatValue(id, i)) ||
        col.event_timestamps[r] < kBaseSeconds * 1'000'000) {
      return false;
    }
  }
  for (int j = 0; j < c.string_features; ++j, ++k) {
    const FeatureColumn& col = resp.results[k];
    if (col.statuses[r] != FieldStatus::kPresent || col.values[r].str != StringValue(id, j)) {
      return false;
    }
  }
  return true;
}

std::vector<int64_t> MakeSequence(const Config& c) {
  const uint64_t len = std::max<uint64_t>(c.sequence, static_cast<uint64_t>(c.batch));
  std::vector<int64_t> seq(len + static_cast<uint64_t>(c.batch));
  std::mt19937_64 rng(c.seed);
  const uint64_t n = static_cast<uint64_t>(c.entities);
  if (c.dist == "zipf") {
    // P(rank k) ~ 1 / k^s over all entities; ranks are assigned to ids by a seeded shuffle, so
    // hot entities are spread over the index and the arena.
    std::vector<double> cdf(n);
    double sum = 0;
    for (uint64_t k = 0; k < n; ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), c.zipf_s);
      cdf[k] = sum;
    }
    std::vector<int64_t> id_of_rank(n);
    std::iota(id_of_rank.begin(), id_of_rank.end(), int64_t{0});
    std::shuffle(id_of_rank.begin(), id_of_rank.end(), rng);
    std::uniform_real_distribution<double> u(0, sum);
    for (uint64_t i = 0; i < len; ++i) {
      const uint64_t rank =
          static_cast<uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
      seq[i] = id_of_rank[std::min(rank, n - 1)];
    }
  } else {
    for (uint64_t i = 0; i < len; ++i) seq[i] = static_cast<int64_t>(rng() % n);
  }
  // The tail repeats the head, so a batch starting near the end reads contiguous ids.
  for (uint64_t i = 0; i < static_cast<uint64_t>(c.batch); ++i) seq[len + i] = seq[i];
  return seq;
}

}  // namespace larder::loadtest
