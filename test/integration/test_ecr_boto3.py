#!/usr/bin/env python3
"""Black-box tests of berth's ECR control plane, driven by the unmodified boto3/botocore.

The source of truth for request/response shapes, limits and exception names is
botocore's service model (botocore/data/ecr/2015-09-21/service-2.json.gz) and the Amazon
ECR API reference; behaviour beyond the shapes follows what Amazon ECR does (each test
says so where it matters).

Run:  BERTH_BIN=/tmp/build-rel/berth python3 test/integration/test_ecr_boto3.py [-v] [Class[.test]]
Env:  BERTH_BIN (default /work/main/build/berth), BERTH_KEEP_TMP=1.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import unittest
import unittest.mock
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import NamedTuple, Optional

# boto3/botocore must not look for instance metadata, retry, or use a CA bundle meant for
# other tests.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ["AWS_MAX_ATTEMPTS"] = "1"
os.environ.pop("AWS_CA_BUNDLE", None)
for _v in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_v, None)

import boto3  # noqa: E402
import botocore.auth  # noqa: E402
import botocore.config  # noqa: E402
import botocore.credentials  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from berth_harness import (  # noqa: E402
    ADMIN_ACCESS_KEY_ID,
    ADMIN_SECRET_ACCESS_KEY,
    Berth,
    BerthTestCase,
    Response,
)

REGION = "us-east-1"
TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
AMZ_JSON = "application/x-amz-json-1.1"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST,
                        "application/vnd.docker.distribution.manifest.list.v2+json"])
SBOM_TYPE = "application/vnd.example.sbom.v1"
EMPTY_JSON = b"{}"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
REGISTRY_ID_RE = re.compile(r"^[0-9]{12}$")

REPO_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "AllowPull",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                   "ecr:BatchCheckLayerAvailability"],
    }],
})


def registry_policy(registry_id: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ReplicationAccess",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
            "Resource": "arn:aws:ecr:%s:%s:repository/*" % (REGION, registry_id),
        }],
    })


# -------------------------------------------------------------------- helpers
def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_digest() -> str:
    return sha256(os.urandom(32))


_counter = 0


def unique_repo(prefix: str) -> str:
    """A fresh valid repository name (botocore RepositoryName pattern)."""
    global _counter
    _counter += 1
    return "ecr/%s-%d-%s" % (prefix, _counter, uuid.uuid4().hex[:8])


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    d = {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
    d.update(extra)
    return d


def ecr_client(b: Berth, key: str = ADMIN_ACCESS_KEY_ID, secret: str = ADMIN_SECRET_ACCESS_KEY,
               session_token: Optional[str] = None, validate: bool = True):
    """A boto3 ECR client for berth `b`. validate=False turns off botocore's client-side
    parameter validation so that the server's own validation is what gets tested."""
    cfg = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                 parameter_validation=validate,
                                 connect_timeout=10, read_timeout=60)
    return boto3.client("ecr", endpoint_url=b.base_url, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        aws_session_token=session_token, config=cfg)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def http_get_noauth(url: str):
    """GET with plain urllib and no Authorization header → (status, headers, body)."""
    req = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def signed_request(b: Berth, action: str, payload, key: str = ADMIN_ACCESS_KEY_ID,
                   secret: str = ADMIN_SECRET_ACCESS_KEY,
                   when: Optional[datetime.datetime] = None,
                   extra_headers: Optional[dict] = None,
                   unsigned_headers: Optional[dict] = None) -> Response:
    """An AWS JSON 1.1 request signed with botocore's SigV4Auth (optionally as if signed
    at `when`), sent with urllib. `unsigned_headers` are added after signing."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": AMZ_JSON, "X-Amz-Target": TARGET_PREFIX + action}
    headers.update(extra_headers or {})
    req = AWSRequest(method="POST", url=b.base_url + "/", data=body, headers=headers)
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "ecr", REGION)
    if when is not None:
        with unittest.mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    prepared = req.prepare()
    hdrs = dict(prepared.headers.items())
    hdrs.update(unsigned_headers or {})
    ureq = urllib.request.Request(prepared.url, data=prepared.body, headers=hdrs, method="POST")
    try:
        with urllib.request.urlopen(ureq, timeout=30) as r:
            return Response(r.status, _hdrs(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, _hdrs(e.headers), e.read())


def presigned_request(b: Berth, action: str, body: bytes, key: str = ADMIN_ACCESS_KEY_ID,
                      secret: str = ADMIN_SECRET_ACCESS_KEY,
                      when: Optional[datetime.datetime] = None, expires: int = 300,
                      payload_hash: Optional[str] = None) -> Response:
    """SigV4 in the presigned-query form (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
    X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature in the query string; no
    Authorization header), computed by hand from the AWS SigV4 specification. The payload
    hash is the hex SHA-256 of the body unless `payload_hash` says otherwise (S3's
    UNSIGNED-PAYLOAD)."""
    import hmac
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    scope = "%s/%s/ecr/aws4_request" % (amz_date[:8], REGION)
    target = TARGET_PREFIX + action
    q = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "%s/%s" % (key, scope),
         "X-Amz-Date": amz_date, "X-Amz-Expires": str(expires),
         "X-Amz-SignedHeaders": "content-type;host;x-amz-target"}
    enc = lambda v: urllib.parse.quote(v, safe="-_.~")  # noqa: E731
    cq = "&".join("%s=%s" % (enc(k), enc(v)) for k, v in sorted(q.items()))
    canonical_headers = "content-type:%s\nhost:%s:%d\nx-amz-target:%s\n" % (
        AMZ_JSON, b.host, b.port, target)
    creq = "\n".join(["POST", "/", cq, canonical_headers, q["X-Amz-SignedHeaders"],
                      payload_hash or hashlib.sha256(body).hexdigest()])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz_date[:8], REGION, "ecr", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return b.request("POST", "/?%s&X-Amz-Signature=%s" % (cq, sig), body,
                     {"Authorization": None, "Content-Type": AMZ_JSON, "X-Amz-Target": target})


def _hdrs(msg):
    from berth_harness import Headers
    return Headers(msg.items())


def error_type(resp: Response) -> str:
    """The exception name of an AWS JSON error body (`__type` may carry a namespace
    prefix like "com.amazonaws.ecr#"; botocore strips it)."""
    t = resp.json().get("__type", "")
    return t.rsplit("#", 1)[-1]


class Image(NamedTuple):
    digest: str
    body: bytes
    media_type: str
    config: bytes
    layers: list

    @property
    def size(self) -> int:
        return len(self.body)


# ------------------------------------------------------------------ base class
class EcrTestCase(BerthTestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.ecr = ecr_client(cls.berth)
        cls.ecr_raw = ecr_client(cls.berth, validate=False)
        cls.registry_id = cls.ecr.describe_registry()["registryId"]

    # ------------------------------------------------------------ assertions
    def assertEcrError(self, code: str, fn, **kwargs) -> dict:
        """Calls fn(**kwargs), expects a ClientError whose code is `code` and that carries
        a message and a request id. Returns the parsed error response."""
        with self.assertRaises(ClientError, msg="%s(%r) should fail with %s"
                               % (getattr(fn, "__name__", fn), kwargs, code)) as cm:
            fn(**kwargs)
        resp = cm.exception.response
        self.assertEqual(resp["Error"]["Code"], code,
                         "%s(%r): expected %s, got %r" % (getattr(fn, "__name__", fn), kwargs,
                                                          code, resp))
        self.assertTrue(resp["Error"].get("Message"), "error without a message: %r" % resp)
        status = resp["ResponseMetadata"]["HTTPStatusCode"]
        self.assertTrue(400 <= status < 500, "expected a 4xx status, got %d" % status)
        self.assertTrue(resp["ResponseMetadata"].get("RequestId"),
                        "error without x-amzn-RequestId: %r" % resp)
        return resp

    def assertStatus(self, resp: Response, *expected: int) -> None:
        if resp.status not in expected:
            self.fail("expected HTTP %s, got %s" % (expected, resp.describe()))

    def assertOciError(self, resp: Response, status: int, code: str) -> None:
        self.assertStatus(resp, status)
        codes = [e.get("code") for e in resp.json().get("errors", [])]
        self.assertIn(code, codes, resp.describe())

    def arn(self, repo: str) -> str:
        return "arn:aws:ecr:%s:%s:repository/%s" % (REGION, self.registry_id, repo)

    # ---------------------------------------------------------- OCI pushes
    def oci_blob(self, repo: str, data: bytes, auth: Optional[str] = None) -> Response:
        """Monolithic single-POST upload: POST /v2/<repo>/blobs/uploads/?digest=."""
        headers = {"Content-Type": "application/octet-stream"}
        if auth is not None:
            headers["Authorization"] = auth
        return self.request("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, sha256(data)),
                            data, headers)

    def oci_push_blob(self, repo: str, data: bytes) -> str:
        r = self.oci_blob(repo, data)
        self.assertStatus(r, 201)
        return sha256(data)

    def oci_put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> Response:
        return self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body,
                            {"Content-Type": media_type})

    def build_image(self, repo: str, *, layers: int = 1, docker: bool = False,
                    via: Optional[str] = "oci", artifact_type: Optional[str] = None,
                    subject: Optional[dict] = None, annotations: Optional[dict] = None,
                    empty_config: bool = False) -> Image:
        """Creates (and uploads the blobs of, via OCI or the ECR layer API, or not at all
        when via=None) an image; returns it with its manifest bytes (indented JSON, so
        byte-identity is meaningful)."""
        if empty_config:
            cfg = EMPTY_JSON
            cfg_type = OCI_EMPTY
        else:
            cfg = json.dumps({"architecture": "amd64", "os": "linux",
                              "rootfs": {"type": "layers", "diff_ids": []},
                              "config": {"Labels": {"nonce": uuid.uuid4().hex}}}).encode()
            cfg_type = DOCKER_CONFIG if docker else OCI_CONFIG
        layer_blobs = [os.urandom(200 + 37 * i) for i in range(layers)]
        for blob in [cfg] + layer_blobs:
            if via == "oci":
                self.oci_push_blob(repo, blob)
            elif via == "ecr":
                self.ecr_upload(repo, blob)
        mt = DOCKER_MANIFEST if docker else OCI_MANIFEST
        m = {"schemaVersion": 2, "mediaType": mt}
        if artifact_type:
            m["artifactType"] = artifact_type
        m["config"] = descriptor(cfg_type, cfg)
        m["layers"] = [descriptor(DOCKER_LAYER if docker else OCI_LAYER, x) for x in layer_blobs]
        if subject:
            m["subject"] = subject
        if annotations:
            m["annotations"] = annotations
        body = json.dumps(m, indent=3).encode()
        return Image(sha256(body), body, mt, cfg, layer_blobs)

    def oci_push_image(self, repo: str, tag: Optional[str] = None, **kw) -> Image:
        img = self.build_image(repo, **kw)
        r = self.oci_put_manifest(repo, tag or img.digest, img.body, img.media_type)
        self.assertStatus(r, 201)
        return img

    def ecr_put_image(self, repo: str, img: Image, tag: Optional[str] = None, **kw) -> dict:
        args = dict(repositoryName=repo, imageManifest=img.body.decode())
        if tag is not None:
            args["imageTag"] = tag
        args.update(kw)
        return self.ecr.put_image(**args)

    def ecr_upload(self, repo: str, data: bytes, part_size: Optional[int] = None) -> str:
        """InitiateLayerUpload / UploadLayerPart (consecutive parts) / CompleteLayerUpload."""
        up = self.ecr.initiate_layer_upload(repositoryName=repo)
        uid = up["uploadId"]
        part_size = part_size or max(len(data), 1)
        pos = 0
        while pos < len(data):
            chunk = data[pos:pos + part_size]
            r = self.ecr.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=pos,
                                           partLastByte=pos + len(chunk) - 1,
                                           layerPartBlob=chunk)
            self.assertEqual(r["lastByteReceived"], pos + len(chunk) - 1)
            pos += len(chunk)
        r = self.ecr.complete_layer_upload(repositoryName=repo, uploadId=uid,
                                           layerDigests=[sha256(data)])
        self.assertEqual(r["layerDigest"], sha256(data))
        return r["layerDigest"]

    def create_repo(self, prefix: str, **kw) -> str:
        name = unique_repo(prefix)
        self.ecr.create_repository(repositoryName=name, **kw)
        return name


# ======================================================================= tests
class TestRegistryAndProtocol(EcrTestCase):
    def test_get_authorization_token(self):
        before = time.time()
        r = self.ecr.get_authorization_token()
        data = r["authorizationData"]
        self.assertEqual(len(data), 1, r)
        d = data[0]
        raw = base64.b64decode(d["authorizationToken"]).decode()
        user, _, token = raw.partition(":")
        self.assertEqual(user, "AWS")
        self.assertTrue(token, "empty registry token")
        self.assertEqual(d["proxyEndpoint"], self.berth.base_url)
        expires = d["expiresAt"].timestamp()
        self.assertAlmostEqual(expires, before + 12 * 3600, delta=120)

    def test_authorization_token_works_for_oci_basic(self):
        d = self.ecr.get_authorization_token()["authorizationData"][0]
        r = self.request("GET", "/v2/", headers={
            "Authorization": "Basic " + d["authorizationToken"]})
        self.assertStatus(r, 200)

    def test_describe_registry(self):
        r = self.ecr.describe_registry()
        self.assertRegex(r["registryId"], REGISTRY_ID_RE)
        self.assertEqual(r.get("replicationConfiguration", {"rules": []}).get("rules"), [])
        self.assertEqual(r["registryId"], self.ecr.describe_registry()["registryId"],
                         "registry id must be stable")

    def test_response_headers(self):
        r = signed_request(self.berth, "DescribeRegistry", {})
        self.assertStatus(r, 200)
        self.assertTrue(r.headers.get("x-amzn-RequestId"), r.describe())
        self.assertIn("application/x-amz-json-1.1", r.headers.get("Content-Type", ""))

    def test_error_body_shape(self):
        r = signed_request(self.berth, "DescribeRepositories",
                           {"repositoryNames": [unique_repo("missing")]})
        self.assertEqual(r.status, 400, r.describe())
        self.assertTrue(r.headers.get("x-amzn-RequestId"), r.describe())
        self.assertEqual(error_type(r), "RepositoryNotFoundException")
        self.assertTrue(r.json().get("message"), r.describe())

    def test_unknown_operation(self):
        r = signed_request(self.berth, "NoSuchAction", {})
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertEqual(error_type(r), "UnknownOperationException", r.describe())
        self.assertTrue(r.headers.get("x-amzn-RequestId"), r.describe())

    def test_timestamps_are_epoch_seconds(self):
        name = unique_repo("epoch")
        r = signed_request(self.berth, "CreateRepository", {"repositoryName": name})
        self.assertStatus(r, 200)
        created = r.json()["repository"]["createdAt"]
        self.assertIsInstance(created, (int, float), r.describe())
        self.assertAlmostEqual(created, time.time(), delta=60)
        r = signed_request(self.berth, "GetAuthorizationToken", {})
        self.assertIsInstance(r.json()["authorizationData"][0]["expiresAt"], (int, float))

    def test_request_ids_are_unique(self):
        ids = {signed_request(self.berth, "DescribeRegistry", {}).headers.get("x-amzn-RequestId")
               for _ in range(5)}
        self.assertEqual(len(ids), 5, ids)

    def test_malformed_json_body(self):
        r = signed_request(self.berth, "DescribeRepositories", b"{not json")
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertIn(error_type(r), ("SerializationException", "InvalidParameterException"),
                      r.describe())


class TestRepositories(EcrTestCase):
    def test_create_repository_defaults(self):
        name = unique_repo("defaults")
        before = time.time()
        r = self.ecr.create_repository(repositoryName=name)["repository"]
        self.assertEqual(r["repositoryName"], name)
        self.assertEqual(r["registryId"], self.registry_id)
        self.assertEqual(r["repositoryArn"], self.arn(name))
        self.assertEqual(r["repositoryUri"], "127.0.0.1:%d/%s" % (self.berth.port, name))
        self.assertEqual(r["imageTagMutability"], "MUTABLE")
        self.assertEqual(r["imageScanningConfiguration"], {"scanOnPush": False})
        self.assertEqual(r["encryptionConfiguration"]["encryptionType"], "AES256")
        self.assertAlmostEqual(r["createdAt"].timestamp(), before, delta=60)

    def test_create_repository_with_all_options(self):
        name = unique_repo("options")
        filters = [{"filterType": "WILDCARD", "filter": "dev-*"},
                   {"filterType": "WILDCARD", "filter": "*-snapshot"}]
        r = self.ecr.create_repository(
            repositoryName=name,
            tags=[{"Key": "team", "Value": "platform"}, {"Key": "env", "Value": ""}],
            imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters=filters,
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"})["repository"]
        self.assertEqual(r["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION")
        self.assertEqual(r["imageTagMutabilityExclusionFilters"], filters)
        self.assertEqual(r["imageScanningConfiguration"], {"scanOnPush": True})
        self.assertEqual(r["encryptionConfiguration"], {"encryptionType": "AES256"})
        d = self.ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        for k in ("repositoryArn", "imageTagMutability", "imageTagMutabilityExclusionFilters",
                  "imageScanningConfiguration", "encryptionConfiguration", "repositoryUri"):
            self.assertEqual(d[k], r[k], k)
        tags = self.ecr.list_tags_for_resource(resourceArn=self.arn(name))["tags"]
        self.assertEqual(sorted(tags, key=lambda t: t["Key"]),
                         [{"Key": "env", "Value": ""}, {"Key": "team", "Value": "platform"}])

    def test_create_repository_kms_encryption_recorded(self):
        # A customer key of berth's key service, named by alias; ECR records the key ARN.
        alias = "alias/" + unique_repo("kms")
        p = subprocess.run([self.berth.binary, "admin", "--data-dir", self.berth.data_dir, "key",
                            "create", "--alias", alias], capture_output=True, text=True,
                           timeout=60, env=self.berth.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        key = json.loads(p.stdout)["Arn"]
        name = unique_repo("kms")
        r = self.ecr.create_repository(
            repositoryName=name,
            encryptionConfiguration={"encryptionType": "KMS", "kmsKey": alias})["repository"]
        self.assertEqual(r["encryptionConfiguration"], {"encryptionType": "KMS", "kmsKey": key})
        d = self.ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        self.assertEqual(d["encryptionConfiguration"], {"encryptionType": "KMS", "kmsKey": key})
        # KMS without a key: ECR's managed alias/aws/ecr key.
        r = self.ecr.create_repository(repositoryName=unique_repo("kmsdef"),
                                       encryptionConfiguration={"encryptionType": "KMS"})
        self.assertRegex(r["repository"]["encryptionConfiguration"]["kmsKey"],
                         r"^arn:aws:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
        # A key that does not exist: refused, nothing created.
        missing = "arn:aws:kms:us-east-1:123456789012:key/0f0e0d0c-0b0a-0908-0706-050403020100"
        with self.assertRaises(ClientError) as cm:
            self.ecr.create_repository(
                repositoryName=unique_repo("kmsbad"),
                encryptionConfiguration={"encryptionType": "KMS", "kmsKey": missing})
        self.assertEqual(cm.exception.response["Error"]["Code"], "KmsException")

    def test_create_repository_mutable_with_exclusion(self):
        name = unique_repo("mwe")
        filters = [{"filterType": "WILDCARD", "filter": "release-*"}]
        r = self.ecr.create_repository(repositoryName=name,
                                       imageTagMutability="MUTABLE_WITH_EXCLUSION",
                                       imageTagMutabilityExclusionFilters=filters)["repository"]
        self.assertEqual(r["imageTagMutability"], "MUTABLE_WITH_EXCLUSION")
        self.assertEqual(r["imageTagMutabilityExclusionFilters"], filters)

    def test_create_repository_already_exists(self):
        name = self.create_repo("dup")
        self.assertEcrError("RepositoryAlreadyExistsException", self.ecr.create_repository,
                            repositoryName=name)

    def test_create_repository_invalid_name(self):
        for bad in ("UpperCase", "a", "trailing-/x", "double//slash", "-lead", "x" * 257):
            with self.subTest(name=bad):
                self.assertEcrError("InvalidParameterException",
                                    self.ecr_raw.create_repository, repositoryName=bad)

    def test_create_repository_exclusion_mode_needs_filters(self):
        self.assertEcrError("InvalidParameterException", self.ecr.create_repository,
                            repositoryName=unique_repo("nofilters"),
                            imageTagMutability="IMMUTABLE_WITH_EXCLUSION")

    def test_create_repository_invalid_mutability(self):
        self.assertEcrError("InvalidParameterException", self.ecr_raw.create_repository,
                            repositoryName=unique_repo("badmut"), imageTagMutability="SOMETIMES")

    def test_create_repository_aws_tag_refused(self):
        self.assertEcrError("InvalidTagParameterException", self.ecr.create_repository,
                            repositoryName=unique_repo("awstag"),
                            tags=[{"Key": "aws:reserved", "Value": "x"}])

    def test_create_repository_too_many_tags(self):
        tags = [{"Key": "k%d" % i, "Value": "v"} for i in range(51)]
        name = unique_repo("toomany")
        self.assertEcrError("TooManyTagsException", self.ecr.create_repository,
                            repositoryName=name, tags=tags)
        self.assertEcrError("RepositoryNotFoundException", self.ecr.describe_repositories,
                            repositoryNames=[name])

    def test_describe_repositories_by_name(self):
        a, b = self.create_repo("da"), self.create_repo("db")
        r = self.ecr.describe_repositories(repositoryNames=[a, b])["repositories"]
        self.assertEqual(sorted(x["repositoryName"] for x in r), sorted([a, b]))

    def test_describe_repositories_unknown_name(self):
        a = self.create_repo("dknown")
        self.assertEcrError("RepositoryNotFoundException", self.ecr.describe_repositories,
                            repositoryNames=[a, unique_repo("dunknown")])

    def test_describe_repositories_pagination(self):
        mine = {self.create_repo("page") for _ in range(5)}
        seen, token, pages = [], None, 0
        while True:
            args = {"maxResults": 2}
            if token:
                args["nextToken"] = token
            r = self.ecr.describe_repositories(**args)
            pages += 1
            self.assertLessEqual(len(r["repositories"]), 2)
            seen += [x["repositoryName"] for x in r["repositories"]]
            token = r.get("nextToken")
            if not token:
                break
            self.assertLess(pages, 500, "pagination does not end")
        self.assertGreaterEqual(pages, 3)
        self.assertEqual(len(seen), len(set(seen)), "a repository was listed twice: %r" % seen)
        self.assertTrue(mine <= set(seen), "missing: %r" % (mine - set(seen)))
        # The same through boto3's paginator.
        names = []
        for page in self.ecr.get_paginator("describe_repositories").paginate(
                PaginationConfig={"PageSize": 3}):
            names += [x["repositoryName"] for x in page["repositories"]]
        self.assertEqual(sorted(names), sorted(seen))
        # Default page (no maxResults) holds them all here (default 100).
        r = self.ecr.describe_repositories()
        self.assertEqual(sorted(x["repositoryName"] for x in r["repositories"]), sorted(seen))
        self.assertNotIn("nextToken", r)

    def test_describe_repositories_max_results_with_names(self):
        a = self.create_repo("mrn")
        self.assertEcrError("InvalidParameterException", self.ecr.describe_repositories,
                            repositoryNames=[a], maxResults=5)

    def test_describe_repositories_max_results_limits(self):
        for bad in (0, 1001):
            with self.subTest(maxResults=bad):
                self.assertEcrError("InvalidParameterException",
                                    self.ecr_raw.describe_repositories, maxResults=bad)
        self.ecr.describe_repositories(maxResults=1000)
        self.ecr.describe_repositories(maxResults=1)

    def test_describe_repositories_bad_next_token(self):
        self.assertEcrError("InvalidParameterException", self.ecr.describe_repositories,
                            nextToken="this-is-not-a-token", maxResults=2)

    def test_delete_repository(self):
        name = self.create_repo("del")
        r = self.ecr.delete_repository(repositoryName=name)["repository"]
        self.assertEqual(r["repositoryName"], name)
        self.assertEqual(r["repositoryArn"], self.arn(name))
        self.assertEcrError("RepositoryNotFoundException", self.ecr.describe_repositories,
                            repositoryNames=[name])
        self.assertEcrError("RepositoryNotFoundException", self.ecr.delete_repository,
                            repositoryName=name)

    def test_delete_repository_not_empty_and_force(self):
        name = self.create_repo("delfull")
        self.oci_push_image(name, "v1")
        self.assertEcrError("RepositoryNotEmptyException", self.ecr.delete_repository,
                            repositoryName=name)
        self.ecr.describe_repositories(repositoryNames=[name])
        r = self.ecr.delete_repository(repositoryName=name, force=True)
        self.assertEqual(r["repository"]["repositoryName"], name)
        self.assertEcrError("RepositoryNotFoundException", self.ecr.list_images,
                            repositoryName=name)
        r = self.request("GET", "/v2/%s/manifests/v1" % name, headers={"Accept": ACCEPT_ALL})
        self.assertStatus(r, 404)

    def test_put_image_tag_mutability(self):
        name = self.create_repo("ptm")
        r = self.ecr.put_image_tag_mutability(repositoryName=name,
                                              imageTagMutability="IMMUTABLE")
        self.assertEqual(r["repositoryName"], name)
        self.assertEqual(r["registryId"], self.registry_id)
        self.assertEqual(r["imageTagMutability"], "IMMUTABLE")
        d = self.ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        self.assertEqual(d["imageTagMutability"], "IMMUTABLE")
        filters = [{"filterType": "WILDCARD", "filter": "latest"}]
        r = self.ecr.put_image_tag_mutability(repositoryName=name,
                                              imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
                                              imageTagMutabilityExclusionFilters=filters)
        self.assertEqual(r["imageTagMutabilityExclusionFilters"], filters)
        d = self.ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        self.assertEqual(d["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION")
        self.assertEqual(d["imageTagMutabilityExclusionFilters"], filters)

    def test_put_image_tag_mutability_errors(self):
        self.assertEcrError("RepositoryNotFoundException", self.ecr.put_image_tag_mutability,
                            repositoryName=unique_repo("nomut"), imageTagMutability="MUTABLE")
        name = self.create_repo("ptmbad")
        # *_WITH_EXCLUSION needs filters; plain modes take none.
        self.assertEcrError("InvalidParameterException", self.ecr.put_image_tag_mutability,
                            repositoryName=name, imageTagMutability="MUTABLE_WITH_EXCLUSION")
        self.assertEcrError("InvalidParameterException", self.ecr_raw.put_image_tag_mutability,
                            repositoryName=name, imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
                            imageTagMutabilityExclusionFilters=[
                                {"filterType": "WILDCARD", "filter": "bad filter!"}])
        self.assertEcrError("InvalidParameterException", self.ecr_raw.put_image_tag_mutability,
                            repositoryName=name, imageTagMutability="NEVER")


class TestImages(EcrTestCase):
    """ListImages, DescribeImages, BatchGetImage, BatchDeleteImage, ListImageReferrers."""

    def test_list_images_and_tag_status(self):
        repo = self.create_repo("list")
        a = self.oci_push_image(repo, "a1")
        self.assertStatus(self.oci_put_manifest(repo, "a2", a.body, a.media_type), 201)
        u = self.oci_push_image(repo)  # untagged
        ids = self.ecr.list_images(repositoryName=repo)["imageIds"]
        got = sorted((i["imageDigest"], i.get("imageTag")) for i in ids)
        self.assertEqual(got, sorted([(a.digest, "a1"), (a.digest, "a2"), (u.digest, None)]))
        tagged = self.ecr.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})
        self.assertEqual(sorted((i["imageDigest"], i.get("imageTag"))
                                for i in tagged["imageIds"]),
                         sorted([(a.digest, "a1"), (a.digest, "a2")]))
        untagged = self.ecr.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
        self.assertEqual(untagged["imageIds"], [{"imageDigest": u.digest}])
        anyst = self.ecr.list_images(repositoryName=repo, filter={"tagStatus": "ANY"})
        self.assertEqual(len(anyst["imageIds"]), 3)

    def test_list_images_pagination(self):
        repo = self.create_repo("listpage")
        want = set()
        for i in range(5):
            img = self.oci_push_image(repo, "t%d" % i)
            want.add((img.digest, "t%d" % i))
        seen, token, pages = [], None, 0
        while True:
            args = {"repositoryName": repo, "maxResults": 2}
            if token:
                args["nextToken"] = token
            r = self.ecr.list_images(**args)
            pages += 1
            self.assertLessEqual(len(r["imageIds"]), 2)
            seen += [(i["imageDigest"], i.get("imageTag")) for i in r["imageIds"]]
            token = r.get("nextToken")
            if not token:
                break
            self.assertLess(pages, 20)
        self.assertEqual(pages, 3)
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(set(seen), want)
        via_paginator = []
        for page in self.ecr.get_paginator("list_images").paginate(
                repositoryName=repo, PaginationConfig={"PageSize": 4}):
            via_paginator += [(i["imageDigest"], i.get("imageTag")) for i in page["imageIds"]]
        self.assertEqual(sorted(via_paginator), sorted(want))

    def test_list_images_errors(self):
        self.assertEcrError("RepositoryNotFoundException", self.ecr.list_images,
                            repositoryName=unique_repo("nolist"))
        repo = self.create_repo("listerr")
        self.assertEcrError("InvalidParameterException", self.ecr_raw.list_images,
                            repositoryName=repo, maxResults=0)
        self.assertEcrError("InvalidParameterException", self.ecr_raw.list_images,
                            repositoryName=repo, filter={"tagStatus": "SOMETIMES"})
        self.assertEqual(self.ecr.list_images(repositoryName=repo)["imageIds"], [])

    def test_describe_images_details(self):
        repo = self.create_repo("desc")
        before = time.time()
        img = self.oci_push_image(repo, "v1", layers=2, docker=True)
        self.assertStatus(self.oci_put_manifest(repo, "v1-alias", img.body, img.media_type), 201)
        r = self.ecr.describe_images(repositoryName=repo)["imageDetails"]
        self.assertEqual(len(r), 1, r)
        d = r[0]
        self.assertEqual(d["registryId"], self.registry_id)
        self.assertEqual(d["repositoryName"], repo)
        self.assertEqual(d["imageDigest"], img.digest)
        self.assertEqual(sorted(d["imageTags"]), ["v1", "v1-alias"])
        self.assertEqual(d["imageManifestMediaType"], DOCKER_MANIFEST)
        self.assertEqual(d["artifactMediaType"], DOCKER_CONFIG)
        layer_total = sum(len(x) for x in img.layers)
        self.assertGreaterEqual(d["imageSizeInBytes"], layer_total)
        self.assertLessEqual(d["imageSizeInBytes"], layer_total + len(img.config) + img.size)
        self.assertAlmostEqual(d["imagePushedAt"].timestamp(), before, delta=60)
        self.assertNotIn("subjectManifestDigest", d)

    def test_describe_images_by_ids_and_not_found(self):
        repo = self.create_repo("descids")
        a = self.oci_push_image(repo, "a")
        b = self.oci_push_image(repo, "b")
        r = self.ecr.describe_images(repositoryName=repo,
                                     imageIds=[{"imageTag": "a"}, {"imageDigest": b.digest}])
        self.assertEqual(sorted(x["imageDigest"] for x in r["imageDetails"]),
                         sorted([a.digest, b.digest]))
        self.assertEcrError("ImageNotFoundException", self.ecr.describe_images,
                            repositoryName=repo, imageIds=[{"imageTag": "nope"}])
        self.assertEcrError("ImageNotFoundException", self.ecr.describe_images,
                            repositoryName=repo, imageIds=[{"imageDigest": random_digest()}])
        self.assertEcrError("InvalidParameterException", self.ecr.describe_images,
                            repositoryName=repo, imageIds=[{"imageTag": "a"}], maxResults=5)
        self.assertEcrError("RepositoryNotFoundException", self.ecr.describe_images,
                            repositoryName=unique_repo("nodesc"))

    def test_describe_images_pagination_and_filter(self):
        repo = self.create_repo("descpage")
        tagged = {self.oci_push_image(repo, "t%d" % i).digest for i in range(3)}
        untagged = {self.oci_push_image(repo).digest for _ in range(2)}
        seen, token, pages = [], None, 0
        while True:
            args = {"repositoryName": repo, "maxResults": 2}
            if token:
                args["nextToken"] = token
            r = self.ecr.describe_images(**args)
            pages += 1
            self.assertLessEqual(len(r["imageDetails"]), 2)
            seen += [x["imageDigest"] for x in r["imageDetails"]]
            token = r.get("nextToken")
            if not token:
                break
            self.assertLess(pages, 20)
        self.assertEqual(pages, 3)
        self.assertEqual(sorted(seen), sorted(tagged | untagged))
        got = self.ecr.describe_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})
        self.assertEqual({x["imageDigest"] for x in got["imageDetails"]}, tagged)
        got = self.ecr.describe_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
        self.assertEqual({x["imageDigest"] for x in got["imageDetails"]}, untagged)
        for x in got["imageDetails"]:
            self.assertFalse(x.get("imageTags"), x)
        pag = []
        for page in self.ecr.get_paginator("describe_images").paginate(
                repositoryName=repo, PaginationConfig={"PageSize": 2}):
            pag += [x["imageDigest"] for x in page["imageDetails"]]
        self.assertEqual(sorted(pag), sorted(tagged | untagged))

    def test_describe_images_last_recorded_pull_time(self):
        repo = self.create_repo("pulltime")
        img = self.oci_push_image(repo, "v1")
        before = time.time()
        r = self.request("GET", "/v2/%s/manifests/v1" % repo, headers={"Accept": ACCEPT_ALL})
        self.assertStatus(r, 200)
        d = self.ecr.describe_images(repositoryName=repo,
                                     imageIds=[{"imageDigest": img.digest}])["imageDetails"][0]
        self.assertIn("lastRecordedPullTime", d, d)
        self.assertAlmostEqual(d["lastRecordedPullTime"].timestamp(), before, delta=60)

    def test_batch_get_image(self):
        repo = self.create_repo("bgi")
        img = self.oci_push_image(repo, "v1")
        r = self.ecr.batch_get_image(repositoryName=repo,
                                     imageIds=[{"imageTag": "v1"}, {"imageDigest": img.digest},
                                               {"imageTag": "v1", "imageDigest": img.digest}])
        self.assertEqual(r["failures"], [])
        self.assertEqual(len(r["images"]), 3)
        for im in r["images"]:
            self.assertEqual(im["registryId"], self.registry_id)
            self.assertEqual(im["repositoryName"], repo)
            self.assertEqual(im["imageId"]["imageDigest"], img.digest)
            self.assertEqual(im["imageManifest"].encode(), img.body)
            self.assertEqual(im["imageManifestMediaType"], OCI_MANIFEST)
        self.assertEqual(r["images"][0]["imageId"].get("imageTag"), "v1")

    def test_batch_get_image_failures(self):
        repo = self.create_repo("bgif")
        img = self.oci_push_image(repo, "v1")
        other = self.oci_push_image(repo, "v2")
        cases = [
            ({"imageTag": "missing"}, "ImageNotFound"),
            ({"imageDigest": random_digest()}, "ImageNotFound"),
            ({"imageTag": "v1", "imageDigest": other.digest}, "ImageTagDoesNotMatchDigest"),
            ({"imageDigest": "sha256:not-hex"}, "InvalidImageDigest"),
            ({}, "MissingDigestAndTag"),
        ]
        r = self.ecr.batch_get_image(repositoryName=repo,
                                     imageIds=[c[0] for c in cases] + [{"imageTag": "v1"}])
        self.assertEqual([im["imageId"]["imageDigest"] for im in r["images"]], [img.digest])
        self.assertEqual(len(r["failures"]), len(cases), r["failures"])
        for (ident, code), f in zip(cases, r["failures"]):
            with self.subTest(code=code):
                self.assertEqual(f["failureCode"], code, f)
                self.assertTrue(f.get("failureReason"), f)
                for k, v in ident.items():
                    self.assertEqual(f["imageId"].get(k), v, f)

    def test_batch_get_image_accepted_media_types(self):
        repo = self.create_repo("bgiamt")
        dimg = self.oci_push_image(repo, "docker", docker=True)
        oimg = self.oci_push_image(repo, "oci")
        r = self.ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "docker"}],
                                     acceptedMediaTypes=[DOCKER_MANIFEST, OCI_MANIFEST])
        self.assertEqual(r["images"][0]["imageManifestMediaType"], DOCKER_MANIFEST)
        self.assertEqual(r["images"][0]["imageManifest"].encode(), dimg.body)
        r = self.ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "oci"}],
                                     acceptedMediaTypes=[OCI_MANIFEST])
        self.assertEqual(r["images"][0]["imageManifest"].encode(), oimg.body)
        # An image none of whose representations is accepted is not returned.
        r = self.ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "oci"}],
                                     acceptedMediaTypes=[DOCKER_MANIFEST])
        self.assertEqual(r["images"], [])
        self.assertEqual(len(r["failures"]), 1, r)
        self.assertEqual(r["failures"][0]["imageId"], {"imageTag": "oci"})

    def test_batch_get_image_errors(self):
        self.assertEcrError("RepositoryNotFoundException", self.ecr.batch_get_image,
                            repositoryName=unique_repo("nobgi"), imageIds=[{"imageTag": "x"}])
        repo = self.create_repo("bgie")
        self.assertEcrError("InvalidParameterException", self.ecr_raw.batch_get_image,
                            repositoryName=repo, imageIds=[])
        self.assertEcrError("InvalidParameterException", self.ecr_raw.batch_get_image,
                            repositoryName=repo,
                            imageIds=[{"imageTag": "t%d" % i} for i in range(101)])

    def test_batch_delete_image_by_tag(self):
        repo = self.create_repo("bdt")
        img = self.oci_push_image(repo, "t1")
        self.assertStatus(self.oci_put_manifest(repo, "t2", img.body, img.media_type), 201)
        r = self.ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "t1"}])
        self.assertEqual(r["failures"], [])
        self.assertEqual(r["imageIds"], [{"imageDigest": img.digest, "imageTag": "t1"}])
        # Only that tag went: the image stays with t2.
        d = self.ecr.describe_images(repositoryName=repo)["imageDetails"]
        self.assertEqual([(x["imageDigest"], x.get("imageTags")) for x in d],
                         [(img.digest, ["t2"])])
        # Removing the last tag removes the image (ECR: "When you remove the last tag from
        # an image, the image is deleted from your repository").
        r = self.ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "t2"}])
        self.assertEqual(r["imageIds"], [{"imageDigest": img.digest, "imageTag": "t2"}])
        self.assertEqual(self.ecr.list_images(repositoryName=repo)["imageIds"], [])
        self.assertEcrError("ImageNotFoundException", self.ecr.describe_images,
                            repositoryName=repo, imageIds=[{"imageDigest": img.digest}])
        r = self.request("GET", "/v2/%s/manifests/%s" % (repo, img.digest),
                         headers={"Accept": ACCEPT_ALL})
        self.assertStatus(r, 404)

    def test_batch_delete_image_by_digest(self):
        repo = self.create_repo("bdd")
        img = self.oci_push_image(repo, "u1")
        self.assertStatus(self.oci_put_manifest(repo, "u2", img.body, img.media_type), 201)
        keep = self.oci_push_image(repo, "keep")
        r = self.ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": img.digest}])
        self.assertEqual(r["failures"], [])
        self.assertTrue(r["imageIds"], r)
        for i in r["imageIds"]:
            self.assertEqual(i["imageDigest"], img.digest)
        ids = self.ecr.list_images(repositoryName=repo)["imageIds"]
        self.assertEqual(ids, [{"imageDigest": keep.digest, "imageTag": "keep"}])
        for tag in ("u1", "u2"):
            r = self.request("GET", "/v2/%s/manifests/%s" % (repo, tag),
                             headers={"Accept": ACCEPT_ALL})
            self.assertStatus(r, 404)

    def test_batch_delete_image_failures(self):
        repo = self.create_repo("bdf")
        img = self.oci_push_image(repo, "v1")
        other = self.oci_push_image(repo, "v2")
        cases = [
            ({"imageTag": "missing"}, "ImageNotFound"),
            ({"imageDigest": random_digest()}, "ImageNotFound"),
            ({"imageDigest": "sha256:xyz"}, "InvalidImageDigest"),
            ({}, "MissingDigestAndTag"),
            ({"imageTag": "v1", "imageDigest": other.digest}, "ImageTagDoesNotMatchDigest"),
        ]
        r = self.ecr.batch_delete_image(repositoryName=repo, imageIds=[c[0] for c in cases])
        self.assertEqual(r["imageIds"], [])
        self.assertEqual(len(r["failures"]), len(cases), r)
        for (ident, code), f in zip(cases, r["failures"]):
            with self.subTest(code=code):
                self.assertEqual(f["failureCode"], code, f)
                self.assertTrue(f.get("failureReason"), f)
        self.assertEqual(len(self.ecr.list_images(repositoryName=repo)["imageIds"]), 2)
        self.assertEcrError("RepositoryNotFoundException", self.ecr.batch_delete_image,
                            repositoryName=unique_repo("nobd"), imageIds=[{"imageTag": "x"}])
        d = self.ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": img.digest}])
        self.assertEqual(d["imageDetails"][0]["imageTags"], ["v1"])

    def test_batch_delete_image_referenced_by_index(self):
        repo = self.create_repo("bdidx")
        child = self.oci_push_image(repo)
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": child.digest, "size": child.size,
             "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
        self.assertStatus(self.oci_put_manifest(repo, "multi", index, OCI_INDEX), 201)
        r = self.ecr.batch_delete_image(repositoryName=repo,
                                        imageIds=[{"imageDigest": child.digest}])
        self.assertEqual(r["imageIds"], [])
        self.assertEqual([f["failureCode"] for f in r["failures"]],
                         ["ImageReferencedByManifestList"], r)
        d = self.ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "multi"}])
        self.assertEqual(d["imageDetails"][0]["imageManifestMediaType"], OCI_INDEX)
        # Deleting the index first, then the child, works.
        r = self.ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "multi"}])
        self.assertEqual(r["failures"], [])
        r = self.ecr.batch_delete_image(repositoryName=repo,
                                        imageIds=[{"imageDigest": child.digest}])
        self.assertEqual(r["failures"], [])
        self.assertEqual(self.ecr.list_images(repositoryName=repo)["imageIds"], [])

    def test_list_image_referrers(self):
        repo = self.create_repo("refs")
        subj = self.oci_push_image(repo, "v1")
        subject = {"mediaType": OCI_MANIFEST, "digest": subj.digest, "size": subj.size}
        sbom = self.oci_push_image(repo, artifact_type=SBOM_TYPE, subject=subject,
                                   empty_config=True,
                                   annotations={"org.example.kind": "sbom"})
        sig = self.oci_push_image(repo, artifact_type="application/vnd.example.sig.v1",
                                  subject=subject, empty_config=True)
        r = self.ecr.list_image_referrers(repositoryName=repo,
                                          subjectId={"imageDigest": subj.digest})
        refs = {x["digest"]: x for x in r["referrers"]}
        self.assertEqual(set(refs), {sbom.digest, sig.digest})
        s = refs[sbom.digest]
        self.assertEqual(s["mediaType"], OCI_MANIFEST)
        self.assertEqual(s["artifactType"], SBOM_TYPE)
        self.assertEqual(s["size"], sbom.size)
        self.assertEqual(s.get("annotations"), {"org.example.kind": "sbom"})
        r = self.ecr.list_image_referrers(repositoryName=repo,
                                          subjectId={"imageDigest": subj.digest},
                                          filter={"artifactTypes": [SBOM_TYPE]})
        self.assertEqual([x["digest"] for x in r["referrers"]], [sbom.digest])
        # The referrer's DescribeImages entry names its subject.
        d = self.ecr.describe_images(repositoryName=repo,
                                     imageIds=[{"imageDigest": sbom.digest}])["imageDetails"][0]
        self.assertEqual(d.get("subjectManifestDigest"), subj.digest)
        self.assertEqual(d.get("artifactMediaType"), SBOM_TYPE)
        # Pagination (maxResults 1..50).
        r = self.ecr.list_image_referrers(repositoryName=repo,
                                          subjectId={"imageDigest": subj.digest}, maxResults=1)
        self.assertEqual(len(r["referrers"]), 1)
        self.assertTrue(r.get("nextToken"), r)
        r2 = self.ecr.list_image_referrers(repositoryName=repo,
                                           subjectId={"imageDigest": subj.digest},
                                           maxResults=1, nextToken=r["nextToken"])
        self.assertEqual({r["referrers"][0]["digest"], r2["referrers"][0]["digest"]},
                         {sbom.digest, sig.digest})
        self.assertNotIn("nextToken", r2)
        # No referrers: an empty list.
        r = self.ecr.list_image_referrers(repositoryName=repo,
                                          subjectId={"imageDigest": random_digest()})
        self.assertEqual(r["referrers"], [])
        self.assertEcrError("RepositoryNotFoundException", self.ecr.list_image_referrers,
                            repositoryName=unique_repo("norefs"),
                            subjectId={"imageDigest": subj.digest})
        self.assertEcrError("InvalidParameterException", self.ecr_raw.list_image_referrers,
                            repositoryName=repo, subjectId={"imageDigest": subj.digest},
                            maxResults=51)


class TestDefaultPageSize(EcrTestCase):
    """maxResults defaults to 100 (botocore model: "If this parameter is not used, then
    DescribeRepositories returns up to 100 results and a nextToken value")."""

    def test_describe_repositories_default_page_is_100(self):
        for i in range(105):
            self.ecr.create_repository(repositoryName="bulk/r%03d" % i)
        r = self.ecr.describe_repositories()
        self.assertEqual(len(r["repositories"]), 100)
        self.assertTrue(r.get("nextToken"), "no nextToken after 100 of 105 repositories")
        r2 = self.ecr.describe_repositories(nextToken=r["nextToken"])
        self.assertEqual(len(r2["repositories"]), 5)
        self.assertNotIn("nextToken", r2)
        names = [x["repositoryName"] for x in r["repositories"] + r2["repositories"]]
        self.assertEqual(sorted(names), ["bulk/r%03d" % i for i in range(105)])


class TestPutImage(EcrTestCase):
    def test_put_image(self):
        repo = self.create_repo("put")
        img = self.build_image(repo, via="ecr", layers=2)
        r = self.ecr_put_image(repo, img, "v1")["image"]
        self.assertEqual(r["registryId"], self.registry_id)
        self.assertEqual(r["repositoryName"], repo)
        self.assertEqual(r["imageId"], {"imageDigest": img.digest, "imageTag": "v1"})
        self.assertEqual(r["imageManifest"].encode(), img.body)
        # Optional in the Image shape; when present it must be right.
        self.assertEqual(r.get("imageManifestMediaType", OCI_MANIFEST), OCI_MANIFEST)
        ids = self.ecr.list_images(repositoryName=repo)["imageIds"]
        self.assertEqual(ids, [{"imageDigest": img.digest, "imageTag": "v1"}])

    def test_put_image_with_digest_and_media_type(self):
        repo = self.create_repo("putdg")
        img = self.build_image(repo, docker=True)
        r = self.ecr_put_image(repo, img, "d", imageDigest=img.digest,
                               imageManifestMediaType=DOCKER_MANIFEST)["image"]
        self.assertEqual(r["imageId"]["imageDigest"], img.digest)
        self.assertEqual(r["imageManifestMediaType"], DOCKER_MANIFEST)

    def test_put_image_untagged_then_tag(self):
        repo = self.create_repo("putun")
        img = self.build_image(repo)
        r = self.ecr_put_image(repo, img)["image"]
        self.assertEqual(r["imageId"], {"imageDigest": img.digest})
        self.ecr_put_image(repo, img, "later")
        self.assertEqual(self.ecr.list_images(repositoryName=repo)["imageIds"],
                         [{"imageDigest": img.digest, "imageTag": "later"}])

    def test_put_image_retag(self):
        # ECR's documented way to retag: BatchGetImage, then PutImage with a new tag.
        repo = self.create_repo("retag")
        img = self.oci_push_image(repo, "a")
        got = self.ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "a"}])
        manifest = got["images"][0]["imageManifest"]
        r = self.ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="b")
        self.assertEqual(r["image"]["imageId"], {"imageDigest": img.digest, "imageTag": "b"})
        d = self.ecr.describe_images(repositoryName=repo)["imageDetails"]
        self.assertEqual([(x["imageDigest"], sorted(x["imageTags"])) for x in d],
                         [(img.digest, ["a", "b"])])

    def test_put_image_already_exists(self):
        repo = self.create_repo("putdup")
        img = self.build_image(repo)
        self.ecr_put_image(repo, img, "v1")
        self.assertEcrError("ImageAlreadyExistsException", self.ecr.put_image,
                            repositoryName=repo, imageManifest=img.body.decode(), imageTag="v1")

    def test_put_image_moves_mutable_tag(self):
        repo = self.create_repo("putmove")
        a = self.build_image(repo)
        b = self.build_image(repo)
        self.ecr_put_image(repo, a, "latest")
        self.ecr_put_image(repo, b, "latest")
        ids = sorted(self.ecr.list_images(repositoryName=repo)["imageIds"],
                     key=lambda i: i["imageDigest"])
        self.assertEqual(ids, sorted([{"imageDigest": a.digest},
                                      {"imageDigest": b.digest, "imageTag": "latest"}],
                                     key=lambda i: i["imageDigest"]))

    def test_put_image_immutable_tag(self):
        repo = self.create_repo("putimm", imageTagMutability="IMMUTABLE")
        a = self.build_image(repo)
        b = self.build_image(repo)
        self.ecr_put_image(repo, a, "v1")
        self.assertEcrError("ImageTagAlreadyExistsException", self.ecr.put_image,
                            repositoryName=repo, imageManifest=b.body.decode(), imageTag="v1")
        # A new tag on an immutable repository is fine.
        self.ecr_put_image(repo, b, "v2")
        d = {x["imageDigest"]: x.get("imageTags") for x in
             self.ecr.describe_images(repositoryName=repo)["imageDetails"]}
        self.assertEqual(d, {a.digest: ["v1"], b.digest: ["v2"]})

    def test_put_image_layers_not_found(self):
        repo = self.create_repo("putnolayer")
        img = self.build_image(repo, via=None)
        self.assertEcrError("LayersNotFoundException", self.ecr.put_image,
                            repositoryName=repo, imageManifest=img.body.decode(), imageTag="x")
        self.assertEqual(self.ecr.list_images(repositoryName=repo)["imageIds"], [])

    def test_put_image_referenced_images_not_found(self):
        repo = self.create_repo("putidx")
        child = self.oci_push_image(repo)
        missing = random_digest()
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": child.digest, "size": child.size,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": missing, "size": 512,
             "platform": {"architecture": "arm64", "os": "linux"}}]}
        self.assertEcrError("ReferencedImagesNotFoundException", self.ecr.put_image,
                            repositoryName=repo, imageManifest=json.dumps(index),
                            imageTag="multi")
        # With every child present the index is accepted.
        index["manifests"].pop()
        body = json.dumps(index, indent=2)
        r = self.ecr.put_image(repositoryName=repo, imageManifest=body, imageTag="multi")
        self.assertEqual(r["image"].get("imageManifestMediaType", OCI_INDEX), OCI_INDEX)
        d = self.ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "multi"}])
        self.assertEqual(d["imageDetails"][0]["imageManifestMediaType"], OCI_INDEX)
        self.assertEqual(r["image"]["imageId"]["imageDigest"], sha256(body.encode()))

    def test_put_image_digest_mismatch(self):
        repo = self.create_repo("putdigest")
        img = self.build_image(repo)
        self.assertEcrError("ImageDigestDoesNotMatchException", self.ecr.put_image,
                            repositoryName=repo, imageManifest=img.body.decode(),
                            imageDigest=random_digest())

    def test_put_image_malformed_manifest(self):
        repo = self.create_repo("putbad")
        for bad in ("{this is not json", json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                                     "layers": "nope"})):
            with self.subTest(manifest=bad[:20]):
                self.assertEcrError("InvalidParameterException", self.ecr.put_image,
                                    repositoryName=repo, imageManifest=bad, imageTag="bad")

    def test_put_image_invalid_tag(self):
        repo = self.create_repo("putbadtag")
        img = self.build_image(repo)
        for bad in ("has space", "-leading", "x" * 129):
            with self.subTest(tag=bad):
                self.assertEcrError("InvalidParameterException", self.ecr.put_image,
                                    repositoryName=repo, imageManifest=img.body.decode(),
                                    imageTag=bad)

    def test_put_image_unknown_repository(self):
        img = self.build_image("ignored", via=None)
        self.assertEcrError("RepositoryNotFoundException", self.ecr.put_image,
                            repositoryName=unique_repo("noput"), imageManifest=img.body.decode())


