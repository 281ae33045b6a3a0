"""Buckets made through the API and the triggers bound to buckets."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, RowMapping, delete, insert, select
from sqlalchemy.exc import IntegrityError

from faas.domain import Bucket, BucketTrigger, FileEventKind
from faas.errors import ResourceConflict
from faas.store.tables import bucket_ledger, bucket_triggers, buckets


class BucketsRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[Bucket]:
        query = select(buckets).order_by(buckets.c.name)
        with self._engine.connect() as connection:
            return [
                Bucket(row["name"], row["path"], bool(row["writable"]))
                for row in connection.execute(query).mappings()
            ]

    def add(self, bucket: Bucket, created_ms: int) -> None:
        """ResourceConflict when the name is taken."""
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(buckets).values(
                        name=bucket.name,
                        path=bucket.path,
                        writable=bucket.writable,
                        created_ms=created_ms,
                    )
                )
        except IntegrityError as exc:
            raise ResourceConflict(f"Bucket already exists: {bucket.name}") from exc

    def remove(self, name: str) -> bool:
        with self._engine.begin() as connection:
            return bool(connection.execute(delete(buckets).where(buckets.c.name == name)).rowcount)


class TriggersRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[BucketTrigger]:
        query = select(bucket_triggers).order_by(bucket_triggers.c.created_ms, bucket_triggers.c.id)
        with self._engine.connect() as connection:
            return [_trigger(row) for row in connection.execute(query).mappings()]

    def add(self, trigger: BucketTrigger) -> None:
        with self._engine.begin() as connection:
            connection.execute(insert(bucket_triggers).values(_trigger_row(trigger)))

    def remove(self, trigger_ids: Sequence[str]) -> int:
        """Remove the triggers and their ledgers, in one transaction; how many went."""
        if not trigger_ids:
            return 0
        ids = list(trigger_ids)
        with self._engine.begin() as connection:
            connection.execute(delete(bucket_ledger).where(bucket_ledger.c.trigger_id.in_(ids)))
            gone = connection.execute(delete(bucket_triggers).where(bucket_triggers.c.id.in_(ids)))
            return int(gone.rowcount)


def _trigger_row(trigger: BucketTrigger) -> dict[str, object]:
    return {
        "id": trigger.id,
        "function_name": trigger.function_name,
        "bucket": trigger.bucket,
        "prefix": trigger.prefix,
        "suffix": trigger.suffix,
        "events": ",".join(str(kind) for kind in trigger.events),
        "created_ms": trigger.created_ms,
    }


def _trigger(row: RowMapping) -> BucketTrigger:
    return BucketTrigger(
        id=row["id"],
        function_name=row["function_name"],
        bucket=row["bucket"],
        prefix=row["prefix"],
        suffix=row["suffix"],
        events=tuple(FileEventKind(kind) for kind in row["events"].split(",") if kind),
        created_ms=row["created_ms"],
    )
