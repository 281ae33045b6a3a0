"""Authentication at start: the master key, the keyring, the admin key of a first start."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from faas.auth.authenticator import Authenticator
from faas.auth.credentials import CredentialsFile
from faas.auth.keys import ADMIN_KEY_NAME, ADMIN_POLICY, AccessKey, KeyRing
from faas.auth.masterkey import MasterKey, MasterKeyProblem, load_master_key
from faas.auth.roles import RoleBook
from faas.auth.rotation import finish_interrupted_rotation
from faas.auth.sessions import SessionIssuer
from faas.config import ConfigError, Settings
from faas.store.repos import KeyRepo, RoleRepo
from faas.store.schema import sealed_secrets_exist

log = logging.getLogger("faas.auth")


@dataclass(frozen=True, slots=True)
class AuthParts:
    keys: KeyRing
    roles: RoleBook
    sessions: SessionIssuer
    # None when authentication is off (auth.enabled = false).
    authenticator: Authenticator | None
    admin_created: AccessKey | None


def check_exposure(settings: Settings) -> None:
    """Authentication off is for throwaway local use: never on an address others reach."""
    if not settings.auth.enabled and not is_loopback(settings.server.host):
        raise ConfigError(
            f"auth.enabled = false is refused on {settings.server.host}: without "
            "authentication anyone who reaches the port controls every function; listen on "
            "127.0.0.1 or turn authentication on"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_supplied_key_exists(path: Path) -> None:
    # load_master_key's message for a missing file is about a lost key next to sealed secrets;
    # on a fresh database the operator named a file that is not there yet.
    if not path.exists():
        raise MasterKeyProblem(
            f"auth.master_key_file {path} does not exist, and faas never creates a key file it "
            "is pointed at: write a key into it (32 random bytes, base64, mode 0600), or leave "
            "auth.master_key_file empty to have one made at <data_dir>/master.key"
        )


def prepare_master_key(settings: Settings, engine: Engine) -> MasterKey:
    """The master key, made at the first start. Runs before the schema migrations (they seal
    secrets with it), so it asks the database only what exists. Blocking: call from a thread."""
    finish_interrupted_rotation(settings.master_key_path, engine)
    # A new master key only when nothing sealed with an old one exists: a missing key file
    # next to sealed secrets is a restore gone wrong, never a reason to start over.
    fresh = not sealed_secrets_exist(engine)
    default_location = not settings.auth.master_key_file
    if fresh and not default_location:
        _check_supplied_key_exists(settings.master_key_path)
    return load_master_key(settings.master_key_path, create=fresh and default_location)


def start_auth(settings: Settings, engine: Engine, master: MasterKey) -> AuthParts:
    """Blocking (files, database): call from a thread, after the migrations."""
    repo = KeyRepo(engine)
    credentials = CredentialsFile(settings.credentials_path)
    keys = KeyRing(repo, master, credentials, settings.server.account_id)
    keys.load()
    roles = RoleBook(RoleRepo(engine), settings.server.account_id)
    roles.load()
    sessions = SessionIssuer(master)
    admin = None
    if keys.empty:
        # The first start (or every key was deleted): the operator needs a way back in.
        # The file first: a start killed in between leaves a file naming a key that does not
        # exist (the next start makes another), never a key that nobody has.
        admin = keys.draft(ADMIN_KEY_NAME, ADMIN_POLICY)
        credentials.write(admin, settings.server.account_id)
        keys.store(admin)
        log.info(
            "created the access key %r (%s), allowed everything; its secret is in %s "
            "(mode 0600, AWS shared-credentials format)",
            admin.name,
            admin.access_key_id,
            credentials.path,
        )
    authenticator = None
    if not settings.auth.enabled:
        log.warning("!" * 78)
        log.warning(
            "AUTHENTICATION IS OFF (auth.enabled = false): anyone who reaches %s:%s, every "
            "local user and every function included, controls every function",
            settings.server.host,
            settings.server.port,
        )
        log.warning("!" * 78)
    else:
        authenticator = Authenticator(
            keys,
            master,
            roles=roles,
            sessions=sessions,
            region=settings.server.region,
            account_id=settings.server.account_id,
            max_skew_s=settings.auth.max_skew_s,
            # Lambda's API, and CloudWatch Logs' (the functions' logs) on the same endpoint.
            services=("lambda", "logs"),
        )
    return AuthParts(keys, roles, sessions, authenticator, admin)


def functions_endpoint(settings: Settings) -> str:
    """Where a function reaches this server's API (AWS_ENDPOINT_URL_LAMBDA): its address, or
    loopback when it listens on every interface."""
    server = settings.server
    host = "127.0.0.1" if server.host in ("", "0.0.0.0", "::") else server.host
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if server.tls_cert else "http"
    return f"{scheme}://{host}:{server.port}"
