"""Triggers (faas endpoints under /faas/v1/triggers): bucket triggers (file events) and
schedule triggers (EventBridge rate/cron), listed, added and removed alike."""

from __future__ import annotations

from aiohttp import web

from faas.domain import BucketTrigger, ScheduleTrigger
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response, string_field
from faas.gateway.services import ScheduleManager, Services, TriggerManager

TRIGGERS_PATH = "/faas/v1/triggers"
TRIGGER_PATH = "/faas/v1/triggers/{id}"


def add_routes(app: web.Application, services: Services) -> None:
    if services.triggers is None and services.schedules is None:
        return
    api = TriggersApi(services, services.triggers, services.schedules)
    app.router.add_get(TRIGGERS_PATH, guarded(api.list, services.auth, "ListTriggers"))
    app.router.add_post(TRIGGERS_PATH, guarded(api.add, services.auth, "CreateTrigger"))
    app.router.add_delete(TRIGGER_PATH, guarded(api.remove, services.auth, "DeleteTrigger"))


def bucket_trigger_document(trigger: BucketTrigger) -> dict[str, object]:
    return {
        "Id": trigger.id,
        "Type": "bucket",
        "FunctionName": trigger.function_name,
        "Bucket": trigger.bucket,
        "Prefix": trigger.prefix,
        "Suffix": trigger.suffix,
        "Events": [f"s3:{kind}:*" for kind in trigger.events],
    }


def schedule_document(schedule: ScheduleTrigger) -> dict[str, object]:
    return {
        "Id": schedule.id,
        "Type": "schedule",
        "FunctionName": schedule.function_name,
        "Schedule": schedule.expression,
    }


class TriggersApi:
    def __init__(
        self,
        services: Services,
        buckets: TriggerManager | None,
        schedules: ScheduleManager | None,
    ) -> None:
        self._auth = services.auth
        self._registry = services.registry
        self._buckets = buckets
        self._schedules = schedules

    async def list(self, request: web.Request) -> web.Response:
        self._auth.require(request, "faas:ListTriggers", "*")
        rows: list[dict[str, object]] = []
        if self._buckets is not None:
            rows += self._buckets.report()
        if self._schedules is not None:
            rows += self._schedules.report()
        return json_response({"Triggers": rows})

    async def add(self, request: web.Request) -> web.Response:
        """`{"FunctionName", "Bucket", "Prefix", "Suffix", "Events"}` or
        `{"FunctionName", "Schedule"}`."""
        document = await json_body(request)
        function = string_field(document, "FunctionName", required=True)
        has_bucket, has_schedule = "Bucket" in document, "Schedule" in document
        if has_bucket == has_schedule:
            raise InvalidParameterValue("A trigger takes either Bucket or Schedule (not both)")
        self._auth.require_on_function(request, "faas:CreateTrigger", function)
        if has_schedule:
            if self._schedules is None:
                raise InvalidParameterValue("This server runs no schedules")
            expression = string_field(document, "Schedule", required=True)
            schedule = await self._schedules.add_schedule(function, expression)
            return json_response(schedule_document(schedule), status=201)
        if self._buckets is None:
            raise InvalidParameterValue("This server watches no buckets")
        events = document.get("Events", ["s3:ObjectCreated:*"])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise InvalidParameterValue("Events must be a list of strings")
        bucket = string_field(document, "Bucket", required=True)
        # A trigger tells its function what lands in the bucket: the bucket's to allow too.
        self._auth.require(request, "faas:CreateTrigger", f"arn:aws:s3:::{bucket}")
        trigger = await self._buckets.add_trigger(
            function,
            bucket,
            prefix=string_field(document, "Prefix"),
            suffix=string_field(document, "Suffix"),
            events=events,
        )
        return json_response(bucket_trigger_document(trigger), status=201)

    async def remove(self, request: web.Request) -> web.Response:
        trigger_id = request.match_info["id"]
        if self._schedules is not None and self._schedules.owns(trigger_id):
            for row in self._schedules.report():
                if row["Id"] == trigger_id:
                    self._require_function(request, str(row["FunctionName"]))
            await self._schedules.remove_schedule(trigger_id)
            return web.Response(status=204)
        if self._buckets is None:
            raise ResourceNotFound(f"Trigger not found: {trigger_id}")
        rows = [row for row in self._buckets.report() if row["Id"] == trigger_id]
        if not rows:
            raise ResourceNotFound(f"Trigger not found: {trigger_id}")
        self._require_function(request, str(rows[0]["FunctionName"]))
        await self._buckets.remove_trigger(trigger_id)
        return web.Response(status=204)

    def _require_function(self, request: web.Request, function_name: str) -> None:
        self._auth.require_on_function(request, "faas:DeleteTrigger", function_name)