class TestLayerUploads(EcrTestCase):
    def test_initiate_layer_upload(self):
        repo = self.create_repo("init")
        r = self.ecr.initiate_layer_upload(repositoryName=repo)
        self.assertRegex(r["uploadId"], UUID_RE)
        self.assertGreater(r["partSize"], 0)
        r2 = self.ecr.initiate_layer_upload(repositoryName=repo)
        self.assertNotEqual(r["uploadId"], r2["uploadId"])
        self.assertEcrError("RepositoryNotFoundException", self.ecr.initiate_layer_upload,
                            repositoryName=unique_repo("noinit"))

    def test_multi_part_upload_and_availability(self):
        repo = self.create_repo("parts")
        data = os.urandom(10000)
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        pos = 0
        for size in (4000, 4000, 2000):
            r = self.ecr.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=pos,
                                           partLastByte=pos + size - 1,
                                           layerPartBlob=data[pos:pos + size])
            self.assertEqual(r["uploadId"], uid)
            self.assertEqual(r["repositoryName"], repo)
            self.assertEqual(r["registryId"], self.registry_id)
            self.assertEqual(r["lastByteReceived"], pos + size - 1)
            pos += size
        r = self.ecr.complete_layer_upload(repositoryName=repo, uploadId=uid,
                                           layerDigests=[sha256(data)])
        self.assertEqual(r["layerDigest"], sha256(data))
        self.assertEqual(r["uploadId"], uid)
        self.assertEqual(r["repositoryName"], repo)
        self.assertEqual(r["registryId"], self.registry_id)
        # The blob is served over OCI.
        g = self.request("GET", "/v2/%s/blobs/%s" % (repo, sha256(data)))
        self.assertStatus(g, 200)
        self.assertEqual(g.body, data)
        missing = random_digest()
        r = self.ecr.batch_check_layer_availability(repositoryName=repo,
                                                    layerDigests=[sha256(data), missing])
        self.assertEqual(len(r["layers"]), 1, r)
        self.assertEqual(r["layers"][0]["layerDigest"], sha256(data))
        self.assertEqual(r["layers"][0]["layerAvailability"], "AVAILABLE")
        self.assertEqual(r["layers"][0]["layerSize"], len(data))
        self.assertEqual(len(r["failures"]), 1, r)
        self.assertEqual(r["failures"][0]["layerDigest"], missing)
        self.assertEqual(r["failures"][0]["failureCode"], "MissingLayerDigest")
        self.assertTrue(r["failures"][0]["failureReason"])

    def test_batch_check_layer_availability_errors(self):
        self.assertEcrError("RepositoryNotFoundException",
                            self.ecr.batch_check_layer_availability,
                            repositoryName=unique_repo("nobcla"), layerDigests=[random_digest()])
        repo = self.create_repo("bclabad")
        r = self.ecr.batch_check_layer_availability(repositoryName=repo,
                                                    layerDigests=["sha256:zz-not-hex"])
        self.assertEqual(r["layers"], [])
        self.assertEqual(r["failures"][0]["failureCode"], "InvalidLayerDigest")

    def test_upload_gap_is_invalid_layer_part(self):
        repo = self.create_repo("gap")
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        self.ecr.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0,
                                   partLastByte=9, layerPartBlob=b"0123456789")
        self.assertEcrError("InvalidLayerPartException", self.ecr.upload_layer_part,
                            repositoryName=repo, uploadId=uid, partFirstByte=20,
                            partLastByte=29, layerPartBlob=b"abcdefghij")
        # The upload is still usable from the right offset.
        r = self.ecr.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=10,
                                       partLastByte=19, layerPartBlob=b"abcdefghij")
        self.assertEqual(r["lastByteReceived"], 19)
        r = self.ecr.complete_layer_upload(repositoryName=repo, uploadId=uid,
                                           layerDigests=[sha256(b"0123456789abcdefghij")])
        self.assertEqual(r["layerDigest"], sha256(b"0123456789abcdefghij"))

    def test_invalid_layer_part_exception_fields(self):
        # The InvalidLayerPartException shape carries registryId, repositoryName, uploadId
        # and lastValidByteReceived so that a client can resume.
        repo = self.create_repo("gapfields")
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        self.ecr.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0,
                                   partLastByte=9, layerPartBlob=b"0123456789")
        resp = self.assertEcrError("InvalidLayerPartException", self.ecr.upload_layer_part,
                                   repositoryName=repo, uploadId=uid, partFirstByte=20,
                                   partLastByte=29, layerPartBlob=b"abcdefghij")
        self.assertEqual(resp.get("lastValidByteReceived"), 9, resp)
        self.assertEqual(resp.get("uploadId"), uid, resp)
        self.assertEqual(resp.get("repositoryName"), repo, resp)
        self.assertEqual(resp.get("registryId"), self.registry_id, resp)

    def test_part_range_must_match_blob_size(self):
        repo = self.create_repo("badrange")
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        self.assertEcrError("InvalidLayerPartException", self.ecr.upload_layer_part,
                            repositoryName=repo, uploadId=uid, partFirstByte=0,
                            partLastByte=99, layerPartBlob=b"only ten b")

    def test_layers_are_scoped_to_their_repository(self):
        a, b = self.create_repo("layera"), self.create_repo("layerb")
        data = os.urandom(256)
        digest = self.ecr_upload(a, data)
        r = self.ecr.batch_check_layer_availability(repositoryName=b, layerDigests=[digest])
        self.assertEqual(r["layers"], [])
        self.assertEqual(r["failures"][0]["failureCode"], "MissingLayerDigest")
        self.assertEcrError("LayersNotFoundException", self.ecr.get_download_url_for_layer,
                            repositoryName=b, layerDigest=digest)

    def test_first_part_must_start_at_zero(self):
        repo = self.create_repo("nonzero")
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        self.assertEcrError("InvalidLayerPartException", self.ecr.upload_layer_part,
                            repositoryName=repo, uploadId=uid, partFirstByte=5,
                            partLastByte=9, layerPartBlob=b"56789")

    def test_unknown_upload_id(self):
        repo = self.create_repo("noupload")
        uid = str(uuid.uuid4())
        self.assertEcrError("UploadNotFoundException", self.ecr.upload_layer_part,
                            repositoryName=repo, uploadId=uid, partFirstByte=0,
                            partLastByte=1, layerPartBlob=b"ab")
        self.assertEcrError("UploadNotFoundException", self.ecr.complete_layer_upload,
                            repositoryName=repo, uploadId=uid, layerDigests=[random_digest()])

    def test_upload_id_is_scoped_to_its_repository(self):
        a, b = self.create_repo("scopea"), self.create_repo("scopeb")
        uid = self.ecr.initiate_layer_upload(repositoryName=a)["uploadId"]
        self.assertEcrError("UploadNotFoundException", self.ecr.upload_layer_part,
                            repositoryName=b, uploadId=uid, partFirstByte=0,
                            partLastByte=1, layerPartBlob=b"ab")

    def test_complete_with_wrong_digest(self):
        repo = self.create_repo("baddigest")
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        self.ecr.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0,
                                   partLastByte=4, layerPartBlob=b"hello")
        self.assertEcrError("InvalidLayerException", self.ecr.complete_layer_upload,
                            repositoryName=repo, uploadId=uid, layerDigests=[random_digest()])
        r = self.ecr.batch_check_layer_availability(repositoryName=repo,
                                                    layerDigests=[sha256(b"hello")])
        self.assertEqual(r["layers"], [])

    def test_complete_empty_upload(self):
        repo = self.create_repo("empty")
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        self.assertEcrError("EmptyUploadException", self.ecr.complete_layer_upload,
                            repositoryName=repo, uploadId=uid,
                            layerDigests=[sha256(b"")])

    def test_layer_already_exists(self):
        repo = self.create_repo("exists")
        data = os.urandom(300)
        self.ecr_upload(repo, data)
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        self.ecr.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0,
                                   partLastByte=len(data) - 1, layerPartBlob=data)
        self.assertEcrError("LayerAlreadyExistsException", self.ecr.complete_layer_upload,
                            repositoryName=repo, uploadId=uid, layerDigests=[sha256(data)])

    def test_completed_upload_is_gone(self):
        repo = self.create_repo("done")
        data = os.urandom(100)
        uid = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        self.ecr.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0,
                                   partLastByte=99, layerPartBlob=data)
        self.ecr.complete_layer_upload(repositoryName=repo, uploadId=uid,
                                       layerDigests=[sha256(data)])
        self.assertEcrError("UploadNotFoundException", self.ecr.upload_layer_part,
                            repositoryName=repo, uploadId=uid, partFirstByte=100,
                            partLastByte=101, layerPartBlob=b"xx")

    def test_get_download_url_for_layer(self):
        repo = self.create_repo("dl")
        data = os.urandom(5000)
        digest = self.ecr_upload(repo, data)
        r = self.ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)
        self.assertEqual(r["layerDigest"], digest)
        url = r["downloadUrl"]
        u = urllib.parse.urlsplit(url)
        self.assertEqual("%s://%s" % (u.scheme, u.netloc), self.berth.base_url, url)
        status, _, body = http_get_noauth(url)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(body, data)
        # A tampered URL is refused.
        q = urllib.parse.parse_qsl(u.query)
        if q:
            k, v = q[-1]
            v2 = (v[:-1] + ("0" if v[-1:] != "0" else "1")) if v else "x"
            bad = urllib.parse.urlunsplit(u._replace(
                query=urllib.parse.urlencode(q[:-1] + [(k, v2)])))
        else:
            bad = url[:-1] + ("0" if url[-1] != "0" else "1")
        status, _, _ = http_get_noauth(bad)
        self.assertIn(status, (400, 401, 403, 404), "tampered presigned URL answered %d" % status)

    def test_get_download_url_errors(self):
        repo = self.create_repo("dlerr")
        self.assertEcrError("LayersNotFoundException", self.ecr.get_download_url_for_layer,
                            repositoryName=repo, layerDigest=random_digest())
        self.assertEcrError("RepositoryNotFoundException", self.ecr.get_download_url_for_layer,
                            repositoryName=unique_repo("nodl"), layerDigest=random_digest())
        self.assertEcrError("InvalidParameterException", self.ecr_raw.get_download_url_for_layer,
                            repositoryName=repo, layerDigest="not-a-digest")


