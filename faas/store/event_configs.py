"""Event invoke configurations (retries, event age, destinations), per function and qualifier."""

from __future__ import annotations

from sqlalchemy import Engine, RowMapping, delete, insert, select, update

from faas.domain import EventInvokeConfig
from faas.store.tables import event_invoke_configs

_FIELDS = (
    "maximum_retry_attempts",
    "maximum_event_age_s",
    "on_success",
    "on_failure",
    "last_modified_ms",
)


class EventConfigRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, function_name: str, qualifier: str) -> EventInvokeConfig | None:
        query = select(event_invoke_configs).where(
            event_invoke_configs.c.function_name == function_name,
            event_invoke_configs.c.qualifier == qualifier,
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _config(row)

    def for_event(self, function_name: str, qualifier: str | None) -> EventInvokeConfig | None:
        """The configuration an event of `function_name` (unqualified: $LATEST) runs under."""
        return self.get(function_name, qualifier or "$LATEST")

    def list_for(self, function_name: str) -> list[EventInvokeConfig]:
        query = (
            select(event_invoke_configs)
            .where(event_invoke_configs.c.function_name == function_name)
            .order_by(event_invoke_configs.c.qualifier)
        )
        with self._engine.connect() as connection:
            return [_config(row) for row in connection.execute(query).mappings()]

    def all(self) -> list[EventInvokeConfig]:
        with self._engine.connect() as connection:
            return [
                _config(row) for row in connection.execute(select(event_invoke_configs)).mappings()
            ]

    def put(self, config: EventInvokeConfig) -> None:
        """Create or replace the whole configuration."""
        values = {field: getattr(config, field) for field in _FIELDS}
        key = (
            event_invoke_configs.c.function_name == config.function_name,
            event_invoke_configs.c.qualifier == config.qualifier,
        )
        with self._engine.begin() as connection:
            changed = connection.execute(update(event_invoke_configs).where(*key).values(values))
            if changed.rowcount == 0:
                connection.execute(
                    insert(event_invoke_configs).values(
                        function_name=config.function_name, qualifier=config.qualifier, **values
                    )
                )

    def delete(self, function_name: str, qualifier: str | None = None) -> int:
        """Remove one qualifier's configuration, or (None) every one of the function's."""
        statement = delete(event_invoke_configs).where(
            event_invoke_configs.c.function_name == function_name
        )
        if qualifier is not None:
            statement = statement.where(event_invoke_configs.c.qualifier == qualifier)
        with self._engine.begin() as connection:
            return int(connection.execute(statement).rowcount)


def _config(row: RowMapping) -> EventInvokeConfig:
    return EventInvokeConfig(
        function_name=row["function_name"],
        qualifier=row["qualifier"],
        maximum_retry_attempts=row["maximum_retry_attempts"],
        maximum_event_age_s=row["maximum_event_age_s"],
        on_success=row["on_success"],
        on_failure=row["on_failure"],
        last_modified_ms=row["last_modified_ms"],
    )
