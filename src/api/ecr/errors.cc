#include "api/ecr/errors.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

namespace berth::api::ecr {

EcrError ToEcrError(Errc code) {
  switch (code) {
    case Errc::kNameInvalid:
      return {400, "InvalidParameterException"};
    case Errc::kNameUnknown:
      return {400, "RepositoryNotFoundException"};
    case Errc::kTagInvalid:
      return {400, "InvalidParameterException"};
    case Errc::kDigestInvalid:
      return {400, "InvalidParameterException"};
    case Errc::kManifestInvalid:
      return {400, "InvalidParameterException"};
    case Errc::kManifestUnknown:
      return {400, "ImageNotFoundException"};
    case Errc::kManifestBlobUnknown:
      return {400, "LayersNotFoundException"};
    case Errc::kBlobUnknown:
      return {400, "LayersNotFoundException"};
    case Errc::kUploadUnknown:
      return {400, "UploadNotFoundException"};
    case Errc::kUploadInvalid:
      return {400, "InvalidLayerPartException"};
    case Errc::kRangeInvalid:
      return {400, "InvalidLayerPartException"};
    case Errc::kSizeInvalid:
      return {400, "InvalidParameterException"};
    case Errc::kTooLarge:
      return {400, "InvalidParameterException"};
    case Errc::kUnsupported:
      return {400, "InvalidParameterException"};
    case Errc::kImageArchived:
      return {400, "ImageNotFoundException"};
    case Errc::kTagImmutable:
      return {400, "ImageTagAlreadyExistsException"};
    case Errc::kKeyUnavailable:
      return {400, "KmsException"};
    case Errc::kAuthMissing:
      return {403, "MissingAuthenticationTokenException"};
    case Errc::kAuthMalformed:
      return {403, "IncompleteSignatureException"};
    case Errc::kSignatureMismatch:
      return {403, "InvalidSignatureException"};
    case Errc::kSignatureExpired:
      return {403, "InvalidSignatureException"};
    case Errc::kUnknownAccessKey:
      return {403, "UnrecognizedClientException"};
    case Errc::kInvalidArgument:
      return {400, "InvalidParameterException"};
    case Errc::kNotFound:
      return {400, "InvalidParameterException"};
    case Errc::kAlreadyExists:
      return {400, "RepositoryAlreadyExistsException"};
    case Errc::kPreconditionFailed:
      return {400, "RepositoryNotEmptyException"};
    case Errc::kUnauthenticated:
      return {403, "UnrecognizedClientException"};
    case Errc::kDenied:
      return {400, "AccessDeniedException"};
    case Errc::kLimitExceeded:
      return {400, "LimitExceededException"};
    case Errc::kUnavailable:
      return {500, "ServerException"};
    case Errc::kCorrupt:
      return {500, "ServerException"};
    case Errc::kInternal:
      return {500, "ServerException"};
    case Errc::kOk:
      return {200, ""};
  }
  return {500, "ServerException"};
}

http::Response ErrorResponse(std::string_view type, std::string_view message, unsigned status) {
  http::Response res;
  res.status = status;
  res.Set("Content-Type", "application/x-amz-json-1.1");
  boost::json::object o;
  o["__type"] = type;
  o["message"] = message;
  res.body = boost::json::serialize(o);
  res.Annotate("error", std::string(type));
  res.Annotate("message", std::string(message));
  return res;
}

http::Response ErrorResponse(const Error& error, std::string_view type_override) {
  EcrError e = ToEcrError(error.code);
  if (e.status >= 500) {
    spdlog::error("ecr request failed: {}: {}", ErrcName(error.code), error.message);
    return ErrorResponse(e.type, "Internal error, retry later", e.status);
  }
  return ErrorResponse(type_override.empty() ? e.type : type_override, error.message,
                       type_override.empty() ? e.status : 400);
}

}  // namespace berth::api::ecr
