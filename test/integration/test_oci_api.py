#!/usr/bin/env python3
"""Black-box tests of berth's OCI Distribution API (/v2/), written from the specs:

  [dist]   OCI Distribution Spec v1.1, spec.md (opencontainers/distribution-spec)
  [image]  OCI Image Spec v1.1: manifest.md, image-index.md, descriptor.md
  [docker] Docker Image Manifest V2 Schema 2, manifest-v2-2.md (distribution/distribution)
  [dapi]   Docker Registry HTTP API V2, docs/spec/api.md (distribution/distribution):
           only for what OCI dropped: /v2/_catalog and the API version header
  [rfc9110] HTTP Semantics, section 14 (range requests)

Each test cites the section it checks. Where a spec leaves a choice open, the test accepts
every conforming answer and says so; where berth's documented contract narrows a choice
(e.g. the exact error code), the test says "berth:".

Run:  python3 test/integration/test_oci_api.py [-v] [TestClass[.test_name] ...]
Env:  BERTH_BIN (default /work/main/build/berth), BERTH_KEEP_TMP=1.
"""

import base64
import hashlib
import json
import os
import random
import re
import sqlite3
import sys
import time
import unittest
import urllib.parse
import uuid
from typing import NamedTuple, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from berth_harness import (  # noqa: E402
    BerthTestCase,
    Response,
    add_query,
    split_location,
)

# ---------------------------------------------------------------- media types
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCTET = "application/octet-stream"
# What a well-behaved client sends ([dist] "Pulling manifests": the client SHOULD
# include an Accept header listing the types it supports).
ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])

SBOM_TYPE = "application/vnd.example.sbom.v1"
SIG_CONFIG_TYPE = "application/vnd.example.signature.config.v1+json"

# [image] manifest.md "Guidance for an Empty Descriptor": the two bytes "{}".
EMPTY_JSON = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
EMPTY_BLOB_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

ERROR_CODE_RE = re.compile(r"^[A-Z_]+$")
LINK_NEXT_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
POLL_DEADLINE_S = 60.0


# -------------------------------------------------------------------- helpers
def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def random_digest() -> str:
    return sha256(os.urandom(32))


_counter = 0


def unique_repo(prefix: str) -> str:
    """A fresh, valid repository name ([dist] "Pulling manifests" name grammar)."""
    global _counter
    _counter += 1
    return "it/%s-%d-%s" % (prefix, _counter, uuid.uuid4().hex[:8])


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    d = {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
    d.update(extra)
    return d


def link_next(resp: Response) -> Optional[str]:
    """The rel="next" target of a Link header (RFC 5988), as path+query."""
    for value in resp.headers.get_all("Link"):
        m = LINK_NEXT_RE.search(value)
        if m:
            return split_location(m.group(1))
    return None


class Pushed(NamedTuple):
    digest: str
    body: bytes
    media_type: str
    obj: dict
    resp: Response

    @property
    def size(self) -> int:
        return len(self.body)

    def desc(self, **extra) -> dict:
        return descriptor(self.media_type, self.body, **extra)


class OciTestCase(BerthTestCase):
    """Assertions and push helpers shared by every class in this file."""

    maxDiff = 4000

    # ------------------------------------------------------------- assertions
    def assertStatus(self, resp: Response, *expected: int) -> None:
        if resp.status not in expected:
            self.fail("expected HTTP %s, got %s" % ("/".join(map(str, expected)),
                                                   resp.describe()))

    def assertError(self, resp: Response, statuses, codes, head: bool = False) -> dict:
        """[dist] "Error Codes": a 4XX JSON body is {"errors":[{"code","message",
        "detail"}]}; code is upper case and underscores. berth: every error carries a
        JSON body with a non-empty message. A HEAD response has no body ([dist] and
        RFC 9110 9.3.2). Empty `codes` accepts any code. Returns the matching error
        entry (or {} for HEAD)."""
        statuses = (statuses,) if isinstance(statuses, int) else tuple(statuses)
        codes = (codes,) if isinstance(codes, str) else tuple(codes)
        self.assertStatus(resp, *statuses)
        if head:
            self.assertEqual(resp.body, b"", "HEAD response must not carry a body")
            return {}
        try:
            doc = resp.json()
        except (ValueError, UnicodeDecodeError):
            self.fail("error body is not JSON: %s" % resp.describe())
        self.assertIsInstance(doc, dict, resp.describe())
        errors = doc.get("errors")
        self.assertIsInstance(errors, list, "no errors array: %s" % resp.describe())
        self.assertTrue(errors, "empty errors array: %s" % resp.describe())
        for e in errors:
            self.assertIsInstance(e, dict, resp.describe())
            self.assertIsInstance(e.get("code"), str, resp.describe())
            self.assertRegex(e["code"], ERROR_CODE_RE, resp.describe())
            self.assertIsInstance(e.get("message"), str, resp.describe())
            self.assertTrue(e["message"].strip(), "empty message: %s" % resp.describe())
        if not codes:  # any code will do
            return errors[0]
        found = [e for e in errors if e["code"] in codes]
        self.assertTrue(found, "expected error code %s, got %s" % (
            "/".join(codes), resp.describe()))
        return found[0]

    def assertDigestHeader(self, resp: Response, digest: str) -> None:
        self.assertEqual(resp.headers.get("Docker-Content-Digest"), digest, resp.describe())

    def assertNoBlob(self, repo: str, digest: str) -> None:
        r = self.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest))
        self.assertError(r, 404, (), head=True)

    def assertBlob(self, repo: str, digest: str, data: bytes) -> None:
        r = self.request("GET", "/v2/%s/blobs/%s" % (repo, digest))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, data)

    # ------------------------------------------------------------ blob pushes
    def start_upload(self, repo: str, client=None) -> str:
        """[dist] "POST then PUT" / "Pushing a blob in chunks": POST with
        Content-Length 0 → 202 + Location. Returns the location as path+query."""
        send = client.request if client is not None else self.request
        r = send("POST", "/v2/%s/blobs/uploads/" % repo, None, {"Content-Length": "0"})
        self.assertStatus(r, 202)
        loc = r.headers.get("Location")
        self.assertTrue(loc, "202 without Location: %s" % r.describe())
        return split_location(loc)

    def push_blob(self, repo: str, data: bytes) -> str:
        """POST then PUT <location>?digest= with the whole body (the flow every
        registry MUST support). Returns the digest."""
        digest = sha256(data)
        loc = self.start_upload(repo)
        r = self.request("PUT", add_query(loc, digest=digest), data,
                         {"Content-Type": OCTET})
        self.assertStatus(r, 201)
        return digest

    def patch_chunk(self, loc: str, data: bytes, start: Optional[int], client=None) -> Response:
        headers = {"Content-Type": OCTET}
        if start is not None:
            headers["Content-Range"] = "%d-%d" % (start, start + len(data) - 1)
        send = client.request if client is not None else self.request
        return send("PATCH", loc, data, headers)

    # -------------------------------------------------------- manifest pushes
    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> Response:
        return self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body,
                            {"Content-Type": media_type})

    def push_manifest(self, repo: str, obj, media_type: str, ref: Optional[str] = None,
                      body: Optional[bytes] = None) -> Pushed:
        body = body if body is not None else canonical(obj)
        digest = sha256(body)
        r = self.put_manifest(repo, ref or digest, body, media_type)
        self.assertStatus(r, 201)
        return Pushed(digest, body, media_type, obj, r)

    def image_manifest(self, repo: str, *, config_type: str = OCI_CONFIG,
                       layer_type: str = OCI_LAYER, media_type: str = OCI_MANIFEST,
                       layers: int = 1, artifact_type: Optional[str] = None,
                       subject: Optional[dict] = None,
                       annotations: Optional[dict] = None,
                       empty_config: bool = False) -> dict:
        """Pushes a config and `layers` layer blobs, returns the manifest object."""
        if empty_config:
            self.push_blob(repo, EMPTY_JSON)
            config = descriptor(OCI_EMPTY, EMPTY_JSON)
        else:
            cfg = canonical({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []},
                             "config": {"Labels": {"nonce": uuid.uuid4().hex}}})
            self.push_blob(repo, cfg)
            config = descriptor(config_type, cfg)
        layer_descs = []
        for _ in range(layers):
            data = os.urandom(random.randint(100, 3000))
            self.push_blob(repo, data)
            layer_descs.append(descriptor(layer_type, data))
        m = {"schemaVersion": 2, "mediaType": media_type}
        if artifact_type:
            m["artifactType"] = artifact_type
        m["config"] = config
        m["layers"] = layer_descs
        if subject:
            m["subject"] = subject
        if annotations:
            m["annotations"] = annotations
        return m

    def push_image(self, repo: str, ref: Optional[str] = None, **kw) -> Pushed:
        media_type = kw.get("media_type", OCI_MANIFEST)
        return self.push_manifest(repo, self.image_manifest(repo, **kw), media_type, ref)

    def manifest(self, method: str, repo: str, ref: str, accept: str = ACCEPT_ALL) -> Response:
        headers = {"Accept": accept} if accept else {}
        return self.request(method, "/v2/%s/manifests/%s" % (repo, ref), headers=headers)

    def get_tags(self, repo: str, query: str = "") -> Response:
        return self.request("GET", "/v2/%s/tags/list%s" % (repo, query))


