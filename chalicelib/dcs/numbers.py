"""The one parser for numbers that arrive from outside (query strings, paths, headers).

``str.isdigit()`` is true for "²", "٣" and other Unicode digits that ``int()`` refuses (or
reads as something else), so a check with it followed by ``int()`` turns a hostile parameter
into an exception (a 500, or error 0 on the DCS routes). Only ASCII 0-9 count here.
"""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")


def is_ascii_digits(text: str) -> bool:
    return _ASCII_DIGITS.fullmatch(text) is not None


def ascii_int(text: str | None, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative int if it is 1..``max_digits`` ASCII digits, else None."""
    if text is None or len(text) > max_digits or not is_ascii_digits(text):
        return None
    return int(text)