class TestResourceTags(EcrTestCase):
    def test_tag_list_untag(self):
        repo = self.create_repo("tags", tags=[{"Key": "a", "Value": "1"}])
        arn = self.arn(repo)
        self.ecr.tag_resource(resourceArn=arn, tags=[{"Key": "b", "Value": "2"},
                                                      {"Key": "a", "Value": "one"}])
        tags = sorted(self.ecr.list_tags_for_resource(resourceArn=arn)["tags"],
                      key=lambda t: t["Key"])
        self.assertEqual(tags, [{"Key": "a", "Value": "one"}, {"Key": "b", "Value": "2"}])
        self.ecr.untag_resource(resourceArn=arn, tagKeys=["a", "not-there"])
        self.assertEqual(self.ecr.list_tags_for_resource(resourceArn=arn)["tags"],
                         [{"Key": "b", "Value": "2"}])
        self.ecr.untag_resource(resourceArn=arn, tagKeys=["b"])
        self.assertEqual(self.ecr.list_tags_for_resource(resourceArn=arn)["tags"], [])

    def test_too_many_tags(self):
        repo = self.create_repo("manytags")
        arn = self.arn(repo)
        self.ecr.tag_resource(resourceArn=arn,
                              tags=[{"Key": "k%02d" % i, "Value": "v"} for i in range(50)])
        self.assertEqual(len(self.ecr.list_tags_for_resource(resourceArn=arn)["tags"]), 50)
        self.assertEcrError("TooManyTagsException", self.ecr.tag_resource, resourceArn=arn,
                            tags=[{"Key": "one-more", "Value": "v"}])
        # Overwriting an existing key keeps the count at 50.
        self.ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k00", "Value": "new"}])
        other = self.create_repo("manytags2")
        self.assertEcrError("TooManyTagsException", self.ecr.tag_resource,
                            resourceArn=self.arn(other),
                            tags=[{"Key": "k%02d" % i, "Value": "v"} for i in range(51)])
        self.assertEqual(self.ecr.list_tags_for_resource(resourceArn=self.arn(other))["tags"], [])

    def test_invalid_tag_parameter(self):
        repo = self.create_repo("awstags")
        arn = self.arn(repo)
        self.assertEcrError("InvalidTagParameterException", self.ecr.tag_resource,
                            resourceArn=arn, tags=[{"Key": "aws:owner", "Value": "x"}])
        self.assertEcrError("InvalidTagParameterException", self.ecr.tag_resource,
                            resourceArn=arn, tags=[{"Key": "k" * 129, "Value": "x"}])
        self.assertEcrError("InvalidTagParameterException", self.ecr.tag_resource,
                            resourceArn=arn, tags=[{"Key": "k", "Value": "v" * 257}])
        self.assertEqual(self.ecr.list_tags_for_resource(resourceArn=arn)["tags"], [])

    def test_tag_errors(self):
        missing = self.arn(unique_repo("notagrepo"))
        self.assertEcrError("RepositoryNotFoundException", self.ecr.list_tags_for_resource,
                            resourceArn=missing)
        self.assertEcrError("RepositoryNotFoundException", self.ecr.tag_resource,
                            resourceArn=missing, tags=[{"Key": "a", "Value": "b"}])
        self.assertEcrError("RepositoryNotFoundException", self.ecr.untag_resource,
                            resourceArn=missing, tagKeys=["a"])
        for bad in ("not-an-arn", "arn:aws:s3:::bucket",
                    "arn:aws:ecr:us-east-1:%s:cluster/x" % self.registry_id):
            with self.subTest(arn=bad):
                self.assertEcrError("InvalidParameterException", self.ecr.list_tags_for_resource,
                                    resourceArn=bad)


