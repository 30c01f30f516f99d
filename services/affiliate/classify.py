"""Derived dimensions of a tracking event: device, browser and OS from the User-Agent
(the maintained `ua-parser` library and its regularly updated rules), and the traffic
source from the referrer and the UTM parameters."""

from __future__ import annotations

import functools
import urllib.parse
from dataclasses import dataclass

import ua_parser

DEVICES = ("desktop", "mobile", "tablet", "bot", "unknown")
SOURCES = ("paid", "email", "social", "search", "campaign", "referral", "direct")

_MOBILE_OSES = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS", "Tizen"}
_TABLET_HINTS = ("ipad", "tablet", "kindle", "silk", "playbook", "nexus 7", "nexus 9", "nexus 10")

_PAID_MEDIUMS = {"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "cpm", "display", "paid_social",
                 "paid-social", "paidsocial"}
_SOCIAL_MEDIUMS = {"social", "social-network", "social_network", "social-media", "sm"}
_EMAIL_MEDIUMS = {"email", "e-mail", "newsletter"}

_SEARCH_HOSTS = ("google.", "bing.com", "yahoo.", "duckduckgo.com", "baidu.com", "yandex.", "ecosia.org",
                 "search.brave.com", "startpage.com")
_SOCIAL_HOSTS = ("facebook.com", "fb.com", "instagram.com", "twitter.com", "t.co", "x.com", "linkedin.com",
                 "lnkd.in", "pinterest.", "reddit.com", "tiktok.com", "youtube.com", "youtu.be", "threads.net")
_EMAIL_HOSTS = ("mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com")


@dataclass(frozen=True)
class Agent:
    device: str
    browser: str
    os: str


@functools.lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> Agent:
    """Device class, browser family and OS family; `unknown`/`Other` when unrecognised.

    ua-parser names the browser, OS and device model; the class (desktop, mobile,
    tablet, bot) follows from them: tablets by model or a tablet hint, mobiles by a
    mobile OS or a "Mobi" token, crawlers by ua-parser's `Spider` device family.
    """
    if not user_agent.strip():
        return Agent("unknown", "Other", "Other")
    result = ua_parser.parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Other"
    os = result.os.family if result.os else "Other"
    device_family = result.device.family if result.device else ""
    brand = (result.device.brand or "") if result.device else ""
    lowered = user_agent.lower()
    if device_family == "Spider":
        device = "bot"
    elif (
        device_family == "iPad"
        or "tablet" in brand.lower()
        or any(hint in lowered for hint in _TABLET_HINTS)
        or (os == "Android" and "mobile" not in lowered)
    ):
        device = "tablet"
    elif os in _MOBILE_OSES or "mobi" in lowered:
        device = "mobile"
    elif result.user_agent is None and result.os is None:
        device = "unknown"
    else:
        device = "desktop"
    return Agent(device, browser[:64], os[:64])


def warm() -> None:
    """Loads ua-parser's rules now (about 0.4 s) rather than in the first ingestion call."""
    parse_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36")


def _host(url: str) -> str:
    try:
        return (urllib.parse.urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _matches(host: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if pattern.endswith("."):  # a name under any public suffix: google.com, google.co.uk
            if host.startswith(pattern) or f".{pattern}" in host:
                return True
        elif host == pattern or host.endswith("." + pattern):
            return True
    return False


@functools.lru_cache(maxsize=16384)
def traffic_source(referrer_url: str, utm_source: str, utm_medium: str, page_url: str = "") -> str:
    """`paid`, `email`, `social`, `search`, `campaign`, `referral` or `direct`.

    UTM parameters win (they are the business's own labelling): a known `utm_medium`
    decides, any other tagged visit is `campaign`. Without them, the referrer's host
    decides; no referrer, or one on the landing page's own host, is `direct`.
    """
    medium = utm_medium.strip().lower()
    if medium in _PAID_MEDIUMS:
        return "paid"
    if medium in _EMAIL_MEDIUMS:
        return "email"
    if medium in _SOCIAL_MEDIUMS:
        return "social"
    if medium or utm_source.strip():
        return "campaign"
    host = _host(referrer_url)
    if not host or (page_url and host == _host(page_url)):
        return "direct"
    if _matches(host, _EMAIL_HOSTS):
        return "email"
    if _matches(host, _SEARCH_HOSTS):
        return "search"
    if _matches(host, _SOCIAL_HOSTS):
        return "social"
    return "referral"
