"""`[notify]` and `[web]` in nexus.toml: defaults, and one exact message per mistake."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from nexus.registry.config import ConfigFileError, clock_range, load_config, parse_config


def test_the_defaults_tell_everyone_after_15_minutes_and_repeat_every_4_hours() -> None:
    config = load_config(None)
    rules = config.notify
    assert (rules.critical, rules.warning, rules.morning_report) == (["*"], ["*"], [])
    assert (rules.hold, rules.repeat_interval) == (timedelta(minutes=15), timedelta(hours=4))
    assert rules.send_resolved is True and rules.quiet_hours is None
    assert config.web.public_url is None  # links then point at `nexus serve` on loopback
    assert config.producers["notifier"].kind == "notifier"


def test_notify_settings_are_read_from_the_file() -> None:
    config = parse_config(
        '[notify]\nfor = "30m"\nrepeat_interval = "1d"\nwarning = ["slack"]\n'
        'quiet_hours = "22:00-07:00"\nmorning_report = ["mailto"]\nmorning_hour = 6\n'
        '\n[web]\npublic_url = "https://nexus.example.com"\n'
    )
    rules = config.notify
    assert (rules.hold, rules.repeat_interval, rules.warning) == (
        timedelta(minutes=30),
        timedelta(days=1),
        ["slack"],
    )
    assert clock_range(rules.quiet_hours) == (time(22, 0), time(7, 0))
    assert (rules.morning_report, rules.morning_hour) == (["mailto"], 6)
    assert config.web.public_url == "https://nexus.example.com"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[notify]\nquiet_hours = "late"\n',
            "nexus.toml:2: notify: quiet_hours 'late' is not a range of clock times — write "
            'e.g. "22:00-07:00"',
        ),
        (
            "[notify]\nfor = 15\n",
            "nexus.toml:2: notify: for must be a duration in quotes, not the number 15 — write it "
            'with a unit, e.g. "90s", "15m", "1h" or "7d"',
        ),
        (
            '[notify]\nrepeat = "1h"\n',
            "nexus.toml:2: notify: unknown key 'repeat' — allowed keys: critical, warning, for, "
            "repeat_interval, send_resolved, quiet_hours, morning_report, morning_hour",
        ),
        (
            "[notify]\nmorning_hour = 24\n",
            "nexus.toml:2: notify: morning_hour must be at most 23, not 24",
        ),
    ],
)
def test_one_mistake_in_notify_gives_its_one_message(text: str, message: str) -> None:
    with pytest.raises(ConfigFileError) as info:
        parse_config(text)
    assert str(info.value) == message
