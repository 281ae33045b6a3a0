"""POST /faas/v1/backup: a consistent copy of this node, streamed as a tar (`faas backup`).

Authorized by faas:Backup on `*`, which only keys allowed everything (the admin key) have
unless a policy names it: the archive holds the master key, and so every secret.
"""

from __future__ import annotations

import logging

from aiohttp import web

from faas.backup.snapshot import NodeBackup
from faas.errors import FaasError
from faas.gateway.auth import guarded
from faas.gateway.services import Services

PATH = "/faas/v1/backup"

log = logging.getLogger(__name__)


def add_routes(app: web.Application, services: Services) -> None:
    if services.backups is None:
        return
    api = BackupApi(services, services.backups)
    app.router.add_post(PATH, guarded(api.backup, services.auth, "Backup"))


class BackupApi:
    def __init__(self, services: Services, backups: NodeBackup) -> None:
        self._auth = services.auth
        self._backups = backups

    async def backup(self, request: web.Request) -> web.StreamResponse:
        self._auth.require(request, "faas:Backup", "*")
        async with self._backups.snapshot() as snapshot:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "application/x-tar",
                    "Content-Disposition": 'attachment; filename="faas-backup.tar"',
                    # Proxies must pass it on as it comes (nginx would buffer it otherwise).
                    "X-Accel-Buffering": "no",
                }
            )
            # Known before the first byte: a reader tells a cut-short copy from a whole one.
            response.content_length = snapshot.length
            await response.prepare(request)
            try:
                await self._backups.write(snapshot, response.write)
                await response.write_eof()
            except (ConnectionError, OSError, FaasError) as exc:
                # Too late for an error document: the answer stops short of its
                # Content-Length, which the CLI reports, and the connection is closed.
                log.warning("backup not sent whole: %s", exc)
                if request.transport is not None:
                    request.transport.close()
        return response
