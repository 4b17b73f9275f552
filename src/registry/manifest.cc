#include "registry/manifest.h"

#include <boost/json.hpp>

#include "base/digest.h"

namespace berth::registry {
namespace {

namespace json = boost::json;

Error Invalid(std::string message) { return MakeError(Errc::kManifestInvalid, std::move(message)); }

std::string_view StripParams(std::string_view ct) {
  auto semi = ct.find(';');
  if (semi != std::string_view::npos) {
    ct = ct.substr(0, semi);
  }
  while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) {
    ct.remove_suffix(1);
  }
  while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) {
    ct.remove_prefix(1);
  }
  return ct;
}

const json::string* GetString(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) {
    return nullptr;
  }
  return it->value().if_string();
}

Result<Descriptor> ParseDescriptor(const json::value& v, std::string_view where) {
  const json::object* o = v.if_object();
  if (o == nullptr) {
    return Invalid(std::string(where) + ": descriptor must be a JSON object");
  }
  Descriptor d;
  const json::string* mt = GetString(*o, "mediaType");
  if (mt == nullptr || mt->empty()) {
    return Invalid(std::string(where) + ": descriptor requires a string mediaType");
  }
  d.media_type = std::string(*mt);
  const json::string* digest = GetString(*o, "digest");
  if (digest == nullptr) {
    return Invalid(std::string(where) + ": descriptor requires a string digest");
  }
  auto parsed = Digest::Parse(*digest);
  if (!parsed.ok()) {
    return MakeError(Errc::kDigestInvalid, std::string(where) + ": " + parsed.error().message,
                     std::string(*digest));
  }
  d.digest = parsed->str();
  auto size_it = o->find("size");
  if (size_it == o->end()) {
    return Invalid(std::string(where) + ": descriptor requires a size");
  }
  const json::value& size = size_it->value();
  if (size.is_int64() && size.get_int64() >= 0) {
    d.size = static_cast<uint64_t>(size.get_int64());
  } else if (size.is_uint64()) {
    d.size = size.get_uint64();
  } else {
    return Invalid(std::string(where) + ": descriptor size must be a non-negative integer");
  }
  auto urls = o->find("urls");
  if (urls != o->end()) {
    const json::array* a = urls->value().if_array();
    if (a == nullptr) {
      return Invalid(std::string(where) + ": urls must be an array");
    }
    d.has_urls = !a->empty();
  }
  auto ann = o->find("annotations");
  if (ann != o->end() && !ann->value().is_object()) {
    return Invalid(std::string(where) + ": annotations must be an object of strings");
  }
  return d;
}

// Layers with urls whose media type marks them non-distributable are fetched from elsewhere,
// so the registry does not require them (image-spec layer.md, Docker foreign layers).
bool IsForeign(const Descriptor& d) {
  return d.has_urls && (d.media_type.find("nondistributable") != std::string::npos ||
                        d.media_type.find("foreign") != std::string::npos);
}

}  // namespace

bool IsManifestMediaType(std::string_view mt) {
  return mt == kOciManifest || mt == kOciIndex || mt == kDockerManifest ||
         mt == kDockerManifestList;
}

