"""A fixed master key for tests that use the store directly (never a real server's)."""

from __future__ import annotations

import base64
from pathlib import Path

from faas.auth.masterkey import MasterKey

TEST_SEALER = MasterKey(bytes(range(32)))


def write_test_master_key(data_dir: Path) -> None:
    """Give a data directory TEST_SEALER as its master key (for databases sealed with it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "master.key"
    path.write_text(base64.b64encode(TEST_SEALER.key).decode() + "\n")
    path.chmod(0o600)