# ============================================================================
class TestBase(OciTestCase):
    def test_api_version_check(self):
        # [dist] "Determining Support": 200 means the registry implements the spec.
        # [dapi] "API Version Check": Docker-Distribution-API-Version: registry/2.0.
        r = self.request("GET", "/v2/")
        self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("Docker-Distribution-API-Version"), "registry/2.0")

    def test_healthz(self):
        # berth: GET /healthz → 200.
        self.assertStatus(self.request("GET", "/healthz"), 200)

    def test_keep_alive_many_requests_on_one_connection(self):
        # HTTP/1.1 persistent connections (RFC 9112 9.3): every response here is
        # framed, so the server must keep the connection open.
        repo = unique_repo("keepalive")
        data = os.urandom(5000)
        digest = sha256(data)
        with self.berth.connection() as c:
            steps = []

            def step(name, resp, *statuses):
                self.assertStatus(resp, *statuses)
                self.assertNotEqual((resp.headers.get("Connection") or "").lower(), "close",
                                    "server closed the connection after %s" % name)
                steps.append((name, c.local_address()))

            step("GET /v2/", c.request("GET", "/v2/"), 200)
            loc = self.start_upload(repo, client=c)
            steps.append(("POST upload", c.local_address()))
            r = self.patch_chunk(loc, data[:3000], 0, client=c)
            step("PATCH", r, 202)
            r = c.request("GET", split_location(r.headers["Location"]))
            step("GET upload status", r, 204)
            r = self.patch_chunk(split_location(r.headers["Location"]), data[3000:], 3000,
                                 client=c)
            step("PATCH 2", r, 202)
            step("PUT", c.request("PUT", add_query(split_location(r.headers["Location"]),
                                                   digest=digest)), 201)
            step("HEAD blob", c.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest)), 200)
            r = c.request("GET", "/v2/%s/blobs/%s" % (repo, digest))
            step("GET blob", r, 200)
            self.assertEqual(r.body, data)
            step("GET range", c.request("GET", "/v2/%s/blobs/%s" % (repo, digest),
                                        headers={"Range": "bytes=0-9"}), 206)
            step("HEAD unknown", c.request("HEAD", "/v2/%s/blobs/%s" % (repo, random_digest())),
                 404)
            step("GET unknown", c.request("GET", "/v2/%s/blobs/%s" % (repo, random_digest())),
                 404)
            cfg = EMPTY_JSON
            loc = self.start_upload(repo, client=c)
            step("PUT config", c.request("PUT", add_query(loc, digest=EMPTY_DIGEST), cfg,
                                         {"Content-Type": OCTET}), 201)
            man = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                             "config": descriptor(OCI_CONFIG, cfg),
                             "layers": [descriptor(OCI_LAYER, data)]})
            step("PUT manifest", c.request("PUT", "/v2/%s/manifests/v1" % repo, man,
                                           {"Content-Type": OCI_MANIFEST}), 201)
            step("GET manifest", c.request("GET", "/v2/%s/manifests/v1" % repo,
                                           headers={"Accept": OCI_MANIFEST}), 200)
            step("HEAD manifest", c.request("HEAD", "/v2/%s/manifests/v1" % repo,
                                            headers={"Accept": OCI_MANIFEST}), 200)
            step("tags", c.request("GET", "/v2/%s/tags/list" % repo), 200)
            first = steps[0][1]
            for name, addr in steps:
                self.assertEqual(addr, first, "connection was not reused for %s" % name)
            # An error answered before the request body is consumed must not
            # desynchronise the connection: the server either drains the body or
            # announces Connection: close.
            # (The 416 itself is checked in TestUploads; here only what follows it.)
            loc = self.start_upload(repo, client=c)
            self.patch_chunk(loc, os.urandom(20000), 5, client=c)
            r2 = c.request("GET", "/v2/")
            self.assertStatus(r2, 200)


# ============================================================================
class TestBlobs(OciTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.repo = unique_repo("blobs")
        cls.data = os.urandom(10_000)
        cls.size = len(cls.data)
        t = cls("test_head_blob")
        cls.digest = t.push_blob(cls.repo, cls.data)
        cls.url = "/v2/%s/blobs/%s" % (cls.repo, cls.digest)

    def ranged(self, spec: str) -> Response:
        return self.request("GET", self.url, headers={"Range": spec})

    def test_head_blob(self):
        # [dist] "Checking if content exists": 200, Docker-Content-Digest,
        # Content-Length; no body.
        r = self.request("HEAD", self.url)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.headers.get("Content-Length"), str(self.size))
        self.assertDigestHeader(r, self.digest)

    def test_get_blob(self):
        # [dist] "Pulling blobs": 200 with the blob; Docker-Content-Digest matches body.
        r = self.request("GET", self.url)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, self.data)
        self.assertEqual(r.headers.get("Content-Length"), str(self.size))
        self.assertDigestHeader(r, self.digest)
        self.assertEqual(sha256(r.body), self.digest)

    def test_range_closed(self):
        # [dist] "Pulling blobs": SHOULD support Range per RFC 9110 14.
        r = self.ranged("bytes=10-19")
        self.assertStatus(r, 206)
        self.assertEqual(r.headers.get("Content-Range"), "bytes 10-19/%d" % self.size)
        self.assertEqual(r.headers.get("Content-Length"), "10")
        self.assertEqual(r.body, self.data[10:20])

    def test_range_open_ended(self):
        start = self.size - 100
        r = self.ranged("bytes=%d-" % start)
        self.assertStatus(r, 206)
        self.assertEqual(r.headers.get("Content-Range"),
                         "bytes %d-%d/%d" % (start, self.size - 1, self.size))
        self.assertEqual(r.body, self.data[start:])

    def test_range_suffix(self):
        r = self.ranged("bytes=-7")
        self.assertStatus(r, 206)
        self.assertEqual(r.headers.get("Content-Range"),
                         "bytes %d-%d/%d" % (self.size - 7, self.size - 1, self.size))
        self.assertEqual(r.body, self.data[-7:])

    def test_range_first_byte(self):
        r = self.ranged("bytes=0-0")
        self.assertStatus(r, 206)
        self.assertEqual(r.headers.get("Content-Range"), "bytes 0-0/%d" % self.size)
        self.assertEqual(r.body, self.data[:1])

    def test_range_last_pos_beyond_end_is_clamped(self):
        # RFC 9110 14.1.2: a last-pos >= length means "up to the end".
        r = self.ranged("bytes=5-%d" % (self.size + 1000))
        self.assertStatus(r, 206)
        self.assertEqual(r.headers.get("Content-Range"),
                         "bytes 5-%d/%d" % (self.size - 1, self.size))
        self.assertEqual(r.body, self.data[5:])

    def test_range_suffix_longer_than_blob(self):
        # RFC 9110 14.1.2: the entire representation is used; 206 or a plain 200.
        r = self.ranged("bytes=-%d" % (self.size * 2))
        self.assertStatus(r, 200, 206)
        self.assertEqual(r.body, self.data)
        if r.status == 206:
            self.assertEqual(r.headers.get("Content-Range"),
                             "bytes 0-%d/%d" % (self.size - 1, self.size))

    def test_range_unsatisfiable(self):
        # RFC 9110 15.5.17: 416, and SHOULD send Content-Range: bytes */<length>.
        for spec in ("bytes=%d-%d" % (self.size, self.size + 10), "bytes=%d-" % (self.size + 5)):
            r = self.ranged(spec)
            self.assertStatus(r, 416)
            cr = r.headers.get("Content-Range")
            if cr is not None:
                self.assertEqual(cr, "bytes */%d" % self.size)
            if r.body:  # a body is optional here; if there is one, it is an OCI error
                self.assertError(r, 416, ())

    def test_unknown_blob(self):
        # [dist] "Pulling blobs": 404; [dist] code-1 BLOB_UNKNOWN.
        url = "/v2/%s/blobs/%s" % (self.repo, random_digest())
        self.assertError(self.request("GET", url), 404, "BLOB_UNKNOWN")
        self.assertError(self.request("HEAD", url), 404, (), head=True)

    def test_blob_is_scoped_to_its_repository(self):
        # [dist] "Pulling blobs": "If the blob is not found in the repository, the
        # response code MUST be 404" — even when another repository has it.
        other = unique_repo("blobs-other")
        self.push_blob(other, os.urandom(64))
        url = "/v2/%s/blobs/%s" % (other, self.digest)
        self.assertError(self.request("GET", url), 404, "BLOB_UNKNOWN")
        self.assertError(self.request("HEAD", url), 404, (), head=True)

    def test_delete_blob(self):
        # [dist] "Deleting Blobs": 202, then 404; deleting again → 404.
        repo = unique_repo("blobs-del")
        data = os.urandom(300)
        digest = self.push_blob(repo, data)
        url = "/v2/%s/blobs/%s" % (repo, digest)
        self.assertStatus(self.request("DELETE", url), 202)
        self.assertError(self.request("HEAD", url), 404, (), head=True)
        self.assertError(self.request("GET", url), 404, "BLOB_UNKNOWN")
        self.assertError(self.request("DELETE", url), 404, "BLOB_UNKNOWN")

    def test_delete_blob_keeps_it_in_other_repositories(self):
        # Deleting from one repository must not affect another that holds the same
        # content ([dist] "Deleting Blobs" is per <name>).
        a, b = unique_repo("blobs-del-a"), unique_repo("blobs-del-b")
        data = os.urandom(700)
        digest = self.push_blob(a, data)
        self.push_blob(b, data)
        self.assertStatus(self.request("DELETE", "/v2/%s/blobs/%s" % (a, digest)), 202)
        self.assertNoBlob(a, digest)
        self.assertBlob(b, digest, data)

    def test_malformed_digest(self):
        # [image] descriptor.md "Digests": algorithm ":" encoded; sha256 encoded is
        # /[a-f0-9]{64}/ ([A-F] MUST NOT be used). berth: 400 DIGEST_INVALID.
        bad = ["sha256:xyz", "sha256:" + "a" * 63, "sha256:" + "a" * 65,
               "sha256:" + "A" * 64, "sha256:", "sha256", "nodigest",
               ":" + "a" * 64, "sha256:" + "g" * 64]
        for d in bad:
            with self.subTest(digest=d):
                url = "/v2/%s/blobs/%s" % (self.repo, d)
                self.assertError(self.request("GET", url), 400, "DIGEST_INVALID")
                self.assertError(self.request("HEAD", url), 400, (), head=True)
                self.assertError(self.request("DELETE", url), 400, "DIGEST_INVALID")

    def test_unsupported_digest_algorithm(self):
        # [image] descriptor.md "Registered algorithms": sha256 (MUST), sha512 (MAY).
        # md5 is not registered: refused with DIGEST_INVALID or UNSUPPORTED.
        d = "md5:" + hashlib.md5(self.data).hexdigest()
        r = self.request("GET", "/v2/%s/blobs/%s" % (self.repo, d))
        self.assertError(r, (400, 415), ("DIGEST_INVALID", "UNSUPPORTED"))
        data = os.urandom(100)
        d = "md5:" + hashlib.md5(data).hexdigest()
        r = self.request("POST", add_query("/v2/%s/blobs/uploads/" % self.repo, digest=d),
                         data, {"Content-Type": OCTET})
        self.assertError(r, (400, 415), ("DIGEST_INVALID", "UNSUPPORTED"))

    def test_sha512_is_either_supported_or_refused(self):
        # [image] descriptor.md: sha512 MAY be implemented. Either it works end to
        # end, or the upload is refused with a digest error and nothing is stored.
        data = os.urandom(500)
        d = "sha512:" + hashlib.sha512(data).hexdigest()
        r = self.request("POST", add_query("/v2/%s/blobs/uploads/" % self.repo, digest=d),
                         data, {"Content-Type": OCTET})
        if r.status == 201:
            self.assertBlob(self.repo, d, data)
        elif r.status == 202:  # single-POST not used: finish with PUT
            r = self.request("PUT", add_query(split_location(r.headers["Location"]), digest=d),
                             data, {"Content-Type": OCTET})
            if r.status == 201:
                self.assertBlob(self.repo, d, data)
            else:
                self.assertError(r, (400, 415), ("DIGEST_INVALID", "UNSUPPORTED"))
        else:
            self.assertError(r, (400, 415), ("DIGEST_INVALID", "UNSUPPORTED"))


