"""Run colours: each run keeps one colour everywhere (pane title, leaderboard, chart).

Colour is never the only cue: runs also carry their number, and verdicts their glyph.
"""

from __future__ import annotations

RUN_COLOURS = ("#4fc3f7", "#ffb74d", "#ba68c8", "#81c784", "#f06292", "#7986cb", "#fff176", "#4db6ac")


def run_colour(number: int) -> str:
    return RUN_COLOURS[(number - 1) % len(RUN_COLOURS)]
