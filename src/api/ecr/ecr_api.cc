#include "api/ecr/ecr_api.h"

#include <algorithm>
#include <optional>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "api/ecr/errors.h"
#include "base/crypto.h"
#include "base/digest.h"
#include "lifecycle/policy.h"
#include "registry/manifest.h"
#include "registry/names.h"

namespace berth::api::ecr {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using http::Response;

constexpr uint32_t kDefaultMaxResults = 100;

// --- request parameters -------------------------------------------------------------------------

Error Invalid(std::string msg) { return MakeError(Errc::kInvalidArgument, std::move(msg)); }

Error Constraint(std::string_view field, std::string_view what) {
  return Invalid("1 validation error detected: Value at '" + std::string(field) +
                 "' failed to satisfy constraint: " + std::string(what));
}

class Params {
 public:
  explicit Params(const json::object& o) : o_(o) {}

  const json::value* Raw(std::string_view key) const {
    auto it = o_.find(key);
    if (it == o_.end() || it->value().is_null()) {
      return nullptr;
    }
    return &it->value();
  }
  bool Has(std::string_view key) const { return Raw(key) != nullptr; }

  Result<std::optional<std::string>> Str(std::string_view key, bool required, size_t min = 0,
                                         size_t max = SIZE_MAX) const {
    const json::value* v = Raw(key);
    if (v == nullptr) {
      if (required) {
        return Invalid("1 validation error detected: Value null at '" + std::string(key) +
                       "' failed to satisfy constraint: Member must not be null");
      }
      return std::optional<std::string>();
    }
    if (!v->is_string()) {
      return Constraint(key, "Member must be a string");
    }
    std::string s(v->get_string());
    if (s.size() < min) {
      return Constraint(key,
                        "Member must have length greater than or equal to " + std::to_string(min));
    }
    if (s.size() > max) {
      return Constraint(key,
                        "Member must have length less than or equal to " + std::to_string(max));
    }
    return std::optional<std::string>(std::move(s));
  }

  Result<std::optional<int64_t>> Int(std::string_view key, int64_t min, int64_t max) const {
    const json::value* v = Raw(key);
    if (v == nullptr) {
      return std::optional<int64_t>();
    }
    int64_t n;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64()) {
      n = static_cast<int64_t>(std::min<uint64_t>(v->get_uint64(), INT64_MAX));
    } else {
      return Constraint(key, "Member must be an integer");
    }
    if (n < min || n > max) {
      return Constraint(key, "Member must have value between " + std::to_string(min) + " and " +
                                 std::to_string(max));
    }
    return std::optional<int64_t>(n);
  }

  Result<bool> Bool(std::string_view key) const {
    const json::value* v = Raw(key);
    if (v == nullptr) {
      return false;
    }
    if (!v->is_bool()) {
      return Constraint(key, "Member must be a boolean");
    }
    return v->get_bool();
  }

  // A list of strings with element and list limits.
  Result<std::optional<std::vector<std::string>>> StrList(std::string_view key, bool required,
                                                          size_t min_items, size_t max_items,
                                                          size_t max_len = SIZE_MAX) const {
    const json::value* v = Raw(key);
    if (v == nullptr) {
      if (required) {
        return Invalid("1 validation error detected: Value null at '" + std::string(key) +
                       "' failed to satisfy constraint: Member must not be null");
      }
      return std::optional<std::vector<std::string>>();
    }
    const json::array* a = v->if_array();
    if (a == nullptr) {
      return Constraint(key, "Member must be a list");
    }
    if (a->size() < min_items || a->size() > max_items) {
      return Constraint(key, "Member must have length between " + std::to_string(min_items) +
                                 " and " + std::to_string(max_items));
    }
    std::vector<std::string> out;
    for (const auto& e : *a) {
      if (!e.is_string() || e.get_string().size() > max_len) {
        return Constraint(key, "Member must contain strings of valid length");
      }
      out.emplace_back(e.get_string());
    }
    return std::optional<std::vector<std::string>>(std::move(out));
  }

 private:
  const json::object& o_;
};

// Paging: nextToken is an opaque base64url of the position after the last item returned.
std::string EncodeToken(std::string_view position) {
  return Base64UrlEncode("p1:" + std::string(position));
}
Result<std::string> DecodeToken(const std::optional<std::string>& token) {
  if (!token) {
    return std::string();
  }
  auto raw = Base64UrlDecode(*token);
  if (!raw.ok() || raw->substr(0, 3) != "p1:") {
    return Invalid(
        "Invalid parameter at 'nextToken' failed to satisfy constraint: 'must be a "
        "token returned by a previous call'");
  }
  return raw->substr(3);
}

double Epoch(int64_t seconds) { return static_cast<double>(seconds); }

Response JsonOk(const json::object& o) {
  Response r;
  r.Set("Content-Type", "application/x-amz-json-1.1");
  r.body = json::serialize(o);
  return r;
}

json::value ParseOr(const std::string& text, json::value fallback) {
  if (text.empty()) {
    return fallback;
  }
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? fallback : v;
}

// The string member `key` of a JSON object, or "" when absent or not a string.
std::string StringMember(const json::value& v, std::string_view key) {
  const json::object* o = v.if_object();
  if (o == nullptr) {
    return std::string();
  }
  auto it = o->find(key);
  return it != o->end() && it->value().is_string() ? std::string(it->value().get_string())
                                                   : std::string();
}

// --- shapes -----------------------------------------------------------------------------------

std::string HostOf(const std::string& url) {
  auto p = url.find("://");
  std::string h = p == std::string::npos ? url : url.substr(p + 3);
  while (!h.empty() && h.back() == '/') {
    h.pop_back();
  }
  return h;
}

json::object RepositoryShape(const meta::RepositoryRecord& r, const EcrOptions& opt) {
  json::object o;
  o["repositoryArn"] = iam::RepositoryArn(opt.account, r.name);
  o["registryId"] = opt.account.registry_id;
  o["repositoryName"] = r.name;
  o["repositoryUri"] = HostOf(opt.public_url) + "/" + r.name;
  o["createdAt"] = Epoch(r.created_at);
  o["imageTagMutability"] = r.image_tag_mutability;
  if (!r.mutability_exclusions_json.empty()) {
    o["imageTagMutabilityExclusionFilters"] = ParseOr(r.mutability_exclusions_json, json::array());
  }
  json::object scan;
  scan["scanOnPush"] = r.scan_on_push;
  o["imageScanningConfiguration"] = std::move(scan);
  json::object enc;
  enc["encryptionType"] = r.encryption_type;
  if (!r.kms_key.empty()) {
    enc["kmsKey"] = r.kms_key;
  }
  o["encryptionConfiguration"] = std::move(enc);
  return o;
}

json::object TemplateShape(const meta::TemplateRecord& t) {
  json::value cfg = ParseOr(t.config_json, json::object());
  json::object o = cfg.is_object() ? cfg.get_object() : json::object();
  o["prefix"] = t.prefix;
  o["createdAt"] = Epoch(t.created_at);
  o["updatedAt"] = Epoch(t.updated_at);
  return o;
}

json::object ImageId(const std::string& digest, const std::string& tag) {
  json::object id;
  if (!digest.empty()) {
    id["imageDigest"] = digest;
  }
  if (!tag.empty()) {
    id["imageTag"] = tag;
  }
  return id;
}

json::object ImageFailure(const json::value& id, std::string_view code, std::string_view reason) {
  json::object f;
  f["imageId"] = id;
  f["failureCode"] = code;
  f["failureReason"] = reason;
  return f;
}

// Validates imageTagMutability + exclusion filters (CreateRepository, PutImageTagMutability,
// templates). Returns the filters as JSON text ("" when none).
Result<std::string> CheckMutability(const Params& p, const std::string& mutability) {
  static const char* kModes[] = {"MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION",
                                 "MUTABLE_WITH_EXCLUSION"};
  if (std::none_of(std::begin(kModes), std::end(kModes),
                   [&](const char* m) { return mutability == m; })) {
    return Constraint("imageTagMutability",
                      "Member must satisfy enum value set: [MUTABLE, IMMUTABLE, "
                      "IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]");
  }
  bool with_exclusion = mutability.find("_WITH_EXCLUSION") != std::string::npos;
  const json::value* f = p.Raw("imageTagMutabilityExclusionFilters");
  if (f == nullptr) {
    if (with_exclusion) {
      return Invalid(
          "imageTagMutabilityExclusionFilters must be specified when "
          "imageTagMutability is " +
          mutability);
    }
    return std::string();
  }
  if (!with_exclusion) {
    return Invalid(
        "imageTagMutabilityExclusionFilters can only be specified when "
        "imageTagMutability is IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION");
  }
  const json::array* a = f->if_array();
  if (a == nullptr || a->empty() || a->size() > 5) {
    return Constraint("imageTagMutabilityExclusionFilters",
                      "Member must have length between 1 and 5");
  }
  for (const auto& e : *a) {
    const json::object* o = e.if_object();
    if (o == nullptr) {
      return Constraint("imageTagMutabilityExclusionFilters", "Member must be a list of filters");
    }
    auto type = o->find("filterType");
    auto filter = o->find("filter");
    if (type == o->end() || !type->value().is_string() ||
        type->value().get_string() != "WILDCARD") {
      return Constraint("imageTagMutabilityExclusionFilters.filterType",
                        "Member must satisfy enum value set: [WILDCARD]");
    }
    if (filter == o->end() || !filter->value().is_string()) {
      return Constraint("imageTagMutabilityExclusionFilters.filter", "Member must not be null");
    }
    std::string_view v = filter->value().get_string();
    bool ok = !v.empty() && v.size() <= 128;
    for (char c : v) {
      ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '.' || c == '_' || c == '*' || c == '-');
    }
    if (!ok) {
      return Constraint("imageTagMutabilityExclusionFilters.filter",
                        "Member must satisfy regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}$");
    }
  }
  return json::serialize(*f);
}

