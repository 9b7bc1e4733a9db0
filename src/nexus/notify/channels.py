"""Where notifications go: the apprise URLs of NEXUS_NOTIFY_URLS, and sending to one of them.

Each URL is a channel. `slack-oncall=slack://…` names it `slack-oncall`; a URL
given bare is named by its service (its scheme: `mailto`, `json`, …), with
`#2`, `#3` for a second and third of one kind. The URL holds the channel's
secrets, so it is never logged or stored: messages name a channel by its name
and its service, and keep apprise's own redacted form (`json://u:****@host`).

A send is retried with exponential backoff (tenacity); a channel that still
fails is reported as `Delivery(ok=False)`, never raised, so one broken
channel neither stops the others nor the proof.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import apprise
from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from nexus.errors import ConfigError
from nexus.registry.config import ALL_CHANNELS

log = logging.getLogger(__name__)
# apprise logs the URLs it posts to at debug level, and some carry their token in the
# path (Slack, Discord webhooks): keep its chatter to warnings whatever Nexus's level.
logging.getLogger("apprise").setLevel(logging.WARNING)

#: Tries per message and channel, and the backoff between them (seconds).
ATTEMPTS = 3
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0
#: Channels that render HTML (email), and so get the HTML body.
HTML_SERVICES = frozenset({"mailto", "mailtos"})
_NAME = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)=(.+)")

BodyFormat = Literal["text", "html"]


@dataclass(frozen=True)
class Channel:
    """One configured URL: its name, its service and its redacted form; the URL stays inside."""

    name: str
    service: str
    redacted: str
    _url: str

    @property
    def wants_html(self) -> bool:
        return self.service in HTML_SERVICES

    def __str__(self) -> str:
        return f"{self.name} ({self.redacted})"


@dataclass(frozen=True)
class Delivery:
    """What one send to one channel came to."""

    channel: Channel
    ok: bool
    attempts: int
    error: str | None = None


def parse_channels(urls: str | None) -> list[Channel]:
    """The channels of NEXUS_NOTIFY_URLS (commas or spaces between), or a `ConfigError` naming
    the bad one.

    The error names the entry by its position and service, never the URL itself.
    """
    seen: dict[str, int] = {}
    return [parse_channel(position, entry, seen) for position, entry in channel_entries(urls)]


def channel_entries(urls: str | None) -> list[tuple[int, str]]:
    """The entries of NEXUS_NOTIFY_URLS (`url` or `name=url`), numbered from 1."""
    return list(enumerate(filter(None, re.split(r"[\s,]+", urls or "")), 1))


def _instantiate(url: str) -> Any:
    """apprise's plugin for `url`; apprise logs a URL it refuses, secrets and all, so not here."""
    quiet = logging.getLogger("apprise")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return apprise.Apprise.instantiate(url)
    finally:
        quiet.setLevel(level)


def plugin_of(channel: Channel) -> Any:
    """apprise's parsed plugin for the channel (its host, port, service endpoint)."""
    return _instantiate(channel._url)


def parse_channel(position: int, entry: str, seen: dict[str, int]) -> Channel:
    """One entry as a channel; `seen` counts services, to name unnamed channels apart."""
    named = _NAME.fullmatch(entry)
    # A scheme's "://" comes before any "=", so a bare URL never reads as name=url.
    name, url = (named.group(1), named.group(2)) if named else (None, entry)
    service = url.split("://", 1)[0].lower() if "://" in url else ""
    plugin = _instantiate(url) if service else None
    if plugin is None:
        raise ConfigError(
            f"NEXUS_NOTIFY_URLS entry {position} ({service or 'no scheme'}://…) is not a URL "
            "apprise can send to — check its scheme and form against apprise's list of "
            "services (e.g. mailto://user:pass@host?to=owner@example.com, json://host/path)"
        )
    if name is None:
        seen[service] = seen.get(service, 0) + 1
        name = service if seen[service] == 1 else f"{service}#{seen[service]}"
    redacted = str(plugin.url(privacy=True))
    return Channel(name, service, redacted, url)


def send_test(channels: Sequence[Channel], sleep: Sleep | None = None) -> list[Delivery]:
    """`nexus notify test`: one test message to every channel, and how each went."""
    title = "Nexus test notification"
    text = "This is a test from Nexus: this channel will be told when the mirror needs attention."
    return [send(c, title, text, f"<p>{text}</p>", sleep=sleep) for c in channels]


def routed(channels: Sequence[Channel], wanted: Sequence[str]) -> list[Channel]:
    """The channels a [notify] list names: "*" for all, else by name or by service."""
    if ALL_CHANNELS in wanted:
        return list(channels)
    return [c for c in channels if c.name in wanted or c.service in wanted]


Sleep = Callable[[float], None]


def send(
    channel: Channel,
    title: str,
    text: str,
    html: str,
    *,
    attempts: int = ATTEMPTS,
    sleep: Sleep | None = None,
) -> Delivery:
    """Send one message to one channel, retrying with backoff; report, never raise."""
    body, body_format = (
        (html, apprise.NotifyFormat.HTML)
        if channel.wants_html
        else (text, apprise.NotifyFormat.TEXT)
    )
    tries = 0

    def once() -> bool:
        nonlocal tries
        tries += 1
        sender = apprise.Apprise()
        sender.add(channel._url)
        return bool(sender.notify(body=body, title=title, body_format=body_format))

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=BACKOFF_S, max=BACKOFF_MAX_S),
        retry=retry_if_result(lambda ok: not ok),
        sleep=sleep or time.sleep,
    )
    try:
        retrying(once)
    except RetryError:
        error = f"{channel.name} ({channel.service}) refused or did not answer {tries} tries"
        log.warning("notification %r not delivered: %s", title, error)
        return Delivery(channel, ok=False, attempts=tries, error=error)
    return Delivery(channel, ok=True, attempts=tries)
