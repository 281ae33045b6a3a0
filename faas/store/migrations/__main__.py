"""`python -m faas.store.migrations "add the queue table"` writes the next revision file.

For developers changing `faas/store/tables.py`: a scratch SQLite database is brought to the
current head and alembic's autogenerate compares it with tables.py; what differs becomes
`versions/r<NNNN>_<message>.py`. Review and complete it by hand: autogenerate sees a renamed
column as one dropped and one added, and moving data between tables is for a person to write.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.script import Script, ScriptDirectory
from sqlalchemy import MetaData

from faas.store.engine import make_engine
from faas.store.schema import SCRIPT_DIRECTORY, alembic_config
from faas.store.tables import metadata

USAGE = 'usage: python -m faas.store.migrations "what the revision does"'


def write_revision(
    message: str,
    script_directory: Path = SCRIPT_DIRECTORY,
    target_metadata: MetaData = metadata,
) -> Path:
    """Write the next revision, from head to `target_metadata`; returns its path."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/faas.db")
        try:
            with engine.begin() as connection:
                config = alembic_config(connection, script_directory)
                config.attributes["target_metadata"] = target_metadata
                # r0002_add_the_queue_table.py: numbered, so the files list in order.
                config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
                command.upgrade(config, "heads")
                known = sum(1 for _ in ScriptDirectory.from_config(config).walk_revisions())
                written = command.revision(
                    config, message=message, autogenerate=True, rev_id=f"{known + 1:04d}"
                )
        finally:
            engine.dispose()
    if not isinstance(written, Script):
        raise RuntimeError(f"alembic wrote no single revision: {written!r}")
    return Path(written.path)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print(USAGE, file=sys.stderr)
        return 2
    path = write_revision(argv[0])
    print(f"wrote {path}: review it, run `make lint`, then the store's schema tests")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
