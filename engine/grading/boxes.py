"""Boxed answers: finding ``\\boxed{...}`` / ``\\fbox{...}`` in a response, braces balanced.

Models are asked to put their final answer in ``\\boxed{}``. The answer is the content of the
*last* complete box; a box left open by a truncated generation is ignored. ``\\boxed {x}`` (a space
before the brace) and ``\\boxed{\\boxed{x}}`` are accepted. Escaped braces (``\\{``, ``\\}``) do
not count towards the balance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOX_START = re.compile(r"\\(?:boxed|fbox|framebox)\s*\{")


@dataclass(frozen=True)
class Box:
    """One complete box: its content and where the whole ``\\boxed{...}`` sits in the text."""

    content: str
    start: int
    end: int  # index just past the closing brace


def _closing_brace(text: str, open_at: int) -> int | None:
    """Index of the brace closing the one at ``open_at``; None when the text ends first."""
    depth = 0
    i = open_at
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2  # skip the escaped character (\{ \} \\)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def find_boxes(text: str) -> list[Box]:
    """Every complete box in ``text``, in order (nested boxes count once, as the outer one)."""
    boxes: list[Box] = []
    pos = 0
    while True:
        m = _BOX_START.search(text, pos)
        if not m:
            return boxes
        brace = m.end() - 1
        close = _closing_brace(text, brace)
        if close is None:  # truncated: nothing complete from here on
            return boxes
        boxes.append(Box(content=text[brace + 1 : close], start=m.start(), end=close + 1))
        pos = close + 1


def unwrap_boxes(content: str) -> str:
    """``\\boxed{\\boxed{x}}`` -> ``x``: strips boxes that wrap the whole content."""
    s = content.strip()
    while True:
        m = _BOX_START.match(s)
        if not m:
            return s
        close = _closing_brace(s, m.end() - 1)
        if close is None or s[close + 1 :].strip():
            return s
        s = s[m.end() : close].strip()


def last_box(text: str) -> str | None:
    """The content of the last complete box, unwrapped; None when there is none."""
    boxes = find_boxes(text)
    if not boxes:
        return None
    return unwrap_boxes(boxes[-1].content)
