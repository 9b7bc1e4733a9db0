"""The `notify` check: NEXUS_NOTIFY_URLS names channels apprise can send to.

Nothing is sent: a doctor that pages someone to test the pager would be a
surprise. Unset means no channels, which is a note, not a problem — the proof
is still on the dashboard. URLs carry tokens and passwords, so channels are
shown only as apprise prints them privately (secrets masked), or by scheme.
"""

from __future__ import annotations

from nexus.doctor.report import CheckReport, Installation
from nexus.errors import ConfigError
from nexus.notify.channels import channel_entries, parse_channel

SETTING = "NEXUS_NOTIFY_URLS"


def check(installation: Installation, report: CheckReport) -> None:
    """Check that the notification channels in NEXUS_NOTIFY_URLS parse (nothing is sent)."""
    urls = installation.settings().notify_urls
    entries = channel_entries(urls.get_secret_value() if urls is not None else "")
    if not entries:
        report.notes.append(
            f"no channels configured: set {SETTING} to apprise URLs (e.g. mailto://…, "
            "ntfy://…, json://…) to be told when the proof turns red"
        )
        return
    shown: list[str] = []
    seen: dict[str, int] = {}
    for position, entry in entries:
        try:
            channel = parse_channel(position, entry, seen)
        except ConfigError as exc:
            report.problem("notify_url", str(exc), source=SETTING)
        else:
            shown.append(f"{channel.name} {channel.redacted.split('?', 1)[0]}")
    if shown:
        report.passed.append(f"{len(shown)} of {len(entries)} channel(s) parse: {', '.join(shown)}")
    report.notes.append("nothing was sent: the doctor only checks that the channels parse")