# ============================================================================
class TestUploads(OciTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.repo = unique_repo("uploads")

    def test_post_starts_session(self):
        # [dist] "POST then PUT": 202 + Location (absolute or relative) containing
        # the session id. berth: /v2/<name>/blobs/uploads/<id>.
        r = self.request("POST", "/v2/%s/blobs/uploads/" % self.repo, None,
                         {"Content-Length": "0"})
        self.assertStatus(r, 202)
        loc = split_location(r.headers.get("Location") or "")
        prefix = "/v2/%s/blobs/uploads/" % self.repo
        self.assertTrue(loc.startswith(prefix), r.describe())
        self.assertTrue(loc[len(prefix):].split("?")[0].strip("/"), "no session id in %r" % loc)
        # Range is not required on POST by [dist]; if sent it can only be 0-0.
        if "Range" in r.headers:
            self.assertEqual(r.headers["Range"], "0-0")
        if "OCI-Chunk-Min-Length" in r.headers:
            self.assertRegex(r.headers["OCI-Chunk-Min-Length"], r"^[0-9]+$")
        # The location is usable: GET status → 204 ([dist] end-13).
        self.assertStatus(self.request("GET", loc), 204)

    def test_sessions_are_distinct(self):
        a = self.start_upload(self.repo)
        b = self.start_upload(self.repo)
        self.assertNotEqual(a, b)

    def test_monolithic_post_then_put(self):
        # [dist] "POST then PUT": PUT <location>?digest= with the blob → 201 +
        # Location of a pullable blob.
        data = os.urandom(4321)
        digest = sha256(data)
        loc = self.start_upload(self.repo)
        r = self.request("PUT", add_query(loc, digest=digest), data, {"Content-Type": OCTET})
        self.assertStatus(r, 201)
        self.assertTrue(r.headers.get("Location"), r.describe())
        if "Docker-Content-Digest" in r.headers:
            self.assertDigestHeader(r, digest)
        g = self.request("GET", split_location(r.headers["Location"]))
        self.assertStatus(g, 200)
        self.assertEqual(g.body, data)
        self.assertBlob(self.repo, digest, data)

    def test_single_post_monolithic(self):
        # [dist] "Single POST" (MAY; berth supports it): 201 + Location.
        # berth: Location /v2/<name>/blobs/<digest> and Docker-Content-Digest.
        data = os.urandom(2048)
        digest = sha256(data)
        r = self.request("POST", add_query("/v2/%s/blobs/uploads/" % self.repo, digest=digest),
                         data, {"Content-Type": OCTET})
        self.assertStatus(r, 201)
        self.assertEqual(split_location(r.headers.get("Location") or ""),
                         "/v2/%s/blobs/%s" % (self.repo, digest))
        self.assertDigestHeader(r, digest)
        self.assertBlob(self.repo, digest, data)

    def test_single_post_wrong_digest(self):
        data = os.urandom(2048)
        wrong = random_digest()
        r = self.request("POST", add_query("/v2/%s/blobs/uploads/" % self.repo, digest=wrong),
                         data, {"Content-Type": OCTET})
        self.assertError(r, 400, "DIGEST_INVALID")
        self.assertNoBlob(self.repo, wrong)
        self.assertNoBlob(self.repo, sha256(data))

    def test_chunked_upload(self):
        # [dist] "Pushing a blob in chunks": each PATCH → 202 with Location and
        # Range: 0-<end-of-range>; PUT ?digest= without body closes → 201.
        chunks = [os.urandom(n) for n in (1000, 1, 4096, 777)]
        data = b"".join(chunks)
        digest = sha256(data)
        loc = self.start_upload(self.repo)
        offset = 0
        for chunk in chunks:
            r = self.patch_chunk(loc, chunk, offset)
            self.assertStatus(r, 202)
            offset += len(chunk)
            self.assertEqual(r.headers.get("Range"), "0-%d" % (offset - 1), r.describe())
            self.assertTrue(r.headers.get("Location"), r.describe())
            loc = split_location(r.headers["Location"])
        r = self.request("PUT", add_query(loc, digest=digest))
        self.assertStatus(r, 201)
        self.assertTrue(r.headers.get("Location"))
        self.assertBlob(self.repo, digest, data)

    def test_chunked_upload_final_chunk_in_put(self):
        # [dist]: "The final chunk MAY be uploaded ... in the closing PUT request."
        a, b, c = os.urandom(1500), os.urandom(1500), os.urandom(99)
        data = a + b + c
        digest = sha256(data)
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, a, 0)
        self.assertStatus(r, 202)
        loc = split_location(r.headers["Location"])
        r = self.patch_chunk(loc, b, len(a))
        self.assertStatus(r, 202)
        loc = split_location(r.headers["Location"])
        r = self.request("PUT", add_query(loc, digest=digest), c,
                         {"Content-Type": OCTET,
                          "Content-Range": "%d-%d" % (len(a) + len(b), len(data) - 1)})
        self.assertStatus(r, 201)
        self.assertBlob(self.repo, digest, data)

    def test_put_with_final_chunk_without_content_range(self):
        # [dist] closing PUT: Content-Range only "if present".
        a, c = os.urandom(800), os.urandom(800)
        digest = sha256(a + c)
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, a, 0)
        self.assertStatus(r, 202)
        r = self.request("PUT", add_query(split_location(r.headers["Location"]), digest=digest),
                         c, {"Content-Type": OCTET})
        self.assertStatus(r, 201)
        self.assertBlob(self.repo, digest, a + c)

    def test_out_of_order_chunk_is_416(self):
        # [dist]: "If a chunk is uploaded out of order, the registry MUST respond with
        # a 416"; the session survives and GET reports the valid offset.
        a, b = os.urandom(100), os.urandom(100)
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, a, 0)
        self.assertStatus(r, 202)
        loc = split_location(r.headers["Location"])
        r = self.patch_chunk(loc, b, 150)  # gap
        self.assertStatus(r, 416)
        s = self.request("GET", loc)
        self.assertStatus(s, 204)
        self.assertEqual(s.headers.get("Range"), "0-99")
        r = self.patch_chunk(split_location(s.headers.get("Location") or loc), b, 100)
        self.assertStatus(r, 202)
        self.assertEqual(r.headers.get("Range"), "0-199")
        r = self.request("PUT", add_query(split_location(r.headers["Location"]),
                                          digest=sha256(a + b)))
        self.assertStatus(r, 201)
        self.assertBlob(self.repo, sha256(a + b), a + b)

    def test_retried_chunk_is_416(self):
        # Re-sending an accepted chunk does not start at end-of-range + 1 → 416.
        a = os.urandom(100)
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, a, 0)
        self.assertStatus(r, 202)
        loc = split_location(r.headers["Location"])
        self.assertStatus(self.patch_chunk(loc, a, 0), 416)
        self.assertStatus(self.patch_chunk(loc, a[50:], 50), 416)  # overlapping
        s = self.request("GET", loc)
        self.assertStatus(s, 204)
        self.assertEqual(s.headers.get("Range"), "0-99")

    def test_first_chunk_must_start_at_zero(self):
        # [dist]: "The first chunk's range MUST begin with 0".
        loc = self.start_upload(self.repo)
        self.assertStatus(self.patch_chunk(loc, os.urandom(10), 10), 416)

    def test_content_range_not_matching_body(self):
        # The range says 100 bytes, the body has 50: refused (400 or 416), and the
        # bytes are not appended.
        loc = self.start_upload(self.repo)
        r = self.request("PATCH", loc, os.urandom(50),
                         {"Content-Type": OCTET, "Content-Range": "0-99"})
        self.assertStatus(r, 400, 416)
        good = os.urandom(30)
        r = self.patch_chunk(loc, good, 0)
        self.assertStatus(r, 202)
        r = self.request("PUT", add_query(split_location(r.headers["Location"]),
                                          digest=sha256(good)))
        self.assertStatus(r, 201)

    def test_malformed_content_range(self):
        # [dist]: <range> MUST match ^[0-9]+-[0-9]+$. A range that cannot be read
        # as one is refused (400 or 416) and nothing is appended.
        loc = self.start_upload(self.repo)
        for cr in ("0-", "-9", "9-0", "a-b", "0-9-"):
            with self.subTest(content_range=cr):
                r = self.request("PATCH", loc, os.urandom(10),
                                 {"Content-Type": OCTET, "Content-Range": cr})
                self.assertStatus(r, 400, 416)
        s = self.request("GET", loc)
        self.assertStatus(s, 204)
        self.assertIn(s.headers.get("Range"), (None, "0-0", "0--1"), s.describe())

    def test_http_style_content_range(self):
        # "bytes=0-9" is not the spec's form, but its meaning is unambiguous: the
        # spec constrains clients here, so a registry may refuse it or read it as
        # 0-9. Either way the session stays coherent.
        loc = self.start_upload(self.repo)
        data = os.urandom(10)
        r = self.request("PATCH", loc, data, {"Content-Type": OCTET,
                                              "Content-Range": "bytes=0-9"})
        if r.status == 202:
            self.assertEqual(r.headers.get("Range"), "0-9")
            loc = split_location(r.headers["Location"])
        else:
            self.assertStatus(r, 400, 416)
            r = self.patch_chunk(loc, data, 0)
            self.assertStatus(r, 202)
            loc = split_location(r.headers["Location"])
        r = self.request("PUT", add_query(loc, digest=sha256(data)))
        self.assertStatus(r, 201)
        self.assertBlob(self.repo, sha256(data), data)

    def test_upload_status(self):
        # [dist] end-13: GET <location> → 204 with Location and Range: 0-<end>.
        data = os.urandom(1234)
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, data, 0)
        self.assertStatus(r, 202)
        s = self.request("GET", split_location(r.headers["Location"]))
        self.assertStatus(s, 204)
        self.assertEqual(s.body, b"")
        self.assertEqual(s.headers.get("Range"), "0-1233")
        self.assertTrue(s.headers.get("Location"), s.describe())
        self.assertTrue(split_location(s.headers["Location"]).startswith(
            "/v2/%s/blobs/uploads/" % self.repo))

    def test_resumed_upload(self):
        # [dist] "Resumable Push": after losing the connection, ask for the offset
        # (GET status) and continue from there with the reported Location.
        data = os.urandom(30_000)
        digest = sha256(data)
        with self.berth.connection() as c1:
            loc = self.start_upload(self.repo, client=c1)
            r = self.patch_chunk(loc, data[:12_345], 0, client=c1)
            self.assertStatus(r, 202)
            loc = split_location(r.headers["Location"])
        with self.berth.connection() as c2:
            s = c2.request("GET", loc)
            self.assertStatus(s, 204)
            m = re.fullmatch(r"0-([0-9]+)", s.headers.get("Range") or "")
            self.assertIsNotNone(m, s.describe())
            offset = int(m.group(1)) + 1
            self.assertEqual(offset, 12_345)
            loc2 = split_location(s.headers["Location"])
            r = self.patch_chunk(loc2, data[offset:20_000], offset, client=c2)
            self.assertStatus(r, 202)
            self.assertEqual(r.headers.get("Range"), "0-19999")
            r = c2.request("PUT", add_query(split_location(r.headers["Location"]), digest=digest),
                           data[20_000:], {"Content-Type": OCTET})
            self.assertStatus(r, 201)
        self.assertBlob(self.repo, digest, data)

    def test_streamed_patch_without_content_range_appends(self):
        # Docker "stream upload" ([dapi] "Stream upload"): PATCH without
        # Content-Range appends to the session.
        a, b = os.urandom(3000), os.urandom(5000)
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, a, None)
        self.assertStatus(r, 202)
        self.assertEqual(r.headers.get("Range"), "0-2999")
        r = self.patch_chunk(split_location(r.headers["Location"]), b, None)
        self.assertStatus(r, 202)
        self.assertEqual(r.headers.get("Range"), "0-7999")
        r = self.request("PUT", add_query(split_location(r.headers["Location"]),
                                          digest=sha256(a + b)))
        self.assertStatus(r, 201)
        self.assertBlob(self.repo, sha256(a + b), a + b)

    def test_put_wrong_digest(self):
        # [dist] code-4 DIGEST_INVALID "provided digest did not match uploaded
        # content"; nothing is published under either digest.
        data = os.urandom(2000)
        wrong = random_digest()
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, data, 0)
        self.assertStatus(r, 202)
        r = self.request("PUT", add_query(split_location(r.headers["Location"]), digest=wrong))
        self.assertError(r, 400, "DIGEST_INVALID")
        self.assertNoBlob(self.repo, wrong)
        self.assertNoBlob(self.repo, sha256(data))

    def test_put_monolithic_wrong_digest(self):
        data = os.urandom(2000)
        wrong = sha256(data + b"x")
        loc = self.start_upload(self.repo)
        r = self.request("PUT", add_query(loc, digest=wrong), data, {"Content-Type": OCTET})
        self.assertError(r, 400, "DIGEST_INVALID")
        self.assertNoBlob(self.repo, wrong)

    def test_put_without_digest(self):
        # [dist]: "The closing PUT request MUST include the <digest>".
        loc = self.start_upload(self.repo)
        r = self.request("PUT", loc, os.urandom(10), {"Content-Type": OCTET})
        self.assertError(r, 400, ("DIGEST_INVALID", "BLOB_UPLOAD_INVALID"))

    def test_put_malformed_digest(self):
        loc = self.start_upload(self.repo)
        r = self.request("PUT", add_query(loc, digest="sha256:nothex"), os.urandom(10),
                         {"Content-Type": OCTET})
        self.assertError(r, 400, "DIGEST_INVALID")

    def test_empty_blob(self):
        # A zero-length blob is a blob like any other.
        loc = self.start_upload(self.repo)
        r = self.request("PUT", add_query(loc, digest=EMPTY_BLOB_DIGEST))
        self.assertStatus(r, 201)
        h = self.request("HEAD", "/v2/%s/blobs/%s" % (self.repo, EMPTY_BLOB_DIGEST))
        self.assertStatus(h, 200)
        self.assertEqual(h.headers.get("Content-Length"), "0")
        self.assertBlob(self.repo, EMPTY_BLOB_DIGEST, b"")

    def test_cancel_upload(self):
        # [dist] "Cancel a blob upload": DELETE <location> → SHOULD be 204; the
        # session is then unknown (code-3 BLOB_UPLOAD_UNKNOWN).
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, os.urandom(100), 0)
        self.assertStatus(r, 202)
        loc = split_location(r.headers["Location"])
        self.assertStatus(self.request("DELETE", loc), 204)
        self.assertError(self.request("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.patch_chunk(loc, os.urandom(10), 100), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.request("PUT", add_query(loc, digest=random_digest())), 404,
                         "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.request("DELETE", loc), 404, "BLOB_UPLOAD_UNKNOWN")

    def test_unknown_upload_id(self):
        # [dist] end-5/6/13 failure 404; code-3 BLOB_UPLOAD_UNKNOWN.
        self.push_blob(self.repo, os.urandom(10))  # the repository exists
        loc = "/v2/%s/blobs/uploads/%s" % (self.repo, uuid.uuid4())
        self.assertError(self.request("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.patch_chunk(loc, os.urandom(10), 0), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.request("PUT", add_query(loc, digest=random_digest()),
                                      os.urandom(10), {"Content-Type": OCTET}),
                         404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.request("DELETE", loc), 404, "BLOB_UPLOAD_UNKNOWN")

    def test_completed_upload_is_closed(self):
        # After the closing PUT the session no longer exists.
        data = os.urandom(50)
        loc = self.start_upload(self.repo)
        r = self.patch_chunk(loc, data, 0)
        self.assertStatus(r, 202)
        loc = split_location(r.headers["Location"])
        self.assertStatus(self.request("PUT", add_query(loc, digest=sha256(data))), 201)
        self.assertError(self.request("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.patch_chunk(loc, os.urandom(10), len(data)), 404,
                         "BLOB_UPLOAD_UNKNOWN")

    def test_push_same_blob_twice(self):
        # Layer de-duplication ([dist] "Use Cases"): a second upload of the same
        # content succeeds too.
        data = os.urandom(999)
        self.push_blob(self.repo, data)
        self.push_blob(self.repo, data)
        self.assertBlob(self.repo, sha256(data), data)


# ============================================================================
class TestMount(OciTestCase):
    def mount(self, repo: str, digest: str, source: Optional[str]) -> Response:
        params = {"mount": digest}
        if source is not None:
            params["from"] = source
        return self.request("POST", add_query("/v2/%s/blobs/uploads/" % repo, **params))

    def test_mount_from_repository_that_has_the_blob(self):
        # [dist] "Mounting a blob from another repository": 201 + Location.
        src, dst = unique_repo("mount-src"), unique_repo("mount-dst")
        data = os.urandom(1500)
        digest = self.push_blob(src, data)
        r = self.mount(dst, digest, src)
        self.assertStatus(r, 201)
        self.assertEqual(split_location(r.headers.get("Location") or ""),
                         "/v2/%s/blobs/%s" % (dst, digest))
        self.assertDigestHeader(r, digest)
        self.assertBlob(dst, digest, data)
        self.assertBlob(src, digest, data)

    def test_mount_when_source_lacks_blob_starts_session(self):
        # [dist]: "unable to mount the requested blob, it SHOULD return a 202" and
        # the upload session has begun.
        src, dst = unique_repo("mount-src"), unique_repo("mount-dst")
        self.push_blob(src, os.urandom(10))
        data = os.urandom(600)
        digest = sha256(data)
        r = self.mount(dst, digest, src)
        self.assertStatus(r, 202)
        loc = split_location(r.headers.get("Location") or "")
        self.assertTrue(loc.startswith("/v2/%s/blobs/uploads/" % dst), r.describe())
        r = self.request("PUT", add_query(loc, digest=digest), data, {"Content-Type": OCTET})
        self.assertStatus(r, 201)
        self.assertBlob(dst, digest, data)

    def test_mount_from_unknown_repository_starts_session(self):
        dst = unique_repo("mount-dst")
        r = self.mount(dst, random_digest(), unique_repo("nowhere"))
        self.assertStatus(r, 202)
        self.assertTrue(r.headers.get("Location"))

    def test_mount_without_from_finds_blob_anywhere(self):
        # [dist]: "The registry MAY treat the from parameter as optional, and it MAY
        # cross-mount the blob if it can be found." berth does.
        src, dst = unique_repo("mount-src"), unique_repo("mount-dst")
        data = os.urandom(800)
        digest = self.push_blob(src, data)
        r = self.mount(dst, digest, None)
        self.assertStatus(r, 201)
        self.assertEqual(split_location(r.headers.get("Location") or ""),
                         "/v2/%s/blobs/%s" % (dst, digest))
        self.assertBlob(dst, digest, data)

    def test_mount_without_from_unknown_blob_starts_session(self):
        dst = unique_repo("mount-dst")
        r = self.mount(dst, random_digest(), None)
        self.assertStatus(r, 202)
        self.assertTrue(r.headers.get("Location"))

    def test_mount_from_wrong_repository_when_blob_exists_elsewhere(self):
        # The spec allows either answer here (MAY cross-mount when found / SHOULD
        # 202 when unable); whichever berth picks must be coherent.
        holder, src, dst = (unique_repo("mount-holder"), unique_repo("mount-src"),
                            unique_repo("mount-dst"))
        data = os.urandom(500)
        digest = self.push_blob(holder, data)
        self.push_blob(src, os.urandom(10))
        r = self.mount(dst, digest, src)
        self.assertStatus(r, 201, 202)
        if r.status == 201:
            self.assertBlob(dst, digest, data)
        else:
            loc = split_location(r.headers["Location"])
            self.assertStatus(self.request("GET", loc), 204)

    def test_mount_malformed_digest(self):
        r = self.mount(unique_repo("mount-dst"), "sha256:zzz", unique_repo("src"))
        if r.status != 202:  # a registry may also ignore a bad mount and start a session
            self.assertError(r, 400, "DIGEST_INVALID")


# ============================================================================
class TestUploadExpiry(OciTestCase):
    berth_args = ("--upload-ttl", "2")

    def uploads_entries(self) -> set:
        d = os.path.join(self.berth.data_dir, "uploads")
        try:
            return set(os.listdir(d))
        except FileNotFoundError:
            return set()

    def start_idle_upload(self, repo: str) -> tuple:
        """Starts a session with some data; returns (location, new uploads/ entries)."""
        before = self.uploads_entries()
        loc = self.start_upload(repo)
        self.assertStatus(self.patch_chunk(loc, os.urandom(64 * 1024), 0), 202)
        created = self.uploads_entries() - before
        self.assertTrue(created, "no new entry under %s/uploads/ for session %s"
                        % (self.berth.data_dir, loc))
        return loc, created

    def wait_gone(self, entries: set) -> set:
        """Watches the file system only (a request on the session could count as
        activity) until `entries` leave uploads/; returns those still there at the
        deadline. Generous deadline, no timing assertion."""
        deadline = time.monotonic() + POLL_DEADLINE_S
        while self.uploads_entries() & entries and time.monotonic() < deadline:
            time.sleep(0.25)
        return self.uploads_entries() & entries

    def test_idle_upload_expires_and_its_data_is_removed(self):
        # [dist] "Cancel a blob upload": "the server SHOULD eventually timeout
        # unfinished uploads". berth: --upload-ttl <s>; an expired session is
        # BLOB_UPLOAD_UNKNOWN and its data leaves <data-dir>/uploads/.
        repo = unique_repo("expiry")
        loc, created = self.start_idle_upload(repo)
        left = self.wait_gone(created)
        r = self.request("GET", loc)
        self.assertFalse(left, "upload data still in uploads/ after %.0f s: %s (GET: %s)"
                         % (POLL_DEADLINE_S, sorted(left), r.describe()))
        self.assertError(r, 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.patch_chunk(loc, os.urandom(10), 64 * 1024), 404,
                         "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.request("PUT", add_query(loc, digest=random_digest())), 404,
                         "BLOB_UPLOAD_UNKNOWN")

    def test_completed_blob_survives_upload_expiry(self):
        # Expiry concerns unfinished sessions only.
        repo = unique_repo("expiry")
        data = os.urandom(1000)
        digest = self.push_blob(repo, data)
        _, created = self.start_idle_upload(repo)
        self.assertFalse(self.wait_gone(created), "idle upload never expired")
        self.assertBlob(repo, digest, data)
        hexpart = self.berth.stored_digest(digest).split(":", 1)[1]
        self.assertTrue(os.path.isfile(os.path.join(
            self.berth.data_dir, "blobs", "sha256", hexpart[:2], hexpart)),
            "berth: blobs live at <data-dir>/blobs/sha256/<2 hex>/<hex>")


# ============================================================================
class TestManifests(OciTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.repo = unique_repo("manifests")
        t = cls("test_get_by_tag")
        cls.img = t.push_image(cls.repo, "v1")

    def get_manifest(self, ref: str, accept: str = ACCEPT_ALL, method: str = "GET",
                     repo: Optional[str] = None) -> Response:
        """accept="" sends no Accept header."""
        return self.manifest(method, repo or self.repo, ref, accept)

    def assertManifest(self, resp: Response, pushed: Pushed, head: bool = False) -> None:
        # [dist] "Pulling manifests": 200, Content-Type = the pushed type,
        # Docker-Content-Digest, body byte for byte; HEAD: Content-Length, no body.
        self.assertStatus(resp, 200)
        self.assertEqual(resp.headers.get("Content-Type"), pushed.media_type)
        self.assertDigestHeader(resp, pushed.digest)
        self.assertEqual(resp.headers.get("Content-Length"), str(pushed.size))
        if head:
            self.assertEqual(resp.body, b"")
        else:
            self.assertEqual(resp.body, pushed.body)

    def test_put_oci_manifest_by_tag(self):
        # [dist] "Pushing Manifests": 201 + Location (pullable);
        # Docker-Content-Digest equals the digest of the bytes sent.
        r = self.img.resp
        self.assertDigestHeader(r, self.img.digest)
        loc = r.headers.get("Location")
        self.assertTrue(loc, r.describe())
        g = self.request("GET", split_location(loc), headers={"Accept": OCI_MANIFEST})
        self.assertManifest(g, self.img)

    def test_get_by_tag(self):
        self.assertManifest(self.get_manifest("v1", OCI_MANIFEST), self.img)

    def test_get_by_digest(self):
        self.assertManifest(self.get_manifest(self.img.digest, OCI_MANIFEST), self.img)

    def test_head_by_tag_and_digest(self):
        self.assertManifest(self.get_manifest("v1", OCI_MANIFEST, "HEAD"), self.img, head=True)
        self.assertManifest(self.get_manifest(self.img.digest, OCI_MANIFEST, "HEAD"), self.img,
                            head=True)

    def test_put_by_digest(self):
        img = self.push_image(self.repo)  # ref = its digest
        self.assertDigestHeader(img.resp, img.digest)
        self.assertManifest(self.get_manifest(img.digest, OCI_MANIFEST), img)
        tags = self.get_tags(self.repo).json()["tags"] or []
        self.assertNotIn(img.digest, tags)

    def test_put_by_digest_mismatch(self):
        # [dist] code-4 DIGEST_INVALID; nothing stored under either digest.
        m = self.image_manifest(self.repo)
        body = canonical(m)
        wrong = random_digest()
        r = self.put_manifest(self.repo, wrong, body, OCI_MANIFEST)
        self.assertError(r, 400, "DIGEST_INVALID")
        self.assertError(self.get_manifest(wrong), 404, "MANIFEST_UNKNOWN")
        self.assertError(self.get_manifest(sha256(body)), 404, "MANIFEST_UNKNOWN")

    def test_stored_byte_for_byte(self):
        # [dist]: "The registry MUST store the manifest in the exact byte
        # representation provided by the client."
        m = self.image_manifest(self.repo, annotations={"z": "last", "a": "first \u00e9"})
        body = ("{\n  \"schemaVersion\" : 2,\n\t\"mediaType\":\"%s\" ,\n  \"config\": %s,\n"
                "  \"layers\": %s,\n  \"annotations\": %s\n}\n\n" % (
                    OCI_MANIFEST, json.dumps(m["config"], indent=3),
                    json.dumps(m["layers"]), json.dumps(m["annotations"],
                                                        ensure_ascii=False))).encode("utf-8")
        p = self.push_manifest(self.repo, m, OCI_MANIFEST, "spaced", body=body)
        self.assertManifest(self.get_manifest("spaced", OCI_MANIFEST), p)

    def test_tag_moves_to_new_manifest(self):
        a = self.push_image(self.repo, "moving")
        b = self.push_image(self.repo, "moving")
        self.assertManifest(self.get_manifest("moving", OCI_MANIFEST), b)
        self.assertManifest(self.get_manifest(a.digest, OCI_MANIFEST), a)

    def test_same_manifest_many_tags(self):
        img = self.push_image(self.repo, "t-one")
        for t in ("t-two", "t-three"):
            self.push_manifest(self.repo, img.obj, OCI_MANIFEST, t, body=img.body)
        for t in ("t-one", "t-two", "t-three"):
            self.assertManifest(self.get_manifest(t, OCI_MANIFEST), img)

    def test_manifest_without_media_type_field(self):
        # [dist]: manifests SHOULD (not MUST) carry mediaType; the Content-Type
        # names the type. [image] manifest.md: mediaType "SHOULD be used".
        m = self.image_manifest(self.repo)
        del m["mediaType"]
        p = self.push_manifest(self.repo, m, OCI_MANIFEST, "no-mediatype")
        self.assertManifest(self.get_manifest("no-mediatype", OCI_MANIFEST), p)

    def test_content_type_parameters_ignored(self):
        # [dist]: "The registry SHOULD ignore parameters on the Content-Type header"
        # and "SHOULD NOT include parameters" on GET.
        m = self.image_manifest(self.repo)
        body = canonical(m)
        r = self.put_manifest(self.repo, "with-params", body, OCI_MANIFEST + "; charset=utf-8")
        self.assertStatus(r, 201)
        g = self.get_manifest("with-params", OCI_MANIFEST)
        self.assertStatus(g, 200)
        self.assertEqual(g.headers.get("Content-Type"), OCI_MANIFEST)

    def test_oci_image_index(self):
        # [image] image-index.md.
        amd = self.push_image(self.repo)
        arm = self.push_image(self.repo)
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            amd.desc(platform={"architecture": "amd64", "os": "linux"}),
            arm.desc(platform={"architecture": "arm64", "os": "linux", "variant": "v8"})],
            "annotations": {"org.opencontainers.image.ref.name": "multi"}}
        p = self.push_manifest(self.repo, idx, OCI_INDEX, "multi")
        self.assertDigestHeader(p.resp, p.digest)
        self.assertManifest(self.get_manifest("multi", OCI_INDEX), p)
        self.assertManifest(self.get_manifest(p.digest, OCI_INDEX, "HEAD"), p, head=True)
        # Children stay pullable by digest.
        self.assertManifest(self.get_manifest(arm.digest, OCI_MANIFEST), arm)

    def test_docker_schema2_manifest(self):
        # [docker] "Image Manifest Field Descriptions".
        p = self.push_image(self.repo, "docker", media_type=DOCKER_MANIFEST,
                            config_type=DOCKER_CONFIG, layer_type=DOCKER_LAYER, layers=2)
        self.assertManifest(self.get_manifest("docker", DOCKER_MANIFEST), p)
        self.assertManifest(self.get_manifest(p.digest, DOCKER_MANIFEST), p)

    def test_docker_manifest_list(self):
        # [docker] "Manifest List".
        kids = [self.push_image(self.repo, media_type=DOCKER_MANIFEST,
                                config_type=DOCKER_CONFIG, layer_type=DOCKER_LAYER)
                for _ in range(2)]
        ml = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
            kids[0].desc(platform={"architecture": "amd64", "os": "linux"}),
            kids[1].desc(platform={"architecture": "ppc64le", "os": "linux"})]}
        p = self.push_manifest(self.repo, ml, DOCKER_LIST, "dlist")
        self.assertManifest(self.get_manifest("dlist", DOCKER_LIST), p)

    def test_artifact_with_artifact_type(self):
        # [image] manifest.md: artifactType MUST be set when config is the empty
        # descriptor; layers of any media type.
        p = self.push_image(self.repo, "artifact", artifact_type=SBOM_TYPE, empty_config=True,
                            layer_type="application/vnd.example.sbom.layer.v1+json")
        self.assertManifest(self.get_manifest("artifact", OCI_MANIFEST), p)
        r = self.get_manifest(p.digest, OCI_MANIFEST)
        self.assertManifest(r, p)
        self.assertEqual(r.json()["artifactType"], SBOM_TYPE)

    def test_artifact_with_custom_config_media_type(self):
        p = self.push_image(self.repo, "artifact-cfg", config_type=SIG_CONFIG_TYPE,
                            layer_type="application/vnd.example.signature.v1")
        self.assertManifest(self.get_manifest("artifact-cfg", OCI_MANIFEST), p)

    def test_artifact_without_layers(self):
        # [image] manifest.md: layers SHOULD (not MUST) have at least one entry.
        m = self.image_manifest(self.repo, empty_config=True, layers=0,
                                artifact_type="application/vnd.example.empty.v1")
        p = self.push_manifest(self.repo, m, OCI_MANIFEST, "no-layers")
        self.assertManifest(self.get_manifest("no-layers", OCI_MANIFEST), p)

    def test_subject_sets_oci_subject_header(self):
        # [dist] "Pushing Manifests with Subject": a registry supporting referrers
        # MUST answer OCI-Subject: <subject digest>.
        subject = self.push_image(self.repo)
        m = self.image_manifest(self.repo, artifact_type=SBOM_TYPE, empty_config=True,
                                subject=subject.desc())
        p = self.push_manifest(self.repo, m, OCI_MANIFEST)
        self.assertEqual(p.resp.headers.get("OCI-Subject"), subject.digest, p.resp.describe())

    def test_subject_may_reference_missing_manifest(self):
        # [dist] "Push": a registry "MUST initially accept an otherwise valid
        # manifest with a subject field that references a manifest that does not
        # exist".
        missing = {"mediaType": OCI_MANIFEST, "digest": random_digest(), "size": 1234}
        m = self.image_manifest(self.repo, artifact_type=SBOM_TYPE, empty_config=True,
                                subject=missing)
        p = self.push_manifest(self.repo, m, OCI_MANIFEST)
        self.assertEqual(p.resp.headers.get("OCI-Subject"), missing["digest"])

    def test_missing_layer_blob(self):
        # [dist] "Push": rejection for a missing blob MUST be MANIFEST_BLOB_UNKNOWN.
        m = self.image_manifest(self.repo)
        m["layers"].append(descriptor(OCI_LAYER, os.urandom(100)))
        r = self.put_manifest(self.repo, "missing-layer", canonical(m), OCI_MANIFEST)
        self.assertError(r, 400, "MANIFEST_BLOB_UNKNOWN")
        self.assertError(self.get_manifest("missing-layer"), 404, "MANIFEST_UNKNOWN")

    def test_missing_config_blob(self):
        m = self.image_manifest(self.repo)
        m["config"] = descriptor(OCI_CONFIG, os.urandom(100))
        r = self.put_manifest(self.repo, "missing-config", canonical(m), OCI_MANIFEST)
        self.assertError(r, 400, "MANIFEST_BLOB_UNKNOWN")

    def test_index_referencing_missing_manifest(self):
        # [dist] "Push" + code-5: MANIFEST_BLOB_UNKNOWN "manifest references a
        # manifest or blob unknown to registry".
        present = self.push_image(self.repo)
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            present.desc(),
            {"mediaType": OCI_MANIFEST, "digest": random_digest(), "size": 500}]}
        r = self.put_manifest(self.repo, "broken-index", canonical(idx), OCI_INDEX)
        self.assertError(r, 400, "MANIFEST_BLOB_UNKNOWN")
        self.assertError(self.get_manifest("broken-index"), 404, "MANIFEST_UNKNOWN")

    def test_malformed_json(self):
        # [dist] code-6 MANIFEST_INVALID.
        for body in (b"{not json", b"", b"[]", b"\xff\xfe", b'{"schemaVersion": 2, '):
            with self.subTest(body=body):
                r = self.put_manifest(self.repo, "malformed", body, OCI_MANIFEST)
                self.assertError(r, 400, "MANIFEST_INVALID")
        self.assertError(self.get_manifest("malformed"), 404, "MANIFEST_UNKNOWN")

    def test_media_type_field_contradicts_content_type(self):
        # [dist] "Pushing Manifests": if the manifest has mediaType, Content-Type
        # MUST equal it; the registry refuses a contradiction as MANIFEST_INVALID.
        m = self.image_manifest(self.repo)
        m["mediaType"] = OCI_INDEX
        r = self.put_manifest(self.repo, "contradiction", canonical(m), OCI_MANIFEST)
        self.assertError(r, 400, "MANIFEST_INVALID")
        m = self.image_manifest(self.repo)
        r = self.put_manifest(self.repo, "contradiction", canonical(m), DOCKER_MANIFEST)
        self.assertError(r, 400, "MANIFEST_INVALID")

    def test_docker_schema1_refused(self):
        # [dist] "Legacy Docker support error codes" (schema 1 is legacy); berth
        # refuses it with MANIFEST_INVALID (or UNSUPPORTED) naming schema 1.
        layer = os.urandom(100)
        self.push_blob(self.repo, layer)
        s1 = {"schemaVersion": 1, "name": self.repo, "tag": "old", "architecture": "amd64",
              "fsLayers": [{"blobSum": sha256(layer)}],
              "history": [{"v1Compatibility": json.dumps({"id": "a" * 64})}]}
        signed = dict(s1, signatures=[{"header": {"alg": "ES256"}, "signature": "AAAA",
                                       "protected": "e30"}])
        for media_type, obj in ((SCHEMA1, s1), (SCHEMA1_SIGNED, signed)):
            with self.subTest(media_type=media_type):
                r = self.put_manifest(self.repo, "old", canonical(obj), media_type)
                if r.status == 400:
                    e = self.assertError(r, 400, ("MANIFEST_INVALID", "UNSUPPORTED"))
                else:
                    e = self.assertError(r, (405, 415), "UNSUPPORTED")
                self.assertRegex(e["message"], re.compile(r"schema\s*(version\s*|v)?1", re.I))
        self.assertError(self.get_manifest("old"), 404, "MANIFEST_UNKNOWN")

    def test_manifest_over_size_limit(self):
        # [dist] "Pushing Manifests": a registry enforcing a limit SHOULD answer
        # 413; clients expect at least 4 MB to work. berth's limit: 4 MiB; error
        # code MANIFEST_INVALID or SIZE_INVALID.
        m = self.image_manifest(self.repo)
        m["annotations"] = {"pad": "x" * (4 * 1024 * 1024 + 4096)}
        r = self.put_manifest(self.repo, "huge", canonical(m), OCI_MANIFEST)
        self.assertError(r, 413, ("MANIFEST_INVALID", "SIZE_INVALID"))
        self.assertError(self.get_manifest("huge"), 404, "MANIFEST_UNKNOWN")

    def test_manifest_of_four_megabytes_accepted(self):
        # [dist]: "implementations SHOULD expect to be able to support manifest
        # pushes of at least 4 megabytes".
        m = self.image_manifest(self.repo)
        base = len(canonical(dict(m, annotations={"pad": ""})))
        m["annotations"] = {"pad": "y" * (4_000_000 - base)}
        body = canonical(m)
        self.assertEqual(len(body), 4_000_000)
        p = self.push_manifest(self.repo, m, OCI_MANIFEST, "big", body=body)
        self.assertManifest(self.get_manifest("big", OCI_MANIFEST), p)

    def test_unknown_manifest(self):
        # [dist]: "If the manifest is not found in the repository, the response code
        # MUST be 404"; code-7 MANIFEST_UNKNOWN.
        for ref in ("no-such-tag", random_digest()):
            with self.subTest(ref=ref):
                self.assertError(self.get_manifest(ref, OCI_MANIFEST), 404, "MANIFEST_UNKNOWN")
                self.assertError(self.get_manifest(ref, OCI_MANIFEST, "HEAD"), 404, (),
                                 head=True)

    def test_invalid_tag_on_push(self):
        # [dist]: a tag MUST match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. berth: 400
        # TAG_INVALID ([dist] "Legacy Docker support error codes").
        body = canonical(self.image_manifest(self.repo))
        for tag in ("-bad", ".bad", "x" * 129, "bad%21tag"):
            with self.subTest(tag=tag[:20]):
                r = self.put_manifest(self.repo, tag, body, OCI_MANIFEST)
                self.assertError(r, 400, "TAG_INVALID")

    def test_invalid_tag_on_pull(self):
        # The spec defines no error for an ill-formed reference on pull: accept
        # berth's 400 TAG_INVALID or a plain 404 MANIFEST_UNKNOWN.
        for tag in ("-bad", "x" * 129):
            with self.subTest(tag=tag[:20]):
                r = self.get_manifest(tag)
                if r.status == 400:
                    self.assertError(r, 400, "TAG_INVALID")
                else:
                    self.assertError(r, 404, "MANIFEST_UNKNOWN")

    def test_longest_valid_tag(self):
        tag = "A" + "b_.-9" * 25 + "zz"
        self.assertEqual(len(tag), 128)
        p = self.push_image(self.repo, tag)
        self.assertManifest(self.get_manifest(tag, OCI_MANIFEST), p)
        self.assertIn(tag, self.get_tags(self.repo).json()["tags"])

    # ----------------------------------------------------- content negotiation
    def test_accept_other_type_still_returns_stored_manifest(self):
        # berth does not convert: whatever the Accept, the stored manifest is
        # served with its own Content-Type ([dist] "Content-Type header SHOULD
        # match what the client pushed").
        r = self.get_manifest("v1", DOCKER_MANIFEST)
        self.assertManifest(r, self.img)

    def test_no_accept_header(self):
        self.assertManifest(self.get_manifest("v1", accept=""), self.img)

    def test_accept_list_with_wildcards_and_q(self):
        accept = "%s;q=0.5, %s, %s, */*;q=0.1" % (DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST)
        self.assertManifest(self.get_manifest("v1", accept), self.img)


