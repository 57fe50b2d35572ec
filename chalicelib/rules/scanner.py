"""What the trait and segment rule parsers share: whitespace, keywords, error messages."""

from __future__ import annotations

import re

WHITESPACE = " \t\n\r"  # CR counts as part of a CRLF newline


class RuleError(ValueError):
    """A rule that does not parse or validate; ``position`` is a 0-based character index."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


class Scanner:
    """Position-tracking scanner over one rule's text.

    ``keyword_run`` matches a candidate keyword at the position, ``found_run`` the run of
    characters quoted in "expected X, found Y" messages, ``keywords`` (lower case) the words
    that messages call keywords.
    """

    keyword_run: re.Pattern[str]
    found_run: re.Pattern[str]
    keywords: frozenset[str]

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _ws(self) -> int:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in WHITESPACE:
            pos += 1
        self.pos = pos
        return pos

    def _found(self, pos: int) -> str:
        """What stands at ``pos``, for 'expected X, found Y' messages."""
        if pos >= len(self.text):
            return "the end of the rule"
        char = self.text[pos]
        if char == '"':
            return "a string"
        run = self.found_run.match(self.text, pos)
        if run:
            word = run.group(0)
            return f"the keyword '{word}'" if word.lower() in self.keywords else f"'{word}'"
        return f"'{char}'"

    def _error(self, expected: str, pos: int) -> RuleError:
        return RuleError(f"expected {expected}, found {self._found(pos)}", pos)

    def _keyword(self, word: str) -> bool:
        pos = self._ws()
        run = self.keyword_run.match(self.text, pos)
        if run and run.group(0).lower() == word:
            self.pos = run.end()
            return True
        return False
