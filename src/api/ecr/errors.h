// Mapping of berth errors to the ECR wire form (AWS JSON 1.1): an HTTP status and
// {"__type": "<Exception>", "message": "..."}, with x-amzn-RequestId on every response.
#pragma once

#include <string_view>

#include "base/error.h"
#include "http/server.h"

namespace berth::api::ecr {

struct EcrError {
  unsigned status;
  std::string_view type;
};

// One exhaustive switch (-Werror=switch): a new Errc does not build until it is mapped.
EcrError ToEcrError(Errc code);

http::Response ErrorResponse(std::string_view type, std::string_view message,
                             unsigned status = 400);
// Maps `error` with ToEcrError unless `type_override` names the exception to use.
http::Response ErrorResponse(const Error& error, std::string_view type_override = {});

}  // namespace berth::api::ecr
