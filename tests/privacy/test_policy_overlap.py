"""Overlapping PII rules compose (issue #12, item 1): a wildcard and a specific rule under one
parent, a removal and a hash on the same branch, nested rules: every rule applies to the data
as already rewritten, never to a stale copy, and a removed structure stays removed.

The property test generates rule sets and events, renders each event through the real
``http``, ``webhook`` and ``jsonl`` destinations (their ``transform``, the JSON encoding, the
request bodies and the file), and asserts that no value under a configured path is ever
present raw in any of them.
"""

from __future__ import annotations

import base64
import itertools
import os
import random
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_sdk.destinations.http import HttpDestination
from persona_sdk.destinations.jsonl import JsonlDestination
from persona_sdk.destinations.webhook import WebhookDestination
from persona_sdk.privacy import PiiConfig, PrivacyPolicy, hash_pii

# A few seconds in the normal suite; PERSONA_FUZZ=full runs ten times as many examples.
SCALE = 10 if os.environ.get("PERSONA_FUZZ") == "full" else 1
SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def test_wildcard_and_specific_rules_under_one_parent_both_apply() -> None:
    """``properties.*.email`` and ``properties.billing.phone`` both rewrite ``billing``: the
    later rule works on the already hashed branch, so neither field leaves raw."""
    policy = PrivacyPolicy(
        fields={"properties.*.email": "email", "properties.billing.phone": "phone"}
    )
    event = {"properties": {"billing": {"email": "Zed@Qux.io", "phone": "+33 6 77 88 99 11"},
                            "shipping": {"email": "Yon@Qux.io"}}}  # fmt: skip
    out = policy.apply(event)
    assert out["properties"]["billing"] == {
        "email": hash_pii("email", "Zed@Qux.io"),
        "phone": hash_pii("phone", "+33 6 77 88 99 11"),
    }
    assert out["properties"]["shipping"]["email"] == hash_pii("email", "Yon@Qux.io")


def test_a_removed_structure_stays_removed() -> None:
    """A removal by wildcard (``properties.*``) is not undone by a specific rule deeper in
    the same branch (``properties.billing.phone``)."""
    policy = PrivacyPolicy(fields={"properties.billing.phone": "phone"}, remove=["properties.*"])
    out = policy.apply({"properties": {"billing": {"phone": "+33 6", "street": "Quux Lane"}}})
    assert out == {"properties": {}}
    # and the other way round: a specific removal beside a wildcard hash
    policy = PrivacyPolicy(fields={"properties.*.email": "email"}, remove=["properties.billing"])
    out = policy.apply({"properties": {"billing": {"email": "a@b.io"}, "x": {"email": "c@d.io"}}})
    assert out == {"properties": {"x": {"email": hash_pii("email", "c@d.io")}}}


def test_a_value_matched_by_two_rules_is_hashed_once() -> None:
    """Two hash rules reaching one value (``properties.*.email`` and
    ``properties.billing.email``) hash it once, not a hash of the hash."""
    policy = PrivacyPolicy(
        fields={"properties.*.email": "email", "properties.billing.email": "email"}
    )
    out = policy.apply({"properties": {"billing": {"email": "a@b.io"}}})
    assert out["properties"]["billing"]["email"] == hash_pii("email", "a@b.io")


def test_nested_wildcards_over_lists_compose() -> None:
    """``properties.*.*.email`` (through a list) and ``properties.items.*.phone`` both apply to
    the same list items."""
    policy = PrivacyPolicy(
        fields={"properties.*.*.email": "email", "properties.items.*.phone": "phone"}
    )
    out = policy.apply(
        {"properties": {"items": [{"email": "a@b.io", "phone": "+1 415 555 0101", "sku": 1}]}}
    )
    assert out["properties"]["items"] == [{
        "email": hash_pii("email", "a@b.io"), "phone": hash_pii("phone", "+1 415 555 0101"),
        "sku": 1,
    }]  # fmt: skip


# ---- the property: no configured value is ever rendered raw --------------------------------

KEYS = ["a", "billing", "email"]
ROOTS = ["properties", "context"]
KINDS = ["email", "phone", "external_id", "city"]

