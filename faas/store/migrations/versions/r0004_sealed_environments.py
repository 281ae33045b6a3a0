"""Functions' environments sealed under the master key; KMSKeyArn recorded.

Until now the environment column held plaintext JSON. Each row's environment is sealed here
(faas.store.sealing), with the sealer `faas.store.schema.migrate` is given (the master key);
the start that runs this revision then compacts the database so that no plaintext stays
behind in free pages or the write-ahead log.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import context, op

from faas.store.sealing import is_sealed, seal_environment

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_functions = sa.table("functions", sa.column("name", sa.String), sa.column("environment", sa.Text))


def upgrade() -> None:
    op.add_column("functions", sa.Column("kms_key_arn", sa.String(length=2048), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(_functions.c.name, _functions.c.environment)).all()
    plaintext = [(name, text) for name, text in rows if not is_sealed(text)]
    if not plaintext:
        return
    sealer = context.config.attributes.get("sealer")
    if sealer is None:
        raise RuntimeError(
            f"sealing the environments of {len(plaintext)} functions needs the master key; "
            "migrate(engine, sealer=...) was called without one"
        )
    for name, text in plaintext:
        sealed = seal_environment(sealer, name, _plaintext_environment(text))
        bind.execute(
            sa.update(_functions).where(_functions.c.name == name).values(environment=sealed)
        )
    # Old page images with the plaintext must go: the caller compacts after the commit.
    context.config.attributes["compact_after_commit"] = True


def downgrade() -> None:
    raise NotImplementedError("sealed environments are not unsealed by a downgrade")


def _plaintext_environment(text: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(text).items()}