# ============================================================================
class TestDeletes(OciTestCase):
    def test_delete_by_tag_removes_only_the_tag(self):
        # [dist] "Deleting tags": 202; then GET of the tag → 404.
        repo = unique_repo("del-tag")
        img = self.push_image(repo, "one")
        self.push_manifest(repo, img.obj, OCI_MANIFEST, "two", body=img.body)
        self.assertStatus(self.request("DELETE", "/v2/%s/manifests/one" % repo), 202)
        self.assertError(self.manifest("GET", repo, "one"), 404, "MANIFEST_UNKNOWN")
        for ref in ("two", img.digest):
            r = self.manifest("GET", repo, ref)
            self.assertStatus(r, 200)
            self.assertEqual(r.body, img.body)
        self.assertEqual(self.get_tags(repo).json()["tags"], ["two"])
        # Deleting the same tag again: it is unknown now.
        self.assertError(self.request("DELETE", "/v2/%s/manifests/one" % repo), 404,
                         "MANIFEST_UNKNOWN")

    def test_delete_by_digest_removes_manifest_and_its_tags(self):
        # [dist] "Deleting Manifests": 202; GET of the digest "and any tag pointing
        # to that digest will return a 404".
        repo = unique_repo("del-digest")
        keep = self.push_image(repo, "keep")
        img = self.push_image(repo, "a")
        self.push_manifest(repo, img.obj, OCI_MANIFEST, "b", body=img.body)
        self.assertStatus(self.request("DELETE", "/v2/%s/manifests/%s" % (repo, img.digest)),
                          202)
        for ref in (img.digest, "a", "b"):
            with self.subTest(ref=ref):
                self.assertError(self.manifest("GET", repo, ref), 404, "MANIFEST_UNKNOWN")
                self.assertError(self.manifest("HEAD", repo, ref), 404, (), head=True)
        self.assertEqual(self.get_tags(repo).json()["tags"], ["keep"])
        self.assertStatus(self.manifest("GET", repo, keep.digest), 200)
        self.assertError(self.request("DELETE", "/v2/%s/manifests/%s" % (repo, img.digest)),
                         404, "MANIFEST_UNKNOWN")

    def test_delete_then_push_again(self):
        repo = unique_repo("del-repush")
        img = self.push_image(repo, "x")
        self.assertStatus(self.request("DELETE", "/v2/%s/manifests/%s" % (repo, img.digest)),
                          202)
        self.push_manifest(repo, img.obj, OCI_MANIFEST, "x", body=img.body)
        self.assertStatus(self.manifest("GET", repo, "x"), 200)

    def test_delete_unknown_manifest(self):
        repo = unique_repo("del-unknown")
        self.push_image(repo, "present")
        for ref in (random_digest(), "absent"):
            with self.subTest(ref=ref):
                self.assertError(self.request("DELETE", "/v2/%s/manifests/%s" % (repo, ref)),
                                 404, "MANIFEST_UNKNOWN")

    def test_delete_in_unknown_repository(self):
        # [dist] "Deleting Manifests": "If the repository does not exist, the
        # response MUST return 404".
        repo = unique_repo("del-norepo")
        r = self.request("DELETE", "/v2/%s/manifests/%s" % (repo, random_digest()))
        self.assertError(r, 404, ("NAME_UNKNOWN", "MANIFEST_UNKNOWN"))


