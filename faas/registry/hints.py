"""Deploy-time hints: code that Lambda accepts but that will not run as the user thinks.

Lambda takes a zip whose handler module is in a subfolder, an empty zip, or a handler written
as a file name, and fails only at the first invoke. faas accepts them too (existing deploy
scripts must keep working) but says what it sees at deploy time. Pure: a handler and the
zip's file names in, warnings out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

# What `import a.b` can load besides a.py / a/__init__.py: byte code and extension modules.
_MODULE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")


def deploy_warnings(handler: str, files: Sequence[str]) -> tuple[str, ...]:
    """Why the handler will probably fail to load from these files; empty when it looks fine."""
    if not files:
        return ("the code is empty: the zip holds no files, so every invoke will fail",)
    module, _, function = handler.rpartition(".")
    warnings: list[str] = []
    if function == "py":
        warnings.append(
            f"the handler {handler!r} looks like a file name: a handler is module.function "
            f"(for a def handler in {module.replace('.', '/')}.py: "
            f"{module}.handler)"
        )
    if module and not _importable(module, files):
        warnings.append(_missing_module(module, files))
    return tuple(warnings)


def misplaced_module(module: str, files: Sequence[str]) -> str | None:
    """`sub/dir/app.py` when `app` is not at the root but sits in a subfolder, else None."""
    wanted = module.replace(".", "/") + ".py"
    found = sorted(
        (name for name in files if name.endswith("/" + wanted)), key=lambda n: n.count("/")
    )
    return found[0] if found else None


def _importable(module: str, files: Sequence[str]) -> bool:
    path = module.replace(".", "/")
    for name in files:
        if name.startswith(path + "/"):
            return True  # a package (or a namespace package) of that name
        folder, _, file_name = name.rpartition("/")
        base = file_name.partition(".")[0]  # mod.cpython-311-x86_64-linux-gnu.so -> mod
        stem = f"{folder}/{base}" if folder else base
        if stem == path and PurePosixPath(file_name).suffix in _MODULE_SUFFIXES:
            return True
    return False


def _missing_module(module: str, files: Sequence[str]) -> str:
    expected = module.replace(".", "/") + ".py"
    misplaced = misplaced_module(module, files)
    if misplaced is None:
        return f"{expected} is not in the zip: the handler's module will not import"
    folder = misplaced.removesuffix("/" + expected)
    return (
        f"{expected} is not at the root of the zip; found {misplaced} (zip the contents of "
        f"{folder}/, not the folder itself, or set the handler to "
        f"{folder.replace('/', '.')}.{module}.<function>)"
    )
