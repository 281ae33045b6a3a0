"""The PostgreSQL the store tests run against: 127.0.0.1:5432, user postgres, trust
authentication, database `test`.

Where it does not answer, those tests skip and say why, so `make test` works on a machine
without it. Where it must be there (CI sets FAAS_TEST_REQUIRE_POSTGRES=1), they fail instead:
a database that is down must never turn a run green by skipping its tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping

import psycopg
import pytest
from sqlalchemy import create_engine, text

TEST_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REQUIRED = "FAAS_TEST_REQUIRE_POSTGRES"


def require_postgres(url: str = TEST_DATABASE, environ: Mapping[str, str] = os.environ) -> None:
    """Return when PostgreSQL answers a query at `url`; else skip the test, or fail it when
    the environment requires PostgreSQL."""
    try:
        with psycopg.connect(url, connect_timeout=2) as probe:
            probe.execute("SELECT 1")
        return
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {url}: {exc}"
    if environ.get(REQUIRED, "") not in ("", "0"):
        pytest.fail(f"{REQUIRED} is set, so this needs PostgreSQL. {reason}", pytrace=False)
    pytest.skip(reason)


def schema_url() -> Iterator[str]:
    """For a fixture: the URL of a fresh schema of the test database (every pooled
    connection's search_path), dropped afterwards, so runs leave nothing and cannot collide.
    Skips (or fails, see REQUIRED) when PostgreSQL does not answer."""
    require_postgres()
    name = f"faas_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {name}"))
        # libpq's `options` puts every pooled connection in the test's schema.
        yield f"{SERVER_URL}?options=-csearch_path%3D{name}"
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {name} CASCADE"))
    finally:
        admin.dispose()
