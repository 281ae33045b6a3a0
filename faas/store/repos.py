"""Rows <-> domain dataclasses, with SQLAlchemy Core (no ORM: it costs on the hot path)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    Select,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from faas.domain import (
    Alias,
    AuditEvent,
    AuditOutcome,
    AuditQuery,
    FileSystemConfig,
    FunctionConfig,
    InvocationStatus,
    LayerRef,
    LoggingConfig,
    ProvisionedConfig,
    PublishedState,
    Record,
    StoredKey,
    StoredRole,
)
from faas.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from faas.store import function_layers
from faas.store.provisioned_allocations import deallocate_all, reallocate
from faas.store.provisioned_configs import ProvisionedConfigRepo, remove_config
from faas.store.sealing import Sealer, open_environment, seal_environment
from faas.store.tables import (
    AUDIT_ACTION_MAX,
    AUDIT_ERROR_CODE_MAX,
    AUDIT_METHOD_MAX,
    AUDIT_PATH_MAX,
    AUDIT_RESOURCE_MAX,
    AUDIT_SOURCE_MAX,
    ERROR_TYPE_MAX,
    ISOLATION_MAX,
    access_keys,
    audit_events,
    function_aliases,
    function_tags,
    function_versions,
    functions,
    invocations,
    provisioned_configs,
    roles,
)

MAX_RECENT = 1000

_REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


class FunctionRepo:
    """The `functions` table: one row per function name; environments sealed by `sealer`."""

    def __init__(
        self, engine: Engine, sealer: Sealer, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._sealer = sealer
        self._clock = clock
        self._provisioned = ProvisionedConfigRepo(engine, clock)

    def all(self) -> list[FunctionConfig]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(functions).order_by(functions.c.name))
            configs = [self._config_from_row(row) for row in rows.mappings()]
            layers = function_layers.read_all(connection)
        return [_with_layers(cfg, layers) for cfg in configs]

    def get(self, name: str) -> FunctionConfig | None:
        query = select(functions).where(functions.c.name == name)
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
            layers = function_layers.read_all(connection) if row is not None else {}
        return None if row is None else _with_layers(self._config_from_row(row), layers)

    def insert(self, cfg: FunctionConfig) -> None:
        """Store a new function; ResourceConflict if the name is taken."""
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(functions).values(self._config_to_row(cfg)))
                function_layers.write(
                    connection, cfg.name, function_layers.LATEST_NUMBER, cfg.layers
                )
                self._reallocate(connection, cfg)
        except IntegrityError as exc:
            raise ResourceConflict(f"Function already exist: {cfg.name}") from exc

    def replace(self, cfg: FunctionConfig, expected_revision_id: str) -> None:
        """Overwrite the function, only if nobody changed it since `expected_revision_id`.

        One conditional UPDATE, so two concurrent updates cannot both win.
        """
        values = self._config_to_row(cfg)
        del values["name"]
        statement = (
            update(functions)
            .where(functions.c.name == cfg.name)
            .where(functions.c.revision_id == expected_revision_id)
            .values(values)
        )
        with self._engine.begin() as connection:
            if connection.execute(statement).rowcount == 1:
                function_layers.write(
                    connection, cfg.name, function_layers.LATEST_NUMBER, cfg.layers
                )
                self._reallocate(connection, cfg)
                return
            found = connection.execute(select(exists().where(functions.c.name == cfg.name)))
            if not found.scalar_one():
                raise ResourceNotFound(f"Function not found: {cfg.name}")
        raise PreconditionFailed(_REVISION_MISMATCH)

    def delete(self, name: str) -> bool:
        """True if the function existed. Its versions, aliases and tags go with it."""
        with self._engine.begin() as connection:
            result = connection.execute(delete(functions).where(functions.c.name == name))
            connection.execute(delete(function_tags).where(function_tags.c.function_name == name))
            connection.execute(
                delete(function_versions).where(function_versions.c.function_name == name)
            )
            connection.execute(
                delete(function_aliases).where(function_aliases.c.function_name == name)
            )
            function_layers.remove(connection, name)
            connection.execute(
                delete(provisioned_configs).where(provisioned_configs.c.function_name == name)
            )
            deallocate_all(connection, name, self._now_ms())
        return result.rowcount > 0

    # -- provisioned concurrency of versions and aliases -------------------------------------

    def all_provisioned(self) -> list[ProvisionedConfig]:
        return self._provisioned.all()

    def put_provisioned(self, config: ProvisionedConfig, memory_mb: int) -> None:
        self._provisioned.put(config, memory_mb)

    def reallocate_provisioned(self, config: ProvisionedConfig, memory_mb: int) -> None:
        self._provisioned.reallocate(config, memory_mb)

    def delete_provisioned(self, name: str, qualifier: str) -> bool:
        return self._provisioned.delete(name, qualifier)

    # -- published versions and aliases ------------------------------------------------------

    def published_states(self) -> dict[str, PublishedState]:
        """Each function's version counter, by name (functions that published something)."""
        query = select(
            functions.c.name, functions.c.last_version, functions.c.last_published_revision
        ).where(functions.c.last_version > 0)
        with self._engine.connect() as connection:
            return {
                name: PublishedState(last, revision or "")
                for name, last, revision in connection.execute(query)
            }

    def all_versions(self) -> list[FunctionConfig]:
        """Every published version, by function name and number."""
        query = select(function_versions).order_by(
            function_versions.c.function_name, function_versions.c.version
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            layers = function_layers.read_all(connection)
        return [_with_layers(self._version_from_row(row), layers) for row in rows]

    def insert_version(self, cfg: FunctionConfig, before: PublishedState, latest: str) -> None:
        """Store a published version (`cfg.version` is its number) and move the function's
        counter to it, only if the counter is still `before` and $LATEST still at revision
        `latest`; PreconditionFailed otherwise (another node published or changed it)."""
        number = int(cfg.version)
        counter = (
            update(functions)
            .where(functions.c.name == cfg.name)
            .where(functions.c.revision_id == latest)
            .where(functions.c.last_version == before.last_version)
            .values(last_version=number, last_published_revision=latest)
        )
        row = _config_to_row(cfg, seal_environment(self._sealer, cfg.name, cfg.environment))
        for column in ("name", "reserved_concurrency", "provisioned_concurrency"):
            del row[column]
        row.update(function_name=cfg.name, version=number)
        with self._engine.begin() as connection:
            if connection.execute(counter).rowcount != 1:
                raise PreconditionFailed(_REVISION_MISMATCH)
            connection.execute(insert(function_versions).values(row))
            function_layers.write(connection, cfg.name, number, cfg.layers)

    def delete_version(self, name: str, number: int) -> None:
        """Its provisioned concurrency goes with it (and stops being billed)."""
        statement = delete(function_versions).where(
            function_versions.c.function_name == name, function_versions.c.version == number
        )
        with self._engine.begin() as connection:
            connection.execute(statement)
            function_layers.remove(connection, name, number)
            remove_config(connection, name, str(number), self._now_ms())

    def all_aliases(self) -> list[Alias]:
        query = select(function_aliases).order_by(
            function_aliases.c.function_name, function_aliases.c.name
        )
        with self._engine.connect() as connection:
            return [_alias_from_row(row) for row in connection.execute(query).mappings()]

    def insert_alias(self, alias: Alias) -> None:
        """ResourceConflict if the function has an alias of that name already."""
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(function_aliases).values(_alias_to_row(alias)))
        except IntegrityError as exc:
            raise ResourceConflict(f"Alias already exists: {alias.name}") from exc

    def replace_alias(self, alias: Alias, expected_revision_id: str) -> None:
        """Overwrite the alias, only if nobody changed it since `expected_revision_id`."""
        values = _alias_to_row(alias)
        statement = (
            update(function_aliases)
            .where(function_aliases.c.function_name == alias.function_name)
            .where(function_aliases.c.name == alias.name)
            .where(function_aliases.c.revision_id == expected_revision_id)
            .values(values)
        )
        with self._engine.begin() as connection:
            if connection.execute(statement).rowcount != 1:
                raise PreconditionFailed(_REVISION_MISMATCH)

    def delete_alias(self, function_name: str, name: str) -> None:
        """Its provisioned concurrency goes with it (and stops being billed)."""
        statement = delete(function_aliases).where(
            function_aliases.c.function_name == function_name, function_aliases.c.name == name
        )
        with self._engine.begin() as connection:
            connection.execute(statement)
            remove_config(connection, function_name, name, self._now_ms())

    def _version_from_row(self, row: RowMapping) -> FunctionConfig:
        name = row["function_name"]
        environment = open_environment(self._sealer, name, row["environment"])
        values = {
            **row,
            "name": name,
            "version": str(row["version"]),
            "reserved_concurrency": None,
            "provisioned_concurrency": None,
        }
        return _config_from_row(values, environment)

    def _reallocate(self, connection: Connection, cfg: FunctionConfig) -> None:
        """Provisioned concurrency is billed while allocated: its interval follows the row."""
        workers = cfg.provisioned_concurrency or 0
        reallocate(connection, cfg.name, workers, cfg.memory_mb, self._now_ms())

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _config_to_row(self, cfg: FunctionConfig) -> dict[str, Any]:
        return _config_to_row(cfg, seal_environment(self._sealer, cfg.name, cfg.environment))

    def _config_from_row(self, row: RowMapping) -> FunctionConfig:
        environment = open_environment(self._sealer, row["name"], row["environment"])
        return _config_from_row(row, environment)

    def code_in_use(self, sha256: str) -> bool:
        """Whether any function or published version still points at this code bundle (else
        it may be removed)."""
        query = select(
            or_(
                exists().where(functions.c.code_sha256 == sha256),
                exists().where(function_versions.c.code_sha256 == sha256),
            )
        )
        with self._engine.connect() as connection:
            return bool(connection.execute(query).scalar_one())


