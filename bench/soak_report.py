"""The soak's result document as the markdown of bench/RESULTS.md's soak section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OK = "ok"


def summary_markdown(result: Mapping[str, Any]) -> str:
    lines = [*_machine(result), "", *_totals(result), "", *_over_time(result), "", *_checks(result)]
    return "\n".join(lines)


def _machine(result: Mapping[str, Any]) -> list[str]:
    described, plan = result["machine"], result["plan"]
    return [
        f"- Machine: {described['cpu']}, {described['cores']} cores, {described['ram_gb']} GB; "
        f"{described['kernel']}; Python {described['python']}",
        f"- Load average (1 min): {described['load_avg_1m_at_start']} at the start, "
        f"{described['load_avg_1m_at_end']} at the end",
        f"- Plan: {plan['invocations']:,} invocations at c={plan['concurrency']} over "
        f"{plan['functions']} functions ({plan['async_percent']} % async, "
        f"{plan['file_percent']} % files), a worker SIGKILLed every {plan['kill_every_s']} s",
        f"- Load {result['load_s']} s ({_rate(result)} invocations/s), then "
        f"{result['drain_s']} s until every event had run; {len(result['kills'])} workers killed",
    ]


def _rate(result: Mapping[str, Any]) -> str:
    done = sum(sum(outcomes.values()) for outcomes in result["totals"].values())
    return f"{done / result['load_s']:,.0f}" if result["load_s"] else "n/a"


def _totals(result: Mapping[str, Any]) -> list[str]:
    lines = ["| kind | invocations | answered ok | errors, by kind |", "|---|---|---|---|"]
    for kind, outcomes in result["totals"].items():
        errors = {o: n for o, n in outcomes.items() if o != OK}
        described = ", ".join(f"{o}: {n:,}" for o, n in sorted(errors.items())) or "none"
        total = sum(outcomes.values())
        lines.append(f"| {kind} | {total:,} | {outcomes.get(OK, 0):,} | {described} |")
    return lines


def _over_time(result: Mapping[str, Any]) -> list[str]:
    samples: Sequence[Mapping[str, Any]] = result["samples"]
    timed = [s for s in samples if s["interval_requests"]] or list(samples)
    start, middle, end = timed[0], timed[len(timed) // 2], timed[-1]
    before, after = samples[0], result["after_drain"]
    during = [*samples, after]

    def peak(key: str) -> Any:
        return max(s[key] for s in during)

    return [
        "| measure | start | middle | end | max |",
        "|---|---|---|---|---|",
        f"| sync p50 ms (interval) | {start['p50_ms']} | {middle['p50_ms']} | {end['p50_ms']} "
        f"| {peak('p50_ms')} |",
        f"| sync p99 ms (interval) | {start['p99_ms']} | {middle['p99_ms']} | {end['p99_ms']} "
        f"| {peak('p99_ms')} |",
        f"| throughput /s (interval) | {start['rps']:,} | {middle['rps']:,} | {end['rps']:,} "
        f"| {peak('rps'):,} |",
        f"| server RSS MB | {before['rss_mb']} | {middle['rss_mb']} | {after['rss_mb']} "
        f"| {peak('rss_mb')} |",
        f"| server open fds | {before['fds']} | {middle['fds']} | {after['fds']} | {peak('fds')} |",
        f"| processes under the server | {before['processes']} | {middle['processes']} "
        f"| {after['processes']} | {peak('processes')} |",
        f"| journal on disk MB | {before['journal_mb']} | {middle['journal_mb']} "
        f"| {after['journal_mb']} | {peak('journal_mb')} |",
        f"| journal segments not yet ingested | {before['journal_segments']} "
        f"| {middle['journal_segments']} | {after['journal_segments']} "
        f"| {peak('journal_segments')} |",
        f"| event loop lag ms | {before['loop_lag_ms']} | {middle['loop_lag_ms']} "
        f"| {after['loop_lag_ms']} | {peak('loop_lag_ms')} |",
        f"| queued events | {before['queued_events']} | {middle['queued_events']} "
        f"| {after['queued_events']} | {peak('queued_events')} |",
        f"| database MB (+ WAL) | {before['db_mb']} (+{before['wal_mb']}) "
        f"| {middle['db_mb']} (+{middle['wal_mb']}) | {after['db_mb']} (+{after['wal_mb']}) "
        f"| {peak('db_mb')} (+{peak('wal_mb')}) |",
    ]


def _checks(result: Mapping[str, Any]) -> list[str]:
    verdict = result["verdict"]
    lines = [
        "| check | expected | found |",
        "|---|---|---|",
        f"| sync answers (HTTP 200) with a record | {verdict['sync_answered']:,} "
        f"| {verdict['sync_recorded']:,} |",
    ]
    for label, key in (("async events", "async_events"), ("file events", "file_events")):
        check = verdict[key]
        lines.append(
            f"| {label} recorded, by request id | {check['accepted']:,} | {check['recorded']:,} "
            f"({check['succeeded']:,} succeeded, {check['failed']} failed every attempt, "
            f"{check['retried']} retried, {check['missing']} missing, "
            f"{check['succeeded_twice']} succeeded twice) |"
        )
    lines.append(f"| files never delivered | 0 | {verdict['files_undelivered']} |")
    after = result["after_drain"]
    lines.append(f"| invocations' logs dropped or refused | 0 | {after['logs_lost']} |")
    lines.append(f"| records ingested (all attempts) | | {after['ingested']:,} |")
    lines.append(f"\nAll checks: {'passed' if verdict['ok'] else 'FAILED'}")
    return lines
