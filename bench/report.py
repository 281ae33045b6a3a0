"""Turn one run's results into the markdown tables and the target verdicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

Results = Mapping[str, Any]


def dig(results: Results, *path: str) -> Any:
    """results[p0][p1]...; None when any step is missing (a scenario left out by --only)."""
    node: Any = results
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def ratio(numerator: Any, denominator: Any) -> float | None:
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float):
        return None
    return round(numerator / denominator, 2) if denominator else None


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}{unit}" if value < 100 else f"{value:,.0f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return str(value)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# -- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: Callable[[Results], Any]
    met: Callable[[Any], bool]
    unit: str = ""


def _hello(results: Results, side: str, level: str, field: str) -> Any:
    return dig(results, side, "hello", level, field)


def _p50_ratio(r: Results) -> Any:
    return ratio(_hello(r, "b", "c1", "p50_ms"), _hello(r, "a", "c1", "p50_ms"))


def _records_ratio(r: Results) -> Any:
    return ratio(dig(r, "g", "records_on", "rps"), dig(r, "g", "records_off", "rps"))


def _functions_ratio(r: Results) -> Any:
    counts = dig(r, "f") or {}
    if len(counts) < 2:
        return None
    largest = max(counts, key=int)
    return ratio(dig(r, "f", largest, "rps"), dig(r, "f", "1", "rps"))


def _snapshot_heavy(r: Results) -> Any:
    # A new worker of a function whose snapshot exists: what snapshot start is for (the
    # very first invoke runs the template's init and cannot be faster than the imports).
    variant = dig(r, "d", "heavy", "with_snapshot")
    return dig(variant, "new_worker", "p50_ms") if isinstance(variant, Mapping) else variant


def _file_drain_ratio(r: Results) -> Any:
    return ratio(dig(r, "n", "drain", "events_per_s"), dig(r, "m", "drain_rps"))


# The promise is about a month of this many records: a run with fewer (--quick) measures
# the same path but cannot say whether it holds.
PROMISED_MONTH_RECORDS = 5_000_000


def _month_bill_max(r: Results) -> Any:
    records = dig(r, "o", "records")
    if not isinstance(records, int) or records < PROMISED_MONTH_RECORDS:
        return None
    return dig(r, "o", "bill", "max_ms")


def _retention_growth_percent(r: Results) -> Any:
    """The database file's growth over the last half. The WAL beside it is not the database
    growing: SQLite keeps its high-water mark and the checkpointer cuts it back to
    store.wal_limit_mb, a bound of its own (the next target)."""
    growth = dig(r, "p", "with_retention", "db_growth_last_half")
    return round(growth * 100, 2) if isinstance(growth, int | float) else None


def _retention_wal_peak(r: Results) -> Any:
    return dig(r, "p", "with_retention", "wal_mb_peak")


# store.wal_limit_mb's default: the size the checkpointer cuts the WAL back to.
WAL_LIMIT_MB = 64

TARGETS = (
    Target(
        "warm hello throughput c=32 >= 0.4x baseline",
        lambda r: ratio(_hello(r, "b", "c32", "rps"), _hello(r, "a", "c32", "rps")),
        lambda v: v >= 0.4,
        "x",
    ),
    Target(
        "warm hello throughput c=32 >= 1.3x serverless-offline",
        lambda r: ratio(dig(r, "l", "faas", "c32", "rps"), dig(r, "l", "peer", "c32", "rps")),
        lambda v: v >= 1.3,
        "x",
    ),
    Target(
        "p99 while a fresh function ramps to 64 callers < 30 ms",
        lambda r: dig(r, "k", "ramp", "p99_ms"),
        lambda v: v < 30,
        " ms",
    ),
    Target("warm hello p50 c=1 <= 2x baseline p50", _p50_ratio, lambda v: v <= 2.0, "x"),
    Target(
        "warm hello p99 c=1 < 1 ms",
        lambda r: _hello(r, "b", "c1", "p99_ms"),
        lambda v: v < 1,
        " ms",
    ),
    Target(
        "warm hello p99 c=32 < 10 ms",
        lambda r: _hello(r, "b", "c32", "p99_ms"),
        lambda v: v < 10,
        " ms",
    ),
    Target("records on >= 0.9x records off throughput", _records_ratio, lambda v: v >= 0.9, "x"),
    Target(
        "CPU-bound c=8 >= 1.7x baseline throughput",
        lambda r: ratio(dig(r, "c", "cpu_c8", "rps"), dig(r, "a", "cpu_c8", "rps")),
        lambda v: v >= 1.7,
        "x",
    ),
    Target(
        "cold start p50 hello < 5 ms",
        lambda r: dig(r, "d", "hello", "without_snapshot", "cold", "p50_ms"),
        lambda v: v < 5,
        " ms",
    ),
    Target(
        "snapshot start, heavy-import new worker p50 < 10 ms",
        _snapshot_heavy,
        lambda v: v < 10,
        " ms",
    ),
    Target("idle warm worker USS < 3 MB", lambda r: dig(r, "e", "uss_mb"), lambda v: v < 3, " MB"),
    Target(
        "most functions: throughput within 10% of 1 function",
        _functions_ratio,
        lambda v: v >= 0.9,
        "x",
    ),
    Target(
        "file events: close-to-start latency minus the quiet period p50 < 50 ms",
        lambda r: dig(r, "n", "latency", "latency_minus_quiet_p50_ms"),
        lambda v: v < 50,
        " ms",
    ),
    Target("file events drain >= 0.5x async drain (m)", _file_drain_ratio, lambda v: v >= 0.5, "x"),
    Target(
        "a month of 5M records billed < 1 s (max of the bill requests)",
        _month_bill_max,
        lambda v: v < 1000,
        " ms",
    ),
    Target(
        "DB file flat under steady load with retention (growth over the last half < 5 %)",
        _retention_growth_percent,
        lambda v: v < 5,
        " %",
    ),
    Target(
        "the WAL beside it stays under store.wal_limit_mb (64 MB) meanwhile",
        _retention_wal_peak,
        lambda v: v < WAL_LIMIT_MB,
        " MB",
    ),
)


def evaluate(results: Results) -> list[dict[str, Any]]:
    verdicts = []
    for target in TARGETS:
        value = target.measured(results)
        numeric = isinstance(value, int | float)
        verdict = ("MET" if target.met(value) else "NOT MET") if numeric else "n/a"
        verdicts.append(
            {"target": target.name, "value": value, "unit": target.unit, "verdict": verdict}
        )
    return verdicts


# -- tables ----------------------------------------------------------------------------------


def machine_lines(machine: Mapping[str, Any]) -> list[str]:
    return [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; RAM {machine['ram_gb']} GB",
        f"- Kernel: {machine['kernel']}; Python {machine['python']}; "
        f"1-minute load average at start: {machine.get('load_avg_1m_at_start', 'n/a')}",
        f"- Load generator: {machine['load_generator']} (same for baseline and faas)",
        f"- Network of the run: {machine.get('network', 'the host')}",
    ]


def warm_rows(results: Results) -> list[list[str]]:
    rows = []
    for level in ("c1", "c8", "c32", "c64"):
        base, faas = _hello(results, "a", level, "rps"), _hello(results, "b", level, "rps")
        rows.append(
            [
                f"hello req/s {level.replace('c', 'c=')}",
                fmt(base),
                fmt(faas),
                fmt(ratio(faas, base), "x"),
            ]
        )
    for level in ("c1", "c32"):
        for field in ("p50_ms", "p99_ms"):
            base, faas = _hello(results, "a", level, field), _hello(results, "b", level, field)
            label = f"hello {field.replace('_ms', '')} ms {level.replace('c', 'c=')}"
            rows.append([label, fmt(base), fmt(faas), fmt(ratio(faas, base), "x")])
    base, faas = dig(results, "a", "cpu_c8", "rps"), dig(results, "c", "cpu_c8", "rps")
    rows.append(["~5 ms CPU handler req/s c=8", fmt(base), fmt(faas), fmt(ratio(faas, base), "x")])
    return rows


def _cold_row(results: Results, kind: str, variant: str) -> list[str]:
    data = dig(results, "d", kind, variant)
    label = [kind, variant.replace("_", " ")]
    if not isinstance(data, Mapping):
        return [*label, fmt(data), "", "", "", "", "", ""]
    return [
        *label,
        fmt(dig(data, "cold", "p50_ms")),
        fmt(dig(data, "cold", "p99_ms")),
        fmt(dig(data, "cold_back_to_back", "p50_ms")),
        fmt(dig(data, "new_worker", "p50_ms")),
        fmt(dig(data, "new_worker", "p99_ms")),
        fmt(dig(data, "scale_out", "p50_ms")),
        fmt(dig(data, "scale_out", "p99_ms")),
    ]


def cold_lines(results: Results) -> list[str]:
    header = [
        "handler",
        "snapshot start",
        "cold p50 ms",
        "cold p99 ms",
        "back-to-back cold p50 ms",
        "new worker p50 ms",
        "new worker p99 ms",
        "scale-out p50 ms",
        "scale-out p99 ms",
    ]
    rows = [
        _cold_row(results, k, v)
        for k in ("hello", "heavy")
        for v in ("without_snapshot", "with_snapshot")
    ]
    lines = table(header, rows)
    n = dig(results, "d", "hello", "without_snapshot", "cold", "n")
    burst = dig(results, "d", "hello", "without_snapshot", "scale_out", "n")
    import_ms = dig(results, "d", "heavy_import_ms")
    lines.append("")
    lines.append(
        f"Cold: first invoke of {fmt(n)} freshly deployed functions each, one at a time, "
        f"{fmt(dig(results, 'd', 'cold_gap_ms'))} ms apart (back-to-back: no pause, so the "
        "background refill of spare processes and /tmp images falls behind); new worker: an invoke "
        "of a function already used, after its idle worker was reaped (with snapshot start: "
        f"forked from the template); scale-out: {fmt(burst)} "
        "invokes fired in concurrent bursts at a function with one warm worker. "
        f"Importing the heavy module set alone takes {fmt(import_ms)} ms "
        "in a fresh isolated interpreter."
    )
    return lines


def memory_lines(results: Results) -> list[str]:
    e = dig(results, "e") or {}
    row = [
        fmt(e.get("workers")),
        fmt(e.get("uss_mb")),
        fmt(e.get("pss_mb")),
        fmt(e.get("rss_mb")),
        fmt(e.get("workers_per_gb")),
    ]
    return table(
        ["idle warm workers", "USS MB (median)", "PSS MB", "RSS MB", "workers per GB (1024/USS)"],
        [row],
    )


def functions_lines(results: Results) -> list[str]:
    counts = dig(results, "f") or {}
    one = dig(results, "f", "1", "rps")
    rows = [
        [
            fmt(int(count)),
            fmt(data.get("rps")),
            fmt(data.get("p99_ms")),
            fmt(ratio(data.get("rps"), one), "x"),
            fmt(data.get("deploy_s")),
            ", ".join(fmt(rps) for rps in data.get("rps_runs", [])),
        ]
        for count, data in counts.items()
    ]
    header = ["deployed functions", "hello req/s c=32 (median)", "p99 ms", "vs 1 function"]
    return table([*header, "deploy s", "req/s of each run"], rows)


def records_lines(results: Results) -> list[str]:
    rows = []
    for label in ("records_on", "records_off"):
        data = dig(results, "g", label) or {}
        rows.append(
            [
                label.replace("_", " "),
                fmt(data.get("rps")),
                fmt(data.get("p50_ms")),
                fmt(data.get("p99_ms")),
                fmt(data.get("gateway_cpu_us")),
                ", ".join(fmt(v) for v in data.get("rps_runs") or []),
            ]
        )
    on = dig(results, "g", "records_on", "rps")
    off = dig(results, "g", "records_off", "rps")
    header = [
        "durable records",
        "hello req/s c=32 (median)",
        "p50 ms",
        "p99 ms",
        "gateway CPU us/req",
        "req/s of each run",
    ]
    return [*table(header, rows), "", f"Records on / off at c=32: {fmt(ratio(on, off), 'x')}"]


def auth_lines(results: Results) -> list[str]:
    rows = []
    for label, shown in (("signed", "signed, verified (default)"), ("auth_off", "auth off")):
        data = dig(results, "h", label) or {}
        rows.append(
            [
                shown,
                fmt(dig(data, "c1", "p50_ms")),
                fmt(dig(data, "c1", "gateway_cpu_us")),
                fmt(dig(data, "c32", "rps")),
                fmt(dig(data, "c32", "p99_ms")),
                fmt(dig(data, "c32", "gateway_cpu_us")),
                ", ".join(fmt(v) for v in dig(data, "c32", "rps_runs") or []),
            ]
        )
    signed = dig(results, "h", "signed", "c32", "rps")
    off = dig(results, "h", "auth_off", "c32", "rps")
    header = [
        "requests",
        "p50 ms c=1",
        "gateway CPU us/req c=1",
        "hello req/s c=32 (median)",
        "p99 ms c=32",
        "gateway CPU us/req c=32",
        "req/s of each run",
    ]
    return [*table(header, rows), "", f"Signed / auth off at c=32: {fmt(ratio(signed, off), 'x')}"]


def network_lines(results: Results) -> list[str]:
    rows = []
    for mode, shown in (("host", "host network (before)"), ("egress", "egress (default)")):
        data = dig(results, "i", mode) or {}
        rows.append(
            [
                shown if data.get("layer_active", True) else f"{shown}, no layer",
                fmt(dig(data, "cold", "p50_ms")),
                fmt(dig(data, "cold", "p99_ms")),
                fmt(dig(data, "c32", "rps")),
                fmt(dig(data, "c32", "p99_ms")),
                ", ".join(fmt(v) for v in dig(data, "c32", "rps_runs") or []),
            ]
        )
    host = dig(results, "i", "host", "c32", "rps")
    egress = dig(results, "i", "egress", "c32", "rps")
    header = [
        "FaasNetwork",
        "cold p50 ms",
        "cold p99 ms",
        "hello req/s c=32 (median)",
        "p99 ms c=32",
        "req/s of each run",
    ]
    return [*table(header, rows), "", f"Egress / host at c=32: {fmt(ratio(egress, host), 'x')}"]


def freeze_lines(results: Results) -> list[str]:
    rows = []
    shown = {
        "warm": "after a short pause (never frozen)",
        "frozen": "after a long pause, frozen (thawed first)",
        "paused_unfrozen": "after a long pause, freezing off",
    }
    for label, description in shown.items():
        data = dig(results, "j", label) or {}
        rows.append(
            [
                description,
                fmt(data.get("pause_ms")),
                fmt(data.get("p50_ms")),
                fmt(data.get("p99_ms")),
                fmt(data.get("n")),
            ]
        )
    frozen = dig(results, "j", "frozen", "p50_ms")
    unfrozen = dig(results, "j", "paused_unfrozen", "p50_ms")
    thaw = round(frozen - unfrozen, 2) if frozen is not None and unfrozen is not None else None
    header = ["hello invoke", "pause ms", "p50 ms", "p99 ms", "n"]
    return [
        *table(header, rows),
        "",
        f"Thaw cost at p50 (frozen - same pause unfrozen): {fmt(thaw, ' ms')}",
    ]


def burst_lines(results: Results) -> list[str]:
    rows = []
    for phase, shown in (("ramp", "first run: from idle (the ramp)"), ("steady", "second run")):
        data = dig(results, "k", phase) or {}
        rows.append(
            [
                shown,
                fmt(data.get("rps")),
                fmt(data.get("p50_ms")),
                fmt(data.get("p99_ms")),
                fmt(data.get("errors")),
            ]
        )
    runs = ", ".join(fmt(v) for v in dig(results, "k", "ramp_p99_runs") or [])
    header = ["hello, 64 callers at a fresh function", "req/s", "p50 ms", "p99 ms", "errors"]
    return [*table(header, rows), "", f"Ramp p99 of each run (the median run shown): {runs}"]


def peer_lines(results: Results) -> list[str]:
    unavailable = dig(results, "l", "unavailable")
    if unavailable is not None:
        return [f"n/a ({unavailable})"]
    rows = []
    for label in ("peer", "faas"):
        data = dig(results, "l", label) or {}
        shown = f"{data.get('name', 'serverless-offline')} (peer)" if label == "peer" else "faas"
        rows.append(
            [
                shown,
                fmt(dig(data, "c1", "rps")),
                f"{fmt(dig(data, 'c1', 'p50_ms'))} / {fmt(dig(data, 'c1', 'p99_ms'))}",
                fmt(dig(data, "c32", "rps")),
                fmt(dig(data, "c32", "p50_ms")),
                fmt(dig(data, "c32", "p99_ms")),
                ", ".join(fmt(v) for v in dig(data, "c32", "rps_runs") or []),
            ]
        )
    faas = dig(results, "l", "faas", "c32", "rps")
    offline = dig(results, "l", "peer", "c32", "rps")
    header = [
        "hello",
        "req/s c=1",
        "p50 / p99 ms c=1",
        "req/s c=32 (median)",
        "p50 ms c=32",
        "p99 ms c=32",
        "req/s of each run",
    ]
    python = dig(results, "l", "peer", "python")
    warm = dig(results, "l", "peer", "warm_python_processes")
    return [
        *table(header, rows),
        "",
        f"faas / serverless-offline at c=32: {fmt(ratio(faas, offline), 'x')}",
        "",
        f"The peer ran the handler with {fmt(python)}; {fmt(warm)} warm Python processes "
        "under it after the c=32 runs (one per concurrent request, each reused).",
    ]


def target_lines(verdicts: list[dict[str, Any]]) -> list[str]:
    rows = []
    for verdict in verdicts:
        value = verdict["value"]
        shown = fmt(value, verdict["unit"]) if isinstance(value, int | float) else fmt(value)
        rows.append([verdict["target"], shown, f"**{verdict['verdict']}**"])
    return table(["target", "measured", "verdict"], rows)


def async_lines(results: Results) -> list[str]:
    data = dig(results, "m")
    if not isinstance(data, Mapping):
        return ["n/a"]
    header = [
        "hello",
        "accepted 202/s c=32",
        "p99 ms (202)",
        "events",
        "drained events/s",
        "drain s",
        "sync req/s c=32 (same server)",
    ]
    row = [
        "async",
        fmt(dig(data, "enqueue", "rps")),
        fmt(dig(data, "enqueue", "p99_ms")),
        fmt(data.get("accepted")),
        fmt(data.get("drain_rps")),
        fmt(data.get("drain_s")),
        fmt(dig(data, "sync", "rps")),
    ]
    lines = table(header, [row])
    drained = ratio(data.get("drain_rps"), dig(data, "sync", "rps"))
    accepted = ratio(dig(data, "enqueue", "rps"), dig(data, "sync", "rps"))
    lines += [
        "",
        f"Accepting / synchronous: {fmt(accepted, 'x')}; running queued events / synchronous: "
        f"{fmt(drained, 'x')}. Accepting: a server with queue.dispatch off (each 202 after a "
        "group commit); running: the same data directory on a server with dispatch on, from "
        "its start to an empty queue.",
    ]
    return lines


def file_event_lines(results: Results) -> list[str]:
    data = dig(results, "n")
    if not isinstance(data, Mapping):
        return ["n/a"]
    rows = []
    for label in ("drain", "drain_default_quiet"):
        run = data.get(label) or {}
        rows.append(
            [
                f"{fmt(run.get('files'))} files at once",
                fmt(run.get("quiet_period_ms")),
                fmt(run.get("events_per_s")),
                fmt(run.get("elapsed_s")),
                fmt(run.get("queued_s")),
                fmt(run.get("write_s")),
                fmt(run.get("ran_when_queued")),
                fmt(run.get("after_queued_events_per_s")),
                f"{fmt(run.get('delivered'))} / {fmt(run.get('invoked'))}",
                fmt(run.get("gateway_cpu_ms_per_event")),
            ]
        )
    header = [
        "drain",
        "quiet period ms",
        "events/s (first write to last run)",
        "s",
        "all queued s",
        "writing s",
        "run by then",
        "events/s after",
        "queued / invoked",
        "gateway CPU ms/event",
    ]
    lines = table(header, rows)
    latency = data.get("latency") or {}
    lines += [
        "",
        *table(
            ["one file at a time", "quiet period ms", "p50 ms", "p99 ms", "max ms", "n"],
            [
                [
                    "close() to invocation start",
                    fmt(latency.get("quiet_period_ms")),
                    fmt(latency.get("p50_ms")),
                    fmt(latency.get("p99_ms")),
                    fmt(latency.get("max_ms")),
                    fmt(latency.get("n")),
                ]
            ],
        ),
    ]
    rate = dig(data, "drain", "events_per_s")
    lines += [
        "",
        f"Latency minus the quiet period at p50: "
        f"{fmt(latency.get('latency_minus_quiet_p50_ms'), ' ms')} (StartTime has whole "
        "milliseconds). File events / async drain (m): "
        f"{fmt(ratio(rate, dig(results, 'm', 'drain_rps')), 'x')}; file events / baseline "
        f"hello req/s c=1: {fmt(ratio(rate, _hello(results, 'a', 'c1', 'rps')), 'x')}. "
        "A file is complete once unchanged for the quiet period after its close "
        "(filewatch.quiet_period_ms, 200 ms by default): every file waits that long before "
        "it is queued.",
    ]
    return lines


def month_bill_lines(results: Results) -> list[str]:
    data = dig(results, "o")
    if not isinstance(data, Mapping):
        return ["n/a"]
    fill = [
        fmt(data.get("month")),
        fmt(data.get("records")),
        fmt(data.get("functions")),
        fmt(data.get("fill_s")),
        fmt(data.get("fill_rows_per_s")),
        fmt(data.get("ingest_rows_per_s")),
        fmt(data.get("db_mb")),
        fmt(data.get("bytes_per_record")),
    ]
    header = [
        "month",
        "records",
        "functions",
        "fill s",
        "records/s (fill)",
        "records/s (ingester statements)",
        "DB MB",
        "bytes/record",
    ]
    rows = [
        _summary_row("GET /faas/v1/billing (rollups; HTTP, signed)", data.get("bill") or {}),
        _summary_row("plain SQL: the month's rows summed", data.get("plain_sql") or {}),
    ]
    timing = ["the month's totals", "p50 ms", "p99 ms", "max ms", "n"]
    return [
        *table(header, [fill]),
        "",
        *table(timing, rows),
        "",
        f"The bill counted {fmt(data.get('bill_requests'))} requests for "
        f"{fmt(data.get('records'))} records, and each function's line equals the sum over "
        "its rows. Plain sum / bill at p50: "
        f"{fmt(data.get('plain_over_bill_p50'), 'x')}. Filled through the records ingester's "
        "own statements (rows and monthly rollups in one transaction per 20,000 records) into "
        "a database made by faas's migrations; the server keeps records forever here (the "
        "month is past the default retention).",
    ]


def _summary_row(label: str, data: Mapping[str, Any]) -> list[str]:
    return [
        label,
        fmt(data.get("p50_ms")),
        fmt(data.get("p99_ms")),
        fmt(data.get("max_ms")),
        fmt(data.get("n")),
    ]


def _seconds(value: Any) -> str:
    return f"{value:g} s" if isinstance(value, int | float) else "n/a"


def _percent(fraction: Any) -> str:
    return fmt(round(fraction * 100, 1), " %") if isinstance(fraction, int | float) else "n/a"


def retention_lines(results: Results) -> list[str]:
    data = dig(results, "p")
    if not isinstance(data, Mapping):
        return ["n/a"]
    runs = (
        ("with_retention", _seconds(data.get("retention_s"))),
        ("retention_off", "forever (retention 0)"),
    )
    rows = []
    for label, kept in runs:
        run = data.get(label) or {}
        rows.append(
            [
                kept,
                fmt(run.get("rps")),
                fmt(run.get("p99_ms")),
                fmt(run.get("rows_end")),
                fmt(run.get("retention_applied_at_s")),
                fmt(run.get("total_mb_when_applied")),
                fmt(run.get("total_mb_middle")),
                fmt(run.get("total_mb_end")),
                _percent(run.get("growth_last_half")),
                _percent(run.get("db_growth_last_half")),
                _percent(run.get("rows_growth_last_half")),
                fmt(run.get("journal_segments_max")),
            ]
        )
    header = [
        "records kept",
        "hello req/s c=8",
        "p99 ms",
        "rows at the end",
        "first deleted at s",
        "MB then",
        "MB at mid-run",
        "MB at the end",
        "growth, last half (DB + WAL)",
        "growth, last half (DB file)",
        "growth, last half (rows)",
        "journal segments (most)",
    ]
    return [
        *table(header, rows),
        "",
        f"{_seconds(data.get('duration_s'))} of c={fmt(data.get('connections'))} hello per "
        "server; MB is the database file plus its WAL, sampled while the load ran; the journal "
        "holds the records answered but not yet in the database (a 16 MB segment is deleted "
        "once stored: more than one or two segments would mean the ingester falls behind):",
        "",
        *_series(data),
    ]


def _series(data: Mapping[str, Any]) -> list[str]:
    kept: list[Mapping[str, Any]] = dig(data, "with_retention", "samples") or []
    forever: list[Mapping[str, Any]] = dig(data, "retention_off", "samples") or []
    empty: Mapping[str, Any] = {}
    rows = []
    for one, other in zip_longest(kept, forever, fillvalue=empty):
        rows.append(
            [
                fmt(one.get("t_s", other.get("t_s"))),
                fmt(one.get("rows")),
                fmt(one.get("db_mb")),
                fmt(one.get("wal_mb")),
                fmt(one.get("journal_mb")),
                fmt(other.get("rows")),
                fmt(other.get("db_mb")),
                fmt(other.get("wal_mb")),
                fmt(other.get("journal_mb")),
            ]
        )
    retention = f"retention {_seconds(data.get('retention_s'))}"
    header = ["t s", f"rows ({retention})", "DB MB", "WAL MB", "journal MB"]
    header += ["rows (kept forever)", "DB MB", "WAL MB", "journal MB"]
    return table(header, rows)


RUNTIME_LABELS = {
    "python": "built-in Python",
    "provided": "provided.al2023",
    "nodejs": "nodejs20.x",
}


def runtime_lines(results: Results) -> list[str]:
    data = dig(results, "r")
    if not isinstance(data, Mapping):
        return ["n/a"]
    lines: list[str] = []
    for label, shown in RUNTIME_LABELS.items():
        runtime = data.get(label) or {}
        lines += [f"**{shown}** ({fmt(runtime.get('runtime', label))})", ""]
        if "skipped" in runtime:
            lines += [f"skipped: {runtime['skipped']}", ""]
            continue
        lines += [f"Runs on {fmt(runtime.get('how'))}.", ""]
        header = ["measurement", "baseline (a)", shown, "/ baseline", "/ built-in Python"]
        lines += [*table(header, _runtime_rows(results, label)), ""]
    lines.append(
        "Cold: the first invoke of each of N freshly deployed functions, timed at the client, "
        "and the Init Duration their records hold (there is no cold start in the baseline: "
        "the ratio is to the built-in Python runtime's in the same run). Warm: one function "
        "per runtime, each level after a warm-up at the same concurrency, the runtimes "
        "alternating."
    )
    return lines


def _runtime_rows(results: Results, label: str) -> list[list[str]]:
    rows = []
    for phase, shown in (("first_invoke", "cold, first invoke"), ("init", "cold, Init Duration")):
        for field in ("p50_ms", "p90_ms"):
            value = dig(results, "r", label, "cold", phase, field)
            python = dig(results, "r", "python", "cold", phase, field)
            name = f"{shown} {field.replace('_ms', '')} ms"
            rows.append([name, "", fmt(value), "", fmt(ratio(value, python), "x")])
    for level in ("c1", "c32"):
        for field in ("rps", "p50_ms", "p99_ms"):
            base = _hello(results, "a", level, field)
            value = dig(results, "r", label, level, field)
            python = dig(results, "r", "python", level, field)
            unit = "req/s" if field == "rps" else f"{field.replace('_ms', '')} ms"
            rows.append(
                [
                    f"warm {unit} {level.replace('c', 'c=')}",
                    fmt(base),
                    fmt(value),
                    fmt(ratio(value, base), "x"),
                    fmt(ratio(value, python), "x"),
                ]
            )
        for field, shown in CPU_SHARES:
            value = dig(results, "r", label, level, field)
            python = dig(results, "r", "python", level, field)
            name = f"CPU us/request c={level[1:]}: {shown}"
            rows.append([name, "", fmt(value), "", fmt(ratio(value, python), "x")])
    return rows


# Where a warm request's CPU goes (per request, from the processes' own CPU times).
CPU_SHARES = (
    ("gateway_cpu_us", "gateway"),
    ("worker_cpu_us", "worker (Python runtime / supervisor)"),
    ("runtime_cpu_us", "runtime process (bootstrap)"),
)


def render(results: Results) -> str:
    sections: list[tuple[str, list[str]]] = [
        ("Machine", machine_lines(results["machine"])),
        (
            "(a)-(c) Warm invoke vs the in-process baseline",
            table(["measurement", "baseline", "faas", "faas / baseline"], warm_rows(results)),
        ),
        ("(d) Cold start", cold_lines(results)),
        ("(e) Idle warm worker memory", memory_lines(results)),
        ("(f) Throughput vs deployed functions", functions_lines(results)),
        ("(g) Cost of durable records", records_lines(results)),
        ("(h) Cost of authentication", auth_lines(results)),
        ("(i) Cost of the network layer", network_lines(results)),
        ("(j) Frozen warm start", freeze_lines(results)),
        ("(k) A burst at an idle function", burst_lines(results)),
        ("(l) Peer: serverless-offline", peer_lines(results)),
        ("(m) Async invocations", async_lines(results)),
        ("(n) File events", file_event_lines(results)),
        ("(o) A month of records billed", month_bill_lines(results)),
        ("(p) Database size under steady load with retention", retention_lines(results)),
        ("(r) Runtimes side by side", runtime_lines(results)),
        ("Targets", target_lines(results["targets"])),
    ]
    lines = [f"Mode: {results['mode']}; run took {results['elapsed_s']} s.", ""]
    for title, body in sections:
        lines += [f"### {title}", "", *body, ""]
    return "\n".join(lines)
