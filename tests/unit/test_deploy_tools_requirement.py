"""The deploy file checks skip where their tool is missing, and fail instead where the
environment requires the tools (as CI does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.deploy_tools import REQUIRED, require_tool


def test_a_missing_tool_skips_the_test_naming_its_package(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match=r"nginx not found \(Debian package nginx\)"):
        require_tool("nginx", "nginx", environ={}, path=str(tmp_path))


@pytest.mark.parametrize("unset", ["", "0"])
def test_a_requirement_switched_off_still_skips(tmp_path: Path, unset: str) -> None:
    with pytest.raises(pytest.skip.Exception):
        require_tool("nginx", "nginx", environ={REQUIRED: unset}, path=str(tmp_path))


def test_a_missing_tool_fails_the_test_where_the_tools_are_required(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRED} is set, so this needs nginx"):
        require_tool("nginx", "nginx", environ={REQUIRED: "1"}, path=str(tmp_path))


def test_a_tool_that_is_there_is_found(tmp_path: Path) -> None:
    tool = tmp_path / "shellcheck"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert require_tool("shellcheck", "shellcheck", environ={}, path=str(tmp_path)) == str(tool)
