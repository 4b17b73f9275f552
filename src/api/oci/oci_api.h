// OciApi: the OCI Distribution Spec v1.1 HTTP API (/v2/...) as a thin adapter over
// registry::Registry. Parses and validates the wire form, calls the registry, maps results and
// errors back (Docker-Content-Digest, Location, Range, Link, OCI-Subject,
// OCI-Filters-Applied headers; error JSON per spec.md "Error Codes").
//
// Thread-safe: holds no per-request state. Borrows the Registry.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "auth/authorizer.h"
#include "http/server.h"
#include "registry/registry.h"

namespace berth::api::oci {

// Every request is authorized before it has any effect: each route maps to ECR actions on
// the repository's ARN (pull = ecr:BatchGetImage + ecr:GetDownloadUrlForLayer, push =
// ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:PutImage, plus
// ecr:CreateRepository when the push creates the repository, ...; see RequiredActions in
// oci_api.cc and the README's permissions table). Denied: 401 UNAUTHORIZED for anonymous
// callers, 403 DENIED otherwise. Responses carry annotations (principal, action, resource,
// repository, error) for the audit log.
class OciApi {
 public:
  OciApi(registry::Registry& registry, auth::Authorizer& authorizer)
      : registry_(registry), authorizer_(authorizer) {}

  // Serves a request whose decoded path starts with "/v2". `query` is the raw query string.
  boost::asio::awaitable<http::Response> Handle(http::Request& req, std::string path,
                                                std::string query, auth::Caller caller);
  // Annotates a response refused before Handle ran (authentication failed) with the action,
  // repository and resource the request was for.
  static void AnnotateTarget(std::string_view path, boost::beast::http::verb method,
                             std::string_view raw_query, bool has_body, const iam::Account& account,
                             http::Response& res);

 private:
  // Whether `caller` may perform `actions` ("a" or "a|b": any alternative) on `repository`.
  boost::asio::awaitable<Result<auth::AccessDecision>> Allowed(const auth::Caller& caller,
                                                               std::string actions,
                                                               std::string repository);
  registry::Registry& registry_;
  auth::Authorizer& authorizer_;
};

}  // namespace berth::api::oci
