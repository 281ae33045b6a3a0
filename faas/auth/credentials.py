"""The operator's credentials file: the admin key, written at first start, mode 0600.

It is in the AWS shared-credentials format, so the same file serves the faas CLI (which finds
it in the data directory by itself), boto3 and the AWS CLI (`AWS_SHARED_CREDENTIALS_FILE`
pointing at it). Written atomically (a temporary file renamed over it), so a reader never
sees half a file; rewritten when the key in it is rotated.
"""

from __future__ import annotations

import configparser
import contextlib
import os
from pathlib import Path

from faas.auth.keys import AccessKey

PROFILE = "default"


class CredentialsFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def holds(self, access_key_id: str) -> bool:
        """Whether the file's key is `access_key_id` (a missing or odd file holds none)."""
        parser = configparser.ConfigParser(interpolation=None)
        with contextlib.suppress(OSError, configparser.Error):
            parser.read(self.path)
        return parser.get(PROFILE, "aws_access_key_id", fallback=None) == access_key_id

    def write(self, key: AccessKey, account_id: str) -> None:
        text = (
            f"# faas: the access key '{key.name}' of this server "
            f"(arn:aws:iam::{account_id}:user/{key.name}).\n"
            "# Readable by its owner only. The faas CLI finds it by itself; for boto3 and the\n"
            "# AWS CLI set AWS_SHARED_CREDENTIALS_FILE to this file's path.\n"
            f"[{PROFILE}]\n"
            f"aws_access_key_id = {key.access_key_id}\n"
            f"aws_secret_access_key = {key.secret}\n"
        )
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(descriptor, 0o600)
            os.write(descriptor, text.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(staging, self.path)
        # The rename itself is durable only once the directory is synced.
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
