"""The function registry: deploy, update and delete functions, and resolve them for invokes.

Reads (`resolve`, `get`, `worker_spec`) serve an in-memory cache and never touch the
database, because they sit on every invocation's path and run on the event loop. Mutations run
in worker threads (asyncio.to_thread), one at a time under a lock, and write in the order code
store -> database -> cache, so a crash between steps leaves at worst an orphaned code bundle.
The cache is copy-on-write: readers take the current dict without a lock and a mutation swaps
in a new one, which is atomic for them.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import random
import threading
import uuid
from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping
from typing import Any

from faas.config import ConcurrencySettings
from faas.domain import (
    FUNCTION_NAME_RE,
    LATEST,
    RECURSIVE_LOOP_ALLOW,
    RECURSIVE_LOOP_TERMINATE,
    AccountUsage,
    Alias,
    AliasChange,
    AliasPage,
    Bucket,
    CodeInfo,
    ConfigChange,
    FunctionConfig,
    FunctionPage,
    LayerRef,
    Limits,
    Mount,
    NetworkDestination,
    ProvisionedConfig,
    WorkerSpec,
)
from faas.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ProvisionedConcurrencyConfigNotFound,
    ResourceConflict,
    ResourceNotFound,
    ServiceError,
)
from faas.registry.aliases import (
    Routing,
    check_alias_name,
    check_description,
    check_function_version,
    check_routing,
)
from faas.registry.codestore import CodeStore
from faas.registry.hints import deploy_warnings
from faas.registry.layers import LayerRegistry
from faas.registry.names import aws_now, function_arn, split_function_name
from faas.registry.provisioned import ProvisionedBook, version_shares
from faas.registry.routing import Draw, routed_version
from faas.registry.validation import check_handler, check_network, validate_change
from faas.registry.versions import (
    VersionBook,
    check_code_sha256,
    decode_alias_marker,
    decode_version_marker,
    version_key,
)
from faas.store.repos import FunctionRepo

_log = logging.getLogger(__name__)

# CreateFunction's defaults, as Lambda documents them (API defaults, not host settings).
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3
DEFAULT_EPHEMERAL_MB = 512
DEFAULT_MAX_ITEMS = 50
MAX_ITEMS = 10_000

# Lambda's wording; the store's conditional update says the same when another node won.
_REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
_QUALIFIER_MISMATCH = (
    "The derived qualifier from the function name does not match the specified qualifier."
)
# Lambda's answer to a version or alias given to an operation on the function itself.
UNQUALIFIED_ONLY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not "
    "support this operation. Please specify either a function name or an unqualified "
    "function ARN."
)
# ListVersionsByFunction answers at most this many versions a page, whatever MaxItems says.
MAX_VERSIONS_PER_PAGE = 50
# The fields a ConfigChange sets as they are; its `layers` (ARNs) the registry resolves.
_CHANGE_FIELDS = tuple(
    field.name for field in dataclasses.fields(ConfigChange) if field.name != "layers"
)
_NO_LAYER_STORE = "Layers: this server keeps no layers"

RetireListener = Callable[[str], None]
# Called with the function's name after any committed change to it (or its deletion).
ChangeListener = Callable[[str], None]
# (function name, reserved concurrency or None when the reservation went away)
ConcurrencyListener = Callable[[str, int | None], None]
# (function name, version number or alias name) after that version or alias was deleted.
QualifierListener = Callable[[str, str], None]
_Functions = dict[str, FunctionConfig]


class Registry:
    """Functions by name: the cached view for invokes and the write path for the API."""

    def __init__(
        self,
        repo: FunctionRepo,
        codes: CodeStore,
        *,
        limits: Limits,
        runtimes: Mapping[str, str],
        region: str,
        account_id: str,
        concurrency: ConcurrencySettings | None = None,
        draw: Draw = random.random,
        layers: LayerRegistry | None = None,
    ) -> None:
        if not runtimes:
            raise ValueError("a registry needs at least one runtime")
        self._repo = repo
        self._codes = codes
        # Layer versions: a function's Layers are resolved and merged through them.
        self._layers = layers
        self._limits = limits
        self._runtimes = tuple(runtimes)
        self._region = region
        self._account_id = account_id
        self._functions: _Functions = {}
        # Published versions and aliases; an alias's weighted choice draws from `draw`.
        self._book = VersionBook(repo)
        self._provisioned = ProvisionedBook(repo)
        self._draw = draw
        self._specs: dict[str, WorkerSpec] = {}  # by revision_id
        self._concurrency = concurrency or ConcurrencySettings()
        self._listeners: tuple[RetireListener, ...] = ()
        self._concurrency_listeners: tuple[ConcurrencyListener, ...] = ()
        self._change_listeners: tuple[ChangeListener, ...] = ()
        self._delete_listeners: tuple[ChangeListener, ...] = ()
        self._qualifier_listeners: tuple[QualifierListener, ...] = ()
        self._mutation = threading.Lock()
        # FileSystemConfigs Arn -> its bucket (ResourceNotFound/InvalidParameterValue when
        # there is none): set by the composition root once the bucket registry exists.
        self._bucket_for: Callable[[str], Bucket] | None = None
        # Code replaced or deleted while old workers may still run from it: removed by
        # sweep_unused_code() once no function and no live worker uses it.
        self._superseded_code: set[str] = set()

    def load(self) -> None:
        """Fill the cache from the database (at startup)."""
        loaded = {cfg.name: cfg for cfg in self._repo.all()}
        with self._mutation:
            self._functions = loaded
            self._book.load()
            self._provisioned.load()
            self._specs.clear()

    @property
    def count(self) -> int:
        return len(self._functions)

    def network_modes(self) -> dict[str, str]:
        """Each function's FaasNetwork, by name."""
        return {name: cfg.network for name, cfg in self._functions.items()}

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(self._region, self._account_id, name, qualifier)

    def set_bucket_resolver(self, resolve: Callable[[str], Bucket]) -> None:
        self._bucket_for = resolve

    def mounted_by(self, arn: str) -> list[str]:
        """The functions whose FileSystemConfigs name `arn`."""
        return [
            cfg.name
            for cfg in self._functions.values()
            if any(entry.arn == arn for entry in cfg.file_system_configs)
        ]

    def function_for_uid_offset(self) -> dict[int, str]:
        """Function names by their sandbox uid offset (who wrote a file into a bucket)."""
        return {
            cfg.sandbox_uid: cfg.name
            for cfg in self._functions.values()
            if cfg.sandbox_uid is not None
        }

    def add_retire_listener(self, listener: RetireListener) -> None:
        """Call `listener(old_worker_key)` after an update or delete made that key obsolete.

        Listeners run on the mutating thread (not the event loop) after the change is
        committed; a listener that touches the loop must hop over with call_soon_threadsafe.
        """
        self._listeners = (*self._listeners, listener)

    def add_concurrency_listener(self, listener: ConcurrencyListener) -> None:
        """Call `listener(name, reserved)` after a function's reserved concurrency changed.

        `reserved` is None when the reservation is gone (DeleteFunctionConcurrency, or the
        function was deleted). Like retire listeners, these run on the mutating thread after
        the change is committed.
        """
        self._concurrency_listeners = (*self._concurrency_listeners, listener)

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call `listener(name)` after any committed change to a function: create, code or
        configuration update, delete, reserved or provisioned concurrency.

        Called after the retire and concurrency listeners of the same change, on the
        mutating thread; a listener that touches the loop must hop over with
        call_soon_threadsafe.
        """
        self._change_listeners = (*self._change_listeners, listener)

    def add_delete_listener(self, listener: ChangeListener) -> None:
        """Call `listener(name)` when a function is deleted, to delete what belongs to it
        elsewhere (its event invoke configurations).

        Runs on the mutating thread under the registry's lock, right after the function's
        row is gone: a function created again under the same name never sees what the
        deleted one left. A listener that fails is logged; the delete stands.
        """
        self._delete_listeners = (*self._delete_listeners, listener)

    def add_qualifier_delete_listener(self, listener: QualifierListener) -> None:
        """Call `listener(name, qualifier)` when a published version or an alias is deleted,
        to delete what belongs to it elsewhere (its event invoke configuration, its function
        URL), as Lambda does. Same rules as delete listeners: on the mutating thread, under
        the registry's lock, right after the row is gone; a failing listener is logged."""
        self._qualifier_listeners = (*self._qualifier_listeners, listener)

    def provisioned_functions(self) -> list[str]:
        """Names of the functions with provisioned concurrency configured (at startup)."""
        latest = {cfg.name for cfg in self._functions.values() if cfg.provisioned_concurrency}
        return sorted(latest | self._provisioned.function_names())

    def reservations(self) -> dict[str, int]:
        """Reserved concurrency by function name, for functions that have one (at startup)."""
        return {
            cfg.name: cfg.reserved_concurrency
            for cfg in self._functions.values()
            if cfg.reserved_concurrency is not None
        }

    def account_usage(self) -> AccountUsage:
        """GetAccountSettings: the account's limits and what its functions use of them."""
        functions = list(self._functions.values())
        reserved = sum(cfg.reserved_concurrency or 0 for cfg in functions)
        return AccountUsage(
            concurrent_executions=self._concurrency.account_limit,
            unreserved_concurrent_executions=self._concurrency.account_limit - reserved,
            function_count=len(functions),
            total_code_size=sum(cfg.code_size for cfg in functions)
            + sum(cfg.code_size for cfg in self._book.all_versions()),
        )

    # -- reads (hot path: no lock, no database) ---------------------------------------------

    def resolve(self, raw_name: str, qualifier: str | None) -> FunctionConfig:
        """The configuration `raw_name` (name or ARN) + qualifier names: $LATEST, a published
        version, or an alias's own version."""
        if qualifier is None:
            found = self._functions.get(raw_name)
            if found is not None:
                return found
        name, qualifier = self._split(raw_name, qualifier)
        return self._named(name, qualifier, None)

    def resolve_named(
        self, raw_name: str, qualifier: str | None
    ) -> tuple[FunctionConfig, str | None]:
        """`resolve`, and the qualifier the request named (None: the function itself)."""
        name, qualifier = self._split(raw_name, qualifier)
        return self._named(name, qualifier, None), qualifier

    def resolve_invocation(
        self, raw_name: str, qualifier: str | None
    ) -> tuple[FunctionConfig, str | None]:
        """What an invocation runs, and the qualifier it named (None: the function itself).
        An alias with routing picks its version with one draw."""
        if qualifier is None:
            found = self._functions.get(raw_name)
            if found is not None:
                return found, None
        name, qualifier = self._split(raw_name, qualifier)
        return self._named(name, qualifier, self._draw), qualifier

    def get(self, name: str) -> FunctionConfig:
        """The function's $LATEST; a version or alias in the name is refused, as Lambda
        refuses it for operations on the function itself."""
        found = self._functions.get(name)
        if found is not None:
            return found
        short, qualifier = split_function_name(name)
        if qualifier not in (None, LATEST):
            raise InvalidParameterValue(UNQUALIFIED_ONLY)
        return self._named(short, None, None)

    def versions_of(self, name: str) -> tuple[FunctionConfig, ...]:
        """The function's published versions, oldest first."""
        return tuple(self._book.versions_of(name))

    def cached_worker_spec(self, cfg: FunctionConfig) -> WorkerSpec | None:
        """The spec of `cfg` when it was built already (no disk work): for the event loop."""
        return self._specs.get(cfg.revision_id)

    def worker_spec(self, cfg: FunctionConfig) -> WorkerSpec:
        """What the pool needs to run `cfg`; built once per revision (blocking the first time:
        its code may have to be extracted again)."""
        spec = self._specs.get(cfg.revision_id)
        if spec is not None:
            return spec
        spec = WorkerSpec(
            key=_worker_key(cfg),
            function_name=cfg.name,
            version=cfg.version,
            runtime=cfg.runtime,
            handler=cfg.handler,
            memory_mb=cfg.memory_mb,
            timeout_s=cfg.timeout_s,
            ephemeral_storage_mb=cfg.ephemeral_storage_mb,
            network=cfg.network,
            environment=cfg.environment,
            code_dir=str(self._codes.code_dir(cfg.code_sha256)),
            # A version's own ARN; an invocation through an alias or `:$LATEST` is given the
            # ARN it named with the event, as Lambda's context.invoked_function_arn shows it.
            function_arn=self.function_arn(
                cfg.name, None if cfg.version == LATEST else cfg.version
            ),
            region=self._region,
            snap_start=cfg.snap_start,
            sandbox_uid=cfg.sandbox_uid,
            role=cfg.role if cfg.role_passed else "",
            network_allow=tuple(NetworkDestination.parse(e) for e in cfg.network_allow),
            mounts=self._mounts(cfg),
            log_format=cfg.logging.log_format,
            log_level=cfg.logging.application_level_in_effect,
            log_group=cfg.logging.group_for(cfg.name),
            opt_dir=self._opt_dir(cfg),
        )
        # A caller holding a configuration that was just replaced gets a spec, but the cache
        # does not keep it alive after the update already evicted that revision.
        if self._is_current(cfg):
            self._specs[cfg.revision_id] = spec
        return spec

    def list(
        self, marker: str | None, max_items: int | None, *, all_versions: bool = False
    ) -> FunctionPage:
        """One page of functions sorted by name; `next_marker` continues after it. With
        `all_versions` (ListFunctions' FunctionVersion=ALL), each function's $LATEST is
        followed by its published versions, oldest first."""
        limit = _checked_max_items(max_items)
        functions = self._functions
        names = sorted(functions)
        if not all_versions:
            start = 0 if marker is None else bisect_right(names, _decode_marker(marker))
            page = names[start : start + limit]
            more = start + limit < len(names)
            return FunctionPage(
                functions=tuple(functions[name] for name in page),
                next_marker=_encode_marker(page[-1]) if more and page else None,
            )
        keys = [
            (name, version_key(cfg))
            for name in names
            for cfg in (functions[name], *self._book.versions_of(name))
        ]
        start = 0 if marker is None else bisect_right(keys, _decode_version_marker(marker))
        chosen = keys[start : start + limit]
        more = start + limit < len(keys)
        configs = tuple(
            self._named(name, str(number) if number else None, None) for name, number in chosen
        )
        return FunctionPage(
            functions=configs,
            next_marker=_encode_marker(f"{chosen[-1][0]}:{configs[-1].version}")
            if more and chosen
            else None,
        )

    def deploy_warnings(self, cfg: FunctionConfig) -> tuple[str, ...]:
        """What looks wrong with the function's code and handler (blocking: reads the zip)."""
        return deploy_warnings(cfg.handler, self._codes.file_names(cfg.code_sha256))

    def functions_using_code(self, sha256: str) -> tuple[str, ...]:
        """Names of the functions whose code is the bundle `sha256` (a scan; rare calls)."""
        configs = self._all_configs()
        return tuple(sorted({cfg.name for cfg in configs if cfg.code_sha256 == sha256}))

    def code_zip(self, sha256: str) -> bytes:
        """The stored zip of a code bundle (GetFunction's Code.Location serves it)."""
        return self._codes.zip_bytes(sha256)

    def sweep_unused_code(self, code_dirs_in_use: Collection[str]) -> int:
        """Remove superseded code that neither a function nor a live worker uses any more.

        Blocking (database and disk): call from a thread. Returns how many bundles went.
        """
        removed = 0
        if self._layers is not None:
            wanted = {self._layers.tree_path(cfg.layers) for cfg in self._all_configs()}
            removed += self._layers.sweep(wanted, code_dirs_in_use)
        with self._mutation:
            for sha256 in list(self._superseded_code):
                if self._repo.code_in_use(sha256):
                    self._superseded_code.discard(sha256)
                    continue
                if str(self._codes.root / sha256) in code_dirs_in_use:
                    continue
                self._superseded_code.discard(sha256)
                self._remove_code_if_unused(sha256)
                removed += 1
        return removed

    # -- mutations (worker threads, serialised) ---------------------------------------------

    def create(self, name: str, zip_bytes: bytes, change: ConfigChange) -> FunctionConfig:
        """Deploy a new function ($LATEST); ResourceConflict if the name is taken."""
        name = self.unqualified(name)
        if change.handler is None:
            raise InvalidParameterValue(
                "The Handler parameter is required when the package type is Zip"
            )
        draft = _apply(self._defaults(name), change)
        validate_change(_as_change(draft), self._limits, self._runtimes)
        check_network(draft.network, draft.network_allow)
        self._check_buckets(draft)
        draft = dataclasses.replace(draft, layers=self._layer_refs(change.layers))
        with self._mutation:
            if name in self._functions:
                raise ResourceConflict(f"Function already exist: {name}")
            code = self._codes.put(zip_bytes)
            self._store(lambda: self._check_unzipped(code.unzipped_size, draft.layers), code.sha256)
            cfg = _revised(_with_code(draft, code))
            cfg = dataclasses.replace(cfg, sandbox_uid=self._next_sandbox_uid())
            self._store(lambda: self._repo.insert(cfg), code.sha256)
            self._publish(cfg)
        self._announce_change(name)
        return cfg

    def update_code(
        self, name: str, zip_bytes: bytes, revision_id: str | None = None
    ) -> FunctionConfig:
        """Replace the code of $LATEST; the old code goes when nothing else uses it."""
        name = self.unqualified(name)
        with self._mutation:
            current = self._current(name, revision_id)
            code = self._codes.put(zip_bytes)
            self._store(
                lambda: self._check_unzipped(code.unzipped_size, current.layers), code.sha256
            )
            cfg = _revised(_with_code(current, code))
            self._store(lambda: self._repo.replace(cfg, current.revision_id), code.sha256)
            self._publish(cfg, replaced=current)
            if current.code_sha256 != cfg.code_sha256:
                self._superseded_code.add(current.code_sha256)
        self._retire(current)
        self._announce_change(name)
        return cfg

    def update_config(
        self, name: str, change: ConfigChange, revision_id: str | None = None
    ) -> FunctionConfig:
        """Apply the fields `change` sets to $LATEST's configuration."""
        name = self.unqualified(name)
        # What a handler may be depends on the runtime, maybe the one the function keeps: it
        # is checked on the merged configuration.
        validate_change(dataclasses.replace(change, handler=None), self._limits, self._runtimes)
        with self._mutation:
            current = self._current(name, revision_id)
            cfg = _revised(_apply(current, change))
            if change.layers is not None:
                cfg = dataclasses.replace(cfg, layers=self._layer_refs(change.layers))
                code_size = self._codes.unzipped_size(current.code_sha256)
                self._check_unzipped(code_size, cfg.layers)
            if change.handler is not None or change.runtime is not None:
                check_handler(cfg.handler, cfg.runtime)
            check_network(cfg.network, cfg.network_allow)
            if change.file_system_configs is not None:
                self._check_buckets(cfg)
            self._repo.replace(cfg, current.revision_id)
            self._publish(cfg, replaced=current)
        self._retire(current)
        self._announce_change(name)
        return cfg

    def set_recursive_loop(self, name: str, value: str) -> FunctionConfig:
        """PutFunctionRecursionConfig: Terminate or Allow (a new revision, like any change)."""
        if value not in (RECURSIVE_LOOP_TERMINATE, RECURSIVE_LOOP_ALLOW):
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{value[:64]}' at 'recursiveLoop' failed to "
                "satisfy constraint: Member must satisfy enum value set: [Allow, Terminate]"
            )
        name = self.unqualified(name)
        with self._mutation:
            current = self._current(name, None)
            cfg = _revised(dataclasses.replace(current, recursive_loop=value))
            self._repo.replace(cfg, current.revision_id)
            self._publish(cfg, replaced=current)
        self._retire(current)
        self._announce_change(name)
        return cfg

    def _layer_refs(self, arns: tuple[str, ...] | None) -> tuple[LayerRef, ...]:
        """A change's Layers (ARNs), checked and resolved; None (not given) is none."""
        if arns is None:
            return ()
        if self._layers is None:
            if arns:
                raise InvalidParameterValue(_NO_LAYER_STORE)
            return ()
        return self._layers.refs(arns)

    def _check_unzipped(self, code_unzipped: int, layers: tuple[LayerRef, ...]) -> None:
        """Lambda's quota on the code and its layers together, unzipped."""
        total = code_unzipped + sum(ref.unzipped_size for ref in layers)
        limit = self._limits.max_unzipped_bytes
        if layers and total > limit:
            raise InvalidParameterValue(
                "Function code combined with layers exceeds the maximum allowed size of "
                f"{limit} bytes. The actual size is {total} bytes."
            )

    def _opt_dir(self, cfg: FunctionConfig) -> str:
        if not cfg.layers:
            return ""
        if self._layers is None:
            raise ServiceError(_NO_LAYER_STORE)
        return self._layers.opt_dir(cfg.layers)

    def _all_configs(self) -> tuple[FunctionConfig, ...]:
        """$LATEST of every function and every published version."""
        return (*self._functions.values(), *self._book.all_versions())

    def mounts(self, cfg: FunctionConfig) -> tuple[Bucket, ...]:
        """The buckets `cfg`'s FileSystemConfigs name, in order (ResourceNotFound for one that
        is gone, e.g. removed from config.toml since)."""
        if not cfg.file_system_configs:
            return ()
        if self._bucket_for is None:
            raise InvalidParameterValue("FileSystemConfigs: this server has no buckets")
        return tuple(self._bucket_for(entry.arn) for entry in cfg.file_system_configs)

    def _mounts(self, cfg: FunctionConfig) -> tuple[Mount, ...]:
        buckets = self.mounts(cfg)
        return tuple(
            Mount(
                source=bucket.path,
                target=entry.local_mount_path,
                writable=bucket.writable,
                group=bucket.group if bucket.writable else None,
            )
            for bucket, entry in zip(buckets, cfg.file_system_configs, strict=True)
        )

    def _check_buckets(self, cfg: FunctionConfig) -> None:
        try:
            self.mounts(cfg)
        except ResourceNotFound as exc:
            raise InvalidParameterValue(f"FileSystemConfigs: {exc.message}") from exc

    def delete(self, raw_name: str, qualifier: str | None = None) -> None:
        """Remove the function with its versions and aliases (and its code when nothing else
        uses it); with a version number as qualifier, that version only."""
        name, qualifier = self._split(raw_name, qualifier)
        if qualifier == LATEST:
            raise InvalidParameterValue(
                f"{LATEST} version cannot be deleted without deleting the function."
            )
        if qualifier is not None:
            self._delete_version(name, qualifier)
            return
        with self._mutation:
            current = self._current(name, None)
            self._repo.delete(name)
            self._announce_deleted(name)
            functions = dict(self._functions)
            del functions[name]
            self._functions = functions
            versions = self._book.forget(name)
            self._provisioned.forget(name)
            for cfg in (current, *versions):
                self._specs.pop(cfg.revision_id, None)
                self._superseded_code.add(cfg.code_sha256)
            if current.reserved_concurrency is not None:
                # Lambda drops the reservation with the function; a new function of the
                # same name starts without one.
                self._announce_concurrency(name, None)
        for cfg in (current, *versions):
            self._retire(cfg)
        self._announce_change(name)

    def _delete_version(self, name: str, qualifier: str) -> None:
        if not qualifier.isdigit():
            raise InvalidParameterValue("Deletion of aliases is not currently supported.")
        with self._mutation:
            self._current(name, None)
            cfg = self._book.version(name, qualifier)
            if cfg is None:
                return  # as on Lambda: deleting a version that is not there is no error
            users = [
                alias.name for alias in self._book.aliases_of(name) if alias.references(qualifier)
            ]
            if users:
                raise ResourceConflict(
                    "Unable to delete version because the following aliases reference it: "
                    f"[{', '.join(users)}]"
                )
            self._book.remove_version(cfg)
            self._provisioned.forget(name, qualifier)
            self._announce_qualifier_deleted(name, qualifier)
            self._specs.pop(cfg.revision_id, None)
            self._superseded_code.add(cfg.code_sha256)
        self._retire(cfg)
        self._announce_change(name)

    def put_concurrency(self, name: str, reserved: int) -> FunctionConfig:
        """Reserve `reserved` concurrent executions for the function (0 = always throttled).

        The reservations of all functions together must leave `unreserved_minimum` of the
        account limit to the others. Warm workers are kept: only admission changes.
        """
        name = self.unqualified(name)
        if isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < 0:
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{reserved}' at "
                "'reservedConcurrentExecutions' failed to satisfy constraint: "
                "Member must have value greater than or equal to 0"
            )
        with self._mutation:
            current = self._current(name, None)
            self._check_unreserved_minimum(name, reserved)
            _check_reserved_covers_provisioned(current, reserved)
            cfg = self._set_reservation(current, reserved)
        self._announce_change(name)
        return cfg

    def delete_concurrency(self, name: str) -> None:
        """Remove the function's reservation: it shares the unreserved pool again."""
        name = self.unqualified(name)
        with self._mutation:
            current = self._current(name, None)
            if current.reserved_concurrency is None:
                return
            self._set_reservation(current, None)
        self._announce_change(name)

    def put_provisioned(
        self, raw_name: str, qualifier: str | None, count: int
    ) -> ProvisionedConfig:
        """Keep `count` workers of a published version, of what an alias routes to, or (a faas
        extension) of $LATEST initialised ahead of requests.

        Like a reservation this keeps the revision: the function's warm workers stay, and the
        change listeners start or stop the difference. The function's provisioned workers
        together must fit its reservation (or leave the account's unreserved minimum).
        """
        name, qualifier = self._split(raw_name, qualifier)
        qualifier = qualifier or LATEST
        _check_provisioned_count(count)
        with self._mutation:
            current = self._current(name, None)
            if qualifier != LATEST:
                self._named(name, qualifier, None)  # a version or alias that is not there: 404
                alias = self._book.alias(name, qualifier)
                if alias is not None and alias.additional_version is not None:
                    raise InvalidParameterValue(
                        "Alias with weights can not be used with Provisioned Concurrency"
                    )
            served = self._provisioned_versions(name, qualifier, count)
            self._check_provisioned_overlap(name, qualifier, served)
            total = self._provisioned_total(current, besides=qualifier) + count
            _check_reserved_covers_provisioned(current, current.reserved_concurrency, total)
            self._check_provisioned_fits_account(current, total)
            if qualifier == LATEST:
                latest = self._replace_in_place(current, provisioned_concurrency=count)
                config = _latest_provisioned(latest)
            else:
                config = ProvisionedConfig(name, qualifier, count, aws_now())
                self._provisioned.put(config, self._provisioned_memory(name, served))
        self._announce_change(name)
        return config

    def get_provisioned(self, raw_name: str, qualifier: str | None = None) -> ProvisionedConfig:
        """The qualifier's configuration (else a 404 saying it has none)."""
        name, qualifier = self._split(raw_name, qualifier)
        qualifier = qualifier or LATEST
        cfg = self._named(name, None, None)
        if qualifier == LATEST:
            found = _latest_provisioned(cfg) if cfg.provisioned_concurrency else None
        else:
            self._named(name, qualifier, None)
            found = self._provisioned.get(name, qualifier)
        if found is None:
            raise ProvisionedConcurrencyConfigNotFound(
                f"No Provisioned Concurrency Config found for this function: "
                f"{self.function_arn(name, qualifier)}"
            )
        return found

    def list_provisioned(self, raw_name: str) -> tuple[ProvisionedConfig, ...]:
        """ListProvisionedConcurrencyConfigs: the function's configurations ($LATEST's
        first, then by qualifier)."""
        name = self.unqualified(raw_name)
        cfg = self._named(name, None, None)
        latest = [_latest_provisioned(cfg)] if cfg.provisioned_concurrency else []
        return (*latest, *self._provisioned.of_function(name))

    def delete_provisioned(self, raw_name: str, qualifier: str | None = None) -> None:
        """Stop keeping workers initialised; a qualifier without a config is left as is."""
        name, qualifier = self._split(raw_name, qualifier)
        qualifier = qualifier or LATEST
        with self._mutation:
            current = self._current(name, None)
            if qualifier == LATEST:
                if current.provisioned_concurrency is None:
                    return
                self._replace_in_place(current, provisioned_concurrency=None)
            else:
                self._named(name, qualifier, None)
                if not self._provisioned.remove(name, qualifier):
                    return
        self._announce_change(name)

    def provisioned_targets(self, name: str) -> dict[str, int]:
        """Provisioned workers per version of the function ("$LATEST", "1", ...), summed
        over every configuration that routes to it: what the pools keep initialised."""
        cfg = self._functions.get(name)
        if cfg is None:
            return {}
        targets: dict[str, int] = {}
        if cfg.provisioned_concurrency:
            targets[LATEST] = cfg.provisioned_concurrency
        for config in self._provisioned.of_function(name):
            for version, workers in self._provisioned_versions(
                name, config.qualifier, config.requested
            ).items():
                targets[version] = targets.get(version, 0) + workers
        return targets

    def provisioned_shares(self, name: str, qualifier: str | None) -> dict[str, int]:
        """The versions a qualifier's provisioned workers serve, and how many each."""
        qualifier = qualifier or LATEST
        found = self.get_provisioned(name, qualifier)
        return self._provisioned_versions(name, qualifier, found.requested)

    # -- published versions and aliases ------------------------------------------------------

    def publish_version(
        self,
        raw_name: str,
        *,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionConfig:
        """PublishVersion: a numbered, immutable copy of $LATEST's code and configuration.
        When $LATEST has not changed since the newest version, that version is the answer.

        `code_sha256` (base64, as the API shows it) and `revision_id` are preconditions.
        """
        name = self.unqualified(raw_name)
        if description is not None:
            check_description(description)
        with self._mutation:
            current = self._current(name, revision_id)
            check_code_sha256(current, code_sha256)
            state = self._book.state(name)
            newest = self._book.version(name, str(state.last_version))
            if newest is not None and state.last_published_revision == current.revision_id:
                return newest
            cfg = _revised(
                dataclasses.replace(
                    current,
                    version=str(state.last_version + 1),
                    description=current.description if description is None else description,
                    reserved_concurrency=None,
                    provisioned_concurrency=None,
                )
            )
            self._book.add_version(cfg, current.revision_id)
        self._announce_change(name)
        return cfg

    def list_versions(
        self, raw_name: str, marker: str | None, max_items: int | None
    ) -> FunctionPage:
        """ListVersionsByFunction: $LATEST, then the published versions oldest first; at most
        50 a page, as on Lambda."""
        name, _ = split_function_name(raw_name)
        latest = self._named(name, None, None)
        limit = min(_checked_max_items(max_items), MAX_VERSIONS_PER_PAGE)
        everything = [latest, *self._book.versions_of(name)]
        start = 0
        if marker is not None:
            after = decode_version_marker(marker)
            start = sum(1 for cfg in everything if version_key(cfg) <= after)
        page = everything[start : start + limit]
        more = start + limit < len(everything)
        return FunctionPage(
            functions=tuple(page),
            next_marker=_encode_marker(page[-1].version) if more and page else None,
        )

    def alias_arn(self, alias: Alias) -> str:
        return self.function_arn(alias.function_name, alias.name)

    def create_alias(
        self,
        raw_name: str,
        alias_name: object,
        function_version: object,
        *,
        description: str = "",
        routing: Routing = (),
    ) -> Alias:
        """CreateAlias: `alias_name` for `function_version`, optionally weighted (both as
        the request gave them: checked here)."""
        alias_name = check_alias_name(alias_name)
        function_version = check_function_version(function_version)
        check_description(description)
        name = self.unqualified(raw_name)
        with self._mutation:
            self._current(name, None)
            self._check_version_exists(name, function_version)
            if self._book.alias(name, alias_name) is not None:
                raise ResourceConflict(
                    f"Alias already exists: {self.function_arn(name, alias_name)}"
                )
            additional = self._checked_routing(name, function_version, routing)
            alias = Alias(
                function_name=name,
                name=alias_name,
                function_version=function_version,
                description=description,
                revision_id=str(uuid.uuid4()),
                additional_version=additional[0] if additional else None,
                additional_weight=additional[1] if additional else 0.0,
            )
            self._book.add_alias(alias)
        self._announce_change(name)
        return alias

    def get_alias(self, raw_name: str, alias_name: str) -> Alias:
        check_alias_name(alias_name)
        name = self.unqualified(raw_name)
        self._named(name, None, None)
        alias = self._book.alias(name, alias_name)
        if alias is None:
            raise ResourceNotFound(f"Cannot find alias arn: {self.function_arn(name, alias_name)}")
        return alias

    def update_alias(
        self,
        raw_name: str,
        alias_name: str,
        change: AliasChange,
        revision_id: str | None = None,
    ) -> Alias:
        """UpdateAlias: what `change` sets; routing left out stays as it was."""
        check_alias_name(alias_name)
        if change.function_version is not None:
            check_function_version(change.function_version)
        if change.description is not None:
            check_description(change.description)
        name = self.unqualified(raw_name)
        with self._mutation:
            self._current(name, None)
            current = self._book.alias(name, alias_name)
            if current is None:
                raise ResourceNotFound(f"Alias not found: {self.function_arn(name, alias_name)}")
            if revision_id is not None and revision_id != current.revision_id:
                raise PreconditionFailed(_REVISION_MISMATCH)
            primary = change.function_version or current.function_version
            if change.function_version is not None:
                self._check_version_exists(name, primary)
            routing = change.routing
            if routing is None and current.additional_version is not None:
                routing = ((current.additional_version, current.additional_weight),)
            additional = self._checked_routing(name, primary, routing or ())
            alias = dataclasses.replace(
                current,
                function_version=primary,
                description=current.description
                if change.description is None
                else change.description,
                revision_id=str(uuid.uuid4()),
                additional_version=additional[0] if additional else None,
                additional_weight=additional[1] if additional else 0.0,
            )
            self._book.replace_alias(alias, current.revision_id)
            provisioned = self._provisioned.get(name, alias_name)
            if provisioned is not None:
                # Its workers now serve other versions: billed at their memory from now.
                served = self._provisioned_versions(name, alias_name, provisioned.requested)
                self._provisioned.reallocate(provisioned, self._provisioned_memory(name, served))
        self._announce_change(name)
        return alias

    def delete_alias(self, raw_name: str, alias_name: str) -> None:
        """DeleteAlias; an alias that is not there is no error, as on Lambda."""
        check_alias_name(alias_name)
        name = self.unqualified(raw_name)
        with self._mutation:
            self._current(name, None)
            if self._book.alias(name, alias_name) is None:
                return
            self._book.remove_alias(name, alias_name)
            self._provisioned.forget(name, alias_name)
            self._announce_qualifier_deleted(name, alias_name)
        self._announce_change(name)

    def list_aliases(
        self,
        raw_name: str,
        function_version: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> AliasPage:
        """ListAliases by name, only those of `function_version` when it is given."""
        if function_version is not None:
            check_function_version(function_version)
        name = self.unqualified(raw_name)
        self._named(name, None, None)
        limit = _checked_max_items(max_items)
        aliases = [
            alias
            for alias in self._book.aliases_of(name)
            if function_version is None or alias.function_version == function_version
        ]
        start = 0
        if marker is not None:
            after = decode_alias_marker(marker)
            start = sum(1 for alias in aliases if alias.name <= after)
        page = aliases[start : start + limit]
        more = start + limit < len(aliases)
        return AliasPage(
            aliases=tuple(page),
            next_marker=_encode_marker(page[-1].name) if more and page else None,
        )

    # -- steps ------------------------------------------------------------------------------

    def _split(self, raw_name: str, qualifier: str | None) -> tuple[str, str | None]:
        name, in_name = split_function_name(raw_name)
        if in_name is not None and qualifier is not None and in_name != qualifier:
            raise InvalidParameterValue(_QUALIFIER_MISMATCH)
        return name, in_name if in_name is not None else qualifier

    def unqualified(self, raw_name: str) -> str:
        """The function's name, for an operation on the function itself: a version or an
        alias in `raw_name` answers Lambda's InvalidParameterValue."""
        name, qualifier = split_function_name(raw_name)
        if qualifier is not None:
            raise InvalidParameterValue(UNQUALIFIED_ONLY)
        return name

    def _named(self, name: str, qualifier: str | None, draw: Draw | None) -> FunctionConfig:
        """$LATEST, version `qualifier` or the version alias `qualifier` runs (chosen with
        `draw` when it is weighted; its own version when `draw` is None)."""
        if qualifier is None or qualifier == LATEST:
            found = self._functions.get(name)
        elif qualifier.isdigit():
            found = self._book.version(name, qualifier)
        else:
            alias = self._book.alias(name, qualifier)
            found = None if alias is None else self._alias_target(alias, draw)
        if found is None:
            raise self._not_found(name, qualifier)
        return found

    def _alias_target(self, alias: Alias, draw: Draw | None) -> FunctionConfig | None:
        version = alias.function_version if draw is None else routed_version(alias, draw)
        if version == LATEST:
            return self._functions.get(alias.function_name)
        return self._book.version(alias.function_name, version)

    def _is_current(self, cfg: FunctionConfig) -> bool:
        """Whether `cfg` is what the registry serves now (not a configuration replaced since)."""
        if cfg.version == LATEST:
            return self._functions.get(cfg.name) is cfg
        return self._book.version(cfg.name, cfg.version) is cfg

    def _check_version_exists(self, name: str, version: str) -> None:
        if version != LATEST and self._book.version(name, version) is None:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name, version)}")

    def _checked_routing(
        self, name: str, primary: str, routing: Routing
    ) -> tuple[str, float] | None:
        additional = check_routing(primary, routing)
        if additional is not None:
            self._check_version_exists(name, additional[0])
        return additional

    def _current(self, name: str, revision_id: str | None) -> FunctionConfig:
        current = self._functions.get(name)
        if current is None:
            raise self._not_found(name, None)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed(_REVISION_MISMATCH)
        return current

    def _store(self, write: Callable[[], None], sha256: str) -> None:
        """Run the database write; on failure, drop the just-stored code if it is orphaned."""
        try:
            write()
        except BaseException:
            self._remove_code_if_unused(sha256)
            raise

    def _next_sandbox_uid(self) -> int:
        # Under the mutation lock: two functions created at once never share a uid.
        taken = [cfg.sandbox_uid for cfg in self._functions.values() if cfg.sandbox_uid is not None]
        return max(taken, default=-1) + 1

    def _check_unreserved_minimum(self, name: str, reserved: int) -> None:
        # A scan, but on this rare write only: admission never sums reservations.
        others = sum(
            cfg.reserved_concurrency or 0 for cfg in self._functions.values() if cfg.name != name
        )
        minimum = self._concurrency.unreserved_minimum
        if self._concurrency.account_limit - others - reserved < minimum:
            raise InvalidParameterValue(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
            )

    def _provisioned_versions(self, name: str, qualifier: str, count: int) -> dict[str, int]:
        """The versions `count` workers provisioned for `qualifier` serve."""
        if qualifier == LATEST or qualifier.isdigit():
            return {qualifier: count}
        alias = self._book.alias(name, qualifier)
        return {} if alias is None else version_shares(count, alias)

    def _provisioned_memory(self, name: str, served: Mapping[str, int]) -> int:
        """MemorySize x workers over the versions served, per worker: what an allocation of
        them bills (the versions of one alias may differ in size)."""
        total = sum(self._named(name, version, None).memory_mb * n for version, n in served.items())
        workers = sum(served.values())
        return -(-total // workers) if workers else 0

    def _provisioned_total(self, current: FunctionConfig, *, besides: str) -> int:
        """The function's provisioned workers, leaving out those of `besides`."""
        total = sum(
            config.requested
            for config in self._provisioned.of_function(current.name)
            if config.qualifier != besides
        )
        if besides != LATEST:
            total += current.provisioned_concurrency or 0
        return total

    def _check_provisioned_overlap(
        self, name: str, qualifier: str, served: Mapping[str, int]
    ) -> None:
        """A version gets provisioned workers through one qualifier only (itself or one
        alias): two configurations for the same workers would bill them twice."""
        latest = self._functions[name].provisioned_concurrency
        others = [
            (other.qualifier, self._provisioned_versions(name, other.qualifier, other.requested))
            for other in self._provisioned.of_function(name)
            if other.qualifier != qualifier
        ]
        if latest and qualifier != LATEST:
            others.append((LATEST, {LATEST: latest}))
        for other, versions in others:
            shared = sorted(set(versions) & set(served))
            if shared:
                raise ResourceConflict(
                    f"Version {shared[0]} already has provisioned concurrency through "
                    f"{self.function_arn(name, other)}; remove that configuration first"
                )

    def _check_provisioned_fits_account(self, current: FunctionConfig, count: int) -> None:
        if current.reserved_concurrency is not None:
            return  # provisioned workers then come out of the function's own reservation
        reserved = sum(cfg.reserved_concurrency or 0 for cfg in self._functions.values())
        unreserved = self._concurrency.account_limit - reserved
        available = unreserved - self._concurrency.unreserved_minimum
        if count > available:
            raise InvalidParameterValue(
                f"Specified ProvisionedConcurrentExecutions ({count}) for function would "
                f"decrease account's UnreservedConcurrentExecution below its minimum value of "
                f"[{self._concurrency.unreserved_minimum}]; at most {max(available, 0)} fit"
            )

    def _set_reservation(self, current: FunctionConfig, reserved: int | None) -> FunctionConfig:
        cfg = self._replace_in_place(current, reserved_concurrency=reserved)
        self._announce_concurrency(cfg.name, reserved)
        return cfg

    def _replace_in_place(self, current: FunctionConfig, **changes: Any) -> FunctionConfig:
        # Same revision: concurrency settings are not a code or configuration change, so the
        # function's warm workers (keyed by revision) stay.
        cfg = dataclasses.replace(current, **changes)
        self._repo.replace(cfg, current.revision_id)
        self._publish(cfg)
        return cfg

    def _announce_concurrency(self, name: str, reserved: int | None) -> None:
        for listener in self._concurrency_listeners:
            try:
                listener(name, reserved)
            except Exception:
                _log.exception("concurrency listener failed for %s", name)

    def _publish(self, cfg: FunctionConfig, replaced: FunctionConfig | None = None) -> None:
        functions = dict(self._functions)
        functions[cfg.name] = cfg
        self._functions = functions
        if replaced is not None:
            self._specs.pop(replaced.revision_id, None)

    def _remove_code_if_unused(self, sha256: str) -> None:
        if self._repo.code_in_use(sha256):
            return
        try:
            self._codes.remove(sha256)
        except OSError:
            # The change itself is committed; an orphaned bundle only costs disk space.
            _log.exception("could not remove unused code %s", sha256)

    def _announce_deleted(self, name: str) -> None:
        for listener in self._delete_listeners:
            try:
                listener(name)
            except Exception:
                # The delete is committed; one broken listener must not undo or hide it.
                _log.exception("delete listener failed for %s", name)

    def _announce_qualifier_deleted(self, name: str, qualifier: str) -> None:
        for listener in self._qualifier_listeners:
            try:
                listener(name, qualifier)
            except Exception:
                _log.exception("delete listener failed for %s:%s", name, qualifier)

    def _announce_change(self, name: str) -> None:
        for listener in self._change_listeners:
            try:
                listener(name)
            except Exception:
                # The change is committed; one broken listener must not undo or hide it.
                _log.exception("change listener failed for %s", name)

    def _retire(self, old: FunctionConfig) -> None:
        key = _worker_key(old)
        for listener in self._listeners:
            try:
                listener(key)
            except Exception:
                # The change is committed; one broken listener must not undo or hide it.
                _log.exception("retire listener failed for %s", key)

    def _defaults(self, name: str) -> FunctionConfig:
        return FunctionConfig(
            name=name,
            runtime=self._runtimes[0],
            handler="",
            role=f"arn:aws:iam::{self._account_id}:role/faas-default",
            memory_mb=DEFAULT_MEMORY_MB,
            timeout_s=DEFAULT_TIMEOUT_S,
            ephemeral_storage_mb=DEFAULT_EPHEMERAL_MB,
            environment={},
            description="",
            code_sha256="",
            code_size=0,
            revision_id="",
            last_modified="",
        )

    def _not_found(self, name: str, qualifier: str | None) -> ResourceNotFound:
        shown = None if qualifier == LATEST else qualifier
        return ResourceNotFound(f"Function not found: {self.function_arn(name, shown)}")


def _latest_provisioned(cfg: FunctionConfig) -> ProvisionedConfig:
    """$LATEST's provisioned concurrency, kept on its function's row, as a configuration."""
    return ProvisionedConfig(cfg.name, LATEST, cfg.provisioned_concurrency or 0, cfg.last_modified)


def _check_provisioned_count(count: object) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{count}' at "
            "'provisionedConcurrentExecutions' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )


def _check_reserved_covers_provisioned(
    cfg: FunctionConfig, reserved: int | None, provisioned: int | None = None
) -> None:
    """Provisioned workers are part of the reservation: never more of them than it allows."""
    if provisioned is None:
        provisioned = cfg.provisioned_concurrency
    if reserved is None or provisioned is None or provisioned <= reserved:
        return
    raise InvalidParameterValue(
        f"Specified ProvisionedConcurrentExecutions ({provisioned}) cannot be larger than "
        f"ReservedConcurrentExecutions ({reserved}) of function {cfg.name}"
    )


def _worker_key(cfg: FunctionConfig) -> str:
    return f"{cfg.name}:{cfg.version}:{cfg.revision_id}"


def _apply(cfg: FunctionConfig, change: ConfigChange) -> FunctionConfig:
    updates: dict[str, Any] = {}
    for name in _CHANGE_FIELDS:
        value = getattr(change, name)
        if value is not None:
            updates[name] = value
    if "environment" in updates:
        # A private copy: the caller's dict must not be able to change a stored function.
        updates["environment"] = dict(updates["environment"])
    if "network_allow" in updates:
        updates["network_allow"] = tuple(updates["network_allow"])
    if updates.get("kms_key_arn") == "":
        updates["kms_key_arn"] = None  # Lambda's way to go back to the default key
    return dataclasses.replace(cfg, **updates)


def _as_change(cfg: FunctionConfig) -> ConfigChange:
    return ConfigChange(**{name: getattr(cfg, name) for name in _CHANGE_FIELDS})


def _with_code(cfg: FunctionConfig, code: CodeInfo) -> FunctionConfig:
    return dataclasses.replace(cfg, code_sha256=code.sha256, code_size=code.size)


def _revised(cfg: FunctionConfig) -> FunctionConfig:
    return dataclasses.replace(cfg, revision_id=str(uuid.uuid4()), last_modified=aws_now())


def _checked_max_items(max_items: int | None) -> int:
    if max_items is None:
        return DEFAULT_MAX_ITEMS
    if not 1 <= max_items <= MAX_ITEMS:
        bound = (
            "greater than or equal to 1" if max_items < 1 else f"less than or equal to {MAX_ITEMS}"
        )
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to satisfy "
            f"constraint: Member must have value {bound}"
        )
    return max_items


def _encode_marker(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _decode_version_marker(marker: str) -> tuple[str, int]:
    """(function name, version_key) a ListFunctions FunctionVersion=ALL marker continues
    after."""
    try:
        text = base64.b64decode(marker, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    name, _, version = text.partition(":")
    if not FUNCTION_NAME_RE.fullmatch(name) or not (version == LATEST or version.isdigit()):
        raise InvalidParameterValue(f"Invalid pagination marker: {marker[:64]!r}")
    return name, 0 if version == LATEST else int(version)


def _decode_marker(marker: str) -> str:
    try:
        name = base64.b64decode(marker, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        name = ""
    if not FUNCTION_NAME_RE.fullmatch(name):
        raise InvalidParameterValue(f"Invalid pagination marker: {marker[:64]!r}")
    return name
