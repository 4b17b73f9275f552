#include "loadgen/scenarios.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>

#include "loadgen/blob_data.h"

// GCC 12 miscompiles braced initializer lists and conditional expressions inside coroutine bodies
// (see the berth commit "Work around GCC 12 coroutine miscompilations"), and temporaries in a
// co_await full-expression are a related risk: coroutine bodies here build requests in plain
// helper functions, name them, and use if/else instead of ?:.

namespace berth::bench {
namespace {

namespace asio = boost::asio;

constexpr std::string_view kOctet = "Content-Type: application/octet-stream\r\n";
constexpr std::string_view kManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kManifestContentType =
    "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n";
constexpr std::string_view kAccept =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json\r\n";
constexpr std::string_view kLayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kConfigType = "application/vnd.oci.image.config.v1+json";
constexpr size_t kManifestFixtures = 16;

// ---------------------------------------------------------------------------------------------
// Plain helpers (no coroutines).

Request MakeRequest(std::string_view method, std::string_view target, std::string_view headers,
                    bool send_length, BufferPair body) {
  Request r;
  r.method = method;
  r.target = target;
  r.headers = headers;
  r.send_length = send_length;
  r.body = body;
  return r;
}

BufferPair NoBody() { return BufferPair(); }

BufferPair BytesBody(std::string_view s) {
  BufferPair b;
  b.b[0] = asio::const_buffer(s.data(), s.size());
  b.n = 1;
  return b;
}

void Path(std::string& out, std::string_view repo, std::string_view kind, std::string_view ref) {
  out.clear();
  out += "/v2/";
  out += repo;
  out += kind;
  out += ref;
}

std::string Describe(std::string_view method, std::string_view target, const Reply& r,
                     std::string_view problem) {
  std::string s(method);
  s += ' ';
  if (target.size() > 160) {
    s += target.substr(0, 160);
    s += "...";
  } else {
    s += target;
  }
  s += " -> ";
  if (r.ec) {
    s += "transport error: " + r.ec.message();
  } else {
    s += std::to_string(r.status);
    if (!problem.empty()) {
      s += " (";
      s += problem;
      s += ")";
    }
    if (!r.body.empty()) {
      s += ' ';
      std::string body = r.body.substr(0, 300);
      std::replace(body.begin(), body.end(), '\n', ' ');
      s += body;
    }
  }
  return s;
}

void Fail(RunContext& ctx, Client& c, std::string_view method, std::string_view target,
          const Reply& r, std::string_view problem) {
  if (r.ec) {
    ++c.stats.transport_errors;
  } else {
    ++c.stats.http_errors;
  }
  ctx.errors.Add(Describe(method, target, r, problem));
}

// Counts the request; true if the reply is 2xx.
bool Check(RunContext& ctx, Client& c, std::string_view method, std::string_view target,
           const Reply& r) {
  ++c.stats.requests;
  if (r.ok()) {
    return true;
  }
  Fail(ctx, c, method, target, r, "");
  return false;
}

// Like Check, and the reply must carry a Location (upload session replies).
bool CheckLocation(RunContext& ctx, Client& c, std::string_view method, std::string_view target,
                   const Reply& r) {
  if (!Check(ctx, c, method, target, r)) {
    return false;
  }
  if (r.location.empty()) {
    Fail(ctx, c, method, target, r, "no Location header");
    return false;
  }
  return true;
}

void ChunkHeaders(std::string& out, uint64_t off, uint64_t len) {
  out.clear();
  out += kOctet;
  out += "Content-Range: ";
  out += std::to_string(off);
  out += '-';
  out += std::to_string(off + len - 1);
  out += "\r\n";
}

struct Desc {
  std::string_view media_type;
  std::string_view digest;
  uint64_t size = 0;
};

Desc MakeDesc(std::string_view media_type, std::string_view digest, uint64_t size) {
  Desc d;
  d.media_type = media_type;
  d.digest = digest;
  d.size = size;
  return d;
}

void AppendDesc(std::string& out, const Desc& d) {
  out += "{\"mediaType\":\"";
  out += d.media_type;
  out += "\",\"digest\":\"";
  out += d.digest;
  out += "\",\"size\":";
  out += std::to_string(d.size);
  out += '}';
}

// A small OCI image manifest; `id` goes into an annotation so each id gives a unique digest.
void BuildManifest(std::string& out, const Desc& config, const std::vector<Desc>& layers,
                   std::string_view id) {
  out.clear();
  out += "{\"schemaVersion\":2,\"mediaType\":\"";
  out += kManifestMediaType;
  out += "\",\"config\":";
  AppendDesc(out, config);
  out += ",\"layers\":[";
  for (size_t i = 0; i < layers.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    AppendDesc(out, layers[i]);
  }
  out += "],\"annotations\":{\"org.example.bench.id\":\"";
  out += id;
  out += "\"}}";
}

uint64_t FixtureSeed(std::string_view name, uint64_t size) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (char ch : name) {
    h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
  }
  return h ^ (size * 0x9e3779b97f4a7c15ULL);
}

// Upper bound on the operations one run can do, so that every blob is generated up front: 4 GiB/s
// is above what loopback carries here, 100,000 ops/s above any registry's request rate.
size_t MaxOps(const Options& o, uint64_t bytes_per_op) {
  if (o.requests > 0) {
    return static_cast<size_t>(o.requests);
  }
  double by_bandwidth = o.duration_s * 4.0 * static_cast<double>(kGiB) /
                        static_cast<double>(std::max<uint64_t>(bytes_per_op, 1));
  double by_rate = o.duration_s * 100000.0;
  return static_cast<size_t>(std::min(by_bandwidth, by_rate)) +
         2 * static_cast<size_t>(o.concurrency) + 16;
}

// Whether this read's body is hashed: the 1st, (N+1)th, (2N+1)th … read of the run across all
// clients, so that runs of a few large blobs are sampled too.
bool Sampled(RunContext& ctx) {
  if (ctx.opts.verify_every <= 0) {
    return false;
  }
  return ctx.verify_counter.fetch_add(1) % static_cast<uint64_t>(ctx.opts.verify_every) == 0;
}

std::string Hex8(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(v & 0xffffffffULL));
  return buf;
}

