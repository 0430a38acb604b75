"""The condition language: GrowthBook's MongoDB-style JSON conditions, compiled once.

Tag triggers, segments, feature rules and experiments all use it::

    from persona_sdk.rules import compile_condition

    is_target = compile_condition(
        {"country": {"$in": ["FR", "BE"]}, "age": {"$gte": 18}},
        path="features.banner.rules[0].condition",
    )
    is_target({"country": "FR", "age": 30})  # True

See ``docs/conditions.md`` for every operator, strict vs lenient compilation, and operator
plugins.
"""

from persona_sdk.rules._compiler import Condition, check_condition, compile_condition
from persona_sdk.rules._ops_text import padded_version
from persona_sdk.rules._paths import compile_path, get_path

# for segments and content (not part of the public surface)
from persona_sdk.rules._preds import ALWAYS as ALWAYS
from persona_sdk.rules._reads import Reads as Reads
from persona_sdk.rules._registry import (
    BUILTIN_OPERATORS,
    Operator,
    OperatorRegistry,
    default_registry,
)
from persona_sdk.rules._time import TIME_OPERATORS as TIME_OPERATORS
from persona_sdk.rules._time import time_registry as time_registry

__all__ = [
    "BUILTIN_OPERATORS",
    "Condition",
    "Operator",
    "OperatorRegistry",
    "check_condition",
    "compile_condition",
    "compile_path",
    "default_registry",
    "get_path",
    "padded_version",
]
