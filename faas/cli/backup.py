"""`faas backup PATH` (a running server's state, into one archive) and `faas restore PATH`
(that archive onto a new data directory, with no server running on it)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click

from faas.backup.archive import read_archive
from faas.backup.manifest import Manifest
from faas.cli.app import UsageProblem, cli_context, json_option, main, print_json
from faas.cli.serve import server_settings

# Seconds without a byte from the server: before the first one it drains the records journal,
# copies the database and hashes every file, which takes a while on a big node.
BACKUP_READ_TIMEOUT_S = 3600.0
MB = 1024 * 1024


@main.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@json_option
def backup(path: Path) -> None:
    """Copy the server's state into the new archive PATH, while it runs.

    The database (SQLite; PostgreSQL is backed up with pg_dump), the code, every other
    content-addressed store, the master key and the credentials file, with every invocation
    answered so far. Keep it as secret as the master key: it holds it.
    """
    if path.exists():
        raise UsageProblem(f"{path} exists; back up into a new file")
    context = cli_context()
    partial = path.with_name(f".{path.name}.partial")
    try:
        with _private_file(partial) as out:
            context.client.download(
                "POST", "/faas/v1/backup", out, read_timeout_s=BACKUP_READ_TIMEOUT_S
            )
        manifest = read_archive(partial)  # whole, and every file as its manifest says
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    if context.json_output:
        print_json(_summary(path, manifest))
        return
    click.echo(f"backed up to {path}: {_described(manifest)}")
    if manifest.database == "postgresql":
        click.echo(
            "the database (PostgreSQL) is not in the archive: back it up with pg_dump "
            "at the same time (docs/operations.md)"
        )


@main.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--data-dir", default=None, help="The new data directory (default from config).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The settings `faas serve` will run with (default: FAAS_CONFIG, else ./config.toml).",
)
@json_option
def restore(path: Path, data_dir: str | None, config_file: Path | None) -> None:
    """Unpack the backup archive PATH into a new, empty data directory.

    Offline: no server may run on that directory. The master key and credentials go where
    the settings put them. Then start `faas serve` with the same settings.
    """
    settings = server_settings(config_file, {"server.data_dir": data_dir})
    # The store's modules load only for a restore (they are the server's).
    from faas.backup.restore import RestoreTarget  # noqa: PLC0415
    from faas.backup.restore import restore as restore_archive  # noqa: PLC0415

    manifest = restore_archive(path, RestoreTarget.from_settings(settings))
    if cli_context().json_output:
        print_json({**_summary(path, manifest), "DataDir": str(settings.data_dir)})
        return
    click.echo(f"restored {path} into {settings.data_dir}: {_described(manifest)}")
    if manifest.database == "postgresql":
        click.echo(
            "its database is PostgreSQL: restore it from the pg_dump taken with this backup "
            "before starting faas"
        )
    click.echo(f"start it with: faas serve --data-dir {settings.data_dir}")


def _described(manifest: Manifest) -> str:
    revisions = ", ".join(manifest.schema_revisions) or "none"
    size_mb = manifest.total_bytes / MB
    return (
        f"{len(manifest.files)} files, {size_mb:.1f} MB, made {manifest.created_at} by faas "
        f"{manifest.faas_version} (database {manifest.database}, schema {revisions})"
    )


def _summary(path: Path, manifest: Manifest) -> dict[str, object]:
    return {
        "Archive": str(path),
        "CreatedAt": manifest.created_at,
        "FaasVersion": manifest.faas_version,
        "SchemaRevisions": list(manifest.schema_revisions),
        "Database": manifest.database,
        "Files": len(manifest.files),
        "Bytes": manifest.total_bytes,
    }


@contextlib.contextmanager
def _private_file(path: Path) -> Iterator[BinaryIO]:
    """A new file only its owner may read (the archive holds the master key)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        yield stream
        stream.flush()
        os.fsync(stream.fileno())