class TestPolicies(EcrTestCase):
    def test_repository_policy(self):
        repo = self.create_repo("pol")
        self.assertEcrError("RepositoryPolicyNotFoundException", self.ecr.get_repository_policy,
                            repositoryName=repo)
        r = self.ecr.set_repository_policy(repositoryName=repo, policyText=REPO_POLICY)
        self.assertEqual(r["repositoryName"], repo)
        self.assertEqual(r["registryId"], self.registry_id)
        self.assertEqual(json.loads(r["policyText"]), json.loads(REPO_POLICY))
        g = self.ecr.get_repository_policy(repositoryName=repo)
        self.assertEqual(g["repositoryName"], repo)
        self.assertEqual(g["registryId"], self.registry_id)
        self.assertEqual(json.loads(g["policyText"]), json.loads(REPO_POLICY))
        d = self.ecr.delete_repository_policy(repositoryName=repo)
        self.assertEqual(d["repositoryName"], repo)
        self.assertEqual(json.loads(d["policyText"]), json.loads(REPO_POLICY))
        self.assertEcrError("RepositoryPolicyNotFoundException", self.ecr.get_repository_policy,
                            repositoryName=repo)
        self.assertEcrError("RepositoryPolicyNotFoundException",
                            self.ecr.delete_repository_policy, repositoryName=repo)

    def test_repository_policy_invalid(self):
        repo = self.create_repo("polbad")
        for bad in ("{not json", json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Perhaps", "Principal": "*", "Action": "ecr:*"}]}),
                json.dumps(["not", "an", "object"])):
            with self.subTest(policy=bad[:30]):
                self.assertEcrError("InvalidParameterException", self.ecr.set_repository_policy,
                                    repositoryName=repo, policyText=bad)
        self.assertEcrError("RepositoryPolicyNotFoundException", self.ecr.get_repository_policy,
                            repositoryName=repo)

    def test_repository_policy_unknown_repository(self):
        name = unique_repo("nopolrepo")
        self.assertEcrError("RepositoryNotFoundException", self.ecr.set_repository_policy,
                            repositoryName=name, policyText=REPO_POLICY)
        self.assertEcrError("RepositoryNotFoundException", self.ecr.get_repository_policy,
                            repositoryName=name)
        self.assertEcrError("RepositoryNotFoundException", self.ecr.delete_repository_policy,
                            repositoryName=name)

    def test_registry_policy(self):
        pol = registry_policy(self.registry_id)
        self.assertEcrError("RegistryPolicyNotFoundException", self.ecr.get_registry_policy)
        r = self.ecr.put_registry_policy(policyText=pol)
        self.assertEqual(r["registryId"], self.registry_id)
        self.assertEqual(json.loads(r["policyText"]), json.loads(pol))
        g = self.ecr.get_registry_policy()
        self.assertEqual(g["registryId"], self.registry_id)
        self.assertEqual(json.loads(g["policyText"]), json.loads(pol))
        d = self.ecr.delete_registry_policy()
        self.assertEqual(d["registryId"], self.registry_id)
        self.assertEqual(json.loads(d["policyText"]), json.loads(pol))
        self.assertEcrError("RegistryPolicyNotFoundException", self.ecr.get_registry_policy)
        self.assertEcrError("RegistryPolicyNotFoundException", self.ecr.delete_registry_policy)
        self.assertEcrError("InvalidParameterException", self.ecr.put_registry_policy,
                            policyText="{definitely not json")
        self.assertEcrError("RegistryPolicyNotFoundException", self.ecr.get_registry_policy)


