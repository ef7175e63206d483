// Converts the repo model to and from the FlatBuffer Registry stored in the segment.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "larder/repo_config.h"
#include "larder/status.h"

namespace larder {

// The one entry of View.features in a registry whose view lists its features in
// View.placed_features (layout/registry.fbs): a dtype byte no build decodes (DType::Decode
// refuses it), so a build that predates placed_features refuses the registry rather than read
// the view's rows in schema order.
inline constexpr uint8_t kEvolvedLayoutMarker = 0x7f;
inline constexpr const char* kEvolvedLayoutMarkerName =
    "(this view's rows are laid out for a newer larder build)";

// Serializes `config` (with view ids and intervals) and `next_view_id`.
std::string EncodeRegistry(const RepoConfig& config, uint32_t next_view_id);

// Verifies (FlatBuffers Verifier) and decodes a registry blob. CorruptStore when invalid.
Result<RepoConfig> DecodeRegistry(std::string_view bytes, uint32_t* next_view_id);

}  // namespace larder