def _with_layers(
    cfg: FunctionConfig, layers: Mapping[tuple[str, str], tuple[LayerRef, ...]]
) -> FunctionConfig:
    found = layers.get((cfg.name, cfg.version))
    return cfg if not found else dataclasses.replace(cfg, layers=found)


class KeyRepo:
    """The `access_keys` table: one row per key name."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> list[StoredKey]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(access_keys).order_by(access_keys.c.name))
            return [StoredKey(**dict(row)) for row in rows.mappings()]

    def insert(self, key: StoredKey) -> None:
        """ResourceConflict if the name (or, astronomically unlikely, the id) is taken."""
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(access_keys).values(_key_to_row(key)))
        except IntegrityError as exc:
            raise ResourceConflict(f"An access key named {key.name} already exists") from exc

    def replace(self, name: str, expected_key_id: str, key: StoredKey) -> None:
        """Swap the key of `name`, only if it is still `expected_key_id`."""
        statement = (
            update(access_keys)
            .where(access_keys.c.name == name)
            .where(access_keys.c.access_key_id == expected_key_id)
            .values(_key_to_row(key))
        )
        with self._engine.begin() as connection:
            if connection.execute(statement).rowcount != 1:
                raise ResourceConflict(f"The access key {name} changed meanwhile; try again")

    def delete(self, name: str) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(delete(access_keys).where(access_keys.c.name == name))
        return result.rowcount > 0


class RoleRepo:
    """The `roles` table: one row per execution role."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> list[StoredRole]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(roles).order_by(roles.c.name))
            return [StoredRole(**dict(row)) for row in rows.mappings()]

    def insert(self, role: StoredRole) -> None:
        values = {"name": role.name, "policy": role.policy, "created": role.created}
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(roles).values(values))
        except IntegrityError as exc:
            raise ResourceConflict(f"A role named {role.name} already exists") from exc

    def delete(self, name: str) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(delete(roles).where(roles.c.name == name))
        return result.rowcount > 0