// Validates a tag list ({Key, Value}); `existing` is merged (keys replaced). Returns JSON text.
Result<std::string> MergeTags(const json::value* tags, const std::string& existing_json) {
  json::array merged;
  json::value old = ParseOr(existing_json, json::array());
  if (old.is_array()) {
    merged = old.get_array();
  }
  if (tags != nullptr) {
    const json::array* a = tags->if_array();
    if (a == nullptr) {
      return MakeError(Errc::kInvalidArgument, "tags must be a list");
    }
    for (const auto& t : *a) {
      const json::object* o = t.if_object();
      auto k = o ? o->find("Key") : nullptr;
      auto v = o ? o->find("Value") : nullptr;
      if (o == nullptr || k == o->end() || v == o->end() || !k->value().is_string() ||
          !v->value().is_string()) {
        return MakeError(Errc::kInvalidArgument, "Tag must have a Key and a Value");
      }
      std::string_view key = k->value().get_string();
      std::string_view val = v->value().get_string();
      if (key.empty() || key.size() > 128 || val.size() > 256 || key.substr(0, 4) == "aws:") {
        return MakeError(Errc::kAlreadyExists,  // mapped to InvalidTagParameterException
                         "Invalid tag: keys are 1-128 characters not starting with 'aws:', "
                         "values at most 256 characters");
      }
      bool replaced = false;
      for (auto& m : merged) {
        if (m.is_object() && m.get_object()["Key"] == k->value()) {
          m.get_object()["Value"] = v->value();
          replaced = true;
        }
      }
      if (!replaced) {
        json::object n;
        n["Key"] = k->value();
        n["Value"] = v->value();
        merged.push_back(std::move(n));
      }
    }
  }
  if (merged.size() > 50) {
    return MakeError(Errc::kLimitExceeded, "A resource can have at most 50 tags");
  }
  return merged.empty() ? std::string() : json::serialize(merged);
}

// Maps MergeTags' errors to ECR's tag exceptions.
Response TagError(const Error& e) {
  if (e.code == Errc::kAlreadyExists || e.code == Errc::kInvalidArgument) {
    return ErrorResponse("InvalidTagParameterException", e.message);
  }
  if (e.code == Errc::kLimitExceeded) {
    return ErrorResponse("TooManyTagsException", e.message);
  }
  return ErrorResponse(e);
}

// InvalidLayerPartException carries where the upload stands (botocore's model).
Response LayerPartError(const EcrOptions& opt, const std::string& repo, const std::string& id,
                        int64_t last_valid, const std::string& message) {
  Response r = ErrorResponse("InvalidLayerPartException", message);
  json::object o;
  o["__type"] = "InvalidLayerPartException";
  o["message"] = message;
  o["registryId"] = opt.account.registry_id;
  o["repositoryName"] = repo;
  o["uploadId"] = id;
  o["lastValidByteReceived"] = last_valid;
  r.body = json::serialize(o);
  return r;
}

// Maps template-store errors to ECR's template exceptions.
Response TemplateError(const Error& e, const std::string& prefix, const EcrOptions& opt) {
  std::string what = "The repository creation template with prefix '" + prefix + "'";
  std::string where = " in the registry with id '" + opt.account.registry_id + "'";
  if (e.code == Errc::kAlreadyExists) {
    return ErrorResponse("TemplateAlreadyExistsException", what + " already exists" + where);
  }
  if (e.code == Errc::kNotFound) {
    return ErrorResponse("TemplateNotFoundException", what + " does not exist" + where);
  }
  return ErrorResponse(e);
}

// {"registryId", "repositoryCreationTemplate"}: the answer of every template mutation.
Response TemplateResponse(const meta::TemplateRecord& t, const EcrOptions& opt) {
  json::object out;
  out["registryId"] = opt.account.registry_id;
  out["repositoryCreationTemplate"] = TemplateShape(t);
  return JsonOk(out);
}

Response RepoError(const Error& e, const EcrOptions& opt) {
  if (e.code == Errc::kNameUnknown) {
    return ErrorResponse("RepositoryNotFoundException",
                         "The repository with name '" + e.detail +
                             "' does not exist in the registry with id '" +
                             opt.account.registry_id + "'");
  }
  return ErrorResponse(e);
}

// The image that `digest` and/or `tag` name (when both are given, both must match), or null.
const meta::ImageRecord* FindImage(const std::vector<meta::ImageRecord>& images,
                                   const std::string& digest, const std::string& tag) {
  if (digest.empty() && tag.empty()) {
    return nullptr;
  }
  for (const auto& im : images) {
    bool dm = digest.empty() || im.digest == digest;
    bool tm = tag.empty() || std::find(im.tags.begin(), im.tags.end(), tag) != im.tags.end();
    if (dm && tm) {
      return &im;
    }
  }
  return nullptr;
}

Response ImageNotFound(const std::string& digest, const std::string& tag, const std::string& repo,
                       const EcrOptions& opt) {
  return ErrorResponse("ImageNotFoundException",
                       "The image with imageId {imageDigest:'" + digest + "', imageTag:'" + tag +
                           "'} does not exist within the repository with name '" + repo +
                           "' in the registry with id '" + opt.account.registry_id + "'");
}

// GetLifecyclePolicyPreview's answer: only images some rule acts on (ECR's sample lists none
// when nothing would change), filtered and paged; the summary covers the whole preview.
json::object PreviewResponse(const lifecycle::Preview& pv, const std::string& repo,
                             const EcrOptions& opt, const json::value* ids,
                             const std::string& tag_status, size_t limit,
                             const std::optional<std::string>& token) {
  json::object out;
  out["registryId"] = opt.account.registry_id;
  out["repositoryName"] = repo;
  out["lifecyclePolicyText"] = pv.policy_text;
  out["status"] = pv.status;
  uint64_t expiring = 0;
  uint64_t transitioning = 0;
  for (const auto& r : pv.results) {
    (r.type == lifecycle::ActionType::kExpire ? expiring : transitioning)++;
  }
  json::array results;
  size_t start = 0;
  if (token) {
    auto pos = DecodeToken(token);
    if (pos.ok()) {
      start = static_cast<size_t>(std::strtoull(pos->c_str(), nullptr, 10));
    }
  }
  size_t index = 0;
  bool more = false;
  for (const auto& r : pv.results) {
    bool tagged = !r.tags.empty();
    if ((tag_status == "TAGGED" && !tagged) || (tag_status == "UNTAGGED" && tagged)) {
      continue;
    }
    if (ids != nullptr && ids->is_array()) {
      bool wanted = false;
      for (const auto& id : ids->get_array()) {
        std::string d = StringMember(id, "imageDigest");
        std::string t = StringMember(id, "imageTag");
        wanted = wanted || (!d.empty() && d == r.digest) ||
                 (!t.empty() && std::find(r.tags.begin(), r.tags.end(), t) != r.tags.end());
      }
      if (!wanted) {
        continue;
      }
    }
    if (index++ < start) {
      continue;
    }
    if (ids == nullptr && results.size() >= limit) {
      more = true;
      break;
    }
    json::object o;
    if (!r.tags.empty()) {
      json::array tags;
      for (const auto& t : r.tags) {
        tags.emplace_back(t);
      }
      o["imageTags"] = std::move(tags);
    }
    o["imageDigest"] = r.digest;
    o["imagePushedAt"] = Epoch(r.pushed_at);
    json::object action;
    action["type"] = lifecycle::ActionTypeName(r.type);
    if (r.type == lifecycle::ActionType::kTransition) {
      action["targetStorageClass"] = lifecycle::StorageClassName(r.target);
    }
    o["action"] = std::move(action);
    o["appliedRulePriority"] = r.rule_priority;
    o["storageClass"] = lifecycle::StorageClassName(r.storage_class);
    results.push_back(std::move(o));
  }
  out["previewResults"] = std::move(results);
  if (more) {
    out["nextToken"] = EncodeToken(std::to_string(start + limit));
  }
  json::object summary;
  summary["expiringImageTotalCount"] = expiring;
  if (transitioning > 0) {
    json::object t;
    t["targetStorageClass"] = "ARCHIVE";
    t["imageTotalCount"] = transitioning;
    json::array counts;
    counts.push_back(std::move(t));
    summary["transitioningImageTotalCounts"] = std::move(counts);
  }
  out["summary"] = std::move(summary);
  return out;
}

// Actions that change nothing (the audit log skips them unless refused).
bool IsReadOnlyAction(std::string_view a) {
  if (a == "GetAuthorizationToken") {
    return false;  // issues a credential: recorded, as CloudTrail does
  }
  return a.starts_with("Describe") || a.starts_with("List") || a.starts_with("Get") ||
         a.starts_with("BatchGet") || a.starts_with("BatchCheck");
}

