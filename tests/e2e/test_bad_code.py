"""Bad code bundles against a real server: refused without a trace, or reported like Lambda.

Refused uploads must leave the code store and the function list exactly as they were. These
tests come first in the module: later ones supersede code, which the server's periodic sweep
removes, and that must not happen between a "before" and an "after" listing.
"""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer, make_zip

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
ROLE = "arn:aws:iam::000000000000:role/test"
MB = 1024 * 1024
SYMLINK_ATTR = 0o120777 << 16
GOOD_APP = "def handler(event, context):\n    return {'ok': True}\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code_store_listing(server: FaasServer) -> list[str]:
    """Every path under the data dir's code store, hidden staging files included."""
    root = server.data_dir / "code"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")) if root.exists() else []


def function_names(api: Any) -> list[str]:
    pages = api.get_paginator("list_functions").paginate()
    return sorted(cfg["FunctionName"] for page in pages for cfg in page["Functions"])


def zip_with(write: Callable[[zipfile.ZipFile], None]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", GOOD_APP)
        write(archive)
    return buffer.getvalue()


def symlink_zip(target: str) -> bytes:
    def add_link(archive: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo("lib/link.py")
        info.external_attr = SYMLINK_ATTR
        archive.writestr(info, target)

    return zip_with(add_link)


def entry_zip(name: str) -> bytes:
    return zip_with(lambda archive: archive.writestr(name, "print('escaped')\n"))


def huge_unzipped_zip() -> bytes:
    """251 MB of zeros, deflated to ~250 KB: over Lambda's 250 MB unzipped limit, cheaply."""
    buffer = io.BytesIO()
    chunk = bytes(MB)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", GOOD_APP)
        info = zipfile.ZipInfo("zeros.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as entry:
            for _ in range(251):
                entry.write(chunk)
    return buffer.getvalue()


def huge_zipped_zip() -> bytes:
    """Incompressible and stored: just over Lambda's 50 MB zipped limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", GOOD_APP)
        archive.writestr("noise.bin", os.urandom(50 * MB + 1024))
    return buffer.getvalue()


@pytest.fixture
def unchanged(server: FaasServer, lambda_api: Any) -> Iterator[None]:
    """Asserts, after the test, that the code store and the function list did not change."""
    before = (code_store_listing(server), function_names(lambda_api))
    yield
    assert (code_store_listing(server), function_names(lambda_api)) == before


def assert_refused(raised: pytest.ExceptionInfo[ClientError]) -> None:
    error = raised.value.response
    assert error["Error"]["Code"] == "InvalidParameterValueException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Message"]


def create(api: Any, name: str, zip_bytes: bytes, handler: str = "app.handler") -> Any:
    return api.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": zip_bytes},
    )


# --- refused uploads -----------------------------------------------------------------------

BAD_ZIPS: dict[str, Callable[[], bytes]] = {
    "not-a-zip": lambda: os.urandom(4096),
    "parent-entry": lambda: entry_zip("../evil.py"),
    "absolute-entry": lambda: entry_zip("/etc/evil.py"),
    "symlink-absolute": lambda: symlink_zip("/etc/passwd"),
    "symlink-outside": lambda: symlink_zip("../../outside"),
}


@pytest.mark.parametrize("kind", list(BAD_ZIPS))
def test_bad_zip_is_refused_by_create(lambda_api: Any, unchanged: None, kind: str) -> None:
    name = unique(kind)
    with pytest.raises(ClientError) as raised:
        create(lambda_api, name, BAD_ZIPS[kind]())
    assert_refused(raised)


def test_bad_zip_is_refused_by_update_and_the_old_code_stays(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("update-bad")
    create(lambda_api, name, make_zip({"app.py": GOOD_APP}))
    before = (code_store_listing(server), function_names(lambda_api))
    sha = lambda_api.get_function_configuration(FunctionName=name)["CodeSha256"]

    with pytest.raises(ClientError) as raised:
        lambda_api.update_function_code(FunctionName=name, ZipFile=entry_zip("../evil.py"))

    assert_refused(raised)
    assert (code_store_listing(server), function_names(lambda_api)) == before
    assert lambda_api.get_function_configuration(FunctionName=name)["CodeSha256"] == sha
    response = lambda_api.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(response["Payload"].read()) == {"ok": True}


def test_zip_over_250_mb_unzipped_is_refused(lambda_api: Any, unchanged: None) -> None:
    # A zip bomb in miniature: small on the wire, 251 MB once extracted.
    with pytest.raises(ClientError) as raised:
        create(lambda_api, unique("unzipped-too-big"), huge_unzipped_zip())
    assert_refused(raised)


def test_zip_over_50_mb_is_refused(lambda_api: Any, unchanged: None) -> None:
    with pytest.raises(ClientError) as raised:
        create(lambda_api, unique("zipped-too-big"), huge_zipped_zip())
    assert_refused(raised)


def test_request_body_over_70_mb_is_too_large(server: FaasServer, unchanged: None) -> None:
    filler = b"A" * (71 * MB)
    body = b'{"FunctionName":"too-big","Code":{"ZipFile":"' + filler + b'"}}'
    request = urllib.request.Request(
        server.url + "/2015-03-31/functions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=60)
    raised.value.read()
    assert raised.value.code == 413
    assert raised.value.headers["x-amzn-ErrorType"].startswith("RequestTooLargeException")


# --- code that deploys but cannot start ----------------------------------------------------

SYNTAX_ERROR = "def handler(event, context:\n    return 1\n"
RAISES_AT_IMPORT = "raise LookupError('settings.toml not found')\n"


def module_with(handler: str) -> dict[str, str]:
    """Working code for `handler` (module.function)."""
    module, function = handler.rsplit(".", 1)
    return {f"{module}.py": f"def {function}(event, context):\n    return {{'fixed': True}}\n"}


@pytest.mark.parametrize(
    ("handler", "files", "error_type"),
    [
        ("nothere.handler", {"app.py": GOOD_APP}, "Runtime.ImportModuleError"),
        ("app.nothere", {"app.py": GOOD_APP}, "Runtime.HandlerNotFound"),
        ("app.handler", {"app.py": SYNTAX_ERROR}, "Runtime.UserCodeSyntaxError"),
        ("app.handler", {"app.py": RAISES_AT_IMPORT}, "LookupError"),
    ],
    ids=["missing-module", "missing-function", "syntax-error", "raises-at-import"],
)
def test_init_failure_is_a_function_error_until_the_code_is_fixed(
    lambda_api: Any, handler: str, files: dict[str, str], error_type: str
) -> None:
    name = unique("init-failure")
    created = create(lambda_api, name, make_zip(files), handler=handler)
    assert created["State"] == "Active"

    response = lambda_api.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type
    assert body["errorMessage"]

    lambda_api.update_function_code(FunctionName=name, ZipFile=make_zip(module_with(handler)))
    fixed = lambda_api.invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in fixed
    assert json.loads(fixed["Payload"].read()) == {"fixed": True}