void UniqueTag(std::string& out, std::string_view prefix, uint64_t run_id, size_t client,
               uint64_t seq) {
  out.clear();
  out += prefix;
  out += Hex8(run_id);
  out += '-';
  out += std::to_string(client);
  out += '-';
  out += std::to_string(seq);
}

std::string TagName(size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "t%05zu", i);
  return buf;
}

// Origin-form target of a Link header's "<…>; rel=\"next\"", or "" if none.
std::string NextLink(std::string_view link) {
  size_t open = link.find('<');
  size_t close = link.find('>');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return "";
  }
  std::string_view url = link.substr(open + 1, close - open - 1);
  if (url.starts_with("http://") || url.starts_with("https://")) {
    size_t slash = url.find('/', url.find("//") + 2);
    if (slash == std::string_view::npos) {
      return "";
    }
    url.remove_prefix(slash);
  }
  return std::string(url);
}

size_t CountTags(std::string_view body) {
  size_t n = 0;
  for (size_t pos = body.find("\"t"); pos != std::string_view::npos;
       pos = body.find("\"t", pos + 2)) {
    if (pos + 2 < body.size() && body[pos + 2] >= '0' && body[pos + 2] <= '9') {
      ++n;
    }
  }
  return n;
}

// A blob to push: a member of a BlobFamily, or bytes held elsewhere.
struct BlobRef {
  const BlobFamily* family = nullptr;
  size_t index = 0;
  std::string_view bytes;
  std::string_view digest;

  uint64_t size() const {
    if (family != nullptr) {
      return family->size();
    }
    return bytes.size();
  }
  BufferPair Slice(uint64_t off, uint64_t len) const {
    if (family != nullptr) {
      return family->Slice(index, off, len);
    }
    uint64_t end = std::min<uint64_t>(bytes.size(), off + len);
    return BytesBody(bytes.substr(off, end - off));
  }
};

BlobRef FamilyBlob(const BlobFamily& f, size_t i) {
  BlobRef b;
  b.family = &f;
  b.index = i;
  b.digest = f.digest(i);
  return b;
}

BlobRef BytesBlob(std::string_view bytes, std::string_view digest) {
  BlobRef b;
  b.bytes = bytes;
  b.digest = digest;
  return b;
}

enum class PushMode { kPatch, kSingle, kPut, kChunked };

PushMode ParsePushMode(const std::string& s) {
  if (s == "patch") {
    return PushMode::kPatch;
  }
  if (s == "single") {
    return PushMode::kSingle;
  }
  if (s == "put") {
    return PushMode::kPut;
  }
  throw std::invalid_argument("--push-mode must be patch, single or put, got " + s);
}

