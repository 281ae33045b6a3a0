"""Layer names and ARNs as Lambda writes them: `arn:aws:lambda:REGION:ACCOUNT:layer:NAME` for a
layer, with `:VERSION` for one of its versions. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from faas.domain import LAYER_NAME_RE
from faas.errors import InvalidParameterValue

# Looser than Lambda's own region pattern, so that ARNs of a custom region ("local") parse.
_LAYER_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9][a-z0-9-]{0,31}):(?P<account>\d{12}):"
    r"layer:(?P<name>[A-Za-z0-9_-]{1,140})(:(?P<version>\d{1,18}))?\Z"
)
# Lambda's pattern for a Layers entry, quoted in its validation message.
_LAYERS_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}"
    r":layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
)


@dataclass(frozen=True, slots=True)
class LayerArn:
    region: str
    account_id: str
    name: str
    version: int | None


def layer_arn(region: str, account_id: str, name: str, version: int | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account_id}:layer:{name}"
    return arn if version is None else f"{arn}:{version}"


def parse_layer_arn(text: str) -> LayerArn | None:
    """The parts of a layer or layer version ARN; None when `text` is neither."""
    found = _LAYER_ARN_RE.fullmatch(text)
    if found is None:
        return None
    version = found.group("version")
    return LayerArn(
        region=found.group("region"),
        account_id=found.group("account"),
        name=found.group("name"),
        version=None if version is None else int(version),
    )


def layer_version_arn_of(text: str) -> LayerArn:
    """A Layers entry: a layer version ARN, or Lambda's validation error naming the entry."""
    parsed = parse_layer_arn(text) if isinstance(text, str) else None
    if parsed is None or parsed.version is None:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '[{str(text)[:2048]}]' at 'layers' failed to "
            "satisfy constraint: Member must satisfy constraint: [Member must have length less "
            "than or equal to 2048, Member must have length greater than or equal to 1, Member "
            f"must satisfy regular expression pattern: {_LAYERS_PATTERN}, Member must not be null]"
        )
    return parsed


def check_layer_name(text: str) -> str:
    """A LayerName path parameter that is a plain name (an ARN is split by the registry)."""
    if not LAYER_NAME_RE.fullmatch(text):
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{text[:256]}' at 'layerName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            r"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
        )
    return text


def check_version_number(text: str) -> int:
    """A VersionNumber path parameter."""
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{text[:32]}' at 'versionNumber' failed to "
            "satisfy constraint: Member must be a positive whole number"
        )
    return int(text)
