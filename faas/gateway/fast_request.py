"""An Invoke request as the lean route (faas/gateway/front.py) hands it to the Invoke handler.

The handler chain (authentication, rate limit, authorization, audit, Invoke itself) is the
one aiohttp runs for the same route; it reads a small part of `web.Request`, and
`InvokeRequestView` names exactly that part. `FastRequest` provides it from what llhttp
parsed, so both routes run the same code and answer the same way, without aiohttp building
its request, payload stream and URL objects for every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDictProxy
from yarl import URL


class _RawUrl(Protocol):
    @property
    def raw_path(self) -> str: ...


class InvokeRequestView(Protocol):
    """What the Invoke route's handler chain reads of a request (and keeps on it)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def raw_path(self) -> str: ...
    @property
    def rel_url(self) -> _RawUrl: ...
    @property
    def query_string(self) -> str: ...
    @property
    def query(self) -> MultiDictProxy[str]: ...
    @property
    def match_info(self) -> Mapping[str, str]: ...
    @property
    def headers(self) -> CIMultiDictProxy[str]: ...
    @property
    def content_length(self) -> int | None: ...
    @property
    def remote(self) -> str | None: ...
    async def read(self) -> bytes: ...
    def __contains__(self, key: object) -> bool: ...
    def __getitem__(self, key: Any) -> Any: ...
    def __setitem__(self, key: Any, value: Any) -> None: ...
    def get(self, key: Any, default: Any = None) -> Any: ...


class _PathOnly:
    __slots__ = ("raw_path",)

    def __init__(self, raw_path: str) -> None:
        self.raw_path = raw_path


class FastRequest(dict[Any, Any]):
    """One parsed request; as a dict it holds what the handlers keep on it (the caller,
    what was authorized), as aiohttp's request does."""

    __slots__ = (
        "_body",
        "_max_body",
        "_too_large",
        "headers",
        "match_info",
        "method",
        "path",
        "query_string",
        "raw_path",
        "remote",
    )

    def __init__(
        self,
        *,
        method: str,
        raw_target: str,
        path: str,
        query_string: str,
        function_name: str,
        headers: CIMultiDict[str],
        body: bytes,
        body_size: int,
        max_body: int,
        remote: str | None,
    ) -> None:
        super().__init__()
        self.method = method
        self.raw_path = raw_target
        self.path = path
        self.query_string = query_string
        self.match_info = {"name": function_name}
        self.headers = CIMultiDictProxy(headers)
        self.remote = remote
        self._body = body
        # Past aiohttp's client_max_size the body was not kept: reading it fails the same way.
        self._too_large = body_size if body_size > max_body else 0
        self._max_body = max_body

    @property
    def rel_url(self) -> _PathOnly:
        return _PathOnly(self.path_raw_only)

    @property
    def path_raw_only(self) -> str:
        """The raw path without its query (aiohttp's `rel_url.raw_path`)."""
        return self.raw_path.partition("?")[0]

    @property
    def query(self) -> MultiDictProxy[str]:
        return URL(self.raw_path, encoded=True).query

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return None if value is None else int(value)

    async def read(self) -> bytes:
        if self._too_large:
            raise web.HTTPRequestEntityTooLarge(
                max_size=self._max_body, actual_size=self._too_large
            )
        return self._body
