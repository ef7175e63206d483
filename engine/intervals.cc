// Store::RecordIntervals: materialized intervals live in the registry, per view, merged.
#include <algorithm>
#include <map>

#include "engine/quote.h"
#include "engine/rows/registry_codec.h"
#include "engine/store_impl.h"

namespace larder {

namespace {

// Sorts and coalesces intervals that overlap or touch.
std::vector<MaterializedInterval> Merge(std::vector<MaterializedInterval> in) {
  std::sort(in.begin(), in.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  std::vector<MaterializedInterval> out;
  for (MaterializedInterval& i : in) {
    if (!out.empty() && i.start <= out.back().end) {
      out.back().end = std::max(out.back().end, i.end);
    } else {
      out.push_back(std::move(i));
    }
  }
  return out;
}

}  // namespace

Status Store::RecordIntervals(const std::vector<MaterializedInterval>& intervals) {
  if (intervals.empty()) return Status::Ok();
  LARDER_ASSIGN_OR_RETURN(auto ws, WriteSession::Begin(*impl_));
  uint32_t next_id = 0;
  uint64_t reg_off = impl_->header()->registry_block.load(std::memory_order_acquire);
  LARDER_ASSIGN_OR_RETURN(RepoConfig reg, ReadRegistryBlock(*impl_->seg, reg_off, &next_id));
  std::map<std::string, std::vector<MaterializedInterval>> by_view;
  for (const MaterializedInterval& i : intervals) {
    if (reg.FindView(i.view) == nullptr) {
      return Status(ErrorCode::kFeatureViewNotFound,
                    "feature view " + QuoteInput(i.view) + " is not in the registry");
    }
    if (i.start > i.end) {
      return InvalidArgument("interval of feature view '" + i.view + "' starts after it ends");
    }
    by_view[i.view].push_back(i);
  }
  std::vector<MaterializedInterval> kept;
  for (MaterializedInterval& i : reg.intervals) {
    auto it = by_view.find(i.view);
    if (it == by_view.end()) {
      kept.push_back(std::move(i));
    } else {
      it->second.push_back(std::move(i));
    }
  }
  for (auto& [view, list] : by_view) {
    for (MaterializedInterval& i : Merge(std::move(list))) kept.push_back(std::move(i));
  }
  reg.intervals = std::move(kept);
  return ws->PublishRegistry(EncodeRegistry(reg, next_id));
}

}  // namespace larder
