"""The system tools the deploy/ files are checked with: systemd-analyze, docker-compose,
nginx, openssl, shellcheck (Debian packages: systemd, docker-compose, nginx, openssl,
shellcheck).

Where one is missing, its test skips and says why, so `make test` works on any machine.
Where they must be there (CI sets FAAS_TEST_REQUIRE_DEPLOY_TOOLS=1 and installs them), a
missing tool fails the test instead: an uninstalled tool must never turn a run green.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

import pytest

REQUIRED = "FAAS_TEST_REQUIRE_DEPLOY_TOOLS"


def require_tool(
    name: str, package: str, environ: Mapping[str, str] = os.environ, path: str | None = None
) -> str:
    """The tool's path; else skip the test, or fail it where the environment requires the
    deploy tools."""
    found = shutil.which(name, path=path)
    if found is not None:
        return found
    reason = f"{name} not found (Debian package {package})"
    if environ.get(REQUIRED, "") not in ("", "0"):
        pytest.fail(f"{REQUIRED} is set, so this needs {name}. {reason}", pytrace=False)
    pytest.skip(reason)