# ============================================================================
class TestTags(OciTestCase):
    TAGS = ["latest", "v1.0", "v1.1", "v10", "v2", "1.0.0", "_private", "alpha-1",
            "alpha_2", "beta", "rc.1"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.repo = unique_repo("tags")
        t = cls("test_list_all_sorted")
        img = t.push_image(cls.repo)
        shuffled = list(cls.TAGS)
        random.shuffle(shuffled)
        for tag in shuffled:
            t.push_manifest(cls.repo, img.obj, OCI_MANIFEST, tag, body=img.body)
        cls.sorted_tags = sorted(cls.TAGS)  # all lower case: byte order = lexical order

    def test_list_all_sorted(self):
        # [dist] "Listing Tags": {"name","tags"} in lexical order.
        r = self.get_tags(self.repo)
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"name": self.repo, "tags": self.sorted_tags})

    def test_pagination_with_link(self):
        # [dist]: ?n=<int> returns n tags; a Link header rel="next" (RFC 5988) leads
        # to the rest. Following it yields every tag once, in order.
        r = self.get_tags(self.repo, "?n=2")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["tags"], self.sorted_tags[:2])
        nxt = link_next(r)
        self.assertIsNotNone(nxt, "no Link rel=next: %s" % r.describe())
        u = urllib.parse.urlsplit(nxt)
        self.assertEqual(u.path, "/v2/%s/tags/list" % self.repo)
        q = urllib.parse.parse_qs(u.query)
        self.assertEqual(q.get("n"), ["2"])
        self.assertEqual(q.get("last"), [self.sorted_tags[1]])
        seen = list(r.json()["tags"])
        for _ in range(len(self.TAGS) + 2):
            if nxt is None:
                break
            r = self.request("GET", nxt)
            self.assertStatus(r, 200)
            page = r.json()["tags"] or []
            self.assertLessEqual(len(page), 2)
            nxt = link_next(r)
            if nxt is not None:
                self.assertEqual(len(page), 2, "short page with a Link: %s" % r.describe())
            seen.extend(page)
        self.assertIsNone(nxt, "pagination did not end")
        self.assertEqual(seen, self.sorted_tags)

    def test_n_zero(self):
        # [dist]: "When n is zero, this endpoint MUST return an empty list, and MUST
        # NOT include a Link header."
        r = self.get_tags(self.repo, "?n=0")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["tags"] or [], [])
        self.assertNotIn("Link", r.headers)

    def test_n_larger_than_count(self):
        r = self.get_tags(self.repo, "?n=1000")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["tags"], self.sorted_tags)

    def test_last_without_n(self):
        # [dist]: "When using the last query parameter, the n parameter is OPTIONAL";
        # results start after <tagname>, non-inclusive.
        r = self.get_tags(self.repo, "?last=" + self.sorted_tags[2])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["tags"], self.sorted_tags[3:])

    def test_n_and_last(self):
        r = self.get_tags(self.repo, "?n=3&last=" + self.sorted_tags[1])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["tags"], self.sorted_tags[2:5])

    def test_last_not_an_existing_tag(self):
        # last is a position in the lexical order, not necessarily a present tag.
        r = self.get_tags(self.repo, "?last=v1.05")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["tags"], [t for t in self.sorted_tags if t > "v1.05"])

    def test_last_past_the_end(self):
        r = self.get_tags(self.repo, "?n=5&last=zzzz")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["tags"] or [], [])
        self.assertIsNone(link_next(r))

    def test_mixed_case_tags_order(self):
        # [dist]: "lexical order (i.e. case-insensitive alphanumeric order)". Byte
        # order is what most registries do; accept either, but consistently across
        # pages.
        repo = unique_repo("tags-case")
        img = self.push_image(repo)
        tags = ["Beta", "alpha", "Alpha2", "gamma", "DELTA"]
        for t in tags:
            self.push_manifest(repo, img.obj, OCI_MANIFEST, t, body=img.body)
        full = self.get_tags(repo).json()["tags"]
        self.assertIn(full, (sorted(tags), sorted(tags, key=lambda s: (s.lower(), s))))
        seen, nxt = [], "/v2/%s/tags/list?n=2" % repo
        for _ in range(10):
            if nxt is None:
                break
            r = self.request("GET", nxt)
            self.assertStatus(r, 200)
            seen.extend(r.json()["tags"] or [])
            nxt = link_next(r)
        self.assertEqual(seen, full)

    def test_unknown_repository(self):
        # [dist] end-8a failure 404; code-9 NAME_UNKNOWN.
        self.assertError(self.get_tags(unique_repo("no-such")), 404, "NAME_UNKNOWN")


