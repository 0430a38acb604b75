"""Containers: declarative TOML/JSON configuration, structured by cattrs with precise errors."""

from ._container import Container, load_container
from ._load import structure
from ._secret import Secret

# isort: split
# For the command line only: not public (not in __all__).
from ._load import read_document as read_document

__all__ = ["Container", "Secret", "load_container", "structure"]
