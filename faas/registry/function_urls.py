"""Function URLs as the Lambda API sees them: Create/Get/Update/Delete/ListFunctionUrlConfigs,
with Lambda's validation and errors, and the lookup of a URL by its id for every request
served under /urls/<url_id>/.

Lookups (`find`) serve an in-memory dictionary and never touch the database: they sit on the
path of every request to a URL. Mutations block (the gateway runs them in a thread), one at a
time under a lock, writing the database first and then swapping in a new dictionary.

Choices a Lambda user would expect:
- A function has at most one URL for its `$LATEST` (no Qualifier, or `$LATEST`) and one for
  each alias (Qualifier: the alias name), as on Lambda; a version number is refused with
  Lambda's validation error (Lambda has no URLs of versions). A request to an alias's URL
  runs what the alias routes to. Deleting the alias deletes its URL.
- InvokeMode BUFFERED only: RESPONSE_STREAM is refused, saying so.
- A url id is 32 lowercase letters and digits, as Lambda's; the URL is
  `<scheme>://<host>/urls/<url_id>/` on this server (the gateway builds it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from faas.domain import LATEST, FunctionConfig, FunctionUrlConfig, UrlCors
from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from faas.registry.names import list_limit, list_target, split_function_name
from faas.store.function_urls import FunctionUrlRepo, UrlIdTaken

AUTH_NONE = "NONE"
AUTH_IAM = "AWS_IAM"
AUTH_TYPES = (AUTH_NONE, AUTH_IAM)
BUFFERED = "BUFFERED"
RESPONSE_STREAM = "RESPONSE_STREAM"
URL_ID_LENGTH = 32
URL_ID_ALPHABET = string.ascii_lowercase + string.digits
MAX_LIST_ITEMS = 50
# Cors limits, as Lambda's model has them.
CORS_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "*"})
MAX_ORIGINS = 100
MAX_ORIGIN_LENGTH = 253
MAX_METHODS = 6
MAX_HEADERS = 100
MAX_HEADER_LENGTH = 1024
MAX_AGE_S = 86400
_CORS_KEYS = frozenset(
    {"AllowOrigins", "AllowMethods", "AllowHeaders", "ExposeHeaders", "MaxAge", "AllowCredentials"}
)
_NO_URL = "The resource you requested does not exist."
_QUALIFIER_PATTERN = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"
_Key = tuple[str, str]  # (function name, qualifier)


class Functions(Protocol):
    """The registry, as function URLs use it."""

    def get(self, name: str) -> FunctionConfig: ...

    def resolve(self, raw_name: str, qualifier: str | None) -> FunctionConfig: ...

    def function_arn(self, name: str, qualifier: str | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class UrlChange:
    """What a Create or Update request says; `given` names the fields it carries (AuthType,
    Cors, InvokeMode), so an Update changes those only."""

    auth_type: str | None = None
    cors: UrlCors | None = None
    invoke_mode: str | None = None
    given: frozenset[str] = frozenset()


def parse_change(document: Mapping[str, Any]) -> UrlChange:
    """A Create/Update body (FunctionUrlConfig's fields), types and limits checked."""
    given: set[str] = set()
    auth_type = document.get("AuthType")
    if auth_type is not None:
        given.add("AuthType")
        if auth_type not in AUTH_TYPES:
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{str(auth_type)[:64]}' at 'authType' "
                "failed to satisfy constraint: Member must satisfy enum value set: "
                "[AWS_IAM, NONE]"
            )
    invoke_mode = document.get("InvokeMode")
    if invoke_mode is not None:
        given.add("InvokeMode")
        _check_invoke_mode(invoke_mode)
    cors = None
    if "Cors" in document:
        given.add("Cors")
        cors = parse_cors(document["Cors"])
    return UrlChange(auth_type, cors, invoke_mode, frozenset(given))


