"""A bounded load generator for fault tests: signed Invoke calls on loopback from a few
threads, each on one kept-alive connection, stopping by itself after a count or a deadline;
every call's outcome classified the way a Lambda client sees it."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.helpers.server import REGION, AccessKey

# What a function may answer with under a fault it did not cause (its worker or its zygote
# was killed): Lambda's own words for a sandbox that died under the invocation.
WORKER_DIED = frozenset({"Runtime.ExitError"})


@dataclass(frozen=True)
class Call:
    function: str
    payload: bytes = b"{}"
    invocation_type: str = "RequestResponse"  # or "Event"


@dataclass(frozen=True)
class Answer:
    """One call's outcome. `status` 0: no HTTP answer at all (connection refused or cut)."""

    call: Call
    status: int
    request_id: str = ""
    error_code: str = ""  # X-Amzn-ErrorType: the platform refused or failed the call
    error_message: str = ""
    function_error: str = ""  # X-Amz-Function-Error: the function's own failure
    error_type: str = ""  # errorType of a function error's body
    body: bytes = b""
    transport_error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status in (200, 202) and not self.function_error and not self.error_code

    @property
    def answered(self) -> bool:
        """An invocation the platform answered as run (or, for an event, as accepted)."""
        return self.status in (200, 202) and not self.error_code


@dataclass
class LoadResult:
    answers: list[Answer] = field(default_factory=list)

    def by(self, predicate: Callable[[Answer], bool]) -> list[Answer]:
        return [answer for answer in self.answers if predicate(answer)]

    def summary(self) -> dict[str, int]:
        """How many calls ended each way (printed by the tests: the figures of a run)."""
        counts: dict[str, int] = {}
        for answer in self.answers:
            kind = (
                answer.transport_error.split(":")[0]
                or answer.error_type
                or answer.error_code
                or str(answer.status)
            )
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def unclean(self, function_errors: frozenset[str] = frozenset()) -> list[Answer]:
        """Answers that are neither a success nor a clean Lambda-shaped error: a 429
        TooManyRequestsException, a ServiceException with a readable message, or a function
        error whose errorType is one of `function_errors`."""
        return [a for a in self.answers if not is_clean(a, function_errors)]


def is_clean(answer: Answer, function_errors: frozenset[str]) -> bool:
    if answer.succeeded:
        return True
    if answer.function_error:
        return answer.function_error == "Unhandled" and answer.error_type in function_errors
    if answer.status == 429:
        return answer.error_code == "TooManyRequestsException"
    if answer.status >= 500:
        return bool(answer.error_code) and len(answer.error_message) > 10
    return False


def run_load(
    url: str,
    key: AccessKey,
    calls: Sequence[Call],
    *,
    concurrency: int = 8,
    deadline_s: float = 30.0,
    stop_on_transport_error: bool = False,
    result: LoadResult | None = None,
) -> LoadResult:
    """Send `calls` from `concurrency` threads (bounded: never past `deadline_s`); answers
    are appended to `result` as they come (a fault injector may watch it)."""
    result = LoadResult() if result is None else result
    lock = threading.Lock()
    next_index = iter(range(len(calls)))
    deadline = time.monotonic() + deadline_s

    def take() -> Call | None:
        with lock:
            index = next(next_index, None)
        return None if index is None or time.monotonic() > deadline else calls[index]

    def caller() -> None:
        client = InvokeClient(url, key)
        try:
            while (call := take()) is not None:
                answer = client.invoke(call)
                with lock:
                    result.answers.append(answer)
                if answer.transport_error and stop_on_transport_error:
                    return
        finally:
            client.close()

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 30)
    return result


class InvokeClient:
    """Invoke over one kept-alive HTTP connection, signed with botocore's SigV4 signer."""

    def __init__(self, url: str, key: AccessKey) -> None:
        parsed = urllib.parse.urlsplit(url)
        self._url = url
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or 80
        self._credentials = Credentials(key.access_key_id, key.secret)
        self._connection: http.client.HTTPConnection | None = None

    def invoke(self, call: Call) -> Answer:
        path = f"/2015-03-31/functions/{call.function}/invocations"
        signed = AWSRequest(
            method="POST",
            url=self._url + path,
            data=call.payload,
            headers={"X-Amz-Invocation-Type": call.invocation_type},
        )
        SigV4Auth(self._credentials, "lambda", REGION).add_auth(signed)
        try:
            connection = self._connect()
            connection.request("POST", path, body=call.payload, headers=dict(signed.headers))
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # a fresh connection for the next call
            return Answer(call, 0, transport_error=f"{type(exc).__name__}: {exc}")
        return answer_of(call, response, body)

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def answer_of(call: Call, response: http.client.HTTPResponse, body: bytes) -> Answer:
    error_code = response.getheader("X-Amzn-ErrorType") or ""
    function_error = response.getheader("X-Amz-Function-Error") or ""
    document = _json_object(body) if (error_code or function_error) else {}
    return Answer(
        call,
        response.status,
        request_id=response.getheader("x-amzn-RequestId") or "",
        error_code=error_code.split(":")[0],
        error_message=str(document.get("Message") or document.get("message") or ""),
        function_error=function_error,
        error_type=str(document.get("errorType") or ""),
        body=body,
    )


def _json_object(body: bytes) -> dict[str, object]:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
