#include "engine/schema_plan.h"

#include <algorithm>

#include "engine/rows/catalog.h"

namespace larder {

namespace {

std::string Rows(uint64_t n) { return std::to_string(n) + (n == 1 ? " row" : " rows"); }

std::string Quoted(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

std::string KeysText(const std::vector<JoinKeyDef>& keys) {
  std::string out;
  for (const JoinKeyDef& k : keys) {
    out += (out.empty() ? "" : ", ") + k.name + " " + DTypeName(DType{k.type, false});
  }
  return "(" + out + ")";
}

const FieldDef* FindField(const std::vector<FieldDef>& fields, const std::string& name) {
  for (const FieldDef& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// What keeps `old_v`'s rows from being read as `new_v`'s: "" when nothing does.
std::string IncompatibleChange(const FeatureViewDef& old_v, const FeatureViewDef& new_v) {
  if (!(old_v.join_keys == new_v.join_keys)) {
    return "its entity key columns change from " + KeysText(old_v.join_keys) + " to " +
           KeysText(new_v.join_keys);
  }
  for (const FieldDef& f : new_v.features) {
    const FieldDef* old_f = FindField(old_v.features, f.name);
    if (old_f != nullptr && !(old_f->dtype == f.dtype)) {
      return "feature '" + f.name + "' changes dtype from " + DTypeName(old_f->dtype) + " to " +
             DTypeName(f.dtype);
    }
  }
  return "";
}

// Settings of a kept view that changed without touching its rows.
std::vector<std::string> ChangedSettings(const FeatureViewDef& a, const FeatureViewDef& b) {
  std::vector<std::string> out;
  if (a.ttl_seconds != b.ttl_seconds) {
    out.push_back("ttl " + std::to_string(a.ttl_seconds) + " s -> " +
                  std::to_string(b.ttl_seconds) + " s");
  }
  if (a.source != b.source) out.push_back("source '" + a.source + "' -> '" + b.source + "'");
  if (a.online != b.online) out.push_back(b.online ? "online" : "offline only");
  if (a.entities != b.entities) out.push_back("entities");
  if (a.description != b.description) out.push_back("description");
  if (a.tags != b.tags) out.push_back("tags");
  if (a.owner != b.owner) out.push_back("owner");
  // The order of the features both have (added and removed ones aside).
  std::vector<std::string> kept_a, kept_b;
  for (const FieldDef& f : a.features) {
    if (FindField(b.features, f.name)) kept_a.push_back(f.name);
  }
  for (const FieldDef& f : b.features) {
    if (FindField(a.features, f.name)) kept_b.push_back(f.name);
  }
  if (kept_a != kept_b) out.push_back("feature order");
  return out;
}

// A kept view: its features keep their slots, new ones get fresh slots, removed ones retire.
void KeepView(const FeatureViewDef& old_v, FeatureViewDef* v, ViewChange* ch) {
  v->id = old_v.id;
  v->retired_features = old_v.retired_features;
  for (FieldDef& f : v->features) {
    const FieldDef* old_f = FindField(old_v.features, f.name);
    f.slot = old_f ? old_f->slot : -1;
    f.null_bit = old_f ? old_f->null_bit : -1;
  }
  for (const FieldDef& f : old_v.features) {
    if (FindField(v->features, f.name) != nullptr) continue;
    v->retired_features.push_back(f);
    ch->removed.push_back(f.name);
  }
  for (FieldDef& f : v->features) {
    if (f.slot >= 0) continue;
    AssignFreshSlot(*v, &f);
    ch->added.push_back("'" + f.name + "' (" + DTypeName(f.dtype) + ")");
  }
  ch->fields = ChangedSettings(old_v, *v);
  const bool features_changed = !ch->added.empty() || !ch->removed.empty();
  v->layout_evolved = old_v.layout_evolved || features_changed;
  ch->kind =
      features_changed || !ch->fields.empty() ? ViewChange::Kind::kUpdate : ViewChange::Kind::kKeep;
}

}  // namespace

uint64_t SchemaPlan::DiscardedRows() const {
  uint64_t n = 0;
  for (const ViewChange& c : changes) n += c.Discards() ? c.rows : 0;
  return n;
}

bool SchemaPlan::RetiresFeatures() const {
  return std::any_of(changes.begin(), changes.end(),
                     [](const ViewChange& c) { return !c.removed.empty(); });
}

bool SchemaPlan::ViewsChanged() const {
  return std::any_of(changes.begin(), changes.end(),
                     [](const ViewChange& c) { return c.kind != ViewChange::Kind::kKeep; });
}

SchemaPlan PlanSchema(const RepoConfig* prev, uint32_t* next_id, RepoConfig* next,
                      const std::function<uint64_t(uint32_t)>& rows_of) {
  using Kind = ViewChange::Kind;
  SchemaPlan plan;
  // Kept views that gained a feature: their intervals record loads without it, so they go.
  std::set<std::string> intervals_reset;
  for (FeatureViewDef& v : next->views) {
    const FeatureViewDef* old_v = prev ? prev->FindView(v.name) : nullptr;
    ViewChange ch;
    ch.view = v.name;
    std::string reason = old_v ? IncompatibleChange(*old_v, v) : "";
    if (old_v != nullptr && reason.empty()) {
      FeatureViewDef kept = v;
      ViewChange kept_change = ch;
      KeepView(*old_v, &kept, &kept_change);
      if (ValidateLayout(kept).ok()) {
        v = std::move(kept);
        ch = std::move(kept_change);
      } else {
        reason = "its row layout has run out of slots (" + std::to_string(kMaxLayoutSlots) +
                 " features added and removed over its life)";
      }
    }
    if (old_v != nullptr && reason.empty()) {
      if (!ch.added.empty() || !ch.removed.empty()) ch.rows = rows_of(old_v->id);
      // materialize-incremental then starts at now - ttl again, loading the new feature.
      if (!ch.added.empty()) intervals_reset.insert(v.name);
    } else {
      v.id = (*next_id)++;
      v.retired_features.clear();
      AssignSchemaOrderLayout(&v.features);
      ch.kind = old_v ? Kind::kRecreate : Kind::kCreate;
      if (old_v != nullptr) {
        ch.reason = reason;
        ch.rows = rows_of(old_v->id);
        plan.dead_ids.insert(old_v->id);
      }
    }
    plan.changes.push_back(std::move(ch));
  }
  if (prev == nullptr) return plan;
  for (const FeatureViewDef& old_v : prev->views) {
    if (next->FindView(old_v.name) != nullptr) continue;
    ViewChange ch;
    ch.kind = Kind::kDrop;
    ch.view = old_v.name;
    ch.rows = rows_of(old_v.id);
    plan.dead_ids.insert(old_v.id);
    plan.changes.push_back(std::move(ch));
  }
  // Materialized intervals survive only for views that kept their id and gained no feature.
  for (const MaterializedInterval& i : prev->intervals) {
    const FeatureViewDef* v = next->FindView(i.view);
    const FeatureViewDef* o = prev->FindView(i.view);
    if (v != nullptr && o != nullptr && v->id == o->id && !intervals_reset.count(i.view)) {
      next->intervals.push_back(i);
    }
  }
  return plan;
}

std::vector<std::string> DescribePlan(const SchemaPlan& plan, bool done) {
  using Kind = ViewChange::Kind;
  std::vector<std::string> out;
  for (const ViewChange& c : plan.changes) {
    const std::string view = "feature view '" + c.view + "'";
    switch (c.kind) {
      case Kind::kCreate:
        out.push_back((done ? "created " : "create ") + view);
        break;
      case Kind::kKeep:
        if (!done) out.push_back("keep " + view + " unchanged");
        break;
      case Kind::kUpdate: {
        std::string line = (done ? "updated " : "update ") + view + ", keeping its rows:";
        std::string sep = " ";
        if (!c.added.empty()) {
          line += sep + (done ? "added" : "add") + " feature " + c.added[0];
          for (size_t i = 1; i < c.added.size(); ++i) line += ", " + c.added[i];
          line += ": NOT_FOUND in the " + Rows(c.rows) +
                  " stored until each is written again; materialized intervals forgotten, so "
                  "materialize-incremental reloads the view";
          sep = "; ";
        }
        if (!c.removed.empty()) {
          line += sep + (done ? "removed" : "remove") + " feature " + Quoted(c.removed) +
                  ": its values in the " + Rows(c.rows) +
                  " stored become unreadable, even if it is added back";
          sep = "; ";
        }
        if (!c.fields.empty()) {
          line += sep + (done ? "changed " : "change ");
          for (size_t i = 0; i < c.fields.size(); ++i) line += (i ? ", " : "") + c.fields[i];
        }
        out.push_back(line);
        break;
      }
      case Kind::kRecreate:
        out.push_back(
            (done ? "re-created " : "re-create ") + view + " empty: " + c.reason +
            (done ? "; its " + Rows(c.rows) + " were dropped" : "; discards its " + Rows(c.rows)));
        break;
      case Kind::kDrop:
        out.push_back((done ? "dropped " : "drop ") + view + " and its " + Rows(c.rows));
        break;
    }
  }
  return out;
}

Status DiscardRefused(const SchemaPlan& plan) {
  std::string what;
  for (const ViewChange& c : plan.changes) {
    if (!c.Discards()) continue;
    what +=
        (what.empty() ? "" : "; ") + std::string("feature view '") + c.view + "' would be " +
        (c.kind == ViewChange::Kind::kDrop ? "dropped (" : "re-created empty (" + c.reason + ", ") +
        Rows(c.rows) + ")";
  }
  return InvalidArgument("apply would discard " + Rows(plan.DiscardedRows()) + ": " + what +
                         ". Nothing was changed: run `larder plan` to review the changes, then "
                         "`larder apply --force` to make them");
}

}  // namespace larder
