"""Where workers' temporary API credentials come from (faas.auth.execution implements it):
the pool asks once per new worker and knows nothing of roles or tokens."""

from __future__ import annotations

from typing import Protocol

from faas.domain import WorkerCredentials, WorkerSpec


class CredentialIssuer(Protocol):
    def credentials_for(self, spec: WorkerSpec) -> WorkerCredentials | None:
        """Fresh credentials for a new worker of `spec`, or None when its function has no
        execution role faas knows."""
        ...