# ============================================================================
class TestCatalog(OciTestCase):
    """/v2/_catalog is not in the OCI spec; [dapi] "Listing Repositories" defines
    it: {"repositories": [...]} in lexical order, n/last and a Link like tags.
    Its own server, so the set of repositories is known exactly."""

    REPOS = ["cat/alpha", "cat/beta-1", "cat/beta_2", "cat/gamma/deep/name", "zeta",
             "aaa", "m.n.o"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t = cls("test_catalog_lists_all")
        for repo in cls.REPOS:
            t.push_image(repo, "latest")
        cls.all = sorted(cls.REPOS)

    def catalog(self, query: str = "") -> Response:
        return self.request("GET", "/v2/_catalog" + query)

    def test_catalog_lists_all(self):
        r = self.catalog()
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"repositories": self.all})

    def test_catalog_pagination(self):
        r = self.catalog("?n=2")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["repositories"], self.all[:2])
        nxt = link_next(r)
        self.assertIsNotNone(nxt, r.describe())
        u = urllib.parse.urlsplit(nxt)
        self.assertEqual(u.path, "/v2/_catalog")
        q = urllib.parse.parse_qs(u.query)
        self.assertEqual(q.get("n"), ["2"])
        self.assertEqual(q.get("last"), [self.all[1]])
        seen = list(r.json()["repositories"])
        for _ in range(len(self.all) + 2):
            if nxt is None:
                break
            r = self.request("GET", nxt)
            self.assertStatus(r, 200)
            page = r.json()["repositories"] or []
            self.assertLessEqual(len(page), 2)
            nxt = link_next(r)
            seen.extend(page)
        self.assertIsNone(nxt, "pagination did not end")
        self.assertEqual(seen, self.all)

    def test_catalog_last(self):
        r = self.catalog("?last=" + self.all[3])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["repositories"], self.all[4:])
        r = self.catalog("?n=1&last=" + self.all[0])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["repositories"], self.all[1:2])

    def test_catalog_n_zero(self):
        r = self.catalog("?n=0")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["repositories"] or [], [])
        self.assertIsNone(link_next(r))


