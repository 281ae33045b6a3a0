"""FilterLogEvents' `filterPattern`, the part for unstructured log lines:

- `ERROR` (a term) and `"Task timed out"` (a quoted phrase): the event contains it; several
  must all be there (`ERROR "user 42"`); case matters, as on CloudWatch;
- `?ERROR ?WARN`: any one of them (and then the others may not be mixed in);
- `-term` / `-"phrase"`: the event must not contain it (`ERROR -retrying`);
- an empty pattern (or `""`): every event.

JSON (`{ $.level = "ERROR" }`), space-delimited (`[ip, user, ...]`) and regular expression
(`%...%`) patterns are refused with a message saying so.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

Matcher = Callable[[str], bool]


class PatternError(ValueError):
    """A filter pattern faas does not take (the message says why)."""


@dataclass(frozen=True, slots=True)
class Pattern:
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()

    def __call__(self, message: str) -> bool:
        if any(term in message for term in self.none_of):
            return False
        if self.any_of and not any(term in message for term in self.any_of):
            return False
        return all(term in message for term in self.all_of)


def compile_pattern(text: str | None) -> Matcher | None:
    """The predicate a pattern means; None for a pattern that keeps every event."""
    stripped = (text or "").strip()
    if not stripped or stripped == '""':
        return None
    if stripped[0] in "{[" or stripped.startswith("%"):
        raise PatternError(
            "faas supports plain terms, quoted phrases, ?terms (any of) and -terms (none of) "
            "in filterPattern; JSON, space-delimited and regular expression patterns are not "
            "supported"
        )
    try:
        words = _split(stripped)
    except ValueError as exc:
        raise PatternError(f"filterPattern could not be read: {exc}") from exc
    all_of: list[str] = []
    any_of: list[str] = []
    none_of: list[str] = []
    for word, marker in words:
        {"?": any_of, "-": none_of}.get(marker, all_of).append(word)
    if any_of and all_of:
        raise PatternError("filterPattern: ?terms (any of) cannot be mixed with plain terms")
    return Pattern(tuple(all_of), tuple(any_of), tuple(none_of))


def _split(pattern: str) -> list[tuple[str, str]]:
    """(word, marker) pairs: marker is "?", "-" or ""; quotes kept a phrase together."""
    lexer = shlex.shlex(pattern, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escapedquotes = '"'
    lexer.quotes = '"'
    words = []
    for token in lexer:
        marker = token[0] if token[:1] in ("?", "-") and len(token) > 1 else ""
        word = token[1:] if marker else token
        if word:
            words.append((word, marker))
    return words
