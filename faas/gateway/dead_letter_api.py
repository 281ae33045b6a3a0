"""The dead-letter store of async invocations (a faas endpoint: Lambda keeps failed events
in a queue of the user's; faas keeps them itself): list, re-drive, delete."""

from __future__ import annotations

from aiohttp import web

from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import dead_letter_document, json_body, json_response
from faas.gateway.services import Services
from faas.queue.dead_letters import DeadLetters
from faas.registry.names import split_function_name

PATH = "/faas/v1/functions/{name}/dead-letters"
REDRIVE_PATH = "/faas/v1/functions/{name}/dead-letters/redrive"
MAX_DEAD_LETTERS = 1000
MAX_REQUEST_IDS = 1000


def add_routes(app: web.Application, services: Services) -> None:
    if services.dead_letters is None:
        return
    api = DeadLetterApi(services, services.dead_letters)
    app.router.add_get(PATH, guarded(api.list, services.auth, "ListDeadLetters"))
    app.router.add_post(REDRIVE_PATH, guarded(api.redrive, services.auth, "RedriveDeadLetters"))
    app.router.add_delete(PATH, guarded(api.delete, services.auth, "DeleteDeadLetters"))


class DeadLetterApi:
    def __init__(self, services: Services, dead_letters: DeadLetters) -> None:
        self._services = services
        self._auth = services.auth
        self._dead_letters = dead_letters

    def _authorize(self, request: web.Request, action: str) -> str:
        # Dead letters outlive their function (like records): the name's form is checked
        # here, its existence only where it matters.
        name, qualifier = split_function_name(request.match_info["name"])
        if qualifier is not None:
            raise InvalidParameterValue(
                f"Dead letters belong to the function itself; drop the qualifier ':{qualifier}'"
            )
        self._auth.require(request, action, self._services.registry.function_arn(name))
        return name

    async def list(self, request: web.Request) -> web.Response:
        name = self._authorize(request, "faas:ListDeadLetters")
        limit = _limit(request.query.get("limit"))
        letters = await self._dead_letters.list_for(name, limit)
        if not letters:
            # None kept and no such function: a misspelt name, not a healthy function.
            self._services.registry.get(name)
        return json_response({"DeadLetters": [dead_letter_document(x) for x in letters]})

    async def redrive(self, request: web.Request) -> web.Response:
        name = self._authorize(request, "faas:RedriveDeadLetters")
        request_ids = _request_ids(await json_body(request))
        # Re-driven events of a function that is gone would only fail again.
        self._services.registry.get(name)
        moved = await self._dead_letters.redrive(name, request_ids)
        return json_response(
            {
                "Redriven": [
                    {"RequestId": m.request_id, "NewRequestId": m.new_request_id} for m in moved
                ]
            }
        )

    async def delete(self, request: web.Request) -> web.Response:
        name = self._authorize(request, "faas:DeleteDeadLetters")
        request_ids = _request_ids(await json_body(request))
        deleted = await self._dead_letters.delete(name, request_ids)
        return json_response({"Deleted": deleted})


def _request_ids(document: dict[str, object]) -> list[str] | None:
    """`RequestIds` of the body: a list of strings; absent or null means every one."""
    ids = document.get("RequestIds")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise InvalidParameterValue("RequestIds must be a list of request ids (strings)")
    if not ids or len(ids) > MAX_REQUEST_IDS:
        raise InvalidParameterValue(
            f"RequestIds must name 1 to {MAX_REQUEST_IDS} request ids (leave it out for all)"
        )
    return [str(i) for i in ids]


def _limit(text: str | None) -> int:
    if text is None:
        return MAX_DEAD_LETTERS
    try:
        limit = int(text)
    except ValueError as exc:
        raise InvalidParameterValue("limit must be an integer") from exc
    if not 1 <= limit <= MAX_DEAD_LETTERS:
        raise InvalidParameterValue(f"limit must be between 1 and {MAX_DEAD_LETTERS}")
    return limit
