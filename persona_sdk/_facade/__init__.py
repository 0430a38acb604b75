"""The parts of the ``Persona`` facade (``persona_sdk.client``), one concern per module.

``runtime``: what one container compiles to, and the ``Builder`` that compiles it and
configures delivery and profiles with it; ``events``: the event API (``identify``, ``page``,
``ingest``...); ``exposures``: how visitors' exposures are tracked; ``operate``: reading and
running (``reload``, ``stats``, ``flush``, ``close``, audiences); ``flags``: GrowthBook
payloads and the live flag feed. ``client.Persona`` is the class users
see; the hot paths (``track``, ``visitor``) are written there, inline.
"""
