"""`/metrics` for Prometheus: producers, checks and products, read at scrape time.

Producer counters come straight from the run ledger (runs are never deleted,
so they only grow); checks and product ages come from the same functions as
the proof. One scrape builds each tenant's proof once; scrapes within
`CACHE_S` of each other share it.

    nexus_producer_last_success_timestamp_seconds{tenant,producer}
    nexus_producer_runs_total / _failures_total / _rows_total{tenant,producer}
    nexus_producer_status{tenant,producer,status}            1 for the current status
    nexus_check_value / _n / _ci_low / _ci_high / _threshold{tenant,check,product}
    nexus_check_severity{tenant,check,product,severity}      1 for the current severity
    nexus_product_age_seconds{tenant,product,measured_by}
    nexus_product_max_age_seconds / nexus_product_orphaned{tenant,product}
    nexus_proof_verdict{tenant,verdict}                      1 for the current verdict
    nexus_webhooks_received_total{tenant,outcome}, nexus_webhook_refresh_seconds{outcome}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nexus.errors import NexusError
from nexus.proof.build import build_proof
from nexus.proof.inputs import proof_inputs
from nexus.proof.model import Proof
from nexus.registry.run_history import ProducerCounts, producer_counts
from nexus.web.site import Site

log = logging.getLogger(__name__)

CACHE_S = 5.0
SEVERITIES = ("ok", "info", "warning", "critical", "insufficient_data")
STATUSES = ("alive", "late", "failing", "retired", "never_ran")
VERDICTS = ("ok", "warning", "critical", "insufficient_data")
SEVERITY_RANK = {"ok": 0, "insufficient_data": 1, "info": 1, "warning": 2, "critical": 3}


class WebhookMetrics:
    """In-process counters of the webhook endpoint and its refreshes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "nexus_webhooks_received_total",
            "Webhook deliveries by outcome: accepted, ignored, redelivered, unsigned, forged, "
            "replayed, bad_request, not_served, unavailable.",
            ("tenant", "outcome"),
            registry=registry,
        )
        self.refresh = Histogram(
            "nexus_webhook_refresh_seconds",
            "Seconds from accepting a webhook to its ids being loaded (or failing).",
            ("outcome",),
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )

    def refreshed(self, outcome: str, tenant: int, seconds: float) -> None:
        del tenant
        self.refresh.labels(outcome).observe(seconds)


