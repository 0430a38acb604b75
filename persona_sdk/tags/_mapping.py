"""Tag mappings: reshape a Segment event dict for one destination, compiled once.

Paths in ``rename``, ``drop`` and ``add`` are dotted paths from the event's root and start with
``properties``, ``traits``, ``context`` or ``integrations`` (``properties.revenue``,
``context.page.url``). ``allow`` lists paths *inside* ``properties`` (and ``traits``) to keep.
The steps run in this order: allow, rename, drop, add, then the event-name renames.

The input is never mutated: the router shares one event dict between all tags of a message,
so a mapping copies only the containers on the paths it changes.

A ``rename`` must not carry personal data past the privacy policy (which knows the original
paths): :func:`moved_policy` gives the part of a policy that covers the renamed paths, and the
router applies it before the mapping, so a value leaves its configured path already hashed
(or removed), wherever the mapping puts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..config import MappingConfig
from ..privacy import IP_PATH, PrivacyPolicy, check_path

__all__ = ["ROOTS", "Mapper", "compile_mapping", "moved_policy"]

#: The top-level event keys a mapping path may start with.
ROOTS: Final = ("properties", "traits", "context", "integrations")
_MISSING: Final = object()

Mapper = Callable[[dict[str, Any]], dict[str, Any]]


def _check_root_path(path: object, where: str) -> str | None:
    problem = check_path(path)
    if problem:
        return f"{where}: {problem}"
    assert isinstance(path, str)
    parts = path.split(".")
    if parts[0] not in ROOTS or len(parts) < 2:
        return (
            f"{where}: {path!r} must start with one of {', '.join(r + '.' for r in ROOTS)} "
            "(e.g. properties.revenue)"
        )
    return None


class _Writer:
    """Copy-on-write access to an event dict: containers are copied once, when first changed."""

    __slots__ = ("copied", "root")

    def __init__(self, event: dict[str, Any]) -> None:
        self.root = dict(event)
        self.copied = {id(self.root)}

    def get(self, parts: list[str]) -> Any:
        node: Any = self.root
        for p in parts:
            if not isinstance(node, dict) or p not in node:
                return _MISSING
            node = node[p]
        return node

    def parent(self, parts: list[str], create: bool) -> dict[str, Any] | None:
        node = self.root
        for p in parts[:-1]:
            child = node.get(p)
            if not isinstance(child, dict):
                if not create:
                    return None
                child = {}
            elif id(child) not in self.copied:
                child = dict(child)
            else:
                node = child
                continue
            node[p] = child
            self.copied.add(id(child))
            node = child
        return node

    def pop(self, parts: list[str]) -> Any:
        if self.get(parts) is _MISSING:
            return _MISSING
        parent = self.parent(parts, create=False)
        return _MISSING if parent is None else parent.pop(parts[-1], _MISSING)

    def set(self, parts: list[str], value: Any) -> None:
        parent = self.parent(parts, create=True)
        assert parent is not None
        parent[parts[-1]] = value


def _allowed(source: dict[str, Any], allow: list[list[str]]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for parts in allow:
        node: Any = source
        for p in parts:
            if not isinstance(node, dict) or p not in node:
                break
            node = node[p]
        else:
            target = kept
            for p in parts[:-1]:
                target = target.setdefault(p, {})
            target[parts[-1]] = node
    return kept


def compile_mapping(mapping: MappingConfig, path: str) -> tuple[Mapper | None, list[str]]:
    """Compile ``mapping`` (found at ``path``) into a function, with every problem listed.

    Returns ``(None, errors)`` for an empty mapping: the event passes through unchanged.
    """
    errors: list[str] = []
    for old, new in mapping.events.items():
        if not isinstance(new, str) or not new:
            errors.append(f"{path}.events.{old}: the new event name must be a non-empty string")
    renames, drops, adds, allow = _checked_paths(mapping, path, errors)
    events = dict(mapping.events)
    if errors or not (events or renames or drops or adds or allow is not None):
        return None, errors

    def apply(event: dict[str, Any]) -> dict[str, Any]:
        w = _Writer(event)
        root = w.root
        if allow is not None:
            for key in ("properties", "traits"):
                source = root.get(key)
                if isinstance(source, dict):
                    kept = _allowed(source, allow)
                    root[key] = kept
                    w.copied.add(id(kept))
        for old_parts, new_parts in renames:
            value = w.pop(old_parts)
            if value is not _MISSING:
                w.set(new_parts, value)
        for parts in drops:
            w.pop(parts)
        for parts, value in adds:
            w.set(parts, value)
        if events:
            name = root.get("event")
            if isinstance(name, str) and name in events:
                root["event"] = events[name]
        return root

    return apply, errors


_Paths = tuple[
    list[tuple[list[str], list[str]]], list[list[str]], list[tuple[list[str], Any]],
    list[list[str]] | None,
]


def _checked_paths(mapping: MappingConfig, path: str, errors: list[str]) -> _Paths:
    """The mapping's renames, drops, adds and allow list, split into path parts; each path
    that is not valid is left out and its problem added to ``errors``."""
    renames: list[tuple[list[str], list[str]]] = []
    for old, new in mapping.rename.items():
        problems = [
            _check_root_path(old, f"{path}.rename.{old}"),
            _check_root_path(new, f"{path}.rename.{old}"),
        ]
        errors.extend(p for p in problems if p)
        if not any(problems):
            renames.append((old.split("."), new.split(".")))
    drops: list[list[str]] = []
    for i, p in enumerate(mapping.drop):
        problem = _check_root_path(p, f"{path}.drop[{i}]")
        if problem:
            errors.append(problem)
        else:
            drops.append(p.split("."))
    adds: list[tuple[list[str], Any]] = []
    for p, value in mapping.add.items():
        problem = _check_root_path(p, f"{path}.add.{p}")
        if problem:
            errors.append(problem)
        else:
            adds.append((p.split("."), value))
    allow: list[list[str]] | None = None
    if mapping.allow is not None:
        allow = []
        for i, p in enumerate(mapping.allow):
            problem = check_path(p)
            if problem:
                errors.append(f"{path}.allow[{i}]: {problem}")
            else:
                allow.append(p.split("."))
    return renames, drops, adds, allow


def _overlap(a: list[str], b: list[str]) -> bool:
    # one path is a prefix of the other, segment by segment ("*" matches any one segment)
    return all(x in (y, "*") or y == "*" for x, y in zip(a, b, strict=False))


def moved_policy(mapping: MappingConfig, policy: PrivacyPolicy | None) -> PrivacyPolicy | None:
    """The rules of ``policy`` that touch a path ``mapping`` renames (the path itself, a field
    inside it, or a field it lies inside), as a policy of their own; ``None`` when no renamed
    path holds anything the policy treats.

    Applied before the mapping, it hashes or removes a personal value while it is still at the
    path the policy names, so the rename moves the treated value. Hashing is idempotent (a
    SHA-256 hex digest is not hashed again), so the destination's own policy may run after it.
    """
    if policy is None or not mapping.rename:
        return None
    sources = [old.split(".") for old in mapping.rename if isinstance(old, str) and old]

    def moved(path: str) -> bool:
        parts = path.split(".")
        return any(_overlap(parts, src) for src in sources)

    fields = {p: k for p, k in policy.fields.items() if moved(p)}
    remove = [p for p in policy.remove if moved(p)]
    truncate = policy.truncate_ip and moved(IP_PATH)
    pre = PrivacyPolicy(
        fields=fields,
        action=policy.action,
        rules=policy.rules,
        truncate_ip=truncate,
        remove=remove,
        phone_country_code=policy.phone_country_code,
    )
    return None if pre.is_noop else pre
