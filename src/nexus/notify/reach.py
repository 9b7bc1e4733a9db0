"""Can a channel's service be reached? One TCP connection to where apprise would send; nothing sent.

`nexus doctor notify` asks this of every channel: a doctor that pages someone to
test the pager would be a surprise, but a mail host or webhook receiver that
refuses connections is worth knowing before the proof turns red. Where apprise
sends is read from its parsed plugin: the SMTP host of an email URL, the host of
a self-hosted service (a JSON webhook, ntfy, gotify), else the service's own
endpoint (Slack, Discord, Telegram, …). Hosts and ports are not secrets; the URL
never appears.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from nexus.notify.channels import Channel, plugin_of

#: Services whose URL names the host they post to (the rest post to the service's own).
SELF_HOSTED = frozenset(
    {"json", "jsons", "xml", "xmls", "form", "forms", "ntfy", "ntfys", "gotify", "gotifys"}
)
#: A plugin's class attributes that name its service's endpoint, in order of preference.
ENDPOINT_ATTRIBUTES = ("notify_url", "webhook_url", "api_url", "cloud_notify_url")
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Reach:
    """Whether a channel's service accepted a connection, and where it was asked."""

    channel: Channel
    host: str | None
    port: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.host is not None and self.error is None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}" if self.host else "an endpoint apprise does not name"


def endpoint(channel: Channel) -> tuple[str, int] | None:
    """The (host, port) the channel's messages go to, or None when apprise does not say."""
    plugin = plugin_of(channel)
    if plugin is None:
        return None
    secure = bool(getattr(plugin, "secure", False))
    smtp = getattr(plugin, "smtp_host", None)
    if smtp:
        return str(smtp), int(getattr(plugin, "port", None) or (465 if secure else 25))
    host = getattr(plugin, "host", None)
    if channel.service in SELF_HOSTED and host:
        return str(host), int(getattr(plugin, "port", None) or (443 if secure else 80))
    for attribute in ENDPOINT_ATTRIBUTES:
        url = getattr(type(plugin), attribute, None)
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            parts = urlsplit(url)
            if parts.hostname:
                return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    return None


def reach(channel: Channel, timeout: float = TIMEOUT_S) -> Reach:
    """Open (and close) one TCP connection to the channel's service."""
    found = endpoint(channel)
    if found is None:
        return Reach(channel, None, None, "apprise does not say where this service listens")
    host, port = found
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        return Reach(channel, host, port, reason)
    return Reach(channel, host, port)
