"""The repository's tooling promises: ruff, mypy (strict) and the import contracts pass,
and the in-worker runtime uses nothing but the standard library."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    tool = BIN / command[0]
    if not tool.exists() and shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed (make test installs the dev extras)")
    executable = str(tool) if tool.exists() else command[0]
    return subprocess.run(
        [executable, *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "faas", "runtimes", "tests", "bench"),
        ("ruff", "format", "--check", "faas", "runtimes", "tests", "bench"),
        ("mypy",),
        ("lint-imports",),
    ],
    ids=["ruff-check", "ruff-format", "mypy", "import-linter"],
)
def test_tool_passes(command: tuple[str, ...]) -> None:
    completed = run_tool(*command)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_runtime_bootstrap_imports_only_the_standard_library() -> None:
    for source in (ROOT / "runtimes").rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top == "__future__" or top in sys.stdlib_module_names, (
                    f"{source.name} imports {name}, which is not in the standard library"
                )
