"""The words of a notification: one root cause, its symptoms inside, in plain text and HTML.

A message holds the cause's story line, the measurement with its n and
interval, since when, the first action's exact command and a link to the
dashboard. Email gets the HTML body (apprise adds the plain-text part from
it); every other channel gets the plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from nexus import times
from nexus.notify.policy import Due, Notice
from nexus.proof.model import Action, Proof
from nexus.proof.story import cause_actions, cause_words, group_line, measured

SEVERITY_WORD = {"critical": "CRITICAL", "warning": "WARNING"}


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    html: str


def dashboard_link(public_url: str, tenant: int) -> str:
    return f"{public_url.rstrip('/')}/proof?tenant={tenant}"


def first_action(proof: Proof, notice: Notice) -> Action | None:
    """The action to take first for this cause."""
    actions = cause_actions(notice.group, proof)
    return actions[0] if actions else None


def headline(notice: Notice) -> str:
    """The cause in a few words: "ST mirror invoice coverage gap: invoice_sync was retired"."""
    return f"{notice.primary.label}: {cause_words(notice.group)}"


def cause_message(proof: Proof, due: Due, public_url: str) -> Message:
    """A firing or repeat message for one cause, with its symptoms inside."""
    assert due.notice is not None
    notice = due.notice
    primary = notice.primary
    since = times.when(notice.group.since, proof.zone)
    story = group_line(proof, notice.group)
    action = first_action(proof, notice)
    link = dashboard_link(public_url, proof.tenant)
    again = " (still holding)" if due.kind == "repeat" else ""
    title = f"[{SEVERITY_WORD[notice.severity]}] tenant {proof.tenant}: {headline(notice)}{again}"
    symptoms = [f"{a.label} — {measured(a)}" for a in notice.symptoms]
    lines = [
        story,
        "",
        f"Measured: {measured(primary)}",
        f"Since: {since}",
    ]
    if symptoms:
        lines += ["Symptoms of this cause (not separate problems):"]
        lines += [f"  - {s}" for s in symptoms]
    if action is not None:
        lines += [f"Do first: {action.do}", f"  $ {action.command}"]
    lines += [f"Dashboard: {link}"]
    html = [
        f"<h2>{escape(title)}</h2>",
        f"<p>{escape(story)}</p>",
        f"<p><b>Measured:</b> {escape(measured(primary))}<br><b>Since:</b> {escape(since)}</p>",
    ]
    if symptoms:
        html.append("<p><b>Symptoms of this cause</b> (not separate problems):</p><ul>")
        html += [f"<li>{escape(s)}</li>" for s in symptoms]
        html.append("</ul>")
    if action is not None:
        html.append(
            f"<p><b>Do first:</b> {escape(action.do)}</p><pre><code>{escape(action.command)}"
            "</code></pre>"
        )
    html.append(f'<p><a href="{escape(link)}">Open the Evolution Proof</a> ({escape(link)})</p>')
    return Message(title, "\n".join(lines), "\n".join(html))


def resolved_message(proof: Proof, due: Due, public_url: str) -> Message:
    """The notice that a cause which fired has cleared."""
    assert due.episode is not None
    episode = due.episode
    link = dashboard_link(public_url, proof.tenant)
    if episode.headline is not None:
        title = f"[RESOLVED] tenant {proof.tenant}: {episode.headline}"
    else:  # fired before episodes kept their headline
        kind, _, producer = episode.cause_key.partition(":")
        whose = f" ({producer})" if producer not in ("", "*") else ""
        title = f"[RESOLVED] tenant {proof.tenant}: {kind}{whose} has cleared"
    zone = proof.zone
    text = (
        f"This has cleared: the cause {episode.cause_key} ({episode.severity}) held from "
        f"{times.local(episode.first_seen, zone)} to {times.local(proof.as_of, zone)} and is no "
        f"longer in the proof. The verdict is now {proof.verdict}.\nDashboard: {link}"
    )
    html = (
        f"<h2>{escape(title)}</h2><p>{escape(text.splitlines()[0])}</p>"
        f'<p><a href="{escape(link)}">Open the Evolution Proof</a> ({escape(link)})</p>'
    )
    return Message(title, text, html)


def morning_message(proof: Proof, public_url: str) -> Message:
    """The morning report: the verdict, the story, the last day's coverage and revenue capture."""
    link = dashboard_link(public_url, proof.tenant)
    title = f"Nexus morning report, tenant {proof.tenant}: {proof.verdict}"
    lines = [f"Verdict: {proof.verdict}", "", *proof.story, ""]
    days = [d for d in proof.coverage_by_day if d.completed]
    if days:
        day = days[-1]
        lines.append(
            f"Coverage on {day.day}: {day.with_total} of {day.completed} completed jobs carry an "
            f"invoice total ({day.rate:.0%}, 95 % CI {day.ci_low:.0%}–{day.ci_high:.0%})"
        )
    weeks = [w for w in proof.revenue.weeks if w.capture is not None]
    if weeks:
        week = weeks[-1]
        lines.append(
            f"Revenue captured in {week.week}: ${week.mirror:,.0f} of ${week.reference or 0:,.0f} "
            f"({week.capture:.0%}{', provisional' if week.provisional else ''})"
        )
    lines.append(f"Dashboard: {link}")
    html = "".join(f"<p>{escape(line)}</p>" for line in lines if line)
    html += f'<p><a href="{escape(link)}">Open the Evolution Proof</a></p>'
    return Message(title, "\n".join(lines), f"<h2>{escape(title)}</h2>{html}")
