"""Function URLs (CreateFunctionUrlConfig), one per function and qualifier: the
`function_urls` table."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, RowMapping, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from faas.domain import FunctionUrlConfig, UrlCors
from faas.store.tables import function_urls


class UrlIdTaken(Exception):
    """The url id (or the function's row) exists already: the insert changed nothing."""


class FunctionUrlRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> list[FunctionUrlConfig]:
        with self._engine.connect() as connection:
            return [_config(row) for row in connection.execute(select(function_urls)).mappings()]

    def get(self, function_name: str, qualifier: str) -> FunctionUrlConfig | None:
        query = select(function_urls).where(
            function_urls.c.function_name == function_name,
            function_urls.c.qualifier == qualifier,
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _config(row)

    def insert(self, config: FunctionUrlConfig) -> None:
        """Add the URL; UrlIdTaken when its url id is taken or its qualifier has one."""
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(function_urls).values(_row(config)))
        except IntegrityError as exc:
            raise UrlIdTaken(config.url_id) from exc

    def replace(self, config: FunctionUrlConfig) -> bool:
        """Change a URL's settings (its url id stays); False if there is none."""
        row = _row(config)
        del row["function_name"], row["qualifier"], row["url_id"], row["created"]
        statement = (
            update(function_urls)
            .where(
                function_urls.c.function_name == config.function_name,
                function_urls.c.qualifier == config.qualifier,
            )
            .values(row)
        )
        with self._engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)

    def delete(self, function_name: str, qualifier: str | None = None) -> bool:
        """Remove one qualifier's URL, or (None) every one of the function's."""
        statement = delete(function_urls).where(function_urls.c.function_name == function_name)
        if qualifier is not None:
            statement = statement.where(function_urls.c.qualifier == qualifier)
        with self._engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)


def _row(config: FunctionUrlConfig) -> dict[str, Any]:
    return {
        "function_name": config.function_name,
        "qualifier": config.qualifier,
        "url_id": config.url_id,
        "auth_type": config.auth_type,
        "cors": None if config.cors is None else orjson.dumps(config.cors.document()).decode(),
        "invoke_mode": config.invoke_mode,
        "created": config.created,
        "last_modified": config.last_modified,
    }


def _config(row: RowMapping) -> FunctionUrlConfig:
    cors = row["cors"]
    return FunctionUrlConfig(
        function_name=row["function_name"],
        url_id=row["url_id"],
        auth_type=row["auth_type"],
        cors=None if cors is None else UrlCors.from_document(orjson.loads(cors)),
        invoke_mode=row["invoke_mode"],
        created=row["created"],
        last_modified=row["last_modified"],
        qualifier=row["qualifier"],
    )