class TestCreationTemplates(EcrTestCase):
    def test_fresh_server_has_root_create_on_push_template(self):
        r = self.ecr.describe_repository_creation_templates(prefixes=["ROOT"])
        self.assertEqual(r["registryId"], self.registry_id)
        t = r["repositoryCreationTemplates"]
        self.assertEqual(len(t), 1, r)
        self.assertEqual(t[0]["prefix"], "ROOT")
        self.assertIn("CREATE_ON_PUSH", t[0]["appliedFor"])
        all_t = self.ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
        self.assertIn("ROOT", [x["prefix"] for x in all_t])

    def test_push_creates_repository_from_root(self):
        repo = unique_repo("pushed")
        self.assertEcrError("RepositoryNotFoundException", self.ecr.describe_repositories,
                            repositoryNames=[repo])
        r = self.oci_blob(repo, b"first blob " + uuid.uuid4().bytes)
        self.assertStatus(r, 201)
        d = self.ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]
        self.assertEqual(d["repositoryName"], repo)
        self.assertEqual(d["imageTagMutability"], "MUTABLE")

    def test_template_crud_and_create_on_push(self):
        tags = [{"Key": "owner", "Value": "team"}, {"Key": "cost", "Value": "42"}]
        r = self.ecr.create_repository_creation_template(
            prefix="team", description="team repositories", appliedFor=["CREATE_ON_PUSH"],
            imageTagMutability="IMMUTABLE", resourceTags=tags, repositoryPolicy=REPO_POLICY)
        self.assertEqual(r["registryId"], self.registry_id)
        t = r["repositoryCreationTemplate"]
        self.assertEqual(t["prefix"], "team")
        self.assertEqual(t["description"], "team repositories")
        self.assertEqual(t["appliedFor"], ["CREATE_ON_PUSH"])
        self.assertEqual(t["imageTagMutability"], "IMMUTABLE")
        self.assertEqual(sorted(t["resourceTags"], key=lambda x: x["Key"]),
                         sorted(tags, key=lambda x: x["Key"]))
        self.assertIsInstance(t["createdAt"], datetime.datetime)
        self.assertIsInstance(t["updatedAt"], datetime.datetime)
        self.assertEcrError("TemplateAlreadyExistsException",
                            self.ecr.create_repository_creation_template,
                            prefix="team", appliedFor=["CREATE_ON_PUSH"])
        d = self.ecr.describe_repository_creation_templates(prefixes=["team"])
        self.assertEqual([x["prefix"] for x in d["repositoryCreationTemplates"]], ["team"])
        self.assertEqual(d["repositoryCreationTemplates"][0]["description"], "team repositories")

        # A push to team/x creates it from the `team` template.
        self.assertStatus(self.oci_blob("team/x", b"team blob " + uuid.uuid4().bytes), 201)
        repo = self.ecr.describe_repositories(repositoryNames=["team/x"])["repositories"][0]
        self.assertEqual(repo["imageTagMutability"], "IMMUTABLE")
        got = self.ecr.list_tags_for_resource(resourceArn=self.arn("team/x"))["tags"]
        self.assertEqual(sorted(got, key=lambda x: x["Key"]), sorted(tags, key=lambda x: x["Key"]))
        pol = self.ecr.get_repository_policy(repositoryName="team/x")
        self.assertEqual(json.loads(pol["policyText"]), json.loads(REPO_POLICY))
        # `team` is a namespace prefix: `teamwork` does not match it (ROOT applies).
        self.assertStatus(self.oci_blob("teamwork", b"other " + uuid.uuid4().bytes), 201)
        repo = self.ecr.describe_repositories(repositoryNames=["teamwork"])["repositories"][0]
        self.assertEqual(repo["imageTagMutability"], "MUTABLE")

        # Update.
        u = self.ecr.update_repository_creation_template(
            prefix="team", description="updated", imageTagMutability="MUTABLE")
        self.assertEqual(u["registryId"], self.registry_id)
        self.assertEqual(u["repositoryCreationTemplate"]["description"], "updated")
        self.assertEqual(u["repositoryCreationTemplate"]["imageTagMutability"], "MUTABLE")
        self.assertGreaterEqual(u["repositoryCreationTemplate"]["updatedAt"], t["createdAt"])
        d = self.ecr.describe_repository_creation_templates(prefixes=["team"])
        self.assertEqual(d["repositoryCreationTemplates"][0]["description"], "updated")
        self.assertStatus(self.oci_blob("team/y", b"team y " + uuid.uuid4().bytes), 201)
        repo = self.ecr.describe_repositories(repositoryNames=["team/y"])["repositories"][0]
        self.assertEqual(repo["imageTagMutability"], "MUTABLE")
        # The repository created before keeps its settings.
        repo = self.ecr.describe_repositories(repositoryNames=["team/x"])["repositories"][0]
        self.assertEqual(repo["imageTagMutability"], "IMMUTABLE")

        # Delete.
        x = self.ecr.delete_repository_creation_template(prefix="team")
        self.assertEqual(x["registryId"], self.registry_id)
        self.assertEqual(x["repositoryCreationTemplate"]["prefix"], "team")
        prefixes = [t["prefix"] for t in self.ecr.describe_repository_creation_templates()[
            "repositoryCreationTemplates"]]
        self.assertNotIn("team", prefixes)
        self.assertEcrError("TemplateNotFoundException",
                            self.ecr.delete_repository_creation_template, prefix="team")
        self.assertEcrError("TemplateNotFoundException",
                            self.ecr.update_repository_creation_template,
                            prefix="team", description="gone")

    def test_describe_unknown_prefix_is_empty(self):
        # botocore's model lists no TemplateNotFoundException for
        # DescribeRepositoryCreationTemplates: prefixes that match nothing give no entries.
        r = self.ecr.describe_repository_creation_templates(prefixes=["no-such-prefix"])
        self.assertEqual(r["repositoryCreationTemplates"], [])

    def test_describe_templates_pagination(self):
        made = ["pg%d" % i for i in range(4)]
        for p in made:
            self.ecr.create_repository_creation_template(prefix=p, appliedFor=["REPLICATION"])
        try:
            seen, token, pages = [], None, 0
            while True:
                args = {"maxResults": 2}
                if token:
                    args["nextToken"] = token
                r = self.ecr.describe_repository_creation_templates(**args)
                pages += 1
                self.assertLessEqual(len(r["repositoryCreationTemplates"]), 2)
                seen += [t["prefix"] for t in r["repositoryCreationTemplates"]]
                token = r.get("nextToken")
                if not token:
                    break
                self.assertLess(pages, 50)
            self.assertGreaterEqual(pages, 3)
            self.assertEqual(len(seen), len(set(seen)))
            self.assertTrue(set(made) | {"ROOT"} <= set(seen), seen)
            pag = []
            for page in self.ecr.get_paginator("describe_repository_creation_templates") \
                    .paginate(PaginationConfig={"PageSize": 3}):
                pag += [t["prefix"] for t in page["repositoryCreationTemplates"]]
            self.assertEqual(sorted(pag), sorted(seen))
        finally:
            for p in made:
                self.ecr.delete_repository_creation_template(prefix=p)

    def test_longest_prefix_wins(self):
        self.ecr.create_repository_creation_template(
            prefix="org", appliedFor=["CREATE_ON_PUSH"], imageTagMutability="IMMUTABLE")
        self.ecr.create_repository_creation_template(
            prefix="org/dev", appliedFor=["CREATE_ON_PUSH"], imageTagMutability="MUTABLE",
            resourceTags=[{"Key": "tier", "Value": "dev"}])
        try:
            self.assertStatus(self.oci_blob("org/dev/app", b"dev " + uuid.uuid4().bytes), 201)
            self.assertStatus(self.oci_blob("org/prod/app", b"prod " + uuid.uuid4().bytes), 201)
            d = {x["repositoryName"]: x["imageTagMutability"] for x in
                 self.ecr.describe_repositories(
                     repositoryNames=["org/dev/app", "org/prod/app"])["repositories"]}
            self.assertEqual(d, {"org/dev/app": "MUTABLE", "org/prod/app": "IMMUTABLE"})
            tags = self.ecr.list_tags_for_resource(resourceArn=self.arn("org/dev/app"))["tags"]
            self.assertEqual(tags, [{"Key": "tier", "Value": "dev"}])
        finally:
            self.ecr.delete_repository_creation_template(prefix="org/dev")
            self.ecr.delete_repository_creation_template(prefix="org")

    def test_template_errors(self):
        self.assertEcrError("TemplateAlreadyExistsException",
                            self.ecr.create_repository_creation_template,
                            prefix="ROOT", appliedFor=["CREATE_ON_PUSH"])
        self.assertEcrError("TemplateNotFoundException",
                            self.ecr.delete_repository_creation_template, prefix="nonexistent")
        self.assertEcrError("TemplateNotFoundException",
                            self.ecr.update_repository_creation_template,
                            prefix="nonexistent", description="x")
        for bad in ("Upper", "bad//prefix"):
            with self.subTest(prefix=bad):
                self.assertEcrError("InvalidParameterException",
                                    self.ecr_raw.create_repository_creation_template,
                                    prefix=bad, appliedFor=["CREATE_ON_PUSH"])
        self.assertEcrError("InvalidParameterException",
                            self.ecr_raw.create_repository_creation_template,
                            prefix="okprefix", appliedFor=["SOMETIMES"])