// ---------------------------------------------------------------------------------------------
// Request sequences (coroutines).

// Uploads one blob:
//   kPatch   POST, PATCH with the whole blob, PUT ?digest= (skopeo, podman, buildah);
//   kPut     POST, PUT ?digest= with the whole blob (containerd);
//   kSingle  POST ?digest= with the whole blob. A registry without single-request uploads
//            answers 202 (the spec allows it) and gets the blob in a PUT ?digest= (counted as a
//            fallback); `single_body` false leaves the body out of the POST, for registries
//            known (probed in setup) to ignore it: they drop the connection mid-body otherwise;
//   kChunked POST, PATCHes of `chunk` bytes with Content-Range, PUT ?digest=.
asio::awaitable<bool> PushBlob(RunContext& ctx, Client& c, std::string_view repo, BlobRef blob,
                               PushMode mode, uint64_t chunk, bool single_body = true) {
  const uint64_t size = blob.size();
  Path(c.target, repo, "/blobs/uploads/", "");
  if (mode == PushMode::kSingle) {
    AppendQuery(c.target, "digest", blob.digest);
    BufferPair post_body = NoBody();
    if (single_body) {
      post_body = blob.Slice(0, size);
    }
    Request post = MakeRequest("POST", c.target, kOctet, true, post_body);
    Reply r = co_await c.conn.RoundTrip(post, BodyMode::kDiscard);
    if (!Check(ctx, c, "POST", c.target, r)) {
      co_return false;
    }
    if (r.status != 202) {
      co_return true;
    }
    if (r.location.empty()) {
      Fail(ctx, c, "POST", c.target, r, "no Location header");
      co_return false;
    }
    ++c.stats.fallbacks;
    c.target2 = std::move(r.location);
    AppendQuery(c.target2, "digest", blob.digest);
    Request put = MakeRequest("PUT", c.target2, kOctet, true, blob.Slice(0, size));
    Reply pr = co_await c.conn.RoundTrip(put, BodyMode::kDiscard);
    co_return Check(ctx, c, "PUT", c.target2, pr);
  }

  Request post = MakeRequest("POST", c.target, "", true, NoBody());
  Reply r = co_await c.conn.RoundTrip(post, BodyMode::kDiscard);
  if (!CheckLocation(ctx, c, "POST", c.target, r)) {
    co_return false;
  }
  c.target2 = std::move(r.location);
  if (mode == PushMode::kPut) {
    AppendQuery(c.target2, "digest", blob.digest);
    Request put = MakeRequest("PUT", c.target2, kOctet, true, blob.Slice(0, size));
    Reply pr = co_await c.conn.RoundTrip(put, BodyMode::kDiscard);
    co_return Check(ctx, c, "PUT", c.target2, pr);
  }
  if (mode == PushMode::kPatch) {
    Request patch = MakeRequest("PATCH", c.target2, kOctet, true, blob.Slice(0, size));
    Reply pr = co_await c.conn.RoundTrip(patch, BodyMode::kDiscard);
    if (!CheckLocation(ctx, c, "PATCH", c.target2, pr)) {
      co_return false;
    }
    c.target2 = std::move(pr.location);
  } else {
    for (uint64_t off = 0; off < size; off += chunk) {
      const uint64_t len = std::min(chunk, size - off);
      ChunkHeaders(c.headers, off, len);
      Request patch = MakeRequest("PATCH", c.target2, c.headers, true, blob.Slice(off, len));
      Reply pr = co_await c.conn.RoundTrip(patch, BodyMode::kDiscard);
      if (!CheckLocation(ctx, c, "PATCH", c.target2, pr)) {
        co_return false;
      }
      c.target2 = std::move(pr.location);
    }
  }
  AppendQuery(c.target2, "digest", blob.digest);
  Request put = MakeRequest("PUT", c.target2, "", true, NoBody());
  Reply fr = co_await c.conn.RoundTrip(put, BodyMode::kDiscard);
  co_return Check(ctx, c, "PUT", c.target2, fr);
}

// HEAD, and upload (POST + PUT) if the registry answers 404. For fixtures.
asio::awaitable<bool> EnsureBlob(RunContext& ctx, Client& c, std::string_view repo, BlobRef blob) {
  Path(c.target, repo, "/blobs/", blob.digest);
  Request head = MakeRequest("HEAD", c.target, "", false, NoBody());
  Reply r = co_await c.conn.RoundTrip(head, BodyMode::kDiscard);
  ++c.stats.requests;
  if (r.ok()) {
    co_return true;
  }
  if (r.ec || r.status != 404) {
    Fail(ctx, c, "HEAD", c.target, r, "");
    co_return false;
  }
  bool pushed = co_await PushBlob(ctx, c, repo, blob, PushMode::kPut, 0);
  co_return pushed;
}

