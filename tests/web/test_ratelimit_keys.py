"""The collector's rate limiter keys clients the way their addresses really differ (#12)."""

from __future__ import annotations

from persona_sdk.web._collector_stamp import rate_key
from persona_sdk.web._ratelimit import TokenBucketLimiter


def test_ipv4_mapped_ipv6_clients_are_keyed_as_ipv4() -> None:
    """A dual-stack socket reports IPv4 clients as ``::ffff:a.b.c.d``: each is keyed by its
    IPv4 address (not by the /64 every mapped address shares), so one noisy IPv4 client does
    not throttle every other one; native IPv6 clients stay keyed by /64."""
    assert rate_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert rate_key("::FFFF:198.51.100.9") == "198.51.100.9"
    assert rate_key("203.0.113.7") == "203.0.113.7"
    assert rate_key("2001:db8:1:2:aaaa::1") == rate_key("2001:db8:1:2:bbbb::2")
    assert rate_key("2001:db8:1:2::1") != rate_key("2001:db8:1:3::1")
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=lambda: 0.0)
    assert limiter.acquire(rate_key("::ffff:203.0.113.7")) == 0.0
    assert limiter.acquire(rate_key("::ffff:203.0.113.7")) > 0.0  # the same client, limited
    assert limiter.acquire(rate_key("::ffff:192.0.2.44")) == 0.0  # another client is not
