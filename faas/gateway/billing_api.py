"""The month's bill (`faas bill`):
GET /faas/v1/billing?month=YYYY-MM[&function=NAME][&group-by=tag:KEY].

Derived from the monthly rollups the ingester keeps in the same transaction as the records
(so it cannot drift from them and stays exact once old records are deleted) and from the
intervals provisioned concurrency was allocated. The free tier and the duration tiers are the
account's: a bill for one function, or for one tag's value, is its share of the account's
bill. Money and GB-seconds are decimal strings.

Grouped by a tag, invocations count under the value the function had when they were
ingested (as cost allocation tags work); provisioned concurrency's allocation, which is not
an invocation, under the value the function has now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from aiohttp import web

from faas import billing
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import decimal_string as _decimal
from faas.gateway.codec import json_response
from faas.gateway.services import Services
from faas.registry.names import split_function_name
from faas.registry.tags import FunctionTags

PATH = "/faas/v1/billing"
TAG_GROUP = "tag:"
# Group names inside a grouped bill: a tag's value, or the functions without the tag.
_VALUE = "value:"
_UNTAGGED = "untagged"


def add_routes(app: web.Application, services: Services) -> None:
    api = BillingApi(services)
    app.router.add_get(PATH, guarded(api.get, services.auth, "GetBilling"))


def _amounts(line: billing.Line) -> dict[str, object]:
    usage = line.usage
    return {
        "Requests": usage.requests,
        "BilledDurationMs": usage.billed_ms,
        "GBSeconds": _decimal(usage.gb_seconds),
        "RequestCost": _decimal(line.request_cost),
        "DurationCost": _decimal(line.duration_cost),
        "EphemeralStorageGBSeconds": _decimal(usage.ephemeral_gb_seconds),
        "EphemeralStorageCost": _decimal(line.ephemeral_cost),
        "ProvisionedConcurrencyGBSeconds": _decimal(usage.provisioned_gb_seconds),
        "ProvisionedDurationGBSeconds": _decimal(usage.provisioned_duration_gb_seconds),
        "ProvisionedConcurrencyCost": _decimal(line.provisioned_cost),
        "Total": _decimal(line.total),
    }


def _frame(
    month: str, bill: billing.Bill, prices: billing.Prices, total: Decimal
) -> dict[str, object]:
    return {
        "Month": month,
        "Currency": prices.currency,
        "FreeTier": {
            "Applied": prices.free_tier,
            "Requests": bill.free_tier.requests,
            "GBSeconds": _decimal(bill.free_tier.gb_seconds),
        },
        "Total": _decimal(total),
    }


def bill_document(
    month: str, usage: Mapping[str, billing.Usage], prices: billing.Prices, only: str | None
) -> dict[str, object]:
    """The month's bill per function (or `only` that function's line of it)."""
    bill = billing.bill(usage, prices)
    lines = [line for line in bill.lines if only is None or line.name == only]
    total = bill.total if only is None else _cents(line.total for line in lines)
    document = _frame(month, bill, prices, total)
    document["Functions"] = [{"FunctionName": line.name, **_amounts(line)} for line in lines]
    return document


def grouped_bill_document(
    month: str,
    tag_key: str,
    groups: Mapping[str | None, billing.Usage],
    prices: billing.Prices,
) -> dict[str, object]:
    """The month's bill per value of a tag (None: the functions without it)."""
    named = {(_UNTAGGED if value is None else _VALUE + value): use for value, use in groups.items()}
    bill = billing.bill(named, prices)
    document = _frame(month, bill, prices, bill.total)
    document["GroupBy"] = TAG_GROUP + tag_key
    document["Groups"] = [
        {
            "TagKey": tag_key,
            "TagValue": None if line.name == _UNTAGGED else line.name.removeprefix(_VALUE),
            **_amounts(line),
        }
        for line in bill.lines
    ]
    return document


def usage_by_tag(
    functions: Mapping[str, billing.Usage],
    tagged: Mapping[tuple[str, str], billing.Usage],
    current_value: Mapping[str, str],
) -> dict[str | None, billing.Usage]:
    """Each function's use split by the tag's value: invocations under the value they were
    ingested with, the rest (untagged invocations, provisioned allocation) under the value
    the function has now (`current_value`; None when it has no such tag)."""
    groups: dict[str | None, billing.Usage] = defaultdict(billing.Usage)
    rest = dict(functions)
    for (name, value), use in tagged.items():
        groups[value] += use
        rest[name] = rest.get(name, billing.Usage()) - use
    for name, use in rest.items():
        allocation = billing.Usage(provisioned_gb_seconds=use.provisioned_gb_seconds)
        groups[None] += use - allocation
        groups[current_value.get(name)] += allocation
    return {value: use for value, use in groups.items() if use}


def _cents(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0)).quantize(billing.CENT, rounding=ROUND_HALF_UP)


class BillingApi:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def get(self, request: web.Request) -> web.Response:
        function = self._authorized_function(request)
        month = request.query.get("month") or dt.datetime.now(tz=dt.UTC).strftime("%Y-%m")
        try:
            billing.month_range_ms(month)
        except ValueError as exc:
            raise InvalidParameterValue(f"month must be YYYY-MM, not {month[:20]!r}") from exc
        tag_key = _tag_key(request.query.get("group-by"))
        if tag_key is not None and function is not None:
            raise InvalidParameterValue("Give function or group-by, not both")
        records = self._services.records
        await records.drained()
        now_ms = int(time.time() * 1000)
        usage = await asyncio.to_thread(records.month_usage, month, now_ms)
        prices = self._services.prices
        if tag_key is not None:
            groups = await asyncio.to_thread(self._groups, month, tag_key, usage)
            return json_response(grouped_bill_document(month, tag_key, groups, prices))
        if function is not None and function not in usage:
            self._services.registry.get(function)  # a misspelt name, not an idle function
        return json_response(bill_document(month, usage, prices, function))

    def _authorized_function(self, request: web.Request) -> str | None:
        function = request.query.get("function") or None
        if function is None:
            self._services.auth.require(request, "faas:GetBilling", "*")
            return None
        function, _ = split_function_name(function)
        arn = self._services.registry.function_arn(function)
        self._services.auth.require(request, "faas:GetBilling", arn)
        return function

    def _groups(
        self, month: str, tag_key: str, usage: Mapping[str, billing.Usage]
    ) -> dict[str | None, billing.Usage]:
        tags = self._tags()
        tagged = self._services.records.month_usage_by_tag(month, tag_key)
        current: dict[str, str] = {}
        for name, use in usage.items():
            if use.provisioned_gb_seconds:
                # A deleted function's tags went with it: its allocation is untagged.
                value = tags.tags(name).get(tag_key)
                if value is not None:
                    current[name] = value
        return usage_by_tag(usage, tagged, current)

    def _tags(self) -> FunctionTags:
        if self._services.tags is None:
            raise InvalidParameterValue(
                "group-by needs function tags, which this server does not keep"
            )
        return self._services.tags


def _tag_key(group_by: str | None) -> str | None:
    if not group_by:
        return None
    if not group_by.startswith(TAG_GROUP) or not group_by[len(TAG_GROUP) :]:
        raise InvalidParameterValue(
            f"group-by must be tag:KEY (e.g. tag:team), not {group_by[:80]!r}"
        )
    return group_by[len(TAG_GROUP) :]
