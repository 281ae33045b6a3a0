"""The master key: sealing secrets at rest, and the key file's safety rules."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from faas.auth.masterkey import KEY_BYTES, MasterKey, MasterKeyProblem, load_master_key

SECRET = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CONTEXT = "AKFAEXAMPLEKEY000001"


def test_a_sealed_secret_opens_with_its_key_and_context(master: MasterKey) -> None:
    sealed = master.seal(SECRET, CONTEXT)
    assert SECRET not in sealed
    assert master.open(sealed, CONTEXT) == SECRET
    assert master.open(master.seal(b"", CONTEXT), CONTEXT) == b""


def test_two_seals_of_one_secret_differ_and_both_open(master: MasterKey) -> None:
    first, second = master.seal(SECRET, CONTEXT), master.seal(SECRET, CONTEXT)
    assert first != second
    assert master.open(first, CONTEXT) == master.open(second, CONTEXT) == SECRET


def _flip(index: int) -> Callable[[bytes], bytes]:
    def flip(blob: bytes) -> bytes:
        position = index % len(blob)
        return blob[:position] + bytes([blob[position] ^ 0x01]) + blob[position + 1 :]

    return flip


OTHER_KEY = MasterKey(b"\x07" * KEY_BYTES)
# (how the ciphertext is damaged, the key that opens it, the context it is opened with)
DAMAGES: dict[str, tuple[Callable[[bytes], bytes], MasterKey | None, str]] = {
    "another key": (lambda blob: blob, OTHER_KEY, CONTEXT),
    "another context": (lambda blob: blob, None, "AKFAEXAMPLEKEY000002"),
    "an empty context": (lambda blob: blob, None, ""),
    "one byte short": (lambda blob: blob[:-1], None, CONTEXT),
    "only the header": (lambda blob: blob[:13], None, CONTEXT),
    "empty": (lambda blob: b"", None, CONTEXT),
    "one byte more": (lambda blob: blob + b"\0", None, CONTEXT),
    "format byte flipped": (_flip(0), None, CONTEXT),
    "nonce byte flipped": (_flip(5), None, CONTEXT),
    "ciphertext byte flipped": (_flip(20), None, CONTEXT),
    "tag byte flipped": (_flip(-1), None, CONTEXT),
}


@pytest.mark.parametrize(("damage", "key", "context"), DAMAGES.values(), ids=DAMAGES.keys())
def test_a_damaged_or_misplaced_secret_does_not_open(
    master: MasterKey,
    damage: Callable[[bytes], bytes],
    key: MasterKey | None,
    context: str,
) -> None:
    blob = damage(master.seal(SECRET, CONTEXT))
    with pytest.raises(MasterKeyProblem):
        (key or master).open(blob, context)


def test_every_single_byte_change_is_detected(master: MasterKey) -> None:
    blob = master.seal(SECRET, CONTEXT)
    for index in range(len(blob)):
        with pytest.raises(MasterKeyProblem):
            master.open(_flip(index)(blob), CONTEXT)


def test_opening_with_another_key_says_so(master: MasterKey) -> None:
    with pytest.raises(MasterKeyProblem, match=f"the secret of {CONTEXT} does not open"):
        OTHER_KEY.open(master.seal(SECRET, CONTEXT), CONTEXT)


def test_derived_keys_are_stable_and_one_per_purpose(master: MasterKey) -> None:
    same_key = MasterKey(bytes(master.key))
    assert master.derive("code-download-urls") == same_key.derive("code-download-urls")
    assert len(master.derive("code-download-urls")) == 32
    purposes = ["code-download-urls", "code-download-url", "sessions", ""]
    assert len({master.derive(p) for p in purposes}) == len(purposes)
    assert master.derive("code-download-urls") != OTHER_KEY.derive("code-download-urls")
    assert master.derive("code-download-urls") != master.key


def test_the_key_is_not_in_its_repr(master: MasterKey) -> None:
    assert master.key.hex() not in repr(master)
    assert str(master.key) not in repr(master)


# --- the key file -------------------------------------------------------------------------


def test_a_missing_file_is_created_once_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    made = load_master_key(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text().strip(), validate=True)) == KEY_BYTES
    written = path.read_bytes()
    again = load_master_key(path, create=True)
    assert path.read_bytes() == written
    assert again.key == made.key
    assert load_master_key(path, create=False).key == made.key
    sealed = made.seal(SECRET, CONTEXT)
    assert load_master_key(path, create=False).open(sealed, CONTEXT) == SECRET


def test_separate_data_directories_get_separate_keys(tmp_path: Path) -> None:
    first = load_master_key(tmp_path / "a" / "master.key", create=True)
    second = load_master_key(tmp_path / "b" / "master.key", create=True)
    assert first.key != second.key


def test_a_missing_file_is_not_created_without_create(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    with pytest.raises(MasterKeyProblem) as problem:
        load_master_key(path, create=False)
    assert str(path) in problem.value.message
    assert "missing" in problem.value.message
    assert not path.exists()


def _key_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


GOOD = base64.b64encode(b"\x42" * KEY_BYTES).decode()
# (file text, mode, what the message says)
BAD_FILES: dict[str, tuple[str, int, str]] = {
    "readable by all": (GOOD, 0o644, "readable by other users (mode 0644): chmod 600 it"),
    "readable by the group": (GOOD, 0o640, "(mode 0640)"),
    "writable by the group": (GOOD, 0o620, "(mode 0620)"),
    "readable by others": (GOOD, 0o604, "(mode 0604)"),
    "a short key": (base64.b64encode(b"\x42" * 16).decode(), 0o600, "base64 key of 32 bytes"),
    "a long key": (base64.b64encode(b"\x42" * 33).decode(), 0o600, "base64 key of 32 bytes"),
    "not base64": ("this is not base64 at all!!", 0o600, "base64 key of 32 bytes"),
    "empty": ("", 0o600, "base64 key of 32 bytes"),
}


@pytest.mark.parametrize(("text", "mode", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
@pytest.mark.parametrize("create", [False, True], ids=["load", "load-or-create"])
def test_an_unsafe_or_broken_file_is_refused_and_left_alone(
    tmp_path: Path, text: str, mode: int, message: str, create: bool
) -> None:
    path = _key_file(tmp_path / "master.key", text, mode)
    with pytest.raises(MasterKeyProblem) as problem:
        load_master_key(path, create=create)
    assert str(path) in problem.value.message
    assert message in problem.value.message
    assert path.read_text() == text


def test_surrounding_whitespace_is_allowed(tmp_path: Path) -> None:
    path = _key_file(tmp_path / "master.key", f"\n  {GOOD}  \n\n")
    assert load_master_key(path, create=False).key == b"\x42" * KEY_BYTES
