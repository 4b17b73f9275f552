// Grammar of repository names, tags and references (OCI distribution-spec "Pulling manifests").
//
//   name      <name>        [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//   tag       <reference>   [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//
// berth also caps names at 256 characters, ECR's repository name limit. Pure functions.
#pragma once

#include <string_view>

#include "base/error.h"

namespace berth::registry {

inline constexpr size_t kMaxNameLength = 256;

bool IsValidRepositoryName(std::string_view name);
bool IsValidTag(std::string_view tag);

// kNameInvalid with a message naming the rule, or Ok.
Status ValidateRepositoryName(std::string_view name);
// kTagInvalid with a message naming the rule, or Ok.
Status ValidateTag(std::string_view tag);

}  // namespace berth::registry
