"""The streaming answer in a pane: wrapped incrementally, scrolled by jumps.

Two things keep a streaming pane cheap to draw:

* **Incremental wrapping.** The answer only grows while a problem is answered, and greedy wrapping
  never changes a line once a later one has started, so only the last line is re-wrapped when
  text arrives (``WrappedText``).
* **Jump scrolling.** Scrolling by one line on every new line would repaint the whole pane each
  time (and send it all to the terminal). Instead the text fills the area down; when it overflows,
  the view jumps so that the last third of the area is free again (``AnswerWindow``). Between
  jumps, new text changes only the last line on screen. The newest text is always visible.
"""

from __future__ import annotations

from rich.cells import get_character_cell_size


def wrap_offsets(text: str, width: int, start: int = 0) -> list[tuple[int, int]]:
    """(start, end) offsets of the display lines of ``text[start:]`` wrapped at ``width`` cells.

    Greedy: a line breaks after the last space that fits, or inside a word longer than the line;
    a newline ends a line (the newline itself belongs to no line, nor does a space at the break).
    """
    width = max(1, width)
    out: list[tuple[int, int]] = []
    line_start = start
    line_w = 0
    last_space = -1
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            out.append((line_start, i))
            line_start, line_w, last_space = i + 1, 0, -1
            i += 1
            continue
        w = get_character_cell_size(ch)
        if line_w + w > width and i > line_start:
            if ch == " ":  # a space at the edge: break here and drop it
                out.append((line_start, i))
                line_start, line_w, last_space = i + 1, 0, -1
                i += 1
                continue
            if last_space >= line_start:
                out.append((line_start, last_space + 1))
                line_start = last_space + 1
            else:
                out.append((line_start, i))
                line_start = i
            line_w = sum(get_character_cell_size(c) for c in text[line_start:i])
            last_space = -1
            continue
        if ch == " ":
            last_space = i
        line_w += w
        i += 1
    out.append((line_start, n))
    return out


class WrappedText:
    """Display lines of a growing text at one width, re-wrapping only the last line."""

    def __init__(self) -> None:
        self.key: object = None
        self.text_len = 0
        self.lines: list[tuple[int, int]] = []

    def update(self, text: str, width: int, key: object) -> list[tuple[int, int]]:
        """The lines of ``text`` (which only grew since the last call with the same key and width)."""
        if (key, width) != self.key or len(text) < self.text_len:
            self.key = (key, width)
            self.lines = wrap_offsets(text, width) if text else []
        elif len(text) > self.text_len:
            resume = self.lines.pop()[0] if self.lines else 0
            self.lines.extend(wrap_offsets(text, width, resume))
        self.text_len = len(text)
        return self.lines


class AnswerWindow:
    """Which display lines of the answer are on screen: the first line ``top`` moves by jumps."""

    def __init__(self) -> None:
        self.top = 0
        self.key: object = None

    def visible(self, total: int, room: int, key: object) -> range:
        if room <= 0:
            return range(0)
        if key != self.key:  # another problem, width or height: show the end
            self.key = key
            self.top = max(0, total - room)
        elif total > self.top + room:
            jump = max(1, room // 3)
            self.top = total - room + jump - 1 if room > 1 else total - 1
            self.top = min(self.top, total - 1)
        elif total < self.top:
            self.top = max(0, total - room)
        return range(self.top, min(total, self.top + room))