// GET a blob; checks its length, and its digest when `verify`.
asio::awaitable<bool> GetBlob(RunContext& ctx, Client& c, std::string_view repo,
                              std::string_view digest, uint64_t size, bool verify) {
  Path(c.target, repo, "/blobs/", digest);
  BodyMode mode = BodyMode::kDiscard;
  if (verify) {
    mode = BodyMode::kHash;
  }
  Request get = MakeRequest("GET", c.target, "", false, NoBody());
  Reply r = co_await c.conn.RoundTrip(get, mode);
  if (!Check(ctx, c, "GET", c.target, r)) {
    co_return false;
  }
  if (r.body_bytes != size) {
    Fail(ctx, c, "GET", c.target, r, "body length " + std::to_string(r.body_bytes));
    co_return false;
  }
  if (verify) {
    ++c.stats.digest_checks;
    if (r.digest != digest) {
      ++c.stats.digest_mismatches;
      ctx.errors.Add("GET " + c.target + " -> body digest " + r.digest);
      co_return false;
    }
  }
  co_return true;
}

// GET (or HEAD) a manifest by tag or digest; checks the body's digest when `verify`.
asio::awaitable<bool> GetManifest(RunContext& ctx, Client& c, std::string_view repo,
                                  std::string_view ref, std::string_view method,
                                  std::string_view digest, bool verify, uint64_t& bytes) {
  Path(c.target, repo, "/manifests/", ref);
  BodyMode mode = BodyMode::kDiscard;
  if (verify && method == "GET") {
    mode = BodyMode::kHash;
  }
  Request get = MakeRequest(method, c.target, kAccept, false, NoBody());
  Reply r = co_await c.conn.RoundTrip(get, mode);
  if (!Check(ctx, c, method, c.target, r)) {
    co_return false;
  }
  bytes = r.body_bytes;
  if (mode == BodyMode::kHash) {
    ++c.stats.digest_checks;
    if (r.digest != digest) {
      ++c.stats.digest_mismatches;
      ctx.errors.Add("GET " + c.target + " -> manifest digest " + r.digest + ", want " +
                     std::string(digest));
      co_return false;
    }
  }
  co_return true;
}

asio::awaitable<bool> PutManifest(RunContext& ctx, Client& c, std::string_view repo,
                                  std::string_view ref, std::string_view body) {
  Path(c.target, repo, "/manifests/", ref);
  Request put = MakeRequest("PUT", c.target, kManifestContentType, true, BytesBody(body));
  Reply r = co_await c.conn.RoundTrip(put, BodyMode::kDiscard);
  co_return Check(ctx, c, "PUT", c.target, r);
}

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the manifest scenarios: a config and one small layer.

class ImageFixture {
 public:
  explicit ImageFixture(std::string_view name)
      : config_(
            "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
            "\"diff_ids\":[]},\"config\":{\"Labels\":{\"bench\":\"" +
            std::string(name) + "\"}}}"),
        config_digest_(Sha256Digest(config_.data(), config_.size())),
        layer_(4 * kKiB, 1, FixtureSeed(name, 4 * kKiB)) {}

  BlobRef config() const { return BytesBlob(config_, config_digest_); }
  BlobRef layer() const { return FamilyBlob(layer_, 0); }
  Desc config_desc() const { return MakeDesc(kConfigType, config_digest_, config_.size()); }
  std::vector<Desc> layer_descs() const {
    std::vector<Desc> v;
    v.push_back(MakeDesc(kLayerType, layer_.digest(0), layer_.size()));
    return v;
  }
  std::string Manifest(std::string_view id) const {
    std::string m;
    BuildManifest(m, config_desc(), layer_descs(), id);
    return m;
  }

 private:
  std::string config_;
  std::string config_digest_;
  BlobFamily layer_;
};

