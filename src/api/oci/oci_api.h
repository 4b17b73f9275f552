// OciApi: the OCI Distribution Spec v1.1 HTTP API (/v2/...) as a thin adapter over
// registry::Registry. Parses and validates the wire form, calls the registry, maps results and
// errors back (Docker-Content-Digest, Location, Range, Link, OCI-Subject,
// OCI-Filters-Applied headers; error JSON per spec.md "Error Codes").
//
// Thread-safe: holds no per-request state. Borrows the Registry.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "http/server.h"
#include "registry/registry.h"

namespace berth::api::oci {

class OciApi {
 public:
  explicit OciApi(registry::Registry& registry) : registry_(registry) {}

  // Serves a request whose decoded path starts with "/v2". `query` is the raw query string.
  boost::asio::awaitable<http::Response> Handle(http::Request& req, std::string path,
                                                std::string query);

 private:
  registry::Registry& registry_;
};

}  // namespace berth::api::oci
