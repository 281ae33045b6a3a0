"""Prometheus metrics (GET /metrics), in the text format of prometheus-client.

Per-invocation counts and histograms come from the records as the ingester stores them (the
rows an insert really stored, in the ingester's thread, after its commit): nothing is added
to the request's path, and the counts agree with the records by construction. Throttles are
counted where they happen (they leave no record). Gauges (workers, the async queue, dead
letters, the journal, the event loop's lag) are read when scraped.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from faas.domain import DURATION_BUCKETS_S, StoredSummary

__all__ = ["CONTENT_TYPE_LATEST", "InvocationMetrics", "MetricsExporter", "PlatformGauges"]

DURATION_BUCKETS = DURATION_BUCKETS_S
LOOP_LAG_INTERVAL_S = 0.5
MB_MS_PER_GB_SECOND = 1024 * 1000


class _Histogram:
    """Bucket counts and a sum, Prometheus style (cumulative when exposed)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.total = 0.0

    def add(self, bucket: int, count: int, total_s: float) -> None:
        self.counts[bucket] += count
        self.total += total_s

    def buckets(self) -> list[tuple[str, float]]:
        running, found = 0, []
        for bound, count in zip((*DURATION_BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            found.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return found


class InvocationMetrics:
    """Counts of the stored records (fed by the ingester's thread) and of throttles (the
    event loop's), read by scrapes: guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.invocations: dict[tuple[str, str], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.cold_starts: dict[str, int] = defaultdict(int)
        self.throttles: dict[tuple[str, str], int] = defaultdict(int)
        # Billed ms x MemorySize (MB), exact; GB-seconds only when scraped.
        self.billed_mb_ms: dict[str, int] = defaultdict(int)
        self.durations: dict[str, _Histogram] = defaultdict(_Histogram)
        self.init_durations: dict[str, _Histogram] = defaultdict(_Histogram)

    def observe_summary(self, summary: StoredSummary) -> None:
        """What one commit of the ingester stored, summed by the database."""
        with self._lock:
            for name, kind, status, error, count, cold, billed_mb_ms in summary.counts:
                self.invocations[(name, kind)] += count
                if status != "Success":
                    self.errors[(name, error or "Unhandled")] += count
                if cold:
                    self.cold_starts[name] += cold
                self.billed_mb_ms[name] += billed_mb_ms
            for name, bucket, count, total in summary.durations:
                self.durations[name].add(bucket, count, total)
            for name, bucket, count, total in summary.inits:
                self.init_durations[name].add(bucket, count, total)

    def throttled(self, function_name: str, reason: str) -> None:
        with self._lock:
            self.throttles[(function_name, reason)] += 1

    def families(self) -> list[Metric]:
        with self._lock:
            return [
                _counter(
                    "faas_invocations",
                    "Invocations recorded, by function and type (RequestResponse, Event).",
                    ["function", "type"],
                    self.invocations,
                ),
                _counter(
                    "faas_errors",
                    "Invocations that ended in a function error, by type.",
                    ["function", "error_type"],
                    self.errors,
                ),
                _counter(
                    "faas_cold_starts",
                    "Invocations that ran a new worker's init.",
                    ["function"],
                    {(k,): v for k, v in self.cold_starts.items()},
                ),
                _counter(
                    "faas_throttles",
                    "Invocations refused with 429 (reason: Lambda's).",
                    ["function", "reason"],
                    self.throttles,
                ),
                _counter(
                    "faas_billed_gb_seconds",
                    "GB-seconds billed (billed duration x MemorySize).",
                    ["function"],
                    {
                        (k,): float(Decimal(v) / MB_MS_PER_GB_SECOND)
                        for k, v in self.billed_mb_ms.items()
                    },
                ),
                _histogram("faas_duration_seconds", "Invocation duration.", self.durations),
                _histogram(
                    "faas_init_duration_seconds",
                    "Init duration of cold starts.",
                    self.init_durations,
                ),
            ]


@dataclass(frozen=True, slots=True)
class PlatformGauges:
    """What a scrape reads of the running platform."""

    warm_workers: int
    busy_workers: int
    queue_events: Mapping[str, int] = field(default_factory=dict)
    queue_oldest_age_s: Mapping[str, float] = field(default_factory=dict)
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    records_ingested: int = 0
    journal_segments: int = 0
    loop_lag_s: float = 0.0
    # Invocations whose logs were written, dropped (too many waiting) or refused.
    logs_written: int = 0
    logs_dropped: int = 0
    logs_failed: int = 0


class PlatformCollector(Collector):
    """The invocation metrics and the platform's gauges, for one scrape: `gauges` is set by
    the scrape (which gathers what needs the event loop or the database) before it renders."""

    def __init__(self, invocations: InvocationMetrics) -> None:
        self._invocations = invocations
        self.gauges = PlatformGauges(0, 0)

    def collect(self) -> Iterator[Metric]:
        yield from self._invocations.families()
        gauges = self.gauges
        yield _gauge("faas_concurrent_executions", "Invocations running now.", gauges.busy_workers)
        workers = GaugeMetricFamily("faas_workers", "Live workers by state.", labels=["state"])
        workers.add_metric(["warm"], gauges.warm_workers)
        workers.add_metric(["busy"], gauges.busy_workers)
        yield workers
        yield _per_function(
            "faas_async_queue_events", "Async events waiting or running.", gauges.queue_events
        )
        yield _per_function(
            "faas_async_queue_oldest_age_seconds",
            "Age of the oldest async event waiting or running.",
            gauges.queue_oldest_age_s,
        )
        yield _per_function(
            "faas_dead_letters", "Async events kept after failing for good.", gauges.dead_letters
        )
        yield CounterMetricFamily(
            "faas_records_ingested",
            "Journal entries the ingester moved into the database since start.",
            value=gauges.records_ingested,
        )
        yield _gauge(
            "faas_records_journal_segments",
            "Journal segment files not yet wholly ingested (a growing count is ingest lag).",
            gauges.journal_segments,
        )
        logs = CounterMetricFamily(
            "faas_function_logs",
            "Invocations' logs by what became of them: written, dropped (too many waiting to "
            "be written), failed (the database refused them).",
            labels=["outcome"],
        )
        logs.add_metric(["written"], gauges.logs_written)
        logs.add_metric(["dropped"], gauges.logs_dropped)
        logs.add_metric(["failed"], gauges.logs_failed)
        yield logs
        yield _gauge(
            "faas_event_loop_lag_seconds",
            "How late the gateway's event loop last ran a timer.",
            gauges.loop_lag_s,
        )


class LoopLag:
    """How late the event loop runs a timer: the gateway's own health."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last_s = 0.0

    async def run_forever(self, interval_s: float = LOOP_LAG_INTERVAL_S) -> None:
        while True:
            expected = self._clock() + interval_s
            await asyncio.sleep(interval_s)
            self.last_s = max(0.0, self._clock() - expected)


def _counter(
    name: str, documentation: str, labels: list[str], values: Mapping[Any, float]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), float(value))
    return family


def _histogram(
    name: str, documentation: str, histograms: Mapping[str, _Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=["function"])
    for function, histogram in sorted(histograms.items()):
        family.add_metric([function], histogram.buckets(), histogram.total)
    return family


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _per_function(name: str, documentation: str, values: Mapping[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["function"])
    for function, value in sorted(values.items()):
        family.add_metric([function], value)
    return family


class MetricsExporter:
    """Renders a scrape: the gauges gathered first (they may need the event loop or the
    database), then every family in the text format."""

    def __init__(
        self, collector: PlatformCollector, gather: Callable[[], Awaitable[PlatformGauges]]
    ) -> None:
        self._collector = collector
        self._gather = gather
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(collector)
        self._lock = asyncio.Lock()

    async def render(self) -> bytes:
        async with self._lock:  # one scrape's gauges at a time
            self._collector.gauges = await self._gather()
            return generate_latest(self._registry)