bool EnsureImageFixture(RunContext& ctx, SetupEnv& env, const ImageFixture& fx,
                        const std::string& repo) {
  return env.ParallelFor(2, [&ctx, &fx, &repo](Client& c, size_t i) -> asio::awaitable<bool> {
    BlobRef blob = fx.layer();
    if (i == 0) {
      blob = fx.config();
    }
    bool ok = co_await EnsureBlob(ctx, c, repo, blob);
    co_return ok;
  });
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

class PushScenario : public Scenario {
 public:
  PushScenario(RunContext& ctx, PushMode mode)
      : ctx_(ctx),
        mode_(mode),
        repo_(ctx.opts.repo_prefix + "/push"),
        blobs_(ctx.opts.size, MaxOps(ctx.opts, ctx.opts.size), ctx.run_id) {}

  // For single-POST: probes with a 64-byte blob whether the registry takes the body of a
  // POST ?digest= (201) or ignores it (202).
  bool Setup(SetupEnv& env) override {
    if (mode_ != PushMode::kSingle) {
      return true;
    }
    return env.ParallelFor(1, [this](Client& c, size_t) -> asio::awaitable<bool> {
      BlobFamily probe(64, 1, ctx_.run_id ^ 0x70726f6265ULL);
      Path(c.target, repo_, "/blobs/uploads/", "");
      AppendQuery(c.target, "digest", probe.digest(0));
      Request post = MakeRequest("POST", c.target, kOctet, true, probe.Whole(0));
      Reply r = co_await c.conn.RoundTrip(post, BodyMode::kDiscard);
      if (!Check(ctx_, c, "POST", c.target, r)) {
        co_return false;
      }
      single_body_ = r.status != 202;
      co_return true;
    });
  }

  asio::awaitable<OpResult> Op(Client& c) override {
    OpResult res;
    const size_t i = next_.fetch_add(1);
    if (i >= blobs_.count()) {
      res.exhausted = true;
      co_return res;
    }
    ++c.seq;
    res.ok = co_await PushBlob(ctx_, c, repo_, FamilyBlob(blobs_, i), mode_, ctx_.opts.chunk,
                               single_body_);
    res.bytes = blobs_.size();
    co_return res;
  }

  bool Bandwidth() const override { return true; }
  uint64_t Size() const override { return blobs_.size(); }
  std::string Variant() const override {
    switch (mode_) {
      case PushMode::kPatch:
        return "patch";
      case PushMode::kSingle:
        return "single";
      case PushMode::kPut:
        return "put";
      case PushMode::kChunked:
        return "chunk=" + std::to_string(ctx_.opts.chunk / kMiB) + "MiB";
    }
    return "";
  }

 private:
  RunContext& ctx_;
  PushMode mode_;
  std::string repo_;
  BlobFamily blobs_;
  std::atomic<size_t> next_{0};
  bool single_body_ = true;  // written in Setup, read-only during the run
};

// pull (GET) and head-blob (HEAD) over a few pre-pushed blobs of one size.
class BlobReadScenario : public Scenario {
 public:
  BlobReadScenario(RunContext& ctx, bool head)
      : ctx_(ctx),
        head_(head),
        repo_(ctx.opts.repo_prefix + "/pull"),
        blobs_(ctx.opts.size, FixtureCount(ctx.opts.size), FixtureSeed("pull", ctx.opts.size)) {}

  bool Setup(SetupEnv& env) override {
    return env.ParallelFor(blobs_.count(), [this](Client& c, size_t i) -> asio::awaitable<bool> {
      bool ok = co_await EnsureBlob(ctx_, c, repo_, FamilyBlob(blobs_, i));
      co_return ok;
    });
  }

  asio::awaitable<OpResult> Op(Client& c) override {
    OpResult res;
    const size_t i = (c.index + c.seq) % blobs_.count();
    ++c.seq;
    if (head_) {
      Path(c.target, repo_, "/blobs/", blobs_.digest(i));
      Request head = MakeRequest("HEAD", c.target, "", false, NoBody());
      Reply r = co_await c.conn.RoundTrip(head, BodyMode::kDiscard);
      res.ok = Check(ctx_, c, "HEAD", c.target, r);
      co_return res;
    }
    res.ok = co_await GetBlob(ctx_, c, repo_, blobs_.digest(i), blobs_.size(), Sampled(ctx_));
    res.bytes = blobs_.size();
    co_return res;
  }

  bool Bandwidth() const override { return !head_; }
  uint64_t Size() const override { return blobs_.size(); }

 private:
  // Enough distinct blobs that clients do not all read one file, without a long setup.
  static size_t FixtureCount(uint64_t size) {
    return static_cast<size_t>(std::clamp<uint64_t>(256 * kMiB / size, 2, 16));
  }

  RunContext& ctx_;
  bool head_;
  std::string repo_;
  BlobFamily blobs_;
};

// manifest-get / manifest-head by tag over 16 tagged manifests.
class ManifestReadScenario : public Scenario {
 public:
  ManifestReadScenario(RunContext& ctx, bool head)
      : ctx_(ctx), head_(head), repo_(ctx.opts.repo_prefix + "/manifests"), fx_("manifests") {
    for (size_t i = 0; i < kManifestFixtures; ++i) {
      tags_.push_back(std::string("m").append(std::to_string(i)));
      manifests_.push_back(fx_.Manifest(tags_.back()));
      digests_.push_back(Sha256Digest(manifests_.back().data(), manifests_.back().size()));
    }
  }

  bool Setup(SetupEnv& env) override {
    if (!EnsureImageFixture(ctx_, env, fx_, repo_)) {
      return false;
    }
    return env.ParallelFor(tags_.size(), [this](Client& c, size_t i) -> asio::awaitable<bool> {
      bool ok = co_await PutManifest(ctx_, c, repo_, tags_[i], manifests_[i]);
      co_return ok;
    });
  }

  asio::awaitable<OpResult> Op(Client& c) override {
    OpResult res;
    const size_t i = (c.index + c.seq) % tags_.size();
    ++c.seq;
    std::string_view method = "GET";
    if (head_) {
      method = "HEAD";
    }
    res.ok = co_await GetManifest(ctx_, c, repo_, tags_[i], method, digests_[i], Sampled(ctx_),
                                  res.bytes);
    co_return res;
  }

  bool Bandwidth() const override { return false; }

 private:
  RunContext& ctx_;
  bool head_;
  std::string repo_;
  ImageFixture fx_;
  std::vector<std::string> tags_;
  std::vector<std::string> manifests_;
  std::vector<std::string> digests_;
};

// manifest-put: a unique small manifest under a unique tag per operation.
class ManifestPutScenario : public Scenario {
 public:
  explicit ManifestPutScenario(RunContext& ctx)
      : ctx_(ctx), repo_(ctx.opts.repo_prefix + "/manifest-put"), fx_("manifest-put") {}

  bool Setup(SetupEnv& env) override { return EnsureImageFixture(ctx_, env, fx_, repo_); }

  asio::awaitable<OpResult> Op(Client& c) override {
    OpResult res;
    UniqueTag(c.target2, "p", ctx_.run_id, c.index, c.seq);
    ++c.seq;
    BuildManifest(c.body, fx_.config_desc(), fx_.layer_descs(), c.target2);
    res.ok = co_await PutManifest(ctx_, c, repo_, c.target2, c.body);
    res.bytes = c.body.size();
    co_return res;
  }

  bool Bandwidth() const override { return false; }

 private:
  RunContext& ctx_;
  std::string repo_;
  ImageFixture fx_;
};

// tags-list: the whole list of a repository with --tags tags (following Link), or one page of
// --page-size tags starting at a random page.
class TagsListScenario : public Scenario {
 public:
  explicit TagsListScenario(RunContext& ctx)
      : ctx_(ctx),
        repo_(ctx.opts.repo_prefix + "/tags"),
        fx_("tags"),
        manifest_(fx_.Manifest("tags")) {
    if (ctx.opts.tags <= 0) {
      throw std::invalid_argument("--tags must be positive");
    }
  }

  bool Setup(SetupEnv& env) override {
    if (!EnsureImageFixture(ctx_, env, fx_, repo_)) {
      return false;
    }
    size_t have = 0;
    bool listed = env.ParallelFor(1, [this, &have](Client& c, size_t) -> asio::awaitable<bool> {
      Path(c.target, repo_, "/tags/list", "");
      for (int guard = 0; guard < 100000; ++guard) {
        Request get = MakeRequest("GET", c.target, "", false, NoBody());
        Reply r = co_await c.conn.RoundTrip(get, BodyMode::kCapture, 64 * kMiB);
        if (r.status == 404) {
          co_return true;  // no such repository yet
        }
        if (!Check(ctx_, c, "GET", c.target, r)) {
          co_return false;
        }
        have += CountTags(r.body);
        c.target = NextLink(r.link);
        if (c.target.empty()) {
          break;
        }
      }
      co_return true;
    });
    if (!listed) {
      return false;
    }
    if (have >= static_cast<size_t>(ctx_.opts.tags)) {
      return true;
    }
    return env.ParallelFor(static_cast<size_t>(ctx_.opts.tags),
                           [this](Client& c, size_t i) -> asio::awaitable<bool> {
                             std::string tag = TagName(i);
                             bool ok = co_await PutManifest(ctx_, c, repo_, tag, manifest_);
                             co_return ok;
                           });
  }

  asio::awaitable<OpResult> Op(Client& c) override {
    OpResult res;
    ++c.seq;
    const int page = ctx_.opts.page_size;
    if (page > 0) {
      const uint64_t pages = std::max<uint64_t>(1, static_cast<uint64_t>(ctx_.opts.tags / page));
      const uint64_t p = c.rng.Below(pages);
      Path(c.target, repo_, "/tags/list", "");
      AppendQuery(c.target, "n", std::to_string(page));
      if (p > 0) {
        AppendQuery(c.target, "last", TagName(p * static_cast<uint64_t>(page) - 1));
      }
      Request get = MakeRequest("GET", c.target, "", false, NoBody());
      Reply r = co_await c.conn.RoundTrip(get, BodyMode::kDiscard);
      res.ok = Check(ctx_, c, "GET", c.target, r);
      res.bytes = r.body_bytes;
      co_return res;
    }
    Path(c.target, repo_, "/tags/list", "");
    for (int guard = 0; guard < 100000; ++guard) {
      Request get = MakeRequest("GET", c.target, "", false, NoBody());
      Reply r = co_await c.conn.RoundTrip(get, BodyMode::kDiscard);
      if (!Check(ctx_, c, "GET", c.target, r)) {
        co_return res;
      }
      res.bytes += r.body_bytes;
      c.target = NextLink(r.link);
      if (c.target.empty()) {
        break;
      }
    }
    res.ok = true;
    co_return res;
  }

  bool Bandwidth() const override { return false; }
  std::string Variant() const override {
    if (ctx_.opts.page_size > 0) {
      return "n=" + std::to_string(ctx_.opts.page_size);
    }
    return "all " + std::to_string(ctx_.opts.tags);
  }

 private:
  RunContext& ctx_;
  std::string repo_;
  ImageFixture fx_;
  std::string manifest_;
};

// mixed: CI-like. Clients with index % 4 == 3 push (HEAD the 5 base layers, upload a new layer
// of --size bytes and a new config with POST/PATCH/PUT, PUT a manifest under a new tag); the
// others pull the 5-layer base image (manifest GET by tag, then 5 blob GETs).
class MixedScenario : public Scenario {
 public:
  explicit MixedScenario(RunContext& ctx)
      : ctx_(ctx),
        repo_(ctx.opts.repo_prefix + "/mixed"),
        fx_("mixed"),
        new_layers_(ctx.opts.size, MaxOps(ctx.opts, ctx.opts.size), ctx.run_id),
        new_configs_(512, new_layers_.count(), ctx.run_id + 1) {
    static constexpr uint64_t kSizes[] = {8 * kMiB, 4 * kMiB, 2 * kMiB, kMiB, 256 * kKiB};
    for (uint64_t s : kSizes) {
      base_.push_back(std::make_unique<BlobFamily>(s, 1, FixtureSeed("mixed-base", s)));
      base_descs_.push_back(MakeDesc(kLayerType, base_.back()->digest(0), s));
      base_bytes_ += s;
    }
    BuildManifest(base_manifest_, fx_.config_desc(), base_descs_, "base");
    base_digest_ = Sha256Digest(base_manifest_.data(), base_manifest_.size());
  }

  bool Setup(SetupEnv& env) override {
    bool ok =
        env.ParallelFor(base_.size() + 1, [this](Client& c, size_t i) -> asio::awaitable<bool> {
          BlobRef blob = fx_.config();
          if (i < base_.size()) {
            blob = FamilyBlob(*base_[i], 0);
          }
          bool done = co_await EnsureBlob(ctx_, c, repo_, blob);
          co_return done;
        });
    if (!ok) {
      return false;
    }
    return env.ParallelFor(1, [this](Client& c, size_t) -> asio::awaitable<bool> {
      bool done = co_await PutManifest(ctx_, c, repo_, "base", base_manifest_);
      co_return done;
    });
  }

  asio::awaitable<OpResult> Op(Client& c) override {
    OpResult res;
    ++c.seq;
    if (c.index % 4 == 3) {
      res.cls = 1;
      res = co_await Push(c);
      co_return res;
    }
    const bool verify = Sampled(ctx_);
    uint64_t mbytes = 0;
    bool ok = co_await GetManifest(ctx_, c, repo_, "base", "GET", base_digest_, verify, mbytes);
    for (size_t i = 0; ok && i < base_.size(); ++i) {
      ok = co_await GetBlob(ctx_, c, repo_, base_[i]->digest(0), base_[i]->size(), verify);
    }
    res.ok = ok;
    res.bytes = mbytes + base_bytes_;
    co_return res;
  }

  std::vector<std::string> Classes() const override { return {"pull", "push"}; }
  bool Bandwidth() const override { return true; }
  uint64_t Size() const override { return new_layers_.size(); }
  std::string Variant() const override { return "3 pull : 1 push"; }

 private:
  asio::awaitable<OpResult> Push(Client& c) {
    OpResult res;
    res.cls = 1;
    const size_t i = next_.fetch_add(1);
    if (i >= new_layers_.count()) {
      res.exhausted = true;
      co_return res;
    }
    for (size_t l = 0; l < base_.size(); ++l) {
      Path(c.target, repo_, "/blobs/", base_[l]->digest(0));
      Request head = MakeRequest("HEAD", c.target, "", false, NoBody());
      Reply r = co_await c.conn.RoundTrip(head, BodyMode::kDiscard);
      if (!Check(ctx_, c, "HEAD", c.target, r)) {
        co_return res;
      }
    }
    bool pushed =
        co_await PushBlob(ctx_, c, repo_, FamilyBlob(new_layers_, i), PushMode::kPatch, 0);
    if (!pushed) {
      co_return res;
    }
    pushed = co_await PushBlob(ctx_, c, repo_, FamilyBlob(new_configs_, i), PushMode::kPatch, 0);
    if (!pushed) {
      co_return res;
    }
    std::vector<Desc> layers = base_descs_;
    layers.push_back(MakeDesc(kLayerType, new_layers_.digest(i), new_layers_.size()));
    UniqueTag(c.target2, "ci-", ctx_.run_id, c.index, c.seq);
    BuildManifest(c.body, MakeDesc(kConfigType, new_configs_.digest(i), new_configs_.size()),
                  layers, c.target2);
    res.ok = co_await PutManifest(ctx_, c, repo_, c.target2, c.body);
    res.bytes = new_layers_.size() + new_configs_.size() + c.body.size();
    co_return res;
  }

  RunContext& ctx_;
  std::string repo_;
  ImageFixture fx_;
  std::vector<std::unique_ptr<BlobFamily>> base_;
  std::vector<Desc> base_descs_;
  uint64_t base_bytes_ = 0;
  std::string base_manifest_;
  std::string base_digest_;
  BlobFamily new_layers_;
  BlobFamily new_configs_;
  std::atomic<size_t> next_{0};
};

}  // namespace

