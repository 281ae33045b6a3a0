"""Functions' resource policies (AddPermission): the `function_policies` table."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from faas.domain import PolicyStatement
from faas.errors import ResourceConflict
from faas.store.tables import function_policies

_P = function_policies.c


def statement_id_taken(statement_id: str) -> ResourceConflict:
    """Lambda's answer to a statement id a policy has already (functions' and layers')."""
    return ResourceConflict(
        f"The statement id ({statement_id}) provided already exists. Please provide a new "
        "statement id, or remove the existing statement."
    )


class PolicyRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> list[PolicyStatement]:
        query = select(_P.function_name, _P.qualifier, _P.statement_id, _P.statement)
        with self._engine.connect() as connection:
            return [
                PolicyStatement(*row) for row in connection.execute(query.order_by(_P.statement_id))
            ]

    def add(self, statement: PolicyStatement) -> None:
        """ResourceConflict (Lambda's words) when the statement id is taken."""
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(function_policies).values(
                        function_name=statement.function_name,
                        qualifier=statement.qualifier,
                        statement_id=statement.statement_id,
                        statement=statement.statement,
                    )
                )
        except IntegrityError as exc:
            raise statement_id_taken(statement.statement_id) from exc

    def remove(self, function_name: str, qualifier: str, statement_id: str) -> bool:
        with self._engine.begin() as connection:
            gone = connection.execute(
                delete(function_policies).where(
                    _P.function_name == function_name,
                    _P.qualifier == qualifier,
                    _P.statement_id == statement_id,
                )
            )
        return gone.rowcount > 0

    def remove_function(self, function_name: str, qualifier: str | None = None) -> None:
        """Every statement of the function, or (`qualifier`) of one version or alias."""
        statement = delete(function_policies).where(_P.function_name == function_name)
        if qualifier is not None:
            statement = statement.where(_P.qualifier == qualifier)
        with self._engine.begin() as connection:
            connection.execute(statement)