def _key_to_row(key: StoredKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "access_key_id": key.access_key_id,
        "secret_encrypted": key.secret_encrypted,
        "policy": key.policy,
        "created": key.created,
    }


class RecordRepo:
    """The `invocations` table: one durable row per invocation.

    Rows travel as tuples in RECORD_COLUMNS order (`record_row`): the journal stores them so,
    and the ingester inserts them so, without building a Record in between.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def insert_many(self, records: Sequence[Record], connection: Connection) -> None:
        """Add the rows in the caller's transaction (one executemany)."""
        if records:
            connection.execute(insert(invocations), [_record_to_row(r) for r in records])

    def insert_rows_once(self, rows: Sequence[Sequence[Any]], connection: Connection) -> list[int]:
        """Add rows (tuples, see `record_row`) in the caller's transaction; a row whose request
        id is already stored is left out (ON CONFLICT DO NOTHING), so replaying is harmless.
        Returns the ids of the rows stored. MalformedRows if a row does not hold one value
        per column."""
        if not rows:
            return []
        dialect = connection.dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        statement = (
            module.insert(invocations)
            .on_conflict_do_nothing(
                index_elements=[invocations.c.request_id, invocations.c.attempt]
            )
            .returning(invocations.c.id)
        )
        try:
            values = [dict(zip(RECORD_COLUMNS, _full_row(row), strict=True)) for row in rows]
        except (TypeError, ValueError) as exc:
            raise MalformedRows(f"not a row of {len(RECORD_COLUMNS)} values: {exc}") from exc
        return [int(row[0]) for row in connection.execute(statement, values)]

    @staticmethod
    def sqlite_reads_json(dbapi_connection: Any) -> bool:
        """Whether this SQLite has the JSON functions `insert_json_rows_once_sqlite` uses
        (built in since 3.38, an option before)."""
        try:
            dbapi_connection.execute("SELECT json_extract(value, '$[0]') FROM json_each('[[1]]')")
        except sqlite3.OperationalError:
            return False
        return True

    def insert_json_rows_once_sqlite(self, rows_json: bytes, dbapi_connection: Any) -> None:
        """The same for rows given as one JSON array of row arrays, in one statement through a
        SQLite driver connection (the ingester's fast path); the caller commits.
        MalformedRows if that is not valid JSON."""
        try:
            dbapi_connection.execute(_SQLITE_INSERT_JSON_ONCE, (rows_json.decode(),))
        except sqlite3.OperationalError as exc:
            if "JSON" not in str(exc):
                raise
            raise MalformedRows(str(exc)) from exc
        except UnicodeDecodeError as exc:
            raise MalformedRows(str(exc)) from exc

    def recent(self, function_name: str | None, limit: int) -> list[Record]:
        """Newest first; `limit` is clamped to 1..1000."""
        query = select(invocations).order_by(invocations.c.id.desc())
        if function_name is not None:
            query = query.where(invocations.c.function_name == function_name)
        query = query.limit(max(1, min(limit, MAX_RECENT)))
        with self._engine.connect() as connection:
            return [_record_from_row(row) for row in connection.execute(query).mappings()]

    def count(self, function_name: str | None = None) -> int:
        query = select(func.count()).select_from(invocations)
        if function_name is not None:
            query = query.where(invocations.c.function_name == function_name)
        with self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())