std::vector<std::pair<std::string, std::string>> TagPairs(const json::value* tags) {
  std::vector<std::pair<std::string, std::string>> out;
  const json::array* a = tags != nullptr ? tags->if_array() : nullptr;
  if (a == nullptr) {
    return out;
  }
  for (const auto& t : *a) {
    const json::object* o = t.if_object();
    if (o == nullptr) {
      continue;
    }
    auto k = o->find("Key");
    auto v = o->find("Value");
    if (k != o->end() && k->value().is_string()) {
      std::string value;
      if (v != o->end() && v->value().is_string()) {
        value = std::string(v->value().get_string());
      }
      out.emplace_back(std::string(k->value().get_string()), std::move(value));
    }
  }
  return out;
}

// The authorization checks an ECR call needs: ecr:<Action> on each repository it names.
// Registry-level actions (and calls whose resource does not parse: they fail validation
// later) are checked on "*".
std::vector<auth::AccessRequest> AccessRequestsFor(const std::string& action,
                                                   const json::object& body,
                                                   const iam::Account& account) {
  std::vector<auth::AccessRequest> out;
  auth::AccessRequest base;
  base.action = "ecr:" + action;
  if (action == "DescribeRepositories") {
    auto it = body.find("repositoryNames");
    if (it != body.end() && it->value().is_array()) {
      for (const auto& n : it->value().get_array()) {
        if (n.is_string()) {
          auth::AccessRequest r = base;
          r.repository = std::string(n.get_string());
          out.push_back(std::move(r));
        }
      }
    }
    return out;  // without names: filtered in Dispatch
  }
  if (auto it = body.find("repositoryName");
      it != body.end() && it->value().is_string() && !it->value().get_string().empty()) {
    base.repository = std::string(it->value().get_string());
  } else if (auto arn = body.find("resourceArn"); arn != body.end() && arn->value().is_string()) {
    auto name = iam::ParseRepositoryArn(account, std::string(arn->value().get_string()));
    if (name.ok()) {
      base.repository = *name;
    }
  }
  if (action == "CreateRepository" || action == "TagResource") {
    auto it = body.find("tags");
    base.request_tags = TagPairs(it == body.end() ? nullptr : &it->value());
  }
  if (action == "UntagResource") {
    if (auto it = body.find("tagKeys"); it != body.end() && it->value().is_array()) {
      for (const auto& k : it->value().get_array()) {
        if (k.is_string()) {
          base.tag_keys.emplace_back(k.get_string());
        }
      }
    }
  }
  out.push_back(std::move(base));
  return out;
}

}  // namespace

struct EcrApi::Call {
  http::Request& req;
  std::string action;
  json::object body;
  iam::Principal principal;
  auth::Caller caller;
  bool admin = false;  // a berth operation (kAdminTargetPrefix), IAM action "berth:<Action>"
};

EcrApi::EcrApi(registry::Registry& registry, registry::Identity& identity,
               auth::Authenticator& authenticator, auth::Authorizer& authorizer,
               lifecycle::Runner& runner, AdminJobs* jobs, const auth::TokenService& tokens,
               const Clock& clock, EcrOptions options)
    : registry_(registry),
      identity_(identity),
      authenticator_(authenticator),
      authorizer_(authorizer),
      runner_(runner),
      jobs_(jobs),
      tokens_(tokens),
      clock_(clock),
      options_(std::move(options)) {}

asio::awaitable<Response> EcrApi::Handle(http::Request& req) {
  std::string target(req.header("X-Amz-Target"));
  auto body = co_await req.ReadAll(kMaxRequestBytes);
  Response res;
  if (!body.ok()) {
    res = ErrorResponse(body.error().code == Errc::kTooLarge ? "InvalidParameterException"
                                                             : "SerializationException",
                        body.error().message);
  } else {
    auth::HttpRequestView view;
    view.method = std::string(req.method_string());
    view.target = std::string(req.target());
    view.headers = req.headers();
    view.payload_sha256_hex = HexEncode(Sha256Raw(*body));
    auto principal =
        co_await authenticator_.AuthenticateSigV4(std::move(view), "ecr", options_.account.region);
    if (!principal.ok()) {
      res = ErrorResponse(principal.error());
    } else if (!target.starts_with(kTargetPrefix) && !target.starts_with(kAdminTargetPrefix)) {
      res = ErrorResponse("UnknownOperationException", "Unknown operation " + target);
    } else {
      const bool admin = target.starts_with(kAdminTargetPrefix);
      const size_t prefix_len = admin ? kAdminTargetPrefix.size() : kTargetPrefix.size();
      boost::system::error_code ec;
      json::value v = body->empty() ? json::value(json::object()) : json::parse(*body, ec);
      if (ec || !v.is_object()) {
        res = ErrorResponse("SerializationException", "request body is not a JSON object");
      } else {
        Call call{req,
                  target.substr(prefix_len),
                  std::move(v.get_object()),
                  std::move(*principal),
                  auth::Caller{},
                  admin};
        call.caller.principal = call.principal;
        call.caller.source_ip = req.remote_address();
        call.caller.secure_transport = req.secure();
        call.caller.user_agent = std::string(req.header("User-Agent"));
        std::vector<auth::AccessRequest> checks =
            AccessRequestsFor(call.action, call.body, options_.account);
        const std::string iam_action = (admin ? "berth:" : "ecr:") + call.action;
        for (auto& check : checks) {
          check.action = iam_action;
        }
        std::optional<Response> denied;
        std::string resource = "*";
        std::string repository;
        for (auto& check : checks) {
          repository = check.repository;
          auto d = co_await authorizer_.Authorize(call.caller, std::move(check));
          if (!d.ok()) {
            denied = ErrorResponse(d.error());
            break;
          }
          resource = d->resource;
          if (!d->allowed()) {
            denied = ErrorResponse("AccessDeniedException", d->message);
            break;
          }
        }
        if (denied) {
          res = std::move(*denied);
        } else {
          if (call.admin) {
            res = co_await DispatchAdmin(call);
          } else {
            res = co_await Dispatch(call);
          }
          if (!IsReadOnlyAction(call.action) && res.status < 300) {
            authorizer_.Invalidate();  // policies, tags or repositories may have changed
          }
        }
        res.route = "ecr_" + call.action;
        res.Annotate("principal", call.principal.Arn(options_.account));
        res.Annotate("access_key_id", call.principal.access_key_id);
        res.Annotate("action", iam_action);
        res.Annotate("resource", resource);
        if (!repository.empty()) {
          res.Annotate("repository", repository);
        }
        if (!IsReadOnlyAction(call.action)) {
          res.Annotate("mutating", "1");
        }
      }
    }
  }
  res.Set("x-amzn-RequestId", req.request_id());
  if (res.route.empty()) {
    res.route = "ecr";
  }
  if (res.Annotation("principal").empty()) {
    // Refused before the caller was known (authentication failed).
    res.Annotate("principal", "anonymous");
    if (target.starts_with(kTargetPrefix)) {
      res.Annotate("action", "ecr:" + target.substr(kTargetPrefix.size()));
    } else if (target.starts_with(kAdminTargetPrefix)) {
      res.Annotate("action", "berth:" + target.substr(kAdminTargetPrefix.size()));
    }
    res.Annotate("resource", "*");
  }
  co_return res;
}

// Shorthands inside Dispatch.
#define ECR_TRY_ASSIGN(lhs, expr)                                 \
  auto BERTH_CONCAT_(r_, __LINE__) = (expr);                      \
  if (!BERTH_CONCAT_(r_, __LINE__).ok()) {                        \
    co_return ErrorResponse(BERTH_CONCAT_(r_, __LINE__).error()); \
  }                                                               \
  lhs = std::move(BERTH_CONCAT_(r_, __LINE__)).value()

