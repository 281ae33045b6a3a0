"""`faas ...`: the command-line client of a faas server (an HTTP client of its gateway).

`main` is the click group (the `faas` console script); importing the command modules here
registers their commands on it.
"""

from __future__ import annotations

from faas.cli import (
    api_reference,
    audit,
    backup,
    bill,
    buckets,
    deploy,
    dlq,
    functions,
    invoke,
    keys,
    layers,
    logs,
    queue,
    roles,
    serve,
    stats,
    tags,
    triggers,
    urls,
    versions,
)
from faas.cli.app import main

__all__ = [
    "api_reference",
    "audit",
    "backup",
    "bill",
    "buckets",
    "deploy",
    "dlq",
    "functions",
    "invoke",
    "keys",
    "layers",
    "logs",
    "main",
    "queue",
    "roles",
    "serve",
    "stats",
    "tags",
    "triggers",
    "urls",
    "versions",
]
