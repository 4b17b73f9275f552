// Errors as values: every fallible call in berth returns Result<T>.
//
// Errc is a closed domain enum. Protocol adapters (api/oci, later api/ecr) map each code in one
// exhaustive switch, so adding a code does not build until every adapter maps it. Nothing in
// meta/, storage/ or registry/ throws; exceptions are for start-up and configuration only.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace berth {

enum class Errc {
  kOk = 0,
  // Registry domain.
  kNameInvalid,          // repository name violates the grammar
  kNameUnknown,          // repository does not exist
  kTagInvalid,           // tag violates the grammar
  kDigestInvalid,        // malformed or unsupported digest, or content does not match it
  kManifestInvalid,      // manifest fails validation (JSON, media type, schema)
  kManifestUnknown,      // no such manifest / tag
  kManifestBlobUnknown,  // a manifest references a blob or manifest the repository lacks
  kBlobUnknown,          // no such blob in the repository
  kUploadUnknown,        // no such upload session (or it expired)
  kUploadInvalid,        // upload request inconsistent with the session
  kRangeInvalid,         // Content-Range / Range not satisfiable or out of order
  kSizeInvalid,          // declared size does not match content
  kTooLarge,             // a body exceeds its size limit
  kUnsupported,          // valid but unsupported request (media type, algorithm)
  kTagImmutable,         // tag may not be overwritten
  kImageArchived,        // the image is archived (or being restored) and cannot be pulled
  kKeyUnavailable,       // the encryption key is disabled, pending deletion or gone (KMS)
  // Authentication (AWS SigV4 and registry tokens).
  kAuthMissing,        // no credentials where they are required
  kAuthMalformed,      // credentials present but malformed (incomplete signature)
  kSignatureMismatch,  // signature does not match
  kSignatureExpired,   // signed too long ago / token expired
  kUnknownAccessKey,   // access key id or token unknown, or session token refused
  // Generic.
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPreconditionFailed,
  kUnauthenticated,
  kDenied,
  kLimitExceeded,
  kUnavailable,  // retryable
  kCorrupt,      // stored data failed verification
  kInternal,
};

std::string_view ErrcName(Errc code);

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  std::string detail;  // optional machine-readable detail (e.g. the offending digest)
};

inline Error MakeError(Errc code, std::string message, std::string detail = {}) {
  return Error{code, std::move(message), std::move(detail)};
}

// Result<T>: a T or an Error. Like absl::StatusOr: check ok() before dereferencing.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  const Error& error() const& { return *std::get_if<1>(&v_); }
  Error&& error() && { return std::move(*std::get_if<1>(&v_)); }

  T& value() & { return Get(); }
  const T& value() const& { return Get(); }
  T&& value() && { return std::move(Get()); }
  T& operator*() & { return Get(); }
  const T& operator*() const& { return Get(); }
  T&& operator*() && { return std::move(Get()); }
  T* operator->() { return &Get(); }
  const T* operator->() const { return &Get(); }

 private:
  T& Get() {
    if (!ok()) {
      std::abort();  // dereferencing an error is a programming bug
    }
    return *std::get_if<0>(&v_);
  }
  const T& Get() const { return const_cast<Result*>(this)->Get(); }

  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
struct Ok {};
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Ok) {}                                                // NOLINT
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};
using Status = Result<void>;

namespace internal {
template <class R>
Error TakeError(R&& r) {
  return std::forward<R>(r).error();
}
}  // namespace internal

}  // namespace berth

#define BERTH_CONCAT_INNER_(a, b) a##b
#define BERTH_CONCAT_(a, b) BERTH_CONCAT_INNER_(a, b)

// BERTH_TRY(expr): return the error of a Result/Status expression from the enclosing function.
#define BERTH_TRY(expr)                                             \
  do {                                                              \
    auto berth_try_r_ = (expr);                                     \
    if (!berth_try_r_.ok()) {                                       \
      return ::berth::internal::TakeError(std::move(berth_try_r_)); \
    }                                                               \
  } while (0)

#define BERTH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) {                                   \
    return std::move(tmp).error();                   \
  }                                                  \
  lhs = std::move(tmp).value()

#define BERTH_ASSIGN_OR_RETURN(lhs, expr) \
  BERTH_ASSIGN_OR_RETURN_IMPL_(BERTH_CONCAT_(berth_r_, __LINE__), lhs, expr)

// Coroutine twins: co_return instead of return.
#define BERTH_CO_TRY(expr)                                             \
  do {                                                                 \
    auto berth_try_r_ = (expr);                                        \
    if (!berth_try_r_.ok()) {                                          \
      co_return ::berth::internal::TakeError(std::move(berth_try_r_)); \
    }                                                                  \
  } while (0)

#define BERTH_CO_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) {                                      \
    co_return std::move(tmp).error();                   \
  }                                                     \
  lhs = std::move(tmp).value()

#define BERTH_CO_ASSIGN_OR_RETURN(lhs, expr) \
  BERTH_CO_ASSIGN_OR_RETURN_IMPL_(BERTH_CONCAT_(berth_r_, __LINE__), lhs, expr)

#define BERTH_CHECK(cond)                                        \
  do {                                                           \
    if (!(cond)) {                                               \
      ::berth::internal::CheckFailed(#cond, __FILE__, __LINE__); \
    }                                                            \
  } while (0)
#ifdef NDEBUG
#define BERTH_DCHECK(cond) \
  do {                     \
  } while (0)
#else
#define BERTH_DCHECK(cond) BERTH_CHECK(cond)
#endif

namespace berth::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line);
}  // namespace berth::internal
