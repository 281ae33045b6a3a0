"""The CLI's HTTP client of the gateway: stdlib only, one request per connection.

http.client rather than urllib.request because the two timeouts differ: connecting must fail
fast (10 s) while a synchronous invoke may legitimately run for 900 s, and urllib applies one
socket timeout to both phases.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

from faas import __version__
from faas.auth.sigv4 import sign_headers
from faas.cli.credentials import Credentials
from faas.errors import FaasError

CONNECT_TIMEOUT_S = 10.0
DOWNLOAD_CHUNK = 1024 * 1024
USER_AGENT = f"faas-cli/{__version__}"
SERVICE = "lambda"
NO_CREDENTIALS_HINT = (
    "the server wants signed requests and no credentials were found (not in {looked_in}): "
    "run the CLI where the server's data directory is (or set FAAS_SERVER_DATA_DIR), set "
    "FAAS_ACCESS_KEY_ID and FAAS_SECRET_ACCESS_KEY, or pass --profile"
)


class GatewayError(FaasError):
    """The gateway answered with an error document (`x-amzn-ErrorType` + `{Type, Message}`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.status = status
        self.code = code


class GatewayUnreachable(FaasError):
    """No connection could be made, or it broke before an answer arrived."""


class InvalidGatewayUrl(FaasError):
    """The --url value cannot be used."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON; an empty body is an empty object."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise GatewayError(self.status, "InvalidResponse", f"not JSON: {exc}") from exc


@dataclass(frozen=True, slots=True)
class GatewayClient:
    """Where the gateway is; every call opens a fresh connection (the CLI makes only a few)."""

    url: str
    scheme: str
    host: str
    port: int
    base_path: str
    # Requests are SigV4-signed with these; None sends them unsigned.
    credentials: Credentials | None = None
    region: str = "us-east-1"
    # Where the credentials were looked for, for the message when none were found.
    looked_in: str = "the data directory"
    # HTTPS: a PEM file of the CA(s) to trust instead of the system's.
    ca_bundle: str = ""

    def signed_by(
        self, credentials: Credentials | None, region: str, looked_in: str
    ) -> GatewayClient:
        return dataclasses.replace(
            self, credentials=credentials, region=region, looked_in=looked_in
        )

    @classmethod
    def for_url(cls, url: str) -> GatewayClient:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidGatewayUrl(f"--url must look like http://HOST:PORT, got {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise InvalidGatewayUrl(f"--url has a bad port: {url!r}") from exc
        return cls(url, parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout_s: float | None,
    ) -> HttpResponse:
        """Send one request; any status >= 400 raises `GatewayError`."""
        target = self.base_path + path
        sent_headers = self._headers(method, target, body, headers)
        connection = self._connect(read_timeout_s)
        try:
            response = self._exchange(connection, method, target, body, sent_headers)
        finally:
            connection.close()
        if response.status >= 400:
            raise self._error(response)
        return response

    def stream_lines(self, path: str, *, read_timeout_s: float | None) -> Iterator[bytes]:
        """GET a streaming answer (server-sent events) and yield its lines as they come; a
        status >= 400 raises `GatewayError`, a lost connection `GatewayUnreachable`."""
        connection = self._connect(read_timeout_s)
        try:
            try:
                raw = self._answer(connection, "GET", path, "text/event-stream")
                while line := raw.readline():
                    yield line
            except (OSError, http.client.HTTPException) as exc:
                raise self._lost(exc) from exc
        finally:
            connection.close()

    def download(self, method: str, path: str, out: BinaryIO, *, read_timeout_s: float) -> int:
        """Send one request and copy its answer into `out` as it arrives; returns the bytes
        copied. A status >= 400 raises `GatewayError`; an answer lost or cut short (fewer bytes
        than its Content-Length) raises `GatewayUnreachable`."""
        connection = self._connect(read_timeout_s)
        try:
            try:
                raw = self._answer(connection, method, path, "application/octet-stream")
            except (OSError, http.client.HTTPException) as exc:
                raise self._lost(exc) from exc
            expected = raw.getheader("Content-Length")
            copied = 0
            while True:
                try:
                    chunk = raw.read(DOWNLOAD_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise self._lost(exc) from exc
                if not chunk:
                    break
                out.write(chunk)  # a full disk is the caller's error, not a lost connection
                copied += len(chunk)
        finally:
            connection.close()
        if expected is not None and copied != int(expected):
            raise GatewayUnreachable(
                f"faas at {self.url} stopped after {copied} of {expected} bytes; see its log"
            )
        return copied

    def _answer(
        self, connection: http.client.HTTPConnection, method: str, path: str, accept: str
    ) -> http.client.HTTPResponse:
        """The response to a bodiless request, its body still unread; GatewayError for a
        status >= 400."""
        target = self.base_path + path
        sent_headers = self._headers(method, target, None, {"Accept": accept})
        connection.request(method, target, headers=sent_headers)
        raw = connection.getresponse()
        if raw.status >= 400:
            found = {name.lower(): value for name, value in raw.getheaders()}
            raise self._error(HttpResponse(raw.status, found, raw.read()))
        return raw

    def _lost(self, exc: BaseException) -> GatewayUnreachable:
        return GatewayUnreachable(f"lost the connection to faas at {self.url} ({_reason(exc)})")

    def _headers(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str] | None
    ) -> dict[str, str]:
        sent_headers = {"Accept": "application/json", "Host": self._host_header()}
        sent_headers.update(headers or {})
        if self.credentials is not None:
            sent_headers.update(
                _signature(
                    self.credentials,
                    self.region,
                    method=method,
                    target=target,
                    body=body or b"",
                    headers=sent_headers,
                )
            )
        sent_headers["User-Agent"] = USER_AGENT  # never signed: proxies may rewrite it
        return sent_headers

    def _error(self, response: HttpResponse) -> GatewayError:
        error = error_from_response(response)
        if self.credentials is None and error.code == "MissingAuthenticationTokenException":
            hint = NO_CREDENTIALS_HINT.format(looked_in=self.looked_in)
            return GatewayError(error.status, error.code, hint)
        return error

    def _host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def request_json(
        self, method: str, path: str, document: Any = None, *, read_timeout_s: float | None
    ) -> Any:
        """A management call: JSON in (if given), JSON out."""
        body = None if document is None else json.dumps(document).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        response = self.request(
            method, path, body=body, headers=headers, read_timeout_s=read_timeout_s
        )
        return response.json()

    def _connect(self, read_timeout_s: float | None) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=self.ca_bundle or None)
            connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=CONNECT_TIMEOUT_S, context=context
            )
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=CONNECT_TIMEOUT_S)
        try:
            connection.connect()
        except ssl.SSLError as exc:
            connection.close()
            raise GatewayUnreachable(
                f"TLS with faas at {self.url} failed ({exc.reason or exc}); for a private CA "
                "set FAAS_CA_BUNDLE (or AWS_CA_BUNDLE) to its certificate"
            ) from exc
        except OSError as exc:
            connection.close()
            raise GatewayUnreachable(
                f'cannot reach faas at {self.url} ({_reason(exc)}); is "faas serve" running?'
            ) from exc
        # Connected: from here on only the read timeout applies (None waits as long as it takes).
        if connection.sock is not None:
            connection.sock.settimeout(read_timeout_s)
        return connection

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        target: str,
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> HttpResponse:
        try:
            connection.request(method, target, body=body, headers=dict(headers))
            raw = connection.getresponse()
            payload = raw.read()
        except TimeoutError as exc:
            raise GatewayUnreachable(f"faas at {self.url} did not answer in time") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from exc
        found = {name.lower(): value for name, value in raw.getheaders()}
        return HttpResponse(raw.status, found, payload)


def _signature(
    credentials: Credentials,
    region: str,
    *,
    method: str,
    target: str,
    body: bytes,
    headers: Mapping[str, str],
) -> dict[str, str]:
    """The SigV4 headers for one request (Host and every other header sent is signed)."""
    return sign_headers(
        method,
        target,
        headers["Host"],
        body,
        {k: v for k, v in headers.items() if k.lower() != "host"},
        access_key_id=credentials.access_key_id,
        secret=credentials.secret_access_key,
        region=region,
        service=SERVICE,
        now=dt.datetime.now(dt.UTC),
        security_token=credentials.session_token,
    )


def function_path(name: str, suffix: str = "", query: Mapping[str, str] | None = None) -> str:
    """`/2015-03-31/functions/<name><suffix>`; the name is percent-encoded as botocore does."""
    path = f"/2015-03-31/functions/{quote(name, safe='')}{suffix}"
    return f"{path}?{urlencode(query)}" if query else path


def error_from_response(response: HttpResponse) -> GatewayError:
    """Lambda's error shape: code from the header (text after ':' ignored), body's Message."""
    document = _json_object(response.body)
    header = response.header("x-amzn-ErrorType") or ""
    code = header.split(":", 1)[0].strip()
    if not code:
        code = str(document.get("__type") or document.get("code") or f"HTTP {response.status}")
    message = document.get("Message") or document.get("message")
    if message is None:
        message = "" if document else response.body.decode("utf-8", "replace")
    return GatewayError(response.status, code, one_line(str(message)))


def one_line(text: str) -> str:
    """Messages are printed on one line, whatever the server or the function put in them."""
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
