"""URL targeting patterns and redirect query-string merging."""

from __future__ import annotations

import pytest

from persona_sdk.allocation import compile_url_targets, merge_query_strings


@pytest.mark.parametrize(
    ("pattern", "url", "expected"),
    [
        ("https://shop.example/products", "https://shop.example/products", True),
        ("https://shop.example/products", "http://SHOP.example/Products/", True),
        ("https://shop.example/products", "https://shop.example/products/1", False),
        ("https://shop.example/products/*", "https://shop.example/products/1", True),
        ("shop.example/sale", "https://shop.example/sale?x=1", True),
        ("/checkout", "https://any.example/checkout", True),
        ("https://shop.example/?ref=ad", "https://shop.example/?ref=ad&x=1", True),
        ("https://shop.example/?ref=ad", "https://shop.example/?ref=mail", False),
        ("https://shop.example/#top", "https://shop.example/#bottom", False),
    ],
)
def test_simple_patterns(pattern: str, url: str, expected: bool) -> None:
    """Host and path compare case-insensitively, with wildcards, named params and hash."""
    targeted = compile_url_targets([{"type": "simple", "pattern": pattern, "include": True}])
    assert targeted(url) is expected


def test_regex_patterns_search_the_url_and_its_path() -> None:
    """A regex matches the full URL or the part from the path on."""
    targeted = compile_url_targets([{"type": "regex", "pattern": "^/products/[0-9]+$"}])
    assert targeted("https://shop.example/products/42")
    assert not targeted("https://shop.example/products/x")


def test_excludes_win_and_no_includes_means_everything_else() -> None:
    """An excluding match refuses the URL; with only excludes, other URLs are targeted."""
    targeted = compile_url_targets(
        [{"type": "simple", "pattern": "https://shop.example/admin/*", "include": False}]
    )
    assert not targeted("https://shop.example/admin/users")
    assert targeted("https://shop.example/")
    assert not compile_url_targets([])("https://shop.example/")


def test_invalid_regex_targets_nothing() -> None:
    """A bad pattern never raises; it matches nothing."""
    assert not compile_url_targets([{"type": "regex", "pattern": "("}])("https://x.example/")


def test_merge_query_strings_keeps_the_redirects_values() -> None:
    """Original params are appended after the redirect's own; the redirect wins conflicts."""
    merged = merge_query_strings(
        "https://shop.example/home?color=blue&title=orig",
        "https://shop.example/new?color=red",
    )
    assert merged == "https://shop.example/new?color=red&title=orig"
    assert merge_query_strings("https://a.example/?x=1", "/relative") == "/relative"
