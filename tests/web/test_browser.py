"""The dashboard in a real browser: Debian's Chromium driven by Playwright, on a closed network.

It signs in through the form, reads the proof (alert labels, interval whiskers,
charts), follows an alert's evidence link to the producer page, records every
request the pages make (all must stay on this server), checks that the pages
fit a 390 px phone (the vitals and the technicians stack, one labelled block
per row), finds the apprentice's few jobs labelled noise, and saves screenshots
at laptop and phone width under artifacts/web/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from nexus.serving import ThreadedServer
from webkit import ARTIFACTS, PASSWORD, USER, Replayed, replay_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def _chromium_is_installed() -> None:
    """A missing browser is a failed test, never a skipped one: `python3 tasks.py test` installs it."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
    )


@pytest.fixture(scope="module")
def dashboard(replayed: Replayed) -> Iterator[str]:
    with ThreadedServer(replay_app(replayed)) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def test_sign_in_read_the_proof_and_follow_the_evidence(
    browser: object, dashboard: str, replayed: Replayed
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    # Anonymous: the proof sends the browser to the login form.
    page.goto(f"{dashboard}/")
    expect(page).to_have_url(f"{dashboard}/login?next=%2F")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{dashboard}/")

    # Verdict, story and next actions at the top.
    expect(page.locator("#verdict")).to_contain_text("critical")
    expect(page.locator(".verdict .story li").first).to_contain_text(
        "ST mirror invoice coverage gap"
    )
    expect(page.locator(".actions code.cmd").first).to_have_text(
        "nexus producers restore invoice_sync"
    )

    # Alert labels, the interval whisker against its threshold, and the charts.
    labels = page.locator(".alert-label")
    expect(labels.first).to_be_visible()
    shown = labels.all_inner_texts()
    assert "ST mirror invoice coverage gap" in shown
    for alert in replayed.proof["alerts"]:
        assert alert["label"] in shown
    whisker = page.locator("svg.whisker-chart").first
    expect(whisker).to_be_visible()
    expect(whisker.locator("g.ci")).to_be_visible()
    assert whisker.locator("line.whisker").count() == 3
    expect(whisker.locator("g.threshold")).to_be_visible()
    expect(whisker.locator("g.threshold")).to_contain_text("threshold 15 %")
    expect(whisker.locator("circle.dot")).to_be_visible()
    box = whisker.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 30
    coverage = page.locator("svg.coverage-chart")
    expect(coverage).to_be_visible()
    assert coverage.locator("rect.bar").count() >= 5
    assert coverage.locator("line.interval").count() >= 15
    expect(page.locator("svg.revenue-chart")).to_be_visible()
    assert page.locator("svg.revenue-chart rect.bar-ref").count() >= 2
    expect(page.locator("#orphans")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "proof.png"), full_page=True)

    # Every link and control can be reached from the keyboard, starting with "skip".
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    # Follow the cause's evidence to the producer that was retired.
    page.locator("a.evidence", has_text="producer invoice_sync").first.click()
    expect(page).to_have_url(f"{dashboard}/producers/invoice_sync")
    expect(page.locator("h1")).to_contain_text("invoice_sync")
    expect(page.locator("h1 .badge")).to_have_text("retired")
    expect(page.locator("#runs")).to_be_visible()
    assert page.locator("tr[id^=run-]").count() > 0
    page.screenshot(path=str(ARTIFACTS / "producer.png"), full_page=True)

    # And the product it orphaned, with its freshness history.
    page.locator("a", has_text="titan.jobs.invoice_total").first.click()
    expect(page.locator("svg.freshness-chart")).to_be_visible()

    assert problems == []
    outside = [
        url
        for url in requested
        if not url.startswith("data:") and urlsplit(url).netloc != urlsplit(dashboard).netloc
    ]
    assert outside == [], outside
    assert len(requested) >= 4
    context.close()