# ============================================================================
class TestReferrers(OciTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.repo = unique_repo("referrers")
        t = cls("test_lists_referrers_with_descriptors")
        cls.subject = t.push_image(cls.repo, "app")
        s = cls.subject.desc()
        cls.sbom = t.push_manifest(cls.repo, t.image_manifest(
            cls.repo, artifact_type=SBOM_TYPE, empty_config=True, subject=s,
            layer_type="application/spdx+json",
            annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                         "org.example.sbom.format": "json"}), OCI_MANIFEST)
        cls.sig = t.push_manifest(cls.repo, t.image_manifest(
            cls.repo, config_type=SIG_CONFIG_TYPE, subject=s,
            layer_type="application/vnd.example.signature.v1",
            annotations={"org.example.signature.fingerprint": "abcd"}), OCI_MANIFEST)
        child = t.push_image(cls.repo)
        cls.idx = t.push_manifest(cls.repo, {
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child.desc()],
            "subject": s, "annotations": {"org.example.kind": "bundle"}}, OCI_INDEX)
        # Not referrers of subject: no subject, and the same subject in another repo.
        cls.unrelated = t.push_image(cls.repo, "unrelated")
        cls.other_repo = unique_repo("referrers-other")
        t.push_image(cls.other_repo, artifact_type=SBOM_TYPE, empty_config=True, subject=s)

    def referrers(self, digest: str, query: str = "", repo: Optional[str] = None) -> Response:
        return self.request("GET", "/v2/%s/referrers/%s%s" % (repo or self.repo, digest, query))

    def assertIndex(self, r: Response) -> list:
        # [dist] "Listing Referrers": 200, Content-Type image index, an image index.
        self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("Content-Type"), OCI_INDEX)
        doc = r.json()
        self.assertEqual(doc.get("schemaVersion"), 2)
        self.assertEqual(doc.get("mediaType"), OCI_INDEX)
        self.assertIsInstance(doc.get("manifests"), list, r.describe())
        return doc["manifests"]

    def test_lists_referrers_with_descriptors(self):
        # [dist] "Listing Referrers": descriptors of manifests and indexes in <name>
        # whose subject is <digest>; artifactType from the manifest, else the config
        # mediaType for an image manifest, omitted for an index without one;
        # annotations copied.
        got = {d["digest"]: d for d in self.assertIndex(self.referrers(self.subject.digest))}
        expected = {
            self.sbom.digest: self.sbom.desc(
                artifactType=SBOM_TYPE, annotations=self.sbom.obj["annotations"]),
            self.sig.digest: self.sig.desc(
                artifactType=SIG_CONFIG_TYPE, annotations=self.sig.obj["annotations"]),
            self.idx.digest: self.idx.desc(annotations=self.idx.obj["annotations"]),
        }
        self.assertEqual(set(got), set(expected))
        for digest, want in expected.items():
            with self.subTest(digest=digest):
                have = got[digest]
                for key in ("mediaType", "digest", "size", "annotations"):
                    self.assertEqual(have.get(key), want[key], key)
                self.assertEqual(have.get("artifactType"), want.get("artifactType"))

    def test_filter_by_artifact_type(self):
        # [dist]: "If filtering is requested and applied, the response MUST include a
        # header OCI-Filters-Applied: artifactType". berth applies it.
        r = self.referrers(self.subject.digest,
                           "?artifactType=" + urllib.parse.quote(SBOM_TYPE, safe=""))
        got = self.assertIndex(r)
        self.assertEqual(r.headers.get("OCI-Filters-Applied"), "artifactType")
        self.assertEqual([d["digest"] for d in got], [self.sbom.digest])
        r = self.referrers(self.subject.digest, "?artifactType=application/vnd.example.none")
        self.assertEqual(self.assertIndex(r), [])
        self.assertEqual(r.headers.get("OCI-Filters-Applied"), "artifactType")

    def test_unknown_digest_gives_empty_list(self):
        # [dist]: "MUST NOT return a 404"; "If a query results in no matching
        # referrers, an empty manifest list MUST be returned."
        r = self.referrers(random_digest())
        self.assertEqual(self.assertIndex(r), [])

    def test_manifest_without_referrers(self):
        self.assertEqual(self.assertIndex(self.referrers(self.unrelated.digest)), [])

    def test_invalid_digest(self):
        # [dist]: "If the request is invalid, such as a <digest> with an invalid
        # syntax, a 400 Bad Request MUST be returned."
        self.assertError(self.referrers("sha256:nothex"), 400, "DIGEST_INVALID")

    def test_other_repository_sees_only_its_own(self):
        got = self.assertIndex(self.referrers(self.subject.digest, repo=self.other_repo))
        self.assertEqual(len(got), 1)
        self.assertNotIn(got[0]["digest"], (self.sbom.digest, self.sig.digest, self.idx.digest))

    def test_referrer_pushed_before_subject(self):
        # [dist] "Push": subject may not exist yet; [dist] "Enabling the Referrers
        # API": newly pushed manifests with a subject MUST be listed.
        future = self.image_manifest(self.repo)
        future_body = canonical(future)
        future_digest = sha256(future_body)
        ref = self.push_manifest(self.repo, self.image_manifest(
            self.repo, artifact_type=SBOM_TYPE, empty_config=True,
            subject={"mediaType": OCI_MANIFEST, "digest": future_digest,
                     "size": len(future_body)}), OCI_MANIFEST)
        self.assertEqual([d["digest"] for d in self.assertIndex(self.referrers(future_digest))],
                         [ref.digest])
        self.push_manifest(self.repo, future, OCI_MANIFEST, "future", body=future_body)
        self.assertEqual([d["digest"] for d in self.assertIndex(self.referrers(future_digest))],
                         [ref.digest])

    def test_deleted_referrer_disappears(self):
        subject = self.push_image(self.repo)
        ref = self.push_manifest(self.repo, self.image_manifest(
            self.repo, artifact_type=SBOM_TYPE, empty_config=True, subject=subject.desc()),
            OCI_MANIFEST)
        self.assertEqual([d["digest"] for d in self.assertIndex(self.referrers(subject.digest))],
                         [ref.digest])
        self.assertStatus(self.request("DELETE", "/v2/%s/manifests/%s" % (self.repo, ref.digest)),
                          202)
        self.assertEqual(self.assertIndex(self.referrers(subject.digest)), [])


