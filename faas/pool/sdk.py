"""The AWS SDKs Lambda's runtimes include, offered read-only to functions as runtime trees.

Lambda's Python runtimes include boto3 and botocore, and its Node.js runtimes the AWS SDK for
JavaScript v3: functions written for Lambda import them without shipping them. faas offers:

- **Python**: the boto3 installed beside the platform (a dependency of faas) and every
  distribution it needs (botocore, s3transfer, jmespath, python-dateutil, six, urllib3),
  copied once per set of versions into `<data_dir>/runtime-sdk/python-<key>/`: a tree of
  just those packages, kept apart from the platform's own (a function sees no aiohttp, no
  SQLAlchemy). Workers see it at /var/runtime, where Lambda keeps it, on `sys.path` after the
  function's code and layers, so a function's vendored copy wins.
- **Node.js**: the clients `make node-extras` installs (`.node-runtime/node_modules` beside
  faas's runtimes), at /var/runtime/node_modules, which Lambda's NODE_PATH names.

Which versions a host offers is part of /health and `faas doctor`.
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

PYTHON_SDK = "boto3"
# The SDK's main distributions, named in what /health says of it.
PYTHON_SHOWN = ("boto3", "botocore")
NODE_SHOWN = ("@aws-sdk/client-lambda", "@aws-sdk/client-s3")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# Parts of an installed distribution that are not importable code.
_NOT_CODE = re.compile(r"(\.dist-info|\.egg-info|\.data|__pycache__|\.pth)$")


@dataclass(frozen=True, slots=True)
class SdkTree:
    """One SDK, ready to be bound read-only into workers."""

    language: str  # "python" or "nodejs"
    path: Path
    versions: tuple[tuple[str, str], ...]  # (distribution or package, version), shown first

    def describe(self) -> str:
        return ", ".join(f"{name} {version}" for name, version in self.versions)

    def as_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "versions": dict(self.versions)}


@dataclass(frozen=True, slots=True)
class RuntimeSdks:
    python: SdkTree | None = None
    nodejs: SdkTree | None = None

    def report(self) -> dict[str, str]:
        """What /health shows: each language's SDK versions, or why there is none."""
        return {
            "python": self.python.describe() if self.python else "none (boto3 is not installed)",
            "nodejs": self.nodejs.describe()
            if self.nodejs
            else "none (make node-extras installs it)",
        }


def prepare_sdks(data_dir: Path, runtimes_dir: Path) -> RuntimeSdks:
    """Blocking, at start: the Python SDK tree (made once per version set) and the Node.js one
    (found, when installed). A failure leaves that SDK out and says why; it never stops the
    platform."""
    python = nodejs = None
    try:
        python = python_sdk(data_dir / "runtime-sdk")
    except OSError as exc:
        log.warning("the AWS SDK for Python is not offered to functions: %s", exc)
    try:
        nodejs = node_sdk(runtimes_dir.parent / ".node-runtime" / "node_modules")
    except (OSError, ValueError) as exc:
        log.warning("the AWS SDK for JavaScript is not offered to functions: %s", exc)
    return RuntimeSdks(python, nodejs)


# -- Python -----------------------------------------------------------------------------------


def python_sdk(root: Path) -> SdkTree | None:
    """The Python SDK's tree under `root`, copied from the installed distributions when this
    set of versions has none yet (older sets are removed: no worker runs at start); None
    when boto3 is not installed."""
    try:
        distributions = requirement_closure(PYTHON_SDK)
    except metadata.PackageNotFoundError:
        return None
    versions = sorted((_name(dist), dist.version) for dist in distributions)
    label = ",".join(f"{name}=={version}" for name, version in versions)
    key = hashlib.sha256(f"{sys.version_info[:2]}:{label}".encode()).hexdigest()[:16]
    tree = root / f"python-{key}"
    if not tree.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        for dist in distributions:
            for entry in top_level_entries(dist):
                _link_tree(Path(str(dist.locate_file(entry))), staging / entry)
        # Compiled here what the install did not compile: the tree is read-only in workers,
        # which could not cache it.
        compileall.compile_dir(staging, quiet=2, workers=1)
        _readable_by_all(staging)
        os.rename(staging, tree)
    for old in root.glob("python-*"):
        if old != tree:
            shutil.rmtree(old, ignore_errors=True)
    shown = dict(versions)
    return SdkTree("python", tree, tuple((name, shown[name]) for name in PYTHON_SHOWN))


def requirement_closure(name: str) -> list[metadata.Distribution]:
    """The installed distribution `name` and those it requires (without extras), each once."""
    found: dict[str, metadata.Distribution] = {}
    pending = [name]
    while pending:
        wanted = pending.pop()
        dist = metadata.distribution(wanted)
        key = _name(dist)
        if key in found:
            continue
        found[key] = dist
        for requirement in dist.requires or ():
            if "extra ==" in requirement.replace('"', "'").replace("'", ""):
                continue  # an optional extra: not what the SDK needs
            match = _REQUIREMENT_NAME.match(requirement)
            if match:
                pending.append(match.group(1))
    return list(found.values())


def top_level_entries(dist: metadata.Distribution) -> list[str]:
    """The importable top-level packages and modules a distribution installed."""
    entries = set()
    for file in dist.files or ():
        parts = Path(str(file)).parts
        if not parts or parts[0] in ("..", "bin") or _NOT_CODE.search(parts[0]):
            continue
        if len(parts) == 1 and not parts[0].endswith(".py"):
            continue  # a stray file (say a licence) beside the packages
        entries.add(parts[0])
    return sorted(entries)


def _name(dist: metadata.Distribution) -> str:
    return re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()


def _link_tree(source: Path, destination: Path) -> None:
    """`source` (a package directory or a module) at `destination`: hard links where the
    filesystem allows (instant, no space), copies elsewhere; compiled caches included."""
    if source.is_dir():
        shutil.copytree(
            source,
            destination,
            copy_function=_link_or_copy,
            dirs_exist_ok=True,
        )
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(source), str(destination))


def _readable_by_all(tree: Path) -> None:
    """Every function's uid reads the tree (the server's umask keeps its own files private)."""
    for directory, _, files in os.walk(tree):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            mode = os.stat(path).st_mode
            if mode & 0o444 != 0o444:
                os.chmod(path, mode | 0o444)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


# -- Node.js ----------------------------------------------------------------------------------


def node_sdk(node_modules: Path) -> SdkTree | None:
    """The installed AWS SDK for JavaScript clients, or None when there are none."""
    if not (node_modules / "@aws-sdk").is_dir():
        return None
    versions = []
    for package in NODE_SHOWN:
        with contextlib.suppress(FileNotFoundError):
            manifest = json.loads((node_modules / package / "package.json").read_text())
            versions.append((package, str(manifest["version"])))
    if not versions:
        return None
    return SdkTree("nodejs", node_modules, tuple(versions))
