"""How figures are written on screen: units, N/A, bars and sparklines (pure functions, no Textual).

A figure that is unknown is written ``N/A`` — never 0 (see docs/anchors.md). MiB = 2^20 bytes;
above 10 GiB memory is written in GiB (1 GiB = 1024 MiB).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NA = "N/A"

_EIGHTHS = " ▏▎▍▌▋▊▉█"
_SPARKS = "▁▂▃▄▅▆▇█"


def number(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    """``value`` formatted with ``spec`` and an optional unit; ``N/A`` when unknown."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    text = format(value, spec)
    return f"{text} {unit}" if unit else text


def mib(value: float | None) -> str:
    """Memory in MiB, or GiB from 10 GiB up."""
    if value is None:
        return NA
    if value >= 10 * 1024:
        return f"{value / 1024:.1f} GiB"
    return f"{value:.0f} MiB"


def mib_pair(used: float | None, total: float | None) -> str:
    """``used/total`` in one unit (GiB when the total is large)."""
    if used is None and total is None:
        return NA
    if total is not None and total >= 10 * 1024:
        u = NA if used is None else f"{used / 1024:.1f}"
        return f"{u}/{total / 1024:.0f} GiB"
    u = NA if used is None else f"{used:.0f}"
    t = NA if total is None else f"{total:.0f}"
    return f"{u}/{t} MiB"


def percent(fraction: float | None, digits: int = 0) -> str:
    if fraction is None:
        return NA
    return f"{100 * fraction:.{digits}f}%"


def seconds(value: float | None) -> str:
    """Short durations: ``0.123 s`` under 10 s, else ``12.3 s``."""
    if value is None:
        return NA
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def clock(elapsed_s: float) -> str:
    """``mm:ss`` (or ``h:mm:ss``) of an elapsed time."""
    s = max(0, int(elapsed_s))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def bar(fraction: float | None, width: int) -> tuple[str, str]:
    """A horizontal bar ``width`` cells wide: (filled part, empty part), eighth-cell precise."""
    if width <= 0:
        return "", ""
    if fraction is None:
        return "", "·" * width
    f = min(1.0, max(0.0, fraction))
    eighths = round(f * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full + (_EIGHTHS[part] if part else "")
    return filled, "░" * (width - len(filled))


def sparkline(values: Sequence[float], width: int, zero: bool = False) -> str:
    """The last ``width`` values as block characters.

    Scaled between a floor a little under their minimum and their maximum, so a trend shows even
    when the values are close (``zero=True``: from 0 to the maximum).
    """
    if width <= 0:
        return ""
    vals = [v for v in values if v is not None][-width:]
    if not vals:
        return ""
    hi = max(vals)
    lo = 0.0 if zero else max(0.0, min(vals) - 0.25 * (hi - min(vals)))
    if hi <= lo:
        return _SPARKS[len(_SPARKS) // 2] * len(vals)
    out = []
    for v in vals:
        i = int(round((v - lo) / (hi - lo) * (len(_SPARKS) - 1)))
        out.append(_SPARKS[max(0, min(len(_SPARKS) - 1, i))])
    return "".join(out)
