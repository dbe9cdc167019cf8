"""Where an attempt may connect (SSRF): the endpoint's host is resolved at every attempt, right
before connecting, and the connection goes to the address that was checked (the URL pinned to it,
`Host` and TLS SNI kept as the name), so a name that resolves elsewhere a moment later changes
nothing. Only global unicast addresses, unless the endpoint has `allow_private: true` (or the
process `UPSELL_DELIVERY_ALLOW_PRIVATE=1`, for dev and tests)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Unresolved(Exception):
    """DNS gave no address for the host."""


class Forbidden(Exception):
    """The host resolves to an address an endpoint may not reach (loopback, private, link-local,
    metadata services, multicast, reserved)."""


@dataclass(frozen=True)
class Pinned:
    url: httpx.URL  # the endpoint's URL with the checked address as its host
    host: str  # the Host header: the name (and port) the endpoint gave
    sni: str | None  # the name TLS verifies the certificate against (https only)


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def pin(url: str, allow_private: bool) -> Pinned:
    """The URL to connect to, or Unresolved / Forbidden (never a connection to a refused address)."""
    parsed = httpx.URL(url)
    try:
        found = socket.getaddrinfo(parsed.host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolved(parsed.host) from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise Unresolved(parsed.host)
    refused = [a for a in addresses if not is_public(a)]
    if refused and not allow_private:
        raise Forbidden(str(refused[0]))
    named = not _is_literal(parsed.host)
    host = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    if ":" in parsed.host:  # an IPv6 literal keeps its brackets in Host
        host = f"[{parsed.host}]" if parsed.port is None else f"[{parsed.host}]:{parsed.port}"
    sni = parsed.host if parsed.scheme == "https" and named else None
    return Pinned(parsed.copy_with(host=str(addresses[0])), host, sni)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
