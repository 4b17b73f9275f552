#!/usr/bin/env python3
"""Black-box tests of berth's encryption at rest and its built-in key service, driven by the
unmodified boto3/botocore, plain HTTP and the `berth admin key` commands.

What is tested (the contract, not the implementation):
  * with encryption at rest on (the default), no pushed byte — layer, config, manifest — is
    found in plaintext anywhere under the data dir, in finished blobs, unfinished uploads or
    the metadata database (and with BERTH_ENCRYPTION_AT_REST=false it is, which proves the
    scan can fail);
  * CreateRepository's encryptionConfiguration: AES256, KMS with a customer key named by key
    id, key ARN, alias or alias ARN (DescribeRepositories shows the key ARN), KMS without a key
    (the managed alias/aws/ecr key); unknown or disabled keys give KmsException;
  * a disabled key makes the OCI API answer 403 DENIED naming the key and the ECR API
    KmsException for its repositories only, until it is enabled again;
  * content is stored once per key; a cross-repository mount between keys falls back to an
    upload (202) unless the target key already stores the content, within a key it links (201);
  * a flipped byte or a truncation of a stored blob is never served as content; ranged reads
    are exact across the 64 KiB segments;
  * key rotation keeps old images readable (and `key rewrap`, when the binary has it);
  * key usage is in the audit log without key material.

On-disk facts used (berth's documented layout): blobs live under <data>/blobs/sha256/<2>/<hex>
(under a per-key name, so tests find a blob's file by what appeared when it was pushed), and an
encrypted blob is a 256-byte header followed by records [len u32][ciphertext][16-byte tag] of
65536 plaintext bytes each (the last one shorter), then a final empty record.

Run:  BERTH_BIN=/work/main/build/berth python3 test/integration/test_encryption.py [-v] [Class[.test]]
Env:  BERTH_BIN (default /work/main/build/berth), BERTH_KEEP_TMP=1.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import time
import unittest
import uuid
from typing import NamedTuple, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Importing the boto3 suite's module also sets up the environment boto3 needs here (no
# instance metadata, no retries, no stray profile). Only helpers and the (test-less) base
# class are imported, so its tests are not collected with these.
from test_ecr_boto3 import (  # noqa: E402
    ACCEPT_ALL,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    EcrTestCase,
    ecr_client,
    sha256,
    unique_repo,
)

from berth_harness import (  # noqa: E402
    ADMIN_BASIC,
    Berth,
    Headers,
    Response,
    add_query,
    split_location,
)

SEGMENT = 65536            # plaintext bytes per authenticated segment
HEADER = 256               # bytes of an encrypted blob's header
RECORD = SEGMENT + 4 + 16  # length prefix + ciphertext + GCM tag
PROPAGATION_S = 5.0        # the server sees `berth admin key` changes within ~1 s

# Fixed server settings: encryption on explicitly (a BERTH_* variable in the caller's shell must
# not change what the tests see) and no background collection of the blobs tests push without
# manifests.
ENCRYPTED_ENV = {"BERTH_ENCRYPTION_AT_REST": "true", "BERTH_GC_INTERVAL": "1h",
                 "BERTH_GC_GRACE_PERIOD": "1h", "BERTH_LIFECYCLE_INTERVAL": "24h"}
PLAINTEXT_ENV = dict(ENCRYPTED_ENV, BERTH_ENCRYPTION_AT_REST="false")

# Fields a key-usage audit entry may carry; none of them is key material.
KMS_AUDIT_FIELDS = {"time", "api", "principal", "action", "resource", "key_id",
                    "encryption_context", "result", "error", "message", "request_id"}
# What a raw or wrapped data key would look like if it leaked into a text field.
KEY_MATERIAL_RE = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}|[0-9a-fA-F]{64,}")


class Img(NamedTuple):
    """A pushed image: manifest bytes and every blob it references (config first)."""
    digest: str
    body: bytes
    blobs: list


class Fetched(NamedTuple):
    """A GET read to the end of what the server sent; `cut` when the connection ended before
    Content-Length bytes (or failed while reading)."""
    status: int
    headers: Headers
    body: bytes
    cut: bool


def walk_files(root: str) -> list:
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            out.append(os.path.join(d, n))
    return sorted(out)


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1  # removed while walking


def find_markers(root: str, markers: dict) -> dict:
    """name → files under `root` whose bytes contain that marker."""
    found = {name: [] for name in markers}
    for path in walk_files(root):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, IsADirectoryError):
            continue  # removed while walking (e.g. a finished upload)
        for name, marker in markers.items():
            if marker in data:
                found[name].append(os.path.relpath(path, root))
    return found


def marker_layer(marker: bytes, size: int) -> bytes:
    return (marker * (size // len(marker) + 1))[:size]


# ------------------------------------------------------------------------- base class
class EncryptionTestCase(EcrTestCase):
    maxDiff = 8000
    berth_env = ENCRYPTED_ENV

    def setUp(self):
        super().setUp()
        # The harness restarts a server that an earlier test crashed, on a new port: follow it.
        if self.ecr.meta.endpoint_url != self.berth.base_url:
            self._new_clients()

    @classmethod
    def _new_clients(cls) -> None:
        cls.ecr = ecr_client(cls.berth)
        cls.ecr_raw = ecr_client(cls.berth, validate=False)

    def restart_server(self) -> None:
        """Graceful restart on the same data dir (clears every in-memory key cache)."""
        self.berth.restart()
        self._new_clients()

    # --------------------------------------------------------------------- key admin CLI
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`berth admin --data-dir <data> ARGS`, against the running server's data dir."""
        cmd = [self.berth.binary, "admin", "--data-dir", self.berth.data_dir] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=self.berth.env)
        if check and r.returncode != 0:
            self.fail("%s exited with %d\nstdout: %s\nstderr: %s"
                      % (" ".join(cmd[1:]), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def key(self, *args: str) -> dict:
        """A `berth admin key ...` command that prints one KeyMetadata object."""
        r = self.cli("key", *args)
        try:
            meta = json.loads(r.stdout)
        except ValueError:
            self.fail("berth admin key %s: stdout is not JSON: %r" % (" ".join(args), r.stdout))
        for k in ("KeyId", "Arn", "KeyState", "Enabled", "CurrentKeyVersion"):
            self.assertIn(k, meta, "berth admin key %s: %r" % (" ".join(args), meta))
        return meta

    def create_key(self, with_alias: bool = True) -> dict:
        args = ["create", "--description", "berth integration test " + self.id()]
        if with_alias:
            args += ["--alias", "alias/it-enc-" + uuid.uuid4().hex[:12]]
        meta = self.key(*args)
        self.assertEqual(meta["KeyState"], "Enabled", meta)
        self.assertIs(meta["Enabled"], True, meta)
        self.assertEqual(meta["CurrentKeyVersion"], 1, meta)
        self.assertRegex(meta["Arn"], r"^arn:aws:kms:[a-z0-9-]+:\d{12}:key/%s$"
                         % re.escape(meta["KeyId"]))
        if with_alias:
            self.assertEqual(meta.get("Aliases"), [args[-1]], meta)
        return meta

    def key_subcommands(self) -> set:
        r = self.cli("key", "--help", check=False)
        text = r.stdout + r.stderr
        section = text.split("Subcommands:", 1)[-1]
        return set(re.findall(r"^\s+([a-z][a-z-]*)\s", section, re.M))

    def kms_repo(self, prefix: str, key_ref: Optional[str]) -> str:
        enc = {"encryptionType": "KMS"}
        if key_ref is not None:
            enc["kmsKey"] = key_ref
        return self.create_repo(prefix, encryptionConfiguration=enc)

    def aes_repo(self, prefix: str) -> str:
        return self.create_repo(prefix, encryptionConfiguration={"encryptionType": "AES256"})

    def repo_encryption(self, repo: str) -> dict:
        d = self.ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]
        return d["encryptionConfiguration"]

    # ----------------------------------------------------------------- pushing/pulling
    def upload(self, repo: str, data: bytes) -> str:
        """Monolithic upload: POST /v2/<repo>/blobs/uploads/?digest= with the bytes."""
        r = self.request("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, sha256(data)), data,
                         {"Content-Type": "application/octet-stream"})
        self.assertStatus(r, 201)
        self.assertEqual(r.headers.get("Docker-Content-Digest"), sha256(data), r.describe())
        return sha256(data)

    def new_config(self, label: str = "") -> bytes:
        return json.dumps({"architecture": "amd64", "os": "linux",
                           "rootfs": {"type": "layers", "diff_ids": []},
                           "config": {"Labels": {"nonce": uuid.uuid4().hex, "label": label}}},
                          indent=1).encode()

    def manifest_for(self, blobs: list, annotations: Optional[dict] = None) -> bytes:
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
             "config": {"mediaType": OCI_CONFIG, "digest": sha256(blobs[0]),
                        "size": len(blobs[0])},
             "layers": [{"mediaType": OCI_LAYER, "digest": sha256(x), "size": len(x)}
                        for x in blobs[1:]]}
        if annotations:
            m["annotations"] = annotations
        return json.dumps(m, indent=2).encode()

    def put_manifest(self, repo: str, ref: str, body: bytes) -> Response:
        return self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body,
                            {"Content-Type": OCI_MANIFEST})

    def push(self, repo: str, tag: str = "v1", layers: Optional[list] = None) -> Img:
        """A config and `layers` (default: one fresh random layer of ~70 KB, two segments),
        uploaded monolithically, then the manifest under `tag`."""
        if layers is None:
            layers = [os.urandom(70000)]
        blobs = [self.new_config()] + list(layers)
        for b in blobs:
            self.upload(repo, b)
        body = self.manifest_for(blobs)
        r = self.put_manifest(repo, tag, body)
        self.assertStatus(r, 201)
        self.assertEqual(r.headers.get("Docker-Content-Digest"), sha256(body), r.describe())
        return Img(sha256(body), body, blobs)

    def get_manifest(self, repo: str, ref: str) -> Response:
        return self.request("GET", "/v2/%s/manifests/%s" % (repo, ref),
                            headers={"Accept": ACCEPT_ALL})

    def get_blob(self, repo: str, digest: str, headers: Optional[dict] = None) -> Response:
        return self.request("GET", "/v2/%s/blobs/%s" % (repo, digest), headers=headers)

    def assertBlobPulls(self, repo: str, data: bytes) -> None:
        r = self.get_blob(repo, sha256(data))
        self.assertStatus(r, 200)
        self.assertEqual(len(r.body), len(data),
                         "blob %s of %s: wrong length" % (sha256(data), repo))
        self.assertEqual(sha256(r.body), sha256(data), "blob %s of %s: wrong bytes"
                         % (sha256(data), repo))

    def assertPulls(self, repo: str, ref: str, img: Img) -> None:
        """The manifest and every blob come back byte-identical."""
        r = self.get_manifest(repo, ref)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, img.body, "manifest %s:%s changed" % (repo, ref))
        self.assertEqual(r.headers.get("Docker-Content-Digest"), img.digest, r.describe())
        for b in img.blobs:
            self.assertBlobPulls(repo, b)

    def assertDenied(self, r: Response, key_arn: str, what: str) -> None:
        """403 with an OCI error body: code DENIED, a message naming the key ARN."""
        if r.status != 403:
            self.fail("%s: expected HTTP 403 DENIED (key disabled), got %s" % (what, r.describe()))
        try:
            errors = r.json().get("errors", [])
        except ValueError:
            self.fail("%s: 403 without a JSON error body: %s" % (what, r.describe()))
        self.assertIn("DENIED", [e.get("code") for e in errors], "%s: %s" % (what, r.describe()))
        self.assertTrue(any(key_arn in (e.get("message") or "") for e in errors),
                        "%s: the error should name %s: %s" % (what, key_arn, r.describe()))

    def assertKmsError(self, fn, **kwargs) -> dict:
        return self.assertEcrError("KmsException", fn, **kwargs)

    def fetch(self, path: str, headers: Optional[dict] = None) -> Fetched:
        """GET that survives a connection cut mid-body and reports it."""
        conn = http.client.HTTPConnection(self.berth.host, self.berth.port, timeout=30)
        hdrs = {"Authorization": ADMIN_BASIC}
        hdrs.update(headers or {})
        try:
            conn.request("GET", path, headers=hdrs)
            r = conn.getresponse()
            chunks, cut = [], False
            try:
                while True:
                    x = r.read(16384)
                    if not x:
                        break
                    chunks.append(x)
            except http.client.IncompleteRead as e:
                chunks.append(e.partial)
                cut = True
            except (OSError, http.client.HTTPException):
                cut = True
            body = b"".join(chunks)
            length = r.getheader("Content-Length")
            if length is not None and len(body) != int(length):
                cut = True
            return Fetched(r.status, Headers(r.getheaders()), body, cut)
        finally:
            conn.close()

    def assertNeverWrongBytes(self, f: Fetched, expected: bytes, what: str) -> None:
        """A read of damaged content: an error status, or a 2xx whose body was cut short and
        is a strict prefix of the right bytes. Never the whole, never a wrong byte."""
        desc = "%s: HTTP %d, %d body bytes, cut=%s, headers=%r" % (
            what, f.status, len(f.body), f.cut, f.headers)
        if 200 <= f.status < 300:
            self.assertTrue(f.cut, "damaged content served as a complete response: " + desc)
            self.assertLess(len(f.body), len(expected), desc)
            self.assertTrue(expected.startswith(f.body),
                            "damaged content served with wrong bytes: " + desc)
        else:
            if len(expected) >= 64:
                self.assertNotIn(expected[:64], f.body, "error response carries content: " + desc)

    # ----------------------------------------------------------------------- on disk
    def blob_files(self) -> set:
        return set(walk_files(os.path.join(self.berth.data_dir, "blobs")))

    def stored_file_of(self, repo: str, data: bytes) -> str:
        """Uploads `data` (not yet stored under the repository's key) and returns the one
        file that appeared under blobs/ for it."""
        before = self.blob_files()
        self.upload(repo, data)
        new = self.blob_files() - before
        self.assertEqual(len(new), 1, "one new stored file expected for %s, got %r"
                         % (sha256(data), sorted(new)))
        return new.pop()

    def wait_until(self, pred, what: str, timeout: float = PROPAGATION_S):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() > deadline:
                self.fail("after %.1f s: %s" % (timeout, what))
            time.sleep(0.1)

    def audit_entries(self, pred, want: int = 1, timeout: float = 5.0) -> list:
        """Audit entries (<data>/audit/audit.log) matching pred; waits for `want` of them."""
        path = os.path.join(self.berth.data_dir, "audit", "audit.log")
        deadline = time.monotonic() + timeout
        while True:
            found = []
            try:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        line = line.strip()
                        if not line:
                            continue
                        try:
                            e = json.loads(line)
                        except ValueError:
                            continue
                        if pred(e):
                            found.append(e)
            except FileNotFoundError:
                pass
            if len(found) >= want or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