asio::awaitable<Response> EcrApi::Dispatch(Call& c) {
  const std::string& a = c.action;
  Params p(c.body);
  const EcrOptions& opt = options_;

  // Every action accepts an optional registryId; it must name this registry.
  if (const json::value* rid = p.Raw("registryId"); rid != nullptr) {
    if (!rid->is_string() || rid->get_string() != opt.account.registry_id) {
      co_return ErrorResponse("InvalidParameterException",
                              "Invalid parameter at 'registryId' failed to satisfy constraint: "
                              "'must be the id of this registry (" +
                                  opt.account.registry_id + ")'");
    }
  }

  // ---------------------------------------------------------------- authorization tokens
  if (a == "GetAuthorizationToken") {
    ECR_TRY_ASSIGN(auto ids, p.StrList("registryIds", false, 1, 10));
    // (No braced initializer lists inside coroutines: GCC 12 miscompiles them.)
    std::vector<std::string> registries;
    registries.push_back(opt.account.registry_id);
    if (ids) {
      for (const auto& id : *ids) {
        if (id != opt.account.registry_id) {
          co_return ErrorResponse("InvalidParameterException",
                                  "Invalid parameter at 'registryIds': unknown registry " + id);
        }
      }
      registries = *ids;
    }
    int64_t now = clock_.NowSeconds();
    auth::TokenClaims claims;
    claims.kind = "registry";
    claims.user = c.principal.name;
    claims.access_key_id = c.principal.access_key_id;
    claims.issued_at = now;
    claims.expires_at = now + opt.token_ttl_seconds;
    json::array data;
    for (size_t i = 0; i < registries.size(); ++i) {
      json::object d;
      d["authorizationToken"] = Base64Encode("AWS:" + tokens_.Issue(claims));
      d["expiresAt"] = Epoch(claims.expires_at);
      d["proxyEndpoint"] = opt.public_url;
      data.push_back(std::move(d));
    }
    json::object out;
    out["authorizationData"] = std::move(data);
    co_return JsonOk(out);
  }

  if (a == "DescribeRegistry") {
    json::object out;
    out["registryId"] = opt.account.registry_id;
    json::object repl;
    repl["rules"] = json::array();
    out["replicationConfiguration"] = std::move(repl);
    co_return JsonOk(out);
  }

  // ---------------------------------------------------------------- repositories
  if (a == "CreateRepository") {
    ECR_TRY_ASSIGN(auto name, p.Str("repositoryName", true, 2, 256));
    if (!registry::IsValidRepositoryName(*name)) {
      co_return ErrorResponse(
          "InvalidParameterException",
          "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy "
          "regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''");
    }
    meta::RepositoryRecord rec;
    rec.name = *name;
    ECR_TRY_ASSIGN(auto mut, p.Str("imageTagMutability", false));
    rec.image_tag_mutability = mut.value_or("MUTABLE");
    ECR_TRY_ASSIGN(rec.mutability_exclusions_json, CheckMutability(p, rec.image_tag_mutability));
    if (const json::value* scan = p.Raw("imageScanningConfiguration")) {
      if (const json::object* so = scan->if_object()) {
        auto it = so->find("scanOnPush");
        rec.scan_on_push = it != so->end() && it->value().is_bool() && it->value().get_bool();
      }
    }
    if (const json::value* enc = p.Raw("encryptionConfiguration")) {
      const json::object* eo = enc->if_object();
      auto t = eo ? eo->find("encryptionType") : nullptr;
      if (eo == nullptr || t == eo->end() || !t->value().is_string()) {
        co_return ErrorResponse("InvalidParameterException",
                                "encryptionConfiguration.encryptionType is required");
      }
      std::string type(t->value().get_string());
      if (type != "AES256" && type != "KMS" && type != "KMS_DSSE") {
        co_return ErrorResponse("InvalidParameterException",
                                "encryptionType must be AES256, KMS or KMS_DSSE");
      }
      rec.encryption_type = type;
      auto k = eo->find("kmsKey");
      if (k != eo->end() && k->value().is_string()) {
        if (type == "AES256") {
          co_return ErrorResponse("InvalidParameterException",
                                  "kmsKey can only be specified with encryptionType KMS");
        }
        rec.kms_key = std::string(k->value().get_string());
      }
    }
    auto tags = MergeTags(p.Raw("tags"), "");
    if (!tags.ok()) {
      co_return TagError(tags.error());
    }
    rec.tags_json = *tags;
    auto created = co_await registry_.CreateRepository(std::move(rec));
    if (!created.ok()) {
      co_return ErrorResponse(created.error());
    }
    json::object out;
    out["repository"] = RepositoryShape(*created, opt);
    co_return JsonOk(out);
  }

  if (a == "DescribeRepositories") {
    ECR_TRY_ASSIGN(auto names, p.StrList("repositoryNames", false, 1, 100, 256));
    ECR_TRY_ASSIGN(auto max, p.Int("maxResults", 1, 1000));
    ECR_TRY_ASSIGN(auto token, p.Str("nextToken", false));
    json::array repos;
    json::object out;
    if (names) {
      if (max || token) {
        co_return ErrorResponse("InvalidParameterException",
                                "Cannot specify maxResults or nextToken together with "
                                "repositoryNames");
      }
      for (const auto& n : *names) {
        auto r = co_await registry_.GetRepository(n);
        if (!r.ok()) {
          co_return RepoError(r.error(), opt);
        }
        repos.push_back(RepositoryShape(*r, opt));
      }
    } else {
      ECR_TRY_ASSIGN(std::string after, DecodeToken(token));
      uint32_t limit = static_cast<uint32_t>(max.value_or(kDefaultMaxResults));
      auto list = co_await registry_.ListRepositoryRecords(after, limit + 1);
      if (!list.ok()) {
        co_return ErrorResponse(list.error());
      }
      for (size_t i = 0; i < list->size() && i < limit; ++i) {
        // Only repositories the caller may describe.
        auth::AccessRequest ar;
        ar.action = "ecr:DescribeRepositories";
        ar.repository = (*list)[i].name;
        auto d = co_await authorizer_.Authorize(c.caller, std::move(ar));
        if (!d.ok()) {
          co_return ErrorResponse(d.error());
        }
        if (d->allowed()) {
          repos.push_back(RepositoryShape((*list)[i], opt));
        }
      }
      if (list->size() > limit) {
        out["nextToken"] = EncodeToken((*list)[limit - 1].name);
      }
    }
    out["repositories"] = std::move(repos);
    co_return JsonOk(out);
  }

  // The remaining actions (except templates, registry policy and resource tags) address one
  // repository that must exist.
  std::optional<meta::RepositoryRecord> repo;
  if (p.Has("repositoryName")) {
    ECR_TRY_ASSIGN(auto name, p.Str("repositoryName", true, 2, 256));
    auto r = co_await registry_.GetRepository(*name);
    if (!r.ok()) {
      co_return RepoError(r.error(), opt);
    }
    repo = std::move(*r);
  }
  auto need_repo = [&]() -> std::optional<Response> {
    if (!repo) {
      return ErrorResponse("InvalidParameterException",
                           "1 validation error detected: Value null at 'repositoryName' failed "
                           "to satisfy constraint: Member must not be null");
    }
    return std::nullopt;
  };

  if (a == "DeleteRepository") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(bool force, p.Bool("force"));
    auto r = co_await registry_.DeleteRepository(repo->name, force);
    if (!r.ok()) {
      co_return RepoError(r.error(), opt);
    }
    json::object out;
    out["repository"] = RepositoryShape(*r, opt);
    co_return JsonOk(out);
  }

  // ---------------------------------------------------------------- lifecycle policies
  if (a == "PutLifecyclePolicy" || a == "GetLifecyclePolicy" || a == "DeleteLifecyclePolicy") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    json::object out;
    out["registryId"] = opt.account.registry_id;
    out["repositoryName"] = repo->name;
    if (a == "PutLifecyclePolicy") {
      ECR_TRY_ASSIGN(auto text, p.Str("lifecyclePolicyText", true, 100, 30720));
      auto policy = lifecycle::ParsePolicy(*text);
      if (!policy.ok()) {
        co_return ErrorResponse("InvalidParameterException", policy.error().message);
      }
      // Stored (and answered) minified, as ECR does.
      std::string compact = json::serialize(json::parse(*text));
      auto s = co_await registry_.SetLifecyclePolicy(repo->name, compact);
      if (!s.ok()) {
        co_return RepoError(s.error(), opt);
      }
      out["lifecyclePolicyText"] = compact;
      co_return JsonOk(out);
    }
    if (repo->lifecycle_policy.empty()) {
      co_return ErrorResponse("LifecyclePolicyNotFoundException",
                              "Lifecycle policy does not exist for the repository with name '" +
                                  repo->name + "' in the registry with id '" +
                                  opt.account.registry_id + "'");
    }
    out["lifecyclePolicyText"] = repo->lifecycle_policy;
    out["lastEvaluatedAt"] = Epoch(repo->lifecycle_evaluated_at);
    if (a == "DeleteLifecyclePolicy") {
      auto s = co_await registry_.SetLifecyclePolicy(repo->name, "");
      if (!s.ok()) {
        co_return RepoError(s.error(), opt);
      }
    }
    co_return JsonOk(out);
  }

  if (a == "StartLifecyclePolicyPreview") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto text, p.Str("lifecyclePolicyText", false, 100, 30720));
    std::string policy_text = text.value_or("");
    auto started = co_await runner_.StartPreview(repo->name, policy_text);
    if (!started.ok()) {
      const Error& e = started.error();
      if (e.code == Errc::kNotFound) {
        co_return ErrorResponse("LifecyclePolicyNotFoundException",
                                "Lifecycle policy does not exist for the repository with name '" +
                                    repo->name + "' in the registry with id '" +
                                    opt.account.registry_id + "'");
      }
      if (e.code == Errc::kPreconditionFailed) {
        co_return ErrorResponse("LifecyclePolicyPreviewInProgressException",
                                "The previous lifecycle policy preview request has not "
                                "completed. Wait and try again.");
      }
      if (e.code == Errc::kInvalidArgument) {
        co_return ErrorResponse("InvalidParameterException", e.message);
      }
      co_return RepoError(e, opt);
    }
    json::object out;
    out["registryId"] = opt.account.registry_id;
    out["repositoryName"] = repo->name;
    out["lifecyclePolicyText"] = started->policy_text;
    out["status"] = started->status;
    co_return JsonOk(out);
  }

  if (a == "GetLifecyclePolicyPreview") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto max, p.Int("maxResults", 1, 100));
    ECR_TRY_ASSIGN(auto token, p.Str("nextToken", false));
    const json::value* ids = p.Raw("imageIds");
    if (ids != nullptr && (max || token)) {
      co_return ErrorResponse("InvalidParameterException",
                              "Cannot specify maxResults or nextToken together with imageIds");
    }
    std::string tag_status = "ANY";
    if (const json::value* f = p.Raw("filter"); f != nullptr && f->is_object()) {
      tag_status = StringMember(*f, "tagStatus");
      if (tag_status.empty()) {
        tag_status = "ANY";
      }
      if (tag_status != "TAGGED" && tag_status != "UNTAGGED" && tag_status != "ANY") {
        co_return ErrorResponse("InvalidParameterException",
                                "filter.tagStatus must be TAGGED, UNTAGGED or ANY");
      }
    }
    auto preview = co_await runner_.GetPreview(repo->name);
    if (!preview.ok()) {
      if (preview.error().code == Errc::kNotFound) {
        co_return ErrorResponse("LifecyclePolicyPreviewNotFoundException",
                                "There is no dry run for this repository.");
      }
      co_return ErrorResponse(preview.error());
    }
    co_return JsonOk(PreviewResponse(*preview, repo->name, opt, ids, tag_status,
                                     static_cast<size_t>(max.value_or(100)), token));
  }

  if (a == "UpdateImageStorageClass") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    const json::value* idv = p.Raw("imageId");
    if (idv == nullptr || !idv->is_object()) {
      co_return ErrorResponse("InvalidParameterException", "imageId is required");
    }
    ECR_TRY_ASSIGN(auto target, p.Str("targetStorageClass", true));
    if (*target != "STANDARD" && *target != "ARCHIVE") {
      co_return ErrorResponse("InvalidParameterException",
                              "targetStorageClass must be STANDARD or ARCHIVE");
    }
    const std::string digest = StringMember(*idv, "imageDigest");
    const std::string tag = StringMember(*idv, "imageTag");
    auto listed = co_await registry_.ListImages(repo->name);
    if (!listed.ok()) {
      co_return RepoError(listed.error(), opt);
    }
    const meta::ImageRecord* image = FindImage(*listed, digest, tag);
    if (image == nullptr) {
      co_return ImageNotFound(digest, tag, repo->name, opt);
    }
    std::string md = image->digest;
    Result<Ok> changed = Ok{};
    std::string status;
    if (*target == "ARCHIVE") {
      changed = co_await registry_.ArchiveImage(repo->name, md);
      status = "ARCHIVED";
      if (changed.ok()) {
        auto tiered = co_await registry_.TierBlobs();
        if (!tiered.ok()) {
          co_return ErrorResponse(tiered.error());
        }
      }
    } else {
      changed = co_await registry_.RequestRestore(repo->name, md);
      status = "ACTIVATING";
    }
    if (!changed.ok()) {
      if (changed.error().code == Errc::kPreconditionFailed) {
        co_return ErrorResponse("ImageStorageClassUpdateNotSupportedException",
                                changed.error().message);
      }
      co_return ErrorResponse(changed.error());
    }
    json::object out;
    out["registryId"] = opt.account.registry_id;
    out["repositoryName"] = repo->name;
    out["imageId"] = ImageId(md, tag);
    out["imageStatus"] = status;
    co_return JsonOk(out);
  }

  if (a == "PutImageTagMutability") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto mut, p.Str("imageTagMutability", true));
    ECR_TRY_ASSIGN(std::string filters, CheckMutability(p, *mut));
    repo->image_tag_mutability = *mut;
    repo->mutability_exclusions_json = filters;
    auto s = co_await registry_.UpdateRepository(*repo);
    if (!s.ok()) {
      co_return RepoError(s.error(), opt);
    }
    json::object out;
    out["registryId"] = opt.account.registry_id;
    out["repositoryName"] = repo->name;
    out["imageTagMutability"] = *mut;
    if (!filters.empty()) {
      out["imageTagMutabilityExclusionFilters"] = ParseOr(filters, json::array());
    }
    co_return JsonOk(out);
  }

  if (a == "SetRepositoryPolicy" || a == "GetRepositoryPolicy" || a == "DeleteRepositoryPolicy") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    if (a == "SetRepositoryPolicy") {
      ECR_TRY_ASSIGN(auto text, p.Str("policyText", true, 0, 10240));
      Status valid = iam::ValidatePolicyDocument(*text, /*resource_policy=*/true);
      if (!valid.ok()) {
        co_return ErrorResponse("InvalidParameterException", valid.error().message);
      }
      repo->policy_text = *text;
      auto s = co_await registry_.UpdateRepository(*repo);
      if (!s.ok()) {
        co_return RepoError(s.error(), opt);
      }
    } else if (repo->policy_text.empty()) {
      co_return ErrorResponse("RepositoryPolicyNotFoundException",
                              "Repository policy does not exist for the repository with name '" +
                                  repo->name + "' in the registry with id '" +
                                  opt.account.registry_id + "'");
    }
    json::object out;
    out["registryId"] = opt.account.registry_id;
    out["repositoryName"] = repo->name;
    out["policyText"] = repo->policy_text;
    if (a == "DeleteRepositoryPolicy") {
      repo->policy_text.clear();
      auto s = co_await registry_.UpdateRepository(*repo);
      if (!s.ok()) {
        co_return RepoError(s.error(), opt);
      }
    }
    co_return JsonOk(out);
  }

  // ---------------------------------------------------------------- images
  if (a == "ListImages" || a == "DescribeImages") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto max, p.Int("maxResults", 1, 1000));
    ECR_TRY_ASSIGN(auto token, p.Str("nextToken", false));
    std::string tag_status = "ANY";
    std::string image_status = "ACTIVE";  // ECR lists only ACTIVE images unless asked
    if (const json::value* f = p.Raw("filter")) {
      const json::object* fo = f->if_object();
      if (fo != nullptr) {
        auto ts = fo->find("tagStatus");
        if (ts != fo->end() && ts->value().is_string()) {
          tag_status = std::string(ts->value().get_string());
        }
        auto is = fo->find("imageStatus");
        if (is != fo->end() && is->value().is_string()) {
          image_status = std::string(is->value().get_string());
        }
      }
      if (tag_status != "TAGGED" && tag_status != "UNTAGGED" && tag_status != "ANY") {
        co_return ErrorResponse("InvalidParameterException",
                                "filter.tagStatus must be TAGGED, UNTAGGED or ANY");
      }
      if (image_status != "ACTIVE" && image_status != "ARCHIVED" && image_status != "ACTIVATING" &&
          image_status != "ANY") {
        co_return ErrorResponse("InvalidParameterException",
                                "filter.imageStatus must be ACTIVE, ARCHIVED, ACTIVATING or ANY");
      }
    }
    auto images = co_await registry_.ListImages(repo->name);
    if (!images.ok()) {
      co_return RepoError(images.error(), opt);
    }
    json::object out;
    const json::value* ids = a == "DescribeImages" ? p.Raw("imageIds") : nullptr;
    std::vector<const meta::ImageRecord*> selected;
    if (ids != nullptr) {
      if (max || token) {
        co_return ErrorResponse("InvalidParameterException",
                                "Cannot specify maxResults or nextToken together with imageIds");
      }
      const json::array* arr = ids->if_array();
      if (arr == nullptr || arr->empty() || arr->size() > 100) {
        co_return ErrorResponse("InvalidParameterException",
                                "imageIds must be a list of 1 to 100 image identifiers");
      }
      for (const auto& idv : *arr) {
        const std::string digest = StringMember(idv, "imageDigest");
        const std::string tag = StringMember(idv, "imageTag");
        const meta::ImageRecord* found = FindImage(*images, digest, tag);
        if (found == nullptr) {
          co_return ImageNotFound(digest, tag, repo->name, opt);
        }
        if (std::find(selected.begin(), selected.end(), found) == selected.end()) {
          selected.push_back(found);
        }
      }
    } else {
      for (const auto& im : *images) {
        bool tagged = !im.tags.empty();
        if ((tag_status == "TAGGED" && !tagged) || (tag_status == "UNTAGGED" && tagged)) {
          continue;
        }
        if (image_status != "ANY" && im.status != image_status) {
          continue;
        }
        selected.push_back(&im);
      }
    }
    // ListImages lists one entry per tag (and one per untagged image); DescribeImages one per
    // image. Both page over that flattened order.
    json::array items;
    ECR_TRY_ASSIGN(std::string pos, DecodeToken(token));
    size_t start = pos.empty() ? 0 : static_cast<size_t>(std::strtoull(pos.c_str(), nullptr, 10));
    size_t limit =
        ids != nullptr
            ? SIZE_MAX
            : static_cast<size_t>(max.value_or(a == "ListImages" ? 1000 : kDefaultMaxResults));
    size_t index = 0;
    bool more = false;
    auto emit = [&](json::object item) {
      if (index >= start) {
        if (items.size() < limit) {
          items.push_back(std::move(item));
        } else {
          more = true;
        }
      }
      ++index;
    };
    for (const meta::ImageRecord* im : selected) {
      if (a == "ListImages") {
        if (im->tags.empty()) {
          emit(ImageId(im->digest, ""));
        }
        for (const auto& t : im->tags) {
          emit(ImageId(im->digest, t));
        }
        continue;
      }
      json::object d;
      d["registryId"] = opt.account.registry_id;
      d["repositoryName"] = repo->name;
      d["imageDigest"] = im->digest;
      if (!im->tags.empty()) {
        json::array tags;
        for (const auto& t : im->tags) {
          tags.emplace_back(t);
        }
        d["imageTags"] = std::move(tags);
      }
      d["imageSizeInBytes"] = im->image_size > 0 ? im->image_size : im->size;
      d["imagePushedAt"] = Epoch(im->pushed_at);
      d["imageManifestMediaType"] = im->media_type;
      if (!im->artifact_type.empty()) {
        d["artifactMediaType"] = im->artifact_type;
      }
      if (im->last_pulled_at > 0) {
        d["lastRecordedPullTime"] = Epoch(im->last_pulled_at);
      }
      if (!im->subject.empty()) {
        d["subjectManifestDigest"] = im->subject;
      }
      d["imageStatus"] = im->status;
      if (im->archived_at > 0) {
        d["lastArchivedAt"] = Epoch(im->archived_at);
      }
      if (im->activated_at > 0) {
        d["lastActivatedAt"] = Epoch(im->activated_at);
      }
      emit(std::move(d));
    }
    out[a == "ListImages" ? "imageIds" : "imageDetails"] = std::move(items);
    if (more) {
      out["nextToken"] = EncodeToken(std::to_string(start + limit));
    }
    co_return JsonOk(out);
  }

  if (a == "BatchGetImage" || a == "BatchDeleteImage") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    const json::value* ids = p.Raw("imageIds");
    const json::array* arr = ids ? ids->if_array() : nullptr;
    if (arr == nullptr || arr->empty() || arr->size() > 100) {
      co_return ErrorResponse("InvalidParameterException",
                              "imageIds must be a list of 1 to 100 image identifiers");
    }
    ECR_TRY_ASSIGN(auto accepted, p.StrList("acceptedMediaTypes", false, 1, 100));
    json::array images, failures, deleted;
    for (const auto& idv : *arr) {
      const std::string digest = StringMember(idv, "imageDigest");
      const std::string tag = StringMember(idv, "imageTag");
      if (digest.empty() && tag.empty()) {
        failures.push_back(ImageFailure(idv, "MissingDigestAndTag",
                                        "Invalid request parameters: image digest and tag "
                                        "cannot both be null"));
        continue;
      }
      if (!digest.empty() && !Digest::Parse(digest).ok()) {
        failures.push_back(ImageFailure(idv, "InvalidImageDigest", "Invalid image digest"));
        continue;
      }
      if (!tag.empty() && !registry::IsValidTag(tag)) {
        failures.push_back(ImageFailure(idv, "InvalidImageTag", "Invalid image tag"));
        continue;
      }
      std::string reference = digest.empty() ? tag : digest;
      auto m = co_await registry_.GetManifest(repo->name, reference);
      if (m.ok() && !tag.empty() && !digest.empty()) {
        auto by_tag = co_await registry_.GetManifest(repo->name, tag);
        if (!by_tag.ok() || by_tag->digest != m->digest) {
          failures.push_back(ImageFailure(idv, "ImageTagDoesNotMatchDigest",
                                          "Invalid request parameters: given tag does not map "
                                          "to the given digest"));
          continue;
        }
      }
      std::string md;  // the image's digest
      if (!m.ok() && m.error().code == Errc::kImageArchived) {
        if (a == "BatchGetImage") {
          failures.push_back(ImageFailure(idv, "ImageInaccessible",
                                          "The requested image is archived or being restored; "
                                          "restore it with UpdateImageStorageClass"));
          continue;
        }
        // Archived images can be deleted (ECR: batch-delete-image works at any archive age).
        auto listed = co_await registry_.ListImages(repo->name);
        if (!listed.ok()) {
          co_return ErrorResponse(listed.error());
        }
        // By digest when one is given, else by tag.
        std::string by_tag = digest.empty() ? tag : std::string();
        if (const meta::ImageRecord* im = FindImage(*listed, digest, by_tag)) {
          md = im->digest;
        }
      } else if (!m.ok()) {
        if (m.error().code == Errc::kManifestUnknown || m.error().code == Errc::kNameUnknown) {
          failures.push_back(ImageFailure(idv, "ImageNotFound", "Requested image not found"));
          continue;
        }
        co_return ErrorResponse(m.error());
      } else {
        md = m->digest.str();
      }
      if (md.empty()) {
        failures.push_back(ImageFailure(idv, "ImageNotFound", "Requested image not found"));
        continue;
      }
      if (a == "BatchGetImage") {
        if (accepted &&
            std::find(accepted->begin(), accepted->end(), m->media_type) == accepted->end()) {
          failures.push_back(ImageFailure(
              idv, "ImageNotFound",
              "The image's media type " + m->media_type + " is not in acceptedMediaTypes"));
          continue;
        }
        json::object im;
        im["registryId"] = opt.account.registry_id;
        im["repositoryName"] = repo->name;
        im["imageId"] = ImageId(m->digest.str(), tag);
        im["imageManifest"] = *m->body;
        im["imageManifestMediaType"] = m->media_type;
        images.push_back(std::move(im));
        registry_.RecordPull(repo->name, m->digest.str());
        continue;
      }
      // BatchDeleteImage: a tag removes that tag (and the image with its last tag); a digest
      // removes the image and all its tags. Images listed by an index stay while it exists.
      auto parents = co_await registry_.ListParents(repo->name, md);
      auto all = co_await registry_.ListImages(repo->name);
      if (!all.ok()) {
        co_return ErrorResponse(all.error());
      }
      std::vector<std::string> tags_of;
      for (const auto& im : *all) {
        if (im.digest == md) {
          tags_of = im.tags;
        }
      }
      bool removes_image = !digest.empty() || tags_of.size() <= 1;
      if (removes_image && parents.ok() && !parents->empty()) {
        failures.push_back(
            ImageFailure(idv, "ImageReferencedByManifestList",
                         "Requested image is referenced by an image index " + parents->front()));
        continue;
      }
      auto del = co_await registry_.DeleteManifest(repo->name, removes_image ? md : tag);
      if (!del.ok()) {
        failures.push_back(ImageFailure(idv, "ImageNotFound", del.error().message));
        continue;
      }
      if (removes_image && digest.empty() == false) {
        if (tags_of.empty()) {
          deleted.push_back(ImageId(md, ""));
        }
        for (const auto& t : tags_of) {
          deleted.push_back(ImageId(md, t));
        }
      } else {
        deleted.push_back(ImageId(md, tag));
      }
    }
    json::object out;
    if (a == "BatchGetImage") {
      out["images"] = std::move(images);
    } else {
      out["imageIds"] = std::move(deleted);
    }
    out["failures"] = std::move(failures);
    co_return JsonOk(out);
  }

  if (a == "PutImage") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto manifest, p.Str("imageManifest", true, 1, registry::kMaxManifestBytes));
    ECR_TRY_ASSIGN(auto media_type, p.Str("imageManifestMediaType", false));
    ECR_TRY_ASSIGN(auto tag, p.Str("imageTag", false, 1, 300));
    ECR_TRY_ASSIGN(auto digest, p.Str("imageDigest", false));
    std::string computed = Digest::Sha256Of(*manifest).str();
    if (digest && *digest != computed) {
      co_return ErrorResponse("ImageDigestDoesNotMatchException",
                              "Invalid parameter at 'imageDigest': the digest " + *digest +
                                  " does not match the manifest digest " + computed);
    }
    if (tag && !registry::IsValidTag(*tag)) {
      co_return ErrorResponse("InvalidParameterException",
                              "Invalid parameter at 'imageTag' failed to satisfy constraint: "
                              "'must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'");
    }
    // ImageAlreadyExists: this exact image (and tag) is already there.
    std::string existing_ref = tag ? *tag : computed;
    auto existing = co_await registry_.GetManifest(repo->name, existing_ref);
    if (existing.ok() && existing->digest.str() == computed) {
      co_return ErrorResponse("ImageAlreadyExistsException",
                              "Image with digest '" + computed + "' and tag '" + tag.value_or("") +
                                  "' already exists in the repository with name '" + repo->name +
                                  "' in registry with id '" + opt.account.registry_id + "'");
    }
    std::string reference = tag ? *tag : computed;
    auto put =
        co_await registry_.PutManifest(repo->name, reference, media_type.value_or(""), *manifest);
    if (!put.ok()) {
      const Error& e = put.error();
      if (e.code == Errc::kManifestBlobUnknown) {
        bool child_manifest = e.message.rfind("manifest", 0) == 0;
        co_return ErrorResponse(
            child_manifest ? "ReferencedImagesNotFoundException" : "LayersNotFoundException",
            e.message);
      }
      co_return RepoError(e, opt);
    }
    json::object im;
    im["registryId"] = opt.account.registry_id;
    im["repositoryName"] = repo->name;
    im["imageId"] = ImageId(put->digest.str(), tag.value_or(""));
    im["imageManifest"] = *manifest;
    if (media_type) {
      im["imageManifestMediaType"] = *media_type;
    }
    json::object out;
    out["image"] = std::move(im);
    co_return JsonOk(out);
  }

  if (a == "ListImageReferrers") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    const json::value* subj = p.Raw("subjectId");
    const json::object* so = subj ? subj->if_object() : nullptr;
    auto sd = so ? so->find("imageDigest") : nullptr;
    if (so == nullptr || sd == so->end() || !sd->value().is_string()) {
      co_return ErrorResponse("InvalidParameterException", "subjectId.imageDigest is required");
    }
    ECR_TRY_ASSIGN(auto max, p.Int("maxResults", 1, 50));
    ECR_TRY_ASSIGN(auto token, p.Str("nextToken", false));
    std::vector<std::string> types;
    if (const json::value* f = p.Raw("filter"); f != nullptr && f->is_object()) {
      auto at = f->get_object().find("artifactTypes");
      if (at != f->get_object().end() && at->value().is_array()) {
        if (at->value().get_array().size() > 5) {
          co_return ErrorResponse("InvalidParameterException",
                                  "filter.artifactTypes may list at most 5 types");
        }
        for (const auto& t : at->value().get_array()) {
          if (t.is_string()) {
            types.emplace_back(t.get_string());
          }
        }
      }
    }
    auto refs =
        co_await registry_.ListReferrers(repo->name, std::string(sd->value().get_string()), "");
    if (!refs.ok()) {
      co_return ErrorResponse(refs.error());
    }
    ECR_TRY_ASSIGN(std::string after, DecodeToken(token));
    size_t limit = static_cast<size_t>(max.value_or(50));
    json::array list;
    json::object out;
    for (const auto& r : *refs) {
      if (!types.empty() && std::find(types.begin(), types.end(), r.artifact_type) == types.end()) {
        continue;
      }
      if (!after.empty() && r.digest <= after) {
        continue;
      }
      if (list.size() == limit) {
        out["nextToken"] = EncodeToken(list.back().as_object().at("digest").as_string());
        break;
      }
      json::object o;
      o["digest"] = r.digest;
      o["mediaType"] = r.media_type;
      if (!r.artifact_type.empty()) {
        o["artifactType"] = r.artifact_type;
      }
      o["size"] = r.size;
      if (!r.annotations_json.empty()) {
        o["annotations"] = ParseOr(r.annotations_json, json::object());
      }
      o["artifactStatus"] = "ACTIVE";
      list.push_back(std::move(o));
    }
    out["referrers"] = std::move(list);
    co_return JsonOk(out);
  }

  // ---------------------------------------------------------------- layers
  if (a == "BatchCheckLayerAvailability") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto digests, p.StrList("layerDigests", true, 1, 100, 1000));
    json::array layers, failures;
    for (const auto& d : *digests) {
      auto info = co_await registry_.StatBlob(repo->name, d);
      if (info.ok()) {
        json::object l;
        l["layerDigest"] = d;
        l["layerAvailability"] = "AVAILABLE";
        l["layerSize"] = info->size;
        layers.push_back(std::move(l));
      } else {
        json::object f;
        f["layerDigest"] = d;
        bool invalid = info.error().code == Errc::kDigestInvalid;
        f["failureCode"] = invalid ? "InvalidLayerDigest" : "MissingLayerDigest";
        f["failureReason"] = invalid ? "Invalid layer digest" : "Requested layer not found";
        failures.push_back(std::move(f));
      }
    }
    json::object out;
    out["layers"] = std::move(layers);
    out["failures"] = std::move(failures);
    co_return JsonOk(out);
  }

  if (a == "InitiateLayerUpload") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    auto up = co_await registry_.StartUpload(repo->name);
    if (!up.ok()) {
      co_return RepoError(up.error(), opt);
    }
    json::object out;
    out["uploadId"] = up->id;
    out["partSize"] = 10 * 1024 * 1024;
    co_return JsonOk(out);
  }

  if (a == "UploadLayerPart") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto id, p.Str("uploadId", true));
    ECR_TRY_ASSIGN(auto first, p.Int("partFirstByte", 0, INT64_MAX));
    ECR_TRY_ASSIGN(auto last, p.Int("partLastByte", 0, INT64_MAX));
    ECR_TRY_ASSIGN(auto blob_b64, p.Str("layerPartBlob", true));
    if (!first || !last) {
      co_return ErrorResponse("InvalidParameterException",
                              "partFirstByte and partLastByte are required");
    }
    auto blob = Base64Decode(*blob_b64);
    if (!blob.ok()) {
      co_return ErrorResponse("InvalidParameterException", "layerPartBlob is not valid base64");
    }
    if (blob->size() > 20 * 1024 * 1024) {
      co_return ErrorResponse("InvalidParameterException",
                              "layerPartBlob exceeds the 20 MiB part limit");
    }
    if (*last < *first || static_cast<uint64_t>(*last - *first + 1) != blob->size()) {
      co_return ErrorResponse("InvalidLayerPartException",
                              "The part byte range does not match the size of layerPartBlob");
    }
    auto writer =
        co_await registry_.OpenUploadWriter(repo->name, *id, static_cast<uint64_t>(*first));
    if (!writer.ok()) {
      if (writer.error().code == Errc::kRangeInvalid) {
        auto st = co_await registry_.GetUpload(repo->name, *id);
        int64_t last_valid = st.ok() ? static_cast<int64_t>(st->size) - 1 : -1;
        co_return LayerPartError(opt, repo->name, *id, last_valid,
                                 "The layer part must start right after the last byte "
                                 "received: " +
                                     writer.error().message);
      }
      co_return ErrorResponse(writer.error());
    }
    Status s = co_await (*writer)->Append(std::span<const char>(blob->data(), blob->size()));
    if (!s.ok()) {
      co_return ErrorResponse(s.error());
    }
    Status stored = co_await (*writer)->Checkpoint();  // the part is stored only after this
    if (!stored.ok()) {
      co_return ErrorResponse(stored.error());
    }
    json::object out;
    out["registryId"] = opt.account.registry_id;
    out["repositoryName"] = repo->name;
    out["uploadId"] = *id;
    out["lastByteReceived"] = static_cast<int64_t>((*writer)->size()) - 1;
    co_return JsonOk(out);
  }

  if (a == "CompleteLayerUpload") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto id, p.Str("uploadId", true));
    ECR_TRY_ASSIGN(auto digests, p.StrList("layerDigests", true, 1, 100));
    const std::string& digest = digests->front();
    auto status = co_await registry_.GetUpload(repo->name, *id);
    if (!status.ok()) {
      co_return ErrorResponse(status.error());
    }
    if (status->size == 0) {
      co_return ErrorResponse("EmptyUploadException", "The upload " + *id + " has no layer parts");
    }
    auto exists = co_await registry_.StatBlob(repo->name, digest);
    if (exists.ok()) {
      (void)co_await registry_.CancelUpload(repo->name, *id);
      co_return ErrorResponse("LayerAlreadyExistsException",
                              "The layer with digest " + digest +
                                  " already exists in the repository with name '" + repo->name +
                                  "' in registry with id '" + opt.account.registry_id + "'");
    }
    auto done = co_await registry_.CompleteUpload(repo->name, *id, digest, nullptr);
    if (!done.ok()) {
      if (done.error().code == Errc::kDigestInvalid) {
        co_return ErrorResponse("InvalidLayerException", done.error().message);
      }
      co_return ErrorResponse(done.error());
    }
    json::object out;
    out["registryId"] = opt.account.registry_id;
    out["repositoryName"] = repo->name;
    out["uploadId"] = *id;
    out["layerDigest"] = done->digest.str();
    co_return JsonOk(out);
  }

  if (a == "GetDownloadUrlForLayer") {
    if (auto e = need_repo()) {
      co_return *e;
    }
    ECR_TRY_ASSIGN(auto digest, p.Str("layerDigest", true));
    auto info = co_await registry_.StatBlob(repo->name, *digest);
    if (!info.ok()) {
      if (info.error().code == Errc::kDigestInvalid) {
        co_return ErrorResponse("InvalidParameterException", info.error().message);
      }
      co_return ErrorResponse("LayersNotFoundException",
                              "The layer with digest " + *digest + " does not exist");
    }
    auto direct = co_await registry_.BlobDirectUrl(repo->name, *digest);
    if (direct.ok()) {
      json::object out;  // straight from the bucket, as ECR hands out S3 URLs
      out["downloadUrl"] = *direct;
      out["layerDigest"] = info->digest.str();
      co_return JsonOk(out);
    }
    auto key = co_await identity_.LookupAccessKey(c.principal.access_key_id);
    if (!key.ok()) {
      co_return ErrorResponse(key.error());
    }
    std::string path = "/v2/" + repo->name + "/blobs/" + info->digest.str();
    std::string query = auth::PresignQuery(
        "GET", HostOf(opt.public_url), path, {}, c.principal.access_key_id, key->secret,
        opt.account.region, "ecr", clock_.NowSeconds(), opt.download_url_ttl_seconds);
    json::object out;
    out["downloadUrl"] = opt.public_url + path + "?" + query;
    out["layerDigest"] = info->digest.str();
    co_return JsonOk(out);
  }

  // ---------------------------------------------------------------- resource tags
  if (a == "TagResource" || a == "UntagResource" || a == "ListTagsForResource") {
    ECR_TRY_ASSIGN(auto arn, p.Str("resourceArn", true));
    auto name = iam::ParseRepositoryArn(opt.account, *arn);
    if (!name.ok()) {
      co_return ErrorResponse("InvalidParameterException", name.error().message);
    }
    auto r = co_await registry_.GetRepository(*name);
    if (!r.ok()) {
      co_return RepoError(r.error(), opt);
    }
    json::object out;
    if (a == "ListTagsForResource") {
      out["tags"] = ParseOr(r->tags_json, json::array());
      co_return JsonOk(out);
    }
    if (a == "TagResource") {
      if (!p.Has("tags")) {
        co_return ErrorResponse("InvalidParameterException", "tags is required");
      }
      auto merged = MergeTags(p.Raw("tags"), r->tags_json);
      if (!merged.ok()) {
        co_return TagError(merged.error());
      }
      r->tags_json = *merged;
    } else {
      ECR_TRY_ASSIGN(auto keys, p.StrList("tagKeys", true, 0, 200));
      json::value old = ParseOr(r->tags_json, json::array());
      json::array kept;
      if (old.is_array()) {
        for (const auto& t : old.get_array()) {
          const json::object* o = t.if_object();
          auto k = o ? o->find("Key") : nullptr;
          if (o != nullptr && k != o->end() && k->value().is_string() &&
              std::find(keys->begin(), keys->end(), std::string(k->value().get_string())) !=
                  keys->end()) {
            continue;
          }
          kept.push_back(t);
        }
      }
      r->tags_json = kept.empty() ? std::string() : json::serialize(kept);
    }
    auto s = co_await registry_.UpdateRepository(*r);
    if (!s.ok()) {
      co_return RepoError(s.error(), opt);
    }
    co_return JsonOk(out);
  }

  // ---------------------------------------------------------------- registry policy
  if (a == "PutRegistryPolicy" || a == "GetRegistryPolicy" || a == "DeleteRegistryPolicy") {
    json::object out;
    out["registryId"] = opt.account.registry_id;
    if (a == "PutRegistryPolicy") {
      ECR_TRY_ASSIGN(auto text, p.Str("policyText", true, 0, 10240));
      Status valid = iam::ValidatePolicyDocument(*text, /*resource_policy=*/true);
      if (!valid.ok()) {
        co_return ErrorResponse("InvalidParameterException", valid.error().message);
      }
      auto s = co_await registry_.PutSetting("registry.policy", *text);
      if (!s.ok()) {
        co_return ErrorResponse(s.error());
      }
      out["policyText"] = *text;
      co_return JsonOk(out);
    }
    Result<std::string> text = MakeError(Errc::kInternal, "unset");
    if (a == "GetRegistryPolicy") {
      text = co_await registry_.GetSetting("registry.policy");
    } else {
      text = co_await registry_.DeleteSetting("registry.policy");
    }
    if (!text.ok()) {
      if (text.error().code == Errc::kNotFound) {
        co_return ErrorResponse("RegistryPolicyNotFoundException",
                                "Registry policy does not exist in the registry with id '" +
                                    opt.account.registry_id + "'");
      }
      co_return ErrorResponse(text.error());
    }
    out["policyText"] = *text;
    co_return JsonOk(out);
  }

  // ---------------------------------------------------------------- creation templates
  if (a == "CreateRepositoryCreationTemplate" || a == "UpdateRepositoryCreationTemplate") {
    ECR_TRY_ASSIGN(auto prefix, p.Str("prefix", true, 1, 256));
    std::string pv = *prefix;
    if (!pv.empty() && pv.back() == '/') {
      pv.pop_back();
    }
    if (*prefix != "ROOT" && !registry::IsValidRepositoryName(pv)) {
      co_return ErrorResponse("InvalidParameterException",
                              "Invalid parameter at 'prefix': must be ROOT or a repository name "
                              "prefix");
    }
    bool create = a == "CreateRepositoryCreationTemplate";
    json::object cfg;
    if (!create) {
      auto old = co_await registry_.GetTemplate(*prefix);
      if (!old.ok()) {
        co_return TemplateError(old.error(), *prefix, opt);
      }
      json::value v = ParseOr(old->config_json, json::object());
      if (v.is_object()) {
        cfg = v.get_object();
      }
    }
    ECR_TRY_ASSIGN(auto applied, p.StrList("appliedFor", create, 1, 3));
    if (applied) {
      for (const auto& x : *applied) {
        if (x != "REPLICATION" && x != "PULL_THROUGH_CACHE" && x != "CREATE_ON_PUSH") {
          co_return ErrorResponse("InvalidParameterException",
                                  "appliedFor must contain REPLICATION, PULL_THROUGH_CACHE or "
                                  "CREATE_ON_PUSH");
        }
      }
      json::array arr;
      for (const auto& x : *applied) {
        arr.emplace_back(x);
      }
      cfg["appliedFor"] = std::move(arr);
    }
    ECR_TRY_ASSIGN(auto desc, p.Str("description", false, 0, 256));
    if (desc) {
      cfg["description"] = *desc;
    }
    ECR_TRY_ASSIGN(auto mut, p.Str("imageTagMutability", false));
    if (mut) {
      ECR_TRY_ASSIGN(std::string filters, CheckMutability(p, *mut));
      cfg["imageTagMutability"] = *mut;
      if (!filters.empty()) {
        cfg["imageTagMutabilityExclusionFilters"] = ParseOr(filters, json::array());
      } else {
        cfg.erase("imageTagMutabilityExclusionFilters");
      }
    }
    for (const char* k : {"encryptionConfiguration", "resourceTags"}) {
      if (const json::value* v = p.Raw(k)) {
        cfg[k] = *v;
      }
    }
    if (p.Has("resourceTags")) {
      auto tags = MergeTags(p.Raw("resourceTags"), "");
      if (!tags.ok()) {
        co_return TagError(tags.error());
      }
    }
    ECR_TRY_ASSIGN(auto rp, p.Str("repositoryPolicy", false, 0, 10240));
    if (rp) {
      if (!rp->empty()) {
        Status valid = iam::ValidatePolicyDocument(*rp, true);
        if (!valid.ok()) {
          co_return ErrorResponse("InvalidParameterException", valid.error().message);
        }
      }
      cfg["repositoryPolicy"] = *rp;
    }
    ECR_TRY_ASSIGN(auto lp, p.Str("lifecyclePolicy", false, 0, 30720));
    if (lp) {
      cfg["lifecyclePolicy"] = *lp;
    }
    ECR_TRY_ASSIGN(auto role, p.Str("customRoleArn", false, 0, 2048));
    if (role) {
      cfg["customRoleArn"] = *role;
    }
    meta::TemplateRecord t;
    t.prefix = *prefix;
    t.config_json = json::serialize(cfg);
    Result<meta::TemplateRecord> saved = MakeError(Errc::kInternal, "unset");
    if (create) {
      saved = co_await registry_.CreateTemplate(t);
    } else {
      saved = co_await registry_.UpdateTemplate(t);
    }
    if (!saved.ok()) {
      co_return TemplateError(saved.error(), *prefix, opt);
    }
    co_return TemplateResponse(*saved, opt);
  }

  if (a == "DeleteRepositoryCreationTemplate") {
    ECR_TRY_ASSIGN(auto prefix, p.Str("prefix", true, 1, 256));
    auto old = co_await registry_.DeleteTemplate(*prefix);
    if (!old.ok()) {
      co_return TemplateError(old.error(), *prefix, opt);
    }
    co_return TemplateResponse(*old, opt);
  }

  if (a == "DescribeRepositoryCreationTemplates") {
    ECR_TRY_ASSIGN(auto prefixes, p.StrList("prefixes", false, 0, 100));
    ECR_TRY_ASSIGN(auto max, p.Int("maxResults", 1, 1000));
    ECR_TRY_ASSIGN(auto token, p.Str("nextToken", false));
    ECR_TRY_ASSIGN(std::string after, DecodeToken(token));
    auto all = co_await registry_.ListTemplates();
    if (!all.ok()) {
      co_return ErrorResponse(all.error());
    }
    size_t limit = static_cast<size_t>(max.value_or(kDefaultMaxResults));
    json::array list;
    json::object out;
    if (prefixes && !prefixes->empty()) {
      for (const auto& want : *prefixes) {
        auto it = std::find_if(all->begin(), all->end(),
                               [&](const meta::TemplateRecord& t) { return t.prefix == want; });
        if (it != all->end()) {  // unknown prefixes are simply absent from the answer
          list.push_back(TemplateShape(*it));
        }
      }
    } else {
      for (const auto& t : *all) {
        if (!after.empty() && t.prefix <= after) {
          continue;
        }
        if (list.size() == limit) {
          out["nextToken"] = EncodeToken(list.back().as_object().at("prefix").as_string());
          break;
        }
        list.push_back(TemplateShape(t));
      }
    }
    out["registryId"] = opt.account.registry_id;
    out["repositoryCreationTemplates"] = std::move(list);
    co_return JsonOk(out);
  }

  co_return ErrorResponse("UnknownOperationException",
                          "The action " + a + " is not supported by berth");
}

