"""Unleash client payloads, evaluated in-process by the Unleash client specification.

``UnleashToggles.from_payload(payload)`` compiles an ``/api/client/features`` answer (or
delta-API events) once; ``is_enabled`` and ``get_variant`` answer like Unleash's SDKs.
"""

from ._toggles import UnleashToggles, UnleashVariant

__all__ = ["UnleashToggles", "UnleashVariant"]