# ============================================================ 1. nothing in plaintext
class TestNoPlaintextAtRest(EncryptionTestCase):
    LAYER_SIZE = 3 * 1024 * 1024

    def push_marked(self, b: Berth, repo: str, markers: dict, scan_open_upload: bool) -> tuple:
        """Pushes to `b` an image whose layer is markers["layer"] repeated, whose config
        carries markers["config"] and whose manifest annotation carries markers["manifest"].
        The layer goes as POST + one PATCH + PUT; with scan_open_upload the data dir is
        scanned while the upload is still open. Returns (img, scan of the open upload)."""
        layer = marker_layer(markers["layer"], self.LAYER_SIZE)
        config = self.new_config(label=markers["config"].decode())
        r = b.request("POST", "/v2/%s/blobs/uploads/" % repo)
        self.assertStatus(r, 202)
        loc = split_location(r.headers["Location"])
        r = b.request("PATCH", loc, layer, {"Content-Type": "application/octet-stream",
                                            "Content-Range": "0-%d" % (len(layer) - 1)})
        self.assertStatus(r, 202)
        open_scan = None
        if scan_open_upload:
            # The upload's bytes are on disk (outside blobs/) while it is open...
            pending = [p for p in walk_files(b.data_dir)
                       if os.sep + "blobs" + os.sep not in p
                       and file_size(p) >= len(layer)]
            self.assertTrue(pending, "no file holds the open upload: %r" % walk_files(b.data_dir))
            # ...and must not be readable there either.
            open_scan = find_markers(b.data_dir, markers)
        r = b.request("PUT", add_query(split_location(r.headers["Location"]),
                                       digest=sha256(layer)))
        self.assertStatus(r, 201)
        r = b.request("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, sha256(config)), config,
                      {"Content-Type": "application/octet-stream"})
        self.assertStatus(r, 201)
        body = self.manifest_for([config, layer],
                                 annotations={"org.example.note": markers["manifest"].decode()})
        r = b.request("PUT", "/v2/%s/manifests/latest" % repo, body,
                      {"Content-Type": OCI_MANIFEST})
        self.assertStatus(r, 201)
        return Img(sha256(body), body, [config, layer]), open_scan

    def test_no_plaintext_under_data_dir_and_plaintext_when_off(self):
        tag = uuid.uuid4().hex.encode()
        markers = {"layer": b"BERTH-LAYER-MARKER-" + tag + b"|",
                   "config": b"BERTH-CONFIG-MARKER-" + tag,
                   "manifest": b"BERTH-MANIFEST-MARKER-" + tag}
        repo = unique_repo("plain")
        self.ecr.create_repository(repositoryName=repo)
        img, open_scan = self.push_marked(self.berth, repo, markers, scan_open_upload=True)
        self.assertEqual(open_scan, {k: [] for k in markers},
                         "plaintext under the data dir while the upload was open")
        # Pulled back byte-identical (manifest by tag and digest; blobs by digest).
        self.assertPulls(repo, "latest", img)
        self.assertPulls(repo, img.digest, img)
        # Let the metadata database and the audit log reach the disk, then look everywhere.
        time.sleep(0.5)
        files = walk_files(self.berth.data_dir)
        self.assertTrue(any("/blobs/" in p for p in files), files)
        self.assertTrue(any(os.path.basename(p).startswith("meta.db") for p in files), files)
        self.assertEqual(find_markers(self.berth.data_dir, markers), {k: [] for k in markers},
                         "plaintext found under the data dir of an encrypting server")
        # After a restart (the WAL may be checkpointed into meta.db) there is still none.
        self.restart_server()
        self.assertPulls(repo, "latest", img)
        self.assertEqual(find_markers(self.berth.data_dir, markers), {k: [] for k in markers},
                         "plaintext found under the data dir after a restart")

        # The same push to a server with encryption at rest off: the scan finds every marker
        # (the layer and config in blob files, the manifest in the metadata database).
        with Berth(env=PLAINTEXT_ENV) as plain:
            prepo = unique_repo("plain")
            ecr_client(plain).create_repository(repositoryName=prepo)
            pimg, _ = self.push_marked(plain, prepo, markers, scan_open_upload=False)
            self.assertTrue(pimg.blobs[1] == img.blobs[1], "the same layer in both pushes")
            r = plain.request("GET", "/v2/%s/blobs/%s" % (prepo, sha256(pimg.blobs[1])))
            self.assertStatus(r, 200)
            self.assertEqual(sha256(r.body), sha256(pimg.blobs[1]))
            time.sleep(0.5)
            found = find_markers(plain.data_dir, markers)
            self.assertTrue(any(p.startswith("blobs" + os.sep) for p in found["layer"]),
                            "the layer marker should be in a plaintext blob file: %r" % found)
            self.assertTrue(any(p.startswith("blobs" + os.sep) for p in found["config"]),
                            "the config marker should be in a plaintext blob file: %r" % found)
            self.assertTrue(any(os.path.basename(p).startswith("meta.db")
                                for p in found["manifest"]),
                            "the manifest marker should be in the metadata database: %r" % found)