def _config_to_row(cfg: FunctionConfig, sealed_environment: str) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "runtime": cfg.runtime,
        "handler": cfg.handler,
        "role": cfg.role,
        "memory_mb": cfg.memory_mb,
        "timeout_s": cfg.timeout_s,
        "ephemeral_storage_mb": cfg.ephemeral_storage_mb,
        "environment": sealed_environment,
        "description": cfg.description,
        "code_sha256": cfg.code_sha256,
        "code_size": cfg.code_size,
        "revision_id": cfg.revision_id,
        "last_modified": cfg.last_modified,
        "version": cfg.version,
        "network": cfg.network,
        "reserved_concurrency": cfg.reserved_concurrency,
        "snap_start": cfg.snap_start,
        "provisioned_concurrency": cfg.provisioned_concurrency,
        "sandbox_uid": cfg.sandbox_uid,
        "network_allow": json.dumps(list(cfg.network_allow)),
        "kms_key_arn": cfg.kms_key_arn,
        "role_passed": cfg.role_passed,
        "file_system_configs": json.dumps(
            [[entry.arn, entry.local_mount_path] for entry in cfg.file_system_configs]
        ),
        "recursive_loop": cfg.recursive_loop,
        "logging_config": _logging_to_json(cfg.logging),
    }


def _config_from_row(
    row: RowMapping | Mapping[str, Any], environment: Mapping[str, str]
) -> FunctionConfig:
    return FunctionConfig(
        name=row["name"],
        runtime=row["runtime"],
        handler=row["handler"],
        role=row["role"],
        memory_mb=row["memory_mb"],
        timeout_s=row["timeout_s"],
        ephemeral_storage_mb=row["ephemeral_storage_mb"],
        environment=environment,
        description=row["description"],
        code_sha256=row["code_sha256"],
        code_size=row["code_size"],
        revision_id=row["revision_id"],
        last_modified=row["last_modified"],
        version=row["version"],
        network=row["network"],
        reserved_concurrency=row["reserved_concurrency"],
        snap_start=bool(row["snap_start"]),
        provisioned_concurrency=row["provisioned_concurrency"],
        sandbox_uid=row["sandbox_uid"],
        network_allow=tuple(str(entry) for entry in json.loads(row["network_allow"])),
        kms_key_arn=row["kms_key_arn"],
        role_passed=bool(row["role_passed"]),
        file_system_configs=tuple(
            FileSystemConfig(str(arn), str(path))
            for arn, path in json.loads(row["file_system_configs"])
        ),
        recursive_loop=row["recursive_loop"],
        logging=_logging_from_json(row["logging_config"]),
    )


