"""``FlagSnapshot``: every feature of a visitor, evaluated at once, with exposures deferred.

``visitor.evaluate_all()`` evaluates every feature without logging anything, so a page can
bootstrap all of its flags (server-side templates, or the JS tag through
``snapshot.to_bootstrap()``) and log an experiment exposure only for a flag that is used:
``snapshot[key]`` / ``snapshot.use(key)`` on the server (the normal ``visitor.feature(key)``
path: one ``Experiment Viewed``, the ``on_exposure`` and ``on_feature_usage`` hooks), or the
JS tag's ``persona.feature(key)`` in the browser (it sends the exposure the bootstrap carries).
This is how GrowthBook's and LaunchDarkly's bootstrap modes avoid over-counting exposures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._results import FeatureResult

if TYPE_CHECKING:
    from ._visitor import Visitor

__all__ = ["FlagSnapshot"]


class FlagSnapshot(Mapping[str, Any]):
    """Every feature's value for one visitor (a read-only mapping of key to value).

    Reading a value through the mapping (``snapshot[key]``, ``snapshot.get(key)``) or
    ``use(key)`` counts as using the flag: its exposure (if an experiment chose it) is logged
    once, as ``visitor.feature(key)`` would. ``results`` and ``to_bootstrap()`` log nothing.
    """

    __slots__ = ("_exposures", "_visitor", "results")

    def __init__(
        self,
        visitor: Visitor,
        results: Mapping[str, FeatureResult[Any]],
        exposures: Mapping[str, list[tuple[str, dict[str, Any]]]],
    ) -> None:
        self._visitor = visitor
        #: every feature's full result, read without logging an exposure
        self.results: Mapping[str, FeatureResult[Any]] = results
        self._exposures = exposures

    def __getitem__(self, key: str) -> Any:
        if key not in self.results:
            raise KeyError(key)
        return self.use(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def use(self, key: str) -> Any:
        """The value of ``key``, logging its exposure and usage (once per visitor)."""
        return self._visitor.feature(key).value

    def pending_exposures(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        """The ``(event, properties)`` that using ``key`` logs (empty when none)."""
        return list(self._exposures.get(key, ()))

    def to_bootstrap(self) -> dict[str, Any]:
        """A JSON-ready dict for the JS tag: ids, and per feature its value, on, source and,
        when an experiment chose it, the experiment, variation and the exposure event the
        tag sends the first time the page reads the flag (``persona.feature(key)``)."""
        visitor = self._visitor
        features: dict[str, Any] = {}
        for key, result in self.results.items():
            entry: dict[str, Any] = {
                "value": result.value, "on": result.on, "source": result.source.value,
            }
            variation = result.variation
            if variation is not None and variation.in_experiment:
                entry["experiment"] = variation.experiment_key
                entry["variation"] = variation.variation_key
                entry["variationId"] = variation.variation_id
            pending = self._exposures.get(key)
            if pending:
                event, properties = pending[0]
                entry["exposure"] = {"event": event, "properties": properties}
            features[key] = entry
        return {
            "anonymousId": visitor.anonymous_id,
            "userId": visitor.user_id,
            "features": features,
            "deferExposures": True,
        }
