// Manifest parsing and validation (OCI image-spec manifest.md, image-index.md, descriptor.md;
// Docker manifest v2 schema 2 and manifest list). Pure functions, no I/O.
//
// ParseManifest checks that the bytes are one JSON object of a supported kind, that its
// mediaType agrees with the Content-Type the client sent, and that every descriptor is
// well-formed; it returns what the registry must store and check (references, subject,
// artifact type). Whether referenced content exists is the store's job (kManifestBlobUnknown).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::registry {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerSchema1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

inline constexpr uint64_t kMaxManifestBytes = 4 * 1024 * 1024;

struct Descriptor {
  std::string media_type;
  std::string digest;
  uint64_t size = 0;
  bool has_urls = false;  // foreign / non-distributable content fetched from elsewhere
};

struct ParsedManifest {
  std::string media_type;             // the effective media type (stored, served as Content-Type)
  bool is_index = false;              // OCI index or Docker manifest list
  std::vector<Descriptor> blobs;      // config + layers (image manifests)
  std::vector<Descriptor> manifests;  // children (indexes)
  std::string subject;                // subject digest, empty if none
  std::string artifact_type;          // artifactType, or config.mediaType for image manifests
  std::string annotations_json;       // serialized "annotations" object, empty if none
};

// Whether `media_type` is a manifest type berth stores.
bool IsManifestMediaType(std::string_view media_type);

// Parses and validates. `content_type` is the request's Content-Type (parameters ignored; may
// be empty). Errors: kManifestInvalid (malformed JSON, schema violations, media type conflict,
// unknown media type, Docker schema 1), kTooLarge (over kMaxManifestBytes), kDigestInvalid (a
// descriptor's digest is malformed or of an unsupported algorithm).
Result<ParsedManifest> ParseManifest(std::string_view content_type, std::string_view body);

}  // namespace berth::registry
