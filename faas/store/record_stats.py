"""A function's records since a moment, summed in the database (faas stats): counts, errors
by type, cold starts and billed time exactly; durations for percentiles from the newest
records (at most `sample_limit`)."""

from __future__ import annotations

from sqlalchemy import Engine, and_, func, select

from faas.domain import InvocationStatus, RecordStats
from faas.store.rollups import usage_sums
from faas.store.tables import invocations

DEFAULT_SAMPLE_LIMIT = 100_000


def record_stats(
    engine: Engine, function_name: str, since_ms: int, sample_limit: int = DEFAULT_SAMPLE_LIMIT
) -> RecordStats:
    columns = invocations.c
    window = and_(columns.function_name == function_name, columns.started_at_ms >= since_ms)
    totals = select(func.count(columns.init_duration_ms), *usage_sums()).where(window)
    errors = (
        select(columns.error_type, func.count())
        .where(window, columns.status == str(InvocationStatus.UNHANDLED))
        .group_by(columns.error_type)
    )
    newest = (
        select(columns.duration_ms).where(window).order_by(columns.id.desc()).limit(sample_limit)
    )
    with engine.connect() as connection:
        cold, count, *sums = connection.execute(totals).one()
        billed, billed_mb, provisioned_mb, ephemeral_mb = (int(value or 0) for value in sums)
        by_type = {str(kind or "Unhandled"): int(n) for kind, n in connection.execute(errors)}
        durations = sorted(float(d) for (d,) in connection.execute(newest))
    return RecordStats(
        function_name=function_name,
        since_ms=since_ms,
        invocations=int(count),
        errors=by_type,
        cold_starts=int(cold),
        billed_ms=billed,
        billed_mb_ms=billed_mb,
        provisioned_mb_ms=provisioned_mb,
        ephemeral_mb_ms=ephemeral_mb,
        durations_ms=tuple(durations),
        sampled=int(count) > len(durations),
    )
