"""The aiohttp application factory."""

from __future__ import annotations

from aiohttp import web

from faas.gateway import (
    account_api,
    audit_api,
    backup_api,
    billing_api,
    buckets_api,
    concurrency_api,
    dead_letter_api,
    event_config_api,
    function_logs_api,
    function_url_route,
    function_urls_api,
    functions_api,
    invoke_api,
    keys_api,
    layers_api,
    logs_api,
    metrics_api,
    openapi,
    platform_api,
    policy_api,
    provisioned_api,
    roles_api,
    stats_api,
    tags_api,
    triggers_api,
    unknown_api,
    versions_api,
)
from faas.gateway.services import Services

SERVICES = web.AppKey("services", Services)


def make_app(services: Services) -> web.Application:
    # client_max_size: a 50 MB zip is ~67 MB once base64-encoded inside CreateFunction's JSON.
    app = web.Application(client_max_size=services.max_request_bytes)
    app[SERVICES] = services
    invoke_api.add_routes(app, services)
    functions_api.add_routes(app, services)
    versions_api.add_routes(app, services)
    layers_api.add_routes(app, services)
    platform_api.add_routes(app, services)
    backup_api.add_routes(app, services)
    concurrency_api.add_routes(app, services)
    provisioned_api.add_routes(app, services)
    event_config_api.add_routes(app, services)
    dead_letter_api.add_routes(app, services)
    buckets_api.add_routes(app, services)
    triggers_api.add_routes(app, services)
    stats_api.add_routes(app, services)
    billing_api.add_routes(app, services)
    tags_api.add_routes(app, services)
    account_api.add_routes(app, services)
    policy_api.add_routes(app, services)
    logs_api.add_routes(app, services)
    function_logs_api.add_routes(app, services)
    metrics_api.add_routes(app, services)
    function_urls_api.add_routes(app, services)
    function_url_route.add_routes(app, services)
    keys_api.add_routes(app, services.keys, services.auth, services.account_id)
    roles_api.add_routes(app, services.roles, services.auth)
    audit_api.add_routes(app, services.audit, services.auth)
    openapi.add_routes(app, services.auth)
    # Last: the catch-all answers only what no route above serves.
    unknown_api.add_routes(app, services.auth)
    return app
