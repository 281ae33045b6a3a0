"""GetAccountSettings: the account's limits (from the configuration, and Lambda's quotas
faas enforces) and what its functions use of them."""

from __future__ import annotations

from aiohttp import web

from faas.gateway.auth import guarded
from faas.gateway.codec import json_response
from faas.gateway.services import Services

PATH = "/2016-08-19/account-settings"
# Lambda's default quota for the code of all functions; faas keeps no such limit of its own,
# so it reports Lambda's, as a tool reading it expects a number.
TOTAL_CODE_SIZE_LIMIT = 75 * 1024 * 1024 * 1024


def add_routes(app: web.Application, services: Services) -> None:
    async def get(request: web.Request) -> web.Response:
        services.auth.require(request, "lambda:GetAccountSettings", "*")
        usage = services.registry.account_usage()
        return json_response(
            {
                "AccountLimit": {
                    "TotalCodeSize": TOTAL_CODE_SIZE_LIMIT,
                    "CodeSizeUnzipped": services.limits.max_unzipped_bytes,
                    "CodeSizeZipped": services.limits.max_zip_bytes,
                    "ConcurrentExecutions": usage.concurrent_executions,
                    "UnreservedConcurrentExecutions": usage.unreserved_concurrent_executions,
                },
                "AccountUsage": {
                    "TotalCodeSize": usage.total_code_size,
                    "FunctionCount": usage.function_count,
                },
            }
        )

    app.router.add_get(PATH, guarded(get, services.auth, "GetAccountSettings"))
