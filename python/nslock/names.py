"""Lock names from Python values, with M's canonical rules.

A lock name is a global (``"^Orders"``) or local (``"x"``) name and its
subscripts. Subscripts are Python values, never text spliced into the
name: ``int``, ``float``, ``decimal.Decimal``, ``str`` and ``bytes`` (an M
string of those bytes). They are canonicalised as M does: a number takes
its canonical form (``1.50`` is ``1.5``, ``0.5`` is ``.5``), and a string
whose text is a canonical number is that number (``"15"`` and ``15`` are
one subscript; ``"015"`` is a string).
"""
from __future__ import annotations

import decimal
import functools
import math
import re
from typing import Union

Subscript = Union[int, float, decimal.Decimal, str, bytes]

MAX_SUBSCRIPTS = 31
MAX_NAME_CHARS = 31
_DIGITS = 18          # significant digits an M number keeps
_MAX_EXP = 47         # |x| < 1E47
_MIN_EXP = -43        # below 1E-43 a number is zero

_NAME = re.compile(r"\^?(?:\[[^\]]*\]|\|[^|]*\|)?[%A-Za-z][A-Za-z0-9.]*\Z")
_FORBIDDEN = (b"\0", b"\n", b"\r")   # cannot travel in a request line

_context = decimal.Context(prec=_DIGITS, rounding=decimal.ROUND_HALF_UP,
                           Emax=999999, Emin=-999999)


def _canonical_decimal(d: decimal.Decimal, what: str) -> str:
    """M's canonical text of a finite number: 18 significant digits,
    rounded half away from zero; no exponent, no leading or trailing
    zeros; ``.5`` and ``-.5``; ``0`` for zero and for tiny magnitudes."""
    if not d.is_finite():
        raise ValueError("%s: %s is not a number a lock name can hold" % (what, d))
    d = _context.plus(d)
    if d.is_zero() or d.adjusted() < _MIN_EXP:
        return "0"
    if d.adjusted() >= _MAX_EXP:
        raise ValueError("%s: %s is too large for a subscript (M numbers are below 1E47)"
                         % (what, d))
    text = format(d.normalize(_context), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.startswith("0."):
        text = text[1:]
    elif text.startswith("-0."):
        text = "-" + text[2:]
    return text


def _is_canonical_number(text: bytes) -> bool:
    try:
        s = text.decode("ascii")
        if not s or not re.fullmatch(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)", s):
            return False
        return _canonical_decimal(decimal.Decimal(s), "") == s
    except (UnicodeDecodeError, ValueError, decimal.InvalidOperation):
        return False


_EXACT_INT = 10 ** _DIGITS


def subscript_text(value: Subscript, what: str = "subscript") -> bytes:
    """The canonical text of one subscript, as bytes."""
    kind = type(value)
    if kind is int and -_EXACT_INT < value < _EXACT_INT:
        return str(value).encode()   # the common case, exact as it is
    if isinstance(value, bool):
        raise TypeError("%s: a bool is not a subscript (use 1 or 0)" % what)
    if isinstance(value, int):
        return _canonical_decimal(decimal.Decimal(value), what).encode()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("%s: %r is not a number a lock name can hold" % (what, value))
        return _canonical_decimal(decimal.Decimal(repr(value)), what).encode()
    if isinstance(value, decimal.Decimal):
        return _canonical_decimal(value, what).encode()
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise TypeError("%s: a %s is not a subscript (int, float, Decimal, str or bytes)"
                        % (what, type(value).__name__))
    for bad in _FORBIDDEN:
        if bad in raw:
            raise ValueError("%s: %r holds a byte a lock name cannot carry (NUL, CR or LF)"
                             % (what, value))
    if _is_canonical_number(raw):
        return raw
    return b'"' + raw.replace(b'"', b'""') + b'"'


@functools.lru_cache(maxsize=1024)
def _checked_name(name: str) -> bytes:
    if not _NAME.match(name):
        raise ValueError("name: %r is not a lock name without subscripts (such as ^Orders or x)"
                         % name)
    base = name.split("]")[-1].split("|")[-1].lstrip("^")
    if len(base) > MAX_NAME_CHARS:
        raise ValueError("name: %r is longer than %d characters" % (name, MAX_NAME_CHARS))
    return name.encode()


def name_text(name: str, *subscripts: Subscript) -> bytes:
    """The canonical text of a lock name: ``name_text("^Orders", 15, "a")``
    is ``b'^Orders(15,"a")'``. ``name`` is the global (with ``^``, and
    optionally an extended reference such as ``^["BETA"]``) or local name,
    without subscripts."""
    if not isinstance(name, str):
        raise TypeError("name: a %s, not a str" % type(name).__name__)
    out = _checked_name(name)
    if not subscripts:
        return out
    if len(subscripts) > MAX_SUBSCRIPTS:
        raise ValueError("%s: %d subscripts; a lock name has at most %d"
                         % (name, len(subscripts), MAX_SUBSCRIPTS))
    parts = []
    for i, s in enumerate(subscripts):
        parts.append(subscript_text(s, "subscript %d of %s" % (i + 1, name))
                     if type(s) is not int or not -_EXACT_INT < s < _EXACT_INT
                     else str(s).encode())
    return out + b"(" + b",".join(parts) + b")"
