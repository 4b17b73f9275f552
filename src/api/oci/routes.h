// Route matching for /v2/ paths. Repository names contain '/', so the endpoint is recognised
// from the right-hand end of the path (spec.md "Endpoints"). Pure function.
#pragma once

#include <string>
#include <string_view>

namespace berth::api::oci {

enum class Route {
  kNotFound,
  kBase,       // /v2/
  kCatalog,    // /v2/_catalog
  kTags,       // /v2/<name>/tags/list
  kManifest,   // /v2/<name>/manifests/<reference>
  kBlob,       // /v2/<name>/blobs/<digest>
  kUploads,    // /v2/<name>/blobs/uploads/
  kUpload,     // /v2/<name>/blobs/uploads/<id>
  kReferrers,  // /v2/<name>/referrers/<digest>
};

struct RouteMatch {
  Route route = Route::kNotFound;
  std::string name;       // repository
  std::string reference;  // tag/digest/upload id
};

RouteMatch MatchRoute(std::string_view path);

}  // namespace berth::api::oci
