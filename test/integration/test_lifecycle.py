#!/usr/bin/env python3
"""Black-box tests of berth's lifecycle policies, lifecycle preview, archive storage class and
online garbage collection, driven by the unmodified boto3/botocore and plain HTTP.

Sources of truth: Amazon ECR's lifecycle documentation and API model (the worked examples of
"Examples of lifecycle policies in Amazon ECR" are reproduced end to end), and berth's own
contract for what ECR leaves to the implementation: the admin API (`Berth_20261128.*`:
StartLifecycleRun, StartGarbageCollection, DescribeJob), the `berth lifecycle run` / `berth gc`
commands, the BERTH_LIFECYCLE_INTERVAL / BERTH_GC_INTERVAL / BERTH_GC_GRACE_PERIOD settings, the
audit lines of lifecycle actions, the /metrics counters and the on-disk layout
(<data-dir>/blobs/sha256/<2>/<hex>, <data-dir>/archive/sha256/<2>/<hex>).

Time: `since*` rules count days. Nothing in the product is mocked: images are aged by editing
the real metadata database (<data-dir>/meta.db, SQLite in WAL mode) while the server runs,
which the server sees at once.

Run:  BERTH_BIN=/work/main/build/berth python3 test/integration/test_lifecycle.py [-v] [Class[.test]]
Env:  BERTH_BIN (default /work/main/build/berth), BERTH_KEEP_TMP=1.
"""

import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
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
    AMZ_JSON,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    REGION,
    EcrTestCase,
    ecr_client,
    random_digest,
    sha256,
    unique_repo,
)

import botocore.credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402

from berth_harness import (  # noqa: E402
    ADMIN_ACCESS_KEY_ID,
    ADMIN_SECRET_ACCESS_KEY,
    Berth,
    BerthStartError,
    Client,
    Response,
)

ADMIN_TARGET_PREFIX = "Berth_20261128."
DAY = 86400
SBOM_TYPE = "application/vnd.example.sbom.v1"

# What the schedules default to (24h / 1h / 1h), set explicitly so that a BERTH_* variable
# exported in the caller's shell cannot change what a test class sees.
QUIET_ENV = {"BERTH_LIFECYCLE_INTERVAL": "24h", "BERTH_GC_INTERVAL": "1h",
             "BERTH_GC_GRACE_PERIOD": "1h"}


# ---------------------------------------------------------------------------- helpers
class Img(NamedTuple):
    """A pushed image: manifest bytes and every blob it references (config first)."""
    digest: str
    body: bytes
    media_type: str
    blobs: list          # list[bytes]: config, then layers
    tags: tuple

    @property
    def size(self) -> int:
        return len(self.body)


def rule(priority: int, tag_status: str = "any", count_type: str = "imageCountMoreThan",
         count_number: int = 1, count_unit: Optional[str] = None, action: str = "expire",
         target: Optional[str] = None, prefixes: Optional[list] = None,
         patterns: Optional[list] = None, storage_class: Optional[str] = None,
         description: Optional[str] = None) -> dict:
    """One lifecycle rule, keys in the order of ECR's documented template."""
    sel = {"tagStatus": tag_status}
    if patterns is not None:
        sel["tagPatternList"] = patterns
    if prefixes is not None:
        sel["tagPrefixList"] = prefixes
    if storage_class is not None:
        sel["storageClass"] = storage_class
    sel["countType"] = count_type
    if count_unit is not None:
        sel["countUnit"] = count_unit
    sel["countNumber"] = count_number
    act = {"type": action}
    if target is not None:
        act["targetStorageClass"] = target
    return {"rulePriority": priority,
            "description": description if description is not None else "Rule %d" % priority,
            "selection": sel, "action": act}


def policy(*rules: dict) -> str:
    """Policy text with json.dumps' default (non-minified) separators."""
    return json.dumps({"rules": list(rules)})


