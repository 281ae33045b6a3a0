"""Function URL events (payload format 2.0), the mapping of a function's result to an HTTP
response, and the platform's CORS rules: pure functions, no server."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from faas.domain import UrlCors
from faas.gateway.function_url_cors import (
    origin_allowed,
    preflight_headers,
    response_headers,
)
from faas.gateway.function_url_events import (
    BadFunctionResponse,
    UrlRequest,
    build_event,
    clf_time,
    is_text,
    map_result,
    path_after_prefix,
)

URL_ID = "a" * 32
NOW_MS = 1_796_472_000_123  # 2026-12-05 12:00:00.123 UTC


def request(**fields: Any) -> UrlRequest:
    values: dict[str, Any] = {
        "method": "GET",
        "raw_path": f"/urls/{URL_ID}/",
        "raw_query": "",
        "query": [],
        "headers": [("Host", "127.0.0.1:8080"), ("User-Agent", "curl/8")],
        "body": b"",
        "source_ip": "10.0.0.7",
    }
    values.update(fields)
    return UrlRequest(**values)


def event_of(**fields: Any) -> dict[str, Any]:
    return build_event(request(**fields), url_id=URL_ID, request_id="rid", now_ms=NOW_MS)


def test_a_get_without_query_or_body() -> None:
    assert event_of() == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"host": "127.0.0.1:8080", "user-agent": "curl/8"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_ID,
            "domainName": "127.0.0.1:8080",
            "domainPrefix": URL_ID,
            "http": {
                "method": "GET",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "10.0.0.7",
                "userAgent": "curl/8",
            },
            "requestId": "rid",
            "routeKey": "$default",
            "stage": "$default",
            "time": "05/Dec/2026:12:00:00 +0000",
            "timeEpoch": NOW_MS,
        },
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        (f"/urls/{URL_ID}", "/"),
        (f"/urls/{URL_ID}/", "/"),
        (f"/urls/{URL_ID}/a/b", "/a/b"),
        (f"/urls/{URL_ID}/a%2Fb/", "/a%2Fb/"),
        (f"/urls/{URL_ID}//x", "//x"),
    ],
)
def test_raw_path_is_what_follows_the_urls_prefix(raw_path: str, expected: str) -> None:
    assert path_after_prefix(raw_path) == expected
    event = event_of(raw_path=raw_path)
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == expected


def test_query_headers_and_cookies() -> None:
    event = event_of(
        raw_query="x=1&y=a%20b&x=2",
        query=[("x", "1"), ("y", "a b"), ("x", "2")],
        headers=[
            ("Host", "h"),
            ("X-Rep", "1"),
            ("x-rep", "2"),
            ("Cookie", "a=1; b=2"),
            ("cookie", "c=3"),
        ],
    )
    assert event["rawQueryString"] == "x=1&y=a%20b&x=2"
    assert event["queryStringParameters"] == {"x": "1,2", "y": "a b"}
    assert event["headers"] == {"host": "h", "x-rep": "1,2"}
    assert event["cookies"] == ["a=1", "b=2", "c=3"]


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain", True),
        ("text/html; charset=utf-8", True),
        ("application/json", True),
        ("application/vnd.api+json", True),
        ("application/xml", True),
        ("application/atom+xml", True),
        ("application/javascript", True),
        ("application/x-www-form-urlencoded", True),
        ("APPLICATION/JSON", True),
        ("application/octet-stream", False),
        ("image/png", False),
        ("multipart/form-data; boundary=x", False),
        ("", False),
    ],
)
def test_which_bodies_are_text(content_type: str, text: bool) -> None:
    assert is_text(content_type) is text


def test_text_bodies_as_they_are_others_base64() -> None:
    text = event_of(method="POST", body=b'{"a": 1}', headers=[("Content-Type", "application/json")])
    assert (text["body"], text["isBase64Encoded"]) == ('{"a": 1}', False)
    data = bytes(range(256))
    binary = event_of(method="POST", body=data, headers=[("Content-Type", "image/png")])
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == data
    # Said to be text, but not UTF-8: base64 all the same.
    latin = event_of(method="POST", body=b"caf\xe9", headers=[("Content-Type", "text/plain")])
    assert latin["isBase64Encoded"] is True
    untyped = event_of(method="POST", body=b"hello")
    assert untyped["isBase64Encoded"] is True


def test_an_iam_caller_is_in_the_context() -> None:
    event = build_event(
        request(),
        url_id=URL_ID,
        request_id="rid",
        now_ms=NOW_MS,
        account_id="000000000000",
        authorizer={"iam": {"accessKey": "AKFA"}},
    )
    assert event["requestContext"]["accountId"] == "000000000000"
    assert event["requestContext"]["authorizer"] == {"iam": {"accessKey": "AKFA"}}


def test_clf_time() -> None:
    assert clf_time(0) == "01/Jan/1970:00:00:00 +0000"
    assert clf_time(NOW_MS) == "05/Dec/2026:12:00:00 +0000"


# -- results -> responses -------------------------------------------------------------------


def result(value: Any) -> bytes:
    return orjson.dumps(value)


def test_a_structured_result() -> None:
    mapped = map_result(
        result(
            {
                "statusCode": 201,
                "headers": {"Location": "/x", "X-Num": 3, "X-Flag": True, "Content-Length": "9"},
                "cookies": ["a=1", "b=2; Secure"],
                "body": "made",
            }
        )
    )
    assert mapped.status == 201
    assert mapped.body == b"made"
    assert mapped.headers == [
        ("Location", "/x"),
        ("X-Num", "3"),
        ("X-Flag", "true"),
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2; Secure"),
    ]


def test_a_base64_body_is_decoded_and_an_absent_body_is_empty() -> None:
    data = bytes(range(256))
    mapped = map_result(
        result(
            {
                "statusCode": 200,
                "headers": {"content-type": "image/png"},
                "body": base64.b64encode(data).decode(),
                "isBase64Encoded": True,
            }
        )
    )
    assert (mapped.body, mapped.headers) == (data, [("content-type", "image/png")])
    assert map_result(result({"statusCode": "204"})).body == b""
    assert map_result(result({"statusCode": 200, "body": {"a": 1}})).body == b'{"a":1}'


@pytest.mark.parametrize(
    ("value", "body"),
    [
        ({"message": "hi"}, b'{"message":"hi"}'),
        ([1, 2], b"[1,2]"),
        (7, b"7"),
        (None, b"null"),
        (True, b"true"),
        ("plain words", b"plain words"),
    ],
)
def test_anything_else_is_200_json(value: Any, body: bytes) -> None:
    mapped = map_result(result(value))
    assert (mapped.status, mapped.headers, mapped.body) == (
        200,
        [("Content-Type", "application/json")],
        body,
    )


@pytest.mark.parametrize(
    "value",
    [
        {"statusCode": "ok"},
        {"statusCode": 99},
        {"statusCode": 100},
        {"statusCode": 101, "headers": {"upgrade": "websocket"}},
        {"statusCode": 199},
        {"statusCode": "\u00b2"},
        {"statusCode": 600},
        {"statusCode": True},
        {"statusCode": 200, "headers": ["a"]},
        {"statusCode": 200, "headers": {"a": {"b": 1}}},
        {"statusCode": 200, "headers": {"a": "x\r\nInjected: yes"}},
        {"statusCode": 200, "headers": {"Bad:Name": "x"}},
        {"statusCode": 200, "headers": {"X Bad": "x"}},
        {"statusCode": 200, "headers": {"x-nul": "a\u0000b"}},
        {"statusCode": 200, "cookies": ["a=1\u0000"]},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
    ],
)
def test_malformed_results_are_refused(value: Any) -> None:
    with pytest.raises(BadFunctionResponse):
        map_result(result(value))


def test_a_result_that_is_no_json_is_refused() -> None:
    with pytest.raises(BadFunctionResponse):
        map_result(b"{nope")


# -- CORS ---------------------------------------------------------------------------------

CORS = UrlCors(
    allow_origins=("https://app.example", "https://*.trusted.example"),
    allow_methods=("GET", "POST"),
    allow_headers=("Content-Type", "X-Token"),
    expose_headers=("X-Custom", "X-Other"),
    max_age=600,
)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example", True),
        ("HTTPS://APP.EXAMPLE", True),
        ("https://a.trusted.example", True),
        ("https://a.b.trusted.example", True),
        ("https://trusted.example", False),
        ("https://app.example.evil", False),
        ("http://app.example", False),
    ],
)
def test_origins(origin: str, allowed: bool) -> None:
    assert origin_allowed(CORS, origin) is allowed
    assert origin_allowed(UrlCors(allow_origins=("*",)), origin)
    assert not origin_allowed(UrlCors(), origin)


def test_an_allowed_preflight() -> None:
    assert preflight_headers(CORS, "https://app.example", "post", "content-type,x-token") == [
        ("Access-Control-Allow-Origin", "https://app.example"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Methods", "GET, POST"),
        ("Access-Control-Allow-Headers", "Content-Type, X-Token"),
        ("Access-Control-Max-Age", "600"),
    ]


def test_wildcards_echo_what_was_asked() -> None:
    cors = UrlCors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    assert preflight_headers(cors, "https://x", "PATCH", "X-A, X-B") == [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", "PATCH"),
        ("Access-Control-Allow-Headers", "X-A, X-B"),
    ]
    with_credentials = UrlCors(allow_origins=("*",), allow_methods=("GET",), allow_credentials=True)
    assert preflight_headers(with_credentials, "https://x", "GET", None) == [
        ("Access-Control-Allow-Origin", "https://x"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "GET"),
    ]


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://evil.example", "GET", None),
        ("https://app.example", "DELETE", None),
        ("https://app.example", "GET", "X-Token, X-Other"),
    ],
)
def test_a_refused_preflight_has_no_headers(origin: str, method: str, headers: str | None) -> None:
    assert preflight_headers(CORS, origin, method, headers) == []


def test_actual_responses() -> None:
    function_headers = [("Content-Type", "text/plain"), ("access-control-allow-origin", "*")]
    assert response_headers(CORS, "https://app.example", function_headers) == [
        ("Content-Type", "text/plain"),
        ("Access-Control-Allow-Origin", "https://app.example"),
        ("Vary", "Origin"),
        ("Access-Control-Expose-Headers", "X-Custom, X-Other"),
    ]
    assert response_headers(CORS, "https://evil.example", function_headers) == [
        ("Content-Type", "text/plain")
    ]
    assert response_headers(CORS, None, function_headers) == [("Content-Type", "text/plain")]


def test_cookies_split_on_semicolons_with_or_without_spaces() -> None:
    event = event_of(headers=[("Cookie", "a=1;b=2 ;  c=3")])
    assert event["cookies"] == ["a=1", "b=2", "c=3"]


def test_a_wrapped_base64_body_is_decoded() -> None:
    wrapped = base64.encodebytes(bytes(range(100))).decode()  # line breaks every 76
    mapped = map_result(result({"statusCode": 200, "body": wrapped, "isBase64Encoded": True}))
    assert mapped.body == bytes(range(100))
