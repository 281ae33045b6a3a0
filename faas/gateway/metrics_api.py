"""GET /metrics: Prometheus's text format (faas/metrics.py).

Scraped with `Authorization: Bearer <auth.metrics_token>` (what Prometheus sends), or by a
request signed by a key allowed faas:GetMetrics; anything else is refused like any API call."""

from __future__ import annotations

import hmac

from aiohttp import web

from faas.gateway.auth import guarded
from faas.gateway.services import Services
from faas.metrics import CONTENT_TYPE_LATEST

PATH = "/metrics"


def add_routes(app: web.Application, services: Services) -> None:
    if services.metrics is None:
        return
    api = MetricsApi(services)
    signed = guarded(api.signed, services.auth, "GetMetrics")

    async def scrape(request: web.Request) -> web.StreamResponse:
        if api.bearer_allowed(request):
            return await api.render()
        return await signed(request)

    app.router.add_get(PATH, scrape)


class MetricsApi:
    def __init__(self, services: Services) -> None:
        assert services.metrics is not None
        self._metrics = services.metrics
        self._auth = services.auth
        self._token = services.metrics_token.encode()

    def bearer_allowed(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return (
            bool(self._token)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), self._token)
        )

    async def signed(self, request: web.Request) -> web.Response:
        self._auth.require(request, "faas:GetMetrics", "*")
        return await self.render()

    async def render(self) -> web.Response:
        body = await self._metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
