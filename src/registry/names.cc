#include "registry/names.h"

#include <string>

namespace berth::registry {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool IsValidComponent(std::string_view c) {
  size_t i = 0;
  const size_t n = c.size();
  if (n == 0 || !IsLowerAlnum(c[0])) {
    return false;
  }
  while (i < n) {
    // alnum run
    while (i < n && IsLowerAlnum(c[i])) {
      ++i;
    }
    if (i == n) {
      return true;
    }
    // separator: '.', '_', '__', or one or more '-'
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < n && c[i] == '_') {
        ++i;
      }
    } else if (c[i] == '-') {
      while (i < n && c[i] == '-') {
        ++i;
      }
    } else {
      return false;
    }
    if (i == n || !IsLowerAlnum(c[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool IsValidRepositoryName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return false;
  }
  size_t start = 0;
  for (;;) {
    size_t slash = name.find('/', start);
    std::string_view comp = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!IsValidComponent(comp)) {
      return false;
    }
    if (slash == std::string_view::npos) {
      return true;
    }
    start = slash + 1;
  }
}

bool IsValidTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) {
    return false;
  }
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(tag[0])) {
    return false;
  }
  for (char c : tag.substr(1)) {
    if (!word(c) && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

Status ValidateRepositoryName(std::string_view name) {
  if (IsValidRepositoryName(name)) {
    return Ok{};
  }
  if (name.size() > kMaxNameLength) {
    return MakeError(
        Errc::kNameInvalid,
        "repository name is longer than " + std::to_string(kMaxNameLength) + " characters",
        std::string(name.substr(0, 300)));
  }
  return MakeError(Errc::kNameInvalid,
                   "invalid repository name: components must be lowercase letters and digits "
                   "separated by '.', '_', '__' or '-', joined by '/'",
                   std::string(name));
}

Status ValidateTag(std::string_view tag) {
  if (IsValidTag(tag)) {
    return Ok{};
  }
  return MakeError(Errc::kTagInvalid, "invalid tag: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
                   std::string(tag.substr(0, 300)));
}

}  // namespace berth::registry
