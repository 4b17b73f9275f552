#include "api/oci/oci_api.h"

#include <algorithm>
#include <memory>

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>
#include <spdlog/spdlog.h>

#include "api/oci/errors.h"
#include "api/oci/routes.h"
#include "base/strings.h"
#include "http/range.h"
#include "registry/manifest.h"
#include "registry/names.h"

namespace berth::api::oci {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::beast::http::verb;
using http::Request;
using http::Response;

// Upload bodies stream through a buffer of this size: bounded memory per connection.
constexpr size_t kUploadChunk = 256 * 1024;

struct Query {
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* Get(std::string_view key) const {
    for (const auto& [k, v] : params) {
      if (k == key) {
        return &v;
      }
    }
    return nullptr;
  }
};

Query ParseQuery(std::string_view raw) {
  Query q;
  if (raw.empty()) {
    return q;
  }
  const std::string target = "/?" + std::string(raw);
  auto u = boost::urls::parse_origin_form(target);
  if (!u) {
    return q;
  }
  for (auto p : u->params()) {
    q.params.emplace_back(std::string(p.key), p.has_value ? std::string(p.value) : std::string());
  }
  return q;
}

std::string UrlEncode(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

Response Error(const berth::Error& e, bool head = false) {
  if (e.code == Errc::kInternal || e.code == Errc::kCorrupt || e.code == Errc::kUnavailable) {
    spdlog::error("request failed: {}: {}", ErrcName(e.code), e.message);
  }
  return ErrorResponse(e, head);
}

Response MethodNotAllowed() {
  return ErrorResponse(405, "UNSUPPORTED", "method not allowed on this endpoint");
}

std::string UploadLocation(const std::string& name, const std::string& id) {
  return "/v2/" + name + "/blobs/uploads/" + id;
}

std::string RangeHeader(uint64_t size) { return "0-" + std::to_string(size == 0 ? 0 : size - 1); }

Response UploadAccepted(const registry::UploadStatus& up, unsigned status) {
  Response res;
  res.status = status;
  res.Set("Location", UploadLocation(up.repository, up.id));
  res.Set("Range", RangeHeader(up.size));
  res.Set("Docker-Upload-UUID", up.id);
  return res;
}

Response BlobCreated(const std::string& name, const Digest& d) {
  Response res;
  res.status = 201;
  res.Set("Location", "/v2/" + name + "/blobs/" + d.str());
  res.Set("Docker-Content-Digest", d.str());
  return res;
}

// Streams the request body into the upload. Returns bytes appended or the first error.
asio::awaitable<Result<uint64_t>> StreamBody(Request& req, registry::UploadWriter& writer) {
  // Not value-initialised: every byte is written by a read before it is used.
  std::unique_ptr<char[]> storage(new char[kUploadChunk]);
  std::span<char> buf(storage.get(), kUploadChunk);
  uint64_t total = 0;
  for (;;) {
    // Fill the buffer as far as the socket allows, then write once: fewer, larger writes.
    size_t filled = 0;
    bool done = false;
    while (filled < buf.size()) {
      auto n = co_await req.ReadSome(std::span<char>(buf.data() + filled, buf.size() - filled));
      if (!n.ok()) {
        if (filled > 0) {
          // Keep what arrived intact; the client may resume from the reported offset.
          (void)co_await writer.Append(std::span<const char>(buf.data(), filled));
        }
        co_return std::move(n).error();
      }
      if (*n == 0) {
        done = true;
        break;
      }
      filled += *n;
    }
    if (filled > 0) {
      Status s = co_await writer.Append(std::span<const char>(buf.data(), filled));
      if (!s.ok()) {
        co_return std::move(s).error();
      }
      total += filled;
    }
    if (done) {
      co_return total;
    }
  }
}

// Checks an upload chunk's Content-Range against Content-Length; returns its first offset.
Result<std::optional<uint64_t>> ChunkStart(Request& req) {
  auto cr = req.header("Content-Range");
  if (cr.empty()) {
    return std::optional<uint64_t>();
  }
  BERTH_ASSIGN_OR_RETURN(http::ChunkRange range, http::ParseContentRange(cr));
  auto cl = req.content_length();
  if (cl && *cl != range.last - range.first + 1) {
    return MakeError(Errc::kRangeInvalid, "Content-Range length does not match Content-Length",
                     std::string(cr));
  }
  return std::optional<uint64_t>(range.first);
}

std::optional<uint32_t> PageSize(const Query& q, bool& bad) {
  const std::string* n = q.Get("n");
  bad = false;
  if (n == nullptr) {
    return std::nullopt;
  }
  auto v = ParseUint(*n);
  if (!v || *v > UINT32_MAX) {
    bad = true;
    return std::nullopt;
  }
  return static_cast<uint32_t>(*v);
}

const char* RouteName(Route r) {
  switch (r) {
    case Route::kNotFound:
      return "not_found";
    case Route::kBase:
      return "base";
    case Route::kCatalog:
      return "catalog";
    case Route::kTags:
      return "tags_list";
    case Route::kManifest:
      return "manifest";
    case Route::kBlob:
      return "blob";
    case Route::kUploads:
      return "upload_start";
    case Route::kUpload:
      return "upload";
    case Route::kReferrers:
      return "referrers";
  }
  return "other";
}

Response BadPage() {
  return ErrorResponse(400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative integer");
}

// JSON bodies are built in plain functions: GCC 12 miscompiles braced initializer lists inside
// coroutines, so none appear in coroutine bodies.
// Appends `v` as a JSON string. Tags and repository names are validated to characters that
// need no escaping, so they are copied as they are; anything else goes through Boost.JSON.
void AppendJsonString(std::string& out, std::string_view v) {
  bool plain = std::all_of(v.begin(), v.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-' || ch == '/' || ch == ':';
  });
  if (plain) {
    out += '"';
    out += v;
    out += '"';
  } else {
    out += json::serialize(json::string(v));
  }
}

// {"name": <name>, "<key>": [...]} (tags list) or {"<key>": [...]} (catalog). Written directly:
// a page can hold 10,000 names, and a json::array of them cost more than the database query.
Response ListResponse(std::string_view key, const std::string* name,
                      const std::vector<std::string>& items) {
  std::string body;
  size_t bytes = 32 + key.size() + (name != nullptr ? name->size() : 0);
  for (const auto& i : items) {
    bytes += i.size() + 3;
  }
  body.reserve(bytes);
  body += '{';
  if (name != nullptr) {
    body += "\"name\":";
    AppendJsonString(body, *name);
    body += ',';
  }
  AppendJsonString(body, key);
  body += ":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      body += ',';
    }
    AppendJsonString(body, items[i]);
  }
  body += "]}";
  Response res;
  res.Set("Content-Type", "application/json");
  res.body = std::move(body);
  return res;
}

