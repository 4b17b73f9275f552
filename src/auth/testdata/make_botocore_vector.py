#!/usr/bin/env python3
"""Prints SigV4 vectors signed by botocore itself, for src/auth/sigv4_test.cc.

Run once by hand (`python3 src/auth/testdata/make_botocore_vector.py`) and paste the output into
the kBotocore* constants of sigv4_test.cc; the unit tests never run Python. The signing time is
fixed, so the output is deterministic for a given botocore version.

Vector 1: an `aws ecr describe-repositories` call exactly as botocore's SigV4Auth signs it
(AWS JSON 1.1, POST /, body "{}").
Vector 2: the same call with a filter body, signed with temporary credentials (session token).
Vector 3: a presigned GET URL from botocore's S3SigV4QueryAuth (the UNSIGNED-PAYLOAD presigner),
scoped to service "ecr", for checking berth's PresignQuery and presigned verification against a
third-party signer. Its path holds only unreserved characters and '/', where S3-style and
non-S3 URI canonicalisation agree.
"""

import datetime
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
SIGNING_TIME = datetime.datetime(2024, 5, 17, 9, 30, 0)  # naive UTC, as botocore uses it


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dump(name, value):
    print(f"// {name}")
    print(c_string(value) if isinstance(value, str) else value)


class RecordingSigV4Auth(botocore.auth.SigV4Auth):
    """SigV4Auth that keeps the canonical request and string to sign it computed."""

    def canonical_request(self, request):
        self.last_canonical_request = super().canonical_request(request)
        return self.last_canonical_request

    def string_to_sign(self, request, canonical_request):
        self.last_string_to_sign = super().string_to_sign(request, canonical_request)
        return self.last_string_to_sign


def signed_ecr_request(title, token=None, body=b"{}"):
    creds = Credentials(ACCESS_KEY, SECRET_KEY, token)
    request = AWSRequest(
        method="POST",
        url="https://api.ecr.us-east-1.amazonaws.com/",
        data=body,
        headers={
            "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    signer = RecordingSigV4Auth(creds, "ecr", REGION)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=SIGNING_TIME):
        signer.add_auth(request)
    print(f"// ---- {title} ----")
    dump("method", request.method)
    dump("target", "/")
    for k, v in request.headers.items():
        dump(f"header {k}", v)
    dump("body", request.body.decode())
    dump("canonical request", signer.last_canonical_request)
    dump("string to sign", signer.last_string_to_sign)


def presigned_url():
    creds = Credentials(ACCESS_KEY, SECRET_KEY)
    request = AWSRequest(
        method="GET",
        url="https://registry.example.com/berth/layers/team/app/abc123?repo=team%2Fapp",
    )
    signer = botocore.auth.S3SigV4QueryAuth(creds, "ecr", REGION, expires=3600)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=SIGNING_TIME):
        signer.add_auth(request)
    print("// ---- vector 3: S3SigV4QueryAuth, presigned GET ----")
    dump("url", request.url)


if __name__ == "__main__":
    print(f"// botocore {botocore.__version__}, signing time {SIGNING_TIME.isoformat()}Z")
    signed_ecr_request("vector 1: SigV4Auth, ecr DescribeRepositories")
    signed_ecr_request(
        "vector 2: SigV4Auth with a session token",
        token="FwoGZXIvYXdzEXAMPLESESSIONTOKEN//+=",
        body=b'{"repositoryNames":["team/app"]}',
    )
    presigned_url()
