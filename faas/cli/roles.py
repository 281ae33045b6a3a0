"""`faas roles ...`: execution roles, the rights a function's own API calls have."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    cli_context,
    delete_named,
    format_table,
    json_option,
    print_json,
)
from faas.cli.app import main as faas_main
from faas.cli.keys import policy_summary, read_policy

ROLES_PATH = "/faas/v1/roles"


@faas_main.group()
def roles() -> None:
    """Execution roles: a function whose Role is a role's ARN calls the API with its rights."""


@roles.command("create")
@json_option
@click.argument("name")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="IAM-style policy document (JSON file): what the role's functions may do.",
)
def create_role(name: str, policy_file: Path) -> None:
    """Create the execution role NAME; deploy a function with its ARN as --role."""
    context = cli_context()
    document = context.client.request_json(
        "POST",
        ROLES_PATH,
        {"Name": name, "Policy": read_policy(policy_file)},
        read_timeout_s=MANAGEMENT_TIMEOUT_S,
    )
    role = document.get("Role", {})
    if context.json_output:
        print_json(document)
    else:
        click.echo(f"created role {role.get('RoleName')} ({role.get('Arn')})")


@roles.command("ls")
@json_option
def list_roles() -> None:
    """List the execution roles."""
    context = cli_context()
    document = context.client.request_json("GET", ROLES_PATH, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        print_json(document)
        return
    rows = [_row(role) for role in document.get("Roles", [])]
    click.echo(format_table(("NAME", "ARN", "CREATED", "POLICY"), rows))


@roles.command("rm")
@json_option
@click.argument("name")
def remove_role(name: str) -> None:
    """Delete the role NAME: its functions' credentials stop working at once."""
    delete_named(ROLES_PATH, name, "role", "RoleName")


def _row(role: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(role.get("RoleName", "")),
        str(role.get("Arn", "")),
        str(role.get("CreateDate", "")),
        policy_summary(role.get("Policy")),
    )
