"""The consolidated tag layer: tags (trigger + consent + mapping) and the router.

A tag sends the events its trigger matches, when the visitor granted every purpose it (and
its destination) needs, reshaped by its mapping. See ``docs/tags.md``::

    router = Router.build(container, destinations)
    for destination, render in router.route(msg):
        payload = render(msg)      # mapping, privacy, then the destination's transform
"""

from ..config import MappingConfig
from ._mapping import compile_mapping
from ._router import Render, Route, Router

__all__ = ["MappingConfig", "Render", "Route", "Router", "compile_mapping"]
