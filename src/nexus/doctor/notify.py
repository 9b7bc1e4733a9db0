"""The `notify` check: NEXUS_NOTIFY_URLS names channels apprise can send to, and each is reachable.

Nothing is sent: a doctor that pages someone to test the pager would be a
surprise. Each channel that parses gets one TCP connection to where its
messages go (`nexus.notify.reach`); `nexus notify test` sends a real message.
Unset means no channels, which is a note, not a problem — the proof is still
on the dashboard. URLs carry tokens and passwords, so channels are shown only
as apprise prints them privately (secrets masked), or by scheme.
"""

from __future__ import annotations

from nexus.doctor.report import CheckReport, Installation
from nexus.errors import ConfigError
from nexus.notify.channels import Channel, channel_entries, parse_channel
from nexus.notify.reach import reach

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
    parsed: list[Channel] = []
    seen: dict[str, int] = {}
    for position, entry in entries:
        try:
            parsed.append(parse_channel(position, entry, seen))
        except ConfigError as exc:
            report.problem("notify_url", str(exc), source=SETTING)
    if parsed:
        shown = ", ".join(f"{c.name} {c.redacted.split('?', 1)[0]}" for c in parsed)
        report.passed.append(f"{len(parsed)} of {len(entries)} channel(s) parse: {shown}")
    for channel in parsed:
        reached = reach(channel)
        label = f"{channel.name} ({channel.service})"
        if reached.ok:
            report.passed.append(f"{label} accepts connections at {reached.where}")
        elif reached.host is None:
            report.notes.append(f"{label}: not checked, {reached.error}")
        else:
            report.problem(
                "notify_unreachable",
                f"{label} cannot be reached at {reached.where}: {reached.error} — check the "
                f"host and port in its {SETTING} entry and that the service is up, then run "
                "`nexus notify test` to send it a test message",
                source=SETTING,
            )
    report.notes.append(
        "nothing was sent: the doctor checks that each channel parses and accepts a connection"
    )