def minified(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"))


def admin_request(b: Berth, action: str, payload, key: str = ADMIN_ACCESS_KEY_ID,
                  secret: str = ADMIN_SECRET_ACCESS_KEY) -> Response:
    """A berth admin action: POST / with X-Amz-Target Berth_20261128.<action>, AWS JSON 1.1,
    signed with botocore's SigV4 (service "ecr")."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    req = AWSRequest(method="POST", url=b.base_url + "/", data=body,
                     headers={"Content-Type": AMZ_JSON,
                              "X-Amz-Target": ADMIN_TARGET_PREFIX + action})
    SigV4Auth(botocore.credentials.Credentials(key, secret), "ecr", REGION).add_auth(req)
    prepared = req.prepare()
    return b.request("POST", "/", prepared.body, dict(prepared.headers.items()))


def oci_error_codes(resp: Response) -> list:
    try:
        return [e.get("code") for e in resp.json().get("errors", [])]
    except Exception:
        return []


def parse_metrics(text: str) -> dict:
    """Prometheus text → {name: value} (samples with labels are summed per name, and also
    kept under their full name)."""
    out: dict = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(" ", 1)
        if len(parts) != 2:
            continue
        full, value = parts
        try:
            v = float(value)
        except ValueError:
            continue
        out[full] = v
        name = full.split("{", 1)[0]
        if name != full:
            out[name] = out.get(name, 0.0) + v
    return out


def berth_has_cli_command(binary: str, name: str) -> bool:
    try:
        r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return re.search(r"^\s+%s\b" % re.escape(name), r.stdout + r.stderr, re.M) is not None


# ------------------------------------------------------------------------- base class
class LifecycleTestCase(EcrTestCase):
    maxDiff = 8000
    berth_env = QUIET_ENV

    def setUp(self):
        super().setUp()
        # The harness restarts a server that an earlier test crashed, on a new port: follow it.
        if self.ecr.meta.endpoint_url != self.berth.base_url:
            cls = type(self)
            cls.ecr = ecr_client(self.berth)
            cls.ecr_raw = ecr_client(self.berth, validate=False)

    # ----------------------------------------------------------------- pushing images
    def upload(self, repo: str, data: bytes) -> str:
        r = self.request("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, sha256(data)), data,
                         {"Content-Type": "application/octet-stream"})
        self.assertStatus(r, 201)
        return sha256(data)

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> Response:
        return self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body,
                            {"Content-Type": media_type})

    def push(self, repo: str, tags=(), shared=(), own_layers: int = 1,
             subject: Optional[Img] = None, artifact_type: Optional[str] = None) -> Img:
        """A tiny image: a config that differs per image, the `shared` layers (bytes, may
        already be in the repository) and `own_layers` fresh random layers. Pushed with every
        tag of `tags` (or by digest when there is none)."""
        if artifact_type:
            cfg, cfg_type = b"{}", OCI_EMPTY
        else:
            cfg = json.dumps({"architecture": "amd64", "os": "linux",
                              "rootfs": {"type": "layers", "diff_ids": []},
                              "config": {"Labels": {"nonce": uuid.uuid4().hex}}}).encode()
            cfg_type = OCI_CONFIG
        layers = list(shared) + [os.urandom(256 + random.randrange(512))
                                 for _ in range(own_layers)]
        for blob in [cfg] + layers:
            self.upload(repo, blob)
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
        if artifact_type:
            m["artifactType"] = artifact_type
        m["config"] = {"mediaType": cfg_type, "digest": sha256(cfg), "size": len(cfg)}
        m["layers"] = [{"mediaType": OCI_LAYER, "digest": sha256(x), "size": len(x)}
                       for x in layers]
        if subject is not None:
            m["subject"] = {"mediaType": subject.media_type, "digest": subject.digest,
                            "size": subject.size}
        body = json.dumps(m, indent=2).encode()
        img = Img(sha256(body), body, OCI_MANIFEST, [cfg] + layers, tuple(tags))
        for ref in (list(tags) or [img.digest]):
            self.assertStatus(self.put_manifest(repo, ref, body, OCI_MANIFEST), 201)
        return img

    def push_index(self, repo: str, children: list, tags=()) -> Img:
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": c.media_type, "digest": c.digest, "size": c.size,
             "platform": {"architecture": arch, "os": "linux"}}
            for c, arch in zip(children, ("amd64", "arm64", "s390x", "ppc64le"))]},
            indent=2).encode()
        img = Img(sha256(body), body, OCI_INDEX, [], tuple(tags))
        for ref in (list(tags) or [img.digest]):
            self.assertStatus(self.put_manifest(repo, ref, body, OCI_INDEX), 201)
        return img

    # ------------------------------------------------------------------------ pulling
    def get_manifest(self, repo: str, ref: str) -> Response:
        return self.request("GET", "/v2/%s/manifests/%s" % (repo, ref),
                            headers={"Accept": ACCEPT_ALL})

    def assertPulls(self, repo: str, ref: str, img: Img) -> None:
        """The manifest and every blob come back byte-identical."""
        r = self.get_manifest(repo, ref)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, img.body, "manifest %s:%s changed" % (repo, ref))
        for blob in img.blobs:
            r = self.request("GET", "/v2/%s/blobs/%s" % (repo, sha256(blob)))
            self.assertStatus(r, 200)
            self.assertEqual(r.body, blob, "blob %s of %s:%s changed" % (sha256(blob), repo, ref))

    def assertNotPullable(self, repo: str, ref: str) -> None:
        r = self.get_manifest(repo, ref)
        self.assertOciError(r, 404, "MANIFEST_UNKNOWN")

    # ---------------------------------------------------------------------- on disk
    def blob_path(self, digest: str, area: str = "blobs") -> str:
        # Where berth stores the blob for the (AES256-encrypted) repositories these tests use.
        algo, hexd = self.berth.stored_digest(digest).split(":", 1)
        return os.path.join(self.berth.data_dir, area, algo, hexd[:2], hexd)

    def assertInArea(self, digest: str, area: str) -> None:
        other = "archive" if area == "blobs" else "blobs"
        self.assertTrue(os.path.isfile(self.blob_path(digest, area)),
                        "%s should be under %s/" % (digest, area))
        self.assertFalse(os.path.exists(self.blob_path(digest, other)),
                         "%s should no longer be under %s/" % (digest, other))

    # ------------------------------------------------------------------- the database
    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(os.path.join(self.berth.data_dir, "meta.db"), timeout=30)

    def set_times(self, repo: str, times: dict, column: str = "pushed_at") -> None:
        """UPDATE manifests SET <column> = t for each digest → t (unix seconds)."""
        self.assertIn(column, ("pushed_at", "last_pulled_at", "archived_at", "activated_at"))
        con = self.db()
        try:
            for digest, t in times.items():
                cur = con.execute("UPDATE manifests SET %s=? WHERE repo=? AND digest=?" % column,
                                  (int(t), repo, digest))
                self.assertEqual(cur.rowcount, 1, "no manifest row %s@%s" % (repo, digest))
            con.commit()
        finally:
            con.close()

    def age(self, repo: str, ages_days: dict, column: str = "pushed_at") -> dict:
        """Sets <column> to now - age for each digest → age in days; returns digest → t."""
        now = int(time.time())
        times = {d: now - int(round(a * DAY)) for d, a in ages_days.items()}
        self.set_times(repo, times, column)
        return times

    # -------------------------------------------------------------- ECR conveniences
    def images(self, repo: str, status: str = "ANY") -> dict:
        """digest → imageDetail, every page, with filter imageStatus=status."""
        out = {}
        for page in self.ecr.get_paginator("describe_images").paginate(
                repositoryName=repo, filter={"imageStatus": status}):
            for d in page["imageDetails"]:
                out[d["imageDigest"]] = d
        return out

    def put_policy(self, repo: str, text: str) -> dict:
        return self.ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)

    def preview(self, repo: str, text: Optional[str] = None, **get_args) -> tuple:
        """Starts a preview, waits with the SDK waiter, returns (results of every page,
        summary, first page)."""
        args = {"repositoryName": repo}
        if text is not None:
            args["lifecyclePolicyText"] = text
        started = self.ecr.start_lifecycle_policy_preview(**args)
        self.assertEqual(started["status"], "IN_PROGRESS", started)
        self.assertEqual(started["repositoryName"], repo)
        self.ecr.get_waiter("lifecycle_policy_preview_complete").wait(
            repositoryName=repo, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        results, first = [], None
        for page in self.ecr.get_paginator("get_lifecycle_policy_preview").paginate(
                repositoryName=repo, **get_args):
            if first is None:
                first = page
            self.assertEqual(page["status"], "COMPLETE", page)
            results += page.get("previewResults", [])
        if text is not None:
            self.assertEqual(json.loads(first["lifecyclePolicyText"]), json.loads(text))
        return results, first.get("summary"), first

    # ------------------------------------------------------------------ admin jobs
    def admin(self, action: str, payload) -> Response:
        return admin_request(self.berth, action, payload)

    def start_job(self, action: str, payload: dict) -> str:
        r = self.admin(action, payload)
        self.assertStatus(r, 200)
        job_id = r.json().get("jobId")
        self.assertTrue(job_id, r.describe())
        return job_id

    def describe_job(self, job_id: str) -> dict:
        r = self.admin("DescribeJob", {"jobId": job_id})
        self.assertStatus(r, 200)
        return r.json()

    def wait_job(self, job_id: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            j = self.describe_job(job_id)
            self.assertEqual(j.get("jobId"), job_id, j)
            self.assertIn(j.get("status"), ("IN_PROGRESS", "COMPLETE", "FAILED"), j)
            if j["status"] != "IN_PROGRESS":
                break
            if time.monotonic() > deadline:
                self.fail("job %s still IN_PROGRESS after %.0f s: %r" % (job_id, timeout, j))
            time.sleep(0.1)
        self.assertEqual(j["status"], "COMPLETE", j)
        self.assertIsInstance(j.get("summary"), dict, j)
        p = j.get("progress")
        self.assertIsInstance(p, dict, j)
        for k in ("done", "total", "unit"):
            self.assertIn(k, p, j)
        self.assertEqual(p["done"], p["total"], j)
        return j

    def lifecycle_run(self, repo: Optional[str] = None, dry_run: bool = False) -> dict:
        payload = {"dryRun": dry_run}
        if repo is not None:
            payload["repositoryName"] = repo
        j = self.wait_job(self.start_job("StartLifecycleRun", payload))
        self.assertIs(j.get("dryRun"), dry_run, j)
        s = j["summary"]
        for k in ("repositoriesEvaluated", "imagesExpired", "imagesTransitioned", "actions"):
            self.assertIn(k, s, j)
        return j

    def gc(self, dry_run: bool = False) -> dict:
        j = self.wait_job(self.start_job("StartGarbageCollection", {"dryRun": dry_run}))
        self.assertIs(j.get("dryRun"), dry_run, j)
        for k in ("blobsDeleted", "bytesDeleted", "linksDeleted", "uploadsPurged",
                  "orphanFilesDeleted", "bytesReclaimable"):
            self.assertIn(k, j["summary"], j)
        return j

    # ---------------------------------------------------------- metrics and audit
    def metrics(self) -> dict:
        r = self.request("GET", "/metrics")
        self.assertStatus(r, 200)
        return parse_metrics(r.body.decode())

    def audit_lines(self, pred, want: int, timeout: float = 5.0) -> list:
        """Audit entries matching pred; waits (group commit) until there are `want`."""
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


# ===================================================================== 1. validation
class TestPolicyValidation(LifecycleTestCase):
    """PutLifecyclePolicy refuses what ECR refuses, with InvalidParameterException whose
    message names the offending rule's priority; stores nothing then."""

    def setUp(self):
        super().setUp()
        self.repo = self.create_repo("lpv")

    def assertRefused(self, text: str, priority=None) -> str:
        shown = text if len(text) < 600 else text[:300] + "...(%d chars)" % len(text)
        try:
            self.ecr_raw.put_lifecycle_policy(repositoryName=self.repo, lifecyclePolicyText=text)
        except ClientError as e:
            resp = e.response
        else:
            self.fail("policy accepted: %s" % shown)
        self.assertEqual(resp["Error"]["Code"], "InvalidParameterException",
                         "%s for %s" % (resp["Error"], shown))
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 400)
        msg = resp["Error"].get("Message", "")
        self.assertTrue(msg, resp)
        prios = [priority] if isinstance(priority, int) else list(priority or [])
        if prios:
            self.assertTrue(any(re.search(r"(?i)priority\D{0,40}\b%d\b" % p, msg) for p in prios),
                            "message should name rule priority %s: %r" % (priority, msg))
        self.assertEcrError("LifecyclePolicyNotFoundException", self.ecr.get_lifecycle_policy,
                            repositoryName=self.repo)
        return msg

    def accepted(self, text: str) -> dict:
        r = self.put_policy(self.repo, text)
        self.assertEqual(r["repositoryName"], self.repo)
        self.assertEqual(json.loads(r["lifecyclePolicyText"]), json.loads(text))
        got = self.ecr.get_lifecycle_policy(repositoryName=self.repo)
        self.assertEqual(got["lifecyclePolicyText"], r["lifecyclePolicyText"])
        return r

    # --- one test per refusal
    def test_both_lists_in_one_rule(self):
        self.assertRefused(policy(rule(1, "tagged", prefixes=["ok"]),
                                  rule(37, "tagged", prefixes=["p"], patterns=["p*"])), 37)

    def test_list_on_untagged(self):
        self.assertRefused(policy(rule(37, "untagged", patterns=["x*"])), 37)
        self.assertRefused(policy(rule(37, "untagged", prefixes=["x"])), 37)

    def test_list_on_any(self):
        # "The tagPatternList or tagPrefixList parameters may only used if the tagStatus is
        # tagged."
        self.assertRefused(policy(rule(37, "any", prefixes=["x"])), 37)

    def test_tagged_without_lists(self):
        self.assertRefused(policy(rule(37, "tagged")), 37)

    def test_count_unit_on_image_count_more_than(self):
        self.assertRefused(policy(rule(37, "any", count_unit="days")), 37)

    def test_missing_count_unit_on_since_image_pushed(self):
        self.assertRefused(policy(rule(37, "untagged", count_type="sinceImagePushed",
                                       count_number=14)), 37)

    def test_any_rule_not_last(self):
        self.assertRefused(policy(rule(3, "any"), rule(8, "tagged", prefixes=["v"])), 3)

    def test_51_rules(self):
        rules = [rule(i, "tagged", prefixes=["p%d-" % i]) for i in range(1, 52)]
        self.assertRefused(policy(*rules))

    def test_text_too_short(self):
        text = '{"rules":[{"rulePriority":1}]}'
        self.assertLess(len(text), 100)
        self.assertRefused(text)

    def test_text_too_long(self):
        base = policy(rule(1, "untagged", count_type="sinceImagePushed", count_unit="days",
                           count_number=14))
        text = base + " " * (30721 - len(base))
        self.assertEqual(len(text), 30721)
        self.assertRefused(text)

    def test_duplicate_priorities(self):
        self.assertRefused(policy(rule(5, "tagged", prefixes=["a"]),
                                  rule(5, "tagged", prefixes=["b"])), 5)

    def test_five_wildcards(self):
        self.assertRefused(policy(rule(37, "tagged", patterns=["*a*b*c*d*"])), 37)
        self.assertRefused(policy(rule(37, "tagged", patterns=["test*1*2*3*4*5*6"])), 37)

    def test_since_image_pulled_with_expire(self):
        self.assertRefused(policy(rule(37, "any", count_type="sinceImagePulled",
                                       count_unit="days", count_number=90)), 37)

    def test_since_image_transitioned_without_archive_storage_class(self):
        self.assertRefused(policy(rule(37, "any", count_type="sinceImageTransitioned",
                                       count_unit="days", count_number=365)), 37)
        self.assertRefused(policy(rule(37, "any", count_type="sinceImageTransitioned",
                                       count_unit="days", count_number=365,
                                       storage_class="standard")), 37)

    def test_transition_without_target_storage_class(self):
        self.assertRefused(policy(rule(37, "any", count_type="sinceImagePushed",
                                       count_unit="days", count_number=30,
                                       action="transition")), 37)

    def test_other_documented_refusals(self):
        """The remaining negative vectors of the specification (section 3.4)."""
        cases = {
            "countNumber 0": (rule(37, "any", count_number=0), 37),
            "sinceImageTransitioned < 90 days": (
                rule(37, "any", count_type="sinceImageTransitioned", count_unit="days",
                     count_number=30, storage_class="archive"), 37),
            "sinceImageTransitioned with transition": (
                rule(37, "any", count_type="sinceImageTransitioned", count_unit="days",
                     count_number=365, storage_class="archive", action="transition",
                     target="archive"), 37),
            "archive storage class with sinceImagePushed": (
                rule(37, "any", count_type="sinceImagePushed", count_unit="days",
                     count_number=30, storage_class="archive"), 37),
            "targetStorageClass standard": (
                rule(37, "any", count_type="sinceImagePushed", count_unit="days",
                     count_number=30, action="transition", target="standard"), 37),
        }
        for name, (r, prio) in cases.items():
            with self.subTest(name):
                self.assertRefused(policy(r), prio)
        with self.subTest("two untagged rules"):
            self.assertRefused(policy(
                rule(4, "untagged", count_type="sinceImagePushed", count_unit="days",
                     count_number=14),
                rule(9, "untagged")), (4, 9))
        with self.subTest("targetStorageClass null"):
            r = rule(37, "any")
            r["action"]["targetStorageClass"] = None
            self.assertRefused(policy(r), 37)

    def test_invalid_text_refused_by_preview_too(self):
        self.assertEcrError("InvalidParameterException",
                            self.ecr.start_lifecycle_policy_preview, repositoryName=self.repo,
                            lifecyclePolicyText=policy(rule(3, "any"),
                                                       rule(8, "tagged", prefixes=["v"])))
        self.assertEcrError("LifecyclePolicyPreviewNotFoundException",
                            self.ecr.get_lifecycle_policy_preview, repositoryName=self.repo)

    def test_unknown_repository(self):
        self.assertEcrError("RepositoryNotFoundException", self.ecr.put_lifecycle_policy,
                            repositoryName=unique_repo("nolp"),
                            lifecyclePolicyText=policy(rule(1, "any")))

    # --- valid edge cases
    def test_priority_gaps_accepted(self):
        self.accepted(policy(rule(1, "tagged", prefixes=["a"]),
                             rule(10, "untagged", count_type="sinceImagePushed",
                                  count_unit="days", count_number=3),
                             rule(100, "any", count_number=5)))

    def test_exactly_50_rules_accepted(self):
        rules = [rule(i, "tagged", prefixes=["p%d-" % i]) for i in range(1, 51)]
        self.accepted(policy(*rules))

    def test_four_wildcards_accepted(self):
        # The documentation's own valid example.
        self.accepted(policy(rule(1, "tagged", patterns=["*test*1*2*3", "test*1*2*3*"])))

    def test_text_of_30720_chars_accepted(self):
        base = policy(rule(1, "untagged", count_type="sinceImagePushed", count_unit="days",
                           count_number=14))
        text = base + " " * (30720 - len(base))
        r = self.accepted(text)
        self.assertEqual(r["lifecyclePolicyText"], minified(base))

    def test_documented_valid_policies_accepted(self):
        docs = {
            "combining archive and expire (TV13)": policy(
                rule(1, "any", count_type="sinceImagePushed", count_unit="days",
                     count_number=30, action="transition", target="archive"),
                rule(2, "any", count_type="sinceImageTransitioned", count_unit="days",
                     count_number=365, storage_class="archive")),
            "untagged and any (TV10)": policy(
                rule(1, "tagged", patterns=["alpha*"]),
                rule(2, "untagged", count_type="sinceImagePushed", count_unit="days",
                     count_number=1),
                rule(3, "any")),
            "not pulled in 90 days (TV2)": policy(
                rule(1, "any", count_type="sinceImagePulled", count_unit="days",
                     count_number=90, action="transition", target="archive")),
            "explicit standard storage class": policy(
                rule(1, "tagged", prefixes=["rel"], storage_class="standard")),
            "prefix and pattern lists in different rules": policy(
                rule(1, "tagged", prefixes=["prod"]), rule(2, "tagged", patterns=["beta*"])),
            "transition by count": policy(
                rule(1, "any", count_number=1, action="transition", target="archive")),
        }
        for name, text in docs.items():
            with self.subTest(name):
                self.accepted(text)

    def test_text_stored_minified_and_crud(self):
        obj = {"rules": [{"rulePriority": 1, "description": "Expire images older than 14 days",
                          "selection": {"tagStatus": "untagged",
                                        "countType": "sinceImagePushed", "countUnit": "days",
                                        "countNumber": 14},
                          "action": {"type": "expire"}}]}
        text = json.dumps(obj, indent=4)
        want = json.dumps(obj, separators=(",", ":"))
        r = self.put_policy(self.repo, text)
        self.assertEqual(r["lifecyclePolicyText"], want)
        self.assertEqual(r["registryId"], self.registry_id)
        got = self.ecr.get_lifecycle_policy(repositoryName=self.repo)
        self.assertEqual(got["lifecyclePolicyText"], want)
        self.assertEqual(got["repositoryName"], self.repo)
        self.assertIn("lastEvaluatedAt", got)
        deleted = self.ecr.delete_lifecycle_policy(repositoryName=self.repo)
        self.assertEqual(deleted["lifecyclePolicyText"], want)
        self.assertEcrError("LifecyclePolicyNotFoundException", self.ecr.get_lifecycle_policy,
                            repositoryName=self.repo)
        self.assertEcrError("LifecyclePolicyNotFoundException",
                            self.ecr.delete_lifecycle_policy, repositoryName=self.repo)

    def test_put_replaces_policy(self):
        self.put_policy(self.repo, policy(rule(1, "any", count_number=5)))
        self.put_policy(self.repo, policy(rule(1, "any", count_number=7)))
        got = json.loads(self.ecr.get_lifecycle_policy(
            repositoryName=self.repo)["lifecyclePolicyText"])
        self.assertEqual(got["rules"][0]["selection"]["countNumber"], 7)