asio::awaitable<Response> EcrApi::DispatchAdmin(Call& c) {
  const std::string& a = c.action;
  Params p(c.body);
  if (jobs_ == nullptr) {
    co_return ErrorResponse("UnknownOperationException", "admin operations are not enabled");
  }
  if (a == "StartLifecycleRun" || a == "StartGarbageCollection") {
    ECR_TRY_ASSIGN(bool dry_run, p.Bool("dryRun"));
    Result<std::string> id = std::string();
    if (a == "StartLifecycleRun") {
      ECR_TRY_ASSIGN(auto name, p.Str("repositoryName", false, 2, 256));
      std::string repo = name.value_or("");
      id = co_await jobs_->StartLifecycleRun(repo, dry_run);
    } else {
      id = jobs_->StartGarbageCollection(dry_run);
    }
    if (!id.ok()) {
      co_return RepoError(id.error(), options_);
    }
    json::object out;
    out["jobId"] = *id;
    out["status"] = "IN_PROGRESS";
    co_return JsonOk(out);
  }
  if (a == "DescribeJob") {
    ECR_TRY_ASSIGN(auto id, p.Str("jobId", true, 1, 128));
    auto job = jobs_->DescribeJob(*id);
    if (!job.ok()) {
      co_return ErrorResponse("InvalidParameterException", "no job with id " + *id);
    }
    Response r;
    r.Set("Content-Type", "application/x-amz-json-1.1");
    r.body = std::move(*job);
    co_return r;
  }
  co_return ErrorResponse("UnknownOperationException",
                          "The operation " + a + " is not supported by berth");
}

}  // namespace berth::api::ecr