# ========================================================== 2. KMS with customer keys
class TestKmsRepositories(EncryptionTestCase):
    def test_customer_key_by_every_reference(self):
        meta = self.create_key()
        alias = meta["Aliases"][0]
        arn = meta["Arn"]
        alias_arn = arn.split(":key/")[0] + ":" + alias
        listed = json.loads(self.cli("key", "list").stdout)
        self.assertIn(meta["KeyId"], json.dumps(listed), "key list should show the new key")
        img = None
        for ref in (alias, meta["KeyId"], arn, alias_arn):
            with self.subTest(kmsKey=ref):
                repo = unique_repo("kms")
                created = self.ecr.create_repository(
                    repositoryName=repo,
                    encryptionConfiguration={"encryptionType": "KMS", "kmsKey": ref})
                self.assertEqual(created["repository"]["encryptionConfiguration"],
                                 {"encryptionType": "KMS", "kmsKey": arn})
                self.assertEqual(self.repo_encryption(repo),
                                 {"encryptionType": "KMS", "kmsKey": arn})
                img = self.push(repo, "v1")
                self.assertPulls(repo, "v1", img)
                got = self.ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
                self.assertEqual(got["failures"], [])
                self.assertEqual(got["images"][0]["imageManifest"].encode(), img.body)

    def test_kms_without_key_uses_aws_ecr_and_default_is_aes256(self):
        repo = self.kms_repo("kms-default", None)
        managed = self.key("describe", "alias/aws/ecr")
        self.assertEqual(self.repo_encryption(repo),
                         {"encryptionType": "KMS", "kmsKey": managed["Arn"]})
        img = self.push(repo)
        self.assertPulls(repo, "v1", img)
        plain = self.create_repo("default")
        self.assertEqual(self.repo_encryption(plain), {"encryptionType": "AES256"})
        img = self.push(plain)
        self.assertPulls(plain, "v1", img)

    def test_unknown_key_is_kms_exception(self):
        for ref in ("alias/it-enc-no-such-" + uuid.uuid4().hex[:8], str(uuid.uuid4())):
            with self.subTest(kmsKey=ref):
                repo = unique_repo("kms-unknown")
                self.assertKmsError(self.ecr.create_repository, repositoryName=repo,
                                    encryptionConfiguration={"encryptionType": "KMS",
                                                             "kmsKey": ref})
                self.assertEcrError("RepositoryNotFoundException",
                                    self.ecr.describe_repositories, repositoryNames=[repo])

    def test_disabled_key_is_kms_exception(self):
        meta = self.create_key()
        alias = meta["Aliases"][0]
        probe = self.kms_repo("kms-probe", alias)
        self.push(probe)
        self.assertEqual(self.key("disable", alias)["KeyState"], "Disabled")
        try:
            # Wait until the server has seen it (a push to the probe repository is refused).
            self.wait_until(lambda: self.request("POST", "/v2/%s/blobs/uploads/" % probe).status
                            == 403, "the server should refuse pushes under a disabled key")
            repo = unique_repo("kms-disabled")
            resp = self.assertKmsError(self.ecr.create_repository, repositoryName=repo,
                                       encryptionConfiguration={"encryptionType": "KMS",
                                                                "kmsKey": alias})
            self.assertIn(meta["Arn"], resp["Error"]["Message"])
            self.assertEcrError("RepositoryNotFoundException",
                                self.ecr.describe_repositories, repositoryNames=[repo])
        finally:
            self.key("enable", alias)


