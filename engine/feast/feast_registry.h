// Imports the definitions of a Feast project from Feast's registry file (`data/registry.db`: a
// serialized feast.core.Registry written by `feast apply`) into Larder's repo model.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "larder/repo_config.h"
#include "larder/status.h"

namespace larder {

// Adds project `config->project`'s entities, data sources, feature views, stream feature views
// and feature services from registry bytes `bytes` to `config` (whose other sections are empty),
// resolving relative file-source paths against `config->repo_dir`. What Larder cannot serve is
// kept by name: a source it cannot read becomes SourceKind::kExternal; an on-demand or request
// feature view, a view with a type, name, entity or source Larder cannot use (or derived by a
// transformation, or disabled), and a service reading one, become `config->unservable` with the
// reason. Errors (kConfigError naming `file_name`): bytes that are empty or not a Feast
// registry, a registry holding other projects but not this one, a name defined twice.
Status ImportFeastRegistry(std::string_view bytes, const std::string& file_name,
                           RepoConfig* config);

}  // namespace larder
