"""Revisions, oldest first by `down_revision`; alembic loads them by path (this file it skips)."""
