"""Function zips for custom runtimes, shared by the end-to-end tests and the benchmark: a zip
whose executables keep their mode, awslambdaric vendored into a function's code, and the
bootstrap that starts it. Standard library only (the benchmark imports it without pytest)."""

from __future__ import annotations

import importlib.metadata
import io
import os
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

EXECUTABLE = 0o100755 << 16
REGULAR = 0o100644 << 16
# awslambdaric and what it imports; their wheels are what a user's `pip install --target .`
# puts into the zip.
RIC_DISTRIBUTIONS = ("awslambdaric", "simplejson", "snapshot-restore-py")


def bundle(
    files: Mapping[str, str | bytes], executables: tuple[str, ...] = ("bootstrap",)
) -> bytes:
    """A zip whose executables keep their mode, as `zip` on Linux makes them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = EXECUTABLE if name in executables else REGULAR
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def vendored_ric() -> dict[str, bytes]:
    """awslambdaric and its dependencies, copied from this interpreter's own installation
    (every file their wheels installed beside the packages) into a function's code, as
    Lambda's custom-runtime users ship it in their zip. PackageNotFoundError when
    awslambdaric is not installed here."""
    files: dict[str, bytes] = {}
    for distribution in RIC_DISTRIBUTIONS:
        for installed in importlib.metadata.files(distribution) or []:
            parts = Path(str(installed)).parts
            if parts[0].startswith("..") or parts[0].endswith(".dist-info"):
                continue  # scripts outside site-packages, and the install's own metadata
            if "__pycache__" in parts:
                continue
            files[str(installed)] = Path(str(installed.locate())).read_bytes()
    return files


def serving_interpreter() -> str:
    """This interpreter's real path: the one a server started from it serves with, which the
    sandbox keeps visible to its workers."""
    return os.path.realpath(sys.executable)


def ric_bootstrap(interpreter: str | None = None) -> str:
    """A shell bootstrap that runs the RIC on `interpreter`. The RIC's C extension is built
    for the interpreter it was installed for: by default the serving interpreter's own."""
    python = interpreter or serving_interpreter()
    return f'#!/bin/sh\ncd "$LAMBDA_TASK_ROOT"\nexec {python} -m awslambdaric "$_HANDLER"\n'