def _alias_to_row(alias: Alias) -> dict[str, Any]:
    routed = alias.additional_version is not None
    return {
        "function_name": alias.function_name,
        "name": alias.name,
        "function_version": alias.function_version,
        "description": alias.description,
        "revision_id": alias.revision_id,
        "additional_version": alias.additional_version,
        "additional_weight": alias.additional_weight if routed else None,
    }


def _alias_from_row(row: RowMapping) -> Alias:
    weight = row["additional_weight"]
    return Alias(
        function_name=row["function_name"],
        name=row["name"],
        function_version=row["function_version"],
        description=row["description"],
        revision_id=row["revision_id"],
        additional_version=row["additional_version"],
        additional_weight=0.0 if weight is None else float(weight),
    )


# LoggingConfig's fields, as the logging_config column keeps them (those that are set).
_LOGGING_KEYS = ("log_format", "application_log_level", "system_log_level", "log_group")


def _logging_to_json(logging: LoggingConfig) -> str:
    values = {key: getattr(logging, key) for key in _LOGGING_KEYS}
    return json.dumps({key: value for key, value in values.items() if value is not None})


def _logging_from_json(text: str) -> LoggingConfig:
    stored = json.loads(text)
    return LoggingConfig(**{key: str(stored[key]) for key in _LOGGING_KEYS if key in stored})


