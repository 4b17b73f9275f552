#include "api/oci/errors.h"

#include <boost/json.hpp>

namespace berth::api::oci {

OciError ToOciError(Errc code) {
  switch (code) {
    case Errc::kNameInvalid:
      return {400, "NAME_INVALID"};
    case Errc::kNameUnknown:
      return {404, "NAME_UNKNOWN"};
    case Errc::kTagInvalid:
      return {400, "TAG_INVALID"};
    case Errc::kDigestInvalid:
      return {400, "DIGEST_INVALID"};
    case Errc::kManifestInvalid:
      return {400, "MANIFEST_INVALID"};
    case Errc::kManifestUnknown:
      return {404, "MANIFEST_UNKNOWN"};
    case Errc::kManifestBlobUnknown:
      return {400, "MANIFEST_BLOB_UNKNOWN"};
    case Errc::kBlobUnknown:
      return {404, "BLOB_UNKNOWN"};
    case Errc::kUploadUnknown:
      return {404, "BLOB_UPLOAD_UNKNOWN"};
    case Errc::kUploadInvalid:
      return {400, "BLOB_UPLOAD_INVALID"};
    case Errc::kRangeInvalid:
      return {416, "BLOB_UPLOAD_INVALID"};
    case Errc::kSizeInvalid:
      return {400, "SIZE_INVALID"};
    case Errc::kTooLarge:
      return {413, "SIZE_INVALID"};
    case Errc::kUnsupported:
      return {415, "UNSUPPORTED"};
    // ECR: pulls of archived images fail with 404 ("inaccessible state ... restore if needed").
    case Errc::kImageArchived:
      return {404, "MANIFEST_UNKNOWN"};
    // ECR answers an overwrite of an immutable tag over the Docker API with TAG_INVALID.
    case Errc::kTagImmutable:
      return {400, "TAG_INVALID"};
    // The repository's encryption key may not be used: refused, like any other access denial.
    case Errc::kKeyUnavailable:
      return {403, "DENIED"};
    case Errc::kAuthMissing:
      return {401, "UNAUTHORIZED"};
    case Errc::kAuthMalformed:
      return {401, "UNAUTHORIZED"};
    case Errc::kSignatureMismatch:
      return {401, "UNAUTHORIZED"};
    case Errc::kSignatureExpired:
      return {401, "UNAUTHORIZED"};
    case Errc::kUnknownAccessKey:
      return {401, "UNAUTHORIZED"};
    case Errc::kInvalidArgument:
      return {400, "UNSUPPORTED"};
    case Errc::kNotFound:
      return {404, "NOT_FOUND"};
    case Errc::kAlreadyExists:
      return {409, "CONFLICT"};
    case Errc::kPreconditionFailed:
      return {412, "PRECONDITION_FAILED"};
    case Errc::kUnauthenticated:
      return {401, "UNAUTHORIZED"};
    case Errc::kDenied:
      return {403, "DENIED"};
    case Errc::kLimitExceeded:
      return {429, "TOOMANYREQUESTS"};
    case Errc::kUnavailable:
      return {503, "UNAVAILABLE"};
    case Errc::kCorrupt:
      return {500, "INTERNAL_ERROR"};
    case Errc::kInternal:
      return {500, "INTERNAL_ERROR"};
    case Errc::kOk:
      return {200, ""};
  }
  return {500, "INTERNAL_ERROR"};
}

http::Response ErrorResponse(unsigned status, std::string_view code, std::string_view message,
                             std::string_view detail, bool head) {
  http::Response res;
  res.status = status;
  res.Set("Content-Type", "application/json");
  boost::json::object err;
  err["code"] = code;
  err["message"] = message;
  if (!detail.empty()) {
    err["detail"] = detail;
  } else {
    err["detail"] = nullptr;
  }
  boost::json::object root;
  root["errors"] = boost::json::array{std::move(err)};
  res.body = boost::json::serialize(root);
  res.Annotate("error", std::string(code));
  res.Annotate("message", std::string(message));
  if (head) {
    res.head = true;
  }
  return res;
}

http::Response ErrorResponse(const Error& error, bool head) {
  OciError e = ToOciError(error.code);
  // Internal details stay in the log; clients get a generic message.
  bool internal = error.code == Errc::kInternal || error.code == Errc::kCorrupt ||
                  error.code == Errc::kUnavailable;
  return ErrorResponse(e.status, e.code,
                       internal ? std::string_view("internal storage error, retry later")
                                : std::string_view(error.message),
                       internal ? std::string_view() : std::string_view(error.detail), head);
}

}  // namespace berth::api::oci
