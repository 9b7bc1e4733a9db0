"""ServiceTitan webhook signatures: HMAC over the exact body, checked in constant time.

A delivery Nexus does not accept raises a `WebhookRefused` carrying the HTTP
status to answer; the ones about the body and replays live with the hints
(`nexus.sync.hints`)::

    WebhookRefused
    ├── SignatureRefused   401: no secret configured, no signature, or a wrong one
    ├── BadHint            400: signed, but not a JSON body Nexus can read
    └── ReplayRefused      409: this delivery id was accepted before, on another body

A body accepted before is a re-delivery, not a refusal: see `nexus.sync.hints`.

The header, hash and encoding of the signature are settings, because
ServiceTitan does not document them (defaults: `X-ServiceTitan-Signature`,
HMAC-SHA256, hex).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from nexus.errors import NexusError
from nexus.settings import Settings


class WebhookRefused(NexusError):
    """A webhook Nexus did not accept; `status` is the HTTP status to answer."""

    status = 400


class SignatureRefused(WebhookRefused):
    status = 401


@dataclass(frozen=True)
class SignatureScheme:
    """Where the signature travels and how it is computed (all three are settings)."""

    header: str = "X-ServiceTitan-Signature"
    algorithm: str = "sha256"
    encoding: str = "hex"

    @classmethod
    def from_settings(cls, settings: Settings) -> SignatureScheme:
        return cls(settings.webhook_header, settings.webhook_algorithm, settings.webhook_encoding)

    def sign(self, secret: bytes, body: bytes) -> str:
        """The header value a sender with `secret` puts on `body`."""
        digest = hmac.new(secret, body, self.algorithm).digest()
        if self.encoding == "base64":
            return base64.b64encode(digest).decode("ascii")
        return digest.hex()

    def verify(self, secret: bytes, body: bytes, given: str | None) -> bool:
        """Whether `given` is the signature of `body`, compared in constant time.

        A `sha256=` style prefix (as GitHub and others send) is accepted.
        """
        if not given:
            return False
        value = given.strip()
        prefix = f"{self.algorithm}="
        if value[: len(prefix)].lower() == prefix:
            value = value[len(prefix) :]
        try:
            if self.encoding == "base64":
                claimed = base64.b64decode(value, validate=True)
            else:
                claimed = bytes.fromhex(value)
        except (binascii.Error, ValueError):
            return False
        expected = hmac.new(secret, body, self.algorithm).digest()
        return hmac.compare_digest(expected, claimed)


def verify_signature(
    *,
    tenant: int,
    body: bytes,
    signature: str | None,
    secret: bytes | None,
    secret_source: str,
    scheme: SignatureScheme,
) -> None:
    """Raise `SignatureRefused` unless `signature` is `body`'s under the tenant's secret."""
    if secret is None:
        raise SignatureRefused(
            f"tenant {tenant}: no webhook secret is configured, so every webhook is refused; "
            f"set {secret_source} to the HMAC key of the ServiceTitan webhook subscription"
        )
    if not signature:
        raise SignatureRefused(f"the webhook carries no {scheme.header} header")
    if not scheme.verify(secret, body, signature):
        raise SignatureRefused(
            f"the {scheme.header} header does not match the body (HMAC-{scheme.algorithm.upper()}"
            f", {scheme.encoding}); check the secret in {secret_source}"
        )