# ================================================================= preview API
class TestPreviewApi(LifecycleTestCase):
    def test_errors_before_any_preview(self):
        repo = self.create_repo("pv-none")
        self.assertEcrError("LifecyclePolicyPreviewNotFoundException",
                            self.ecr.get_lifecycle_policy_preview, repositoryName=repo)
        # No text and no policy on the repository.
        self.assertEcrError("LifecyclePolicyNotFoundException",
                            self.ecr.start_lifecycle_policy_preview, repositoryName=repo)
        self.assertEcrError("RepositoryNotFoundException",
                            self.ecr.start_lifecycle_policy_preview,
                            repositoryName=unique_repo("pv-missing"),
                            lifecyclePolicyText=policy(rule(1, "any")))

    def test_preview_uses_stored_policy_and_changes_nothing(self):
        repo = self.create_repo("pv-stored")
        imgs = [self.push(repo, ["v%d" % i]) for i in range(3)]
        self.age(repo, {img.digest: 3 - i for i, img in enumerate(imgs)})
        text = policy(rule(1, "any", count_number=1))
        self.put_policy(repo, text)
        before = self.ecr.get_lifecycle_policy(repositoryName=repo)["lastEvaluatedAt"]
        results, summary, page = self.preview(repo)
        self.assertEqual(json.loads(page["lifecyclePolicyText"]), json.loads(text))
        self.assertEqual({r["imageDigest"] for r in results}, {imgs[0].digest, imgs[1].digest})
        self.assertEqual(summary, {"expiringImageTotalCount": 2})
        # A preview is not an evaluation: nothing removed, lastEvaluatedAt unchanged.
        self.assertEqual(set(self.images(repo)), {i.digest for i in imgs})
        self.assertEqual(self.ecr.get_lifecycle_policy(repositoryName=repo)["lastEvaluatedAt"],
                         before)

    def test_preview_with_text_does_not_store_it(self):
        repo = self.create_repo("pv-text")
        imgs = [self.push(repo, ["v%d" % i]) for i in range(2)]
        self.age(repo, {imgs[0].digest: 2, imgs[1].digest: 1})
        results, summary, _ = self.preview(repo, policy(rule(1, "any", count_number=1)))
        self.assertEqual([r["imageDigest"] for r in results], [imgs[0].digest])
        self.assertEcrError("LifecyclePolicyNotFoundException", self.ecr.get_lifecycle_policy,
                            repositoryName=repo)
        self.assertEqual(set(self.images(repo)), {i.digest for i in imgs})

    def test_nothing_to_expire(self):
        repo = self.create_repo("pv-empty")
        self.push(repo, ["only"])
        results, summary, page = self.preview(
            repo, policy(rule(1, "untagged", count_type="sinceImagePushed", count_unit="days",
                              count_number=14)))
        self.assertEqual(results, [])
        self.assertEqual(page.get("previewResults"), [])
        # "transitioningImageTotalCounts ... only present if at least one image will be
        # transitioned"
        self.assertEqual(summary, {"expiringImageTotalCount": 0})
        self.assertNotIn("nextToken", page)

    def test_paging_filters_and_image_ids(self):
        repo = self.create_repo("pv-page")
        tagged = [self.push(repo, ["t-%d" % i]) for i in range(5)]
        untagged = [self.push(repo) for _ in range(2)]
        keep = self.push(repo, ["newest"])
        ages = {img.digest: 10 + i for i, img in enumerate(tagged + untagged)}
        ages[keep.digest] = 1
        self.age(repo, ages)
        self.put_policy(repo, policy(rule(1, "any", count_number=1)))
        all_results, summary, _ = self.preview(repo)
        expiring = {i.digest for i in tagged + untagged}
        self.assertEqual({r["imageDigest"] for r in all_results}, expiring)
        self.assertEqual(len(all_results), 7)
        self.assertEqual(summary["expiringImageTotalCount"], 7)

        # maxResults / nextToken by hand.
        seen, token, pages = [], None, 0
        while True:
            args = {"repositoryName": repo, "maxResults": 2}
            if token:
                args["nextToken"] = token
            p = self.ecr.get_lifecycle_policy_preview(**args)
            pages += 1
            self.assertLessEqual(len(p["previewResults"]), 2)
            # The summary covers the whole preview on every page.
            self.assertEqual(p["summary"]["expiringImageTotalCount"], 7, p)
            seen += [r["imageDigest"] for r in p["previewResults"]]
            token = p.get("nextToken")
            if not token:
                break
            self.assertLess(pages, 10)
        self.assertEqual(pages, 4)
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(set(seen), expiring)
        for bad in (0, 101):
            with self.subTest(maxResults=bad):
                self.assertEcrError("InvalidParameterException",
                                    self.ecr_raw.get_lifecycle_policy_preview,
                                    repositoryName=repo, maxResults=bad)
        p = self.ecr.get_lifecycle_policy_preview(repositoryName=repo, maxResults=100)
        self.assertEqual(len(p["previewResults"]), 7)

        # filter.tagStatus
        p = self.ecr.get_lifecycle_policy_preview(repositoryName=repo,
                                                  filter={"tagStatus": "TAGGED"})
        self.assertEqual({r["imageDigest"] for r in p["previewResults"]},
                         {i.digest for i in tagged})
        p = self.ecr.get_lifecycle_policy_preview(repositoryName=repo,
                                                  filter={"tagStatus": "UNTAGGED"})
        self.assertEqual({r["imageDigest"] for r in p["previewResults"]},
                         {i.digest for i in untagged})
        p = self.ecr.get_lifecycle_policy_preview(repositoryName=repo,
                                                  filter={"tagStatus": "ANY"})
        self.assertEqual(len(p["previewResults"]), 7)

        # imageIds
        p = self.ecr.get_lifecycle_policy_preview(
            repositoryName=repo, imageIds=[{"imageDigest": untagged[0].digest},
                                           {"imageTag": "t-2"}])
        self.assertEqual({r["imageDigest"] for r in p["previewResults"]},
                         {untagged[0].digest, tagged[2].digest})
        self.assertEcrError("InvalidParameterException",
                            self.ecr_raw.get_lifecycle_policy_preview, repositoryName=repo,
                            imageIds=[{"imageTag": "t-2"}], maxResults=5)

    def test_concurrent_starts(self):
        """A Start while a preview of the repository is IN_PROGRESS fails with
        LifecyclePolicyPreviewInProgressException. Previews of a small repository finish in
        milliseconds, so 8 simultaneous Starts are sent: each must either start (IN_PROGRESS)
        or be refused with that exception (no other error), and the preview that remains is
        COMPLETE and right. A second Start after completion is accepted."""
        repo = self.create_repo("pv-busy")
        for i in range(30):
            self.push(repo, ["b%d" % i])
        text = policy(rule(1, "any", count_number=1))
        clients = [ecr_client(self.berth) for _ in range(8)]
        barrier = threading.Barrier(len(clients))
        outcomes = [None] * len(clients)

        def start(i):
            barrier.wait()
            try:
                r = clients[i].start_lifecycle_policy_preview(repositoryName=repo,
                                                              lifecyclePolicyText=text)
                outcomes[i] = r["status"]
            except ClientError as e:
                outcomes[i] = e.response["Error"]["Code"]
            except Exception as e:  # noqa: BLE001 - reported below
                outcomes[i] = repr(e)

        threads = [threading.Thread(target=start, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        sys.stderr.write("[concurrent preview starts: %r] " % outcomes)
        self.assertIn("IN_PROGRESS", outcomes)
        for o in outcomes:
            self.assertIn(o, ("IN_PROGRESS", "LifecyclePolicyPreviewInProgressException"),
                          outcomes)
        self.ecr.get_waiter("lifecycle_policy_preview_complete").wait(
            repositoryName=repo, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        p = self.ecr.get_lifecycle_policy_preview(repositoryName=repo)
        self.assertEqual(p["status"], "COMPLETE")
        self.assertEqual(p["summary"]["expiringImageTotalCount"], 29)
        self.assertEqual(len(p["previewResults"]), 29)
        r = self.ecr.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=text)
        self.assertEqual(r["status"], "IN_PROGRESS")


# ============================================================ 2. worked examples
class TestWorkedExamples(LifecycleTestCase):
    """The documented examples (spec section 3.4): preview, then a real StartLifecycleRun;
    the survivors are the documented ones and the preview's images are exactly the ones the
    run deleted."""

    def build(self, vector: list) -> tuple:
        """vector: [(name, [tags], age in days)] → (repo, {name: Img}). Push times are set
        to now - age, so the order is the vector's (ages are distinct)."""
        repo = self.create_repo("tv")
        imgs = {}
        for name, tags, _ in vector:
            imgs[name] = self.push(repo, tags)
        self.pushed_at = self.age(repo, {imgs[n].digest: a for n, _, a in vector})
        return repo, imgs

    def check_example(self, repo: str, imgs: dict, text: str, expected: dict) -> dict:
        """expected: {name: appliedRulePriority, or None when any priority will do}: the
        images the documentation says go. Returns the lifecycle job."""
        self.put_policy(repo, text)
        results, summary, _ = self.preview(repo)
        by_digest = {r["imageDigest"]: r for r in results}
        self.assertEqual(len(by_digest), len(results), "an image listed twice: %r" % results)
        names = {i.digest: n for n, i in imgs.items()}
        want = {imgs[n].digest: p for n, p in expected.items()}
        self.assertEqual(sorted(names.get(d, d) for d in by_digest), sorted(expected),
                         "preview differs from the documented result")
        for d, p in want.items():
            if p is not None:
                self.assertEqual(by_digest[d].get("appliedRulePriority"), p,
                                 "appliedRulePriority of %s: %r" % (names[d], by_digest[d]))
        for d, r in by_digest.items():
            self.assertEqual(r["action"]["type"], "EXPIRE", r)
            self.assertEqual(r.get("storageClass"), "STANDARD", r)
            img = imgs.get(names.get(d))
            if img is not None:
                self.assertEqual(sorted(r.get("imageTags") or []), sorted(img.tags), r)
                if d in self.pushed_at:
                    self.assertAlmostEqual(r["imagePushedAt"].timestamp(), self.pushed_at[d],
                                           delta=1.5)
        self.assertEqual(summary.get("expiringImageTotalCount"), len(results), summary)
        self.assertNotIn("transitioningImageTotalCounts", summary)

        before = set(self.images(repo))
        job = self.lifecycle_run(repo)
        after = set(self.images(repo))
        deleted = before - after
        self.assertEqual(sorted(names.get(d, d) for d in deleted),
                         sorted(names.get(d, d) for d in by_digest),
                         "the preview's images are not the images the run deleted")
        self.assertEqual(sorted(names.get(d, d) for d in deleted), sorted(expected),
                         "the run did not delete what the documentation says")
        s = job["summary"]
        self.assertEqual(s["repositoriesEvaluated"], 1, job)
        self.assertEqual(s["imagesExpired"], len(deleted), job)
        self.assertEqual(s["imagesTransitioned"], 0, job)
        acts = {a["imageDigest"]: a for a in s["actions"]}
        self.assertEqual(set(acts), deleted, job)
        for d, p in want.items():
            if p is not None:
                self.assertEqual(acts[d]["appliedRulePriority"], p, acts[d])
            self.assertEqual(acts[d]["repositoryName"], repo, acts[d])
            self.assertEqual(str(acts[d]["action"]).upper(), "EXPIRE", acts[d])
        for n, img in imgs.items():
            if img.digest in deleted:
                for t in img.tags:
                    self.assertNotPullable(repo, t)
                self.assertNotPullable(repo, img.digest)
            elif img.tags:
                self.assertEqual(self.get_manifest(repo, img.tags[0]).status, 200, n)
        return job

    REPO_AB = [("A", ["beta-1", "prod-1"], 10), ("B", ["beta-2", "prod-2"], 9),
               ("C", ["beta-3"], 8)]

    def test_tv1_tag_pattern_age(self):
        repo, imgs = self.build([("prod1", ["prod-1"], 20), ("prod2", ["prod-2"], 3),
                                 ("dev1", ["dev-1"], 30), ("untagged", [], 30)])
        self.check_example(repo, imgs, policy(
            rule(1, "tagged", patterns=["prod*"], count_type="sinceImagePushed",
                 count_unit="days", count_number=14,
                 description="Expire images older than 14 days")), {"prod1": 1})

    def test_tv1_old_untagged_since_image_pushed(self):
        repo, imgs = self.build([("u-old", [], 20), ("u-new", [], 3), ("t-old", ["v1"], 30)])
        self.check_example(repo, imgs, policy(
            rule(1, "untagged", count_type="sinceImagePushed", count_unit="days",
                 count_number=14)), {"u-old": 1})

    def test_tv4_untagged_image_count(self):
        repo, imgs = self.build([("T", ["t"], 5), ("U1", [], 3), ("U2", [], 2), ("U3", [], 1)])
        self.check_example(repo, imgs, policy(rule(1, "untagged", count_number=1)),
                           {"U1": 1, "U2": 1})

    def test_tv5_multiple_rules_example_a_patterns(self):
        repo, imgs = self.build(self.REPO_AB)
        self.check_example(repo, imgs, policy(rule(1, "tagged", patterns=["prod*"]),
                                              rule(2, "tagged", patterns=["beta*"])), {"A": 1})

    def test_tv5_multiple_rules_example_a_prefixes(self):
        repo, imgs = self.build(self.REPO_AB)
        self.check_example(repo, imgs, policy(rule(1, "tagged", prefixes=["prod"]),
                                              rule(2, "tagged", prefixes=["beta"])), {"A": 1})

    def test_tv6_multiple_rules_example_b(self):
        repo, imgs = self.build(self.REPO_AB)
        self.check_example(repo, imgs, policy(rule(1, "tagged", prefixes=["beta"]),
                                              rule(2, "tagged", patterns=["prod*"])),
                           {"A": 1, "B": 1})

    def test_tv7_multiple_tags_in_one_rule_a(self):
        repo, imgs = self.build([("A", ["alpha-1"], 12), ("B", ["beta-1"], 11),
                                 ("C", ["alpha-2", "beta-2"], 10), ("D", ["alpha-3"], 4),
                                 ("E", ["beta-3"], 3), ("F", ["alpha-4", "beta-4"], 2)])
        self.check_example(repo, imgs, policy(
            rule(1, "tagged", patterns=["alpha*", "beta*"], count_type="sinceImagePushed",
                 count_unit="days", count_number=5)), {"C": 1})

    def test_tv8_tags_are_not_exclusive(self):
        repo, imgs = self.build([("A", ["alpha-1", "beta-1", "gamma-1"], 10),
                                 ("B", ["alpha-2", "beta-2"], 9),
                                 ("C", ["alpha-3", "beta-3", "gamma-2"], 8)])
        self.check_example(repo, imgs, policy(rule(1, "tagged", prefixes=["alpha", "beta"])),
                           {"A": 1, "B": 1})

    def test_tv9_all_images(self):
        repo, imgs = self.build([("A", ["alpha-1"], 4), ("B", ["beta-1"], 3), ("C", [], 2),
                                 ("D", ["alpha-2"], 1)])
        self.check_example(repo, imgs, policy(rule(1, "any", count_number=1)),
                           {"A": 1, "B": 1, "C": 1})

    def test_tv10_priorities_counted_but_not_acted_on(self):
        # "git hash" in the documentation is not a valid OCI tag: "githash" stands for it.
        repo, imgs = self.build([("A", ["alpha-1", "beta-1"], 4), ("B", [], 3),
                                 ("C", ["alpha-2"], 2), ("D", ["githash"], 23 / 24),
                                 ("E", [], 22 / 24)])
        self.check_example(repo, imgs, policy(
            rule(1, "tagged", patterns=["alpha*"]),
            rule(2, "untagged", count_type="sinceImagePushed", count_unit="days",
                 count_number=1),
            rule(3, "any")), {"A": 1, "B": 2, "D": 3})

    def test_index_children_are_protected(self):
        """"If an image is referenced by a manifest list, it cannot be expired ... without the
        manifest list being deleted ... first": old untagged children of a surviving index
        stay (and so are not in the preview), while an old untagged standalone image goes."""
        repo = self.create_repo("tv-index")
        c1, c2 = self.push(repo), self.push(repo)
        index = self.push_index(repo, [c1, c2], tags=["multi"])
        lone = self.push(repo)
        imgs = {"child1": c1, "child2": c2, "index": index, "lone": lone}
        self.pushed_at = self.age(repo, {c1.digest: 20, c2.digest: 20, index.digest: 19,
                                         lone.digest: 20})
        self.check_example(repo, imgs, policy(
            rule(1, "untagged", count_type="sinceImagePushed", count_unit="days",
                 count_number=5)), {"lone": 1})
        self.assertPulls(repo, c1.digest, c1)
        self.assertPulls(repo, c2.digest, c2)

    def test_referrers_go_with_their_subject(self):
        """An artifact whose `subject` is an expired image is removed with it; the referrer
        of a surviving image stays."""
        repo = self.create_repo("tv-refs")
        old = self.push(repo, ["old-1"])
        new = self.push(repo, ["new-1"])
        sbom_old = self.push(repo, subject=old, artifact_type=SBOM_TYPE)
        sbom_new = self.push(repo, subject=new, artifact_type=SBOM_TYPE)
        imgs = {"old": old, "new": new, "sbom-of-old": sbom_old, "sbom-of-new": sbom_new}
        self.pushed_at = self.age(repo, {old.digest: 10, new.digest: 1})
        # The referrer's appliedRulePriority is not documented: any value is accepted (None).
        self.check_example(repo, imgs, policy(
            rule(1, "tagged", prefixes=["old"], count_type="sinceImagePushed",
                 count_unit="days", count_number=5)), {"old": 1, "sbom-of-old": None})
        r = self.ecr.list_image_referrers(repositoryName=repo,
                                          subjectId={"imageDigest": new.digest})
        self.assertEqual([x["digest"] for x in r["referrers"]], [sbom_new.digest])


# =================================================== 3. dry run, audit and metrics
class TestLifecycleRuns(LifecycleTestCase):
    def test_dry_run_changes_nothing_then_real_run_is_audited_and_counted(self):
        repo = self.create_repo("run")
        imgs = [self.push(repo, ["r-%d" % i]) for i in range(4)]
        untagged = self.push(repo)
        self.age(repo, {img.digest: 10 - i for i, img in enumerate(imgs)})
        self.age(repo, {untagged.digest: 30})
        self.put_policy(repo, policy(
            rule(2, "untagged", count_type="sinceImagePushed", count_unit="days",
                 count_number=7),
            rule(5, "tagged", prefixes=["r-"], count_number=2)))
        want = {imgs[0].digest: 5, imgs[1].digest: 5, untagged.digest: 2}
        m0 = self.metrics()
        evaluated0 = self.ecr.get_lifecycle_policy(repositoryName=repo)["lastEvaluatedAt"]

        dry = self.lifecycle_run(repo, dry_run=True)
        s = dry["summary"]
        self.assertEqual({a["imageDigest"]: a["appliedRulePriority"] for a in s["actions"]},
                         want, dry)
        self.assertEqual(s["imagesExpired"], 3, dry)
        self.assertEqual(set(self.images(repo)), {i.digest for i in imgs + [untagged]},
                         "a dry run removed images")
        for img in imgs:
            self.assertPulls(repo, img.tags[0], img)
        self.assertEqual(self.metrics().get("berth_lifecycle_images_expired_total", 0),
                         m0.get("berth_lifecycle_images_expired_total", 0),
                         "a dry run counted expirations")
        self.assertEqual(self.audit_lines(lambda e: e.get("api") == "lifecycle"
                                          and e.get("repository") == repo, 1, timeout=1.5), [],
                         "a dry run wrote lifecycle audit lines")

        t0 = time.time()
        real = self.lifecycle_run(repo)
        self.assertEqual({a["imageDigest"]: a["appliedRulePriority"]
                          for a in real["summary"]["actions"]}, want, real)
        for a in real["summary"]["actions"]:
            self.assertEqual(a["repositoryName"], repo, a)
            if a["imageDigest"] == untagged.digest:
                self.assertFalse(a.get("imageTags"), a)
            else:
                self.assertEqual(a["imageTags"], [next(i.tags[0] for i in imgs
                                                       if i.digest == a["imageDigest"])], a)
        self.assertEqual(set(self.images(repo)), {imgs[2].digest, imgs[3].digest})

        lines = self.audit_lines(lambda e: e.get("api") == "lifecycle"
                                 and e.get("repository") == repo, 3)
        self.assertEqual(len(lines), 3, lines)
        by_digest = {e.get("image_digest"): e for e in lines}
        self.assertEqual(set(by_digest), set(want), lines)
        for d, prio in want.items():
            e = by_digest[d]
            self.assertEqual(e.get("action"), "lifecycle:Expire", e)
            self.assertEqual(e.get("rule_priority"), prio, e)
            img = next((i for i in imgs if i.digest == d), None)
            self.assertEqual(e.get("image_tags"), list(img.tags) if img else [], e)

        m1 = self.metrics()
        self.assertEqual(m1.get("berth_lifecycle_images_expired_total", 0)
                         - m0.get("berth_lifecycle_images_expired_total", 0), 3,
                         "berth_lifecycle_images_expired_total")
        evaluated = self.ecr.get_lifecycle_policy(repositoryName=repo)["lastEvaluatedAt"]
        self.assertGreater(evaluated.timestamp(), evaluated0.timestamp())
        self.assertAlmostEqual(evaluated.timestamp(), t0, delta=30)

        # A second run has nothing left to do.
        again = self.lifecycle_run(repo)
        self.assertEqual(again["summary"]["actions"], [], again)
        self.assertEqual(again["summary"]["imagesExpired"], 0, again)

    def test_admin_api_errors(self):
        r = self.admin("StartLifecycleRun", {"repositoryName": unique_repo("norun"),
                                             "dryRun": True})
        self.assertEqual(r.status, 400, r.describe())
        self.assertIn("RepositoryNotFoundException", r.json().get("__type", ""), r.describe())
        r = self.admin("DescribeJob", {"jobId": "no-such-job-" + uuid.uuid4().hex})
        self.assertTrue(400 <= r.status < 500, r.describe())
        self.assertTrue(r.json().get("__type"), r.describe())
        # The admin API is SigV4 like the ECR API.
        r = admin_request(self.berth, "StartGarbageCollection", {"dryRun": True},
                          secret="wrong-" + ADMIN_SECRET_ACCESS_KEY)
        self.assertTrue(400 <= r.status < 500, r.describe())
        r = self.request("POST", "/", b'{"dryRun":true}',
                         {"Content-Type": AMZ_JSON,
                          "X-Amz-Target": ADMIN_TARGET_PREFIX + "StartGarbageCollection"})
        self.assertTrue(400 <= r.status < 500, "unsigned admin call: " + r.describe())


class TestLifecycleRunAllRepositories(LifecycleTestCase):
    def test_run_without_repository_evaluates_every_policy(self):
        repos, doomed, kept = [], set(), set()
        for n in range(3):
            repo = self.create_repo("all")
            a, b = self.push(repo, ["a"]), self.push(repo, ["b"])
            self.age(repo, {a.digest: 2, b.digest: 1})
            self.put_policy(repo, policy(rule(1, "any", count_number=1)))
            repos.append(repo)
            doomed.add((repo, a.digest))
            kept.add((repo, b.digest))
        no_policy = self.create_repo("all-nopolicy")
        x, y = self.push(no_policy, ["x"]), self.push(no_policy, ["y"])
        self.age(no_policy, {x.digest: 50, y.digest: 40})
        job = self.lifecycle_run()
        s = job["summary"]
        self.assertGreaterEqual(s["repositoriesEvaluated"], 3, job)
        self.assertEqual({(a["repositoryName"], a["imageDigest"]) for a in s["actions"]}, doomed)
        self.assertEqual(s["imagesExpired"], 3)
        for repo in repos:
            self.assertEqual({(repo, d) for d in self.images(repo)},
                             {k for k in kept if k[0] == repo})
        self.assertEqual(set(self.images(no_policy)), {x.digest, y.digest})


# ===================================================================== 4. archive tier
class TestArchive(LifecycleTestCase):
    berth_env = dict(QUIET_ENV, BERTH_GC_GRACE_PERIOD="1s", BERTH_GC_INTERVAL="0")

    def setUp(self) -> None:
        super().setUp()
        # The archive storage class arrived in botocore in 2025; Debian 12's python3-boto3 is
        # older (berth's CI machines have a current one from pip).
        import botocore.session
        model = botocore.session.get_session().get_service_model("ecr")
        if "UpdateImageStorageClass" not in model.operation_names:
            self.skipTest("this botocore predates ECR's archive storage class")

    def wait_status(self, repo: str, digest: str, want: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            d = self.images(repo).get(digest)
            self.assertIsNotNone(d, "image %s disappeared" % digest)
            if d.get("imageStatus") == want:
                return d
            if time.monotonic() > deadline:
                self.fail("image %s is %s after %.0f s, not %s"
                          % (digest, d.get("imageStatus"), timeout, want))
            time.sleep(0.2)

    def test_transition_rule_archive_restore_and_repush(self):
        repo = self.create_repo("arch")
        other_repo = self.create_repo("arch-other")
        lab, lac, lx = os.urandom(700), os.urandom(701), os.urandom(702)
        a = self.push(repo, ["a"], shared=[lab, lac, lx])   # oldest: archived
        b = self.push(repo, ["b"], shared=[lab])            # archived
        c = self.push(repo, ["c"], shared=[lac])            # newest: stays ACTIVE
        o = self.push(other_repo, ["o"], shared=[lx])       # another repository, ACTIVE
        self.age(repo, {a.digest: 3, b.digest: 2, c.digest: 1})
        self.put_policy(repo, policy(rule(1, "any", count_number=1, action="transition",
                                          target="archive")))
        m0 = self.metrics()

        results, summary, _ = self.preview(repo)
        self.assertEqual({r["imageDigest"] for r in results}, {a.digest, b.digest})
        for r in results:
            self.assertEqual(r["action"], {"type": "TRANSITION", "targetStorageClass": "ARCHIVE"})
            self.assertEqual(r["storageClass"], "STANDARD")
            self.assertEqual(r["appliedRulePriority"], 1)
        self.assertEqual(summary, {"expiringImageTotalCount": 0, "transitioningImageTotalCounts":
                                   [{"targetStorageClass": "ARCHIVE", "imageTotalCount": 2}]})

        t0 = time.time()
        job = self.lifecycle_run(repo)
        s = job["summary"]
        self.assertEqual(s["imagesTransitioned"], 2, job)
        self.assertEqual(s["imagesExpired"], 0, job)
        self.assertEqual({x["imageDigest"] for x in s["actions"]}, {a.digest, b.digest}, job)

        # Listed only with an imageStatus filter.
        self.assertEqual(set(self.images(repo, "ACTIVE")), {c.digest})
        self.assertEqual({d["imageDigest"] for d in
                          self.ecr.describe_images(repositoryName=repo)["imageDetails"]},
                         {c.digest})
        archived = self.images(repo, "ARCHIVED")
        self.assertEqual(set(archived), {a.digest, b.digest})
        for d in archived.values():
            self.assertEqual(d["imageStatus"], "ARCHIVED", d)
            self.assertAlmostEqual(d["lastArchivedAt"].timestamp(), t0, delta=30)
        self.assertEqual(set(self.images(repo, "ANY")), {a.digest, b.digest, c.digest})
        self.assertEqual(self.images(repo, "ANY")[c.digest]["imageStatus"], "ACTIVE")
        listed = self.ecr.list_images(repositoryName=repo)["imageIds"]
        self.assertEqual({i["imageDigest"] for i in listed}, {c.digest})
        listed = self.ecr.list_images(repositoryName=repo,
                                      filter={"imageStatus": "ARCHIVED"})["imageIds"]
        self.assertEqual({i["imageDigest"] for i in listed}, {a.digest, b.digest})

        # Blobs: the ones only archived images use moved to archive/; shared with an active
        # image (in this or another repository) stayed.
        for blob in [a.blobs[0], b.blobs[0], a.blobs[-1], b.blobs[-1], lab]:
            self.assertInArea(sha256(blob), "archive")
        for blob in [lac, lx] + c.blobs + o.blobs:
            self.assertInArea(sha256(blob), "blobs")
        self.assertPulls(repo, "c", c)
        self.assertPulls(other_repo, "o", o)

        # Archived images cannot be pulled.
        for ref in ("a", a.digest, "b"):
            self.assertNotPullable(repo, ref)
        r = self.ecr.batch_get_image(repositoryName=repo,
                                     imageIds=[{"imageTag": "a"}, {"imageDigest": b.digest},
                                               {"imageTag": "c"}])
        self.assertEqual([i["imageId"]["imageDigest"] for i in r["images"]], [c.digest])
        self.assertEqual(sorted(f["failureCode"] for f in r["failures"]),
                         ["ImageInaccessible", "ImageInaccessible"], r["failures"])

        # Audit and metrics.
        lines = self.audit_lines(lambda e: e.get("api") == "lifecycle"
                                 and e.get("repository") == repo, 2)
        self.assertEqual({e.get("image_digest") for e in lines}, {a.digest, b.digest}, lines)
        for e in lines:
            self.assertEqual(e.get("action"), "lifecycle:TransitionToArchive", e)
            self.assertEqual(e.get("rule_priority"), 1, e)
        m1 = self.metrics()
        self.assertEqual(m1.get("berth_lifecycle_images_transitioned_total", 0)
                         - m0.get("berth_lifecycle_images_transitioned_total", 0), 2)

        # Garbage collection leaves archived images alone (grace period 1 s here).
        time.sleep(2.2)
        self.gc()
        for blob in [a.blobs[0], b.blobs[0], a.blobs[-1], b.blobs[-1], lab]:
            self.assertInArea(sha256(blob), "archive")

        # Restore A: ACTIVATING, then ACTIVE; byte-identical afterwards.
        self.assertEcrError("ImageStorageClassUpdateNotSupportedException",
                            self.ecr.update_image_storage_class, repositoryName=repo,
                            imageId={"imageDigest": a.digest}, targetStorageClass="ARCHIVE")
        r = self.ecr.update_image_storage_class(repositoryName=repo,
                                                imageId={"imageDigest": a.digest},
                                                targetStorageClass="STANDARD")
        self.assertEqual(r["imageStatus"], "ACTIVATING", r)
        self.assertEqual(r["imageId"]["imageDigest"], a.digest)
        status = self.images(repo)[a.digest]["imageStatus"]
        self.assertIn(status, ("ACTIVATING", "ACTIVE"))
        if status == "ACTIVATING":
            self.assertIn(a.digest, self.images(repo, "ACTIVATING"))
            self.assertNotIn(a.digest, self.images(repo, "ACTIVE"))
            pull = self.get_manifest(repo, "a")
            if self.images(repo)[a.digest]["imageStatus"] == "ACTIVATING":
                self.assertEqual(pull.status, 404, "pull during ACTIVATING: " + pull.describe())
        d = self.wait_status(repo, a.digest, "ACTIVE", timeout=15)
        self.assertAlmostEqual(d["lastActivatedAt"].timestamp(), time.time(), delta=30)
        self.assertIn(a.digest, self.images(repo, "ACTIVE"))
        self.assertPulls(repo, "a", a)
        self.assertPulls(repo, a.digest, a)
        for blob in a.blobs:
            self.assertTrue(os.path.isfile(self.blob_path(sha256(blob))), sha256(blob))
        self.assertEcrError("ImageStorageClassUpdateNotSupportedException",
                            self.ecr.update_image_storage_class, repositoryName=repo,
                            imageId={"imageTag": "a"}, targetStorageClass="STANDARD")

        # Re-push B (as a client does: upload what HEAD does not find, then PUT the
        # manifest): ACTIVE at once, pullable.
        for blob in b.blobs:
            h = self.request("HEAD", "/v2/%s/blobs/%s" % (repo, sha256(blob)))
            if h.status != 200:
                self.upload(repo, blob)
        self.assertStatus(self.put_manifest(repo, "b", b.body, b.media_type), 201)
        self.assertEqual(self.images(repo)[b.digest]["imageStatus"], "ACTIVE")
        self.assertPulls(repo, "b", b)
        self.assertEqual(set(self.images(repo, "ACTIVE")), {a.digest, b.digest, c.digest})
        self.assertEqual(self.images(repo, "ARCHIVED"), {})

    def test_manual_archive_errors_and_delete(self):
        repo = self.create_repo("arch-manual")
        x = self.push(repo, ["x"])
        y = self.push(repo, ["y"])
        self.assertEcrError("ImageStorageClassUpdateNotSupportedException",
                            self.ecr.update_image_storage_class, repositoryName=repo,
                            imageId={"imageTag": "x"}, targetStorageClass="STANDARD")
        self.assertEcrError("ImageNotFoundException", self.ecr.update_image_storage_class,
                            repositoryName=repo, imageId={"imageDigest": random_digest()},
                            targetStorageClass="ARCHIVE")
        self.assertEcrError("ImageNotFoundException", self.ecr.update_image_storage_class,
                            repositoryName=repo, imageId={"imageTag": "nope"},
                            targetStorageClass="ARCHIVE")
        r = self.ecr.update_image_storage_class(repositoryName=repo, imageId={"imageTag": "x"},
                                                targetStorageClass="ARCHIVE")
        self.assertEqual(r["imageStatus"], "ARCHIVED", r)
        self.assertEqual(self.images(repo)[x.digest]["imageStatus"], "ARCHIVED")
        self.assertNotPullable(repo, "x")
        for blob in x.blobs:
            self.assertInArea(sha256(blob), "archive")
        self.assertEcrError("ImageStorageClassUpdateNotSupportedException",
                            self.ecr.update_image_storage_class, repositoryName=repo,
                            imageId={"imageDigest": x.digest}, targetStorageClass="ARCHIVE")
        # BatchDeleteImage works on archived images, at any age.
        r = self.ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": x.digest}])
        self.assertEqual(r["failures"], [], r)
        self.assertNotIn(x.digest, self.images(repo, "ANY"))
        self.assertEqual(set(self.images(repo, "ANY")), {y.digest})
        # ... and garbage collection then removes its archived blobs (grace period 1 s here;
        # times are whole seconds, so 2 s make sure).
        time.sleep(2.2)
        j = self.gc()
        self.assertGreaterEqual(j["summary"]["blobsDeleted"], len(x.blobs), j)
        for blob in x.blobs:
            self.assertFalse(os.path.exists(self.blob_path(sha256(blob), "archive")),
                             "archived blob of a deleted image survived GC")
            self.assertFalse(os.path.exists(self.blob_path(sha256(blob), "blobs")))
        self.assertPulls(repo, "y", y)

    def test_combined_archive_and_expire_tv13(self):
        repo = self.create_repo("arch-tv13")
        p, q, r_, s_ = (self.push(repo, [t]) for t in ("p", "q", "r", "s"))
        for img in (r_, s_):
            self.ecr.update_image_storage_class(repositoryName=repo,
                                                imageId={"imageDigest": img.digest},
                                                targetStorageClass="ARCHIVE")
        self.age(repo, {p.digest: 40, q.digest: 10, r_.digest: 500, s_.digest: 500})
        self.age(repo, {r_.digest: 400, s_.digest: 100}, column="archived_at")
        self.put_policy(repo, policy(
            rule(1, "any", count_type="sinceImagePushed", count_unit="days", count_number=30,
                 action="transition", target="archive",
                 description="Archive images older than 30 days"),
            rule(2, "any", storage_class="archive", count_type="sinceImageTransitioned",
                 count_unit="days", count_number=365,
                 description="Expire images archived for more than 365 days")))
        results, summary, _ = self.preview(repo)
        got = {x["imageDigest"]: (x["action"].get("type"), x["appliedRulePriority"],
                                  x.get("storageClass")) for x in results}
        self.assertEqual(got, {p.digest: ("TRANSITION", 1, "STANDARD"),
                               r_.digest: ("EXPIRE", 2, "ARCHIVE")})
        self.assertEqual(summary, {"expiringImageTotalCount": 1, "transitioningImageTotalCounts":
                                   [{"targetStorageClass": "ARCHIVE", "imageTotalCount": 1}]})
        job = self.lifecycle_run(repo)
        self.assertEqual(job["summary"]["imagesExpired"], 1, job)
        self.assertEqual(job["summary"]["imagesTransitioned"], 1, job)
        st = {d: x["imageStatus"] for d, x in self.images(repo).items()}
        self.assertEqual(st, {p.digest: "ARCHIVED", q.digest: "ACTIVE", s_.digest: "ARCHIVED"})
        self.assertPulls(repo, "q", q)

    def test_since_image_pulled_transitions_tv2(self):
        """TV2: the pull time, else the push time, else (restored and not pulled since) the
        restore time is what `sinceImagePulled` measures."""
        repo = self.create_repo("arch-tv2")
        x, y, z, w = (self.push(repo, [t]) for t in ("x", "y", "z", "w"))
        self.ecr.update_image_storage_class(repositoryName=repo, imageId={"imageTag": "w"},
                                            targetStorageClass="ARCHIVE")
        self.ecr.update_image_storage_class(repositoryName=repo, imageId={"imageTag": "w"},
                                            targetStorageClass="STANDARD")
        self.wait_status(repo, w.digest, "ACTIVE")
        self.age(repo, {x.digest: 200, y.digest: 200, z.digest: 120, w.digest: 200})
        self.age(repo, {x.digest: 100, y.digest: 10}, column="last_pulled_at")
        self.age(repo, {w.digest: 30}, column="activated_at")
        self.put_policy(repo, policy(rule(1, "any", count_type="sinceImagePulled",
                                          count_unit="days", count_number=90,
                                          action="transition", target="archive")))
        results, summary, _ = self.preview(repo)
        names = {x.digest: "x", y.digest: "y", z.digest: "z", w.digest: "w"}
        self.assertEqual(sorted(names[r["imageDigest"]] for r in results), ["x", "z"])
        self.assertEqual(summary, {"expiringImageTotalCount": 0, "transitioningImageTotalCounts":
                                   [{"targetStorageClass": "ARCHIVE", "imageTotalCount": 2}]})
        self.lifecycle_run(repo)
        self.assertEqual({names[d]: v["imageStatus"] for d, v in self.images(repo).items()},
                         {"x": "ARCHIVED", "y": "ACTIVE", "z": "ARCHIVED", "w": "ACTIVE"})

    def test_since_image_transitioned_expires_archived_images_tv3(self):
        repo = self.create_repo("arch-tv3")
        old, young, active = self.push(repo, ["old"]), self.push(repo, ["young"]), \
            self.push(repo, ["active"])
        for img in (old, young):
            self.ecr.update_image_storage_class(repositoryName=repo,
                                                imageId={"imageDigest": img.digest},
                                                targetStorageClass="ARCHIVE")
        self.age(repo, {old.digest: 1000, young.digest: 1000, active.digest: 1000})
        self.age(repo, {old.digest: 100, young.digest: 10}, column="archived_at")
        self.put_policy(repo, policy(rule(1, "any", storage_class="archive",
                                          count_type="sinceImageTransitioned",
                                          count_unit="days", count_number=90)))
        results, summary, _ = self.preview(repo)
        self.assertEqual([(x["imageDigest"], x["action"]["type"], x["storageClass"])
                          for x in results], [(old.digest, "EXPIRE", "ARCHIVE")])
        self.assertEqual(summary, {"expiringImageTotalCount": 1})
        self.lifecycle_run(repo)
        self.assertEqual({d: x["imageStatus"] for d, x in self.images(repo).items()},
                         {young.digest: "ARCHIVED", active.digest: "ACTIVE"})


# ================================================================ 5. garbage collection
class TestGarbageCollection(LifecycleTestCase):
    berth_env = dict(QUIET_ENV, BERTH_GC_GRACE_PERIOD="3s", BERTH_GC_INTERVAL="0")
    GRACE = 3

    def plant_orphan(self, mtime: float) -> str:
        data = os.urandom(333)
        d = sha256(data)
        path = self.blob_path(d)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (mtime, mtime))
        return d

    def test_gc_grace_dry_run_real_run_orphans_and_fresh_uploads(self):
        repo = self.create_repo("gc")
        shared = os.urandom(1500)
        keep = self.push(repo, ["keep"], shared=[shared])
        doomed = self.push(repo, ["doomed"], shared=[shared])
        unref = os.urandom(777)
        self.upload(repo, unref)
        r = self.ecr.batch_delete_image(repositoryName=repo,
                                        imageIds=[{"imageDigest": doomed.digest}])
        self.assertEqual(r["failures"], [], r)
        garbage = [doomed.blobs[0], doomed.blobs[-1], unref]  # config, own layer, stray blob
        garbage_bytes = sum(len(x) for x in garbage)
        live = keep.blobs + [shared]

        # Everything is younger than the grace period: nothing goes.
        j = self.gc()
        self.assertEqual(j["summary"]["blobsDeleted"], 0, j)
        self.assertEqual(j["summary"]["linksDeleted"], 0, j)
        self.assertEqual(j["summary"]["bytesDeleted"], 0, j)
        for blob in garbage + live:
            self.assertTrue(os.path.isfile(self.blob_path(sha256(blob))), sha256(blob))

        old_orphan = self.plant_orphan(time.time() - 3600)
        time.sleep(self.GRACE + 1.5)  # times are whole seconds
        # Uploaded just before the collections below, for a manifest pushed after them.
        fresh = self.build_unpushed(repo)
        young_orphan = self.plant_orphan(time.time())
        time.sleep(1)

        m0 = self.metrics()
        dry = self.gc(dry_run=True)
        ds = dry["summary"]
        # What a real run would delete (checked as subtests: the real run is checked too).
        with self.subTest("dry run reports the blobs a real run deletes"):
            self.assertEqual(ds["blobsDeleted"], 3, dry)
            self.assertEqual(ds["bytesDeleted"], garbage_bytes, dry)
        with self.subTest("dry run reports the orphan file"):
            self.assertEqual(ds["orphanFilesDeleted"], 1, dry)
        self.assertGreaterEqual(ds["bytesReclaimable"], garbage_bytes, dry)
        for blob in garbage + live + fresh.blobs:
            self.assertTrue(os.path.isfile(self.blob_path(sha256(blob))),
                            "dry run deleted %s" % sha256(blob))
        self.assertTrue(os.path.isfile(self.blob_path(old_orphan)), "dry run deleted an orphan")
        m1 = self.metrics()
        self.assertEqual(m1.get("berth_gc_blobs_deleted_total", 0),
                         m0.get("berth_gc_blobs_deleted_total", 0))
        self.assertEqual(m1.get("berth_gc_reclaimable_bytes"), ds["bytesReclaimable"])

        real = self.gc()
        rs = real["summary"]
        self.assertEqual(rs["blobsDeleted"], 3, real)
        self.assertEqual(rs["bytesDeleted"], garbage_bytes, real)
        self.assertEqual(rs["linksDeleted"], 3, real)
        self.assertEqual(rs["orphanFilesDeleted"], 1, real)
        with self.subTest("the dry run predicts the real run"):
            self.assertEqual((ds["blobsDeleted"], ds["bytesDeleted"], ds["orphanFilesDeleted"]),
                             (rs["blobsDeleted"], rs["bytesDeleted"],
                              rs["orphanFilesDeleted"]))
        for blob in garbage:
            self.assertFalse(os.path.exists(self.blob_path(sha256(blob))),
                             "%s should have been collected" % sha256(blob))
            h = self.request("HEAD", "/v2/%s/blobs/%s" % (repo, sha256(blob)))
            self.assertEqual(h.status, 404, h.describe())
        self.assertFalse(os.path.exists(self.blob_path(old_orphan)), "old orphan file survived")
        self.assertTrue(os.path.isfile(self.blob_path(young_orphan)),
                        "an orphan file younger than the grace period was deleted")
        for blob in live + fresh.blobs:
            self.assertTrue(os.path.isfile(self.blob_path(sha256(blob))),
                            "live or fresh blob %s was deleted" % sha256(blob))
        m2 = self.metrics()
        self.assertEqual(m2.get("berth_gc_blobs_deleted_total", 0)
                         - m1.get("berth_gc_blobs_deleted_total", 0), 3)
        self.assertEqual(m2.get("berth_gc_reclaimed_bytes_total", 0)
                         - m1.get("berth_gc_reclaimed_bytes_total", 0), garbage_bytes)
        self.assertPulls(repo, "keep", keep)
        # The manifest whose blobs were uploaded before the collection can now be pushed.
        self.assertStatus(self.put_manifest(repo, "fresh", fresh.body, fresh.media_type), 201)
        self.assertPulls(repo, "fresh", fresh)

    def test_blob_uploaded_again_after_its_image_was_deleted_survives(self):
        """A client pushes an image again after it was deleted (same config and layer bytes)
        once the old links are older than the grace period but before a collection ran: the
        blobs it has just uploaded are "uploaded moments ago for a manifest not yet pushed"
        and must survive the next collection, so that the manifest PUT succeeds."""
        repo = self.create_repo("gc-again")
        img = self.push(repo, ["v1"])
        r = self.ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
        self.assertEqual(r["failures"], [], r)
        time.sleep(self.GRACE + 1.5)
        for blob in img.blobs:          # uploaded again, explicitly (not skipped after a HEAD)
            self.upload(repo, blob)
        time.sleep(0.5)
        self.gc()
        for blob in img.blobs:
            self.assertTrue(os.path.isfile(self.blob_path(sha256(blob))),
                            "blob uploaded %.1f s before the collection was deleted" % 0.5)
        r = self.put_manifest(repo, "v1", img.body, img.media_type)
        self.assertStatus(r, 201)
        self.assertPulls(repo, "v1", img)

    def build_unpushed(self, repo: str) -> Img:
        cfg = json.dumps({"architecture": "amd64", "os": "linux",
                          "config": {"Labels": {"nonce": uuid.uuid4().hex}}}).encode()
        layer = os.urandom(999)
        for blob in (cfg, layer):
            self.upload(repo, blob)
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256(cfg),
                                      "size": len(cfg)},
                           "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer),
                                       "size": len(layer)}]}).encode()
        return Img(sha256(body), body, OCI_MANIFEST, [cfg, layer], ("fresh",))


