"""Provisioned concurrency of published versions and aliases, as the registry caches it, and
how a qualifier's workers map onto the versions that serve it.

Like the version book, the registry owns the locking: the write methods here run under its
mutation lock and write the database first, then swap in a new dictionary, so readers on the
event loop never lock. $LATEST's provisioned concurrency is its function's own field (a faas
extension: Lambda allows versions and aliases only).
"""

from __future__ import annotations

from faas.domain import Alias, ProvisionedConfig
from faas.store.repos import FunctionRepo

_Key = tuple[str, str]  # (function name, qualifier)


class ProvisionedBook:
    """Per (function, version or alias): the provisioned concurrency asked for."""

    def __init__(self, repo: FunctionRepo) -> None:
        self._repo = repo
        self._configs: dict[_Key, ProvisionedConfig] = {}

    def load(self) -> None:
        self._configs = {(c.function_name, c.qualifier): c for c in self._repo.all_provisioned()}

    # -- reads (no lock, no database) -------------------------------------------------------

    def get(self, name: str, qualifier: str) -> ProvisionedConfig | None:
        return self._configs.get((name, qualifier))

    def of_function(self, name: str) -> list[ProvisionedConfig]:
        """The function's configurations, by qualifier."""
        return sorted(
            (c for c in self._configs.values() if c.function_name == name),
            key=lambda c: c.qualifier,
        )

    def function_names(self) -> set[str]:
        return {name for name, _ in self._configs}

    # -- writes (the registry holds its mutation lock) --------------------------------------

    def put(self, config: ProvisionedConfig, memory_mb: int) -> None:
        self._repo.put_provisioned(config, memory_mb)
        self._configs = {**self._configs, (config.function_name, config.qualifier): config}

    def reallocate(self, config: ProvisionedConfig, memory_mb: int) -> None:
        self._repo.reallocate_provisioned(config, memory_mb)

    def remove(self, name: str, qualifier: str) -> bool:
        """Delete the configuration (its allocation ends); True if there was one."""
        removed = self._repo.delete_provisioned(name, qualifier)
        self.forget(name, qualifier)
        return removed

    def forget(self, name: str, qualifier: str | None = None) -> None:
        """Drop from the cache what the database lost with its version, alias or function."""
        if any(key[0] == name and qualifier in (None, key[1]) for key in self._configs):
            self._configs = {
                key: config
                for key, config in self._configs.items()
                if not (key[0] == name and qualifier in (None, key[1]))
            }


def version_shares(count: int, alias: Alias) -> dict[str, int]:
    """How an alias's `count` provisioned workers split between the versions it routes to: by
    their weights, the additional version's share rounded to the nearest worker."""
    if alias.additional_version is None:
        return {alias.function_version: count}
    extra = round(count * alias.additional_weight)
    shares = {alias.function_version: count - extra, alias.additional_version: extra}
    return {version: workers for version, workers in shares.items() if workers > 0}
