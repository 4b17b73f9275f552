// Mapping of berth errors to the OCI distribution-spec wire form (spec.md "Error Codes"):
// an HTTP status and {"errors":[{"code","message","detail"}]}.
#pragma once

#include <string_view>

#include "base/error.h"
#include "http/server.h"

namespace berth::api::oci {

struct OciError {
  unsigned status;
  std::string_view code;
};

// One exhaustive switch: a new Errc does not compile (-Werror=switch) until it is mapped here.
OciError ToOciError(Errc code);

// The complete error response (status, JSON body, Content-Type). HEAD responses carry no body.
http::Response ErrorResponse(const Error& error, bool head = false);
http::Response ErrorResponse(unsigned status, std::string_view code, std::string_view message,
                             std::string_view detail = {}, bool head = false);

}  // namespace berth::api::oci