def _sql_literal(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(int(value))


def _full_row(row: Sequence[Any]) -> Sequence[Any]:
    """A row of every column: one journaled before the newer columns existed gets their
    defaults."""
    if OLDEST_ROW_LENGTH <= len(row) < len(RECORD_COLUMNS):
        return [*row, *(ROW_DEFAULTS[i] for i in range(len(row), len(RECORD_COLUMNS)))]
    return row


RECORD_COLUMNS = (
    "request_id",
    "function_name",
    "function_version",
    "started_at_ms",
    "duration_ms",
    "billed_ms",
    "memory_mb",
    "max_memory_used_mb",
    "init_duration_ms",
    "status",
    "error_type",
    "isolation",
    "invocation_type",
    "attempt",
    "ephemeral_storage_mb",
    "provisioned",
)
# Rows journaled by a faas from before a column was added are shorter: the missing values
# are these (the columns' defaults), so a journal left by the previous version still replays.
ROW_DEFAULTS: dict[int, Any] = {12: "RequestResponse", 13: 1, 14: 512, 15: False}
OLDEST_ROW_LENGTH = 12
# `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
_JSON_VALUES = ", ".join(
    f"coalesce(json_extract(value, '$[{i}]'), {_sql_literal(ROW_DEFAULTS[i])})"
    if i in ROW_DEFAULTS
    else f"json_extract(value, '$[{i}]')"
    for i in range(len(RECORD_COLUMNS))
)
_SQLITE_INSERT_JSON_ONCE = (
    f"INSERT INTO {invocations.name} ({', '.join(RECORD_COLUMNS)}) "
    f"SELECT {_JSON_VALUES} FROM json_each(?) WHERE true "
    "ON CONFLICT (request_id, attempt) DO NOTHING"
)


class MalformedRows(ValueError):
    """Rows that are not rows of `invocations` (not JSON, or not a value per column)."""


def record_row(record: Record) -> tuple[Any, ...]:
    """The record as its row's values, in RECORD_COLUMNS order (long strings truncated)."""
    error_type = record.error_type
    return (
        record.request_id,
        record.function_name,
        record.function_version,
        record.started_at_ms,
        record.duration_ms,
        record.billed_ms,
        record.memory_mb,
        record.max_memory_used_mb,
        record.init_duration_ms,
        str(record.status),
        None if error_type is None else error_type[:ERROR_TYPE_MAX],
        _isolation(record),
        record.invocation_type,
        record.attempt,
        record.ephemeral_storage_mb,
        record.provisioned,
    )


def _record_to_row(record: Record) -> dict[str, Any]:
    return dict(zip(RECORD_COLUMNS, record_row(record), strict=True))


def _isolation(record: Record) -> str | None:
    return None if record.isolation is None else record.isolation[:ISOLATION_MAX]


def _record_from_row(row: RowMapping) -> Record:
    return Record(
        request_id=row["request_id"],
        function_name=row["function_name"],
        function_version=row["function_version"],
        started_at_ms=row["started_at_ms"],
        duration_ms=row["duration_ms"],
        billed_ms=row["billed_ms"],
        memory_mb=row["memory_mb"],
        max_memory_used_mb=row["max_memory_used_mb"],
        init_duration_ms=row["init_duration_ms"],
        status=InvocationStatus(row["status"]),
        error_type=row["error_type"],
        isolation=row["isolation"],
        invocation_type=row["invocation_type"],
        attempt=row["attempt"],
        ephemeral_storage_mb=row["ephemeral_storage_mb"],
        provisioned=bool(row["provisioned"]),
    )


MAX_AUDIT_EVENTS = 1000
_OUTCOMES = frozenset(outcome.value for outcome in AuditOutcome)
# Rows per retention delete: each chunk is its own short transaction, so a large backlog never
# holds the database's write lock (and the records ingester) for long.
AUDIT_DELETE_CHUNK = 5000


class AuditRepo:
    """The `audit_events` table: one row per audited API call."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def insert_many(self, events: Sequence[AuditEvent]) -> None:
        """Add the rows in one transaction (one executemany)."""
        if events:
            with self._engine.begin() as connection:
                connection.execute(insert(audit_events), [_audit_to_row(e) for e in events])

    def recent(self, query: AuditQuery) -> list[AuditEvent]:
        """Newest first; `query.limit` is clamped to 1..1000."""
        statement = _audit_filters(select(audit_events), query)
        statement = statement.order_by(audit_events.c.time_ms.desc(), audit_events.c.id.desc())
        statement = statement.limit(max(1, min(query.limit, MAX_AUDIT_EVENTS)))
        with self._engine.connect() as connection:
            return [_audit_from_row(row) for row in connection.execute(statement).mappings()]

    def delete_older_than(self, cutoff_ms: int) -> int:
        """Delete the events from before `cutoff_ms`, a chunk per transaction; how many."""
        oldest = (
            select(audit_events.c.id)
            .where(audit_events.c.time_ms < cutoff_ms)
            .order_by(audit_events.c.time_ms)
            .limit(AUDIT_DELETE_CHUNK)
        )
        statement = delete(audit_events).where(audit_events.c.id.in_(oldest.scalar_subquery()))
        deleted = 0
        while True:
            with self._engine.begin() as connection:
                count = connection.execute(statement).rowcount
            deleted += count
            if count < AUDIT_DELETE_CHUNK:
                return deleted


def _audit_filters(statement: Select[Any], query: AuditQuery) -> Select[Any]:
    columns = audit_events.c
    if query.since_ms is not None:
        statement = statement.where(columns.time_ms >= query.since_ms)
    if query.key is not None:
        statement = statement.where(or_(columns.key_name == query.key, columns.key_id == query.key))
    outcome = query.outcome
    if outcome is None:
        return statement
    if outcome in _OUTCOMES:
        return statement.where(columns.outcome == outcome)
    if outcome.isdigit():
        return statement.where(columns.status == int(outcome))
    return statement.where(columns.error_code == outcome)


def _audit_to_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "time_ms": event.time_ms,
        "request_id": event.request_id,
        "key_id": event.key_id,
        "key_name": event.key_name,
        "action": event.action[:AUDIT_ACTION_MAX],
        "resource": None if event.resource is None else event.resource[:AUDIT_RESOURCE_MAX],
        "outcome": str(event.outcome),
        "status": event.status,
        "error_code": None if event.error_code is None else event.error_code[:AUDIT_ERROR_CODE_MAX],
        "method": event.method[:AUDIT_METHOD_MAX],
        "path": event.path[:AUDIT_PATH_MAX],
        "source_ip": event.source_ip[:AUDIT_SOURCE_MAX],
    }


def _audit_from_row(row: RowMapping) -> AuditEvent:
    return AuditEvent(
        time_ms=row["time_ms"],
        request_id=row["request_id"],
        key_id=row["key_id"],
        key_name=row["key_name"],
        action=row["action"],
        resource=row["resource"],
        outcome=AuditOutcome(row["outcome"]),
        status=row["status"],
        error_code=row["error_code"],
        method=row["method"],
        path=row["path"],
        source_ip=row["source_ip"],
    )
