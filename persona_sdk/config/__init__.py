"""Containers: declarative TOML/JSON configuration, structured by cattrs with precise errors."""

from ._container import Container, load_container
from ._load import converter, interpolate_env, read_document, structure
from ._secret import Secret

__all__ = [
    "Container",
    "Secret",
    "converter",
    "interpolate_env",
    "load_container",
    "read_document",
    "structure",
]
