"""Every secret the database holds sealed, opened with one key and sealed with another, in one
transaction: the heart of a master key rotation (faas.auth.rotation drives it).

Sealed today: access-key secrets (bound to their key id) and the environments of functions and
of their published versions (bound to the function's name). A table added later that holds
sealed values must be added here; the rotation test checks that nothing sealed under the old
key remains.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select, update

from faas.store.sealing import (
    SEALED_PREFIX,
    Sealer,
    environment_context,
    key_context,
    sealed_blob,
    sealed_text,
)
from faas.store.tables import access_keys, function_versions, functions


def reseal_secrets(engine: Engine, old: Sealer, new: Sealer) -> int:
    """Re-seal everything under `new`; returns how many values. All or nothing: a value
    that `old` cannot open (a wrong key) aborts the whole transaction."""
    with engine.begin() as connection:
        return (
            _reseal_keys(connection, old, new)
            + _reseal_environments(connection, old, new)
            + _reseal_version_environments(connection, old, new)
        )


def first_sealed_secret(engine: Engine) -> tuple[bytes, str] | None:
    """One sealed value and its context, to tell which master key the database is under."""
    with engine.connect() as connection:
        row = connection.execute(
            select(access_keys.c.access_key_id, access_keys.c.secret_encrypted).limit(1)
        ).first()
        if row is not None:
            return bytes(row.secret_encrypted), key_context(row.access_key_id)
        query = select(functions.c.name, functions.c.environment).where(
            functions.c.environment.like(SEALED_PREFIX + "%")
        )
        found = connection.execute(query.limit(1)).first()
        if found is not None:
            return sealed_blob(found.environment), environment_context(found.name)
    return None


def _reseal_keys(connection: Connection, old: Sealer, new: Sealer) -> int:
    rows = connection.execute(
        select(access_keys.c.name, access_keys.c.access_key_id, access_keys.c.secret_encrypted)
    ).all()
    for name, key_id, sealed in rows:
        context = key_context(key_id)
        resealed = new.seal(old.open(bytes(sealed), context), context)
        connection.execute(
            update(access_keys).where(access_keys.c.name == name).values(secret_encrypted=resealed)
        )
    return len(rows)


def _reseal_environments(connection: Connection, old: Sealer, new: Sealer) -> int:
    rows = connection.execute(select(functions.c.name, functions.c.environment)).all()
    for name, text in rows:
        context = environment_context(name)
        resealed = sealed_text(new.seal(old.open(sealed_blob(text), context), context))
        connection.execute(
            update(functions).where(functions.c.name == name).values(environment=resealed)
        )
    return len(rows)


def _reseal_version_environments(connection: Connection, old: Sealer, new: Sealer) -> int:
    table = function_versions
    rows = connection.execute(
        select(table.c.function_name, table.c.version, table.c.environment)
    ).all()
    for name, version, text in rows:
        context = environment_context(name)
        resealed = sealed_text(new.seal(old.open(sealed_blob(text), context), context))
        connection.execute(
            update(table)
            .where(table.c.function_name == name, table.c.version == version)
            .values(environment=resealed)
        )
    return len(rows)