// An OCI image index listing referrers (spec "Listing Referrers").
Response ReferrersResponse(const std::vector<registry::Referrer>& refs) {
  json::array manifests;
  for (const auto& rf : refs) {
    json::object d;
    d["mediaType"] = rf.media_type;
    d["digest"] = rf.digest;
    d["size"] = rf.size;
    if (!rf.artifact_type.empty()) {
      d["artifactType"] = rf.artifact_type;
    }
    if (!rf.annotations_json.empty()) {
      boost::system::error_code ec;
      json::value ann = json::parse(rf.annotations_json, ec);
      if (!ec) {
        d["annotations"] = std::move(ann);
      }
    }
    manifests.emplace_back(std::move(d));
  }
  json::object o;
  o["schemaVersion"] = 2;
  o["mediaType"] = registry::kOciIndex;
  o["manifests"] = std::move(manifests);
  Response res;
  res.Set("Content-Type", std::string(registry::kOciIndex));
  res.body = json::serialize(o);
  return res;
}

// The ECR actions an OCI request needs, all of them (ECR's mapping of the Docker API; see the
// README's permissions table). Alternatives are joined by '|' (any one suffices). Empty for
// requests that need no repository permission or that will be refused as malformed anyway.
std::vector<std::string> RequiredActions(Route route, verb method, const Query& q, bool has_body) {
  std::vector<std::string> out;
  switch (route) {
    case Route::kNotFound:
    case Route::kBase:
    case Route::kCatalog:
      break;
    case Route::kTags:
      if (method == verb::get) {
        out.emplace_back("ecr:ListImages");
      }
      break;
    case Route::kManifest:
      if (method == verb::get || method == verb::head) {
        out.emplace_back("ecr:BatchGetImage");
      } else if (method == verb::put) {
        out.emplace_back("ecr:PutImage");
      } else if (method == verb::delete_) {
        out.emplace_back("ecr:BatchDeleteImage");
      }
      break;
    case Route::kBlob:
      if (method == verb::get) {
        out.emplace_back("ecr:GetDownloadUrlForLayer");
      } else if (method == verb::head) {
        out.emplace_back("ecr:BatchCheckLayerAvailability|ecr:GetDownloadUrlForLayer");
      } else if (method == verb::delete_) {
        out.emplace_back("ecr:BatchDeleteImage");
      }
      break;
    case Route::kUploads:
      if (method == verb::post) {
        out.emplace_back("ecr:InitiateLayerUpload");
        if (q.Get("digest") != nullptr && q.Get("mount") == nullptr) {
          out.emplace_back("ecr:UploadLayerPart");
          out.emplace_back("ecr:CompleteLayerUpload");
        }
      }
      break;
    case Route::kUpload:
      if (method == verb::get || method == verb::patch || method == verb::delete_) {
        out.emplace_back("ecr:UploadLayerPart");
      } else if (method == verb::put) {
        out.emplace_back("ecr:CompleteLayerUpload");
        if (has_body) {
          out.emplace_back("ecr:UploadLayerPart");
        }
      }
      break;
    case Route::kReferrers:
      if (method == verb::get) {
        out.emplace_back("ecr:BatchGetImage");
      }
      break;
  }
  return out;
}

