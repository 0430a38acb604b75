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

from ._compiler import Condition, check_condition, compile_condition
from ._ops_text import padded_version
from ._registry import Operator, OperatorRegistry, default_registry

# isort: split
# For content strategies only: not public (not in __all__).
from ._paths import compile_path as compile_path
from ._preds import ALWAYS as ALWAYS
from ._reads import Reads as Reads
from ._time import TIME_OPERATORS as TIME_OPERATORS
from ._time import time_registry as time_registry

# isort: split
# For the decisions' generated features: a condition as an expression (not public).
from ._codegen import inline_test as inline_test

# For the decisions compiler and segments: what a condition reads (not public).

__all__ = [
    "Condition",
    "Operator",
    "OperatorRegistry",
    "check_condition",
    "compile_condition",
    "default_registry",
    "padded_version",
]
