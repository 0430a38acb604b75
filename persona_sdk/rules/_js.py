"""JavaScript value semantics the condition language inherits from GrowthBook's JS SDK.

GrowthBook conditions were defined by what the browser SDK does, so equality, ordering and
string conversion follow ECMAScript rules (``String(v)``, ``Number(v)``, ``<`` on mixed
types, ``JSON.stringify``) rather than Python's. Everything here works on JSON-shaped Python
values: ``None``, ``bool``, ``int``, ``float``, ``str``, lists/tuples and mappings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "js_json",
    "js_le",
    "js_less",
    "js_number",
    "js_str",
    "js_strict_eq",
    "js_truthy",
    "js_type",
    "number_to_str",
    "str_less",
]

ARRAY_TYPES: Final = (list, tuple)

# ECMAScript WhiteSpace + LineTerminator, which is what Number("  8 ") trims.
_JS_SPACE: Final = "\t\n\x0b\x0c\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX = re.compile(r"0(?:([xX])[0-9a-fA-F]+|([oO])[0-7]+|([bB])[01]+)")


def is_number(v: Any) -> bool:
    """Whether ``v`` is a JS number (``bool`` is an ``int`` in Python, but not in JS)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number_to_str(f: float) -> str:
    """Format a number as ECMAScript ``Number.prototype.toString`` does (``1.0`` → ``"1"``)."""
    if f != f:  # noqa: PLR0124 - NaN
        return "NaN"
    if f in (math.inf, -math.inf):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "0"
    if isinstance(f, int) and abs(f) < 10**21:
        return str(f)
    sign = "-" if f < 0 else ""
    # repr gives the shortest round-tripping digits, which is also what JS picks.
    mantissa, _, exp_text = repr(abs(float(f))).partition("e")
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    digits = all_digits.lstrip("0")
    n = len(whole) + (int(exp_text) if exp_text else 0) - (len(all_digits) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    exp = ("+" if e >= 0 else "-") + str(abs(e))
    if k == 1:
        return f"{sign}{digits}e{exp}"
    return f"{sign}{digits[0]}.{digits[1:]}e{exp}"


def js_str(v: Any) -> str:
    """``String(v)`` for a JSON-shaped value."""
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return number_to_str(v)
    if isinstance(v, ARRAY_TYPES):
        return ",".join("" if x is None else js_str(x) for x in v)
    if isinstance(v, Mapping):
        return "[object Object]"
    return str(v)


def _str_to_number(s: str) -> float:
    s = s.strip(_JS_SPACE)
    if not s:
        return 0.0
    if _DECIMAL.fullmatch(s):
        return float(s.replace("Infinity", "inf"))
    m = _RADIX.fullmatch(s)
    if m:
        return float(int(s[2:], 16 if m.group(1) else 8 if m.group(2) else 2))
    return math.nan


def js_number(v: Any) -> float:
    """``Number(v)`` for a JSON-shaped value (``null`` → 0, ``"8"`` → 8, ``"x"`` → NaN)."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return v
    if v is None:
        return 0.0
    if isinstance(v, str):
        return _str_to_number(v)
    if isinstance(v, ARRAY_TYPES):
        return _str_to_number(js_str(v))
    return math.nan


def js_truthy(v: Any) -> bool:
    """JS truthiness: ``null``, ``false``, ``0``, ``NaN`` and ``""`` are falsy; ``[]`` is not."""
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)):
        return v == v and v != 0  # noqa: PLR0124 - NaN is falsy
    if isinstance(v, str):
        return v != ""
    return True


def js_type(v: Any) -> str:
    """The ``$type`` name of a value: string, number, boolean, array, object or null."""
    if v is None:
        return "null"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, ARRAY_TYPES):
        return "array"
    return "object"


def js_strict_eq(a: Any, b: Any) -> bool:
    """``a === b``: no coercion, and arrays/objects are never equal to a literal."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    return a is None and b is None


def str_less(a: str, b: str) -> bool:
    """``a < b`` on strings, ordered by UTF-16 code unit as JS does."""
    if a.isascii() and b.isascii():
        return a < b
    # Code-point order differs from UTF-16 order only for astral characters; encoding
    # big-endian makes byte order equal code-unit order.
    return a.encode("utf-16-be", "surrogatepass") < b.encode("utf-16-be", "surrogatepass")


def _to_primitive(v: Any) -> Any:
    if isinstance(v, ARRAY_TYPES):
        return js_str(v)
    if isinstance(v, Mapping):
        return "[object Object]"
    return v


def js_less(a: Any, b: Any) -> bool | None:
    """The abstract relational comparison ``a < b``; ``None`` stands for JS ``undefined`` (NaN)."""
    pa, pb = _to_primitive(a), _to_primitive(b)
    if isinstance(pa, str) and isinstance(pb, str):
        return str_less(pa, pb)
    na, nb = js_number(pa), js_number(pb)
    if na != na or nb != nb:  # noqa: PLR0124 - NaN compares as undefined
        return None
    return na < nb


def js_le(a: Any, b: Any) -> bool:
    """``a <= b`` in JS: true when ``b < a`` is false (not when it is undefined)."""
    return js_less(b, a) is False


def _json_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch < " ":
            out.append(_JSON_CONTROL.get(ch) or f"\\u{ord(ch):04x}")
        elif "\ud800" <= ch <= "\udfff":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_JSON_CONTROL: Final = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def js_json(v: Any) -> str:
    """``JSON.stringify(v)``: compact, key order kept, ``1.0`` → ``1``, NaN → ``null``."""
    if v is None or v is True or v is False:
        return "null" if v is None else ("true" if v else "false")
    if isinstance(v, str):
        return _json_str(v)
    if isinstance(v, (int, float)):
        return number_to_str(v) if math.isfinite(v) else "null"
    if isinstance(v, ARRAY_TYPES):
        return "[" + ",".join(js_json(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ",".join(f"{_json_str(str(k))}:{js_json(x)}" for k, x in v.items()) + "}"
    return _json_str(str(v))
