"""The privacy policy of one destination, compiled once and applied to each outgoing event.

``PrivacyPolicy.apply`` rewrites a Segment event dict: configured PII fields hashed (per the
destination's platform rules) or removed, IP addresses truncated, listed fields removed. It is
copy-on-write: the input is never mutated (the router shares one event dict between tags), and
only the containers on a changed path are copied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Union

from ..config import PiiAction, PiiConfig, PiiKind, PiiRules
from ._ip import truncate_ip
from ._normalize import hash_pii

__all__ = ["IP_PATH", "PrivacyPolicy", "check_path", "check_pii_config"]

#: Where the Segment spec keeps the visitor's IP address.
IP_PATH: Final = "context.ip"

_REMOVE: Final = object()

Leaf = Callable[[Any], Any]  # value -> new value, or _REMOVE


class _Rule:
    """A leaf rule: what happens to the value at a path. ``rank`` orders rules that meet on
    one value (remove 0, PII 1, IP truncation 2): the lowest rank wins."""

    __slots__ = ("fn", "rank")

    def __init__(self, fn: Leaf, rank: int) -> None:
        self.fn = fn
        self.rank = rank


Trie = dict[str, Union["Trie", _Rule]]


class _Node:
    """A compiled trie level: the rule for each named key, already merged with the
    wildcard's, and the wildcard's rule for every other key (or list item)."""

    __slots__ = ("any", "keys")

    def __init__(self, keys: dict[str, _Rule | _Node], any_: _Rule | _Node | None) -> None:
        self.keys = keys
        self.any = any_


def check_path(path: object) -> str | None:
    """The problem with a dotted field path, or ``None`` when it is usable."""
    if not isinstance(path, str) or not path:
        return "must be a non-empty dotted path such as traits.email"
    if any(not part for part in path.split(".")):
        return f"{path!r} has an empty segment"
    return None


def check_pii_config(pii: PiiConfig, *, prefix: str = "pii") -> list[str]:
    """Every problem in a ``PiiConfig`` (bad paths, a bad phone country code), with paths."""
    errors: list[str] = []
    for path in pii.fields:
        problem = check_path(path)
        if problem:
            errors.append(f"{prefix}.fields.{path}: {problem}")
    for i, path in enumerate(pii.remove):
        problem = check_path(path)
        if problem:
            errors.append(f"{prefix}.remove[{i}]: {problem}")
    code = pii.phone_country_code
    if code is not None and not (code.isascii() and code.isdigit() and 1 <= len(code) <= 3):
        errors.append(
            f"{prefix}.phone_country_code: {code!r} is not a calling code (1 to 3 digits, no '+')"
        )
    return errors


def _remove(value: Any) -> Any:
    return _REMOVE


def _truncate(value: Any) -> Any:
    out = truncate_ip(value)
    return _REMOVE if out is None else out


def _hasher(kind: PiiKind, rules: PiiRules, country_code: str | None) -> Leaf:
    def one(value: Any) -> Any:
        if isinstance(value, dict):
            return _REMOVE  # a structure cannot be hashed as one value: never send it raw
        if isinstance(value, list):
            hashed = [h for v in value if (h := one(v)) is not _REMOVE and h is not None]
            return hashed if hashed else _REMOVE
        if value is None:
            return None
        out = hash_pii(kind, value, rules=rules, phone_country_code=country_code)
        if out is None:
            return _REMOVE
        return value if out == value else out

    return one


def _insert(trie: Trie, path: str, rule: _Rule) -> None:
    # The first rule for a path wins (inserted in priority order: remove, PII, truncate);
    # a rule on an ancestor covers every rule below it.
    *parents, last = path.split(".")
    node = trie
    for key in parents:
        child = node.get(key)
        if isinstance(child, _Rule):
            return  # an ancestor is already rewritten whole (e.g. removed)
        if child is None:
            child = node[key] = {}
        node = child
    if not isinstance(node.get(last), _Rule):
        node[last] = rule


def _merge(specific: Trie | _Rule | None, wildcard: Trie | _Rule | None) -> Trie | _Rule | None:
    # Every rule that reaches one value, as one rule, so each value is rewritten exactly once
    # (never twice, never from a stale copy): two leaves -> the lower rank (the specific path
    # on a tie); a leaf and a subtree -> the leaf (it rewrites the value whole: a structure
    # under a PII rule is removed, a scalar has nothing below it); two subtrees -> merged.
    if specific is None:
        return wildcard
    if wildcard is None:
        return specific
    if isinstance(specific, _Rule) or isinstance(wildcard, _Rule):
        if isinstance(specific, _Rule) and isinstance(wildcard, _Rule):
            return wildcard if wildcard.rank < specific.rank else specific
        return specific if isinstance(specific, _Rule) else wildcard
    merged: Trie = {}
    for key in {*specific, *wildcard}:
        one = _merge(specific.get(key), wildcard.get(key))
        if one is not None:
            merged[key] = one
    return merged


def _compile(trie: Trie | _Rule) -> _Rule | _Node:
    if isinstance(trie, _Rule):
        return trie
    wildcard = trie.get("*")
    keys: dict[str, _Rule | _Node] = {}
    for key, sub in trie.items():
        if key != "*":
            merged = _merge(sub, wildcard)
            assert merged is not None
            keys[key] = _compile(merged)
    return _Node(keys, None if wildcard is None else _compile(wildcard))


def _apply_one(value: Any, rule: _Rule | _Node) -> Any:
    return rule.fn(value) if isinstance(rule, _Rule) else _apply_node(value, rule)


def _apply_node(node: Any, rules: _Node) -> Any:
    # Returns the rewritten node, or ``node`` itself when nothing changed. Each key of a dict
    # is visited once, with the one rule merged from its named and wildcard rules.
    if isinstance(node, dict):
        out: dict[str, Any] | None = None
        keys = rules.keys
        wildcard = rules.any
        pairs: Iterable[tuple[str, _Rule | _Node]]
        if wildcard is None:
            pairs = [(k, r) for k, r in keys.items() if k in node]
        else:
            pairs = [(k, keys.get(k, wildcard)) for k in node]
        for k, rule in pairs:
            value = node[k]
            new = _apply_one(value, rule)
            if new is value:
                continue
            if out is None:
                out = dict(node)
            if new is _REMOVE:
                del out[k]
            else:
                out[k] = new
        return node if out is None else out
    if isinstance(node, list):
        item_rule = rules.any
        if item_rule is None:
            return node
        items: list[Any] | None = None
        for i, value in enumerate(node):
            new = _apply_one(value, item_rule)
            if new is value:
                continue
            if items is None:
                items = list(node)
            items[i] = new
        if items is None:
            return node
        return [v for v in items if v is not _REMOVE]
    return node


class PrivacyPolicy:
    """How one destination treats personal data, compiled once.

    Args:
        fields: dotted path -> ``PiiKind`` of the personal fields.
        action: what happens to those fields: hashed, removed or kept.
        rules: whose normalization applies before hashing (``meta`` or ``google``).
        truncate_ip: zero the host part of ``context.ip``.
        remove: paths removed whatever they hold.
        phone_country_code: the calling code for phone numbers written without one.

    Example::

        policy = PrivacyPolicy(fields={"traits.email": "email"}, truncate_ip=True)
        policy.apply({"traits": {"email": "Ann@X.org"}, "context": {"ip": "203.0.113.9"}})
        # {"traits": {"email": "<sha-256 hex>"}, "context": {"ip": "203.0.113.0"}}
    """

    def __init__(
        self,
        *,
        fields: Mapping[str, PiiKind | str] | None = None,
        action: PiiAction | str = PiiAction.HASH,
        rules: PiiRules | str = PiiRules.META,
        truncate_ip: bool = False,
        remove: Iterable[str] = (),
        phone_country_code: str | None = None,
    ) -> None:
        self.fields: dict[str, PiiKind] = {p: PiiKind(k) for p, k in (fields or {}).items()}
        self.action = PiiAction(action)
        self.rules = PiiRules(rules)
        self.truncate_ip = truncate_ip
        self.remove: tuple[str, ...] = tuple(remove)
        self.phone_country_code = phone_country_code
        trie: Trie = {}
        # removals first, so a removed ancestor makes deeper rules moot
        removal = _Rule(_remove, 0)
        for path in self.remove:
            _insert(trie, path, removal)
        if self.action is PiiAction.REMOVE:
            for path in self.fields:
                _insert(trie, path, removal)
        elif self.action is PiiAction.HASH:
            for path, kind in self.fields.items():
                _insert(trie, path, _Rule(_hasher(kind, self.rules, phone_country_code), 1))
        if truncate_ip:
            # a hashed or removed IP stays so; truncation is for IPs that are sent
            _insert(trie, IP_PATH, _Rule(_truncate, 2))
        self._trie = trie
        self._root = _compile(trie)

    @classmethod
    def from_config(
        cls,
        pii: PiiConfig | None,
        *,
        action: PiiAction | str | None = None,
        truncate_ip: bool | None = None,
        remove: Iterable[str] = (),
        fields: Mapping[str, PiiKind | str] | None = None,
        rules: PiiRules | str = PiiRules.META,
    ) -> PrivacyPolicy:
        """The container-wide ``PiiConfig`` with one destination's overrides: ``action`` and
        ``truncate_ip`` replace the container's when given; ``remove`` and ``fields`` add to
        it."""
        pii = pii or PiiConfig()
        merged: dict[str, PiiKind | str] = dict(pii.fields)
        merged.update(fields or {})
        return cls(
            fields=merged,
            action=pii.action if action is None else action,
            rules=rules,
            truncate_ip=pii.truncate_ip if truncate_ip is None else truncate_ip,
            remove=(*pii.remove, *remove),
            phone_country_code=pii.phone_country_code,
        )

    @property
    def is_noop(self) -> bool:
        """True when ``apply`` never changes anything."""
        return not self._trie

    def apply(self, event: dict[str, Any]) -> dict[str, Any]:
        """Return ``event`` with the policy applied (``event`` itself is never mutated)."""
        if not self._trie:
            return event
        out = _apply_one(event, self._root)
        return out if isinstance(out, dict) else {}

    def hash(self, kind: PiiKind | str, value: object) -> str | None:
        """Normalize and hash one value with this policy's rules (``None`` if unusable)."""
        return hash_pii(kind, value, rules=self.rules, phone_country_code=self.phone_country_code)

    def __repr__(self) -> str:
        return (
            f"PrivacyPolicy(fields={sorted(self.fields)}, action={self.action.value!r}, "
            f"rules={self.rules.value!r}, truncate_ip={self.truncate_ip}, "
            f"remove={list(self.remove)})"
        )
