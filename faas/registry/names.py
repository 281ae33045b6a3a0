"""Function names as Lambda accepts them: short names, partial ARNs and full ARNs.

Pure functions. Percent-decoding has already happened at the HTTP edge.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from faas.domain import FUNCTION_NAME_RE
from faas.errors import InvalidParameterValue

# Lambda's qualifier rule: $LATEST, a version number or an alias name.
QUALIFIER_RE = re.compile(r"^(\$LATEST|[A-Za-z0-9_-]{1,128})$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_PARTITION_RE = re.compile(r"^aws[a-zA-Z-]*$")
# Looser than AWS's own region pattern so that ARNs built with a custom configured region
# (e.g. "local") still parse back.
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")

# Longest accepted input: a full ARN with a 64-character name and a 128-character qualifier.
_MAX_RAW_LENGTH = 256


def split_function_name(raw: str) -> tuple[str, str | None]:
    """Return (name, qualifier) from any of the forms Lambda's FunctionName accepts.

    Accepted: `name`, `name:qualifier`, `123456789012:function:name[:qualifier]` and
    `arn:aws:lambda:region:123456789012:function:name[:qualifier]`.
    """
    if len(raw) > _MAX_RAW_LENGTH:
        raise _invalid(raw)
    parts = raw.split(":")
    if parts[0] == "arn":
        name, qualifier = _split_full_arn(raw, parts)
    elif len(parts) >= 3 and parts[1] == "function":
        name, qualifier = _split_partial_arn(raw, parts)
    else:
        name, qualifier = _split_short(raw, parts)
    if not FUNCTION_NAME_RE.fullmatch(name):
        raise _invalid(raw)
    if qualifier is not None and not QUALIFIER_RE.fullmatch(qualifier):
        raise _invalid(raw)
    return name, qualifier


def list_target(raw_name: str, operation: str) -> str:
    """The function a List... operation of its sub-resources names: a qualifier is refused
    (the list covers every qualifier)."""
    name, qualifier = split_function_name(raw_name)
    if qualifier is not None:
        raise InvalidParameterValue(
            f"{operation} acts on the function itself; drop the qualifier ':{qualifier}'"
        )
    return name


def list_limit(max_items: int | None, maximum: int) -> int:
    """MaxItems of such a list: `maximum` when absent, else 1..maximum (Lambda's message)."""
    limit = maximum if max_items is None else max_items
    if not 1 <= limit <= maximum:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{limit}' at 'maxItems' failed to satisfy "
            f"constraint: Member must have value between 1 and {maximum}"
        )
    return limit


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    """Lambda's ARN for a function, or for one version/alias of it when `qualifier` is set."""
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier is not None else arn


def _split_full_arn(raw: str, parts: list[str]) -> tuple[str, str | None]:
    # arn : partition : lambda : region : account : function : name [: qualifier]
    if len(parts) not in (7, 8):
        raise _invalid(raw)
    partition, service, region, account, kind = parts[1:6]
    valid = (
        _PARTITION_RE.fullmatch(partition)
        and service == "lambda"
        and _REGION_RE.fullmatch(region)
        and _ACCOUNT_RE.fullmatch(account)
        and kind == "function"
    )
    if not valid:
        raise _invalid(raw)
    return parts[6], parts[7] if len(parts) == 8 else None


def _split_partial_arn(raw: str, parts: list[str]) -> tuple[str, str | None]:
    # account : function : name [: qualifier]
    if len(parts) not in (3, 4) or not _ACCOUNT_RE.fullmatch(parts[0]):
        raise _invalid(raw)
    return parts[2], parts[3] if len(parts) == 4 else None


def _split_short(raw: str, parts: list[str]) -> tuple[str, str | None]:
    if len(parts) > 2:
        raise _invalid(raw)
    return parts[0], parts[1] if len(parts) == 2 else None


def _invalid(raw: str) -> InvalidParameterValue:
    # Never echo an arbitrarily long input back into a response or a log line.
    shown = raw if len(raw) <= _MAX_RAW_LENGTH else raw[:_MAX_RAW_LENGTH] + "..."
    return InvalidParameterValue(
        f"1 validation error detected: Value '{shown}' at 'functionName' failed to satisfy "
        "constraint: Member must be a function name, a partial ARN or a full ARN, "
        "optionally followed by ':' and a version or alias"
    )


def aws_now() -> str:
    """Now in Lambda's timestamp format (LastModified, CreatedDate): 2024-01-01T00:00:00.000+0000
    (UTC, milliseconds)."""
    now = datetime.now(UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}+0000"
