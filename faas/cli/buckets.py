"""`faas bucket`: directories bound to names, which functions mount and triggers watch."""

from __future__ import annotations

import os

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    cli_context,
    delete_named,
    format_table,
    json_option,
    main,
    print_json,
)

BUCKETS_PATH = "/faas/v1/buckets"


@main.group()
def bucket() -> None:
    """Buckets: a name bound to a directory on the server, read-only to functions unless
    --writable."""


@bucket.command("add")
@json_option
@click.argument("name")
@click.argument("path")
@click.option("--writable", is_flag=True, help="Functions that mount it may write to it.")
def add_bucket(name: str, path: str, writable: bool) -> None:
    """Bind bucket NAME to the directory PATH (on the server; relative to here)."""
    context = cli_context()
    body = {"Name": name, "Path": os.path.abspath(path), "Writable": writable}
    document = context.client.request_json(
        "POST", BUCKETS_PATH, body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(document)
        return
    mode = "writable" if document.get("Writable") else "read-only"
    click.echo(f"added bucket {document.get('Name')} -> {document.get('Path')} ({mode})")


@bucket.command("ls")
@json_option
def list_buckets() -> None:
    """List the buckets."""
    context = cli_context()
    document = context.client.request_json("GET", BUCKETS_PATH, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        print_json(document)
        return
    rows = [
        (
            str(b.get("Name", "")),
            str(b.get("Path", "")),
            "writable" if b.get("Writable") else "read-only",
            str(b.get("Origin", "")),
        )
        for b in document.get("Buckets", [])
    ]
    click.echo(format_table(("NAME", "PATH", "ACCESS", "FROM"), rows))


@bucket.command("rm")
@json_option
@click.argument("name")
def remove_bucket(name: str) -> None:
    """Remove bucket NAME (its directory and files stay as they are)."""
    delete_named(BUCKETS_PATH, name, "bucket", "Name")
