"""/metrics parses with Prometheus's own parser and says what the proof says."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from webkit import BEARER, Replayed


def scrape(web: TestClient) -> dict[str, Any]:
    r = web.get("/metrics", headers=BEARER)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(r.text)}


def samples(family: Any, **labels: str) -> list[Any]:
    return [s for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]


def value(family: Any, **labels: str) -> float:
    [sample] = [s for s in samples(family, **labels) if not s.name.endswith("_created")]
    return float(sample.value)


def test_metrics_parse_and_follow_prometheus_naming(web: TestClient) -> None:
    families = scrape(web)
    expected = {
        "nexus_producer_last_success_timestamp_seconds": "gauge",
        "nexus_producer_runs": "counter",
        "nexus_producer_failures": "counter",
        "nexus_producer_rows": "counter",
        "nexus_producer_status": "gauge",
        "nexus_check_value": "gauge",
        "nexus_check_n": "gauge",
        "nexus_check_ci_low": "gauge",
        "nexus_check_ci_high": "gauge",
        "nexus_check_threshold": "gauge",
        "nexus_check_severity": "gauge",
        "nexus_product_age_seconds": "gauge",
        "nexus_product_max_age_seconds": "gauge",
        "nexus_product_orphaned": "gauge",
        "nexus_proof_verdict": "gauge",
        "nexus_webhooks_received": "counter",
        "nexus_webhook_refresh_seconds": "histogram",
    }
    for name, kind in expected.items():
        assert name in families, name
        assert families[name].type == kind, name
    names = {s.name for f in families.values() for s in f.samples}
    assert "nexus_producer_runs_total" in names and "nexus_producer_failures_total" in names


def test_metrics_agree_with_the_proof(web: TestClient, replayed: Replayed) -> None:
    families = scrape(web)
    proof = replayed.proof
    coverage = next(a for a in proof["alerts"] if a["check"] == "invoice_coverage")
    m = coverage["measurement"]
    labels = {"tenant": "1001", "check": "invoice_coverage", "product": coverage["product"]}
    assert value(families["nexus_check_n"], **labels) == m["n"]
    assert round(value(families["nexus_check_value"], **labels), 4) == m["rate"]
    assert round(value(families["nexus_check_ci_low"], **labels), 4) == m["ci_low"]
    assert round(value(families["nexus_check_ci_high"], **labels), 4) == m["ci_high"]
    assert value(families["nexus_check_threshold"], **labels) == coverage["threshold"]
    assert value(families["nexus_check_severity"], **labels, severity="critical") == 1
    assert value(families["nexus_check_severity"], **labels, severity="ok") == 0
    assert value(families["nexus_proof_verdict"], tenant="1001", verdict=proof["verdict"]) == 1
    status = families["nexus_producer_status"]
    assert value(status, producer="invoice_sync", status="retired") == 1
    assert value(status, producer="job_sync", status="alive") == 1
    runs = families["nexus_producer_runs"]
    assert value(runs, tenant="1001", producer="job_sync") > 0
    last = families["nexus_producer_last_success_timestamp_seconds"]
    vital = next(v for v in proof["vitals"] if v["producer"] == "job_sync")
    assert (
        value(last, producer="job_sync")
        == datetime.fromisoformat(vital["last_success"]).timestamp()
    )
    orphaned = families["nexus_product_orphaned"]
    assert value(orphaned, product="titan.jobs.invoice_total") == 1
    assert value(orphaned, product="titan.jobs") == 0
    ages = samples(families["nexus_product_age_seconds"], product="titan.jobs.invoice_total")
    assert ages and all(s.value > 3600 for s in ages)


def test_label_sets_are_unique(web: TestClient) -> None:
    for family in scrape(web).values():
        seen = set()
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in seen, key
            seen.add(key)
