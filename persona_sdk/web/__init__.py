"""web."""

# -- middleware (framework integrations live in persona_sdk.web.starlette/.django/.flask) --
# -- collector, its cookie and consent helpers, the user-agent parser, the JS tag --
from ..config import CollectorConfig
from ._collector import Collector, PendingBody
from ._collector_http import CollectorResponse, RequestHead
from ._consent import read_consent_cookie, write_consent_cookie
from ._metrics import metrics_text
from ._middleware import VisitorOptions
from ._middleware_render import bootstrap_data, render_bootstrap
from ._script import script_source
from ._ua import parse_user_agent

__all__ = ["VisitorOptions", "bootstrap_data", "render_bootstrap"]
__all__ += [
    "Collector",
    "CollectorConfig",
    "CollectorResponse",
    "PendingBody",
    "RequestHead",
    "metrics_text",
    "parse_user_agent",
    "read_consent_cookie",
    "script_source",
    "write_consent_cookie",
]
