"""The in-sandbox runtime's files (runtimes/python/*.py), loaded as the zygote loads them: a
file under a private name, not a package, and gone from sys.modules afterwards."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

from faas.pool.launcher import runtime_dir


@contextlib.contextmanager
def runtime_module(name: str) -> Iterator[ModuleType]:
    """runtimes/python/<name>.py, with everything it loaded removed again at the end."""
    before = set(sys.modules)
    spec = importlib.util.spec_from_file_location(
        f"_test_{name}", runtime_dir() / "python" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        for loaded in set(sys.modules) - before:
            del sys.modules[loaded]
