"""Settings for the audit log, rate limits, the records journal and the runtimes: read from
the file and the environment, and refused with a message naming the key when they cannot be
used."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

import faas.config
from faas.config import ConfigError, RateLimitSettings, Settings, load
from faas.domain import Bucket
from faas.runtimes import CustomRuntime

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_config_file_holds_the_built_in_defaults() -> None:
    documented = load(ROOT / "config.toml")
    assert documented.server.trusted_proxies == ()
    assert documented.auth == Settings().auth
    assert documented.rate_limits == RateLimitSettings()
    assert documented.pool == Settings().pool
    assert documented.store == Settings().store
    assert documented.sandbox == Settings().sandbox
    assert documented.filewatch == Settings().filewatch
    assert documented.schedules == Settings().schedules
    assert documented.billing == Settings().billing
    assert documented.billing.prices().per_gb_second == Decimal("0.0000166667")
    assert documented.buckets == {}


def test_trusted_proxies_from_a_toml_list_or_a_comma_separated_variable(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n')
    assert load(config).server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    from_environment = load(environ={"FAAS_SERVER_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    assert from_environment.server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"FAAS_SERVER_TRUSTED_PROXIES": "proxy.example"}, "server.trusted_proxies"),
        ({"FAAS_AUTH_AUDIT_RETENTION_DAYS": "-1"}, "auth.audit_retention_days"),
        ({"FAAS_AUTH_AUDIT_RETENTION_INTERVAL_S": "0"}, "auth.audit_retention_interval_s"),
        ({"FAAS_RATE_LIMITS_MANAGEMENT_PER_S": "-5"}, "rate_limits.management_per_s"),
        ({"FAAS_RATE_LIMITS_INVOKE_BURST": "-1"}, "rate_limits.invoke_burst"),
        ({"FAAS_RATE_LIMITS_INVOKE_PER_S": "fast"}, "rate_limits.invoke_per_s"),
        ({"FAAS_POOL_FREEZE_AFTER_MS": "-1"}, "pool.freeze_after_ms"),
        ({"FAAS_POOL_MEMORY_WAIT_MS": "-1"}, "pool.memory_wait_ms"),
        ({"FAAS_STORE_DURABILITY": "sometimes"}, "store.durability"),
        ({"FAAS_STORE_INGEST_INTERVAL_S": "0"}, "store.ingest_interval_s"),
        ({"FAAS_STORE_JOURNAL_SEGMENT_KB": "0"}, "store.journal_segment_kb"),
    ],
)
def test_unusable_values_are_refused_by_name(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load(environ=environ)


def test_rate_limits_from_the_environment() -> None:
    limits = load(
        environ={"FAAS_RATE_LIMITS_INVOKE_PER_S": "0.5", "FAAS_RATE_LIMITS_MANAGEMENT_BURST": "7"}
    ).rate_limits
    assert (limits.invoke_per_s, limits.management_burst) == (0.5, 7)


def test_buckets_from_config_toml(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[buckets]\nphotos = "/srv/photos"\nthumbs = { path = "/srv/thumbs", writable = true }\n'
    )
    buckets = load(config).buckets
    assert buckets["photos"] == Bucket("photos", "/srv/photos", False, "config")
    assert buckets["thumbs"] == Bucket("thumbs", "/srv/thumbs", True, "config")


@pytest.mark.parametrize(
    "entry", ["photos = 3", 'photos = { path = "/x", writable = "yes" }', 'photos = { dir = "/x" }']
)
def test_a_bucket_entry_that_is_neither_a_path_nor_a_table_is_refused(
    tmp_path: Path, entry: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[buckets]\n{entry}\n")
    with pytest.raises(ConfigError, match=r"\[buckets\] photos"):
        load(config)


def test_file_watch_timings_are_checked() -> None:
    with pytest.raises(ConfigError, match="quiet_period_ms"):
        load(environ={"FAAS_FILEWATCH_QUIET_PERIOD_MS": "-1"})


def test_the_serving_interpreter_comes_first_then_the_custom_runtimes() -> None:
    own = f"python{sys.version_info.major}.{sys.version_info.minor}"
    settings = load(overrides={"runtimes.python3.99": "/opt/python3.99/bin/python3"})
    offered = settings.available_runtimes()
    assert list(offered)[:2] == [own, "python3.99"]
    # Custom runtimes are hosted by the serving interpreter's zygote (their supervisor).
    assert offered["provided.al2023"] == offered["provided.al2"] == sys.executable


def test_a_custom_runtime_whose_program_is_missing_is_not_offered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = (
        CustomRuntime("provided.al2023"),
        CustomRuntime("nothere1.x", ("faas-no-such-program", "{runtime_dir}/x/bootstrap.js")),
        CustomRuntime("shell1.x", ("sh", "{runtime_dir}/x/bootstrap.sh")),
    )
    monkeypatch.setattr(faas.config, "CUSTOM_RUNTIMES", table)
    offered = load().available_runtimes()
    assert "provided.al2023" in offered
    assert "shell1.x" in offered
    assert "nothere1.x" not in offered
    assert table[2].argv("/var/runtime") == ["sh", "/var/runtime/x/bootstrap.sh"]
