"""Subscripts from Python values: the canonical rules, bad values, and a
round trip against the canonical text `nslock resolve` prints."""
import decimal
import random
import subprocess

import pytest

import nslock
from conftest import binary
from nslock.names import name_text, subscript_text


@pytest.mark.parametrize("value, text", [
    (15, b"15"), ("15", b"15"), ("015", b'"015"'), (-0, b"0"), (0.0, b"0"), (-0.0, b"0"),
    (1.50, b"1.5"), (0.5, b".5"), (-0.5, b"-.5"), (decimal.Decimal("1E3"), b"1000"),
    (decimal.Decimal("1.000"), b"1"), (1e-50, b"0"), (123456789012345678901, b"123456789012345679000"),
    (0.1 + 0.2, b".30000000000000004"), (1.0000000000000000001, b"1"),   # 18 digits kept
    ("", b'""'), ('a"b', b'"a""b"'), ("é", '"é"'.encode()), (b"\xff", b'"\xff"'),
    ("-1.5", b"-1.5"), ("1.50", b'"1.50"'), (".5", b".5"), ("0.5", b'"0.5"'), ("1E3", b'"1E3"'),
])
def test_canonical(value, text):
    assert subscript_text(value) == text


@pytest.mark.parametrize("value, error, words", [
    (float("nan"), ValueError, "not a number"), (float("inf"), ValueError, "not a number"),
    (decimal.Decimal("NaN"), ValueError, "not a number"), (10 ** 47, ValueError, "too large"),
    (None, TypeError, "NoneType"), ([1], TypeError, "list"), ((1,), TypeError, "tuple"),
    ({"a": 1}, TypeError, "dict"), (True, TypeError, "bool"), ("a\nb", ValueError, "LF"),
    ("a\0b", ValueError, "NUL"),
])
def test_bad_subscripts_name_the_argument(value, error, words):
    with pytest.raises(error) as e:
        name_text("^X", 1, value)
    assert "subscript 2 of ^X" in str(e.value) and words in str(e.value)


def test_names():
    assert name_text("^Orders") == b"^Orders"
    assert name_text("x", 1) == b"x(1)"
    assert name_text('^["BETA"]X', "a") == b'^["BETA"]X("a")'
    assert name_text("^%Z") == b"^%Z"
    for bad in ("^1X", "^X(1)", "", "^", "^X Y", "^X,Y"):
        with pytest.raises(ValueError):
            name_text(bad)
    with pytest.raises(TypeError):
        name_text(b"^X")
    with pytest.raises(ValueError, match="at most 31"):
        name_text("^X", *range(32))
    assert name_text("^X", *range(31)).count(b",") == 30


def random_value(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randrange(-10 ** rng.randrange(1, 20), 10 ** rng.randrange(1, 20))
    if kind == 1:
        return rng.uniform(-1e6, 1e6) / 10 ** rng.randrange(0, 30)
    if kind == 2:
        return decimal.Decimal(rng.randrange(-10 ** 25, 10 ** 25)).scaleb(rng.randrange(-50, 30))
    if kind == 3:   # strings that look like numbers, and ones that almost do
        return rng.choice(["15", "015", "1.50", ".5", "-.5", "-0", "1E3", "0", "-1", "1.", "+1"])
    if kind == 4:
        return "".join(rng.choice('ab"Z 9.-\t') for _ in range(rng.randrange(0, 8)))
    if kind == 5:
        return bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 6))).replace(
            b"\n", b"n").replace(b"\r", b"r")
    return rng.choice([0, 0.0, -0.0, 1e-43, 9.99e46, -9.99e46, 1e-44])


def test_round_trip_against_resolve(server):
    """Python's canonical text of random names is the text the server's
    parser makes of them (`nslock resolve` prints the canonical NAME)."""
    rng = random.Random(20261202)
    names = []
    while len(names) < 3000:
        subs = [random_value(rng) for _ in range(rng.randrange(1, 4))]
        try:
            names.append(name_text("^R", *subs))
        except ValueError:
            continue   # beyond M's range: refused before the server sees it
    out = subprocess.run([binary(), "resolve", "-c", server.config, "-N", "USER", "-r", "-n",
                          "-o", "NAME", "--", *[n.decode("utf-8", "surrogateescape") for n in names]],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert out.returncode == 0, out.stderr.decode("utf-8", "replace")
    got = out.stdout.split(b"\n")[:-1]
    assert len(got) == len(names)
    for sent, canonical in zip(names, got):
        # raw output escapes what is not printable as \xNN
        shown = canonical.decode("unicode_escape").encode("latin-1") if b"\\x" in canonical else canonical
        assert sent == shown, (sent, canonical)
