// What `larder apply` does to each feature view, worked out before anything is written: shared
// by apply and by `larder plan` (its dry run).
//
// A view keeps its id, and so its rows, across compatible changes: features added (rows written
// before read them as NOT_FOUND), features removed (their slots stay reserved: see
// FieldDef::slot), reordered features, and changes of ttl, source, description, tags or owner.
// A changed join key or feature dtype re-creates the view under a new id, empty (so does a
// layout whose slots have run out: kMaxLayoutSlots); a view no longer in the repo is dropped.
// A kept view that gains a feature forgets its materialized intervals, so that
// materialize-incremental loads the new feature's history. Either discards the view's rows, which
// apply refuses to do without `force`. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "larder/repo_config.h"
#include "larder/status.h"

namespace larder {

struct ViewChange {
  enum class Kind { kCreate, kKeep, kUpdate, kRecreate, kDrop };
  Kind kind = Kind::kKeep;
  std::string view;
  uint64_t rows = 0;                 // rows the view holds now (0 for kCreate)
  std::vector<std::string> added;    // kUpdate: features added, "'name' (dtype)"
  std::vector<std::string> removed;  // kUpdate: features removed
  std::vector<std::string> fields;   // kUpdate: other settings changed ("ttl", "source", ...)
  std::string reason;                // kRecreate: what changed incompatibly
  bool Discards() const { return (kind == Kind::kRecreate || kind == Kind::kDrop) && rows > 0; }
};

struct SchemaPlan {
  std::vector<ViewChange> changes;  // the new repo's views in order, then the dropped ones
  std::set<uint32_t> dead_ids;      // ids whose rows go (re-created and dropped views)
  uint64_t DiscardedRows() const;
  bool ViewsChanged() const;     // anything but kKeep
  bool RetiresFeatures() const;  // some kept view loses a feature
};

// Plans `next` against `prev` (nullptr: a new store) and assigns its views' ids (from
// *next_id) and row layouts; carries materialized intervals of views that keep their id.
// `rows_of(id)` gives the rows a view of `prev` holds; it is called only for views whose rows
// a change discards or reads differently.
SchemaPlan PlanSchema(const RepoConfig* prev, uint32_t* next_id, RepoConfig* next,
                      const std::function<uint64_t(uint32_t)>& rows_of);

// One line per change, for the CLI: in the past tense for apply's report, else as a plan.
std::vector<std::string> DescribePlan(const SchemaPlan& plan, bool done);

// The error apply returns without `force` when the plan discards rows: it names each view and
// its rows, and says that nothing was changed.
Status DiscardRefused(const SchemaPlan& plan);

}  // namespace larder
