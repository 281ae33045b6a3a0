"""Function URL configurations (faas.registry.function_urls): validation, Lambda's errors, the
url-id lookup, with a fake registry and the real repository on SQLite."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faas.domain import FunctionConfig, UrlCors
from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from faas.registry.function_urls import FunctionUrls, lambda_time, parse_change, parse_cors
from faas.registry.names import function_arn
from faas.store import make_engine, migrate
from faas.store.function_urls import FunctionUrlRepo
from tests.helpers.sealing import TEST_SEALER

REGION, ACCOUNT = "us-east-1", "000000000000"


class FakeFunctions:
    """Functions by name; each has version 1 and the alias `live` besides $LATEST."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)

    def get(self, name: str) -> FunctionConfig:
        if name not in self.names:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name)}")
        return None  # type: ignore[return-value]  # only existence matters here

    def resolve(self, raw_name: str, qualifier: str | None) -> FunctionConfig:
        found = self.get(raw_name)
        if qualifier not in (None, "$LATEST", "1", "live"):
            raise ResourceNotFound(f"Function not found: {self.function_arn(raw_name, qualifier)}")
        return found

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(REGION, ACCOUNT, name, qualifier)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'faas.db'}")
    migrate(engine, sealer=TEST_SEALER)
    yield engine
    engine.dispose()


@pytest.fixture
def urls(engine: Any) -> FunctionUrls:
    return FunctionUrls(
        FunctionUrlRepo(engine), FakeFunctions("fn", "other"), clock=lambda: 1_800_000_000.25
    )


def change(**document: Any) -> Any:
    return parse_change(document)


def test_create_get_update_delete_and_the_lookup_by_url_id(urls: FunctionUrls) -> None:
    created = urls.create("fn", None, change(AuthType="NONE"))
    assert re.fullmatch(r"[a-z0-9]{32}", created.url_id)
    assert (created.auth_type, created.invoke_mode, created.cors) == ("NONE", "BUFFERED", None)
    assert created.created == created.last_modified == "2027-01-15T08:00:00.250000Z"
    assert urls.find(created.url_id) == created
    assert urls.get(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn", "$LATEST") == created
    updated = urls.update("fn", None, change(Cors={"AllowOrigins": ["*"], "MaxAge": 60}))
    assert updated.auth_type == "NONE"  # not given: kept
    assert updated.cors == UrlCors(allow_origins=("*",), max_age=60)
    assert updated.url_id == created.url_id
    assert urls.list_page("fn", None, None) == ([updated], None)
    urls.delete("fn", None)
    assert urls.find(created.url_id) is None
    assert urls.list_page("fn", None, None) == ([], None)
    with pytest.raises(ResourceNotFound, match="has no function URL"):
        urls.get("fn", None)


def test_the_cache_is_loaded_from_the_database(engine: Any, urls: FunctionUrls) -> None:
    created = urls.create("fn", None, change(AuthType="AWS_IAM", Cors={"AllowMethods": ["get"]}))
    again = FunctionUrls(FunctionUrlRepo(engine), FakeFunctions("fn"))
    again.load()
    assert again.find(created.url_id) == created
    assert created.cors == UrlCors(allow_methods=("GET",))


def test_lambdas_errors(urls: FunctionUrls) -> None:
    urls.create("fn", None, change(AuthType="NONE"))
    with pytest.raises(ResourceConflict, match="FunctionUrlConfig exists for this Lambda function"):
        urls.create("fn", None, change(AuthType="AWS_IAM"))
    with pytest.raises(ResourceNotFound, match="Function not found"):
        urls.create("ghost", None, change(AuthType="NONE"))
    with pytest.raises(ResourceNotFound):
        urls.update("other", None, change(AuthType="NONE"))
    with pytest.raises(ResourceNotFound):
        urls.delete("other", None)
    with pytest.raises(InvalidParameterValue, match="AuthType is required"):
        urls.create("other", None, change())
    with pytest.raises(InvalidParameterValue, match="for \\$LATEST or an alias"):
        urls.create("other", "1", change(AuthType="NONE"))
    with pytest.raises(ResourceNotFound, match="function:other:staging"):
        urls.create("other", "staging", change(AuthType="NONE"))
    with pytest.raises(InvalidParameterValue, match="maxItems"):
        urls.list_page("fn", None, 51)


def test_an_alias_has_a_url_of_its_own(engine: Any, urls: FunctionUrls) -> None:
    latest = urls.create("fn", None, change(AuthType="NONE"))
    live = urls.create("fn:live", None, change(AuthType="AWS_IAM"))
    assert (live.qualifier, latest.qualifier) == ("live", "$LATEST")
    assert live.url_id != latest.url_id
    assert urls.function_arn(live).endswith(":function:fn:live")
    assert urls.function_arn(latest).endswith(":function:fn")
    assert urls.get("fn", "live") == live
    assert urls.list_page("fn", None, None) == ([latest, live], None)
    assert urls.list_page("fn", None, 1) == ([latest], "live")
    assert urls.list_page("fn", "live", 1) == ([live], None)
    updated = urls.update("fn", "live", change(AuthType="NONE"))
    assert (updated.auth_type, urls.get("fn", None).auth_type) == ("NONE", "NONE")
    again = FunctionUrls(FunctionUrlRepo(engine), FakeFunctions("fn"))
    again.load()
    assert again.find(live.url_id) == updated
    # Deleting the alias deletes its URL; $LATEST's stays.
    urls.forget_qualifier("fn", "live")
    assert urls.find(live.url_id) is None
    assert urls.find(latest.url_id) == latest
    again = FunctionUrls(FunctionUrlRepo(engine), FakeFunctions("fn"))
    again.load()
    assert again.find(live.url_id) is None


def test_deleting_the_function_forgets_its_url(urls: FunctionUrls) -> None:
    created = urls.create("fn", None, change(AuthType="NONE"))
    urls.forget_function("fn")
    assert urls.find(created.url_id) is None
    urls.forget_function("never-had-one")


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"AuthType": "OPEN"}, "enum value set: [AWS_IAM, NONE]"),
        ({"InvokeMode": "RESPONSE_STREAM"}, "RESPONSE_STREAM is not supported yet"),
        ({"InvokeMode": "FAST"}, "invokeMode"),
        ({"Cors": []}, "Cors must be an object"),
        ({"Cors": {"AllowOrigin": ["*"]}}, "unknown field 'AllowOrigin'"),
        ({"Cors": {"AllowMethods": ["FETCH"]}}, "'FETCH' is not an HTTP method"),
        ({"Cors": {"AllowMethods": ["GET"] * 7}}, "at most 6 entries"),
        ({"Cors": {"AllowOrigins": [""]}}, "must not be empty"),
        ({"Cors": {"AllowOrigins": "*"}}, "must be a list of strings"),
        ({"Cors": {"MaxAge": 86401}}, "between 0 and 86400"),
        ({"Cors": {"AllowCredentials": "yes"}}, "true or false"),
    ],
)
def test_bad_documents_are_refused(document: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidParameterValue) as raised:
        parse_change(document)
    assert says in raised.value.message


def test_an_empty_cors_means_no_cors_handling() -> None:
    assert parse_cors({}) is None
    assert parse_cors(None) is None
    assert parse_change({"Cors": {}}).given == frozenset({"Cors"})


def test_lambda_time() -> None:
    assert lambda_time(0.5) == "1970-01-01T00:00:00.500000Z"
