"""An OpenFeature provider backed by persona-sdk.

``api.set_provider(PersonaProvider(persona))`` makes every OpenFeature client evaluate flags
with persona-sdk, in-process: the evaluation context becomes a visitor (``targeting_key`` is
the anonymous id, a ``userId`` attribute the user id, the rest the visitor's attributes),
experiment exposures go through persona-sdk's tag layer as usual, and persona-sdk's reasons
map onto OpenFeature's reasons and error codes.

Written against persona-sdk's public API only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata
from openfeature.track import TrackingEventDetails

import persona_sdk as ps

__all__ = ["PersonaProvider"]

T = TypeVar("T")

_REASONS: Mapping[ps.Reason, Reason] = {
    ps.Reason.DEFAULT: Reason.DEFAULT,
    ps.Reason.TARGETING_MATCH: Reason.TARGETING_MATCH,
    ps.Reason.SPLIT: Reason.SPLIT,
    ps.Reason.STICKY_BUCKET: Reason.SPLIT,
    ps.Reason.FORCED: Reason.STATIC,
    ps.Reason.URL_OVERRIDE: Reason.STATIC,
    ps.Reason.PREREQUISITE_FAILED: Reason.DISABLED,
    ps.Reason.CYCLIC_PREREQUISITE: Reason.ERROR,
    ps.Reason.DISABLED: Reason.DISABLED,
}


class PersonaProvider(AbstractProvider):
    """OpenFeature provider evaluating flags with a :class:`persona_sdk.Persona`.

    Args:
        persona: the embedded SDK (its container's features and experiments).
        user_id_attribute: the context attribute read as the visitor's user id.
    """

    def __init__(self, persona: ps.Persona, *, user_id_attribute: str = "userId") -> None:
        self._persona = persona
        self._user_key = user_id_attribute

    def get_metadata(self) -> Metadata:
        """The provider's name, ``persona-sdk``."""
        return Metadata(name="persona-sdk")

    # -- the visitor of a context ---------------------------------------------------------

    def _ids(
        self, context: EvaluationContext | None
    ) -> tuple[str | None, str | None, dict[str, Any]]:
        attributes = dict(context.attributes) if context is not None else {}
        user = attributes.pop(self._user_key, None)
        anonymous = context.targeting_key if context is not None else None
        return anonymous, None if user is None else str(user), attributes

    def _visitor(self, context: EvaluationContext | None) -> ps.Visitor:
        anonymous, user, attributes = self._ids(context)
        return self._persona.visitor(anonymous_id=anonymous, user_id=user, attributes=attributes)

    async def _avisitor(self, context: EvaluationContext | None) -> ps.Visitor:
        anonymous, user, attributes = self._ids(context)
        return await self._persona.avisitor(
            anonymous_id=anonymous, user_id=user, attributes=attributes
        )

    # -- resolution -------------------------------------------------------------------------

    def _resolve(
        self,
        result: ps.FeatureResult[Any] | None,
        default: T,
        kinds: type | tuple[type, ...],
        error: Exception | None = None,
    ) -> FlagResolutionDetails[T]:
        if result is None:
            return FlagResolutionDetails(
                default,
                error_code=ErrorCode.GENERAL,
                error_message=str(error),
                reason=Reason.ERROR,
            )
        if result.source is ps.FeatureSource.UNKNOWN_FEATURE:
            return FlagResolutionDetails(
                default,
                error_code=ErrorCode.FLAG_NOT_FOUND,
                error_message=f"unknown feature {result.key!r}",
                reason=Reason.ERROR,
            )
        value = result.value
        if value is None:
            return FlagResolutionDetails(
                default, reason=Reason.DEFAULT, flag_metadata=_meta(result)
            )
        if not _is_kind(value, kinds):
            return FlagResolutionDetails(
                default,
                error_code=ErrorCode.TYPE_MISMATCH,
                reason=Reason.ERROR,
                error_message=f"{result.key!r} is {type(value).__name__}, not {_names(kinds)}",
            )
        if kinds is float and isinstance(value, int):
            value = float(value)
        variation = result.variation
        return FlagResolutionDetails(
            value,
            reason=_REASONS.get(result.reasons[0], Reason.UNKNOWN) if result.reasons else None,
            variant=variation.variation_key if variation is not None else None,
            flag_metadata=_meta(result),
        )

    def _sync(
        self,
        key: str,
        default: T,
        kinds: type | tuple[type, ...],
        context: EvaluationContext | None,
    ) -> FlagResolutionDetails[T]:
        try:
            result = self._visitor(context).feature(key)
        except Exception as exc:  # a bad context (e.g. a hostile id) is an error result
            return self._resolve(None, default, kinds, exc)
        return self._resolve(result, default, kinds)

    async def _async(
        self,
        key: str,
        default: T,
        kinds: type | tuple[type, ...],
        context: EvaluationContext | None,
    ) -> FlagResolutionDetails[T]:
        try:
            result = await (await self._avisitor(context)).afeature(key)
        except Exception as exc:
            return self._resolve(None, default, kinds, exc)
        return self._resolve(result, default, kinds)

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """A boolean flag: a feature whose value is ``true`` or ``false``."""
        return self._sync(flag_key, default_value, bool, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """A string flag."""
        return self._sync(flag_key, default_value, str, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """An integer flag (a float value is a type mismatch)."""
        return self._sync(flag_key, default_value, int, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """A float flag (an integer value is widened)."""
        return self._sync(flag_key, default_value, float, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Any,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Any]:
        """A JSON object or array flag."""
        return self._sync(flag_key, default_value, (dict, list), evaluation_context)

    async def resolve_boolean_details_async(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """The asyncio form (uses persona-sdk's ``avisitor``/``afeature``)."""
        return await self._async(flag_key, default_value, bool, evaluation_context)

    async def resolve_string_details_async(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """The asyncio form of ``resolve_string_details``."""
        return await self._async(flag_key, default_value, str, evaluation_context)

    async def resolve_integer_details_async(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """The asyncio form of ``resolve_integer_details``."""
        return await self._async(flag_key, default_value, int, evaluation_context)

    async def resolve_float_details_async(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """The asyncio form of ``resolve_float_details``."""
        return await self._async(flag_key, default_value, float, evaluation_context)

    async def resolve_object_details_async(
        self,
        flag_key: str,
        default_value: Any,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Any]:
        """The asyncio form of ``resolve_object_details``."""
        return await self._async(flag_key, default_value, (dict, list), evaluation_context)

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """OpenFeature's ``track``: the event goes through persona-sdk's tag layer, with the
        details' ``value`` as ``properties.value``."""
        anonymous, user, _attributes = self._ids(evaluation_context)
        properties: dict[str, Any] = {}
        if tracking_event_details is not None:
            properties.update(tracking_event_details.attributes)
            if tracking_event_details.value is not None:
                properties["value"] = tracking_event_details.value
        self._persona.track(
            tracking_event_name, anonymous_id=anonymous, user_id=user, properties=properties
        )


def _is_kind(value: Any, kinds: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # bool is an int in Python, never in OpenFeature
        return kinds is bool
    if kinds is float:
        return isinstance(value, (int, float))
    return isinstance(value, kinds)


def _names(kinds: type | tuple[type, ...]) -> str:
    if isinstance(kinds, tuple):
        return " or ".join(k.__name__ for k in kinds)
    return kinds.__name__


def _meta(result: ps.FeatureResult[Any]) -> dict[str, str | int | float | bool]:
    meta: dict[str, str | int | float | bool] = {"source": result.source.value}
    if result.rule_id:
        meta["ruleId"] = result.rule_id
    variation = result.variation
    if variation is not None:
        meta["experimentKey"] = variation.experiment_key
        meta["inExperiment"] = variation.in_experiment
    reasons: Sequence[ps.Reason] = result.reasons
    if reasons:
        meta["reasons"] = ",".join(r.value for r in reasons)
    return meta