class TestGarbageCollectionExclusive(LifecycleTestCase):
    """Only one collection at a time: StartGarbageCollection while one runs is refused."""
    ORPHANS = 4000

    def test_second_collection_refused_while_one_runs(self):
        old = time.time() - 7 * DAY
        root = os.path.join(self.berth.data_dir, "blobs", "sha256")
        for _ in range(self.ORPHANS):
            data = os.urandom(16)
            hexd = hashlib.sha256(data).hexdigest()
            os.makedirs(os.path.join(root, hexd[:2]), exist_ok=True)
            path = os.path.join(root, hexd[:2], hexd)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (old, old))
        first = self.start_job("StartGarbageCollection", {"dryRun": False})
        state = self.describe_job(first)
        if state["status"] != "IN_PROGRESS":
            self.skipTest("the collection of %d orphan files finished before it could be "
                          "observed running: %r" % (self.ORPHANS, state))
        r = self.admin("StartGarbageCollection", {"dryRun": True})
        self.assertTrue(400 <= r.status < 500,
                        "a second collection was accepted while one ran: " + r.describe())
        self.assertTrue(r.json().get("__type"), r.describe())
        self.assertTrue(r.json().get("message"), r.describe())
        done = self.wait_job(first, timeout=120)
        self.assertEqual(done["summary"]["orphanFilesDeleted"], self.ORPHANS, done)
        left = sum(len(files) for _, _, files in os.walk(root))
        self.assertEqual(left, 0)
        # Once it has finished, a new one starts.
        self.gc(dry_run=True)


