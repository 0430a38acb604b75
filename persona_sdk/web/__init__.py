"""The web layer: the event collector, framework middleware and the JS tag.

``Collector`` is the first-party ``/collect`` endpoint (ASGI, WSGI, or ``handle`` for any
framework); ``persona_sdk.web.starlette``, ``.django`` and ``.flask`` add a visitor to each
request and render the browser bootstrap. See ``docs/collector.md`` and ``docs/web.md``.
"""

from ..config import CollectorConfig, CookieSettings
from ._collector import Collector, PendingBody
from ._collector_http import CollectorResponse, RequestHead
from ._consent import read_consent_cookie, write_consent_cookie
from ._metrics import metrics_text
from ._middleware import VisitorOptions
from ._middleware_render import bootstrap_data, render_bootstrap
from ._script import script_source

__all__ = [
    "Collector",
    "CollectorConfig",
    "CollectorResponse",
    "CookieSettings",
    "PendingBody",
    "RequestHead",
    "VisitorOptions",
    "bootstrap_data",
    "metrics_text",
    "read_consent_cookie",
    "render_bootstrap",
    "script_source",
    "write_consent_cookie",
]
