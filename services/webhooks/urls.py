"""Which receiver URLs are accepted: http(s) only, and none that resolves to a loopback,
link-local, private, multicast, reserved or unspecified address unless the operator
allows private receivers (WEBHOOK_ALLOW_PRIVATE_URLS). Checked when an endpoint is
created or changed and again before every attempt (a name may resolve elsewhere later)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import urllib.parse


class RefusedUrl(ValueError):
    pass


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.is_site_local:
            return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified)


# http(s), a host name, an IPv4 address or a bracketed IPv6 one, an optional port, then a
# path, query or fragment of printable ASCII (docs/openapi.json has the same pattern).
PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# RFC 3986's IPv6address (what urlsplit's ipaddress check takes inside brackets).
_H16 = "[0-9A-Fa-f]{1,4}"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LS32 = f"({_H16}:{_H16}|{_OCTET}(\\.{_OCTET}){{3}})"
IPV6 = "(" + "|".join((
    f"({_H16}:){{6}}{_LS32}", f"::({_H16}:){{5}}{_LS32}", f"({_H16})?::({_H16}:){{4}}{_LS32}",
    f"(({_H16}:){{0,1}}{_H16})?::({_H16}:){{3}}{_LS32}", f"(({_H16}:){{0,2}}{_H16})?::({_H16}:){{2}}{_LS32}",
    f"(({_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}", f"(({_H16}:){{0,4}}{_H16})?::{_LS32}",
    f"(({_H16}:){{0,5}}{_H16})?::{_H16}", f"(({_H16}:){{0,6}}{_H16})?::")) + ")"
SHAPE = re.compile(r"https?://([A-Za-z0-9.\-]+|\[" + IPV6 + r"\])(:" + PORT + r")?([/?#][\x21-\x7e]*)?", re.ASCII)


def check_syntax(url: str) -> urllib.parse.SplitResult:
    if len(url) > 2048:
        raise RefusedUrl("url must be at most 2048 characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise RefusedUrl("url must be an http or https URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedUrl("url must be an http or https URL")
    if parts.username or parts.password:
        raise RefusedUrl("url must not carry credentials")
    if not SHAPE.fullmatch(url):
        raise RefusedUrl("url must be an http or https URL of printable ASCII (percent-encode the rest)")
    return parts


async def check(url: str, allow_private: bool) -> None:
    """Raises RefusedUrl for a URL the platform will not post to."""
    parts = check_syntax(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RefusedUrl("url's host does not resolve") from None
    if not infos or not all(_public(info[4][0]) for info in infos):
        raise RefusedUrl("url must not resolve to a loopback, link-local or private address")
