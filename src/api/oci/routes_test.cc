#include "api/oci/routes.h"

#include <ostream>
#include <string>

#include <gtest/gtest.h>

namespace berth::api::oci {
namespace {

struct RouteCase {
  std::string path;
  Route route;
  std::string name = {};
  std::string reference = {};
};

void PrintTo(const RouteCase& c, std::ostream* os) { *os << "'" << c.path << "'"; }

class MatchRouteTest : public ::testing::TestWithParam<RouteCase> {};

TEST_P(MatchRouteTest, Matches) {
  const RouteCase& c = GetParam();
  RouteMatch m = MatchRoute(c.path);
  EXPECT_EQ(m.route, c.route) << "got route " << static_cast<int>(m.route);
  EXPECT_EQ(m.name, c.name);
  EXPECT_EQ(m.reference, c.reference);
}

constexpr char kDigest[] =
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

INSTANTIATE_TEST_SUITE_P(
    Table, MatchRouteTest,
    ::testing::Values(
        RouteCase{"/v2/", Route::kBase}, RouteCase{"/v2", Route::kBase},
        RouteCase{"/v2/_catalog", Route::kCatalog}, RouteCase{"/v2/a/tags/list", Route::kTags, "a"},
        RouteCase{"/v2/a/b/tags/list", Route::kTags, "a/b"},
        RouteCase{"/v2/a/manifests/latest", Route::kManifest, "a", "latest"},
        RouteCase{std::string("/v2/a/manifests/") + kDigest, Route::kManifest, "a", kDigest},
        RouteCase{std::string("/v2/a/b/c/blobs/") + kDigest, Route::kBlob, "a/b/c", kDigest},
        RouteCase{"/v2/a/blobs/uploads/", Route::kUploads, "a"},
        RouteCase{"/v2/a/blobs/uploads", Route::kUploads, "a"},
        RouteCase{"/v2/team/app/blobs/uploads/", Route::kUploads, "team/app"},
        RouteCase{"/v2/a/blobs/uploads/abc123", Route::kUpload, "a", "abc123"},
        RouteCase{"/v2/a/b/blobs/uploads/0f3e-77", Route::kUpload, "a/b", "0f3e-77"},
        RouteCase{std::string("/v2/a/referrers/") + kDigest, Route::kReferrers, "a", kDigest},
        RouteCase{"/v2/a/b/referrers/sha256:x", Route::kReferrers, "a/b", "sha256:x"},
        // Repository names whose components are endpoint keywords: matched from the right.
        RouteCase{"/v2/blobs/blobs/sha256:x", Route::kBlob, "blobs", "sha256:x"},
        RouteCase{"/v2/manifests/manifests/latest", Route::kManifest, "manifests", "latest"},
        RouteCase{"/v2/uploads/manifests/v1", Route::kManifest, "uploads", "v1"},
        RouteCase{"/v2/tags/manifests/v1", Route::kManifest, "tags", "v1"},
        RouteCase{"/v2/referrers/referrers/sha256:x", Route::kReferrers, "referrers", "sha256:x"},
        RouteCase{"/v2/tags/tags/list", Route::kTags, "tags"},
        RouteCase{"/v2/a/tags/list/tags/list", Route::kTags, "a/tags/list"},
        RouteCase{"/v2/blobs/blobs/uploads/", Route::kUploads, "blobs"},
        RouteCase{"/v2/uploads/blobs/uploads/", Route::kUploads, "uploads"},
        RouteCase{"/v2/blobs/uploads/blobs/uploads", Route::kUploads, "blobs/uploads"},
        RouteCase{"/v2/blobs/uploads/blobs/uploads/id1", Route::kUpload, "blobs/uploads", "id1"},
        RouteCase{"/v2/uploads/blobs/uploads/id1", Route::kUpload, "uploads", "id1"},
        RouteCase{"/v2/a/blobs/b/manifests/x", Route::kManifest, "a/blobs/b", "x"},
        RouteCase{"/v2/a/manifests/b/blobs/sha256:x", Route::kBlob, "a/manifests/b", "sha256:x"},
        RouteCase{"/v2/a/blobs/uploads/blobs/sha256:x", Route::kBlob, "a/blobs/uploads",
                  "sha256:x"},
        RouteCase{"/v2/a/tags/list/manifests/x", Route::kManifest, "a/tags/list", "x"},
        // Not an endpoint.
        RouteCase{"/v2/a/unknown/x", Route::kNotFound}, RouteCase{"/v2/a/tags/x", Route::kNotFound},
        RouteCase{"/v2/a", Route::kNotFound}, RouteCase{"/v2/a/b", Route::kNotFound},
        RouteCase{"/v2/a/manifests/", Route::kNotFound},
        RouteCase{"/v2/a/blobs/", Route::kNotFound},
        RouteCase{"/v2/manifests/latest", Route::kNotFound},  // no repository name
        RouteCase{"/v2/blobs/sha256:x", Route::kNotFound},
        RouteCase{"/v2/tags/list", Route::kNotFound},
        RouteCase{"/v2/blobs/uploads/", Route::kNotFound},
        RouteCase{"/v2/blobs/uploads/abc", Route::kNotFound},  // repo "blobs", kind "uploads"
        RouteCase{"/v2//tags/list", Route::kNotFound},
        RouteCase{"/v2//blobs/uploads/", Route::kNotFound},
        RouteCase{"/v2//blobs/uploads/abc", Route::kNotFound},
        RouteCase{"/v2//manifests/latest", Route::kNotFound}, RouteCase{"/v3/a", Route::kNotFound},
        RouteCase{"/v3/", Route::kNotFound}, RouteCase{"/v2x", Route::kNotFound},
        RouteCase{"/", Route::kNotFound}, RouteCase{"", Route::kNotFound},
        RouteCase{"v2/", Route::kNotFound}));

}  // namespace
}  // namespace berth::api::oci
