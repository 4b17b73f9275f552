#include "base/error.h"

#include <cstdio>

namespace berth {

std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kOk:
      return "Ok";
    case Errc::kNameInvalid:
      return "NameInvalid";
    case Errc::kNameUnknown:
      return "NameUnknown";
    case Errc::kTagInvalid:
      return "TagInvalid";
    case Errc::kDigestInvalid:
      return "DigestInvalid";
    case Errc::kManifestInvalid:
      return "ManifestInvalid";
    case Errc::kManifestUnknown:
      return "ManifestUnknown";
    case Errc::kManifestBlobUnknown:
      return "ManifestBlobUnknown";
    case Errc::kBlobUnknown:
      return "BlobUnknown";
    case Errc::kUploadUnknown:
      return "UploadUnknown";
    case Errc::kUploadInvalid:
      return "UploadInvalid";
    case Errc::kRangeInvalid:
      return "RangeInvalid";
    case Errc::kSizeInvalid:
      return "SizeInvalid";
    case Errc::kTooLarge:
      return "TooLarge";
    case Errc::kUnsupported:
      return "Unsupported";
    case Errc::kImageArchived:
      return "ImageArchived";
    case Errc::kTagImmutable:
      return "TagImmutable";
    case Errc::kKeyUnavailable:
      return "KeyUnavailable";
    case Errc::kAuthMissing:
      return "AuthMissing";
    case Errc::kAuthMalformed:
      return "AuthMalformed";
    case Errc::kSignatureMismatch:
      return "SignatureMismatch";
    case Errc::kSignatureExpired:
      return "SignatureExpired";
    case Errc::kUnknownAccessKey:
      return "UnknownAccessKey";
    case Errc::kInvalidArgument:
      return "InvalidArgument";
    case Errc::kNotFound:
      return "NotFound";
    case Errc::kAlreadyExists:
      return "AlreadyExists";
    case Errc::kPreconditionFailed:
      return "PreconditionFailed";
    case Errc::kUnauthenticated:
      return "Unauthenticated";
    case Errc::kDenied:
      return "Denied";
    case Errc::kLimitExceeded:
      return "LimitExceeded";
    case Errc::kUnavailable:
      return "Unavailable";
    case Errc::kCorrupt:
      return "Corrupt";
    case Errc::kInternal:
      return "Internal";
  }
  return "Unknown";
}

namespace internal {
void CheckFailed(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "BERTH_CHECK failed: %s at %s:%d\n", cond, file, line);
  std::abort();
}
}  // namespace internal

}  // namespace berth