# ==================================================== 3. a disabled key blocks its repos
class TestDisabledKey(EncryptionTestCase):
    def test_disable_blocks_only_its_repositories_until_enabled(self):
        meta = self.create_key()
        k1, arn = meta["Aliases"][0], meta["Arn"]
        repo_a = self.kms_repo("dis-a", k1)
        repo_b = self.aes_repo("dis-b")
        img_a = self.push(repo_a, "v1")
        img_b = self.push(repo_b, "v1")
        spare = self.push(repo_a, "spare")  # its blobs are in A: a manifest to put again later

        self.assertEqual(self.key("disable", k1)["KeyState"], "Disabled")
        try:
            self.wait_until(lambda: self.get_manifest(repo_a, "v1").status == 403,
                            "GET manifest of %s should be refused once %s is disabled"
                            % (repo_a, arn))
            # OCI pulls of A.
            self.assertDenied(self.get_manifest(repo_a, "v1"), arn, "GET manifest by tag")
            self.assertDenied(self.get_manifest(repo_a, img_a.digest), arn,
                              "GET manifest by digest")
            for b in img_a.blobs:
                self.assertDenied(self.get_blob(repo_a, sha256(b)), arn, "GET blob")
            # OCI pushes to A.
            new_layer = os.urandom(5000)
            self.assertDenied(self.request("POST", "/v2/%s/blobs/uploads/?digest=%s"
                                           % (repo_a, sha256(new_layer)), new_layer,
                                           {"Content-Type": "application/octet-stream"}),
                              arn, "monolithic blob upload")
            self.assertDenied(self.request("POST", "/v2/%s/blobs/uploads/" % repo_a), arn,
                              "start of a blob upload")
            self.assertDenied(self.put_manifest(repo_a, "v2", spare.body), arn, "PUT manifest")
            # ECR reads and writes of A's images.
            self.assertKmsError(self.ecr.batch_get_image, repositoryName=repo_a,
                                imageIds=[{"imageTag": "v1"}])
            self.assertKmsError(self.ecr.put_image, repositoryName=repo_a,
                                imageManifest=spare.body.decode(), imageTag="v3")

            # B (another key) keeps working: pull, push, ECR.
            self.assertPulls(repo_b, "v1", img_b)
            img_b2 = self.push(repo_b, "v2")
            self.assertPulls(repo_b, "v2", img_b2)
            got = self.ecr.batch_get_image(repositoryName=repo_b, imageIds=[{"imageTag": "v1"}])
            self.assertEqual(got["images"][0]["imageManifest"].encode(), img_b.body)
        finally:
            self.assertEqual(self.key("enable", k1)["KeyState"], "Enabled")

        self.wait_until(lambda: self.get_manifest(repo_a, "v1").status == 200,
                        "GET manifest of %s should work again once %s is enabled" % (repo_a, arn))
        self.assertPulls(repo_a, "v1", img_a)
        self.assertPulls(repo_a, img_a.digest, img_a)
        got = self.ecr.batch_get_image(repositoryName=repo_a, imageIds=[{"imageTag": "v1"}])
        self.assertEqual(got["images"][0]["imageManifest"].encode(), img_a.body)
        img_a2 = self.push(repo_a, "v2")
        self.assertPulls(repo_a, "v2", img_a2)
        self.assertNotIn("v3", [i.get("imageTag") for i in
                                self.ecr.list_images(repositoryName=repo_a)["imageIds"]])