std::vector<std::string> ScenarioNames() {
  return {"push-mono",    "push-chunked",  "pull",      "head-blob", "manifest-put",
          "manifest-get", "manifest-head", "tags-list", "mixed"};
}

std::unique_ptr<Scenario> MakeScenario(RunContext& ctx) {
  const std::string& s = ctx.opts.scenario;
  if (s == "push-mono") {
    return std::make_unique<PushScenario>(ctx, ParsePushMode(ctx.opts.push_mode));
  }
  if (s == "push-chunked") {
    if (ctx.opts.chunk == 0) {
      throw std::invalid_argument("--chunk must be positive");
    }
    return std::make_unique<PushScenario>(ctx, PushMode::kChunked);
  }
  if (s == "pull") {
    return std::make_unique<BlobReadScenario>(ctx, false);
  }
  if (s == "head-blob") {
    return std::make_unique<BlobReadScenario>(ctx, true);
  }
  if (s == "manifest-put") {
    return std::make_unique<ManifestPutScenario>(ctx);
  }
  if (s == "manifest-get") {
    return std::make_unique<ManifestReadScenario>(ctx, false);
  }
  if (s == "manifest-head") {
    return std::make_unique<ManifestReadScenario>(ctx, true);
  }
  if (s == "tags-list") {
    return std::make_unique<TagsListScenario>(ctx);
  }
  if (s == "mixed") {
    return std::make_unique<MixedScenario>(ctx);
  }
  throw std::invalid_argument("unknown scenario '" + s + "'");
}

}  // namespace berth::bench
