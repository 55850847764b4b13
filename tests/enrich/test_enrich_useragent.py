"""User agent mapping on a table of real strings: browser, OS as people say them, derived device type."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.enrich.useragent import parse_one

TABLE = Path(__file__).parents[1] / "data" / "user_agents.tsv"


def _cases() -> list[tuple[str | None, str | None, str, str]]:
    rows = []
    for line in TABLE.read_text().splitlines():
        if line and not line.startswith("#"):
            browser, os_name, device, ua = line.split("\t")
            rows.append((None if browser == "-" else browser, None if os_name == "-" else os_name, device, ua))
    return rows


CASES = _cases()


@pytest.mark.parametrize(("browser", "os_name", "device", "ua"), CASES, ids=[c[3][:60] for c in CASES])
def test_real_user_agent(browser, os_name, device, ua):
    got = parse_one(ua)
    assert (got.browser_name, got.os_name, got.device_type) == (browser, os_name, device)
    assert got.is_bot is (device == "bot")


def test_table_covers_every_device_type():
    assert {c[2] for c in CASES} == {"desktop", "mobile", "tablet", "tv", "console", "wearable", "bot"}
    assert len(CASES) >= 50


def test_pure_python_resolver_agrees_with_the_accelerator():
    for *_, ua in CASES:
        assert parse_one(ua, "python") == parse_one(ua, "rust"), ua


def test_versions_brand_and_model():
    p = parse_one(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.43 Mobile Safari/537.36"
    )
    assert (p.browser_version, p.os_version, p.device_brand, p.device_model) == (
        "120.0.6099",
        "14",
        "Google",
        "Pixel 8 Pro",
    )
    other = parse_one("SomethingUnheardOf/1.0")
    assert (other.browser_name, other.os_name, other.device_type, other.is_bot) == (None, None, "other", False)