class TestConfiguration(unittest.TestCase):
    def test_invalid_interval_refused_at_startup(self):
        for var in ("BERTH_LIFECYCLE_INTERVAL", "BERTH_GC_INTERVAL", "BERTH_GC_GRACE_PERIOD"):
            with self.subTest(var=var):
                b = Berth(env=dict(QUIET_ENV, **{var: "soon"}), start=False)
                try:
                    with self.assertRaises(BerthStartError) as cm:
                        b.start()
                    self.assertTrue(cm.exception.exited, str(cm.exception))
                finally:
                    b.cleanup()


# ======================================================================= CLI
class TestCli(LifecycleTestCase):
    @classmethod
    def setUpClass(cls):
        binary = os.environ.get("BERTH_BIN", "/work/main/build/berth")
        if not (berth_has_cli_command(binary, "lifecycle") and
                berth_has_cli_command(binary, "gc")):
            raise unittest.SkipTest("`berth lifecycle` / `berth gc` are not in this binary yet")
        super().setUpClass()

    def cli(self, *args, expect_rc: Optional[int] = 0) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.berth.data_dir,
                                                            "admin-credentials"),
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull)
        r = subprocess.run([self.berth.binary] + list(args) + ["--endpoint", self.berth.base_url],
                           capture_output=True, text=True, env=env, timeout=120)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc, "berth %s: rc %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def test_lifecycle_run_dry_then_real(self):
        repo = self.create_repo("cli")
        imgs = [self.push(repo, ["c%d" % i]) for i in range(3)]
        self.age(repo, {img.digest: 3 - i for i, img in enumerate(imgs)})
        self.put_policy(repo, policy(rule(1, "any", count_number=1)))
        doomed = {imgs[0].digest, imgs[1].digest}
        r = self.cli("lifecycle", "run", "--repository", repo, "--dry-run", "--json")
        out = json.loads(r.stdout)
        self.assertEqual(out.get("status"), "COMPLETE", out)
        self.assertIs(out.get("dryRun"), True, out)
        self.assertEqual({a["imageDigest"] for a in out["summary"]["actions"]}, doomed, out)
        self.assertEqual(set(self.images(repo)), {i.digest for i in imgs})
        r = self.cli("lifecycle", "run", "--repository", repo)
        self.assertTrue(r.stdout.strip(), "no human-readable output")
        self.assertEqual(set(self.images(repo)), {imgs[2].digest})

    def test_gc(self):
        r = self.cli("gc", "--dry-run", "--json")
        out = json.loads(r.stdout)
        self.assertEqual(out.get("status"), "COMPLETE", out)
        self.assertIn("blobsDeleted", out.get("summary", {}), out)
        r = self.cli("gc")
        self.assertTrue(r.stdout.strip(), "no human-readable output")

    def test_unknown_repository_fails(self):
        p = self.cli("lifecycle", "run", "--repository", unique_repo("nocli"), expect_rc=None)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("RepositoryNotFound", p.stdout + p.stderr)


