"""Storage: engines for the one database URL, schema migrations, repositories of domain
objects, group commit.

The tables are private to this package; the rest of faas sees only domain dataclasses.
"""

from __future__ import annotations

from faas.store.audit import AuditLog
from faas.store.engine import checkpoint, make_engine, url_kind
from faas.store.repos import AuditRepo, FunctionRepo, RecordRepo
from faas.store.schema import DatabaseTooNew, migrate
from faas.store.writer import RecordWriter

__all__ = [
    "AuditLog",
    "AuditRepo",
    "DatabaseTooNew",
    "FunctionRepo",
    "RecordRepo",
    "RecordWriter",
    "checkpoint",
    "make_engine",
    "migrate",
    "url_kind",
]
