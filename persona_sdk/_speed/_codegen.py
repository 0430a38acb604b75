"""``generate``: the one place the package turns source text into a function."""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

__all__ = ["generate", "generated_source"]

_serial = itertools.count(1)


@lru_cache(maxsize=1024)
def _compiled(source: str, what: str) -> tuple[Any, str]:
    # One compile per distinct source: the generators make source from a shape (never from
    # values), so many conditions or features of one shape share it.
    filename = f"<persona_sdk {what} #{next(_serial)}>"
    # kept for tracebacks, pdb and ``inspect.getsource`` (as dataclasses and attrs do)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec"), filename


def generate(
    source: str, name: str, *, what: str, namespace: Mapping[str, Any] | None = None
) -> Callable[..., Any]:
    """The function ``name`` defined by ``source``, run with ``namespace`` as its globals.

    ``what`` names the generator in the code's filename (``<persona_sdk condition #3>``), so
    a traceback through generated code says where it came from and shows its lines.

    The caller's promise, which keeps ``exec`` safe: ``source`` is made of fixed templates and
    identifiers the caller made; every value (a key, an operand, a predicate) reaches the code
    as an argument or through ``namespace``, never formatted into the text.
    """
    code, _ = _compiled(source, what)
    globals_: dict[str, Any] = dict(namespace or {})
    exec(code, globals_)
    # taken out of its own globals: a function its globals hold is a reference cycle, and
    # a dropped engine's features would wait for the cyclic collector (none calls itself)
    fn: Callable[..., Any] = globals_.pop(name)
    return fn


def generated_source(fn: Callable[..., Any]) -> str:
    """The source text of a function made by ``generate`` (for debugging)."""
    filename = fn.__code__.co_filename
    entry = linecache.cache.get(filename)
    return "".join(entry[2]) if entry is not None and len(entry) == 4 else ""
