"""`faas keys ...`: access keys and their policies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    UsageProblem,
    cli_context,
    delete_named,
    format_table,
    json_option,
    main,
    print_json,
)

KEYS_PATH = "/faas/v1/keys"
# Without --policy a new key may invoke any function, and nothing else.
INVOKE_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
}


@main.group()
def keys() -> None:
    """Access keys: who may call this server, and what each may do (an IAM-style policy)."""


def read_policy(path: Path | None) -> Any:
    if path is None:
        return INVOKE_ONLY_POLICY
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise UsageProblem(f"cannot read the policy file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageProblem(f"the policy file {path} is not JSON: {exc}") from exc


@keys.command("create")
@json_option
@click.argument("name")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="IAM-style policy document (JSON file). Default: may invoke any function, nothing else.",
)
def create_key(name: str, policy_file: Path | None) -> None:
    """Create the access key NAME; its secret is shown this once."""
    policy = read_policy(policy_file)
    context = cli_context()
    document = context.client.request_json(
        "POST", KEYS_PATH, {"Name": name, "Policy": policy}, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    _print_new_key(document, context.json_output, "created")


@keys.command("ls")
@json_option
def list_keys() -> None:
    """List the access keys (never their secrets)."""
    context = cli_context()
    document = context.client.request_json("GET", KEYS_PATH, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        print_json(document)
        return
    rows = [
        (
            str(key.get("Name", "")),
            str(key.get("AccessKeyId", "")),
            str(key.get("CreateDate", "")),
            policy_summary(key.get("Policy")),
        )
        for key in document.get("AccessKeys", [])
    ]
    click.echo(format_table(("NAME", "ACCESS KEY ID", "CREATED", "POLICY"), rows))


@keys.command("rm")
@json_option
@click.argument("name")
def remove_key(name: str) -> None:
    """Delete the access key NAME: requests signed with it are refused from now on."""
    delete_named(KEYS_PATH, name, "key", "Name")


@keys.command("rotate")
@json_option
@click.argument("name")
def rotate_key(name: str) -> None:
    """Give the key NAME a new id and secret (same policy); the old pair stops working now."""
    context = cli_context()
    path = f"{KEYS_PATH}/{quote(name, safe='')}/rotate"
    document = context.client.request_json("POST", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    _print_new_key(document, context.json_output, "rotated")


def _print_new_key(document: Mapping[str, Any], json_output: bool, outcome: str) -> None:
    key = document.get("AccessKey", {})
    if json_output:
        print_json(document)
        return
    click.echo(
        f"{outcome} key {key.get('Name')}\n"
        f"aws_access_key_id = {key.get('AccessKeyId')}\n"
        f"aws_secret_access_key = {key.get('SecretAccessKey')}\n"
        "(the secret is shown this once: store it now)"
    )


def policy_summary(policy: Any) -> str:
    """`Allow lambda:InvokeFunction on *; Deny ...`, one statement after another."""
    statements = policy.get("Statement", []) if isinstance(policy, Mapping) else []
    if isinstance(statements, Mapping):
        statements = [statements]
    parts = []
    for statement in statements:
        if not isinstance(statement, Mapping):
            continue
        actions = statement.get("Action") or ["not " + str(statement.get("NotAction"))]
        resources = statement.get("Resource") or ["not " + str(statement.get("NotResource"))]
        parts.append(f"{statement.get('Effect')} {_joined(actions)} on {_joined(resources)}")
    return "; ".join(parts) or "-"


def _joined(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)
