"""Published versions and aliases of every function, as the registry caches them, and the
small pure rules of PublishVersion and the list markers.

The registry owns the locking: it calls the write methods here holding its mutation lock, and
they write the database first, then swap in new dictionaries (copy-on-write, as the registry's
own cache), so the readers on the event loop never lock and never see a half-made change.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from faas.domain import LATEST, Alias, FunctionConfig, PublishedState
from faas.errors import InvalidParameterValue
from faas.registry.swapped import swapped
from faas.store.repos import FunctionRepo

_Versions = Mapping[str, FunctionConfig]  # by version number ("1", "2", ...)
_Aliases = Mapping[str, Alias]  # by alias name


class VersionBook:
    """Per function: its published versions, its aliases and its version counter."""

    def __init__(self, repo: FunctionRepo) -> None:
        self._repo = repo
        self._versions: dict[str, _Versions] = {}
        self._aliases: dict[str, _Aliases] = {}
        self._states: dict[str, PublishedState] = {}

    def load(self) -> None:
        versions: dict[str, dict[str, FunctionConfig]] = {}
        for cfg in self._repo.all_versions():
            versions.setdefault(cfg.name, {})[cfg.version] = cfg
        aliases: dict[str, dict[str, Alias]] = {}
        for alias in self._repo.all_aliases():
            aliases.setdefault(alias.function_name, {})[alias.name] = alias
        self._versions = dict(versions)
        self._aliases = dict(aliases)
        self._states = self._repo.published_states()

    # -- reads (no lock, no database) -------------------------------------------------------

    def version(self, name: str, number: str) -> FunctionConfig | None:
        versions = self._versions.get(name)
        return None if versions is None else versions.get(number)

    def alias(self, name: str, alias_name: str) -> Alias | None:
        aliases = self._aliases.get(name)
        return None if aliases is None else aliases.get(alias_name)

    def versions_of(self, name: str) -> list[FunctionConfig]:
        """The function's published versions, oldest first."""
        return sorted(self._versions.get(name, {}).values(), key=lambda cfg: int(cfg.version))

    def aliases_of(self, name: str) -> list[Alias]:
        """The function's aliases by name."""
        return sorted(self._aliases.get(name, {}).values(), key=lambda alias: alias.name)

    def state(self, name: str) -> PublishedState:
        return self._states.get(name, PublishedState())

    def all_versions(self) -> list[FunctionConfig]:
        return [cfg for versions in self._versions.values() for cfg in versions.values()]

    # -- writes (the registry holds its mutation lock) --------------------------------------

    def add_version(self, cfg: FunctionConfig, latest_revision: str) -> None:
        """Store `cfg` (a snapshot of $LATEST at `latest_revision`, numbered)."""
        before = self.state(cfg.name)
        self._repo.insert_version(cfg, before, latest_revision)
        self._set_versions(cfg.name, {**self._versions.get(cfg.name, {}), cfg.version: cfg})
        self._states = {
            **self._states,
            cfg.name: PublishedState(int(cfg.version), latest_revision),
        }

    def remove_version(self, cfg: FunctionConfig) -> None:
        self._repo.delete_version(cfg.name, int(cfg.version))
        versions = dict(self._versions.get(cfg.name, {}))
        versions.pop(cfg.version, None)
        self._set_versions(cfg.name, versions)

    def add_alias(self, alias: Alias) -> None:
        self._repo.insert_alias(alias)
        self._set_alias(alias)

    def replace_alias(self, alias: Alias, expected_revision_id: str) -> None:
        self._repo.replace_alias(alias, expected_revision_id)
        self._set_alias(alias)

    def remove_alias(self, name: str, alias_name: str) -> None:
        self._repo.delete_alias(name, alias_name)
        aliases = dict(self._aliases.get(name, {}))
        aliases.pop(alias_name, None)
        self._set_aliases(name, aliases)

    def forget(self, name: str) -> list[FunctionConfig]:
        """Drop what a deleted function had (its rows went with it); returns its versions."""
        versions = list(self._versions.get(name, {}).values())
        self._set_versions(name, {})
        self._set_aliases(name, {})
        self._states = {key: value for key, value in self._states.items() if key != name}
        return versions

    def _set_alias(self, alias: Alias) -> None:
        name = alias.function_name
        self._set_aliases(name, {**self._aliases.get(name, {}), alias.name: alias})

    def _set_versions(self, name: str, versions: _Versions) -> None:
        self._versions = swapped(self._versions, name, versions)

    def _set_aliases(self, name: str, aliases: _Aliases) -> None:
        self._aliases = swapped(self._aliases, name, aliases)


def check_code_sha256(cfg: FunctionConfig, code_sha256: str | None) -> None:
    """PublishVersion's CodeSha256 precondition (base64, as the API shows the hash)."""
    if code_sha256 is None:
        return
    current = base64.b64encode(bytes.fromhex(cfg.code_sha256)).decode()
    if code_sha256 != current:
        raise InvalidParameterValue(
            f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in {LATEST} "
            f"({current}). Please try again with the CodeSHA256 in {LATEST}."
        )


def version_key(cfg: FunctionConfig) -> int:
    """Where a version stands in ListVersionsByFunction: $LATEST first."""
    return 0 if cfg.version == LATEST else int(cfg.version)


def decode_version_marker(marker: str) -> int:
    """The position (see version_key) a ListVersionsByFunction marker continues after."""
    label = _decode_text(marker)
    if label == LATEST:
        return 0
    if not label.isdigit() or len(label) > 18:
        raise InvalidParameterValue(f"Invalid pagination marker: {marker[:64]!r}")
    return int(label)


def decode_alias_marker(marker: str) -> str:
    name = _decode_text(marker)
    if not name or len(name) > 128 or not all(c.isalnum() or c in "-_" for c in name):
        raise InvalidParameterValue(f"Invalid pagination marker: {marker[:64]!r}")
    return name


def _decode_text(marker: str) -> str:
    try:
        return base64.b64decode(marker, altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
