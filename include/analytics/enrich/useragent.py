"""User agent → browser, OS, device type, brand, model and bot flag, one parse per distinct string."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

Engine = Literal["auto", "rust", "python"]

COLUMNS = (
    "browser_name",
    "browser_version",
    "os_name",
    "os_version",
    "device_type",
    "device_brand",
    "device_model",
    "is_bot",
)

OS_NAMES = {
    "Mac OS X": "macOS",
    "Mac OS": "macOS",
    "Chrome OS": "ChromeOS",
    "ATV OS X": "tvOS",
    "Windows Phone": "Windows Phone",
    "Ubuntu": "Linux",
    "Debian": "Linux",
    "Fedora": "Linux",
    "Red Hat": "Linux",
    "Mint": "Linux",
    "Arch Linux": "Linux",
    "Gentoo": "Linux",
    "openSUSE": "Linux",
    "CentOS": "Linux",
    "Slackware": "Linux",
    "Kubuntu": "Linux",
    "Linux Mint": "Linux",
    "Web0S": "webOS",
}
BROWSER_NAMES = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome WebView",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari WebView",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "HeadlessChrome": "Headless Chrome",
}
# ua-parser names these families but does not mark them as automated.
AUTOMATED_BROWSERS = frozenset(
    {
        "curl",
        "Wget",
        "Python Requests",
        "Python-urllib",
        "Go-http-client",
        "okhttp",
        "Apache-HttpClient",
        "Java",
        "HeadlessChrome",
        "PhantomJS",
        "aiohttp",
        "axios",
        "node-fetch",
        "PostmanRuntime",
        "libwww-perl",
        "Scrapy",
        "httpx",
    }
)
_BOT_WORDS = re.compile(
    r"bot\b|crawl|spider|slurp|headless|python|curl/|wget/|go-http-client|okhttp|java/|apache-httpclient|"
    r"axios/|node-fetch|postmanruntime|libwww|scrapy|httpx|lighthouse|pingdom|uptime|monitor",
    re.IGNORECASE,
)
_TV = re.compile(
    r"smart-?tv|smarttv|googletv|android tv|\btv\b|bravia|tizen.*tv|web0s|webos.*tv|netcast|roku|aft[a-z]|"
    r"appletv|apple tv|crkey|hbbtv|viera|philipstv|aquos",
    re.IGNORECASE,
)
_CONSOLE = re.compile(r"playstation|xbox|nintendo|ouya", re.IGNORECASE)
_WEARABLE = re.compile(r"watch|wear os|glass\b", re.IGNORECASE)
_WEARABLE_UA = re.compile(r"\bWatch\b|Watch OS|watchOS|\bSM-R\d{3}\b")
_TABLET = re.compile(
    r"ipad|tablet|kindle|silk/|\bkf[a-z]{2,4}\b|playbook|nexus (7|9|10)|\btab\b|sm-t\d|sm-x\d|sm-p\d", re.I
)
_MOBILE = re.compile(r"iphone|ipod|mobile|phone|kaios|blackberry|bb10|opera mini|symbian|windows ce|palm", re.I)
_DESKTOP_OS = frozenset({"macOS", "Windows", "Linux", "ChromeOS", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"})


class Parsed(NamedTuple):
    browser_name: str | None
    browser_version: str | None
    os_name: str | None
    os_version: str | None
    device_type: str | None
    device_brand: str | None
    device_model: str | None
    is_bot: bool


_EMPTY = Parsed(None, None, None, None, None, None, None, False)


@cache
def _resolver(engine: Engine) -> Callable[[str], Any]:
    from ua_parser import BasicResolver, Domain, load_builtins

    matchers = load_builtins()
    if engine in ("auto", "rust"):
        try:
            from ua_parser.regex import Resolver as RustResolver  # the ua-parser-rs accelerator
        except ImportError:
            if engine == "rust":
                raise
        else:
            r = RustResolver(matchers)
            return lambda ua: r(ua, Domain.ALL)
    b = BasicResolver(matchers)
    return lambda ua: b(ua, Domain.ALL)


def _version(*parts: str | None) -> str | None:
    out = []
    for p in parts:
        if p is None or p == "":
            break
        out.append(p)
    return ".".join(out) or None


def device_type(ua: str, browser: str | None, os_name: str | None, family: str | None, brand: str | None) -> str:
    """One of desktop, mobile, tablet, tv, console, wearable, bot, other: ua-parser has no such field."""
    if family == "Spider" or browser in AUTOMATED_BROWSERS or _BOT_WORDS.search(ua):
        return "bot"
    dev = f"{family or ''} {brand or ''}"
    if _CONSOLE.search(dev) or _CONSOLE.search(ua):
        return "console"
    if _TV.search(ua) or os_name == "tvOS":
        return "tv"
    if _WEARABLE.search(dev) or os_name in ("watchOS", "Wear OS") or _WEARABLE_UA.search(ua):
        return "wearable"
    if brand == "Generic_Android_Tablet" or _TABLET.search(dev) or _TABLET.search(ua):
        return "tablet"
    if os_name == "Android":
        # Android convention: phones say "Mobile", tablets don't.
        return "mobile" if "Mobile" in ua or _MOBILE.search(ua) else "tablet"
    if os_name in ("iOS", "Windows Phone", "KaiOS", "BlackBerry OS", "Symbian OS", "Firefox OS") or _MOBILE.search(ua):
        return "mobile"
    if os_name in _DESKTOP_OS or family == "Mac":
        return "desktop"
    return "other"


def parse_one(ua: str | None, engine: Engine = "auto") -> Parsed:
    if not ua:
        return _EMPTY
    res = _resolver(engine)(ua)
    u, o, d = res.user_agent, res.os, res.device
    browser = u.family if u and u.family != "Other" else None
    if browser == "Apple Mail" and d is not None and d.brand != "Apple":
        # A bare "AppleWebKit (KHTML, like Gecko)" matches Apple Mail; on a console or TV it is the built-in browser.
        browser = None
    os_family = o.family if o and o.family != "Other" else None
    os_name = OS_NAMES.get(os_family, os_family) if os_family else None
    if os_name and os_name.startswith("Windows") and os_name not in ("Windows Phone", "Windows Mobile", "Windows RT"):
        os_name = "Windows"
    family = d.family if d and d.family != "Other" else None
    brand = (
        d.brand
        if d and d.brand not in (None, "Generic", "Generic_Android", "Generic_Android_Tablet", "Spider")
        else None
    )
    dtype = device_type(ua, browser, os_name, family, d.brand if d else None)
    return Parsed(
        browser_name=BROWSER_NAMES.get(browser, browser) if browser else None,
        browser_version=_version(u.major, u.minor, u.patch) if browser else None,
        os_name=os_name,
        os_version=_version(o.major, o.minor, o.patch) if os_name else None,
        device_type=dtype,
        device_brand=brand,
        device_model=d.model if d and d.model and family not in (None, "Spider") else None,
        is_bot=dtype == "bot",
    )


def parse_codes(user_agents: pd.Series, engine: Engine = "auto") -> tuple[np.ndarray, list[Parsed]]:
    """Parse each distinct string once: (code per input row, parsed per code); code -1 (missing) → last entry."""
    codes, uniques = pd.factorize(user_agents, use_na_sentinel=True)
    return codes, [parse_one(ua, engine) for ua in uniques] + [_EMPTY]


def parse_distinct(user_agents: pd.Series, engine: Engine = "auto") -> tuple[pd.DataFrame, int]:
    """The parsed columns aligned to the input, and the number of distinct strings parsed."""
    codes, parsed = parse_codes(user_agents, engine)
    rows = np.array(parsed, dtype=object)[codes]
    frame = pd.DataFrame({name: rows[:, i] for i, name in enumerate(COLUMNS)}, index=user_agents.index)
    frame["is_bot"] = frame["is_bot"].astype(bool)
    return frame, len(parsed) - 1
