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
// kept as it is: a source it cannot read becomes SourceKind::kExternal, and an on-demand or
// request feature view, a view with a type Larder cannot store or without entities, and a
// service reading one become `config->unservable` with the reason. Errors are kConfigError
// naming `file_name` and the object: bytes that are not a Feast registry, a registry holding
// other projects but not this one, a name Larder cannot use, conflicting join key types.
Status ImportFeastRegistry(std::string_view bytes, const std::string& file_name,
                           RepoConfig* config);

}  // namespace larder
