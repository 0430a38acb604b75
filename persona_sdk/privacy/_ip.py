"""IP address truncation: keep the network, drop the host."""

from __future__ import annotations

import ipaddress

__all__ = ["truncate_ip"]


def truncate_ip(value: object, *, v4_prefix: int = 24, v6_prefix: int = 48) -> str | None:
    """Return ``value`` with its host bits zeroed: IPv4 keeps /24 (the last octet becomes
    ``0``), IPv6 keeps /48. An IPv4-mapped IPv6 address is truncated as IPv4.

    Anything that is not a single IP address returns ``None`` (the caller drops it, so an
    unparsable value such as a forwarded-for list never leaves unredacted).

    Example::

        truncate_ip("203.0.113.77")           # "203.0.113.0"
        truncate_ip("2001:db8:85a3:8d3::1")   # "2001:db8:85a3::"
    """
    if not isinstance(value, str):
        return None
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = v4_prefix if ip.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)
