"""The files of deploy/, checked by the real tools that read them: systemd-analyze (the
unit), docker-compose (the compose file), nginx (the TLS proxy, with a certificate made
here), shellcheck (the scripts); and the rules that tie them to faas's own settings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from faas.config import load
from tests.helpers.deploy_tools import require_tool
from tests.helpers.systemd_unit import Unit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "faas.service"
COMPOSE = DEPLOY / "container" / "compose.yaml"
NGINX = DEPLOY / "nginx" / "faas.conf"
LONGEST_TIMEOUT_S = 900  # a function's largest Timeout


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    # verify also checks that ExecStart's program is there: this Python stands in for the
    # installed /opt/faas/bin/faas.
    rendered = tmp_path / "faas.service"
    rendered.write_text(UNIT.read_text().replace("/opt/faas/bin/faas", sys.executable))
    checked = run(analyze, "verify", rendered)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout + checked.stderr == ""  # unknown keys are only warned about


def test_systemd_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    rendered = tmp_path / "faas.service"
    rendered.write_text(UNIT.read_text())  # /opt/faas/bin/faas is not installed here
    checked = run(analyze, "verify", rendered)
    assert "/opt/faas/bin/faas" in checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("config", "stop_timeout_s"),
    [
        (DEPLOY / "systemd" / "config.toml", float(Unit.read(UNIT).one("Service.TimeoutStopSec"))),
        (DEPLOY / "container" / "config.toml", 45.0),
    ],
)
def test_a_stop_outlasts_the_grace_faas_gives_running_invocations(
    config: Path, stop_timeout_s: float
) -> None:
    grace_s = load(config, {}).server.shutdown_grace_s
    assert stop_timeout_s > grace_s
    if "container" in str(config):
        assert f"stop_grace_period: {int(stop_timeout_s)}s" in COMPOSE.read_text()


def test_the_unit_stops_faas_alone_and_delegates_its_cgroup() -> None:
    unit = Unit.read(UNIT)
    assert unit.one("Service.KillSignal") == "SIGTERM"
    assert unit.one("Service.KillMode") == "mixed"  # not every worker at once
    assert unit.one("Service.Delegate") == "yes"
    assert "--data-dir ${STATE_DIRECTORY}" in unit.one("Service.ExecStart")


@pytest.mark.parametrize("profile", [[], ["--profile", "postgres"]])
def test_docker_compose_accepts_the_compose_file(profile: list[str]) -> None:
    compose = require_tool("docker-compose", "docker-compose")
    checked = run(compose, "-f", COMPOSE, *profile, "config", cwd=COMPOSE.parent)
    assert checked.returncode == 0, checked.stderr
    assert "privileged: true" in checked.stdout
    assert "profiles:\n    - postgres" in checked.stdout  # PostgreSQL only when asked for


def test_nginx_accepts_the_proxy_rendered_for_loopback(tmp_path: Path) -> None:
    nginx = require_tool("nginx", "nginx")
    openssl = require_tool("openssl", "openssl")
    made = run(
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-keyout", tmp_path / "key.pem", "-out", tmp_path / "cert.pem",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    site = NGINX.read_text()
    site = site.replace("/etc/ssl/faas/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/ssl/faas/privkey.pem", str(tmp_path / "key.pem"))
    site = site.replace("server_name faas.example.com", "server_name localhost")
    (tmp_path / "faas.conf").write_text(site)
    temp_paths = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        f"http {{ access_log off; {temp_paths} include {tmp_path / 'faas.conf'}; }}\n"
    )
    checked = run(
        nginx, "-t", "-p", tmp_path, "-c", tmp_path / "nginx.conf", "-e", tmp_path / "error.log"
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_the_proxy_keeps_what_signatures_and_long_invocations_need() -> None:
    site = NGINX.read_text()
    assert "proxy_set_header Host $http_host;" in site  # SigV4 signs Host
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in site
    body_mb = int(re.search(r"client_max_body_size (\d+)m;", site).group(1))  # type: ignore[union-attr]
    assert body_mb >= load(None, {}).server.max_request_mb
    for directive in ("proxy_read_timeout", "proxy_send_timeout", "send_timeout"):
        seconds = int(re.search(rf"\n    {directive} (\d+)s;", site).group(1))  # type: ignore[union-attr]
        assert seconds > LONGEST_TIMEOUT_S, directive
    follow = site[site.index("location ~ ^/faas/v1/logs/") :]
    assert "proxy_buffering off;" in follow[: follow.index("}")]


def test_shellcheck_finds_nothing_in_the_scripts() -> None:
    shellcheck = require_tool("shellcheck", "shellcheck")
    scripts = sorted(DEPLOY.rglob("*.sh"))
    assert scripts
    checked = run(shellcheck, *scripts)
    assert checked.returncode == 0, checked.stdout
