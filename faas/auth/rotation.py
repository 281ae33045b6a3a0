"""Rotating the master key, at start (`faas serve --rotate-master-key`), and finishing a
rotation a crash interrupted.

A rotation makes a new key, re-seals every secret of the database under it in one
transaction, compacts the database (the old ciphertexts must not stay in free pages: the point
of rotating is that the old key may be out), then puts the new key in place of the old one.
The order makes a crash at any step recoverable at the next start:
1. the new key is written beside the old one (`master.key.new`, 0600, synced);
2. the transaction commits: from now on the database opens with the new key only;
3. the new key file is renamed over the old one.
A start that finds `master.key.new` looks at which of the two keys opens the database: the new
one means step 2 happened (the rename is finished now), the old one that it did not (the
leftover new key is removed). Running at start, no worker, token or download URL issued under
the old key is alive to be cut off.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import Engine

from faas.auth.masterkey import (
    KEY_BYTES,
    MasterKey,
    MasterKeyProblem,
    load_master_key,
    write_key_file,
)
from faas.store.engine import compact
from faas.store.reseal import first_sealed_secret, reseal_secrets

log = logging.getLogger("faas.auth")


def pending_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".new")


def finish_interrupted_rotation(key_path: Path, engine: Engine) -> None:
    """Settle a rotation a crash left halfway (see the module doc); nothing if none was."""
    pending = pending_path(key_path)
    if not pending.exists():
        return
    probe = first_sealed_secret(engine)
    new = load_master_key(pending, create=False)
    if probe is not None and _opens(new, probe):
        os.replace(pending, key_path)
        _sync_directory(key_path.parent)
        log.warning(
            "finished a master key rotation that was interrupted: %s is the new key", key_path
        )
    else:
        pending.unlink()
        log.warning("a master key rotation was interrupted before it changed anything; undone")


def rotate_master_key(key_path: Path, engine: Engine, old: MasterKey) -> MasterKey:
    """Re-seal everything under a new key and make it the key in `key_path`."""
    if not os.access(key_path.parent, os.W_OK):
        raise MasterKeyProblem(
            f"cannot rotate the master key: {key_path.parent} is not writable (a key supplied "
            "read-only has to be rotated where it comes from)"
        )
    new = MasterKey(secrets.token_bytes(KEY_BYTES))
    pending = pending_path(key_path)
    write_key_file(pending, new.key)
    resealed = reseal_secrets(engine, old, new)
    compact(engine)
    os.replace(pending, key_path)
    _sync_directory(key_path.parent)
    log.info("rotated the master key in %s: %d secrets re-sealed", key_path, resealed)
    return new


def _opens(key: MasterKey, probe: tuple[bytes, str]) -> bool:
    try:
        key.open(*probe)
    except MasterKeyProblem:
        return False
    return True


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
