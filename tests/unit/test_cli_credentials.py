"""Which access key the CLI signs with: the lookup order, first match wins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from faas.cli.credentials import find_credentials
from faas.errors import InvalidParameterValue

FAAS_ENV = {"FAAS_ACCESS_KEY_ID": "FAAS_ENV", "FAAS_SECRET_ACCESS_KEY": "faas-env-secret"}
AWS_ENV = {"AWS_ACCESS_KEY_ID": "AWS_ENV", "AWS_SECRET_ACCESS_KEY": "aws-env-secret"}
# Stands for the path of World.alternate in the tables below.
ALTERNATE = "<alternate shared-credentials file>"


def profile(name: str, key_id: str, token: str | None = None) -> str:
    text = f"[{name}]\naws_access_key_id = {key_id}\naws_secret_access_key = {key_id.lower()}-s\n"
    if token is not None:
        text += f"aws_session_token = {token}\n"
    return text


@dataclass(frozen=True)
class World:
    home: Path
    data_dir: Path
    alternate: Path  # a shared-credentials file named by AWS_SHARED_CREDENTIALS_FILE

    @property
    def shared(self) -> Path:
        return self.home / ".aws" / "credentials"


@pytest.fixture
def world(tmp_path: Path) -> World:
    made = World(tmp_path / "home", tmp_path / "data", tmp_path / "elsewhere" / "credentials")
    made.shared.parent.mkdir(parents=True)
    made.shared.write_text(
        profile("default", "SHARED_DEFAULT") + profile("work", "SHARED_WORK", token="work-token")
    )
    made.alternate.parent.mkdir(parents=True)
    made.alternate.write_text(profile("default", "ALT_DEFAULT") + profile("ci", "ALT_CI"))
    made.data_dir.mkdir()
    (made.data_dir / "credentials").write_text(
        "# the file a faas server writes\n" + profile("default", "DATA_DIR")
    )
    return made


# (environment, --profile, whether the data directory is known, the key id found)
ORDER: dict[str, tuple[dict[str, str], str | None, bool, str]] = {
    "FAAS_ env beats everything": ({**FAAS_ENV, **AWS_ENV}, None, True, "FAAS_ENV"),
    "FAAS_ env beats --profile": (FAAS_ENV, "work", True, "FAAS_ENV"),
    "--profile beats the data dir and AWS env": (AWS_ENV, "work", True, "SHARED_WORK"),
    "the data dir beats AWS env": (AWS_ENV, None, True, "DATA_DIR"),
    "the data dir beats AWS_PROFILE": ({"AWS_PROFILE": "work"}, None, True, "DATA_DIR"),
    "AWS env without a data dir": (AWS_ENV, None, False, "AWS_ENV"),
    "AWS env beats AWS_PROFILE": ({**AWS_ENV, "AWS_PROFILE": "work"}, None, False, "AWS_ENV"),
    "AWS_PROFILE": ({"AWS_PROFILE": "work"}, None, False, "SHARED_WORK"),
    "the default profile": ({}, None, False, "SHARED_DEFAULT"),
    "AWS_SHARED_CREDENTIALS_FILE's default": (
        {"AWS_SHARED_CREDENTIALS_FILE": ALTERNATE},
        None,
        False,
        "ALT_DEFAULT",
    ),
    "AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE": (
        {"AWS_SHARED_CREDENTIALS_FILE": ALTERNATE, "AWS_PROFILE": "ci"},
        None,
        False,
        "ALT_CI",
    ),
    "--profile in AWS_SHARED_CREDENTIALS_FILE": (
        {"AWS_SHARED_CREDENTIALS_FILE": ALTERNATE},
        "ci",
        True,
        "ALT_CI",
    ),
    "a FAAS_ key without its secret is skipped": (
        {"FAAS_ACCESS_KEY_ID": "FAAS_ENV"},
        None,
        False,
        "SHARED_DEFAULT",
    ),
    "empty FAAS_ variables are skipped": (
        {"FAAS_ACCESS_KEY_ID": "", "FAAS_SECRET_ACCESS_KEY": "", **AWS_ENV},
        None,
        False,
        "AWS_ENV",
    ),
    "an AWS key without its secret is skipped": (
        {"AWS_ACCESS_KEY_ID": "AWS_ENV"},
        None,
        False,
        "SHARED_DEFAULT",
    ),
}


@pytest.mark.parametrize(
    ("environ", "profile_name", "with_data_dir", "expected"), ORDER.values(), ids=ORDER.keys()
)
def test_lookup_order(
    world: World,
    environ: dict[str, str],
    profile_name: str | None,
    with_data_dir: bool,
    expected: str,
) -> None:
    environ = {k: str(world.alternate) if v == ALTERNATE else v for k, v in environ.items()}
    found = find_credentials(
        environ, profile_name, world.data_dir if with_data_dir else None, world.home
    )
    assert found is not None
    assert found.access_key_id == expected


def test_the_secret_comes_with_its_key(world: World) -> None:
    found = find_credentials({}, None, world.data_dir, world.home)
    assert found is not None
    assert (found.access_key_id, found.secret_access_key) == ("DATA_DIR", "data_dir-s")
    assert found.session_token is None
    assert str(world.data_dir / "credentials") in found.source
    assert "data_dir-s" not in repr(found)


def test_nothing_anywhere(tmp_path: Path) -> None:
    assert find_credentials({}, None, tmp_path / "data", tmp_path / "home") is None


def test_a_missing_profile_names_the_file(world: World) -> None:
    with pytest.raises(InvalidParameterValue) as refused:
        find_credentials(AWS_ENV, "nope", world.data_dir, world.home)
    assert refused.value.message == f"--profile nope: no such profile in {world.shared}"
    environ = {"AWS_SHARED_CREDENTIALS_FILE": str(world.alternate)}
    with pytest.raises(InvalidParameterValue, match=str(world.alternate)):
        find_credentials(environ, "work", world.data_dir, world.home)


def test_a_profile_in_no_file_at_all(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="--profile work"):
        find_credentials({}, "work", None, tmp_path)


SESSIONS: dict[str, tuple[dict[str, str], str | None, str]] = {
    "FAAS_SESSION_TOKEN": ({**FAAS_ENV, "FAAS_SESSION_TOKEN": "faas-token"}, None, "faas-token"),
    "AWS_SESSION_TOKEN": ({**AWS_ENV, "AWS_SESSION_TOKEN": "aws-token"}, None, "aws-token"),
    "aws_session_token of --profile": ({}, "work", "work-token"),
    "aws_session_token of AWS_PROFILE": ({"AWS_PROFILE": "work"}, None, "work-token"),
}


@pytest.mark.parametrize(
    ("environ", "profile_name", "token"), SESSIONS.values(), ids=SESSIONS.keys()
)
def test_session_tokens_are_picked_up(
    world: World, environ: dict[str, str], profile_name: str | None, token: str
) -> None:
    found = find_credentials(environ, profile_name, None, world.home)
    assert found is not None
    assert found.session_token == token


def test_one_source_never_lends_another_its_token(world: World) -> None:
    environ = {**FAAS_ENV, "AWS_SESSION_TOKEN": "aws-token"}
    found = find_credentials(environ, None, None, world.home)
    assert found is not None
    assert (found.access_key_id, found.session_token) == ("FAAS_ENV", None)


@pytest.mark.parametrize(
    "text",
    [
        "[default]\naws_access_key_id = ONLY_THE_ID\n",
        "[default]\naws_secret_access_key = only-the-secret\n",
        "[default]\naws_access_key_id =\naws_secret_access_key =\n",
        "[other]\naws_access_key_id = X\naws_secret_access_key = y\n",
        "aws_access_key_id = NO_SECTION\n",
        "",
        "[default\nbroken",
        None,
    ],
    ids=[
        "only id",
        "only secret",
        "empty values",
        "another profile",
        "no section",
        "empty",
        "broken",
        "missing",
    ],
)
def test_a_data_dir_file_without_a_key_is_passed_over(world: World, text: str | None) -> None:
    if text is None:
        (world.data_dir / "credentials").unlink()
    else:
        (world.data_dir / "credentials").write_text(text)
    found = find_credentials(AWS_ENV, None, world.data_dir, world.home)
    assert found is not None
    assert found.access_key_id == "AWS_ENV"


def test_aws_environment_is_never_sent_when_the_data_dir_has_credentials(world: World) -> None:
    environ = {
        **AWS_ENV,
        "AWS_SESSION_TOKEN": "aws-token",
        "AWS_PROFILE": "work",
        "AWS_SHARED_CREDENTIALS_FILE": str(world.alternate),
    }
    found = find_credentials(environ, None, world.data_dir, world.home)
    assert found is not None
    assert (found.access_key_id, found.secret_access_key, found.session_token) == (
        "DATA_DIR",
        "data_dir-s",
        None,
    )


def test_an_aws_profile_that_is_not_there_is_an_error_not_unsigned_requests(
    world: World,
) -> None:
    with pytest.raises(InvalidParameterValue) as refused:
        find_credentials({"AWS_PROFILE": "wrok"}, None, None, world.home)
    assert refused.value.message == f"AWS_PROFILE=wrok: no such profile in {world.shared}"
