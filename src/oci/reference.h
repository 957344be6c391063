// Repository names and tags as the distribution spec defines them.
#pragma once

#include <string_view>

#include "base/result.h"

namespace drydock::oci {

// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 chars.
Status ValidateRepositoryName(std::string_view name);
// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
Status ValidateTag(std::string_view tag);

}  // namespace drydock::oci
