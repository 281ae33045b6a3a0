"""The `function_layers` table: each function's (and each published version's) Layers, in
order. FunctionRepo writes them in the transaction that writes the function or version."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select

from faas.domain import LATEST, LayerRef
from faas.store.tables import function_layers

_L = function_layers.c
# $LATEST's rows; a published version's rows carry its number.
LATEST_NUMBER = 0
_Key = tuple[str, str]  # (function name, version as FunctionConfig.version says it)


def write(connection: Connection, name: str, number: int, layers: Sequence[LayerRef]) -> None:
    """Replace the layers of one function version (`number`: LATEST_NUMBER for $LATEST)."""
    connection.execute(
        delete(function_layers).where(_L.function_name == name, _L.version == number)
    )
    if layers:
        connection.execute(
            insert(function_layers),
            [
                {
                    "function_name": name,
                    "version": number,
                    "position": position,
                    "layer_arn": ref.arn,
                    "code_sha256": ref.code_sha256,
                    "code_size": ref.code_size,
                    "unzipped_size": ref.unzipped_size,
                }
                for position, ref in enumerate(layers)
            ],
        )


def remove(connection: Connection, name: str, number: int | None = None) -> None:
    """The layers of one version, or (`number` None) of the function and all its versions."""
    statement = delete(function_layers).where(_L.function_name == name)
    if number is not None:
        statement = statement.where(_L.version == number)
    connection.execute(statement)


def read_all(connection: Connection) -> dict[_Key, tuple[LayerRef, ...]]:
    """Every function version's layers, by (name, "$LATEST" or the version number)."""
    query = select(function_layers).order_by(_L.function_name, _L.version, _L.position)
    found: dict[_Key, list[LayerRef]] = {}
    for row in connection.execute(query).mappings():
        number = row["version"]
        key = (row["function_name"], LATEST if number == LATEST_NUMBER else str(number))
        found.setdefault(key, []).append(
            LayerRef(
                arn=row["layer_arn"],
                code_sha256=row["code_sha256"],
                code_size=row["code_size"],
                unzipped_size=row["unzipped_size"],
            )
        )
    return {key: tuple(refs) for key, refs in found.items()}


def shas_in_use(connection: Connection) -> set[str]:
    """The layer contents some function version uses."""
    return set(connection.execute(select(_L.code_sha256).distinct()).scalars())
