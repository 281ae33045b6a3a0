"""`faas serve`: run the server in the foreground."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from faas.cli.app import (
    UsageProblem,
    main,
)
from faas.config import ConfigError, Settings, default_config_file, load


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default from config).")
@click.option("--port", type=int, default=None, help="Port to listen on (default from config).")
@click.option("--data-dir", default=None, help="Where the database and code live.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML settings file (default: FAAS_CONFIG, else ./config.toml if present).",
)
@click.option("--tls-cert", default=None, help="Serve HTTPS with this certificate (PEM chain).")
@click.option("--tls-key", default=None, help="The certificate's private key (PEM).")
@click.option(
    "--rotate-master-key",
    is_flag=True,
    default=False,
    help="Before serving, re-seal every secret under a new master key (see docs/security.md).",
)
def serve(
    *,
    host: str | None,
    port: int | None,
    data_dir: str | None,
    config_file: Path | None,
    tls_cert: str | None,
    tls_key: str | None,
    rotate_master_key: bool,
) -> None:
    """Run the faas server in the foreground until SIGTERM or SIGINT."""
    settings = server_settings(
        config_file,
        {
            "server.host": host,
            "server.port": port,
            "server.data_dir": data_dir,
            "server.tls_cert": tls_cert,
            "server.tls_key": tls_key,
        },
    )
    # The server's dependencies (SQLAlchemy, the pool) load only when it actually runs.
    from faas.server import serve as run_server  # noqa: PLC0415

    sys.exit(run_server(settings, rotate_master_key=rotate_master_key))


def server_settings(config_file: Path | None, overrides: Mapping[str, object]) -> Settings:
    """The settings `faas serve` runs with: the config file (--config, FAAS_CONFIG, else
    ./config.toml), the environment, then the command line's `overrides`."""
    file = config_file or default_config_file(os.environ, Path.cwd())
    try:
        return load(file, os.environ, overrides)
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from exc
