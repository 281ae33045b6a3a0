"""Values the database keeps sealed (encrypted), never in plaintext: functions' environments.

The store does not hold the key: whoever builds a repository hands it a `Sealer` (the master
key of faas.auth.masterkey), so a copy of the database alone, or a backup of it, reveals no
value. A sealed value is bound to what it belongs to (the context, e.g. the function's name):
copied onto another row it does not open.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Protocol

# Sealed text in a Text column: "sealed:" + base64 of the sealer's ciphertext.
SEALED_PREFIX = "sealed:"


class Sealer(Protocol):
    def seal(self, plaintext: bytes, context: str) -> bytes: ...

    def open(self, blob: bytes, context: str) -> bytes: ...


def environment_context(function_name: str) -> str:
    return f"environment:{function_name}"


def seal_environment(sealer: Sealer, function_name: str, environment: Mapping[str, str]) -> str:
    plaintext = json.dumps(dict(environment), sort_keys=True).encode()
    return sealed_text(sealer.seal(plaintext, environment_context(function_name)))


def open_environment(sealer: Sealer, function_name: str, text: str) -> dict[str, str]:
    if not text.startswith(SEALED_PREFIX):
        raise ValueError(
            f"the environment of {function_name} is not sealed in the database; every "
            "environment is sealed by the schema migration that introduced sealing"
        )
    opened = sealer.open(sealed_blob(text), environment_context(function_name))
    loaded: Mapping[str, Any] = json.loads(opened)
    return {str(key): str(value) for key, value in loaded.items()}


def sealed_text(blob: bytes) -> str:
    """A ciphertext as the Text columns keep it."""
    return SEALED_PREFIX + base64.b64encode(blob).decode("ascii")


def sealed_blob(text: str) -> bytes:
    return base64.b64decode(text.removeprefix(SEALED_PREFIX))


def is_sealed(text: str) -> bool:
    return text.startswith(SEALED_PREFIX)


def key_context(access_key_id: str) -> str:
    """What an access key's sealed secret is bound to (faas.auth.keys seals with it)."""
    return access_key_id