class TestStrictCreateOnPush(EcrTestCase):
    """After the ROOT template is removed, a push to an unknown repository fails like ECR."""

    def test_without_root_template_push_is_name_unknown(self):
        r = self.ecr.delete_repository_creation_template(prefix="ROOT")
        self.assertEqual(r["repositoryCreationTemplate"]["prefix"], "ROOT")
        repo = unique_repo("strict")
        self.assertOciError(self.oci_blob(repo, b"strict " + uuid.uuid4().bytes),
                            404, "NAME_UNKNOWN")
        r = self.request("POST", "/v2/%s/blobs/uploads/" % repo)
        self.assertOciError(r, 404, "NAME_UNKNOWN")
        self.assertEcrError("RepositoryNotFoundException", self.ecr.describe_repositories,
                            repositoryNames=[repo])
        # Once created explicitly, pushing works.
        self.ecr.create_repository(repositoryName=repo)
        self.oci_push_image(repo, "v1")
        # A template whose appliedFor lacks CREATE_ON_PUSH does not create repositories.
        self.ecr.create_repository_creation_template(prefix="repl",
                                                     appliedFor=["REPLICATION"])
        self.assertOciError(self.oci_blob("repl/x", b"repl " + uuid.uuid4().bytes),
                            404, "NAME_UNKNOWN")
        # Restoring a ROOT template restores create-on-push.
        self.ecr.create_repository_creation_template(prefix="ROOT",
                                                     appliedFor=["CREATE_ON_PUSH"])
        self.assertStatus(self.oci_blob(unique_repo("again"), b"again " + uuid.uuid4().bytes),
                          201)