# Few names, so rules overlap often: a wildcard beside a specific key under one parent,
# removals beside hashes, rules nested inside each other.
segment = st.sampled_from([*KEYS, "*", "*"])
rule_path = st.builds(
    lambda root, rest: ".".join([root, *rest]),
    st.sampled_from(ROOTS),
    st.lists(segment, min_size=0, max_size=3),
)
rule_sets = st.fixed_dictionaries({
    "fields": st.dictionaries(rule_path, st.sampled_from(KINDS), min_size=1, max_size=5),
    "remove": st.lists(rule_path, max_size=2),
    "action": st.sampled_from(["hash", "hash", "remove"]),
    # which rules the container holds and which the destination adds (they must merge)
    "split": st.integers(0, 5),
})  # fmt: skip


def _tree(rnd: random.Random, depth: int) -> Any:
    # Dense trees (every key present at most levels), so most rules meet some data; drawn
    # from a seeded Random (cheaper than nested Hypothesis draws, still reproducible).
    shape = "leaf" if depth == 0 else rnd.choice(["dict", "dict", "list", "leaf"])
    if shape == "dict":
        return {k: _tree(rnd, depth - 1) for k in KEYS}
    if shape == "list":
        return [_tree(rnd, depth - 1) for _ in range(2)]
    return "LEAF"  # replaced by a unique canary after drawing


events = st.randoms(use_true_random=False).map(
    lambda rnd: {root: _tree(rnd, 3) for root in ROOTS}
)


def _canaries(tree: Any, counter: itertools.count[int]) -> Any:
    # Distinct values with letters outside a-f, so none can appear inside a hex digest or
    # inside another canary (fixed width).
    if tree == "LEAF":
        return f"k{next(counter):04d}@x.io"
    if isinstance(tree, dict):
        return {k: _canaries(v, counter) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_canaries(v, counter) for v in tree]
    return tree


Where = tuple[str | None, ...]


def _leaves(tree: Any, where: Where = ()) -> list[tuple[Where, str]]:
    # (path, value) of every leaf; a list item's segment is None (only "*" matches it)
    if isinstance(tree, dict):
        return [x for k, v in tree.items() for x in _leaves(v, (*where, k))]
    if isinstance(tree, list):
        return [x for v in tree for x in _leaves(v, (*where, None))]
    return [(where, tree)]


def _covered(where: Where, rule: str) -> bool:
    parts = rule.split(".")
    if len(parts) > len(where):
        return False
    return all(p in ("*", w) for p, w in zip(parts, where[: len(parts)], strict=True))


def _rendered(event: dict[str, Any], rules: dict[str, Any], tmp: Path) -> list[bytes]:
    fields = list(rules["fields"].items())
    split = rules["split"]
    container = PiiConfig(
        fields=dict(fields[:split]), remove=rules["remove"][:split], action=rules["action"]
    )
    own = {"pii_fields": dict(fields[split:]), "remove": rules["remove"][split:]}
    http = HttpDestination(options={"url": "http://127.0.0.1:9/v1", "gzip": False, **own},
                           pii=container)  # fmt: skip
    hook = WebhookDestination(options={"url": "http://127.0.0.1:9/h", "secret": SECRET, **own},
                              pii=container)  # fmt: skip
    path = tmp / "out.jsonl"
    path.unlink(missing_ok=True)
    lake = JsonlDestination(options={"path": str(path), **own}, pii=container)
    out: list[bytes] = []
    for dest in (http, hook):
        rendered = dest.transform(event)
        items = [] if rendered is None else [msgspec.json.encode(rendered)]
        out.extend(bytes(r.content) for r in dest.requests(items))
    rendered = lake.transform(event)
    if rendered is not None:
        lake.write([msgspec.json.encode(rendered)])
    lake.close()
    out.append(path.read_bytes() if path.exists() else b"")
    return out


@settings(max_examples=100 * SCALE, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rule_sets, events)
def test_no_configured_value_is_ever_rendered_raw(
    tmp_path: Path, rules: dict[str, Any], raw: dict[str, Any]
) -> None:
    """For random rule sets (wildcards, specific paths, removals and hashes overlapping under
    shared parents, split between the container and the destination) and random nested events,
    no value under a configured path appears raw in the http or webhook body or the JSONL
    file, and every other value is still there."""
    event = _canaries(raw, itertools.count())
    protected = [*rules["fields"], *rules["remove"]]
    leaves = _leaves(event)
    secret = [v for w, v in leaves if any(_covered(w, r) for r in protected)]
    public = [v for w, v in leaves if not any(_covered(w, r) for r in protected)]
    for body in _rendered(event, rules, tmp_path):
        for value in secret:
            assert value.encode() not in body, (value, body)
        for value in public:
            assert value.encode() in body, (value, body)
