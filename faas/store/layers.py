"""Lambda layers: `layers` (each layer's version counter), `layer_versions` and
`layer_version_permissions`."""

from __future__ import annotations

import json

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    RowMapping,
    Update,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from faas.domain import LayerStatement, LayerVersion
from faas.errors import PreconditionFailed
from faas.store import function_layers
from faas.store.policies import statement_id_taken
from faas.store.tables import layer_version_permissions, layer_versions, layers

_V = layer_versions.c
_P = layer_version_permissions.c

_CONCURRENT_CHANGE = "The layer changed meanwhile; try again"


class LayerRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all_versions(self) -> list[LayerVersion]:
        query = select(layer_versions).order_by(_V.layer_name, _V.version)
        with self._engine.connect() as connection:
            return [_version_from_row(row) for row in connection.execute(query).mappings()]

    def last_versions(self) -> dict[str, int]:
        """Each layer's newest version number ever given (its versions may be gone)."""
        with self._engine.connect() as connection:
            return {
                str(name): int(last)
                for name, last in connection.execute(select(layers.c.name, layers.c.last_version))
            }

    def all_statements(self) -> list[LayerStatement]:
        query = select(_P.layer_name, _P.version, _P.statement_id, _P.statement)
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(_P.layer_name, _P.version, _P.statement_id))
            return [LayerStatement(*row) for row in rows]

    def insert_version(self, layer: LayerVersion, previous_last: int) -> None:
        """Store a new version and move the layer's counter to it, only if the counter is
        still `previous_last` (0: the layer is new); PreconditionFailed otherwise (another
        node published meanwhile)."""
        counter: Insert | Update
        if previous_last == 0:
            counter = insert(layers).values(name=layer.layer_name, last_version=layer.version)
        else:
            counter = (
                update(layers)
                .where(layers.c.name == layer.layer_name)
                .where(layers.c.last_version == previous_last)
                .values(last_version=layer.version)
            )
        try:
            with self._engine.begin() as connection:
                if connection.execute(counter).rowcount != 1:
                    raise PreconditionFailed(_CONCURRENT_CHANGE)
                connection.execute(insert(layer_versions).values(_version_to_row(layer)))
        except IntegrityError as exc:
            raise PreconditionFailed(_CONCURRENT_CHANGE) from exc

    def delete_version(self, name: str, version: int) -> None:
        """The version and its permissions (functions using it keep their own rows)."""
        with self._engine.begin() as connection:
            connection.execute(
                delete(layer_versions).where(_V.layer_name == name, _V.version == version)
            )
            connection.execute(
                delete(layer_version_permissions).where(
                    _P.layer_name == name, _P.version == version
                )
            )

    def add_statement(self, statement: LayerStatement, revision: str, new_revision: str) -> None:
        """Add a statement and move the version's policy revision from `revision` to
        `new_revision`; ResourceConflict when the statement id is taken."""
        try:
            with self._engine.begin() as connection:
                self._move_revision(connection, statement, revision, new_revision)
                connection.execute(
                    insert(layer_version_permissions).values(
                        layer_name=statement.layer_name,
                        version=statement.version,
                        statement_id=statement.statement_id,
                        statement=statement.statement,
                    )
                )
        except IntegrityError as exc:
            raise statement_id_taken(statement.statement_id) from exc

    def remove_statement(self, statement: LayerStatement, revision: str, new_revision: str) -> None:
        with self._engine.begin() as connection:
            self._move_revision(connection, statement, revision, new_revision)
            connection.execute(
                delete(layer_version_permissions).where(
                    _P.layer_name == statement.layer_name,
                    _P.version == statement.version,
                    _P.statement_id == statement.statement_id,
                )
            )

    def shas_in_use(self) -> set[str]:
        """The layer contents a layer version or a function version still names."""
        with self._engine.connect() as connection:
            kept = set(connection.execute(select(_V.code_sha256).distinct()).scalars())
            return kept | function_layers.shas_in_use(connection)

    def _move_revision(
        self, connection: Connection, statement: LayerStatement, revision: str, new: str
    ) -> None:
        moved = connection.execute(
            update(layer_versions)
            .where(_V.layer_name == statement.layer_name, _V.version == statement.version)
            .where(_V.policy_revision == revision)
            .values(policy_revision=new)
        )
        if moved.rowcount != 1:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetLayerVersionPolicy API to retrieve the latest Revision Id"
            )


def _version_to_row(layer: LayerVersion) -> dict[str, object]:
    return {
        "layer_name": layer.layer_name,
        "version": layer.version,
        "description": layer.description,
        "created": layer.created,
        "compatible_runtimes": json.dumps(list(layer.compatible_runtimes)),
        "compatible_architectures": json.dumps(list(layer.compatible_architectures)),
        "license_info": layer.license_info,
        "code_sha256": layer.code_sha256,
        "code_size": layer.code_size,
        "unzipped_size": layer.unzipped_size,
        "policy_revision": layer.policy_revision,
    }


def _version_from_row(row: RowMapping) -> LayerVersion:
    return LayerVersion(
        layer_name=row["layer_name"],
        version=row["version"],
        description=row["description"],
        created=row["created"],
        compatible_runtimes=tuple(json.loads(row["compatible_runtimes"])),
        compatible_architectures=tuple(json.loads(row["compatible_architectures"])),
        license_info=row["license_info"],
        code_sha256=row["code_sha256"],
        code_size=row["code_size"],
        unzipped_size=row["unzipped_size"],
        policy_revision=row["policy_revision"],
    )