class TestTagImmutability(EcrTestCase):
    def test_oci_immutable_tag(self):
        repo = self.create_repo("immoci", imageTagMutability="IMMUTABLE")
        a = self.oci_push_image(repo, "v1")
        b = self.build_image(repo)
        r = self.oci_put_manifest(repo, "v1", b.body, b.media_type)
        self.assertOciError(r, 400, "TAG_INVALID")
        msg = [e.get("message", "") for e in r.json()["errors"]][0]
        self.assertIn("v1", msg)
        g = self.request("GET", "/v2/%s/manifests/v1" % repo, headers={"Accept": ACCEPT_ALL})
        self.assertEqual(g.body, a.body)
        # By digest (no tag) is fine.
        self.assertStatus(self.oci_put_manifest(repo, b.digest, b.body, b.media_type), 201)

    def test_mutable_with_exclusion(self):
        repo = self.create_repo("mwex", imageTagMutability="MUTABLE_WITH_EXCLUSION",
                                imageTagMutabilityExclusionFilters=[
                                    {"filterType": "WILDCARD", "filter": "release-*"}])
        a = self.build_image(repo)
        b = self.build_image(repo)
        for tag in ("release-1", "latest"):
            self.assertStatus(self.oci_put_manifest(repo, tag, a.body, a.media_type), 201)
        self.assertOciError(self.oci_put_manifest(repo, "release-1", b.body, b.media_type),
                            400, "TAG_INVALID")
        self.assertStatus(self.oci_put_manifest(repo, "latest", b.body, b.media_type), 201)
        self.assertEcrError("ImageTagAlreadyExistsException", self.ecr.put_image,
                            repositoryName=repo, imageManifest=b.body.decode(),
                            imageTag="release-1")
        self.ecr_put_image(repo, a, "latest")
        tags = {x["imageDigest"]: sorted(x.get("imageTags", [])) for x in
                self.ecr.describe_images(repositoryName=repo)["imageDetails"]}
        self.assertEqual(tags, {a.digest: ["latest", "release-1"], b.digest: []})

    def test_immutable_with_exclusion(self):
        repo = self.create_repo("imwex", imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
                                imageTagMutabilityExclusionFilters=[
                                    {"filterType": "WILDCARD", "filter": "dev-*"}])
        a = self.build_image(repo)
        b = self.build_image(repo)
        for tag in ("dev-1", "v1"):
            self.assertStatus(self.oci_put_manifest(repo, tag, a.body, a.media_type), 201)
        self.assertStatus(self.oci_put_manifest(repo, "dev-1", b.body, b.media_type), 201)
        self.assertOciError(self.oci_put_manifest(repo, "v1", b.body, b.media_type),
                            400, "TAG_INVALID")
        self.assertEcrError("ImageTagAlreadyExistsException", self.ecr.put_image,
                            repositoryName=repo, imageManifest=b.body.decode(), imageTag="v1")

    def test_switching_to_mutable_allows_moving(self):
        repo = self.create_repo("switch", imageTagMutability="IMMUTABLE")
        self.oci_push_image(repo, "v1")
        b = self.build_image(repo)
        self.assertOciError(self.oci_put_manifest(repo, "v1", b.body, b.media_type),
                            400, "TAG_INVALID")
        self.ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="MUTABLE")
        self.assertStatus(self.oci_put_manifest(repo, "v1", b.body, b.media_type), 201)


class TestRoundTrips(EcrTestCase):
    def test_push_via_ecr_pull_via_oci(self):
        repo = self.create_repo("ecr2oci")
        img = self.build_image(repo, via=None, layers=2)
        for blob in [img.config] + img.layers:
            self.ecr_upload(repo, blob, part_size=97)
        r = self.ecr.batch_check_layer_availability(
            repositoryName=repo, layerDigests=[sha256(x) for x in [img.config] + img.layers])
        self.assertEqual(r["failures"], [])
        self.assertEqual(len(r["layers"]), 3)
        self.ecr_put_image(repo, img, "v1")
        g = self.request("GET", "/v2/%s/manifests/v1" % repo, headers={"Accept": ACCEPT_ALL})
        self.assertStatus(g, 200)
        self.assertEqual(g.body, img.body)
        self.assertEqual(g.headers.get("Docker-Content-Digest"), img.digest)
        self.assertEqual(g.headers.get("Content-Type"), OCI_MANIFEST)
        for blob in [img.config] + img.layers:
            b = self.request("GET", "/v2/%s/blobs/%s" % (repo, sha256(blob)))
            self.assertStatus(b, 200)
            self.assertEqual(b.body, blob)

    def test_push_via_oci_get_via_ecr(self):
        repo = self.create_repo("oci2ecr")
        img = self.oci_push_image(repo, "v1", layers=2)
        r = self.ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
        self.assertEqual(r["failures"], [])
        self.assertEqual(r["images"][0]["imageManifest"].encode(), img.body)
        self.assertEqual(r["images"][0]["imageId"]["imageDigest"], img.digest)
        for blob in [img.config] + img.layers:
            u = self.ecr.get_download_url_for_layer(repositoryName=repo,
                                                    layerDigest=sha256(blob))["downloadUrl"]
            status, _, body = http_get_noauth(u)
            self.assertEqual((status, body), (200, blob))


