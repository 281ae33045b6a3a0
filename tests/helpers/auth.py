"""Calls as an attacker or a client would make them: raw requests signed (or not) by botocore's
signer at a chosen time, Lambda's refusals read back, access keys made through the real API."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.helpers.server import REGION, AccessKey, FaasServer, sign

ACCOUNT = "000000000000"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
FUNCTIONS = "/2015-03-31/functions"
ECHO = """
def handler(event, context):
    return {"echo": event}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Reply:
    """What the server answered: status, Lambda's error code and message (errors only)."""

    status: int
    code: str | None
    message: str | None
    body: bytes

    @property
    def refusal(self) -> tuple[int, str | None]:
        return self.status, self.code

    def json(self) -> Any:
        return json.loads(self.body)


def send(request: urllib.request.Request, timeout: float = 30) -> Reply:
    """Send `request` as it is; an HTTP error is an answer, not an exception."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, None, None, response.read())
    except urllib.error.HTTPError as error:
        with error:
            body = error.read()
        message = None
        with contextlib.suppress(ValueError):
            message = json.loads(body).get("Message")
        return Reply(error.code, error.headers.get("X-Amzn-ErrorType"), message, body)


def request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> urllib.request.Request:
    return urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))


def signed(
    url: str,
    key: AccessKey,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    at: dt.datetime | None = None,
) -> urllib.request.Request:
    """A request signed by botocore, as if its clock read `at` (UTC) when given."""
    unsigned = request(url, method=method, body=body, headers=headers)
    if at is None:
        return sign(unsigned, key)
    naive_utc = at.astimezone(dt.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
        return sign(unsigned, key)


def presigned(url: str, key: AccessKey, expires_s: int, at: dt.datetime) -> str:
    """`url` presigned by botocore (query-string SigV4) as if its clock read `at`."""
    unsigned = AWSRequest(method="GET", url=url)
    signer = SigV4QueryAuth(
        Credentials(key.access_key_id, key.secret), "lambda", REGION, expires=expires_s
    )
    naive_utc = at.astimezone(dt.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
        signer.add_auth(unsigned)
    return str(unsigned.url)


def call(server: FaasServer, path: str, key: AccessKey | None, **options: Any) -> Reply:
    """`path` on `server`, signed by `key` (unsigned when None)."""
    url = server.url + path
    if key is None:
        return send(request(url, **options))
    return send(signed(url, key, **options))


def refusal_of(error: ClientError) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a boto3 ClientError."""
    response = error.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def denial(key_name: str, action: str, resource: str) -> str:
    """Lambda's AccessDenied message when no statement allows `action` on `resource`."""
    return (
        f"User: arn:aws:iam::{ACCOUNT}:user/{key_name} is not authorized to perform: {action} "
        f"on resource: {resource} because no identity-based policy allows the {action} action"
    )


def allow(actions: str | list[str], resources: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def deny(actions: str | list[str], resources: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": actions, "Resource": resources}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def create_key(server: FaasServer, name: str, document: dict[str, Any]) -> AccessKey:
    """A new key through `POST /faas/v1/keys`, signed by the admin key."""
    body = json.dumps({"Name": name, "Policy": document}).encode()
    reply = call(
        server,
        "/faas/v1/keys",
        server.admin_key,
        method="POST",
        body=body,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 201, reply
    return key_of(reply.json())


def create_key_with_cli(
    server: FaasServer, folder: Path, name: str, document: dict[str, Any]
) -> AccessKey:
    """A new key through `faas keys create NAME --policy FILE`."""
    policy_file = folder / f"{name}.policy.json"
    policy_file.write_text(json.dumps(document))
    created = server.cli("keys", "create", name, "--policy", str(policy_file), "--json")
    assert created.returncode == 0, created.stderr
    return key_of(json.loads(created.stdout))


def key_of(document: dict[str, Any]) -> AccessKey:
    """The key pair of a create or rotate answer (`{"AccessKey": {...}}`)."""
    key = document["AccessKey"]
    return AccessKey(key["AccessKeyId"], key["SecretAccessKey"])
