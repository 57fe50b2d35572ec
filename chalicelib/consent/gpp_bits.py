"""Bit-level reading for GPP strings: the error type, base64url text to bits, Fibonacci codes.

GPP does not use base64 proper. Each character is six bits of one long bit string, with no
``=`` padding and no length rule, so ``base64.b64decode`` does not fit (it refuses a length of
4n+1). A 64-entry table turns characters into bits instead. GPP segments are short (10 to 100
characters, a TC string rarely more than a few hundred), so a ``str`` of '0'/'1' sliced with
``int(..., 2)`` is simple and fast enough, as in tcf.py.

Hostile input is bounded here: a Fibonacci code may be at most ``MAX_FIBONACCI_BITS`` long, so
a header cannot make the decoder add up big integers, whatever the string holds.
"""

from __future__ import annotations

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SIX_BITS = {char: format(index, "06b") for index, char in enumerate(_ALPHABET)}

# The Fibonacci numbers a code word's bits stand for (1, 2, 3, 5, ...). Sixteen of them encode
# any section id delta up to 2,583, far above any published section id (27 so far).
_FIBONACCI: tuple[int, ...] = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597)
MAX_FIBONACCI_BITS = len(_FIBONACCI) + 1  # the value bits and the closing '1'


class GppError(ValueError):
    """A GPP string or ``gpp_sid`` that cannot be decoded; the message says what is wrong.

    The message never quotes the input, which is visitor-supplied and may be long."""


def is_base64url(text: str) -> bool:
    """Every character is in GPP's alphabet (an empty string is, too)."""
    return not text.strip(_ALPHABET)


def segment_bits(segment: str, what: str) -> str:
    """The bits of one base64url segment (a header, a section's core, a sub-section)."""
    if not segment:
        raise GppError(f"{what} is empty")
    try:
        return "".join([_SIX_BITS[char] for char in segment])
    except KeyError:
        raise GppError(f"{what} is not base64url") from None


def require_zero_padding(bits: str, end: int, what: str) -> None:
    """GPP pads a segment to whole characters with zeros; a set bit there is not padding."""
    if "1" in bits[end:]:
        raise GppError(f"{what} has set bits after its last field")


def read_fibonacci(bits: str, pos: int, what: str) -> tuple[int, int]:
    """One Fibonacci code word starting at ``pos``: (value, position after its closing '11')."""
    value = 0
    previous = "0"
    for index in range(MAX_FIBONACCI_BITS):
        at = pos + index
        if at >= len(bits):
            raise GppError(f"{what}: a Fibonacci code runs past the end")
        bit = bits[at]
        if bit == "1":
            if previous == "1":  # '11' closes the code word; this '1' carries no value
                return value, at + 1
            if index == len(_FIBONACCI):
                break
            value += _FIBONACCI[index]
        previous = bit
    raise GppError(f"{what}: a Fibonacci code is longer than {MAX_FIBONACCI_BITS} bits")
