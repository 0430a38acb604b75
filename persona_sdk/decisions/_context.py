"""The evaluation context of one visitor, attribute look-ups, and sticky-bucket reads and
writes on the context's in-memory documents (loading and saving them is the caller's)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from .._speed import blank
from ..allocation import StickyAssignments, sticky_key
from ._model import js_truthy

if TYPE_CHECKING:
    from ._model import Experiment
    from ._results import ExperimentResult, FeatureResult

__all__ = [
    "EvalContext",
    "Mode",
    "hash_string",
    "new_context",
    "remember",
    "resolve",
    "sticky_string",
    "sticky_variation",
]

_encode = msgspec.json.encode


class Mode:
    """What besides hashing decides for a visitor: forced variations and sticky buckets
    (``store``: the sticky-bucket store, if the visitor has one). Immutable: visitors with
    no overrides share their engine's.

    ``fast`` is True only when nothing visitor-specific can override hashing (see
    ``Evaluator.run``); ``features`` then holds the generated functions of the features
    that have one (``_fastpath``), else it is empty.
    """

    __slots__ = ("fast", "features", "forced", "sticky_on", "store")

    def __init__(
        self,
        *,
        forced: Mapping[str, Any],
        sticky_on: bool,
        fast: bool,
        store: Any = None,
        features: Mapping[str, Callable[[EvalContext], FeatureResult[Any]]] | None = None,
    ) -> None:
        self.forced = forced
        self.sticky_on = sticky_on
        self.fast = fast
        self.store = store
        self.features = features if fast and features is not None else {}


_NO_MODE = Mode(forced={}, sticky_on=False, fast=False)


class EvalContext:
    """One visitor's evaluation state: attributes, URL, forced variations, sticky documents,
    and what happened (experiment results, exposures to log, documents to save).

    ``Visitor`` is one (it extends this class); build one directly to evaluate without a
    visitor (``engine.context(attributes)``).
    """

    __slots__ = ("_attrs", "_dirty", "_docs", "_expose", "_exposures", "_mode", "_results", "url")

    _attrs: dict[str, Any]
    url: str | None
    _mode: Mode
    _docs: dict[str, StickyAssignments]
    _dirty: dict[str, StickyAssignments]
    _exposures: list[tuple[ExperimentResult[Any], Experiment]]
    #: experiment key -> result, or (experiment, reason, feature) for a miss
    _results: dict[str, Any]
    #: a visitor's ``Exposer`` (``VisitorState``), read by the generated features'
    #: hand-over (``_fastpath``); None on a bare context
    _expose: Any

    # No __init__: ``Visitor`` (a subclass) is built by ``visitor_builder``, and a bare
    # context by ``new_context``; a class call with keywords would cost a visitor twice.

    def _exposed(self, res: ExperimentResult[Any], exp: Experiment) -> None:
        """Note an exposure to log (``Visitor`` logs it, or holds it until its sticky
        documents are saved)."""
        self._exposures.append((res, exp))


def new_context(
    attrs: dict[str, Any],
    url: str | None = None,
    mode: Mode = _NO_MODE,
    docs: dict[str, StickyAssignments] | None = None,
) -> EvalContext:
    """A fresh evaluation context over ``attrs`` (what ``engine.context`` returns)."""
    ctx: EvalContext = blank(EvalContext)
    ctx._attrs = attrs
    ctx.url = url
    ctx._mode = mode
    ctx._docs = docs if docs is not None else {}
    ctx._dirty = {}
    ctx._exposures = []
    ctx._results = {}
    ctx._expose = None
    return ctx


def resolve(attrs: Mapping[str, Any], name: str, dotted: bool) -> Any:
    """An attribute by literal key first, then by dotted path; ``""`` when missing."""
    if name in attrs:
        return attrs[name]
    if dotted:
        node: Any = attrs
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return ""
            node = node[part]
        return "" if node is None else node
    return ""


def hash_string(v: Any) -> str:
    """A hash value as JavaScript would concatenate it into a string."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, float):
        return repr(v)
    return _encode(v).decode("utf-8")


def sticky_string(v: Any) -> str:
    """A sticky attribute value: strings as they are, anything else as JSON."""
    return (
        v
        if isinstance(v, str)
        else hash_string(v)
        if isinstance(v, (int, float))
        else (_encode(v).decode("utf-8"))
    )


def sticky_variation(exp: Experiment, ctx: EvalContext) -> tuple[int, bool]:
    docs = ctx._docs
    if not docs:
        return -1, False
    attrs = ctx._attrs
    assignments: dict[str, str] = {}
    if exp.fallback_attribute:
        fallback_value = resolve(attrs, exp.fallback_attribute, exp.dotted)
        if js_truthy(fallback_value):
            doc = docs.get(sticky_key(exp.fallback_attribute, sticky_string(fallback_value)))
            if doc is not None:
                assignments.update(doc.assignments)
    value = resolve(attrs, exp.hash_attribute, exp.dotted)
    doc = docs.get(sticky_key(exp.hash_attribute, sticky_string(value)))
    if doc is not None:
        assignments.update(doc.assignments)
    if not assignments:
        return -1, False
    for version in range(exp.min_bucket_version):
        if f"{exp.key}__{version}" in assignments:
            return -1, True
    variation_key = assignments.get(exp.sticky_id)
    if variation_key is None:
        return -1, False
    return exp.meta_index.get(variation_key, -1), False


def remember(exp: Experiment, ctx: EvalContext, attr: str, value: Any, variation_key: str) -> None:
    text = sticky_string(value)
    key = sticky_key(attr, text)
    existing = ctx._docs.get(key)
    old = existing.assignments if existing is not None else {}
    if old.get(exp.sticky_id) == variation_key:
        return
    doc = StickyAssignments(
        attribute_name=attr,
        attribute_value=text,
        assignments={**old, exp.sticky_id: variation_key},
    )
    ctx._docs[key] = doc
    ctx._dirty[key] = doc