# =================================================================== 6. stress
class StressLoad:
    """Four threads of traffic against one repository (each thread on its own keep-alive
    connection). Records every unexpected answer."""

    def __init__(self, berth: Berth, repo: str, keep: dict, base: bytes):
        self.berth, self.repo, self.keep, self.base = berth, repo, keep, base
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.pushed: list = []         # (tag, digest) in push order
        self.counter = 0
        self.errors: list = []
        self.expected_races: dict = {}
        self.ops: dict = {}
        self.history: list = []        # retags, for failure messages

    def next_n(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def note(self, op: str) -> None:
        with self.lock:
            self.ops[op] = self.ops.get(op, 0) + 1

    def race(self, what: str) -> None:
        with self.lock:
            self.expected_races[what] = self.expected_races.get(what, 0) + 1

    def error(self, what: str, resp: Optional[Response] = None) -> None:
        with self.lock:
            self.errors.append(what + (": " + resp.describe(300) if resp is not None else ""))

    def recent(self, k: int) -> list:
        with self.lock:
            return list(self.pushed[-k:])

    # --- the threads
    def pusher(self) -> None:
        c = Client(self.berth.host, self.berth.port)
        try:
            while not self.stop.is_set():
                n = self.next_n()
                cfg = json.dumps({"architecture": "amd64", "os": "linux",
                                  "config": {"Labels": {"n": str(n),
                                                        "nonce": uuid.uuid4().hex}}}).encode()
                own = os.urandom(300 + n % 200)
                ok = True
                for blob in (cfg, self.base, own):
                    h = c.request("HEAD", "/v2/%s/blobs/%s" % (self.repo, sha256(blob)))
                    if h.status == 200:
                        continue
                    r = c.request("POST", "/v2/%s/blobs/uploads/?digest=%s"
                                  % (self.repo, sha256(blob)), blob,
                                  {"Content-Type": "application/octet-stream"})
                    if r.status != 201:
                        self.error("blob upload", r)
                        ok = False
                if not ok:
                    continue
                body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                   "config": {"mediaType": OCI_CONFIG, "digest": sha256(cfg),
                                              "size": len(cfg)},
                                   "layers": [{"mediaType": OCI_LAYER, "digest": sha256(x),
                                               "size": len(x)} for x in (self.base, own)]}
                                  ).encode()
                tag = "tmp-%d" % n
                r = c.request("PUT", "/v2/%s/manifests/%s" % (self.repo, tag), body,
                              {"Content-Type": OCI_MANIFEST})
                if r.status != 201:
                    self.error("push %s" % tag, r)
                else:
                    with self.lock:
                        self.pushed.append((tag, sha256(body)))
                    self.note("push")
                self.stop.wait(0.08)
        except Exception as e:  # connection errors and the like
            self.error("pusher: %r" % e)
        finally:
            c.close()

    def retagger(self) -> None:
        """Moves a tmp tag to a new name: PUT the manifest under tmp-<n>, DELETE the old tag."""
        c = Client(self.berth.host, self.berth.port)
        try:
            while not self.stop.is_set():
                cand = self.recent(6)
                if not cand:
                    self.stop.wait(0.1)
                    continue
                tag, digest = random.choice(cand)
                r = c.request("GET", "/v2/%s/manifests/%s" % (self.repo, digest),
                              headers={"Accept": ACCEPT_ALL})
                if r.status == 404:
                    self.race("retag: GET of an expired or deleted image")
                elif r.status != 200:
                    self.error("retag GET", r)
                else:
                    new = "tmp-%d" % self.next_n()
                    p = c.request("PUT", "/v2/%s/manifests/%s" % (self.repo, new), r.body,
                                  {"Content-Type": r.headers.get("Content-Type", OCI_MANIFEST)})
                    if p.status == 201:
                        with self.lock:
                            # The old tag is moved: never pick it again.
                            if (tag, digest) in self.pushed:
                                self.pushed.remove((tag, digest))
                            self.pushed.append((new, digest))
                        d = c.request("DELETE", "/v2/%s/manifests/%s" % (self.repo, tag))
                        with self.lock:
                            self.history.append("retag %s: %s -> %s (DELETE %d)"
                                                % (digest[:19], tag, new, d.status))
                        if d.status == 404:
                            self.race("retag: DELETE of a tag already gone")
                        elif d.status != 202:
                            self.error("retag DELETE %s" % tag, d)
                        self.note("retag")
                    elif p.status == 400 and "MANIFEST_BLOB_UNKNOWN" in oci_error_codes(p):
                        # The image expired between GET and PUT and GC collected its blobs.
                        self.race("retag: PUT after the image's blobs were collected")
                    else:
                        self.error("retag PUT %s" % new, p)
                self.stop.wait(0.15)
        except Exception as e:
            self.error("retagger: %r" % e)
        finally:
            c.close()

    def deleter(self) -> None:
        c = Client(self.berth.host, self.berth.port)
        try:
            while not self.stop.is_set():
                cand = self.recent(12)[:-2]
                if cand:
                    _, digest = random.choice(cand)
                    r = c.request("DELETE", "/v2/%s/manifests/%s" % (self.repo, digest))
                    if r.status == 404:
                        self.race("delete: already expired or deleted")
                    elif r.status != 202:
                        self.error("delete %s" % digest, r)
                    else:
                        self.note("delete")
                self.stop.wait(0.4)
        except Exception as e:
            self.error("deleter: %r" % e)
        finally:
            c.close()

    def puller(self) -> None:
        c = Client(self.berth.host, self.berth.port)
        try:
            while not self.stop.is_set():
                for tag, img in self.keep.items():
                    r = c.request("GET", "/v2/%s/manifests/%s" % (self.repo, tag),
                                  headers={"Accept": ACCEPT_ALL})
                    if r.status != 200 or r.body != img.body:
                        self.error("pull %s manifest" % tag, r)
                        continue
                    for blob in img.blobs:
                        b = c.request("GET", "/v2/%s/blobs/%s" % (self.repo, sha256(blob)))
                        if b.status != 200 or b.body != blob:
                            self.error("pull %s blob %s" % (tag, sha256(blob)), b)
                    self.note("pull keep")
                cand = self.recent(8)
                if cand:
                    tag, digest = random.choice(cand)
                    r = c.request("GET", "/v2/%s/manifests/%s" % (self.repo, tag),
                                  headers={"Accept": ACCEPT_ALL})
                    if r.status == 404:
                        self.race("pull tmp: manifest expired")
                    elif r.status != 200:
                        self.error("pull %s" % tag, r)
                    else:
                        m = json.loads(r.body)
                        for desc in [m["config"]] + m["layers"]:
                            b = c.request("GET", "/v2/%s/blobs/%s" % (self.repo, desc["digest"]))
                            if b.status == 404:
                                self.race("pull tmp: blob collected after expiry")
                            elif b.status != 200 or sha256(b.body) != desc["digest"]:
                                self.error("pull %s blob" % tag, b)
                        self.note("pull tmp")
                self.stop.wait(0.05)
        except Exception as e:
            self.error("puller: %r" % e)
        finally:
            c.close()


