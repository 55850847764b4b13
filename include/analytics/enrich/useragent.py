"""User agent → browser, OS, device type, brand, model and bot flag, one parse per distinct string."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal, NamedTuple

Engine = Literal["auto", "rust", "python"]

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
# Substring tests on the lower-cased string first (C speed); a regex only where a word boundary matters
# and only after its cheap prefilter matched. Per distinct string this mapping costs less than the parse.
_BOT = (
    "crawl",
    "spider",
    "slurp",
    "headless",
    "python",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "axios/",
    "node-fetch",
    "postmanruntime",
    "libwww",
    "scrapy",
    "httpx",
    "lighthouse",
    "pingdom",
    "uptime",
    "monitor",
)
_TV = (
    "smart-tv",
    "smarttv",
    "googletv",
    "google tv",
    "android tv",
    "androidtv",
    "bravia",
    "web0s",
    "netcast",
    "roku",
    "appletv",
    "apple tv",
    "crkey",
    "hbbtv",
    "viera",
    "philipstv",
    "aquos",
)
_TV_RX = re.compile(r"\btv\b|tizen.*\btv\b|webos.*\btv\b|; aft[a-z]")
_CONSOLE = ("playstation", "xbox", "nintendo", "ouya")
_TABLET = ("ipad", "tablet", "kindle", "silk/", "playbook", "nexus 7", "nexus 9", "nexus 10", "sm-t", "sm-x", "sm-p")
_TABLET_RX = re.compile(r"\bkf[a-z]{2,4}\b|\btab\b|\bsm-[tpx]\d")
_MOBILE = (
    "iphone",
    "ipod",
    "mobile",
    "phone",
    "kaios",
    "blackberry",
    "bb10",
    "opera mini",
    "symbian",
    "windows ce",
    "palm",
)
_WEARABLE_RX = re.compile(r"\bwatch\b|watch ?os|\bsm-r\d{3}\b")


def _any_of(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for "contains any of these words": a third faster than testing each word in turn."""
    return re.compile("|".join(map(re.escape, words)))


_BOT_ANY, _TV_ANY, _CONSOLE_ANY, _TABLET_ANY, _MOBILE_ANY = map(_any_of, (_BOT, _TV, _CONSOLE, _TABLET, _MOBILE))


def _has(text: str, words: re.Pattern[str]) -> bool:
    return words.search(text) is not None


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
def _resolver(engine: Engine) -> Callable[[str], tuple[Any, Any, Any]]:
    """ua → (user agent, os, device) matches, each with family / major / minor / patch (brand / model) or None."""
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
            # The extractors' matches carry the same fields as ua-parser's result types; calling them
            # directly skips building those (a third of the cost per string).
            return lambda ua: (r.ua.extract(ua), r.os.extract(ua), r.de.extract(ua))
    b = BasicResolver(matchers)

    def basic(ua: str) -> tuple[Any, Any, Any]:
        res = b(ua, Domain.ALL)
        return res.user_agent, res.os, res.device

    return basic


def _version(major: str | None, minor: str | None, patch: str | None) -> str | None:
    if not major:
        return None
    if not minor:
        return major
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


def device_type(ua: str, browser: str | None, os_name: str | None, family: str | None, brand: str | None) -> str:
    """One of desktop, mobile, tablet, tv, console, wearable, bot, other: ua-parser has no such field."""
    low = ua.lower()
    dev = f"{family or ''} {brand or ''}".lower()
    if (
        family == "Spider"
        or browser in AUTOMATED_BROWSERS
        or ("bot" in low and "cubot" not in low)  # Cubot is a phone brand
        or _has(low, _BOT_ANY)
    ):
        return "bot"
    if _has(dev, _CONSOLE_ANY) or _has(low, _CONSOLE_ANY):
        return "console"
    if _has(low, _TV_ANY) or os_name == "tvOS" or ("tv" in low or "aft" in low) and _TV_RX.search(low):
        return "tv"
    if (
        "watch" in dev
        or os_name in ("watchOS", "Wear OS")
        or ("watch" in low or "sm-r" in low)
        and _WEARABLE_RX.search(low)
    ):
        return "wearable"
    if (
        brand == "Generic_Android_Tablet"
        or _has(dev, _TABLET_ANY)
        or _has(low, _TABLET_ANY)
        or ("kf" in low or "tab" in low or "sm-" in low)
        and _TABLET_RX.search(low)
    ):
        return "tablet"
    if os_name == "Android":
        # Android convention: phones say "Mobile", tablets don't.
        return "mobile" if _has(low, _MOBILE_ANY) else "tablet"
    if os_name in ("iOS", "Windows Phone", "KaiOS", "BlackBerry OS", "Symbian OS", "Firefox OS") or _has(
        low, _MOBILE_ANY
    ):
        return "mobile"
    if os_name in _DESKTOP_OS or family == "Mac":
        return "desktop"
    return "other"


def parse_one(ua: str | None, engine: Engine = "auto") -> Parsed:
    if not ua:
        return _EMPTY
    u, o, d = _resolver(engine)(ua)
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


@cache
def parser_id() -> str:
    """Names the code a parse comes from (ua-parser, its regexes, this module's mapping): a parse cached in
    analytics.user_agents by anything else is redone. Both resolvers give the same answers (tested)."""
    mapping = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:12]
    return f"ua-parser {version('ua-parser')}; regexes {version('ua-parser-builtins')}; mapping {mapping}"
