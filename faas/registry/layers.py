"""Lambda layers: PublishLayerVersion and the calls that read, list, delete and share layer
versions, and what functions need of them (their Layers checked and resolved, and the merged
/opt tree their workers see).

Like the function registry, reads serve an in-memory copy (replaced, never mutated, so readers
take no lock) and writes run in worker threads under one lock, in the order layer store ->
database -> memory. A deleted layer version goes from the API at once; its content stays on
disk while a function (or published version) still names it, as on Lambda, and the periodic
sweep removes it afterwards.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import threading
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from faas.domain import MAX_FUNCTION_LAYERS, LayerRef, LayerStatement, LayerVersion
from faas.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound
from faas.registry.codestore import CodeStore
from faas.registry.layer_names import (
    check_layer_name,
    layer_arn,
    layer_version_arn_of,
    parse_layer_arn,
)
from faas.registry.layer_permissions import NO_POLICY, grants, new_statement
from faas.registry.layer_trees import LayerTrees, tree_name
from faas.registry.names import aws_now
from faas.registry.swapped import swapped
from faas.store.layers import LayerRepo

NOT_FOUND = "The resource you requested does not exist."
EXTENSIONS_REFUSED = (
    "faas does not run Lambda extensions: this layer holds extensions/ (which Lambda would run "
    "as /opt/extensions/*); publish it without that directory"
)
# ListLayers / ListLayerVersions: MaxItems is 1..50 (MaxLayerListItems).
MAX_LIST_ITEMS = 50
MAX_DESCRIPTION = 256
MAX_LICENSE = 512
MAX_RUNTIMES = 15
ARCHITECTURES = ("x86_64", "arm64")
_Versions = Mapping[int, LayerVersion]


@dataclass(frozen=True, slots=True)
class LayerPublication:
    """PublishLayerVersion's input besides the name and the zip."""

    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license_info: str | None = None


@dataclass(frozen=True, slots=True)
class LayerPage:
    versions: tuple[LayerVersion, ...]
    next_marker: str | None = None


