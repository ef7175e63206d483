// Converts the repo model to and from the FlatBuffer Registry stored in the segment.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "larder/repo_config.h"
#include "larder/status.h"

namespace larder {

// Serializes `config` (with view ids and intervals) and `next_view_id`.
std::string EncodeRegistry(const RepoConfig& config, uint32_t next_view_id);

// Verifies (FlatBuffers Verifier) and decodes a registry blob. CorruptStore when invalid.
Result<RepoConfig> DecodeRegistry(std::string_view bytes, uint32_t* next_view_id);

}  // namespace larder