# ============================================================================
class TestNames(OciTestCase):
    INVALID = ["UPPER/case", "a//b", "-a", "a..b", "a_/b", "a___b", "a/b-", "_a"]

    def test_invalid_repository_name_on_push(self):
        # [dist]: <name> MUST match the name grammar; code-8 NAME_INVALID.
        body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": descriptor(OCI_EMPTY, EMPTY_JSON), "layers": []})
        for name in self.INVALID:
            with self.subTest(name=name):
                r = self.request("POST", "/v2/%s/blobs/uploads/" % name)
                self.assertError(r, 400, "NAME_INVALID")
                r = self.put_manifest(name, "latest", body, OCI_MANIFEST)
                self.assertError(r, 400, "NAME_INVALID")

    def test_invalid_repository_name_on_pull(self):
        for name in self.INVALID:
            with self.subTest(name=name):
                for path in ("/v2/%s/tags/list" % name, "/v2/%s/manifests/latest" % name,
                             "/v2/%s/blobs/%s" % (name, random_digest())):
                    r = self.request("GET", path)
                    self.assertError(r, 400, "NAME_INVALID")

    def test_valid_unusual_names(self):
        # The grammar allows "__", runs of "-", "." and many components.
        long_component = "a" + "-b" * 40  # 81 chars
        for name in ("a__b/c--d/e.f", "x-----y", "0/1/2/3/4/5/6/7/8/9",
                     "%s/%s" % (long_component, long_component)):
            with self.subTest(name=name):
                img = self.push_image(name, "t")
                r = self.manifest("GET", name, "t")
                self.assertStatus(r, 200)
                self.assertEqual(r.body, img.body)
                self.assertEqual(self.get_tags(name).json()["name"], name)

    def test_unknown_repository(self):
        # [dist] "Pushing Manifests": "An attempt to pull a nonexistent repository
        # MUST return response code 404". berth: NAME_UNKNOWN.
        repo = unique_repo("no-such")
        self.assertError(self.manifest("GET", repo, "latest"), 404, "NAME_UNKNOWN")
        self.assertError(self.manifest("HEAD", repo, "latest"), 404, (), head=True)
        self.assertError(self.get_tags(repo), 404, "NAME_UNKNOWN")
        self.assertError(self.request("GET", "/v2/%s/blobs/%s" % (repo, random_digest())),
                         404, ("BLOB_UNKNOWN", "NAME_UNKNOWN"))

    def test_repository_created_on_first_push(self):
        repo = unique_repo("created")
        self.assertError(self.get_tags(repo), 404, "NAME_UNKNOWN")
        self.push_image(repo, "first")
        r = self.get_tags(repo)
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"name": repo, "tags": ["first"]})


# ============================================================================
class TestUploadResumesAfterRestart(OciTestCase):
    """berth: a chunked upload resumes on another process (a restart here; another node when
    several share the stores) from the digest state the last chunk saved with the session,
    sealed like the repository's data, instead of re-reading the upload."""

    def saved_state(self, upload_id: str):
        db = sqlite3.connect(os.path.join(self.berth.data_dir, "meta.db"), timeout=30)
        try:
            row = db.execute("SELECT value FROM settings WHERE key = ?",
                             ("upload.hash/" + upload_id,)).fetchone()
        finally:
            db.close()
        return row[0] if row else None

    def test_chunked_upload_survives_sigkill_between_chunks(self):
        repo = unique_repo("resume")
        marker = b"RESUME-MARKER-0123456789"
        first = marker * 4000 + b"x" * 37   # ends mid hash block
        second = os.urandom(70000)
        loc = self.start_upload(repo)
        upload_id = loc.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]
        self.assertStatus(self.patch_chunk(loc, first, 0), 202)
        saved = self.saved_state(upload_id)
        self.assertIsNotNone(saved, "no digest state saved with the session")
        self.assertNotIn(b"RESUME-MARKER", base64.b64decode(saved),
                         "the saved state exposes upload bytes (it must be sealed)")
        self.berth.restart(graceful=False)
        self.assertStatus(self.patch_chunk(loc, second, len(first)), 202)
        digest = sha256(first + second)
        r = self.request("PUT", add_query(loc, digest=digest), None, {"Content-Length": "0"})
        self.assertStatus(r, 201)
        self.assertBlob(repo, digest, first + second)
        self.assertIsNone(self.saved_state(upload_id), "state left behind after completion")

    def test_upload_without_saved_state_is_rehashed(self):
        repo = unique_repo("resume")
        first = os.urandom(50001)
        second = os.urandom(1234)
        loc = self.start_upload(repo)
        upload_id = loc.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]
        self.assertStatus(self.patch_chunk(loc, first, 0), 202)
        self.berth.stop()
        db = sqlite3.connect(os.path.join(self.berth.data_dir, "meta.db"), timeout=30)
        db.execute("DELETE FROM settings WHERE key = ?", ("upload.hash/" + upload_id,))
        db.commit()
        db.close()
        self.berth.start()
        self.assertStatus(self.patch_chunk(loc, second, len(first)), 202)
        digest = sha256(first + second)
        r = self.request("PUT", add_query(loc, digest=digest), None, {"Content-Length": "0"})
        self.assertStatus(r, 201)
        self.assertBlob(repo, digest, first + second)


if __name__ == "__main__":
    unittest.main()
