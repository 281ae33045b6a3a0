"""Whatever botocore signed, changing any part the signature covers (method, path, query, a
signed header, the date, the body) makes it fail to verify: generated requests, each changed
in one place. (test_sigv4.py has the generated requests and the changed body.)"""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.awsrequest import AWSRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faas.auth.sigv4 import SignatureProblem, WireRequest
from tests.unit.auth.test_sigv4 import botocore_requests, check, sign_with_botocore

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
STAMP = "%Y%m%dT%H%M%SZ"


def with_method(wire: WireRequest, draw: st.DrawFn) -> WireRequest:
    method = draw(st.sampled_from([m for m in METHODS if m != wire.method]))
    return WireRequest(method, wire.raw_target, wire.headers, wire.body)


def with_path(wire: WireRequest, draw: st.DrawFn) -> WireRequest:
    path, mark, query = wire.raw_target.partition("?")
    position = draw(st.integers(0, len(path)))
    letter = draw(st.sampled_from("abcXYZ019-_~"))
    changed = path[:position] + letter + path[position:]
    return WireRequest(wire.method, changed + mark + query, wire.headers, wire.body)


def with_query(wire: WireRequest, draw: st.DrawFn) -> WireRequest:
    name = draw(st.from_regex(r"\A[a-z]{1,6}\Z"))
    joiner = "&" if "?" in wire.raw_target else "?"
    value = draw(st.from_regex(r"\A[a-z0-9]{0,6}\Z"))
    target = f"{wire.raw_target}{joiner}{name}={value}"
    return WireRequest(wire.method, target, wire.headers, wire.body)


def with_header(wire: WireRequest, draw: st.DrawFn) -> WireRequest:
    signed = check(wire).signed_headers
    name = draw(st.sampled_from([n for n in signed if n != "x-amz-date"]))
    headers = dict(wire.headers)
    headers[name] = [headers[name][0] + draw(st.sampled_from("!a0"))]
    return WireRequest(wire.method, wire.raw_target, headers, wire.body)


def with_date(wire: WireRequest, draw: st.DrawFn) -> WireRequest:
    headers = dict(wire.headers)
    moment = dt.datetime.strptime(headers["x-amz-date"][0], STAMP)
    shift = dt.timedelta(seconds=draw(st.sampled_from([-60, -1, 1, 60])))
    headers["x-amz-date"] = [(moment + shift).strftime(STAMP)]
    return WireRequest(wire.method, wire.raw_target, headers, wire.body)


def with_body(wire: WireRequest, draw: st.DrawFn) -> WireRequest:
    body = bytearray(wire.body or b"\x00")
    position = draw(st.integers(0, len(body) - 1))
    body[position] ^= draw(st.integers(1, 255))
    return WireRequest(wire.method, wire.raw_target, wire.headers, bytes(body))


CHANGES = (with_method, with_path, with_query, with_header, with_date, with_body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(botocore_requests(), st.sampled_from(CHANGES), st.data())
def test_a_request_changed_anywhere_it_is_signed_does_not_verify(
    request: AWSRequest, change: object, data: st.DataObject
) -> None:
    wire = sign_with_botocore(request)
    check(wire)
    tampered = change(wire, data.draw)  # type: ignore[operator]
    with pytest.raises(SignatureProblem):
        check(tampered)
