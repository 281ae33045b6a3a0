"""Shared fixtures: a real faas server on a free loopback port, real clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import FaasServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    """One server per test module (starting one costs ~0.5 s)."""
    running = FaasServer.start(tmp_path_factory.mktemp("faas-data"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[FaasServer]:
    """A server of this test's own, for tests that kill or reconfigure it."""
    running = FaasServer.start(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def lambda_api(server: FaasServer):  # type: ignore[no-untyped-def]
    return server.client()