class TestSigV4(EcrTestCase):
    def test_missing_authentication(self):
        r = self.request("POST", "/", b"{}", {
            "Authorization": None, "Content-Type": AMZ_JSON,
            "X-Amz-Target": TARGET_PREFIX + "DescribeRepositories"})
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertEqual(error_type(r), "MissingAuthenticationTokenException", r.describe())
        self.assertTrue(r.headers.get("x-amzn-RequestId"), r.describe())

    def test_basic_auth_is_not_sigv4(self):
        # The harness's default Basic credentials are not an AWS signature.
        r = self.request("POST", "/", b"{}", {
            "Content-Type": AMZ_JSON, "X-Amz-Target": TARGET_PREFIX + "DescribeRepositories"})
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertIn(error_type(r), ("MissingAuthenticationTokenException",
                                      "IncompleteSignatureException",
                                      "InvalidSignatureException"), r.describe())

    def test_wrong_secret(self):
        c = ecr_client(self.berth, secret="wrong-secret-0000000000000000000000000000")
        self.assertEcrError("InvalidSignatureException", c.describe_repositories)
        r = signed_request(self.berth, "DescribeRepositories", {}, secret="nope")
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())

    def test_signed_twenty_minutes_ago(self):
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
        r = signed_request(self.berth, "DescribeRepositories", {}, when=when)
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())
        self.assertIn("Signature expired", r.json().get("message", ""), r.describe())

    def test_signed_in_the_future(self):
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)
        r = signed_request(self.berth, "DescribeRepositories", {}, when=when)
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())
        self.assertIn("Signature not yet current", r.json().get("message", ""), r.describe())

    def test_within_clock_skew(self):
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
        r = signed_request(self.berth, "DescribeRegistry", {}, when=when)
        self.assertStatus(r, 200)

    def test_unknown_access_key(self):
        c = ecr_client(self.berth, key="AKIAUNKNOWNKEY000000", secret="whatever")
        self.assertEcrError("UnrecognizedClientException", c.describe_repositories)

    def test_security_token_refused(self):
        c = ecr_client(self.berth, session_token="FQoGZXIvYXdzEXAMPLETOKEN")
        self.assertEcrError("UnrecognizedClientException", c.describe_repositories)

    def test_tampered_body(self):
        # Signed for one body, sent with another: the payload hash no longer matches.
        body = json.dumps({"repositoryNames": ["a-repo"]}).encode()
        req = AWSRequest(method="POST", url=self.berth.base_url + "/", data=body, headers={
            "Content-Type": AMZ_JSON, "X-Amz-Target": TARGET_PREFIX + "DescribeRepositories"})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(
            ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY), "ecr", REGION).add_auth(req)
        hdrs = dict(req.prepare().headers.items())
        hdrs.pop("Content-Length", None)
        r = self.request("POST", "/", json.dumps({"repositoryNames": ["b-repo"]}).encode(), hdrs)
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())

    def test_tampered_target_header(self):
        r = signed_request(self.berth, "DescribeRegistry", {},
                           unsigned_headers={"X-Amz-Target": TARGET_PREFIX + "DescribeRepositories"})
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())

    def test_malformed_authorization_header(self):
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        for auth in ("AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/ecr/aws4_request"
                     % (ADMIN_ACCESS_KEY_ID, amz_date[:8]),
                     "AWS4-HMAC-SHA256 garbage"):
            with self.subTest(auth=auth):
                r = self.request("POST", "/", b"{}", {
                    "Authorization": auth, "X-Amz-Date": amz_date, "Content-Type": AMZ_JSON,
                    "X-Amz-Target": TARGET_PREFIX + "DescribeRegistry"})
                self.assertTrue(400 <= r.status < 500, r.describe())
                self.assertEqual(error_type(r), "IncompleteSignatureException", r.describe())

    def _signed_for(self, service: str, region: str) -> Response:
        req = AWSRequest(method="POST", url=self.berth.base_url + "/", data=b"{}",
                         headers={"Content-Type": AMZ_JSON,
                                  "X-Amz-Target": TARGET_PREFIX + "DescribeRegistry"})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(
            ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY), service, region).add_auth(req)
        return self.request("POST", "/", b"{}", dict(req.prepare().headers.items()))

    def test_credential_scoped_to_wrong_region(self):
        # AWS: InvalidSignatureException "Credential should be scoped to a valid region".
        r = self._signed_for("ecr", "eu-west-1")
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())

    def test_credential_scoped_to_wrong_service(self):
        # AWS: InvalidSignatureException "Credential should be scoped to correct service:
        # 'ecr'."
        r = self._signed_for("s3", "us-east-1")
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())

    def test_unsigned_payload(self):
        r = signed_request(self.berth, "DescribeRegistry", {},
                           extra_headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
        self.assertStatus(r, 200)

    def test_presigned_query_form_unsigned_payload(self):
        r = presigned_request(self.berth, "DescribeRegistry", b"{}",
                              payload_hash="UNSIGNED-PAYLOAD")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["registryId"], self.registry_id)

    def test_presigned_query_form_hashed_payload(self):
        # SigV4 query-string authentication outside S3 hashes the payload like the header
        # form does (UNSIGNED-PAYLOAD is S3's convention).
        r = presigned_request(self.berth, "DescribeRegistry", b"{}")
        self.assertStatus(r, 200)

    def test_presigned_query_form_refusals(self):
        r = presigned_request(self.berth, "DescribeRegistry", b"{}", secret="wrong",
                              payload_hash="UNSIGNED-PAYLOAD")
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=120)
        r = presigned_request(self.berth, "DescribeRegistry", b"{}", when=when, expires=60,
                              payload_hash="UNSIGNED-PAYLOAD")
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertEqual(error_type(r), "InvalidSignatureException", r.describe())
        r = presigned_request(self.berth, "DescribeRegistry", b"{}", key="AKIANOSUCHKEY0000000",
                              payload_hash="UNSIGNED-PAYLOAD")
        self.assertEqual(error_type(r), "UnrecognizedClientException", r.describe())


class TestOciAuth(EcrTestCase):
    def test_no_credentials(self):
        r = self.request("GET", "/v2/", headers={"Authorization": None})
        self.assertStatus(r, 401)
        self.assertTrue(r.headers.get("WWW-Authenticate"), r.describe())
        repo = self.create_repo("ociauth")
        self.oci_push_image(repo, "v1")
        r = self.request("GET", "/v2/%s/manifests/v1" % repo,
                         headers={"Authorization": None, "Accept": ACCEPT_ALL})
        self.assertStatus(r, 401)
        self.assertTrue(r.headers.get("WWW-Authenticate"), r.describe())
        r = self.request("POST", "/v2/%s/blobs/uploads/" % repo,
                         headers={"Authorization": None})
        self.assertStatus(r, 401)

    def test_basic_with_registry_token(self):
        tok = self.ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        user, _, password = base64.b64decode(tok).decode().partition(":")
        repo = self.create_repo("tokpush")
        r = self.request("GET", "/v2/", headers={"Authorization": basic(user, password)})
        self.assertStatus(r, 200)
        r = self.oci_blob(repo, b"token push", auth=basic(user, password))
        self.assertStatus(r, 201)

    def test_basic_with_access_key(self):
        r = self.request("GET", "/v2/", headers={
            "Authorization": basic(ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)})
        self.assertStatus(r, 200)

    def test_wrong_credentials(self):
        for auth in (basic(ADMIN_ACCESS_KEY_ID, "wrong-secret"),
                     basic("AWS", "not-a-token"),
                     basic("AKIANOSUCHKEY0000000", "x")):
            with self.subTest(auth=auth):
                r = self.request("GET", "/v2/", headers={"Authorization": auth})
                self.assertStatus(r, 401)
                self.assertTrue(r.headers.get("WWW-Authenticate"), r.describe())

    def test_tampered_registry_token(self):
        tok = self.ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        _, _, password = base64.b64decode(tok).decode().partition(":")
        bad = password[:-2] + ("AA" if password[-2:] != "AA" else "BB")
        r = self.request("GET", "/v2/", headers={"Authorization": basic("AWS", bad)})
        self.assertStatus(r, 401)


class TestTokenExpiry(EcrTestCase):
    berth_args = ("--token-ttl", "2")

    def test_registry_token_expires(self):
        before = time.time()
        d = self.ecr.get_authorization_token()["authorizationData"][0]
        self.assertAlmostEqual(d["expiresAt"].timestamp(), before + 2, delta=2)
        auth = "Basic " + d["authorizationToken"]
        self.assertStatus(self.request("GET", "/v2/", headers={"Authorization": auth}), 200)
        time.sleep(3.2)
        r = self.request("GET", "/v2/", headers={"Authorization": auth})
        self.assertStatus(r, 401)
        self.assertTrue(r.headers.get("WWW-Authenticate"), r.describe())
        # Access keys are unaffected.
        self.assertStatus(self.request("GET", "/v2/"), 200)


class TestUsersAndKeys(EcrTestCase):
    def admin(self, *args) -> str:
        p = subprocess.run([self.berth.binary, "admin", "--data-dir", self.berth.data_dir]
                           + list(args), capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, "berth admin %s: rc=%d\nstdout=%s\nstderr=%s"
                         % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def test_user_key_lifecycle(self):
        self.admin("user", "create", "alice")
        key = json.loads(self.admin("access-key", "create", "alice"))
        self.assertEqual(set(key), {"AccessKeyId", "SecretAccessKey", "UserName"})
        self.assertEqual(key["UserName"], "alice")
        self.assertRegex(key["AccessKeyId"], r"^AKIA[A-Z0-9]{16}$")
        self.assertGreaterEqual(len(key["SecretAccessKey"]), 30)
        kid, secret = key["AccessKeyId"], key["SecretAccessKey"]

        self.assertIn("alice", self.admin("user", "list"))
        self.assertIn(kid, self.admin("access-key", "list"))
        self.admin("policy", "attach", "alice", "AmazonEC2ContainerRegistryReadOnly")

        alice = ecr_client(self.berth, key=kid, secret=secret)
        # The read-only managed policy does not grant ecr:DescribeRegistry (as on AWS).
        self.assertEcrError("AccessDeniedException", alice.describe_registry)
        alice.describe_repositories()
        tok = alice.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        self.assertStatus(self.request("GET", "/v2/", headers={
            "Authorization": basic(kid, secret)}), 200)
        self.assertStatus(self.request("GET", "/v2/", headers={
            "Authorization": "Basic " + tok}), 200)

        self.admin("access-key", "delete", kid)
        self.assertNotIn(kid, self.admin("access-key", "list"))
        self.assertEcrError("UnrecognizedClientException", alice.describe_repositories)
        r = self.request("GET", "/v2/", headers={"Authorization": basic(kid, secret)})
        self.assertStatus(r, 401)
        r = self.request("GET", "/v2/", headers={"Authorization": "Basic " + tok})
        self.assertStatus(r, 401)
        # The admin key still works.
        self.ecr.describe_registry()

        with open(self.berth.log_path, "rb") as f:
            log = f.read()
        self.assertNotIn(secret.encode(), log, "a secret access key appears in the server log")
        self.assertNotIn(ADMIN_SECRET_ACCESS_KEY.encode(), log,
                         "the admin secret appears in the server log")

    def test_admin_credentials_file(self):
        path = os.path.join(self.berth.data_dir, "admin-credentials")
        st = os.stat(path)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        import configparser
        cp = configparser.ConfigParser()
        cp.read(path)
        self.assertEqual(cp["default"]["aws_access_key_id"], ADMIN_ACCESS_KEY_ID)
        self.assertEqual(cp["default"]["aws_secret_access_key"], ADMIN_SECRET_ACCESS_KEY)
        sess = boto3.session.Session()
        with unittest.mock.patch.dict(os.environ, {"AWS_SHARED_CREDENTIALS_FILE": path,
                                                   "AWS_CONFIG_FILE": os.devnull}):
            for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.pop(v, None)
            sess = boto3.session.Session()
            c = sess.client("ecr", endpoint_url=self.berth.base_url, region_name=REGION)
            self.assertEqual(c.describe_registry()["registryId"], self.registry_id)


if __name__ == "__main__":
    unittest.main()