Result<ParsedManifest> ParseManifest(std::string_view content_type, std::string_view body) {
  if (body.size() > kMaxManifestBytes) {
    return MakeError(Errc::kTooLarge, "manifest exceeds the 4 MiB limit");
  }
  std::string_view ct = StripParams(content_type);
  if (ct == kDockerSchema1 || ct == kDockerSchema1Signed) {
    return Invalid(
        "Docker image manifest schema 1 is deprecated and not supported; push with a client "
        "that writes schema 2 or OCI manifests");
  }
  boost::system::error_code ec;
  json::value root = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec) {
    return Invalid("manifest is not valid JSON: " + ec.message());
  }
  const json::object* o = root.if_object();
  if (o == nullptr) {
    return Invalid("manifest must be a JSON object");
  }
  auto sv = o->find("schemaVersion");
  if (sv != o->end() && sv->value().is_int64() && sv->value().get_int64() == 1) {
    return Invalid(
        "Docker image manifest schema 1 is deprecated and not supported; push with a client "
        "that writes schema 2 or OCI manifests");
  }
  if (sv == o->end() || !sv->value().is_int64() || sv->value().get_int64() != 2) {
    return Invalid("schemaVersion must be 2");
  }
  std::string body_mt;
  if (auto it = o->find("mediaType"); it != o->end()) {
    const json::string* s = it->value().if_string();
    if (s == nullptr) {
      return Invalid("mediaType must be a string");
    }
    body_mt = std::string(*s);
  }

  ParsedManifest m;
  bool ct_known = IsManifestMediaType(ct);
  if (!body_mt.empty() && ct_known && body_mt != ct) {
    return Invalid("manifest mediaType " + body_mt + " does not match Content-Type " +
                   std::string(ct));
  }
  if (ct_known) {
    m.media_type = std::string(ct);
  } else if (!body_mt.empty()) {
    if (!ct.empty() && ct != "application/json" && ct != "application/octet-stream") {
      return Invalid("unsupported manifest media type " + std::string(ct));
    }
    if (!IsManifestMediaType(body_mt)) {
      return Invalid("unsupported manifest media type " + body_mt);
    }
    m.media_type = body_mt;
  } else if (!ct.empty() && ct != "application/json" && ct != "application/octet-stream") {
    return Invalid("unsupported manifest media type " + std::string(ct));
  } else {
    // Neither header nor body names the type: OCI allows mediaType to be absent, so infer.
    m.media_type = std::string(o->contains("manifests") ? kOciIndex : kOciManifest);
  }
  // Docker types require the mediaType field in the body (manifest-v2-2.md).
  if ((m.media_type == kDockerManifest || m.media_type == kDockerManifestList) && body_mt.empty()) {
    return Invalid("Docker manifests must carry a mediaType field");
  }
  m.is_index = m.media_type == kOciIndex || m.media_type == kDockerManifestList;
  bool oci = m.media_type == kOciManifest || m.media_type == kOciIndex;

  if (m.is_index) {
    auto it = o->find("manifests");
    const json::array* a = it == o->end() ? nullptr : it->value().if_array();
    if (a == nullptr) {
      return Invalid("an index requires a manifests array");
    }
    size_t i = 0;
    for (const json::value& v : *a) {
      BERTH_ASSIGN_OR_RETURN(Descriptor d,
                             ParseDescriptor(v, "manifests[" + std::to_string(i++) + "]"));
      m.manifests.push_back(std::move(d));
    }
    if (o->contains("config") || o->contains("layers")) {
      return Invalid("an index must not have config or layers");
    }
  } else {
    auto cfg = o->find("config");
    if (cfg == o->end()) {
      return Invalid("an image manifest requires a config descriptor");
    }
    BERTH_ASSIGN_OR_RETURN(Descriptor config, ParseDescriptor(cfg->value(), "config"));
    auto it = o->find("layers");
    const json::array* layers = it == o->end() ? nullptr : it->value().if_array();
    if (layers == nullptr) {
      return Invalid("an image manifest requires a layers array");
    }
    if (o->contains("manifests")) {
      return Invalid("an image manifest must not have a manifests array");
    }
    m.artifact_type = config.media_type;
    m.blobs.push_back(std::move(config));
    size_t i = 0;
    for (const json::value& v : *layers) {
      BERTH_ASSIGN_OR_RETURN(Descriptor d,
                             ParseDescriptor(v, "layers[" + std::to_string(i++) + "]"));
      if (!IsForeign(d)) {
        m.blobs.push_back(std::move(d));
      }
    }
  }
  if (oci) {
    if (auto it = o->find("artifactType"); it != o->end()) {
      const json::string* s = it->value().if_string();
      if (s == nullptr) {
        return Invalid("artifactType must be a string");
      }
      m.artifact_type = std::string(*s);
    }
    if (auto it = o->find("subject"); it != o->end()) {
      BERTH_ASSIGN_OR_RETURN(Descriptor subject, ParseDescriptor(it->value(), "subject"));
      m.subject = subject.digest;
    }
  }
  if (auto it = o->find("annotations"); it != o->end()) {
    const json::object* ann = it->value().if_object();
    if (ann == nullptr) {
      return Invalid("annotations must be an object");
    }
    for (const auto& kv : *ann) {
      if (!kv.value().is_string()) {
        return Invalid("annotation values must be strings");
      }
    }
    m.annotations_json = json::serialize(*ann);
  }
  return m;
}

}  // namespace berth::registry
