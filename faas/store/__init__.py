"""Storage: engines for the one database URL, schema migrations, repositories of domain
objects, the records journal and its ingester.

The tables are private to this package; the rest of faas sees only domain dataclasses.
"""

from __future__ import annotations

from faas.store.audit import AuditLog
from faas.store.engine import checkpoint, make_engine, url_kind
from faas.store.records import RecordLog
from faas.store.repos import AuditRepo, FunctionRepo, RecordRepo
from faas.store.schema import DatabaseTooNew, migrate

__all__ = [
    "AuditLog",
    "AuditRepo",
    "DatabaseTooNew",
    "FunctionRepo",
    "RecordLog",
    "RecordRepo",
    "checkpoint",
    "make_engine",
    "migrate",
    "url_kind",
]
