"""The privacy policy of one destination, compiled once and applied to each outgoing event.

``PrivacyPolicy.apply`` rewrites a Segment event dict: configured PII fields hashed (per the
destination's platform rules) or removed, IP addresses truncated, listed fields removed. It is
copy-on-write: the input is never mutated (the router shares one event dict between tags), and
only the containers on a changed path are copied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Union

from ._config import PiiAction, PiiConfig, PiiKind, PiiRules
from ._ip import truncate_ip
from ._normalize import hash_pii

__all__ = ["IP_PATH", "PrivacyPolicy", "check_path", "check_pii_config"]

#: Where the Segment spec keeps the visitor's IP address.
IP_PATH: Final = "context.ip"

_REMOVE: Final = object()

Leaf = Callable[[Any], Any]  # value -> new value, or _REMOVE
Trie = dict[str, Union["Trie", Leaf]]


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


def _insert(trie: Trie, path: str, leaf: Leaf) -> None:
    # The first rule for a path wins (inserted in priority order: remove, PII, truncate);
    # a rule on an ancestor covers every rule below it.
    *parents, last = path.split(".")
    node = trie
    for key in parents:
        child = node.get(key)
        if callable(child):
            return  # an ancestor is already rewritten whole (e.g. removed)
        if child is None:
            child = node[key] = {}
        node = child
    if not callable(node.get(last)):
        node[last] = leaf


def _apply_node(node: Any, trie: Trie) -> Any:
    # Returns the rewritten node, or ``node`` itself when nothing changed.
    if isinstance(node, dict):
        out: dict[str, Any] | None = None
        for key, sub in trie.items():
            keys: Iterable[str] = list(node) if key == "*" else (key,)
            for k in keys:
                if k not in node:
                    continue
                value = node[k]
                new = sub(value) if callable(sub) else _apply_node(value, sub)
                if new is value:
                    continue
                if out is None:
                    out = dict(node)
                if new is _REMOVE:
                    out.pop(k, None)
                else:
                    out[k] = new
        return node if out is None else out
    if isinstance(node, list):
        sub_any = trie.get("*")
        if sub_any is None:
            return node
        items: list[Any] | None = None
        for i, value in enumerate(node):
            new = sub_any(value) if callable(sub_any) else _apply_node(value, sub_any)
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
        for path in self.remove:
            _insert(trie, path, _remove)
        if self.action is PiiAction.REMOVE:
            for path in self.fields:
                _insert(trie, path, _remove)
        elif self.action is PiiAction.HASH:
            for path, kind in self.fields.items():
                _insert(trie, path, _hasher(kind, self.rules, phone_country_code))
        if truncate_ip:
            # a hashed or removed IP stays so; truncation is for IPs that are sent
            _insert(trie, IP_PATH, _truncate)
        self._trie = trie

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
        out = _apply_node(event, self._trie)
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
