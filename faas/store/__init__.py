"""Storage: engines for the one database URL, repositories of domain objects, group commit.

The tables are private to this package; the rest of faas sees only domain dataclasses.
"""

from __future__ import annotations

from faas.store.engine import checkpoint, create_schema, make_engine, url_kind
from faas.store.repos import FunctionRepo, RecordRepo
from faas.store.writer import RecordWriter

__all__ = [
    "FunctionRepo",
    "RecordRepo",
    "RecordWriter",
    "checkpoint",
    "create_schema",
    "make_engine",
    "url_kind",
]
