"""The month's bill (`faas bill`): GET /faas/v1/billing?month=YYYY-MM[&function=NAME].

Derived from the monthly rollups the ingester keeps in the same transaction as the records,
so it cannot drift from them and stays exact once old records are deleted. The free tier and
the duration tiers are the account's: a bill for one function is its line of the account's
bill. Money and GB-seconds are decimal strings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

from aiohttp import web

from faas import billing
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import decimal_string as _decimal
from faas.gateway.codec import json_response
from faas.gateway.services import Services
from faas.registry.names import split_function_name

PATH = "/faas/v1/billing"


def add_routes(app: web.Application, services: Services) -> None:
    api = BillingApi(services)
    app.router.add_get(PATH, guarded(api.get, services.auth, "GetBilling"))


def bill_document(
    month: str, usage: dict[str, tuple[int, int, int]], prices: billing.Prices, only: str | None
) -> dict[str, object]:
    usages = {
        name: billing.Usage(
            requests=requests,
            billed_ms=billed,
            gb_seconds=Decimal(billed_mb) / billing.MB_PER_GB / billing.MS_PER_S,
        )
        for name, (requests, billed, billed_mb) in usage.items()
    }
    bill = billing.bill(usages, prices)
    lines = [line for line in bill.lines if only is None or line.name == only]
    total = (
        bill.total
        if only is None
        else sum((line.total for line in lines), Decimal(0)).quantize(billing.CENT)
    )
    return {
        "Month": month,
        "Currency": prices.currency,
        "Functions": [
            {
                "FunctionName": line.name,
                "Requests": line.usage.requests,
                "BilledDurationMs": line.usage.billed_ms,
                "GBSeconds": _decimal(line.usage.gb_seconds),
                "RequestCost": _decimal(line.request_cost),
                "DurationCost": _decimal(line.duration_cost),
                "Total": _decimal(line.total),
            }
            for line in lines
        ],
        "FreeTier": {
            "Applied": prices.free_tier,
            "Requests": bill.free_tier.requests,
            "GBSeconds": _decimal(bill.free_tier.gb_seconds),
        },
        "Total": _decimal(total),
    }


class BillingApi:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def get(self, request: web.Request) -> web.Response:
        function = request.query.get("function") or None
        if function is not None:
            function, _ = split_function_name(function)
            arn = self._services.registry.function_arn(function)
            self._services.auth.require(request, "faas:GetBilling", arn)
        else:
            self._services.auth.require(request, "faas:GetBilling", "*")
        if request.query.get("group-by"):
            raise InvalidParameterValue(
                "group-by needs function tags, which this server does not keep yet"
            )
        month = request.query.get("month") or dt.datetime.now(tz=dt.UTC).strftime("%Y-%m")
        try:
            billing.month_range_ms(month)
        except ValueError as exc:
            raise InvalidParameterValue(f"month must be YYYY-MM, not {month[:20]!r}") from exc
        records = self._services.records
        await records.drained()
        usage = await asyncio.to_thread(records.month_usage, month)
        if function is not None and function not in usage:
            self._services.registry.get(function)  # a misspelt name, not an idle function
        return json_response(bill_document(month, usage, self._services.prices, function))
