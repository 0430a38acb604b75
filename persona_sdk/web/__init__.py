"""web."""

# -- middleware (framework integrations live in persona_sdk.web.starlette/.django/.flask) --
from ._middleware import VisitorOptions
from ._middleware_render import bootstrap_data, render_bootstrap

__all__ = ["VisitorOptions", "bootstrap_data", "render_bootstrap"]
