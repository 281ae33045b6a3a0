"""Function tags (`function_tags`): TagResource, UntagResource, ListTags.

The ingester joins this table when it adds records to the per-tag rollups, so a tag applies
to the invocations ingested while the function has it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from faas.errors import InvalidParameterValue
from faas.store.tables import function_tags

_T = function_tags.c


class TagRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def tags(self, function_name: str) -> dict[str, str]:
        query = select(_T.tag_key, _T.tag_value).where(_T.function_name == function_name)
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(_T.tag_key))
            return {str(key): str(value) for key, value in rows}

    def tag(self, function_name: str, tags: Mapping[str, str], most: int) -> None:
        """Add or overwrite tags; InvalidParameterValue (nothing written) if the function
        would then have more than `most`."""
        if not tags:
            return
        with self._engine.begin() as connection:
            module = postgresql if connection.dialect.name == "postgresql" else sqlite
            statement = module.insert(function_tags)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[_T.function_name, _T.tag_key],
                    set_={"tag_value": statement.excluded.tag_value},
                ),
                [
                    {"function_name": function_name, "tag_key": key, "tag_value": value}
                    for key, value in tags.items()
                ],
            )
            count = connection.execute(
                select(func.count()).where(_T.function_name == function_name)
            ).scalar_one()
            if count > most:
                # Raising rolls the transaction back: the function keeps the tags it had.
                raise InvalidParameterValue(
                    f"A function can have at most {most} tags; this request would give it {count}"
                )

    def untag(self, function_name: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            with self._engine.begin() as connection:
                connection.execute(
                    delete(function_tags).where(
                        _T.function_name == function_name, _T.tag_key.in_(keys)
                    )
                )