// A refusal: 401 for anonymous callers (so clients that hold credentials send them), 403
// DENIED for authenticated ones.
Response Denied(const auth::Caller& caller, const std::string& message, bool head) {
  if (caller.principal.anonymous()) {
    return ErrorResponse(401, "UNAUTHORIZED", "authentication required", {}, head);
  }
  return ErrorResponse(403, "DENIED", message, {}, head);
}
}  // namespace

asio::awaitable<Result<auth::AccessDecision>> OciApi::Allowed(const auth::Caller& caller,
                                                              std::string actions,
                                                              std::string repository) {
  // "a|b": any one of the alternatives suffices; a refusal explains the first.
  std::optional<Result<auth::AccessDecision>> first;
  size_t start = 0;
  while (start <= actions.size()) {
    size_t bar = actions.find('|', start);
    if (bar == std::string::npos) {
      bar = actions.size();
    }
    auth::AccessRequest ar;
    ar.action = actions.substr(start, bar - start);
    ar.repository = repository;
    auto d = co_await authorizer_.Authorize(caller, std::move(ar));
    if (!d.ok() || d->allowed()) {
      co_return d;
    }
    if (!first) {
      first = std::move(d);
    }
    start = bar + 1;
  }
  co_return std::move(*first);
}

void OciApi::AnnotateTarget(std::string_view path, verb method, std::string_view raw_query,
                            bool has_body, const iam::Account& account, Response& res) {
  RouteMatch m = MatchRoute(path);
  std::vector<std::string> actions =
      RequiredActions(m.route, method, ParseQuery(raw_query), has_body);
  if (!actions.empty()) {
    res.Annotate("action", actions.front().substr(0, actions.front().find('|')));
  } else if (m.route == Route::kCatalog) {
    res.Annotate("action", "ecr:DescribeRepositories");
  }
  if (!m.name.empty() && registry::IsValidRepositoryName(m.name)) {
    res.Annotate("repository", m.name);
    res.Annotate("resource", iam::RepositoryArn(account, m.name));
  } else {
    res.Annotate("resource", "*");
  }
}

