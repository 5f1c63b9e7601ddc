"""One escaping function for every text that reaches a person: messages, Events, logs, tables.

Registry names, registry error bodies and PipelineRun params are written by other people.
Shown raw, a newline forges a log line or a report row, an ANSI or OSC sequence drives the
reader's terminal (OSC 52 writes the clipboard), and a bidi override makes text read other
than it is. Every such character is shown as a visible escape instead; printable text, in
any script, is left as it is.
"""

from __future__ import annotations

import unicodedata
from typing import Final

# Control (Cc: C0, DEL, C1), format (Cf: bidi overrides, zero-width), line and paragraph
# separators, surrogates and unassigned code points: none is safe to hand to a terminal.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})


def is_unsafe_character(character: str) -> bool:
    """Whether `character` may not be shown raw (see the module docstring)."""
    return unicodedata.category(character) in _UNSAFE_CATEGORIES


def escaped(text: str) -> str:
    """`text` with every unsafe character written as `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN`.

    Safe text comes back unchanged (the same object), so escaping twice changes nothing
    that escaping once did not already show.
    """
    if all(not is_unsafe_character(character) for character in text):
        return text
    return "".join(
        _escape(character) if is_unsafe_character(character) else character for character in text
    )


def _escape(character: str) -> str:
    code = ord(character)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
