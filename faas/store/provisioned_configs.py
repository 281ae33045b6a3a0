"""Provisioned concurrency of published versions and aliases (`provisioned_configs`).

Each change writes the configuration and its billed allocation (faas.store.
provisioned_allocations) in one transaction, so the bill always follows what was asked for.
Deleting a version or an alias (faas.store.repos.FunctionRepo) deletes its configuration and
closes its allocation in the same transaction as the row.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, delete, insert, select, update

from faas.domain import ProvisionedConfig
from faas.store.provisioned_allocations import reallocate
from faas.store.tables import provisioned_configs

_P = provisioned_configs.c


class ProvisionedConfigRepo:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def all(self) -> list[ProvisionedConfig]:
        query = select(provisioned_configs).order_by(_P.function_name, _P.qualifier)
        with self._engine.connect() as connection:
            return [
                ProvisionedConfig(
                    function_name=row.function_name,
                    qualifier=row.qualifier,
                    requested=row.requested,
                    last_modified=row.last_modified,
                )
                for row in connection.execute(query)
            ]

    def put(self, config: ProvisionedConfig, memory_mb: int) -> None:
        """Create or replace the configuration; its allocation becomes `requested` x
        `memory_mb` from now."""
        values = {"requested": config.requested, "last_modified": config.last_modified}
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(provisioned_configs)
                .where(_P.function_name == config.function_name, _P.qualifier == config.qualifier)
                .values(values)
            ).rowcount
            if not changed:
                connection.execute(
                    insert(provisioned_configs).values(
                        function_name=config.function_name, qualifier=config.qualifier, **values
                    )
                )
            reallocate(
                connection,
                config.function_name,
                config.requested,
                memory_mb,
                self._now_ms(),
                qualifier=config.qualifier,
            )

    def reallocate(self, config: ProvisionedConfig, memory_mb: int) -> None:
        """The configuration's allocation at `memory_mb` from now (its alias moved to a
        version of another size)."""
        with self._engine.begin() as connection:
            reallocate(
                connection,
                config.function_name,
                config.requested,
                memory_mb,
                self._now_ms(),
                qualifier=config.qualifier,
            )

    def delete(self, function_name: str, qualifier: str) -> bool:
        """True if there was a configuration; its allocation ends now."""
        with self._engine.begin() as connection:
            return remove_config(connection, function_name, qualifier, self._now_ms())

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def remove_config(connection: Connection, function_name: str, qualifier: str, now_ms: int) -> bool:
    """Delete a qualifier's configuration and end its allocation, in the caller's
    transaction; True if there was one."""
    removed = connection.execute(
        delete(provisioned_configs).where(
            _P.function_name == function_name, _P.qualifier == qualifier
        )
    ).rowcount
    reallocate(connection, function_name, 0, 0, now_ms, qualifier=qualifier)
    return bool(removed)