def test_the_proof_fits_a_phone(browser: object, dashboard: str) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    page.goto(f"{dashboard}/login")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#verdict")).to_be_visible()
    expect(page.locator("svg.whisker-chart").first).to_be_visible()
    # Nothing wider than the screen but the tables, which scroll inside their frame.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    assert _frames_that_cut_off(page) == []
    # The vitals stack, one labelled block per producer: every cell shown, none cut off.
    vitals = page.locator("#vitals-table tbody tr")
    assert vitals.count() >= 3
    cells = page.locator("#vitals-table td")
    assert cells.count() == 5 * vitals.count()
    for i in range(cells.count()):
        expect(cells.nth(i)).to_be_visible()
        box = cells.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 391, i
    labels = page.evaluate(
        "[...document.querySelectorAll('#vitals-table tr:first-child td')]"
        ".map(td => getComputedStyle(td, '::before').content)"
    )
    assert labels == ['"Producer"', '"Status"', '"Last heartbeat"', '"Every"', '"Keeps fresh"']
    # A heartbeat reads "… ago"; the exact time is its hover title.
    heartbeat = page.locator("#vitals-table time").first
    expect(heartbeat).to_contain_text("ago")
    title = heartbeat.get_attribute("title") or ""
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d C[DS]T = \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", title
    )
    page.screenshot(path=str(ARTIFACTS / "proof-phone.png"), full_page=True)

    # The producer page, with its runs table, fits too.
    page.goto(f"{dashboard}/producers/invoice_sync")
    expect(page.locator("#runs")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    assert _frames_that_cut_off(page) == []
    page.screenshot(path=str(ARTIFACTS / "producer-phone.png"), full_page=True)
    context.close()


@pytest.mark.parametrize(
    ("width", "height", "shot"),
    [(1280, 900, "technicians.png"), (390, 844, "technicians-phone.png")],
)
def test_the_technician_table_labels_the_apprentices_few_jobs_as_noise(
    browser: object, dashboard: str, replayed: Replayed, width: int, height: int, shot: str
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    technicians = replayed.proof["coverage_by_technician"]
    small = [t for t in technicians if t["status"] == "insufficient_data"]
    # Four full-timers judged on enough jobs, and the apprentice on a handful.
    assert len(small) == 1 and len(technicians) == 5
    [apprentice] = small
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone = width < 640
    context = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=2, is_mobile=phone
    )
    page = context.new_page()
    page.goto(f"{dashboard}/login")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    table = page.locator("#technicians-table")
    table.scroll_into_view_if_needed()
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    assert rows.count() == len(technicians)
    # The apprentice's row, and only theirs, carries the noise chip beside its status.
    for t in technicians:
        row = rows.filter(has_text=t["name"])
        expect(row).to_have_count(1)
        chip = row.locator(".chip")
        if t is apprentice:
            expect(chip).to_have_text("noise — too few to judge")
            expect(chip).to_be_visible()
            expect(row.locator(".badge")).to_have_text("insufficient data")
        else:
            expect(chip).to_have_count(0)
    # So does the noise alert, which names the apprentice's k of n.
    noise = page.locator("article.alert", has_text=f"by {apprentice['name']}, ")
    expect(noise.locator(".chip")).to_have_text("noise — too few to judge")
    # Readable at this width: every cell shown inside the screen, nothing wider than it.
    cells = table.locator("td")
    assert cells.count() == 6 * len(technicians)
    for i in range(cells.count()):
        expect(cells.nth(i)).to_be_visible()
        box = cells.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, i
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    assert _frames_that_cut_off(page) == []
    # On a phone each technician is one labelled block; at laptop width, a plain table.
    labels = page.evaluate(
        "[...document.querySelectorAll('#technicians-table tr:first-child td')]"
        ".map(td => getComputedStyle(td, '::before').content)"
    )
    stacked = ['"Technician"', '"Jobs (n)"', '"Without a total"', '"Gap"', '"95 % interval"']
    assert labels == ([*stacked, '"Status"'] if phone else ["none"] * 6)
    table.screenshot(path=str(ARTIFACTS / shot))
    context.close()


def _frames_that_cut_off(page: object) -> list[str]:
    """Table frames that reach past the screen, or hide a wider table without scrolling it."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    found: list[str] = page.evaluate(
        """[...document.querySelectorAll('.table-wrap')].filter(w => {
            const scrolls = ['auto', 'scroll'].includes(getComputedStyle(w).overflowX);
            const fits = w.scrollWidth <= w.clientWidth + 1;
            return w.getBoundingClientRect().right > window.innerWidth + 1 || !(fits || scrolls);
        }).map(w => w.outerHTML.slice(0, 120))"""
    )
    return found
