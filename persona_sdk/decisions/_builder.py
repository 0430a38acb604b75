"""``Builder``: one compilation of a container's decisions, collecting every problem
with its path; it compiles the parts the features and experiments share (conditions,
filters, parent conditions, ranges, bucketers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ConfigError, PluginError
from ..allocation import Bucketer, hash_scheme
from ..rules import Reads, compile_condition
from ._model import _NUMBER, Condition, Filter, Parent

__all__ = ["Builder"]

#: the fields of a filter (GrowthBook's ``filters`` entries)
_FILTER_KEYS = frozenset({"seed", "ranges", "hashVersion", "attribute"})


class Builder:
    """One compilation of a container's decisions; ``errors`` collects every problem."""

    def __init__(
        self,
        *,
        saved_groups: Mapping[str, Any],
        operators: Any,
        strict: bool,
        default_scheme: str,
        bandits: Mapping[str, Any],
    ):
        self.saved_groups = saved_groups
        self.operators = operators
        self.strict = strict
        self.default_scheme = default_scheme
        self.bandits = bandits
        self.errors: list[str] = []
        #: what a lenient (GrowthBook payload) build lets through; errors when strict
        self.warnings: list[str] = []
        self.uses_segments = False
        #: every attribute a condition, hash, fallback or filter reads, noted as it is
        #: compiled: what ``Engine.reads_anonymous_id`` and ``reads_user_id`` ask
        self.reads = Reads()

    def identifiers(self, path: str, hash_attribute: str, fallback: str | None) -> None:
        """Note the attributes an experiment or rollout hashes by."""
        self.reads.note(hash_attribute, f"{path}.hashAttribute", None)
        if fallback:
            self.reads.note(fallback, f"{path}.fallbackAttribute", None)

    # -- shape checks -------------------------------------------------------------------

    def problem(self, path: str, message: str) -> None:
        """Record a problem at ``path``."""
        self.errors.append(f"{path}: {message}")

    def lenient(self, path: str, message: str) -> None:
        """A problem a strict container refuses and a GrowthBook import only warns about
        (GrowthBook's SDKs ignore it)."""
        (self.errors if self.strict else self.warnings).append(f"{path}: {message}")

    def known_keys(self, spec: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        """Report each key of ``spec`` not in ``allowed`` (a typo such as ``defaultvalue``)."""
        if not allowed.issuperset(spec):
            for key in spec:
                if key not in allowed:
                    self.lenient(f"{path}.{key}", "unknown field")

    def get(self, d: Mapping[str, Any], key: str, path: str, types: Any, what: str) -> Any:
        """``d[key]`` if present and of ``types`` (None when absent or wrong)."""
        v = d.get(key)
        if v is None:
            return None
        if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.problem(f"{path}.{key}", f"expected {what}")
            return None
        if not isinstance(v, types):
            self.problem(f"{path}.{key}", f"expected {what}")
            return None
        return v

    def ranges(self, v: Any, path: str) -> tuple[tuple[float, float], ...] | None:
        """A list of ``[start, end]`` pairs of numbers."""
        if v is None:
            return None
        if isinstance(v, Sequence) and not isinstance(v, str):
            out = []
            for i, r in enumerate(v):
                pair = self.pair(r, f"{path}[{i}]")
                if pair is None:
                    return None
                out.append(pair)
            return tuple(out)
        self.problem(path, "expected a list of [start, end] ranges")
        return None

    def pair(self, r: Any, path: str) -> tuple[float, float] | None:
        """One ``[start, end]`` range."""
        if (
            isinstance(r, Sequence)
            and not isinstance(r, str)
            and len(r) == 2
            and all(isinstance(x, _NUMBER) and not isinstance(x, bool) for x in r)
        ):
            return (r[0], r[1])
        self.problem(path, "expected [start, end] with two numbers")
        return None

    def condition(self, cond: Any, path: str) -> Condition | None:
        """Compile a condition (None when absent); problems are recorded with ``path``."""
        if cond is None:
            return None
        if not isinstance(cond, Mapping):
            self.problem(path, "expected a condition object")
            return None
        self._scan_segments(cond)
        try:
            return compile_condition(
                cond,
                path=path,
                saved_groups=self.saved_groups,
                operators=self.operators,
                strict=self.strict,
                reads=self.reads,
            )
        except ConfigError as exc:
            self.errors.extend(exc.errors)
            return None

    def _scan_segments(self, node: Any) -> None:
        # Segments are computed only when some condition can read them.
        if self.uses_segments:
            return
        if isinstance(node, Mapping):
            for k, v in node.items():
                if k == "segments" or (isinstance(k, str) and k.startswith("segments.")):
                    self.uses_segments = True
                    return
                self._scan_segments(v)
        elif isinstance(node, list):
            for v in node:
                self._scan_segments(v)

    def bucketer(self, scheme: Any, seed: str, version: int, path: str) -> Bucketer | None:
        """The per-visitor hash function of ``scheme`` (the default when None)."""
        name = self.default_scheme if scheme is None else scheme
        if not isinstance(name, str):
            self.problem(f"{path}.hashScheme", "expected a string")
            return None
        try:
            return hash_scheme(name).bucketer(seed, version)
        except PluginError as exc:
            self.problem(
                f"{path}.hashScheme" if scheme is not None else path,
                f"unknown hash scheme {name!r} ({exc})",
            )
            return None

    def parents(self, v: Any, path: str) -> tuple[Parent, ...]:
        """``parentConditions``: ``[{id, condition, gate?}]``."""
        if v is None:
            return ()
        if not isinstance(v, list):
            self.problem(path, "expected a list of {id, condition, gate}")
            return ()
        out = []
        for i, pc in enumerate(v):
            p = f"{path}[{i}]"
            if not isinstance(pc, Mapping) or not isinstance(pc.get("id"), str):
                self.problem(p, "expected {id: <feature key>, condition: {...}}")
                continue
            test = self.condition(pc.get("condition") or {}, f"{p}.condition")
            if test is not None:
                out.append(Parent(pc["id"], test, bool(pc.get("gate"))))
        return tuple(out)

    def filters(self, v: Any, path: str) -> tuple[Filter, ...]:
        """``filters``: ``[{seed, ranges, hashVersion=2, attribute="id"}]``."""
        if v is None:
            return ()
        if not isinstance(v, list):
            self.problem(path, "expected a list of filters")
            return ()
        out = []
        for i, f in enumerate(v):
            p = f"{path}[{i}]"
            if not isinstance(f, Mapping):
                self.problem(p, "expected {seed, ranges, hashVersion?, attribute?}")
                continue
            self.known_keys(f, _FILTER_KEYS, p)
            seed = self.get(f, "seed", p, str, "a string") or ""
            version = self.get(f, "hashVersion", p, int, "an integer") or 2
            ranges = self.ranges(f.get("ranges", []), f"{p}.ranges") or ()
            attribute = self.get(f, "attribute", p, str, "a string") or "id"
            self.reads.note(attribute, f"{p}.attribute", None)
            out.append(Filter(attribute, self.bucketer("growthbook", seed, version, p), ranges))
        return tuple(out)
