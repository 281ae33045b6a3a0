"""Authentication at start, over a real data directory and SQLite database."""

from __future__ import annotations

import base64
import configparser
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from faas.auth.masterkey import KEY_BYTES, MasterKeyProblem
from faas.auth.setup import AuthParts, check_exposure, prepare_master_key, start_auth
from faas.config import ConfigError, Settings, load
from faas.store import make_engine, migrate
from tests.helpers.sealing import TEST_SEALER

ACCOUNT = "123456789012"


def boot(settings: Settings, engine: Engine) -> AuthParts:
    """What the server does at start: the master key, then (after migrations) the rest."""
    return start_auth(settings, engine, prepare_master_key(settings, engine))


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    return load(overrides={"server.data_dir": str(data_dir), **overrides})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    made = tmp_path / "data"
    made.mkdir(mode=0o700)
    return made


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return settings_for(data_dir, **{"server.account_id": ACCOUNT})


@pytest.fixture
def store(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.store_url)
    migrate(engine, sealer=TEST_SEALER)
    yield engine
    engine.dispose()


def credentials_of(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    assert parser.read(path) == [str(path)]
    return parser["default"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_first_start_makes_the_master_key_the_admin_key_and_its_credentials(
    settings: Settings, store: Engine, data_dir: Path
) -> None:
    parts = boot(settings, store)
    master_key = data_dir / "master.key"
    assert mode(master_key) == 0o600
    assert len(base64.b64decode(master_key.read_text().strip(), validate=True)) == KEY_BYTES
    admin = parts.admin_created
    assert admin is not None
    assert admin.name == "admin"
    assert parts.keys.all() == [admin]
    assert admin.allows("lambda:DeleteFunction", "arn:aws:lambda:us-east-1:1:function:any")
    credentials = data_dir / "credentials"
    assert mode(credentials) == 0o600
    profile = credentials_of(credentials)
    assert profile["aws_access_key_id"] == admin.access_key_id
    assert profile["aws_secret_access_key"] == admin.secret
    assert f"arn:aws:iam::{ACCOUNT}:user/admin" in credentials.read_text()
    assert parts.authenticator is not None


def test_a_second_start_reuses_everything_and_creates_nothing(
    settings: Settings, store: Engine, data_dir: Path
) -> None:
    first = boot(settings, store)
    files = {
        path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in _key_files(data_dir)
    }
    second = boot(settings, store)
    assert second.admin_created is None
    assert first.admin_created is not None
    assert second.keys.all() == [first.admin_created]
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in _key_files(data_dir)} == files
    # The admin secret still opens: the same master key was used.
    assert second.keys.named("admin").secret == first.admin_created.secret


def _key_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.iterdir() if not p.name.startswith("faas.db"))


def test_a_lost_master_key_is_never_replaced_while_keys_exist(
    settings: Settings, store: Engine, data_dir: Path
) -> None:
    boot(settings, store)
    master_key = data_dir / "master.key"
    master_key.unlink()
    with pytest.raises(MasterKeyProblem) as problem:
        boot(settings, store)
    assert str(master_key) in problem.value.message
    assert not master_key.exists()


def test_another_master_key_with_existing_keys_is_refused(
    settings: Settings, store: Engine, data_dir: Path
) -> None:
    boot(settings, store)
    master_key = data_dir / "master.key"
    master_key.write_text(base64.b64encode(b"\x01" * KEY_BYTES).decode())
    with pytest.raises(MasterKeyProblem, match="does not open with this master key"):
        boot(settings, store)


def test_a_configured_master_key_file_is_never_created(data_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "secrets" / "faas-master.key"
    settings = settings_for(data_dir, **{"auth.master_key_file": str(missing)})
    engine = make_engine(settings.store_url)
    migrate(engine, sealer=TEST_SEALER)
    try:
        with pytest.raises(MasterKeyProblem) as problem:
            boot(settings, engine)
        assert str(missing) in problem.value.message
        assert "auth.master_key_file" in problem.value.message
        # A fresh database holds nothing sealed: there is nothing to restore.
        assert "database holds" not in problem.value.message
        assert not missing.exists()
        assert not (data_dir / "master.key").exists()
        assert not (data_dir / "credentials").exists()
    finally:
        engine.dispose()


def test_a_configured_master_key_file_is_used(data_dir: Path, tmp_path: Path) -> None:
    supplied = tmp_path / "faas-master.key"
    supplied.write_text(base64.b64encode(b"\x05" * KEY_BYTES).decode())
    supplied.chmod(0o600)
    settings = settings_for(data_dir, **{"auth.master_key_file": str(supplied)})
    engine = make_engine(settings.store_url)
    migrate(engine, sealer=TEST_SEALER)
    try:
        first = boot(settings, engine)
        assert first.admin_created is not None
        assert not (data_dir / "master.key").exists()
        assert boot(settings, engine).keys.all() == [first.admin_created]
    finally:
        engine.dispose()


def test_with_every_key_deleted_the_next_start_makes_a_new_admin(
    settings: Settings, store: Engine, data_dir: Path
) -> None:
    first = boot(settings, store)
    master_key = (data_dir / "master.key").read_bytes()
    for key in first.keys.all():
        first.keys.delete(key.name)
    second = boot(settings, store)
    assert second.admin_created is not None
    assert first.admin_created is not None
    assert second.admin_created.access_key_id != first.admin_created.access_key_id
    assert (data_dir / "master.key").read_bytes() == master_key
    assert credentials_of(data_dir / "credentials")["aws_access_key_id"] == (
        second.admin_created.access_key_id
    )


def test_authentication_off_still_keeps_keys(data_dir: Path) -> None:
    settings = settings_for(data_dir, **{"auth.enabled": False})
    engine = make_engine(settings.store_url)
    migrate(engine, sealer=TEST_SEALER)
    try:
        parts: AuthParts = boot(settings, engine)
        assert parts.authenticator is None
        assert parts.admin_created is not None
        assert (data_dir / "credentials").exists()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("host", "enabled", "refused"),
    [
        ("0.0.0.0", False, True),
        ("::", False, True),
        ("192.168.1.20", False, True),
        ("10.0.0.5", False, True),
        ("fe80::1", False, True),
        ("", False, True),
        ("example.com", False, True),
        ("127.0.0.1", False, False),
        ("127.0.0.2", False, False),
        ("::1", False, False),
        ("localhost", False, False),
        ("0.0.0.0", True, False),
        ("::", True, False),
        ("192.168.1.20", True, False),
        ("127.0.0.1", True, False),
    ],
)
def test_check_exposure(tmp_path: Path, host: str, enabled: bool, refused: bool) -> None:
    settings = settings_for(tmp_path, **{"server.host": host, "auth.enabled": enabled})
    if not refused:
        check_exposure(settings)
        return
    with pytest.raises(ConfigError) as problem:
        check_exposure(settings)
    assert f"auth.enabled = false is refused on {host}:" in str(problem.value)
