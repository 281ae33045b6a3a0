"""Buckets (names bound to host directories) and the triggers that bind their files to
functions: validation, persistence, and the cached view the watcher and the mounts read.

[buckets] in config.toml are read at start and changed only there; `faas bucket add` makes
the others, kept in the store. A bucket is read-only to functions unless it is writable.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import faas
from faas.domain import Bucket, BucketTrigger, FileEventKind, FunctionConfig
from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from faas.store.buckets import BucketsRepo, TriggersRepo

log = logging.getLogger(__name__)

# S3's bucket naming rule: 3-63 lowercase letters, digits, dots and hyphens, starting and
# ending with a letter or digit.
BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
BUCKET_ARN_PREFIX = "arn:aws:s3:::"
MAX_AFFIX_CHARS = 1024
# The event type names a trigger takes (S3's, with or without "s3:" and ":*"), and the short
# forms of the CLI.
_EVENT_NAMES = {
    "created": FileEventKind.CREATED,
    "removed": FileEventKind.REMOVED,
    "objectcreated": FileEventKind.CREATED,
    "objectremoved": FileEventKind.REMOVED,
}


def bucket_arn(name: str) -> str:
    return BUCKET_ARN_PREFIX + name


def parse_events(names: Iterable[str]) -> tuple[FileEventKind, ...]:
    """`created`, `removed`, `s3:ObjectCreated:*`, `ObjectRemoved:Delete`, ... -> kinds."""
    kinds: list[FileEventKind] = []
    for raw in names:
        name = raw.strip()
        family = name.removeprefix("s3:").split(":", 1)[0].lower()
        kind = _EVENT_NAMES.get(family)
        if kind is None:
            raise InvalidParameterValue(
                f"Unknown event type {name[:64]!r}: use created, removed, "
                "s3:ObjectCreated:* or s3:ObjectRemoved:*"
            )
        if kind not in kinds:
            kinds.append(kind)
    if not kinds:
        raise InvalidParameterValue("A trigger needs at least one event type")
    return tuple(kinds)


class BucketRegistry:
    """Buckets and triggers by name and id; mutations are serialised and persisted first."""

    def __init__(
        self,
        buckets: BucketsRepo,
        triggers: TriggersRepo,
        *,
        configured: Mapping[str, Bucket],
        data_dir: Path,
        bucket_gid: int,
        function_lookup: Callable[[str], FunctionConfig],
        mounted_by: Callable[[str], list[str]],
    ) -> None:
        self._buckets_repo = buckets
        self._triggers_repo = triggers
        self._configured = dict(configured)
        self._data_dir = data_dir.resolve()
        self._bucket_gid = bucket_gid
        self._function_lookup = function_lookup
        self._mounted_by = mounted_by
        self._buckets: dict[str, Bucket] = {}
        self._triggers: dict[str, BucketTrigger] = {}
        self._mutation = threading.Lock()

    # -- start and views --------------------------------------------------------------------

    def load(self) -> None:
        """Read the stored buckets and triggers and check the configured buckets (blocking).
        A configured bucket whose directory is missing is logged and kept: its triggers show
        the error until the directory exists."""
        found: dict[str, Bucket] = {}
        for bucket in self._configured.values():
            _check_name(bucket.name)
            path = _absolute(bucket.path)
            self._check_not_platform(path)
            self._check_apart(bucket.name, path, found)
            found[bucket.name] = self._prepared(
                Bucket(bucket.name, str(path), bucket.writable, "config")
            )
        for bucket in self._buckets_repo.list():
            if bucket.name in found:
                log.warning(
                    "bucket %s is in config.toml and was also added with `faas bucket add`: "
                    "config.toml's (%s) is used",
                    bucket.name,
                    found[bucket.name].path,
                )
                continue
            if os.path.realpath(bucket.path) != bucket.path:
                # Made a link (or moved) since it was added: never followed.
                log.error(
                    "bucket %s: %s is no longer the directory it was (a link now?); "
                    "not used until it is again",
                    bucket.name,
                    bucket.path,
                )
                continue
            found[bucket.name] = self._prepared(bucket)
        with self._mutation:
            self._buckets = found
            self._triggers = {t.id: t for t in self._triggers_repo.list()}

    def buckets(self) -> list[Bucket]:
        return sorted(self._buckets.values(), key=lambda bucket: bucket.name)

    def bucket(self, name: str) -> Bucket:
        found = self._buckets.get(name)
        if found is None:
            raise ResourceNotFound(f"Bucket not found: {name}")
        return found

    def bucket_by_arn(self, arn: str) -> Bucket:
        if not arn.startswith(BUCKET_ARN_PREFIX):
            raise InvalidParameterValue(
                f"{arn[:256]!r} is not a bucket ARN ({BUCKET_ARN_PREFIX}NAME)"
            )
        return self.bucket(arn.removeprefix(BUCKET_ARN_PREFIX))

    def triggers(self) -> list[BucketTrigger]:
        return sorted(self._triggers.values(), key=lambda t: (t.created_ms, t.id))

    def trigger(self, trigger_id: str) -> BucketTrigger:
        found = self._triggers.get(trigger_id)
        if found is None:
            raise ResourceNotFound(f"Trigger not found: {trigger_id}")
        return found

    # -- mutations (blocking: call from a thread) -------------------------------------------

    def add_bucket(self, name: str, path: str, writable: bool) -> Bucket:
        _check_name(name)
        directory = _absolute(path)
        if not directory.is_dir():
            raise InvalidParameterValue(f"{path[:512]!r} is not a directory on the server")
        self._check_not_platform(directory)
        with self._mutation:
            if name in self._buckets:
                raise ResourceConflict(f"Bucket already exists: {name}")
            self._check_apart(name, directory, self._buckets)
            bucket = self._prepared(Bucket(name, str(directory), writable, "api"))
            self._buckets_repo.add(bucket, _now_ms())
            self._buckets = {**self._buckets, name: bucket}
        return bucket

    def remove_bucket(self, name: str) -> None:
        with self._mutation:
            bucket = self.bucket(name)
            if bucket.origin == "config":
                raise ResourceConflict(
                    f"Bucket {name} is defined in config.toml: remove it there and restart"
                )
            triggers = [t.id for t in self._triggers.values() if t.bucket == name]
            if triggers:
                raise ResourceConflict(
                    f"Bucket {name} has triggers ({', '.join(triggers)}): remove them first"
                )
            users = self._mounted_by(bucket_arn(name))
            if users:
                raise ResourceConflict(
                    f"Bucket {name} is mounted by {', '.join(sorted(users))} "
                    "(FileSystemConfigs): remove it there first"
                )
            self._buckets_repo.remove(name)
            buckets = dict(self._buckets)
            del buckets[name]
            self._buckets = buckets

    def add_trigger(
        self,
        function_name: str,
        bucket: str,
        *,
        prefix: str = "",
        suffix: str = "",
        events: Sequence[str] = ("created",),
    ) -> BucketTrigger:
        cfg = self._function_lookup(function_name)  # ResourceNotFound names the function
        self.bucket(bucket)
        for what, value in (("prefix", prefix), ("suffix", suffix)):
            if len(value) > MAX_AFFIX_CHARS or "\0" in value:
                raise InvalidParameterValue(
                    f"The {what} must be at most {MAX_AFFIX_CHARS} characters"
                )
        if prefix.startswith("/"):
            raise InvalidParameterValue(
                "A prefix is relative to the bucket: it cannot start with /"
            )
        trigger = BucketTrigger(
            id=uuid.uuid4().hex[:12],
            function_name=cfg.name,
            bucket=bucket,
            prefix=prefix,
            suffix=suffix,
            events=parse_events(events),
            created_ms=_now_ms(),
        )
        with self._mutation:
            self._triggers_repo.add(trigger)
            self._triggers = {**self._triggers, trigger.id: trigger}
        return trigger

    def remove_trigger(self, trigger_id: str) -> BucketTrigger:
        with self._mutation:
            trigger = self.trigger(trigger_id)
            self._triggers_repo.remove([trigger_id])
            triggers = dict(self._triggers)
            del triggers[trigger_id]
            self._triggers = triggers
        return trigger

    def remove_function_triggers(self, function_name: str) -> None:
        """The function was deleted: its triggers go with it (a delete listener)."""
        for trigger in [t for t in self._triggers.values() if t.function_name == function_name]:
            self.remove_trigger(trigger.id)

    # -- helpers ----------------------------------------------------------------------------

    def _check_not_platform(self, directory: Path) -> None:
        """A bucket must not expose the platform's own data (keys, database, code), the
        system's directories or faas's own code to the functions that mount it (a writable
        one is also given to the bucket group)."""
        if directory == Path("/") or self._data_dir.is_relative_to(directory):
            raise InvalidParameterValue(
                f"{directory} contains the server's data directory: a bucket cannot expose it"
            )
        if directory.is_relative_to(self._data_dir):
            raise InvalidParameterValue(
                f"{directory} is inside the server's data directory: a bucket cannot be there"
            )
        for system in _protected_directories():
            if directory.is_relative_to(system) or system.is_relative_to(directory):
                raise InvalidParameterValue(
                    f"{directory} overlaps {system}, which belongs to the system or to faas: "
                    "a bucket cannot be there"
                )

    def _check_apart(self, name: str, directory: Path, others: Mapping[str, Bucket]) -> None:
        """Buckets never nest: a function writing one bucket must not be able to swap the
        directory of another for a link."""
        for other in others.values():
            if other.name == name:
                continue
            path = Path(other.path)
            if directory.is_relative_to(path) or path.is_relative_to(directory):
                raise InvalidParameterValue(
                    f"{directory} overlaps bucket {other.name} ({path}): buckets cannot nest"
                )

    def _prepared(self, bucket: Bucket) -> Bucket:
        """A writable bucket's directory is given to the bucket group (setgid, so what is
        made in it stays the group's): workers that mount it writable run with that group.
        Only root can do so; without root the workers run as the server's own user."""
        if not bucket.writable or os.geteuid() != 0:
            return bucket
        try:
            # The directory itself, never what a link put in its place points at.
            fd = os.open(bucket.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                info = os.fstat(fd)
                os.fchown(fd, -1, self._bucket_gid)
                os.fchmod(fd, stat.S_IMODE(info.st_mode) | stat.S_ISGID | 0o070)
            finally:
                os.close(fd)
        except OSError as exc:
            log.error(
                "bucket %s: cannot give %s to group %d: %s",
                bucket.name,
                bucket.path,
                self._bucket_gid,
                exc,
            )
            return bucket
        return Bucket(bucket.name, bucket.path, True, bucket.origin, self._bucket_gid)


def _protected_directories() -> list[Path]:
    """The system's directories, the interpreter's, and faas's own code (its runtimes run
    as root in the zygote)."""
    system = ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/dev"]
    system += ["/proc", "/sys", "/run"]
    found = [Path(p) for p in system]
    found += [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    package = Path(faas.__file__).resolve().parent
    found += [package, package.parent / "runtimes"]
    return found


def _check_name(name: str) -> None:
    if not BUCKET_NAME_RE.fullmatch(name) or ".." in name:
        raise InvalidParameterValue(
            f"Invalid bucket name {name[:80]!r}: 3-63 lowercase letters, digits, dots and "
            "hyphens, starting and ending with a letter or digit (S3's rule)"
        )


def _absolute(path: str) -> Path:
    if not path or "\0" in path or not os.path.isabs(path):
        raise InvalidParameterValue(
            f"A bucket's directory must be an absolute path, not {path[:512]!r}"
        )
    return Path(os.path.realpath(path))


def _now_ms() -> int:
    return int(time.time() * 1000)
