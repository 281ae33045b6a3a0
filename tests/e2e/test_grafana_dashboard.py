"""deploy/grafana/faas-dashboard.json queries only metrics a real server exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers.server import FaasServer

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "faas-dashboard.json"
# Prometheus adds these to a histogram's and a counter's family name.
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def queried_metrics() -> set[str]:
    document = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in document["panels"] for t in panel["targets"]]
    expressions += [v["query"] for v in document["templating"]["list"] if v["type"] == "query"]
    return {name for expr in expressions for name in re.findall(r"\bfaas_[a-z_]+", expr)}


def test_every_metric_the_dashboard_queries_exists(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data")
    try:
        server.deploy("hello", {"app.py": "def handler(event, context):\n    return 1\n"})
        server.invoke("hello")
        with server.urlopen(server.url + "/metrics") as response:
            exported = response.read().decode()
    finally:
        server.stop()
    # Every family is declared (# TYPE), samples or not (no async queue, no dead letters).
    families = set(re.findall(r"^# TYPE (faas_[a-z_]+) ", exported, flags=re.MULTILINE))
    wanted = queried_metrics()
    assert wanted, "the dashboard queries no faas metric"
    missing = sorted(m for m in wanted if m not in families and _family(m) not in families)
    assert not missing, f"the dashboard queries metrics the server does not export: {missing}"


def _family(series: str) -> str:
    for suffix in SUFFIXES:
        if series.endswith(suffix):
            return series.removesuffix(suffix)
    return series
