#include "engine/feature_refs.h"

#include <unordered_map>

#include "engine/quote.h"

namespace larder {

namespace {

Status AddViewFeatures(const Catalog& cat, const std::string& view_name,
                       const std::vector<std::string>& names, bool full,
                       const std::string& catalog_name, std::vector<ResolvedFeature>* out) {
  LARDER_ASSIGN_OR_RETURN(const ViewInfo* v, cat.RequireView(view_name, catalog_name));
  auto add = [&](const FeatureInfo* f) {
    out->push_back({v, f, full ? v->def.name + "__" + f->name : f->name});
  };
  if (names.empty()) {
    for (const FeatureInfo& f : v->features) add(&f);
    return Status::Ok();
  }
  for (const std::string& n : names) {
    const FeatureInfo* f = v->FindFeature(n);
    if (f == nullptr) {
      return Status(
          ErrorCode::kFeatureNotFound,
          "feature " + QuoteInput(n) + " is not in feature view " + QuoteInput(view_name));
    }
    add(f);
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<ResolvedFeature>> ResolveFeatureRefs(const Catalog& cat,
                                                        const std::vector<std::string>& features,
                                                        const std::string& feature_service,
                                                        bool full_feature_names,
                                                        const std::string& catalog_name) {
  if (features.empty() == feature_service.empty()) {
    return InvalidArgument("give either a list of features or a feature service (not both)");
  }
  std::vector<ResolvedFeature> out;
  if (!feature_service.empty()) {
    const FeatureServiceDef* s = cat.config().FindService(feature_service);
    const UnservableDef* u =
        cat.config().FindUnservable(UnservableDef::Kind::kService, feature_service);
    if (s == nullptr && u != nullptr) {
      return Status(ErrorCode::kFeatureServiceNotFound,
                    "feature service " + QuoteInput(feature_service) +
                        " cannot be served: the Feast registry defines it as " + u->reason);
    }
    if (s == nullptr) {
      return Status(
          ErrorCode::kFeatureServiceNotFound,
          "feature service " + QuoteInput(feature_service) + " is not in the " + catalog_name);
    }
    for (const auto& p : s->projections) {
      LARDER_RETURN_IF_ERROR(
          AddViewFeatures(cat, p.view, p.features, full_feature_names, catalog_name, &out));
    }
  } else {
    for (const std::string& ref : features) {
      auto colon = ref.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == ref.size()) {
        return InvalidArgument("feature reference " + QuoteInput(ref) +
                               " is not of the form 'feature_view:feature'");
      }
      LARDER_RETURN_IF_ERROR(AddViewFeatures(cat, ref.substr(0, colon), {ref.substr(colon + 1)},
                                             full_feature_names, catalog_name, &out));
    }
  }
  std::unordered_map<std::string, const ViewInfo*> seen;
  for (const ResolvedFeature& f : out) {
    auto [it, inserted] = seen.emplace(f.output_name, f.view);
    if (!inserted) {
      return InvalidArgument("feature name '" + f.output_name +
                             "' is requested more than once (from '" + it->second->def.name +
                             "' and '" + f.view->def.name +
                             "'); set full_feature_names to tell them apart");
    }
  }
  return out;
}

}  // namespace larder
