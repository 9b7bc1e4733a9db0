"""The `notify` check: NEXUS_NOTIFY_URLS names channels apprise can send to.

Nothing is sent: a doctor that pages someone to test the pager would be a
surprise. Unset means no channels, which is a note, not a problem — the proof
is still on the dashboard. URLs carry tokens and passwords, so channels are
shown only as apprise prints them privately (secrets masked), or by scheme.
"""

from __future__ import annotations

import logging
import re

import apprise

from nexus.doctor.report import CheckReport, Installation

SETTING = "NEXUS_NOTIFY_URLS"


def check(installation: Installation, report: CheckReport) -> None:
    """Check that the notification channels in NEXUS_NOTIFY_URLS parse (nothing is sent)."""
    urls = installation.settings().notify_urls
    channels = channel_urls(urls.get_secret_value() if urls is not None else "")
    if not channels:
        report.notes.append(
            f"no channels configured: set {SETTING} to apprise URLs (e.g. mailto://…, "
            "ntfy://…, json://…) to be told when the proof turns red"
        )
        return
    shown = []
    quiet = logging.getLogger("apprise")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # apprise logs the URL it refuses, secrets and all
    try:
        for number, url in enumerate(channels, 1):
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                scheme = url.split("://", 1)[0] if "://" in url else "no scheme"
                report.problem(
                    "notify_url",
                    f"channel {number} of {len(channels)} ({scheme}) is not a URL apprise can "
                    "send to — check its scheme and the fields its service needs in "
                    "apprise's list of services, then fix the variable",
                    source=SETTING,
                )
            else:
                private = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
                shown.append(private.split("?", 1)[0])  # apprise's own defaults, at length
    finally:
        quiet.setLevel(level)
    if shown:
        report.passed.append(f"{len(shown)} channel(s) parse: {', '.join(shown)}")
    report.notes.append("nothing was sent: the doctor only checks that the channels parse")


def channel_urls(text: str) -> list[str]:
    """The URLs of a setting that separates them with spaces or commas, as apprise does."""
    return [url for url in re.split(r"[\s,]+", text) if url]
