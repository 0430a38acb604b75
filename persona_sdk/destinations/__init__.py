"""Built-in destinations, each one module implementing ``persona_sdk.plugins.Destination``.

===============  =========================================================================
type             module
===============  =========================================================================
``http``         :mod:`persona_sdk.destinations.http`: Segment-compatible ``/v1/batch``
``webhook``      :mod:`persona_sdk.destinations.webhook`: Standard Webhooks signed POSTs
``jsonl``        :mod:`persona_sdk.destinations.jsonl`: local JSON-lines files, rotated
``ga4``          :mod:`persona_sdk.destinations.ga4`: GA4 Measurement Protocol
``meta_capi``    :mod:`persona_sdk.destinations.meta_capi`: Meta Conversions API
``capture``      :class:`persona_sdk.testing.CaptureDestination`: in memory, for tests
===============  =========================================================================

They are found through the ``persona_sdk.destinations`` entry point group, like third-party
plugins; see ``docs/destinations.md``.
"""

# isort: split
# For the facade only: not public (destinations are built from the container).
from ._factory import build_destinations as build_destinations

__all__: list[str] = []
