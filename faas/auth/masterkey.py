"""The master key: what encrypts secrets at rest, kept outside the database.

An access key's secret cannot be hashed (SigV4 is an HMAC keyed by it, so the server needs
it back), so the database holds it encrypted with AES-256-GCM under this key. The key lives
in a file of its own, mode 0600: by default `<data_dir>/master.key`, made at first start, or
one the operator supplies (`auth.master_key_file`), e.g. from a secrets manager or a systemd
credential, so that a copy of the database alone (a backup, a stolen disk image of the
database volume) reveals no secret.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faas.errors import FaasError

KEY_BYTES = 32
NONCE_BYTES = 12
# The first byte of every ciphertext: the format, so that it can change without guessing.
FORMAT_AES_GCM = b"\x01"


class MasterKeyProblem(FaasError):
    """The master key is missing, unreadable, unsafe or not the one the data was sealed with."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    """Seals and opens small secrets; `context` binds a ciphertext to what it belongs to (an
    access key id), so a ciphertext copied onto another row does not open."""

    key: bytes = field(repr=False)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, plaintext, context.encode())
        return FORMAT_AES_GCM + nonce + sealed

    def open(self, blob: bytes, context: str) -> bytes:
        if not blob.startswith(FORMAT_AES_GCM) or len(blob) < 1 + NONCE_BYTES + 16:
            raise MasterKeyProblem(f"a secret of {context} is not in a format faas knows")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return AESGCM(self.key).decrypt(nonce, sealed, context.encode())
        except InvalidTag:
            raise MasterKeyProblem(
                f"the secret of {context} does not open with this master key: the database was "
                "sealed with another one (restore its master key file, or see docs/security.md)"
            ) from None

    def derive(self, purpose: str) -> bytes:
        """A separate key for one purpose (e.g. signing code download URLs)."""
        return hmac.new(self.key, f"faas:{purpose}".encode(), hashlib.sha256).digest()


def load_master_key(path: Path, *, create: bool) -> MasterKey:
    """The key in `path`; with `create`, a new one is written there first if it is missing."""
    if create and not path.exists():
        _write_new_key(path)
    try:
        info = path.stat()
        text = path.read_text().strip()
    except FileNotFoundError:
        raise MasterKeyProblem(
            f"the master key file {path} is missing, but the database holds secrets sealed "
            "with it: restore it (see docs/security.md)"
        ) from None
    except OSError as exc:
        raise MasterKeyProblem(f"cannot read the master key file {path}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyProblem(
            f"the master key file {path} is readable by other users "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): chmod 600 it"
        )
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyProblem(
            f"the master key file {path} does not hold a base64 key of {KEY_BYTES} bytes"
        )
    return MasterKey(key)


def _write_new_key(path: Path) -> None:
    # Two processes racing to create it must not end up with different keys: the first wins.
    with contextlib.suppress(FileExistsError):
        write_key_file(path, secrets.token_bytes(KEY_BYTES))


def write_key_file(path: Path, key: bytes) -> None:
    """A new key file (0600, synced); FileExistsError if there is one already."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, base64.b64encode(key) + b"\n")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