class LayerRegistry:
    def __init__(
        self,
        repo: LayerRepo,
        contents: CodeStore,
        trees: LayerTrees,
        *,
        region: str,
        account_id: str,
    ) -> None:
        self._repo = repo
        self._contents = contents
        self._trees = trees
        self._region = region
        self._account_id = account_id
        self._lock = threading.Lock()
        self._versions: dict[str, _Versions] = {}
        self._last: dict[str, int] = {}
        # (layer, version) -> statement id -> statement
        self._statements: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}

    def load(self) -> None:
        versions: dict[str, dict[int, LayerVersion]] = {}
        for layer in self._repo.all_versions():
            versions.setdefault(layer.layer_name, {})[layer.version] = layer
        statements: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
        for row in self._repo.all_statements():
            key = (row.layer_name, row.version)
            statements.setdefault(key, {})[row.statement_id] = orjson.loads(row.statement)
        with self._lock:
            self._versions = dict(versions)
            self._last = self._repo.last_versions()
            self._statements = statements

    # -- names ------------------------------------------------------------------------------

    def layer_arn(self, name: str) -> str:
        return layer_arn(self._region, self._account_id, name)

    def version_arn(self, name: str, version: int) -> str:
        return layer_arn(self._region, self._account_id, name, version)

    def name_of(self, raw: str) -> str:
        """A LayerName path parameter (a name, or a layer ARN of this server) -> the name."""
        parsed = parse_layer_arn(raw) if raw.startswith("arn:") else None
        if parsed is None:
            return check_layer_name(raw)
        if (parsed.region, parsed.account_id) != (self._region, self._account_id):
            raise ResourceNotFound(NOT_FOUND)
        return parsed.name

    def arn_parts(self, arn: str) -> tuple[str, int]:
        """(name, version) of a layer version ARN of this server (GetLayerVersionByArn)."""
        parsed = layer_version_arn_of(arn)
        if (parsed.region, parsed.account_id) != (self._region, self._account_id):
            raise ResourceNotFound(NOT_FOUND)
        assert parsed.version is not None  # layer_version_arn_of insists on it
        return parsed.name, parsed.version

    # -- reads (no lock, no database) -------------------------------------------------------

    def get(self, name: str, version: int) -> LayerVersion:
        found = self._versions.get(name, {}).get(version)
        if found is None:
            raise ResourceNotFound(NOT_FOUND)
        return found

    def list_layers(
        self,
        runtime: str | None,
        architecture: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> LayerPage:
        """ListLayers: each layer's newest version that matches, by layer name."""
        newest = []
        for name in sorted(self._versions):
            matching = _matching(self._versions[name].values(), runtime, architecture)
            if matching:
                newest.append(matching[0])
        return _page(newest, marker, max_items, lambda layer: layer.layer_name)

    def list_versions(
        self,
        name: str,
        runtime: str | None,
        architecture: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> LayerPage:
        """ListLayerVersions: newest first (no versions for a layer that has none)."""
        versions = _matching(self._versions.get(name, {}).values(), runtime, architecture)
        return _page(versions, marker, max_items, lambda layer: str(layer.version))

    def content_zip(self, layer: LayerVersion) -> bytes:
        return self._contents.zip_bytes(layer.code_sha256)

    def grants_use(self, name: str, version: int) -> bool:
        """Whether the version's permissions let any key of this server read and use it."""
        statements = self._statements.get((name, version), {})
        return any(grants(statement, self._account_id) for statement in statements.values())

    def is_ours(self, arn: str) -> bool:
        """Whether `arn` is a layer version ARN of this server's region and account."""
        parsed = parse_layer_arn(arn) if isinstance(arn, str) else None
        return (
            parsed is not None
            and parsed.version is not None
            and (parsed.region, parsed.account_id) == (self._region, self._account_id)
        )

    def grants_use_arn(self, arn: str) -> bool:
        """`grants_use` of a layer version ARN of this server (False for any other)."""
        parsed = parse_layer_arn(arn)
        if parsed is None or parsed.version is None or not self.is_ours(arn):
            return False
        return self.grants_use(parsed.name, parsed.version)

    def policy(self, name: str, version: int) -> tuple[str, str]:
        """GetLayerVersionPolicy: (the policy document as a JSON string, its revision id)."""
        layer = self.get(name, version)
        found = self._statements.get((name, version))
        if not found:
            raise ResourceNotFound(NO_POLICY)
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": list(found.values())}
        return orjson.dumps(policy).decode(), layer.policy_revision

    # -- what functions need ----------------------------------------------------------------

    def refs(self, arns: Sequence[str]) -> tuple[LayerRef, ...]:
        """A function's Layers, checked as Lambda checks them, as the function keeps them."""
        if len(arns) > MAX_FUNCTION_LAYERS:
            raise InvalidParameterValue(f"Cannot reference more than {MAX_FUNCTION_LAYERS} layers.")
        refs: list[LayerRef] = []
        seen: dict[str, str] = {}
        for arn in arns:
            parsed = layer_version_arn_of(arn)
            assert parsed.version is not None
            same_layer = layer_arn(parsed.region, parsed.account_id, parsed.name)
            if same_layer in seen:
                raise InvalidParameterValue(
                    "Two different versions of the same layer are not allowed to be referenced "
                    f"in the same function. {seen[same_layer]} and {arn} are versions of the "
                    "same layer."
                )
            seen[same_layer] = arn
            ours = (parsed.region, parsed.account_id) == (self._region, self._account_id)
            layer = self._versions.get(parsed.name, {}).get(parsed.version) if ours else None
            if layer is None:
                raise InvalidParameterValue(f"Layer version {arn} does not exist.")
            refs.append(LayerRef(arn, layer.code_sha256, layer.code_size, layer.unzipped_size))
        return tuple(refs)

    def opt_dir(self, refs: Sequence[LayerRef]) -> str:
        """The merged tree of a function's layers ("" without layers). Blocking the first
        time: a layer may have to be extracted again, and the tree is built."""
        if not refs:
            return ""
        layers = [(ref.code_sha256, self._contents.code_dir(ref.code_sha256)) for ref in refs]
        return str(self._trees.tree(layers))

    def tree_path(self, refs: Sequence[LayerRef]) -> str:
        """Where the merged tree of `refs` is (or would be); "" without layers."""
        if not refs:
            return ""
        return str(self._trees.root / tree_name([ref.code_sha256 for ref in refs]))

    # -- writes (worker threads, serialised) ------------------------------------------------

    def publish(self, name: str, zip_bytes: bytes, publication: LayerPublication) -> LayerVersion:
        """PublishLayerVersion: the layer's next version (numbers are never given twice)."""
        check_layer_name(name)
        _check_publication(publication)
        with self._lock:
            content = self._contents.put(zip_bytes)
            if any(path.split("/", 1)[0] == "extensions" for path in content.files):
                self._remove_if_unused(content.sha256)
                raise InvalidParameterValue(EXTENSIONS_REFUSED)
            last = self._last.get(name, 0)
            layer = LayerVersion(
                layer_name=name,
                version=last + 1,
                description=publication.description,
                created=aws_now(),
                compatible_runtimes=publication.compatible_runtimes,
                compatible_architectures=publication.compatible_architectures,
                license_info=publication.license_info,
                code_sha256=content.sha256,
                code_size=content.size,
                unzipped_size=content.unzipped_size,
                policy_revision=str(uuid.uuid4()),
            )
            try:
                self._repo.insert_version(layer, last)
            except BaseException:
                self._remove_if_unused(content.sha256)
                raise
            self._set_versions(name, {**self._versions.get(name, {}), layer.version: layer})
            self._last = {**self._last, name: layer.version}
        return layer

    def delete(self, name: str, version: int) -> None:
        """DeleteLayerVersion; a version that is not there is no error, as on Lambda. Its
        content stays while functions use it."""
        with self._lock:
            layer = self._versions.get(name, {}).get(version)
            if layer is None:
                return
            self._repo.delete_version(name, version)
            versions = dict(self._versions.get(name, {}))
            del versions[version]
            self._set_versions(name, versions)
            self._statements = {
                key: value for key, value in self._statements.items() if key != (name, version)
            }
            self._remove_if_unused(layer.code_sha256)

    def add_permission(
        self, name: str, version: int, document: Mapping[str, Any], revision_id: str | None
    ) -> tuple[dict[str, Any], str]:
        """AddLayerVersionPermission: (the statement added, the policy's new revision id)."""
        with self._lock:
            layer = self._checked_revision(name, version, revision_id)
            statement = new_statement(document, self.version_arn(name, version))
            row = LayerStatement(name, version, statement["Sid"], orjson.dumps(statement).decode())
            revision = str(uuid.uuid4())
            self._repo.add_statement(row, layer.policy_revision, revision)
            key = (name, version)
            self._statements = {
                **self._statements,
                key: {**self._statements.get(key, {}), statement["Sid"]: statement},
            }
            self._revise(layer, revision)
        return statement, revision

    def remove_permission(
        self, name: str, version: int, statement_id: str, revision_id: str | None
    ) -> None:
        with self._lock:
            layer = self._checked_revision(name, version, revision_id)
            key = (name, version)
            left = dict(self._statements.get(key, {}))
            if left.pop(statement_id, None) is None:
                raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
            revision = str(uuid.uuid4())
            row = LayerStatement(name, version, statement_id, "")
            self._repo.remove_statement(row, layer.policy_revision, revision)
            statements = dict(self._statements)
            if left:
                statements[key] = left
            else:
                statements.pop(key, None)
            self._statements = statements
            self._revise(layer, revision)

    def sweep(self, wanted_trees: Collection[str], trees_in_use: Collection[str]) -> int:
        """Remove merged trees nobody wants or runs from, and layer contents nothing names.
        Blocking; returns how many things went."""
        with self._lock:
            removed = self._trees.remove_unused({*wanted_trees, *trees_in_use})
            in_use = self._repo.shas_in_use()
            for sha256 in self._contents.stored():
                if sha256 not in in_use:
                    self._contents.remove(sha256)
                    removed += 1
        return removed

    # -- steps ------------------------------------------------------------------------------

    def _checked_revision(self, name: str, version: int, revision_id: str | None) -> LayerVersion:
        layer = self.get(name, version)
        if revision_id is not None and revision_id != layer.policy_revision:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetLayerVersionPolicy API to retrieve the latest Revision Id"
            )
        return layer

    def _revise(self, layer: LayerVersion, revision: str) -> None:
        revised = dataclasses.replace(layer, policy_revision=revision)
        name = layer.layer_name
        self._set_versions(name, {**self._versions.get(name, {}), layer.version: revised})

    def _set_versions(self, name: str, versions: _Versions) -> None:
        self._versions = swapped(self._versions, name, versions)

    def _remove_if_unused(self, sha256: str) -> None:
        if sha256 not in self._repo.shas_in_use():
            self._contents.remove(sha256)


def _matching(
    versions: Collection[LayerVersion], runtime: str | None, architecture: str | None
) -> list[LayerVersion]:
    """The versions compatible with `runtime` and `architecture` (when given), newest first."""
    return sorted(
        (
            layer
            for layer in versions
            if (runtime is None or runtime in layer.compatible_runtimes)
            and (architecture is None or architecture in layer.compatible_architectures)
        ),
        key=lambda layer: layer.version,
        reverse=True,
    )


def _page(
    items: Sequence[LayerVersion],
    marker: str | None,
    max_items: int | None,
    label: Any,
) -> LayerPage:
    limit = MAX_LIST_ITEMS if max_items is None else max_items
    if not 1 <= limit <= MAX_LIST_ITEMS:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{limit}' at 'maxItems' failed to satisfy "
            f"constraint: Member must have value between 1 and {MAX_LIST_ITEMS}"
        )
    start = 0
    if marker is not None:
        after = _decode_marker(marker)
        labels = [label(item) for item in items]
        if after not in labels:
            raise InvalidParameterValue(f"Invalid pagination marker: {marker[:64]!r}")
        start = labels.index(after) + 1
    page = items[start : start + limit]
    more = start + limit < len(items)
    next_marker = _encode_marker(label(page[-1])) if more and page else None
    return LayerPage(tuple(page), next_marker)


