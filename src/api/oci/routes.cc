#include "api/oci/routes.h"

namespace berth::api::oci {

RouteMatch MatchRoute(std::string_view path) {
  RouteMatch m;
  if (path == "/v2" || path == "/v2/") {
    m.route = Route::kBase;
    return m;
  }
  constexpr std::string_view kPrefix = "/v2/";
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    return m;
  }
  std::string_view rest = path.substr(kPrefix.size());
  if (rest == "_catalog") {
    m.route = Route::kCatalog;
    return m;
  }
  auto ends_with = [&](std::string_view suffix) {
    return rest.size() > suffix.size() && rest.substr(rest.size() - suffix.size()) == suffix;
  };
  auto set = [&](Route r, size_t name_len, std::string_view ref) {
    m.route = r;
    m.name = std::string(rest.substr(0, name_len));
    m.reference = std::string(ref);
    return m;
  };
  // Endpoints with a fixed tail.
  for (std::string_view tail : {"/blobs/uploads/", "/blobs/uploads"}) {
    if (ends_with(tail)) {
      return set(Route::kUploads, rest.size() - tail.size(), {});
    }
  }
  if (ends_with("/tags/list")) {
    return set(Route::kTags, rest.size() - 10, {});
  }
  // Endpoints ending in one variable segment: .../<kind>/<ref>.
  auto slash = rest.rfind('/');
  if (slash == std::string_view::npos || slash == 0) {
    return m;
  }
  std::string_view ref = rest.substr(slash + 1);
  std::string_view head = rest.substr(0, slash);
  if (ref.empty()) {
    return m;
  }
  auto kind_slash = head.rfind('/');
  if (kind_slash == std::string_view::npos) {
    return m;
  }
  std::string_view kind = head.substr(kind_slash + 1);
  std::string_view before = head.substr(0, kind_slash);
  if (kind == "uploads") {
    auto blobs_slash = before.rfind('/');
    if (blobs_slash != std::string_view::npos && before.substr(blobs_slash + 1) == "blobs" &&
        blobs_slash > 0) {
      return set(Route::kUpload, blobs_slash, ref);
    }
  }
  if (before.empty()) {
    return m;
  }
  if (kind == "manifests") {
    return set(Route::kManifest, kind_slash, ref);
  }
  if (kind == "blobs") {
    return set(Route::kBlob, kind_slash, ref);
  }
  if (kind == "referrers") {
    return set(Route::kReferrers, kind_slash, ref);
  }
  return m;
}

}  // namespace berth::api::oci
