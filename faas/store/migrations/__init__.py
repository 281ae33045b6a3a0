"""The alembic script directory of faas: `env.py`, one file per revision in `versions/`.

`faas.store.schema` runs it programmatically at every start (no alembic.ini). A schema
change is a new revision file here plus the matching change in `faas/store/tables.py`;
docs/architecture.md ("Upgrades") says how to write one.
"""