def _encode_marker(label: str) -> str:
    return base64.urlsafe_b64encode(label.encode()).decode()


def _decode_marker(marker: str) -> str:
    try:
        return base64.b64decode(marker, altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameterValue(f"Invalid pagination marker: {marker[:64]!r}") from None


def _check_publication(publication: LayerPublication) -> None:
    if len(publication.description) > MAX_DESCRIPTION:
        raise InvalidParameterValue(
            f"Description must be at most {MAX_DESCRIPTION} characters long"
        )
    if publication.license_info is not None and len(publication.license_info) > MAX_LICENSE:
        raise InvalidParameterValue(f"LicenseInfo must be at most {MAX_LICENSE} characters long")
    if len(publication.compatible_runtimes) > MAX_RUNTIMES:
        raise InvalidParameterValue(f"CompatibleRuntimes may list at most {MAX_RUNTIMES} runtimes")
    unknown = [a for a in publication.compatible_architectures if a not in ARCHITECTURES]
    if unknown or len(publication.compatible_architectures) > len(ARCHITECTURES):
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{list(publication.compatible_architectures)}' "
            "at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy "
            "constraint: [Member must satisfy enum value set: [x86_64, arm64]]"
        )


def layers_root(data_dir: Path) -> Path:
    """Where layer zips and their trees live under a data directory (`<sha256>.zip`,
    `<sha256>/`), and their merged /opt trees (`opt/<hash of the list>/`)."""
    return data_dir / "layers"