asio::awaitable<Response> OciApi::Handle(Request& req, std::string path, std::string raw_query,
                                         auth::Caller caller) {
  RouteMatch m = MatchRoute(path);
  std::string audit_action;
  Response res = co_await [&]() -> asio::awaitable<Response> {
    const verb method = req.method();
    const bool head = method == verb::head;
    Query q = ParseQuery(raw_query);

    // Authorization comes before anything has an effect: a refused push leaves nothing.
    if (m.route == Route::kCatalog) {
      audit_action = "ecr:DescribeRepositories";
    }
    if ((m.route == Route::kBase || m.route == Route::kCatalog) && caller.principal.anonymous()) {
      co_return Denied(caller, "", head);
    }
    if (!m.name.empty() && registry::IsValidRepositoryName(m.name)) {
      std::vector<std::string> actions = RequiredActions(m.route, method, q, req.has_body());
      bool pushes = (m.route == Route::kUploads && method == verb::post) ||
                    (m.route == Route::kManifest && method == verb::put);
      if (pushes) {
        // Create-on-push also needs ecr:CreateRepository.
        auto exists = co_await authorizer_.RepositoryExists(m.name);
        if (!exists.ok()) {
          co_return Error(exists.error(), head);
        }
        if (!*exists) {
          actions.emplace_back("ecr:CreateRepository");
        }
      }
      for (const auto& action : actions) {
        std::string first = action.substr(0, action.find('|'));
        if (audit_action.empty()) {
          audit_action = first;
        }
        auto d = co_await Allowed(caller, action, m.name);
        if (!d.ok()) {
          co_return Error(d.error(), head);
        }
        if (!d->allowed()) {
          audit_action = first;
          co_return Denied(caller, d->message, head);
        }
      }
    }

    switch (m.route) {
      case Route::kNotFound:
        co_return ErrorResponse(404, "NOT_FOUND", "no such endpoint", {}, head);

      case Route::kBase: {
        if (method != verb::get && !head) {
          co_return MethodNotAllowed();
        }
        Response r;
        r.Set("Content-Type", "application/json");
        r.body = "{}";
        r.head = head;
        r.route = "base";
        co_return r;
      }

      case Route::kCatalog: {
        if (method != verb::get) {
          co_return MethodNotAllowed();
        }
        bool bad = false;
        auto n = PageSize(q, bad);
        if (bad) {
          co_return BadPage();
        }
        // GCC 12 miscompiles conditional expressions inside co_await operands: hoist them.
        std::string last = q.Get("last") ? *q.Get("last") : std::string();
        auto page = co_await registry_.ListRepositories(last, n);
        if (!page.ok()) {
          co_return Error(page.error());
        }
        // Only what the caller may describe (pages may come out shorter than n; the Link
        // still continues after the last repository of the unfiltered page).
        std::vector<std::string> visible;
        for (const auto& name : page->items) {
          auto d = co_await Allowed(caller, "ecr:DescribeRepositories", name);
          if (!d.ok()) {
            co_return Error(d.error());
          }
          if (d->allowed()) {
            visible.push_back(name);
          }
        }
        Response r = ListResponse("repositories", nullptr, visible);
        if (page->more) {
          r.Set("Link",
                "</v2/_catalog?n=" + std::to_string(n.value_or(registry_.options().max_page_size)) +
                    "&last=" + UrlEncode(page->items.back()) + ">; rel=\"next\"");
        }
        r.route = "catalog";
        co_return r;
      }

      case Route::kTags: {
        if (method != verb::get) {
          co_return MethodNotAllowed();
        }
        bool bad = false;
        auto n = PageSize(q, bad);
        if (bad) {
          co_return BadPage();
        }
        std::string last = q.Get("last") ? *q.Get("last") : std::string();
        auto page = co_await registry_.ListTags(m.name, last, n);
        if (!page.ok()) {
          co_return Error(page.error());
        }
        Response r = ListResponse("tags", &m.name, page->items);
        if (page->more) {
          std::string next = "</v2/" + m.name + "/tags/list?";
          if (n) {
            next += "n=" + std::to_string(*n) + "&";
          }
          r.Set("Link", next + "last=" + UrlEncode(page->items.back()) + ">; rel=\"next\"");
        }
        r.route = "tags_list";
        co_return r;
      }

      case Route::kBlob: {
        if (method == verb::delete_) {
          auto s = co_await registry_.DeleteBlob(m.name, m.reference);
          if (!s.ok()) {
            co_return Error(s.error());
          }
          Response r;
          r.status = 202;
          r.route = "blob_delete";
          co_return r;
        }
        if (method != verb::get && !head) {
          co_return MethodNotAllowed();
        }
        if (head) {
          auto info = co_await registry_.StatBlob(m.name, m.reference);
          if (!info.ok()) {
            co_return Error(info.error(), true);
          }
          Response r;
          r.head = true;
          r.head_length = info->size;
          r.Set("Content-Type", "application/octet-stream");
          r.Set("Docker-Content-Digest", info->digest.str());
          r.Set("Accept-Ranges", "bytes");
          r.Set("ETag", "\"" + info->digest.str() + "\"");
          r.route = "blob_head";
          co_return r;
        }
        if (registry_.options().direct_url_ttl_seconds > 0) {
          // Plaintext blobs on S3: the client fetches the bytes from the bucket itself.
          auto url = co_await registry_.BlobDirectUrl(m.name, m.reference);
          if (url.ok()) {
            Response r;
            r.status = 307;
            r.Set("Location", *url);
            r.Set("Docker-Content-Digest", m.reference);
            r.route = "blob_get";
            co_return r;
          }
        }
        auto blob = co_await registry_.OpenBlobForRead(m.name, m.reference);
        if (!blob.ok()) {
          co_return Error(blob.error());
        }
        uint64_t size = blob->reader->size();
        auto range = http::ParseRange(req.header("Range"), size);
        if (!range.ok()) {
          Response r =
              ErrorResponse(416, "RANGE_INVALID", range.error().message, range.error().detail);
          r.Set("Content-Range", "bytes */" + std::to_string(size));
          r.route = "blob_get";
          co_return r;
        }
        Response r;
        uint64_t offset = 0;
        uint64_t length = size;
        if (*range) {
          offset = (*range)->offset;
          length = (*range)->length;
          r.status = 206;
          r.Set("Content-Range", "bytes " + std::to_string(offset) + "-" +
                                     std::to_string(offset + length - 1) + "/" +
                                     std::to_string(size));
        }
        r.Set("Content-Type", "application/octet-stream");
        r.Set("Docker-Content-Digest", blob->digest.str());
        r.Set("Accept-Ranges", "bytes");
        r.Set("ETag", "\"" + blob->digest.str() + "\"");
        std::shared_ptr<storage::BlobReader> reader = std::move(blob->reader);
        if (int fd = reader->ZeroCopyFd(); fd >= 0) {
          r.file = http::FileBody{fd, offset, length, reader};
        } else {
          registry::Registry* reg = &registry_;
          r.stream = http::StreamBody{
              length,
              [reg, reader, offset](uint64_t off,
                                    std::span<char> out) -> asio::awaitable<Result<size_t>> {
                co_return co_await reg->ReadBlob(reader, offset + off, out);
              },
              reader};
        }
        r.route = "blob_get";
        co_return r;
      }

      case Route::kUploads: {
        if (method != verb::post) {
          co_return MethodNotAllowed();
        }
        const std::string* mount = q.Get("mount");
        bool may_mount = false;
        std::string from = q.Get("from") ? *q.Get("from") : std::string();
        if (mount != nullptr) {
          // A mount reads the source: it needs pull rights there (without `from`, on every
          // repository). Otherwise it falls back to a normal upload, as the spec allows.
          std::string source = from.empty() ? std::string("*") : from;
          auto d = co_await Allowed(caller, "ecr:GetDownloadUrlForLayer", source);
          if (!d.ok()) {
            co_return Error(d.error());
          }
          may_mount = d->allowed();
        }
        if (mount != nullptr && may_mount) {
          auto mr = co_await registry_.MountOrStart(m.name, *mount, from);
          if (!mr.ok()) {
            co_return Error(mr.error());
          }
          Response r =
              mr->mounted ? BlobCreated(m.name, mr->blob.digest) : UploadAccepted(mr->upload, 202);
          r.route = mr->mounted ? "blob_mount" : "upload_start";
          co_return r;
        }
        const std::string* digest = q.Get("digest");
        if (digest != nullptr) {
          // Monolithic upload: the whole blob in the POST body (spec "Single POST").
          if (auto d = Digest::Parse(*digest); !d.ok()) {
            co_return Error(MakeError(Errc::kDigestInvalid, d.error().message, *digest));
          }
          auto up = co_await registry_.StartUpload(m.name);
          if (!up.ok()) {
            co_return Error(up.error());
          }
          auto writer = co_await registry_.OpenUploadWriter(m.name, up->id, 0);
          if (!writer.ok()) {
            co_return Error(writer.error());
          }
          auto streamed = co_await StreamBody(req, **writer);
          if (!streamed.ok()) {
            writer->reset();
            (void)co_await registry_.CancelUpload(m.name, up->id);
            co_return Error(streamed.error());
          }
          auto done =
              co_await registry_.CompleteUpload(m.name, up->id, *digest, std::move(*writer));
          if (!done.ok()) {
            (void)co_await registry_.CancelUpload(m.name, up->id);
            co_return Error(done.error());
          }
          Response r = BlobCreated(m.name, done->digest);
          r.route = "blob_upload_monolithic";
          co_return r;
        }
        auto up = co_await registry_.StartUpload(m.name);
        if (!up.ok()) {
          co_return Error(up.error());
        }
        Response r = UploadAccepted(*up, 202);
        r.route = "upload_start";
        co_return r;
      }

      case Route::kUpload: {
        const std::string& id = m.reference;
        if (method == verb::get) {
          auto up = co_await registry_.GetUpload(m.name, id);
          if (!up.ok()) {
            co_return Error(up.error());
          }
          Response r = UploadAccepted(*up, 204);
          r.route = "upload_status";
          co_return r;
        }
        if (method == verb::delete_) {
          auto s = co_await registry_.CancelUpload(m.name, id);
          if (!s.ok()) {
            co_return Error(s.error());
          }
          Response r;
          r.status = 204;
          r.route = "upload_cancel";
          co_return r;
        }
        if (method != verb::patch && method != verb::put) {
          co_return MethodNotAllowed();
        }
        const std::string* digest = q.Get("digest");
        if (method == verb::put) {
          if (digest == nullptr) {
            co_return Error(
                MakeError(Errc::kDigestInvalid, "the digest query parameter is required"));
          }
          if (auto d = Digest::Parse(*digest); !d.ok()) {
            co_return Error(MakeError(Errc::kDigestInvalid, d.error().message, *digest));
          }
        }
        auto start = ChunkStart(req);
        if (!start.ok()) {
          co_return Error(start.error());
        }
        auto writer = co_await registry_.OpenUploadWriter(m.name, id, *start);
        if (!writer.ok()) {
          Response r = Error(writer.error());
          if (writer.error().code == Errc::kRangeInvalid) {
            // Tell the client where to resume (spec: 416 with the current Range).
            auto up = co_await registry_.GetUpload(m.name, id);
            if (up.ok()) {
              r.Set("Location", UploadLocation(m.name, id));
              r.Set("Range", RangeHeader(up->size));
            }
          }
          co_return r;
        }
        if (req.has_body()) {
          auto streamed = co_await StreamBody(req, **writer);
          if (!streamed.ok()) {
            co_return Error(streamed.error());
          }
        }
        if (method == verb::patch) {
          // The chunk is acknowledged only once it is stored.
          Status stored = co_await (*writer)->Checkpoint();
          if (!stored.ok()) {
            co_return Error(stored.error());
          }
          registry::UploadStatus st{id, m.name, (*writer)->size()};
          Response r = UploadAccepted(st, 202);
          r.route = "upload_chunk";
          co_return r;
        }
        auto done = co_await registry_.CompleteUpload(m.name, id, *digest, std::move(*writer));
        if (!done.ok()) {
          co_return Error(done.error());
        }
        Response r = BlobCreated(m.name, done->digest);
        r.route = "upload_complete";
        co_return r;
      }

      case Route::kManifest: {
        if (method == verb::get || head) {
          auto mc = co_await registry_.GetManifest(m.name, m.reference);
          if (!mc.ok()) {
            co_return Error(mc.error(), head);
          }
          Response r;
          r.Set("Content-Type", mc->media_type);
          r.Set("Docker-Content-Digest", mc->digest.str());
          r.Set("ETag", "\"" + mc->digest.str() + "\"");
          // Stored bytes are served as pushed (digests must not change); Accept cannot select
          // another representation, so responses vary only in that sense.
          r.Set("Vary", "Accept");
          if (head) {
            r.head = true;
            r.head_length = mc->body->size();
            r.route = "manifest_head";
          } else {
            r.body = *mc->body;
            r.route = "manifest_get";
            registry_.RecordPull(m.name, mc->digest.str());
          }
          co_return r;
        }
        if (method == verb::put) {
          auto body = co_await req.ReadAll(registry::kMaxManifestBytes);
          if (!body.ok()) {
            if (body.error().code == Errc::kTooLarge) {
              co_return ErrorResponse(413, "MANIFEST_INVALID",
                                      "manifest exceeds the 4 MiB size limit");
            }
            co_return Error(body.error());
          }
          auto put = co_await registry_.PutManifest(
              m.name, m.reference, std::string(req.header("Content-Type")), std::move(*body));
          if (!put.ok()) {
            co_return Error(put.error());
          }
          Response r;
          r.status = 201;
          r.Set("Location", "/v2/" + m.name + "/manifests/" + put->digest.str());
          r.Set("Docker-Content-Digest", put->digest.str());
          if (!put->subject.empty()) {
            r.Set("OCI-Subject", put->subject);
          }
          r.route = "manifest_put";
          co_return r;
        }
        if (method == verb::delete_) {
          auto s = co_await registry_.DeleteManifest(m.name, m.reference);
          if (!s.ok()) {
            co_return Error(s.error());
          }
          Response r;
          r.status = 202;
          r.route = "manifest_delete";
          co_return r;
        }
        co_return MethodNotAllowed();
      }

      case Route::kReferrers: {
        if (method != verb::get) {
          co_return MethodNotAllowed();
        }
        const std::string* at = q.Get("artifactType");
        std::string filter = at ? *at : "";
        auto refs = co_await registry_.ListReferrers(m.name, m.reference, filter);
        if (!refs.ok()) {
          co_return Error(refs.error());
        }
        Response r = ReferrersResponse(*refs);
        if (!filter.empty()) {
          r.Set("OCI-Filters-Applied", "artifactType");
        }
        r.route = "referrers";
        co_return r;
      }
    }
    co_return ErrorResponse(404, "NOT_FOUND", "no such endpoint");
  }();
  res.Set("Docker-Distribution-API-Version", "registry/2.0");
  if (res.route.empty()) {
    res.route = RouteName(m.route);
  }
  res.Annotate("principal", caller.principal.anonymous()
                                ? std::string("anonymous")
                                : caller.principal.Arn(authorizer_.account()));
  if (!audit_action.empty()) {
    res.Annotate("action", audit_action);
  }
  if (!m.name.empty()) {
    res.Annotate("repository", m.name);
    res.Annotate("resource", authorizer_.ResourceArn(m.name));
  } else if (m.route == Route::kCatalog) {
    res.Annotate("resource", "*");
  }
  co_return res;
}

}  // namespace berth::api::oci
