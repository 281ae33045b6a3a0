"""The schema as the last release before migrations left it: what revision 0001 creates.

Frozen: never edit these definitions. `faas/store/tables.py` moves on with later revisions;
this copy stays, because two things must keep meaning exactly this schema however far the
tables move: the baseline revision, and bringing a database made before migrations up to it
(see `faas.store.schema`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

REVISION = "0001"

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias); BIGINT would not.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

Table(
    "functions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("runtime", String(64), nullable=False),
    Column("handler", String(128), nullable=False),
    Column("role", String(2048), nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("timeout_s", Integer, nullable=False),
    Column("ephemeral_storage_mb", Integer, nullable=False),
    Column("environment", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("code_sha256", String(64), nullable=False, index=True),
    Column("code_size", BigInteger, nullable=False),
    Column("revision_id", String(64), nullable=False),
    Column("last_modified", String(32), nullable=False),
    # From here on, columns that releases before the baseline added one by one: a database
    # made by one of them may lack any of these (and the invocations' `isolation`).
    Column("version", String(32), nullable=False, server_default="$LATEST"),
    Column("network", String(16), nullable=False, server_default="default"),
    Column("reserved_concurrency", Integer, nullable=True),
    Column("snap_start", Boolean, nullable=False, server_default=false()),
    Column("provisioned_concurrency", Integer, nullable=True),
)

Table(
    "invocations",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("request_id", String(36), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("function_version", String(32), nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("billed_ms", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("max_memory_used_mb", Integer, nullable=False),
    Column("init_duration_ms", Float, nullable=True),
    Column("status", String(16), nullable=False),
    Column("error_type", String(128), nullable=True),
    Column("isolation", String(128), nullable=True),
    Index("ix_invocations_request_id", "request_id", unique=True),
    Index("ix_invocations_function_name_id", "function_name", "id"),
)
