"""Rendering server-side decisions into the page: a small ``<script>`` bootstrap for the JS tag.

Decisions are made on the server before the HTML is written, so templates render the chosen
variation directly and nothing flickers. The bootstrap hands the same decisions (and the
visitor's ids) to the browser, so client code can read them without a second evaluation and
the JS tag does not report exposures the server already logged.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from ..decisions import Visitor

__all__ = ["BOOTSTRAP_GLOBAL", "bootstrap_data", "render_bootstrap"]

#: The global the JS tag reads its bootstrap from (``window.__persona``).
BOOTSTRAP_GLOBAL = "__persona"

# JSON inside a <script> element: these must not appear literally ("</script>", "<!--",
# and the two line separators older JS engines treat as newlines).
_UNSAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _plain(value: Any) -> Any:
    # Enum members and other odd leaves become their value or string form.
    inner = getattr(value, "value", None)
    if isinstance(inner, (str, int, float, bool)):
        return inner
    return str(value)


def bootstrap_data(
    visitor: Visitor, features: Iterable[str] = (), *, all_features: bool = False
) -> dict[str, Any]:
    """The bootstrap as a dict: the visitor's ids and, for each feature key, its value and,
    when an experiment chose it, the experiment key and variation (key and index).

    Evaluating a feature here is the exposure (logged once, server-side, through the visitor),
    so list only the features the page actually renders. With ``all_features`` every
    feature is bootstrapped through ``visitor.evaluate_all()`` instead, and exposures are
    deferred: the JS tag sends one when the page reads the flag (``persona.feature(key)``).

    .. versionadded:: 0.1
    """
    if all_features:
        data: dict[str, Any] = visitor.evaluate_all().to_bootstrap()
        data["experiments"] = {}
        return data
    decided: dict[str, Any] = {}
    experiments: dict[str, Any] = {}
    for key in features:
        result = visitor.feature(key)
        entry: dict[str, Any] = {"value": result.value, "on": bool(result.on)}
        source = getattr(result, "source", None)
        if source is not None:
            entry["source"] = _plain(source)
        assigned = getattr(result, "variation", None)
        if assigned is not None and getattr(assigned, "in_experiment", False):
            entry["experiment"] = assigned.experiment_key
            entry["variation"] = assigned.variation_key
            entry["variationId"] = assigned.variation_id
            experiments[assigned.experiment_key] = {
                "variation": assigned.variation_key,
                "variationId": assigned.variation_id,
            }
        decided[key] = entry
    return {
        "anonymousId": getattr(visitor, "anonymous_id", None),
        "userId": getattr(visitor, "user_id", None),
        "features": decided,
        "experiments": experiments,
    }


def render_bootstrap(
    visitor: Visitor,
    features: Iterable[str] = (),
    *,
    nonce: str | None = None,
    extra: Mapping[str, Any] | None = None,
    all_features: bool = False,
) -> str:
    """Return a ``<script>`` element that sets ``window.__persona`` to the visitor's decisions.

    Put it in ``<head>`` before the JS tag::

        {{ render_bootstrap(request.state.persona, ["hero-banner"]) }}
        <script src="/persona.js" defer></script>

    Args:
        visitor: the request's ``Visitor`` (``request.state.persona``, ``request.persona``,
            ``g.persona``).
        features: the feature keys the page renders (each is evaluated, and exposed, once).
        nonce: the CSP nonce of the page, when its policy requires one.
        extra: more JSON-able data for page scripts, under the ``extra`` key.
        all_features: bootstrap every feature with deferred exposures (see ``bootstrap_data``).

    The JSON is escaped for an HTML script element (no ``</script>`` or ``<!--`` can appear).

    .. versionadded:: 0.1
    """
    data = bootstrap_data(visitor, features, all_features=all_features)
    if extra:
        data["extra"] = dict(extra)
    payload = msgspec.json.encode(data, enc_hook=_plain).decode().translate(_UNSAFE)
    attr = f' nonce="{html.escape(nonce, quote=True)}"' if nonce else ""
    return f"<script{attr}>window.{BOOTSTRAP_GLOBAL}={payload};</script>"