class TestStress(LifecycleTestCase):
    GRACE = 5
    LOAD_SECONDS = float(os.environ.get("BERTH_STRESS_SECONDS", "45"))
    berth_env = {"BERTH_LIFECYCLE_INTERVAL": "3s", "BERTH_GC_INTERVAL": "2s",
                 "BERTH_GC_GRACE_PERIOD": "%ds" % GRACE}

    def test_scheduled_lifecycle_and_gc_under_load(self):
        repo = self.create_repo("stress")
        self.put_policy(repo, policy(
            rule(1, "tagged", patterns=["tmp-*"], count_number=3,
                 description="Keep the newest 3 tmp images"),
            rule(2, "untagged", count_number=2, description="Keep 2 untagged images")))
        base = os.urandom(4096)
        keep = {}
        for i in range(4):
            keep["keep-%d" % i] = self.push(repo, ["keep-%d" % i], shared=[base])
        m0 = self.metrics()

        load = StressLoad(self.berth, repo, keep, base)
        threads = [threading.Thread(target=f, name=f.__name__, daemon=True)
                   for f in (load.pusher, load.retagger, load.deleter, load.puller)]
        log_start = self.berth.log_size()
        for t in threads:
            t.start()
        time.sleep(self.LOAD_SECONDS)
        load.stop.set()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "thread %s hung" % t.name)
        sys.stderr.write("\n[stress: ops %r, expected races %r, %d pushes]\n"
                         % (load.ops, load.expected_races, len(load.pushed)))
        self.assertEqual(load.errors[:20], [], "%d unexpected answers" % len(load.errors))
        self.assertGreater(load.ops.get("push", 0), 50, load.ops)
        self.assertGreater(load.ops.get("pull keep", 0), 20, load.ops)

        # One more lifecycle run (3 s), the grace period (5 s) and a collection (2 s).
        deadline = time.monotonic() + 40
        while True:
            problems = self.settled_problems(repo)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(1)
        self.assertEqual(problems, [], "not settled 40 s after the load stopped")

        for tag, img in keep.items():
            self.assertPulls(repo, tag, img)
        tags = self.tags(repo)
        tmp_tags = [t for t in tags if t.startswith("tmp-")]
        where = {}
        for t in tmp_tags:
            r = self.get_manifest(repo, t)
            where[t] = (r.status, r.headers.get("Docker-Content-Digest"))
        self.assertLessEqual(len(tmp_tags), 3, "tmp tags → (GET status, digest): %r\n%s" % (
            where, "\n".join(h for h in load.history
                              if any((d or "")[:19] in h for _, d in where.values()))))
        self.assertTrue(set(keep) <= set(tags), tags)
        # Whatever is left pulls completely.
        for t in tmp_tags:
            r = self.get_manifest(repo, t)
            self.assertStatus(r, 200)
            m = json.loads(r.body)
            for desc in [m["config"]] + m["layers"]:
                b = self.request("GET", "/v2/%s/blobs/%s" % (repo, desc["digest"]))
                self.assertStatus(b, 200)
                self.assertEqual(sha256(b.body), desc["digest"])
        m1 = self.metrics()
        self.assertGreater(m1.get("berth_lifecycle_images_expired_total", 0)
                           - m0.get("berth_lifecycle_images_expired_total", 0), 0,
                           "no scheduled lifecycle run expired anything")
        self.assertGreater(m1.get("berth_gc_blobs_deleted_total", 0)
                           - m0.get("berth_gc_blobs_deleted_total", 0), 0,
                           "no scheduled collection deleted anything")
        log = self.berth.log_tail(max_bytes=1 << 30, since=log_start)
        for bad in ("scheduled lifecycle run failed", "scheduled garbage collection failed"):
            self.assertNotIn(bad, log)
        self.assertTrue(self.berth.running)

    def tags(self, repo: str) -> list:
        r = self.request("GET", "/v2/%s/tags/list?n=10000" % repo)
        self.assertStatus(r, 200)
        return r.json().get("tags") or []

    def settled_problems(self, repo: str) -> list:
        """What still contradicts the policy or the GC contract (empty when settled)."""
        problems = []
        tmp_images = set()
        untagged = set()
        for page in self.ecr.get_paginator("list_images").paginate(repositoryName=repo):
            for i in page["imageIds"]:
                if i.get("imageTag", "").startswith("tmp-"):
                    tmp_images.add(i["imageDigest"])
                elif "imageTag" not in i:
                    untagged.add(i["imageDigest"])
        if len(tmp_images) > 3:
            problems.append("%d images tagged tmp-*" % len(tmp_images))
        if len(untagged) > 2:
            problems.append("%d untagged images" % len(untagged))
        cutoff = time.time() - self.GRACE - 1
        con = self.db()
        try:
            unlinked = con.execute(
                "SELECT digest, created_at FROM blobs b WHERE created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest)", (cutoff,)).fetchall()
            stale_links = con.execute(
                "SELECT repo, digest FROM repo_blobs l WHERE created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM manifest_refs r WHERE r.repo = l.repo AND r.child = l.digest)",
                (cutoff,)).fetchall()
            known = {row[0] for row in con.execute(
                "SELECT DISTINCT b.digest FROM blobs b JOIN repo_blobs l ON l.digest = b.digest")}
            needed = {row[0] for row in con.execute(
                "SELECT DISTINCT child FROM manifest_refs WHERE is_manifest = 0")}
        finally:
            con.close()
        if unlinked:
            problems.append("%d blobs no repository links, older than the grace period: %s"
                            % (len(unlinked), unlinked[:3]))
        if stale_links:
            problems.append("%d links no manifest needs, older than the grace period: %s"
                            % (len(stale_links), stale_links[:3]))
        root = os.path.join(self.berth.data_dir, "blobs")
        on_disk = set()
        for dirpath, _, files in os.walk(root):
            for f in files:
                path = os.path.join(dirpath, f)
                algo = os.path.basename(os.path.dirname(dirpath))
                digest = "%s:%s" % (algo, f)
                on_disk.add(digest)
                try:
                    mtime = os.stat(path).st_mtime
                except FileNotFoundError:
                    continue
                if mtime < cutoff and digest not in known:
                    problems.append("file %s older than the grace period, unreferenced" % digest)
        missing = needed - on_disk
        if missing:
            problems.append("blobs referenced by manifests are missing on disk: %s"
                            % sorted(missing)[:5])
        return problems


if __name__ == "__main__":
    unittest.main()