# ===================================================== 4./5. storage per key and mounts
class TestStoragePerKey(EncryptionTestCase):
    def test_same_content_stored_once_per_key(self):
        key = self.create_key()["Aliases"][0]
        aes1, aes2 = self.aes_repo("once-aes1"), self.aes_repo("once-aes2")
        kms1, kms2 = self.kms_repo("once-kms1", key), self.kms_repo("once-kms2", key)
        layer = os.urandom(150000)
        steps = [(aes1, 1, "first AES256 repository"),
                 (aes2, 0, "second AES256 repository (same key)"),
                 (kms1, 1, "repository under a customer key"),
                 (kms2, 0, "second repository under that customer key")]
        for repo, want, what in steps:
            before = self.blob_files()
            self.upload(repo, layer)
            new = self.blob_files() - before
            self.assertEqual(len(new), want, "%s: expected %d new stored file(s), got %r"
                             % (what, want, sorted(new)))
        for repo, _, _ in steps:
            self.assertBlobPulls(repo, layer)

    def test_mount_across_keys_uploads_and_within_a_key_links(self):
        key = self.create_key()["Aliases"][0]
        src, same = self.aes_repo("mnt-src"), self.aes_repo("mnt-same")
        other, other2 = self.kms_repo("mnt-kms", key), self.kms_repo("mnt-kms2", key)
        layer = os.urandom(100000)
        digest = self.upload(src, layer)

        # Same key: linked at once.
        before = self.blob_files()
        r = self.request("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (same, digest, src))
        self.assertStatus(r, 201)
        self.assertEqual(r.headers.get("Docker-Content-Digest"), digest, r.describe())
        self.assertEqual(self.blob_files(), before, "a same-key mount should store nothing new")
        self.assertBlobPulls(same, layer)

        # Another key that does not have the content: an upload session instead.
        r = self.request("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (other, digest, src))
        self.assertStatus(r, 202)
        self.assertIn("Location", r.headers, r.describe())
        self.assertEqual(self.get_blob(other, digest).status, 404,
                         "a cross-key mount must not make the blob readable in %s" % other)
        r = self.request("PUT", add_query(split_location(r.headers["Location"]), digest=digest),
                         layer, {"Content-Type": "application/octet-stream"})
        self.assertStatus(r, 201)
        self.assertEqual(len(self.blob_files() - before), 1,
                         "the upload under the other key should store one new file")
        self.assertBlobPulls(other, layer)

        # That key has the content now: a mount from the AES256 repository into another of
        # its repositories links.
        before = self.blob_files()
        r = self.request("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (other2, digest, src))
        self.assertStatus(r, 201)
        self.assertEqual(self.blob_files(), before)
        self.assertBlobPulls(other2, layer)
        self.assertBlobPulls(src, layer)


# ======================================================== 6./7. tampering and ranges
class TestTamperingAndRanges(EncryptionTestCase):
    def test_flipped_byte_and_truncation_are_never_served(self):
        repo = self.aes_repo("tamper")
        data = os.urandom(5 * SEGMENT + 12345)  # six segments
        digest = sha256(data)
        path = self.stored_file_of(repo, data)
        with open(path, "rb") as f:
            original = f.read()
        self.assertEqual(len(original), HEADER + 5 * RECORD + (4 + 12345 + 16) + 20,
                         "stored layout: header, 6 data records, final record")
        blob_path = "/v2/%s/blobs/%s" % (repo, digest)
        try:
            # A flipped byte in the ciphertext of the third segment.
            flip_at = HEADER + 2 * RECORD + 4 + 1000
            damaged = bytearray(original)
            damaged[flip_at] ^= 0x01
            with open(path, "wb") as f:
                f.write(damaged)
            self.assertNeverWrongBytes(self.fetch(blob_path), data, "GET of a flipped blob")
            lo, hi = 2 * SEGMENT - 10, 3 * SEGMENT + 10
            self.assertNeverWrongBytes(self.fetch(blob_path, {"Range": "bytes=%d-%d" % (lo, hi)}),
                                       data[lo:hi + 1], "ranged GET over the flipped segment")

            # Truncated at a record boundary: refused before any content byte.
            for k in (2, 5):
                with self.subTest(records_kept=k):
                    with open(path, "wb") as f:
                        f.write(original[:HEADER + k * RECORD])
                    got = self.fetch(blob_path)
                    self.assertEqual(got.status, 500, "GET of a blob truncated after %d records: "
                                     "HTTP %d, %d bytes" % (k, got.status, len(got.body)))
                    self.assertFalse(got.body and data.startswith(got.body),
                                     "content bytes sent with the 500")
                    self.assertNotIn(data[:64], got.body)
        finally:
            with open(path, "wb") as f:
                f.write(original)
        self.assertBlobPulls(repo, data)

    def test_ranges_across_segment_boundaries(self):
        repo = self.create_repo("ranges")
        data = os.urandom(300000)
        digest = self.upload(repo, data)
        n = len(data)
        for lo, hi in ((65530, 65545), (0, 0), (131071, 196609), (n - 1, n - 1),
                       (65535, 65536), (SEGMENT, 2 * SEGMENT - 1), (0, n - 1)):
            with self.subTest(range="%d-%d" % (lo, hi)):
                r = self.get_blob(repo, digest, {"Range": "bytes=%d-%d" % (lo, hi)})
                self.assertStatus(r, 206)
                self.assertEqual(r.headers.get("Content-Range"), "bytes %d-%d/%d" % (lo, hi, n),
                                 r.describe(0))
                self.assertEqual(len(r.body), hi - lo + 1)
                self.assertTrue(r.body == data[lo:hi + 1], "wrong bytes for %d-%d" % (lo, hi))


# =========================================================== 8./9. rotation and audit
class TestRotationAndAudit(EncryptionTestCase):
    def test_rotation_keeps_old_images_readable(self):
        meta = self.create_key()
        alias = meta["Aliases"][0]
        repo = self.kms_repo("rotate", alias)
        img1 = self.push(repo, "one", layers=[os.urandom(3 * SEGMENT + 7)])
        rotated = self.key("rotate", alias)
        self.assertEqual(rotated["KeyId"], meta["KeyId"])
        self.assertEqual(rotated["CurrentKeyVersion"], 2, rotated)
        self.assertEqual(self.key("describe", alias)["CurrentKeyVersion"], 2)
        time.sleep(1.5)  # let the server see the new version before the next push
        img2 = self.push(repo, "two", layers=[os.urandom(2 * SEGMENT + 3)])
        self.assertPulls(repo, "one", img1)
        self.assertPulls(repo, "two", img2)
        # Without any in-memory data key: both versions are unwrapped from what is stored.
        self.restart_server()
        self.assertPulls(repo, "one", img1)
        self.assertPulls(repo, "two", img2)

    def assertRewrapReport(self, r: subprocess.CompletedProcess, want_rewrapped: bool) -> None:
        """`key rewrap` exited 0 (checked by cli()); when it prints a JSON report, that report
        counts no failure (and, right after a rotation, at least one re-wrapped data key)."""
        try:
            report = json.loads(r.stdout)
        except ValueError:
            return
        if not isinstance(report, dict):
            return
        if "Failed" in report:
            self.assertEqual(report["Failed"], 0, report)
        if want_rewrapped and "Rewrapped" in report:
            self.assertGreaterEqual(report["Rewrapped"], 1, report)

    def test_rewrap_after_rotation(self):
        if "rewrap" not in self.key_subcommands():
            self.skipTest("this berth has no `berth admin key rewrap`")
        meta = self.create_key()
        alias = meta["Aliases"][0]
        repo = self.kms_repo("rewrap", alias)
        other = self.aes_repo("rewrap-aes")
        img1 = self.push(repo, "one", layers=[os.urandom(3 * SEGMENT + 7)])
        img_other = self.push(other, "one")
        self.assertEqual(self.key("rotate", alias)["CurrentKeyVersion"], 2)
        time.sleep(1.5)
        img2 = self.push(repo, "two")
        self.assertRewrapReport(self.cli("key", "rewrap", alias), want_rewrapped=True)
        for ref, img in (("one", img1), ("two", img2)):
            self.assertPulls(repo, ref, img)
        self.restart_server()
        for ref, img in (("one", img1), ("two", img2)):
            self.assertPulls(repo, ref, img)
        self.assertPulls(other, "one", img_other)
        # Every key at once, a second time: nothing fails, everything still reads.
        self.assertRewrapReport(self.cli("key", "rewrap"), want_rewrapped=False)
        self.restart_server()
        self.assertPulls(repo, "one", img1)
        self.assertPulls(other, "one", img_other)

    def test_key_usage_is_audited_without_key_material(self):
        meta = self.create_key()
        arn = meta["Arn"]
        repo = self.kms_repo("audit", meta["Aliases"][0])
        img = self.push(repo)
        # A fresh process has no unwrapped data key in memory: the pull must Decrypt.
        self.restart_server()
        self.assertPulls(repo, "v1", img)

        def ours(action):
            return lambda e: (e.get("api") == "kms" and e.get("action") == action
                              and e.get("resource") == arn)
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            with self.subTest(action=action):
                found = self.audit_entries(ours(action))
                self.assertTrue(found, "no %s entry for %s in the audit log" % (action, arn))
                self.assertTrue(any(e.get("result") == "success" for e in found), found)
                for e in found:
                    self.assertEqual(e.get("key_id"), meta["KeyId"], e)
        kms_entries = self.audit_entries(lambda e: e.get("api") == "kms", want=1)
        self.assertTrue(kms_entries)
        for e in kms_entries:
            extra = set(e) - KMS_AUDIT_FIELDS
            self.assertFalse(extra, "unexpected fields in a key-usage entry: %r" % e)
            for k, v in e.items():
                self.assertIsInstance(v, (str, int, bool), "%s in %r" % (k, e))
                if isinstance(v, str) and k not in ("time", "message"):
                    self.assertIsNone(KEY_MATERIAL_RE.search(v),
                                      "%s looks like key material in %r" % (k, e))


if __name__ == "__main__":
    unittest.main()
