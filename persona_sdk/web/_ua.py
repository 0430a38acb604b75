"""A small user-agent parser: device type, browser and OS from common UA strings.

No dependency and no attempt at completeness: it recognises the browsers and systems that make
up nearly all traffic (Chrome, Safari, Firefox, Edge, Opera, Samsung Internet, IE; Windows,
macOS, iOS/iPadOS, Android, ChromeOS, Linux) and the usual crawlers. Results are cached (the
same few hundred UA strings repeat across a site's traffic).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["is_bot", "parse_user_agent"]

# Crawlers, link unfurlers, monitors, HTTP libraries and headless automation. Matched
# case-insensitively anywhere in the string.
_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|archiver|facebookexternalhit|embedly|quora link preview"
    r"|bingpreview|pingdom|uptimerobot|statuscake|lighthouse|pagespeed|headlesschrome"
    r"|phantomjs|puppeteer|playwright|selenium|python-requests|python-urllib|aiohttp"
    r"|\bhttpx\b|\bcurl/|\bwget/|go-http-client|java/|okhttp|libwww-perl|\bscrapy\b"
    r"|ahrefs|semrush|mj12|dotbot|petalbot|yandex|baiduspider|duckduckbot|applebot",
    re.IGNORECASE,
)

# Order matters: Edge, Opera and Samsung Internet also say "Chrome/", Chrome also says
# "Safari/"; the more specific token is tested first.
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Edge", re.compile(r"(?:Edg|Edge|EdgA|EdgiOS)/([\d.]+)")),
    ("Opera", re.compile(r"(?:OPR|OPiOS|Opera)/([\d.]+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/([\d.]+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/([\d.]+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS|HeadlessChrome)/([\d.]+)")),
    ("Safari", re.compile(r"Version/([\d.]+)(?:.*Mobile/\S+)? .*Safari/")),
    ("Internet Explorer", re.compile(r"(?:MSIE |Trident/.*rv:)([\d.]+)")),
)

_WINDOWS_NT = {
    "10.0": "10",
    "6.3": "8.1",
    "6.2": "8",
    "6.1": "7",
    "6.0": "Vista",
    "5.1": "XP",
}

_IOS = re.compile(r"(?:iPhone|CPU) OS (\d+(?:_\d+)*)")
_ANDROID = re.compile(r"Android[ /]?([\d.]*)")
_MACOS = re.compile(r"Mac OS X (\d+(?:[_.]\d+)*)")
_WINDOWS = re.compile(r"Windows NT (\d+\.\d+)")
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Windows Phone|BlackBerry|Opera Mini", re.IGNORECASE)
_TABLET = re.compile(r"iPad|Tablet|PlayBook|Silk/|Kindle", re.IGNORECASE)


def _major_minor(version: str) -> str:
    parts = version.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def _os(ua: str) -> tuple[str | None, str | None]:
    m = _IOS.search(ua)
    if m and ("iPhone" in ua or "iPad" in ua or "iPod" in ua):
        return ("iPadOS" if "iPad" in ua else "iOS"), m.group(1).replace("_", ".")
    m = _ANDROID.search(ua)
    if m:
        return "Android", m.group(1) or None
    m = _WINDOWS.search(ua)
    if m:
        return "Windows", _WINDOWS_NT.get(m.group(1), m.group(1))
    if "Windows" in ua:
        return "Windows", None
    if "CrOS" in ua:
        return "ChromeOS", None
    m = _MACOS.search(ua)
    if m:
        return "macOS", m.group(1).replace("_", ".")
    if "Macintosh" in ua:
        return "macOS", None
    if "Linux" in ua or "X11" in ua:
        return "Linux", None
    return None, None


@lru_cache(maxsize=1024)
def _parse(ua: str) -> tuple[str, str | None, str | None, str | None, str | None, bool]:
    bot = bool(_BOT.search(ua))
    browser = browser_version = None
    for name, pattern in _BROWSERS:
        m = pattern.search(ua)
        if m:
            browser, browser_version = name, _major_minor(m.group(1))
            break
    os_name, os_version = _os(ua)
    if bot:
        device = "bot"
    elif _TABLET.search(ua) or (os_name == "Android" and "Mobile" not in ua):
        device = "tablet"
    elif _MOBILE.search(ua):
        device = "mobile"
    elif os_name is not None or browser is not None:
        device = "desktop"
    else:
        device = "unknown"
    return device, browser, browser_version, os_name, os_version, bot


def parse_user_agent(ua: str | None) -> dict[str, Any]:
    """Parse a ``User-Agent`` header into device type, browser and OS.

    Returns a new dict with the keys ``device`` (``"desktop"``, ``"mobile"``, ``"tablet"``,
    ``"bot"`` or ``"unknown"``), ``browser`` and ``browser_version`` (major.minor), ``os`` and
    ``os_version`` (``None`` when not recognised) and ``bot`` (bool)::

        >>> parse_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
        ...     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
        {'device': 'mobile', 'browser': 'Safari', 'browser_version': '17.1', 'os': 'iOS', \
'os_version': '17.1', 'bot': False}

    .. versionadded:: 0.1
    """
    # Headers longer than any real UA are truncated so a hostile value cannot make the
    # regexes (or the cache) expensive.
    device, browser, bversion, os_name, os_version, bot = _parse((ua or "")[:512])
    return {
        "device": device,
        "browser": browser,
        "browser_version": bversion,
        "os": os_name,
        "os_version": os_version,
        "bot": bot,
    }


def is_bot(ua: str | None) -> bool:
    """Return whether ``ua`` looks like a crawler, monitor, HTTP library or headless browser.

    An empty or missing user agent counts as a bot: every real browser sends one.
    """
    if not ua:
        return True
    return _parse(ua[:512])[5]
