"""Text from outside the process (a backend's question, a device's string, a report's subject) shown to a
person without power over their screen: control characters (ESC sequences that set a window title, clear
the screen or write the clipboard with OSC 52) and bidirectional overrides (which make a line read other
than it is) are shown escaped, as \\x1b or \\u202e. One function, for the CLI's output and the log."""

from __future__ import annotations

import re
from typing import TextIO

# C0 but newline and tab, DEL, C1, and the bidi embeddings, overrides, isolates and marks.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
UNSAFE_IN_A_LINE = re.compile("[\n\t]|" + UNSAFE.pattern)  # a log line is one line: its newlines too


def _escaped(m: re.Match) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def shown(text: str, one_line: bool = False) -> str:
    """TEXT with every unsafe character escaped; ONE_LINE escapes newlines and tabs too."""
    return (UNSAFE_IN_A_LINE if one_line else UNSAFE).sub(_escaped, text)


class SafeStream:
    """A text stream (the CLI's stdout) that shows what it is given through `shown`."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(shown(text))

    def __getattr__(self, name: str):  # flush, fileno, isatty, buffer...
        return getattr(self._stream, name)
