"""Execution credentials: what a worker of a function with an execution role finds in its
environment, as on Lambda: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
scoped to the role's policy, and `AWS_ENDPOINT_URL_LAMBDA`, where this server answers, so that
boto3 in the function calls faas with no configuration.

Each worker gets credentials of its own when it starts. They expire after `ttl_s`; the pool
stops handing a worker invocations once less than the function's timeout (or a tenth of the
lifetime, if longer) is left, and starts a fresh one, as Lambda recycles its environments.
"""

from __future__ import annotations

from faas.auth.roles import RoleBook
from faas.auth.sessions import SessionIssuer
from faas.domain import WorkerCredentials, WorkerSpec


class ExecutionCredentials:
    """The pool's CredentialIssuer (faas.pool.credentials)."""

    def __init__(
        self, roles: RoleBook, sessions: SessionIssuer, *, endpoint_url: str, ttl_s: float
    ) -> None:
        self._roles = roles
        self._sessions = sessions
        self._endpoint_url = endpoint_url
        self._ttl_s = ttl_s

    def credentials_for(self, spec: WorkerSpec) -> WorkerCredentials | None:
        role = self._roles.for_arn(spec.role)
        if role is None:
            return None  # a Role faas does not know: no credentials, as for a missing role
        issued = self._sessions.issue(role.name, spec.function_name, self._ttl_s)
        margin = max(float(spec.timeout_s), self._ttl_s / 10)
        return WorkerCredentials(
            env={
                "AWS_ACCESS_KEY_ID": issued.access_key_id,
                "AWS_SECRET_ACCESS_KEY": issued.secret_access_key,
                "AWS_SESSION_TOKEN": issued.session_token,
                "AWS_ENDPOINT_URL_LAMBDA": self._endpoint_url,
            },
            expires_at=issued.expires_at,
            renew_after=issued.expires_at - margin,
        )