class NexusCollector(Collector):
    """Reads the ledger and the proof of every served tenant when Prometheus scrapes."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._cache: dict[int, tuple[float, Proof, list[ProducerCounts]]] = {}
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        return []  # do not read the database when the collector is registered

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        for tenant in self.site.tenants:
            try:
                proof, runs = self._read(tenant)
            except (NexusError, OSError) as exc:
                log.warning("metrics: tenant %s could not be read: %s", tenant, exc)
                continue
            product = self.site.config.checks.invoice_coverage.product
            families.add(str(tenant), proof, product, runs)
        yield from families.all()

    def _read(self, tenant: int) -> tuple[Proof, list[ProducerCounts]]:
        with self._lock:
            cached = self._cache.get(tenant)
            if cached is not None and time.monotonic() - cached[0] < CACHE_S:
                return cached[1], cached[2]
            site = self.site
            now = site.clock.now()
            site.db.ensure_schema()
            with site.db.connect(autocommit=True) as conn:
                proof = build_proof(conn, proof_inputs(site.config, tenant), now)
                runs = producer_counts(conn, tenant, now)
            self._cache[tenant] = (time.monotonic(), proof, runs)
            return proof, runs


class _Families:
    def __init__(self) -> None:
        t, tp = ["tenant"], ["tenant", "producer"]
        tcp = ["tenant", "check", "product"]
        self.last_success = GaugeMetricFamily(
            "nexus_producer_last_success_timestamp_seconds",
            "Unix time of the producer's last successful run (run ledger).",
            labels=tp,
        )
        self.runs = CounterMetricFamily(
            "nexus_producer_runs", "Finished runs of the producer.", labels=tp
        )
        self.failures = CounterMetricFamily(
            "nexus_producer_failures", "Failed runs of the producer.", labels=tp
        )
        self.rows = CounterMetricFamily(
            "nexus_producer_rows", "Rows the producer's runs wrote (changed).", labels=tp
        )
        self.status = GaugeMetricFamily(
            "nexus_producer_status",
            "1 for the producer's current status (alive, late, failing, retired, never_ran).",
            labels=[*tp, "status"],
        )
        self.value = GaugeMetricFamily(
            "nexus_check_value",
            "The check's measurement: a rate (0-1), a ratio, or an age in seconds.",
            labels=tcp,
        )
        self.n = GaugeMetricFamily("nexus_check_n", "Sample size behind the check.", labels=tcp)
        self.ci_low = GaugeMetricFamily(
            "nexus_check_ci_low", "Lower end of the 95 % Wilson interval.", labels=tcp
        )
        self.ci_high = GaugeMetricFamily(
            "nexus_check_ci_high", "Upper end of the 95 % Wilson interval.", labels=tcp
        )
        self.threshold = GaugeMetricFamily(
            "nexus_check_threshold", "The check's alert threshold.", labels=tcp
        )
        self.severity = GaugeMetricFamily(
            "nexus_check_severity",
            "1 for the check's current severity (ok, info, warning, critical, insufficient_data).",
            labels=[*tcp, "severity"],
        )
        self.age = GaugeMetricFamily(
            "nexus_product_age_seconds",
            "Age of the data product, by how it was measured (db, run_ledger, file_mtime).",
            labels=["tenant", "product", "measured_by"],
        )
        self.max_age = GaugeMetricFamily(
            "nexus_product_max_age_seconds",
            "How old the product may get before it is stale.",
            labels=["tenant", "product"],
        )
        self.orphaned = GaugeMetricFamily(
            "nexus_product_orphaned",
            "1 when no live producer keeps the product fresh.",
            labels=["tenant", "product"],
        )
        self.verdict = GaugeMetricFamily(
            "nexus_proof_verdict",
            "1 for the Evolution Proof's current verdict.",
            labels=[*t, "verdict"],
        )

    def all(self) -> list[Metric]:
        return [
            self.last_success,
            self.runs,
            self.failures,
            self.rows,
            self.status,
            self.value,
            self.n,
            self.ci_low,
            self.ci_high,
            self.threshold,
            self.severity,
            self.age,
            self.max_age,
            self.orphaned,
            self.verdict,
        ]

    def add(self, tenant: str, proof: Proof, product: str, runs: list[ProducerCounts]) -> None:
        for counted in runs:
            labels = [tenant, counted.producer]
            self.runs.add_metric(labels, counted.finished)
            self.failures.add_metric(labels, counted.failed)
            self.rows.add_metric(labels, counted.rows_changed)
            if counted.last_success is not None:
                self.last_success.add_metric(labels, counted.last_success.timestamp())
        for vital in proof.vitals:
            for status in STATUSES:
                self.status.add_metric(
                    [tenant, vital.producer, status], 1.0 if vital.status == status else 0.0
                )
        self._checks(tenant, proof, product)
        limits: dict[str, int] = {}
        for f in proof.freshness:
            limits[f.product] = f.max_age_s
            if f.age_s is not None:
                self.age.add_metric([tenant, f.product, f.measured_by], f.age_s)
        for name, limit in limits.items():
            self.max_age.add_metric([tenant, name], limit)
        orphaned = {o.product for o in proof.orphans}
        for name in sorted(set(limits) | orphaned):
            self.orphaned.add_metric([tenant, name], 1.0 if name in orphaned else 0.0)
        for verdict in VERDICTS:
            self.verdict.add_metric([tenant, verdict], 1.0 if proof.verdict == verdict else 0.0)

    def _checks(self, tenant: str, proof: Proof, product: str) -> None:
        c = proof.coverage
        checks: dict[tuple[str, str], dict[str, Any]] = {
            ("invoice_coverage", product): {
                "value": c.rate,
                "n": c.n,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "threshold": c.threshold,
                "severity": c.status.value,
            }
        }
        volume = proof.volume
        checks[("volume", "titan.jobs")] = {
            "value": volume.ratio,
            "n": volume.completed,
            "severity": volume.severity.value,
        }
        settled = [w for w in proof.revenue.weeks if not w.provisional]
        if settled and settled[-1].capture is not None:
            checks[("revenue_capture", product)] = {
                "value": settled[-1].capture,
                "severity": "ok",
            }
        for alert in proof.alerts:
            if alert.check == "invoice_coverage":
                continue
            key = (alert.check, alert.product or "")
            m = alert.measurement
            value = next((v for v in (m.rate, m.age_s, m.ratio) if v is not None), None)
            found: dict[str, Any] = {
                "value": value,
                "n": m.n,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "threshold": alert.threshold,
                "severity": alert.status,
            }
            known = checks.get(key)
            if known is None or SEVERITY_RANK.get(found["severity"], 0) >= SEVERITY_RANK.get(
                known["severity"], 0
            ):
                checks[key] = {**(known or {}), **{k: v for k, v in found.items() if v is not None}}
        for (check, name), values in sorted(checks.items()):
            labels = [tenant, check, name]
            for family, field in (
                (self.value, "value"),
                (self.n, "n"),
                (self.ci_low, "ci_low"),
                (self.ci_high, "ci_high"),
                (self.threshold, "threshold"),
            ):
                if values.get(field) is not None:
                    family.add_metric(labels, float(values[field]))
            for severity in SEVERITIES:
                self.severity.add_metric(
                    [*labels, severity], 1.0 if values["severity"] == severity else 0.0
                )
