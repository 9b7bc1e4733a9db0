"""`POST /webhooks/servicetitan/{tenant}`: the webhook route, a thin skin over the hints.

The handler reads the raw body (the signature covers its exact bytes), lets
`nexus.sync.hints` verify and record it on a connection of `nexus.store.pool`,
hands the hint to the background `Refresher` and answers 202 at once: ServiceTitan retries
slow endpoints, and the refresh does not need the sender to wait. A retry of a
delivery already recorded is answered 202 with the same hint.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from nexus.errors import DatabaseUnavailable, NexusError
from nexus.servicetitan.webhook_signature import SignatureRefused, SignatureScheme, WebhookRefused
from nexus.store.pool import Pool
from nexus.sync.hints import (
    MAX_BODY_BYTES,
    Accepted,
    BadHint,
    ReplayRefused,
    record_hint,
    verify_delivery,
)
from nexus.sync.refresh import Refresher
from nexus.tenants import secret_for
from nexus.web.metrics import WebhookMetrics
from nexus.web.site import Site

log = logging.getLogger(__name__)


class NotServed(WebhookRefused):
    status = 404


class Unavailable(WebhookRefused):
    status = 503


#: Run once more, on a fresh connection, when the pooled one turns out to be lost.
fresh_connection_retry = Retrying(
    retry=retry_if_exception_type(DatabaseUnavailable), stop=stop_after_attempt(2), reraise=True
)

#: Seconds a sender is asked to wait before delivering again while the database is away.
RETRY_AFTER_S = 30


def _outcome(exc: WebhookRefused, signature: str | None) -> str:
    if isinstance(exc, SignatureRefused):
        return "unsigned" if not signature else "forged"
    if isinstance(exc, ReplayRefused):
        return "replayed"
    if isinstance(exc, BadHint):
        return "bad_request"
    if isinstance(exc, NotServed):
        return "not_served"
    return "unavailable"


def _accepted_outcome(accepted: Accepted) -> str:
    if accepted.redelivery:
        return "redelivered"
    return "accepted" if accepted.status == "pending" else "ignored"


def add_webhook_routes(
    app: FastAPI, site: Site, refresher: Refresher, metrics: WebhookMetrics
) -> Pool:
    """Add the webhook endpoint; return its connection pool (closed with the app)."""
    scheme = SignatureScheme.from_settings(site.settings)
    connections = Pool(site.db)

    def accept(tenant: int, body: bytes, signature: str | None) -> Accepted:
        secret, source = secret_for(tenant, site.settings, site.config)
        hint = verify_delivery(
            tenant=tenant,
            body=body,
            signature=signature,
            secret=secret,
            secret_source=source,
            scheme=scheme,
        )
        if tenant not in site.tenants:
            raise NotServed(f"tenant {tenant} is not served by this Nexus")

        def record() -> Accepted:
            with connections.connection() as conn:
                return record_hint(conn, tenant, body, hint, site.clock.now())

        try:
            site.db.ensure_schema()  # checked once per process
            # A pooled connection may have died with a database restart: try a fresh one.
            return fresh_connection_retry(record)
        except NexusError as exc:
            if isinstance(exc, WebhookRefused):
                raise
            raise Unavailable(
                f"tenant {tenant}: the webhook was not recorded because the database is "
                f"unavailable ({exc}); ServiceTitan sends it again later, and the next sync "
                "brings the change anyway"
            ) from None

    @app.post(
        "/webhooks/servicetitan/{tenant}",
        status_code=202,
        summary="Accept a signed ServiceTitan webhook as a hint to refresh the ids it names",
    )
    async def servicetitan_webhook(tenant: int, request: Request) -> Response:
        # Anyone can call this URL: label only served tenants, or labels would grow unbounded.
        label = str(tenant) if tenant in site.tenants else "other"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            metrics.received.labels(label, "bad_request").inc()
            return site.json({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            metrics.received.labels(label, "bad_request").inc()
            return site.json({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
        signature = request.headers.get(scheme.header)
        try:
            accepted = await run_in_threadpool(accept, tenant, body, signature)
        except WebhookRefused as exc:
            outcome = _outcome(exc, signature)
            metrics.received.labels(label, outcome).inc()
            log.warning("webhook for tenant %s refused (%s): %s", tenant, outcome, exc)
            response = site.json({"error": str(exc)}, exc.status)
            if isinstance(exc, Unavailable):
                response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        metrics.received.labels(label, _accepted_outcome(accepted)).inc()
        refresher.submit(accepted)
        return site.json(
            {
                "hint": accepted.hint_id,
                "status": accepted.status,
                "targets": accepted.targets,
                "redelivery": accepted.redelivery,
            },
            202,
        )

    return connections
