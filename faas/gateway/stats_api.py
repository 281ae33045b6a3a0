"""A function's invocation statistics from its records (`faas stats`): counts, errors by
type, cold starts, duration percentiles and what they cost at list prices."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from decimal import Decimal

from aiohttp import web

from faas import billing
from faas.domain import RecordStats
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import decimal_string, json_response
from faas.gateway.services import Services
from faas.registry.names import split_function_name

PATH = "/faas/v1/functions/{name}/stats"
DEFAULT_SINCE_S = 3600
MAX_SINCE_S = 366 * 86400
PERCENTILES = (50, 90, 99)


def add_routes(app: web.Application, services: Services) -> None:
    api = StatsApi(services)
    app.router.add_get(PATH, guarded(api.get, services.auth, "GetFunctionStats"))


def stats_document(stats: RecordStats, prices: billing.Prices) -> dict[str, object]:
    """Money and GB-seconds as decimal strings. Cost: list prices, before the free tier (a
    monthly allowance of the whole account, which a window of one function does not have)."""
    usage = billing.usage_from_sums(
        stats.invocations,
        stats.billed_ms,
        stats.billed_mb_ms,
        stats.provisioned_mb_ms,
        stats.ephemeral_mb_ms,
    )
    cost = billing.bill({stats.function_name: usage}, _without_free_tier(prices))
    durations = stats.durations_ms
    return {
        "FunctionName": stats.function_name,
        "Since": stats.since_ms,
        "Invocations": stats.invocations,
        "Errors": sum(stats.errors.values()),
        "ErrorTypes": dict(stats.errors),
        "ColdStarts": stats.cold_starts,
        "DurationMs": {
            **{f"p{q}": _percentile(durations, q) for q in PERCENTILES},
            "max": durations[-1] if durations else None,
        },
        "DurationSampled": stats.sampled,
        "BilledDurationMs": stats.billed_ms,
        "GBSeconds": decimal_string(usage.gb_seconds + usage.provisioned_duration_gb_seconds),
        "Cost": str(cost.lines[0].total if cost.lines else Decimal(0)),
        "Currency": prices.currency,
    }


class StatsApi:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def get(self, request: web.Request) -> web.Response:
        name, qualifier = split_function_name(request.match_info["name"])
        if qualifier is not None:
            raise InvalidParameterValue(
                f"Statistics cover the function itself; drop the qualifier ':{qualifier}'"
            )
        arn = self._services.registry.function_arn(name)
        self._services.auth.require(request, "faas:ListInvocations", arn)
        since_s = _since(request.query.get("since"))
        since_ms = int((time.time() - since_s) * 1000)
        records = self._services.records
        await records.drained()
        stats = await asyncio.to_thread(records.stats, name, since_ms)
        if stats.invocations == 0:
            self._services.registry.get(name)  # a misspelt name, not an idle function
        return json_response(stats_document(stats, self._services.prices))


def _since(text: str | None) -> int:
    if text is None:
        return DEFAULT_SINCE_S
    if not text.isdigit() or not 1 <= int(text) <= MAX_SINCE_S:
        raise InvalidParameterValue(f"since is a number of seconds, 1 to {MAX_SINCE_S}")
    return int(text)


def _percentile(sorted_values: tuple[float, ...], q: int) -> float | None:
    """Nearest rank: the smallest value with at least q % of the values at or below it."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q / 100 * len(sorted_values)) - 1)]


def _without_free_tier(prices: billing.Prices) -> billing.Prices:
    return dataclasses.replace(prices, free_tier=False)
