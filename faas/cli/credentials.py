"""Where the faas CLI finds the access key it signs with, first match wins:

1. `FAAS_ACCESS_KEY_ID` and `FAAS_SECRET_ACCESS_KEY` (and `FAAS_SESSION_TOKEN`);
2. `--profile NAME`: that profile of the AWS shared-credentials file
   (`AWS_SHARED_CREDENTIALS_FILE`, else ~/.aws/credentials);
3. the credentials file a faas server on this host wrote into its data directory
   (`<data_dir>/credentials`, the data directory as `faas serve` would pick it: config file,
   `FAAS_SERVER_DATA_DIR`), so that on the server's own host nothing needs configuring;
4. the AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
   then the `AWS_PROFILE` (or default) profile of the shared-credentials file.
The faas variables and the data directory come before the AWS ones on purpose: a user with
real AWS credentials in the environment must not send them to a faas server by accident.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from faas.errors import InvalidParameterValue

CREDENTIALS_FILE = "credentials"


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = ""  # where they came from, for messages


def find_credentials(
    environ: Mapping[str, str], profile: str | None, data_dir: Path | None, home: Path
) -> Credentials | None:
    """The first credentials of the list in this module's docstring, or None."""
    found = _from_environ(environ, "FAAS_ACCESS_KEY_ID", "FAAS_SECRET_ACCESS_KEY", "FAAS_SESSION")
    if found is not None:
        return found
    shared = Path(environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
    if profile:
        named = _from_file(shared, profile)
        if named is None:
            raise InvalidParameterValue(f"--profile {profile}: no such profile in {shared}")
        return named
    if data_dir is not None:
        local = _from_file(data_dir / CREDENTIALS_FILE, "default")
        if local is not None:
            return local
    found = _from_environ(environ, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION")
    if found is not None:
        return found
    wanted = environ.get("AWS_PROFILE")
    found = _from_file(shared, wanted or "default")
    if found is None and wanted:
        # As the AWS CLI does: a profile asked for by name and not there is an error, not a
        # silent fall back to unsigned requests.
        raise InvalidParameterValue(f"AWS_PROFILE={wanted}: no such profile in {shared}")
    return found


def _from_environ(
    environ: Mapping[str, str], key_var: str, secret_var: str, token_prefix: str
) -> Credentials | None:
    key, secret = environ.get(key_var), environ.get(secret_var)
    if not key or not secret:
        return None
    token = environ.get(f"{token_prefix}_TOKEN") or None
    return Credentials(key, secret, token, f"the environment ({key_var})")


def _from_file(path: Path, profile: str) -> Credentials | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        read = parser.read(path)
    except (OSError, configparser.Error):
        return None
    if not read or not parser.has_section(profile):
        return None
    key = parser.get(profile, "aws_access_key_id", fallback="").strip()
    secret = parser.get(profile, "aws_secret_access_key", fallback="").strip()
    if not key or not secret:
        return None
    token = parser.get(profile, "aws_session_token", fallback="").strip() or None
    return Credentials(key, secret, token, f"{path} [{profile}]")