def parse_cors(value: object) -> UrlCors | None:
    """Lambda's Cors object checked; None when it sets nothing (no CORS handling)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidParameterValue("Cors must be an object")
    unknown = sorted(set(value) - _CORS_KEYS)
    if unknown:
        raise InvalidParameterValue(
            f"Cors: unknown field {unknown[0]!r} (known: {', '.join(sorted(_CORS_KEYS))})"
        )
    methods = _strings(value, "AllowMethods", MAX_METHODS, 6)
    if methods is not None:
        methods = tuple(method.upper() for method in methods)
        wrong = [method for method in methods if method not in CORS_METHODS]
        if wrong:
            raise InvalidParameterValue(
                f"Cors.AllowMethods: {wrong[0]!r} is not an HTTP method "
                f"({', '.join(sorted(CORS_METHODS))})"
            )
    origins = _strings(value, "AllowOrigins", MAX_ORIGINS, MAX_ORIGIN_LENGTH)
    if origins is not None and not all(origins):
        raise InvalidParameterValue("Cors.AllowOrigins: an origin must not be empty")
    max_age = value.get("MaxAge")
    if max_age is not None and (
        isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= MAX_AGE_S
    ):
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{max_age}' at 'cors.maxAge' failed to satisfy "
            f"constraint: Member must be an integer between 0 and {MAX_AGE_S}"
        )
    credentials = value.get("AllowCredentials")
    if credentials is not None and not isinstance(credentials, bool):
        raise InvalidParameterValue("Cors.AllowCredentials must be true or false")
    if credentials and "*" in (origins or ()):
        # Browsers refuse it, and echoing every origin instead would let any site read
        # answers with the caller's cookies.
        raise InvalidParameterValue(
            "Cors: AllowCredentials cannot go with AllowOrigins '*'; name the origins"
        )
    cors = UrlCors(
        allow_origins=origins,
        allow_methods=methods,
        allow_headers=_strings(value, "AllowHeaders", MAX_HEADERS, MAX_HEADER_LENGTH),
        expose_headers=_strings(value, "ExposeHeaders", MAX_HEADERS, MAX_HEADER_LENGTH),
        max_age=max_age,
        allow_credentials=credentials,
    )
    return None if cors == UrlCors() else cors


def _strings(
    document: Mapping[str, Any], key: str, max_items: int, max_length: int
) -> tuple[str, ...] | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidParameterValue(f"Cors.{key} must be a list of strings")
    if len(value) > max_items:
        raise InvalidParameterValue(f"Cors.{key}: at most {max_items} entries, not {len(value)}")
    if any(len(item) > max_length for item in value):
        raise InvalidParameterValue(f"Cors.{key}: an entry is longer than {max_length} characters")
    return tuple(value)


def _check_invoke_mode(mode: object) -> None:
    if mode == RESPONSE_STREAM:
        raise InvalidParameterValue(
            "InvokeMode RESPONSE_STREAM is not supported yet: faas answers function URLs "
            "BUFFERED (the whole response at once)"
        )
    if mode != BUFFERED:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{str(mode)[:64]}' at 'invokeMode' failed to "
            "satisfy constraint: Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]"
        )


def new_url_id() -> str:
    return "".join(secrets.choice(URL_ID_ALPHABET) for _ in range(URL_ID_LENGTH))


def lambda_time(epoch_s: float) -> str:
    """Lambda's CreationTime/LastModifiedTime: ISO 8601, microseconds, UTC (`...Z`)."""
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FunctionUrls:
    def __init__(
        self,
        repo: FunctionUrlRepo,
        functions: Functions,
        *,
        clock: Callable[[], float] = time.time,
        make_url_id: Callable[[], str] = new_url_id,
    ) -> None:
        self._repo = repo
        self._functions = functions
        self._clock = clock
        self._make_url_id = make_url_id
        self._by_id: dict[str, FunctionUrlConfig] = {}
        self._by_target: dict[_Key, FunctionUrlConfig] = {}
        self._mutation = threading.Lock()

    def load(self) -> None:
        """Fill the cache from the database (at startup)."""
        with self._mutation:
            self._publish(self._repo.all())

    # -- reads (no lock, no database) -------------------------------------------------------

    def find(self, url_id: str) -> FunctionUrlConfig | None:
        """The URL a request to /urls/<url_id>/ is for, or None."""
        return self._by_id.get(url_id)

    def function_arn(self, config: FunctionUrlConfig) -> str:
        """Lambda's FunctionArn of a URL: unqualified for $LATEST's, the alias's ARN else."""
        qualifier = None if config.qualifier == LATEST else config.qualifier
        return self._functions.function_arn(config.function_name, qualifier)

    def get(self, raw_name: str, qualifier: str | None) -> FunctionUrlConfig:
        key = self._target(raw_name, qualifier)
        found = self._by_target.get(key)
        if found is None:
            raise ResourceNotFound(self._no_url(key))
        return found

    def list_page(
        self, raw_name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionUrlConfig], str | None]:
        """The function's URLs in qualifier order ($LATEST's first), and the marker of the
        next page (the qualifier it starts at) or None."""
        name = list_target(raw_name, "ListFunctionUrlConfigs")
        self._functions.get(name)
        limit = list_limit(max_items, MAX_LIST_ITEMS)
        configs = sorted(
            (c for c in self._by_target.values() if c.function_name == name),
            key=lambda c: c.qualifier,
        )
        if marker:
            configs = [c for c in configs if c.qualifier >= marker]
        page, rest = configs[:limit], configs[limit:]
        return page, rest[0].qualifier if rest else None

    # -- writes (blocking: called in a thread) ----------------------------------------------

    def create(self, raw_name: str, qualifier: str | None, change: UrlChange) -> FunctionUrlConfig:
        key = self._target(raw_name, qualifier)
        if change.auth_type is None:
            raise InvalidParameterValue("AuthType is required: NONE or AWS_IAM")
        with self._mutation:
            if key in self._by_target or self._repo.get(*key) is not None:
                raise self._exists(key)
            now = lambda_time(self._clock())
            while True:
                config = FunctionUrlConfig(
                    function_name=key[0],
                    qualifier=key[1],
                    url_id=self._make_url_id(),
                    auth_type=change.auth_type,
                    cors=change.cors,
                    invoke_mode=change.invoke_mode or BUFFERED,
                    created=now,
                    last_modified=now,
                )
                try:
                    self._repo.insert(config)
                    break
                except UrlIdTaken:
                    if self._repo.get(*key) is not None:  # another node made one meanwhile
                        raise self._exists(key) from None
                    # 36^32 ids: a collision means a new draw, not an error.
            self._publish([*self._by_target.values(), config])
        return config

    def update(self, raw_name: str, qualifier: str | None, change: UrlChange) -> FunctionUrlConfig:
        """Change the fields given; ResourceNotFound when there is no such URL."""
        key = self._target(raw_name, qualifier)
        with self._mutation:
            current = self._by_target.get(key)
            if current is None:
                raise ResourceNotFound(self._no_url(key))
            given = change.given
            config = dataclasses.replace(
                current,
                auth_type=change.auth_type
                if "AuthType" in given and change.auth_type is not None
                else current.auth_type,
                cors=change.cors if "Cors" in given else current.cors,
                invoke_mode=change.invoke_mode
                if "InvokeMode" in given and change.invoke_mode is not None
                else current.invoke_mode,
                last_modified=lambda_time(self._clock()),
            )
            if not self._repo.replace(config):
                raise ResourceNotFound(self._no_url(key))
            others = [c for k, c in self._by_target.items() if k != key]
            self._publish([*others, config])
        return config

    def delete(self, raw_name: str, qualifier: str | None) -> None:
        key = self._target(raw_name, qualifier)
        with self._mutation:
            if not self._repo.delete(*key) and key not in self._by_target:
                raise ResourceNotFound(self._no_url(key))
            self._forget(lambda k: k == key)

    def forget_function(self, name: str) -> None:
        """A deleted function's URLs go with it (a registry delete listener)."""
        with self._mutation:
            self._repo.delete(name)
            self._forget(lambda key: key[0] == name)

    def forget_qualifier(self, name: str, qualifier: str) -> None:
        """A deleted alias's URL goes with it (a registry delete listener)."""
        with self._mutation:
            self._repo.delete(name, qualifier)
            self._forget(lambda key: key == (name, qualifier))

    # -- steps ------------------------------------------------------------------------------

    def _forget(self, gone: Callable[[_Key], bool]) -> None:
        if any(gone(key) for key in self._by_target):
            self._publish([c for k, c in self._by_target.items() if not gone(k)])

    def _publish(self, configs: list[FunctionUrlConfig]) -> None:
        # Copy-on-write: readers on the event loop take whichever dictionary is current.
        self._by_target = {(config.function_name, config.qualifier): config for config in configs}
        self._by_id = {config.url_id: config for config in configs}

    def _target(self, raw_name: str, qualifier: str | None) -> _Key:
        """(function, qualifier) a request names: $LATEST (no qualifier) or an alias, which
        must exist."""
        name, in_name = split_function_name(raw_name)
        if in_name is not None and qualifier is not None and in_name != qualifier:
            raise InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        qualifier = in_name or qualifier or LATEST
        if qualifier.isdigit():
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{qualifier}' at 'qualifier' failed to "
                f"satisfy constraint: Member must satisfy regular expression pattern: "
                f"{_QUALIFIER_PATTERN} (a function URL is for $LATEST or an alias)"
            )
        self._functions.resolve(name, qualifier)
        return name, qualifier

    def _arn(self, key: _Key) -> str:
        return self._functions.function_arn(key[0], None if key[1] == LATEST else key[1])

    def _exists(self, key: _Key) -> ResourceConflict:
        return ResourceConflict(
            f"Failed to create function url config for [functionArn = {self._arn(key)}]. "
            "Error message:  FunctionUrlConfig exists for this Lambda function"
        )

    def _no_url(self, key: _Key) -> str:
        return f"{_NO_URL} The function {self._arn(key)} has no function URL."
