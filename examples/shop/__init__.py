"""Persona Outdoor: the persona-sdk demo shop (``python -m examples.shop``, ``scripts/demo``).

A small Starlette shop (catalog, product pages, cart, checkout, consent banner) that embeds
persona-sdk through ``persona_sdk.web.starlette.PersonaMiddleware`` and serves the first-party
collector and JS tag. ``persona.toml`` next to this file is its container.
"""
