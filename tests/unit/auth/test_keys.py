"""The keyring over a real SQLite database: create, find, rotate, delete, reload."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from faas.auth.credentials import CredentialsFile
from faas.auth.keys import MAX_DECISIONS, AccessKey, KeyRing
from faas.auth.masterkey import KEY_BYTES, MasterKey, MasterKeyProblem
from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from faas.store.repos import KeyRepo

FN = "arn:aws:lambda:us-east-1:000000000000:function:"
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "lambda:Get*", "Resource": "*"}],
}
DEPLOYER = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": FN + "team-*"},
        {"Effect": "Deny", "Action": "lambda:DeleteFunction", "Resource": "*"},
    ],
}


def fresh_ring(engine: Engine, master: MasterKey, **options: Any) -> KeyRing:
    keys = KeyRing(KeyRepo(engine), master, **options)
    keys.load()
    return keys


def stored_rows(database: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute("SELECT * FROM access_keys")]


def test_a_created_key_is_found_by_id_and_name(ring: KeyRing) -> None:
    key = ring.create("ci", READ_ONLY)
    assert re.fullmatch(r"AKFA[A-Z2-7]{16}", key.access_key_id)
    assert len(key.secret) == 40
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", key.created)
    assert ring.find(key.access_key_id) == key
    assert ring.named("ci") == key
    assert ring.find("AKFANOSUCHKEY0000000") is None
    assert key.allows("lambda:GetFunction", FN + "f")
    assert not key.allows("lambda:InvokeFunction", FN + "f")


def test_keys_are_listed_by_name(ring: KeyRing) -> None:
    assert ring.empty
    assert ring.all() == []
    for name in ("zed", "alice", "mid"):
        ring.create(name, READ_ONLY)
    assert [key.name for key in ring.all()] == ["alice", "mid", "zed"]
    assert not ring.empty
    ids = {key.access_key_id for key in ring.all()}
    secrets_ = {key.secret for key in ring.all()}
    assert len(ids) == len(secrets_) == 3


def test_the_policy_may_be_json_text_and_is_kept_compact(ring: KeyRing) -> None:
    key = ring.create("ci", json.dumps(DEPLOYER, indent=4))
    assert json.loads(key.policy_document) == DEPLOYER
    assert "\n" not in key.policy_document
    assert key.allows("lambda:InvokeFunction", FN + "team-a")
    assert not key.allows("lambda:DeleteFunction", FN + "team-a")


def test_a_duplicate_name_is_a_conflict(ring: KeyRing, engine: Engine, database: Path) -> None:
    first = ring.create("ci", READ_ONLY)
    with pytest.raises(ResourceConflict, match="An access key named ci already exists"):
        ring.create("ci", DEPLOYER)
    assert ring.all() == [first]
    assert [row["access_key_id"] for row in stored_rows(database)] == [first.access_key_id]
    # Another keyring (another process) that has not seen the key hits the database's rule.
    stale = KeyRing(KeyRepo(engine), MasterKey(b"\0" * KEY_BYTES))
    with pytest.raises(ResourceConflict):
        stale.create("ci", READ_ONLY)


@pytest.mark.parametrize(
    "name",
    ["a", "A" * 64, "ci+deploy=x,y.z@team_1-2", "0"],
)
def test_good_names(ring: KeyRing, name: str) -> None:
    assert ring.create(name, READ_ONLY).name == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 65,
        "has space",
        "slash/name",
        "colon:name",
        "star*",
        "line\n",
        "tab\tname",
        "caf\u00e9",
        "\uff41dmin",  # fullwidth letters that look like "admin"
        "\u0662",  # an Arabic-Indic digit
        None,
        7,
    ],
    ids=repr,
)
def test_bad_names_are_refused(ring: KeyRing, database: Path, name: Any) -> None:
    with pytest.raises(InvalidParameterValue, match="A key name is 1-64 letters"):
        ring.create(name, READ_ONLY)
    assert ring.empty
    assert stored_rows(database) == []


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("{not json", "Invalid policy: not JSON"),
        (None, "Invalid policy: the policy must be a JSON object"),
        ({"Statement": []}, "Statement must be a non-empty list"),
        (
            {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]},
            "Condition is not supported",
        ),
    ],
)
def test_a_bad_policy_is_refused_and_nothing_stored(
    ring: KeyRing, database: Path, policy: Any, message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        ring.create("ci", policy)
    assert ring.empty
    assert stored_rows(database) == []


def test_a_fresh_keyring_finds_the_keys_after_load(
    ring: KeyRing, engine: Engine, master: MasterKey
) -> None:
    made = [ring.create("ci", READ_ONLY), ring.create("deployer", DEPLOYER)]
    unloaded = KeyRing(KeyRepo(engine), master)
    assert unloaded.find(made[0].access_key_id) is None
    unloaded.load()
    for key in made:
        found = unloaded.find(key.access_key_id)
        assert found is not None
        assert (found.name, found.secret, found.policy_document, found.created) == (
            key.name,
            key.secret,
            key.policy_document,
            key.created,
        )
    deployer = unloaded.named("deployer")
    assert deployer.allows("lambda:InvokeFunction", FN + "team-a")
    assert not deployer.allows("lambda:DeleteFunction", FN + "team-a")


def test_the_database_holds_no_plaintext_secret(ring: KeyRing, database: Path) -> None:
    key = ring.create("ci", READ_ONLY)
    (row,) = stored_rows(database)
    assert row["access_key_id"] == key.access_key_id
    for value in row.values():
        raw = value if isinstance(value, bytes) else str(value).encode()
        assert key.secret.encode() not in raw
    # Nor anywhere else in the file (the WAL included).
    for path in database.parent.glob(database.name + "*"):
        assert key.secret.encode() not in path.read_bytes()


def test_a_secret_is_not_in_a_key_repr(ring: KeyRing) -> None:
    key = ring.create("ci", READ_ONLY)
    assert key.secret not in repr(key)
    assert key.secret not in repr(ring.all())


def test_another_master_key_does_not_load(ring: KeyRing, engine: Engine) -> None:
    ring.create("ci", READ_ONLY)
    with pytest.raises(MasterKeyProblem, match="does not open with this master key"):
        fresh_ring(engine, MasterKey(secrets.token_bytes(KEY_BYTES)))


def test_a_secret_moved_to_another_key_does_not_open(
    ring: KeyRing, engine: Engine, master: MasterKey, database: Path
) -> None:
    ring.create("ci", READ_ONLY)
    ring.create("other", READ_ONLY)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE access_keys SET secret_encrypted = "
            "(SELECT secret_encrypted FROM access_keys WHERE name = 'ci') WHERE name = 'other'"
        )
    with pytest.raises(MasterKeyProblem):
        fresh_ring(engine, master)


def test_rotate_keeps_name_and_policy_and_replaces_the_pair(
    ring: KeyRing, engine: Engine, master: MasterKey
) -> None:
    old = ring.create("deployer", DEPLOYER)
    new = ring.rotate("deployer")
    assert (new.name, new.policy_document) == (old.name, old.policy_document)
    assert new.access_key_id != old.access_key_id
    assert new.secret != old.secret
    assert ring.find(old.access_key_id) is None
    assert ring.find(new.access_key_id) == new
    assert ring.named("deployer") == new
    assert new.allows("lambda:InvokeFunction", FN + "team-a")
    assert not new.allows("lambda:DeleteFunction", FN + "team-a")
    reloaded = fresh_ring(engine, master)
    assert [(k.access_key_id, k.secret) for k in reloaded.all()] == [
        (new.access_key_id, new.secret)
    ]


def test_rotate_rewrites_the_credentials_file_holding_the_old_key(
    engine: Engine, master: MasterKey, tmp_path: Path
) -> None:
    credentials = CredentialsFile(tmp_path / "credentials")
    keys = fresh_ring(engine, master, credentials=credentials, account_id="123456789012")
    old = keys.create("admin", READ_ONLY)
    credentials.write(old, "123456789012")
    new = keys.rotate("admin")
    assert credentials.holds(new.access_key_id)
    assert not credentials.holds(old.access_key_id)
    text = credentials.path.read_text()
    assert f"aws_secret_access_key = {new.secret}\n" in text
    assert old.secret not in text
    assert "arn:aws:iam::123456789012:user/admin" in text
    assert stat.S_IMODE(credentials.path.stat().st_mode) == 0o600
    assert list(tmp_path.glob(".credentials*")) == []  # no staging file left behind


def test_rotate_leaves_a_credentials_file_of_another_key_alone(
    engine: Engine, master: MasterKey, tmp_path: Path
) -> None:
    credentials = CredentialsFile(tmp_path / "credentials")
    keys = fresh_ring(engine, master, credentials=credentials)
    admin = keys.create("admin", READ_ONLY)
    keys.create("ci", READ_ONLY)
    credentials.write(admin, "000000000000")
    before = credentials.path.read_bytes()
    keys.rotate("ci")
    assert credentials.path.read_bytes() == before


def test_rotate_does_not_create_a_missing_credentials_file(
    engine: Engine, master: MasterKey, tmp_path: Path
) -> None:
    credentials = CredentialsFile(tmp_path / "credentials")
    keys = fresh_ring(engine, master, credentials=credentials)
    keys.create("ci", READ_ONLY)
    keys.rotate("ci")
    assert not credentials.path.exists()


def test_delete_forgets_the_key_here_and_in_the_database(
    ring: KeyRing, engine: Engine, master: MasterKey
) -> None:
    gone = ring.create("ci", READ_ONLY)
    kept = ring.create("deployer", DEPLOYER)
    assert ring.delete("ci") == gone
    assert ring.find(gone.access_key_id) is None
    with pytest.raises(ResourceNotFound, match="Access key not found: ci"):
        ring.named("ci")
    assert fresh_ring(engine, master).all() == [kept]
    # The name is free again.
    assert ring.create("ci", READ_ONLY).access_key_id != gone.access_key_id


@pytest.mark.parametrize("operation", [KeyRing.rotate, KeyRing.delete, KeyRing.named])
def test_an_unknown_name_is_not_found(ring: KeyRing, operation: Any) -> None:
    ring.create("ci", READ_ONLY)
    with pytest.raises(ResourceNotFound, match="Access key not found: nobody"):
        operation(ring, "nobody")


REQUESTS = [
    ("lambda:GetFunction", FN + "team-a"),
    ("lambda:InvokeFunction", FN + "team-a"),
    ("lambda:InvokeFunction", FN + "team-a:prod"),
    ("lambda:DeleteFunction", FN + "team-a"),
    ("lambda:InvokeFunction", FN + "other"),
    ("LAMBDA:INVOKEFUNCTION", FN + "team-b"),
    ("iam:GetUser", FN + "team-a"),
]


def test_cached_decisions_answer_like_the_policy(ring: KeyRing) -> None:
    key = ring.create("deployer", DEPLOYER)
    first = [key.allows(action, resource) for action, resource in REQUESTS]
    assert first == [key.policy.allows(action, resource) for action, resource in REQUESTS]
    assert first == [True, True, True, False, False, True, False]
    assert [key.allows(action, resource) for action, resource in REQUESTS] == first


def test_the_decision_cache_stays_bounded(ring: KeyRing) -> None:
    key = ring.create("deployer", DEPLOYER)
    for index in range(MAX_DECISIONS + 100):
        resource = FN + (f"team-{index}" if index % 2 else f"other-{index}")
        assert key.allows("lambda:InvokeFunction", resource) is bool(index % 2)
        assert len(_decisions(key)) <= MAX_DECISIONS
    assert [key.allows(a, r) for a, r in REQUESTS] == [key.policy.allows(a, r) for a, r in REQUESTS]


def _decisions(key: AccessKey) -> dict[tuple[str, str], bool]:
    return key._decisions


def test_a_policy_over_iams_size_limit_is_refused(ring: KeyRing) -> None:
    statements = [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": f"function:f{i:04d}"}
        for i in range(200)
    ]
    with pytest.raises(InvalidParameterValue, match=r"at most 10240 \(IAM's limit"):
        ring.create("big", {"Statement": statements})
    assert ring.all() == []


def test_a_draft_signs_nothing_until_it_is_stored(ring: KeyRing) -> None:
    draft = ring.draft(
        "later", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    assert ring.find(draft.access_key_id) is None
    ring.store(draft)
    assert ring.find(draft.access_key_id) == draft
