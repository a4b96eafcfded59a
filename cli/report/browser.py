"""Opening a report in headless Chromium: what rendered, and a screenshot of it.

The page is loaded from a file with networking cut off (every host name resolves to nothing), so
a chart that rendered needed nothing from the network. Two runs of Chromium: one dumps the DOM
after the page's scripts ran (``data-charts="N/M"`` on ``<body>``, the charts' ``<svg>``), one saves
the screenshot; the screenshot's coloured pixels are counted (a blank or all-grey page has none).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from html import unescape as html_unescape
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND")


class BrowserError(Exception):
    """No Chromium, or it failed: the message says which."""


@dataclass
class RenderResult:
    charts_rendered: int
    charts_total: int
    chart_errors: int
    svg_marks: int
    screenshot: Path | None
    coloured_pixels: int
    answer_text: str = ""  # the answer panel's text (opened by ``#answer-N``)

    def ok(self) -> bool:
        return self.charts_total > 0 and self.charts_rendered == self.charts_total and self.chart_errors == 0

    def summary(self) -> str:
        return (f"{self.charts_rendered}/{self.charts_total} charts rendered, {self.chart_errors} errors, "
                f"{self.svg_marks} SVG mark groups, {self.coloured_pixels} coloured pixels in the screenshot")


def find_chromium() -> str | None:
    """``$QUANTARENA_CHROMIUM``, else the first Chromium/Chrome on PATH."""
    env = os.environ.get("QUANTARENA_CHROMIUM")
    if env:
        return env
    return next((p for p in (shutil.which(c) for c in CANDIDATES) if p), None)


def _chromium(binary: str, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="qa-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"{binary} did not finish within {timeout:.0f} s") from None


def render(html: Path, screenshot: Path | None = None, *, width: int = 1400, height: int = 2400,
           budget_ms: int = 20000, timeout: float = 180, fragment: str = "") -> RenderResult:
    """Load ``html`` (``#fragment`` appended) in headless Chromium; count what rendered and save
    ``screenshot`` (PNG)."""
    binary = find_chromium()
    if binary is None:
        raise BrowserError("no Chromium found (apt-get install chromium, or set QUANTARENA_CHROMIUM)")
    url = Path(html).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    common = [f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}"]
    dom = _chromium(binary, [*common, "--dump-dom", url], timeout)
    if dom.returncode != 0 or "<body" not in dom.stdout:
        raise BrowserError(f"{binary} --dump-dom {url} failed ({dom.returncode}): {dom.stderr.strip()[-300:]}")
    m = re.search(r"<body[^>]*data-charts=\"(\d+)/(\d+)\"", dom.stdout)
    e = re.search(r"<body[^>]*data-chart-errors=\"(\d+)\"", dom.stdout)
    rendered, total = (int(m[1]), int(m[2])) if m else (0, 0)
    marks = len(re.findall(r"<g class=\"mark-", dom.stdout))
    coloured = 0
    shot: Path | None = None
    if screenshot is not None:
        shot = Path(screenshot).resolve()
        shot.parent.mkdir(parents=True, exist_ok=True)
        r = _chromium(binary, [*common, f"--screenshot={shot}", url], timeout)
        if r.returncode != 0 or not shot.is_file():
            raise BrowserError(f"{binary} --screenshot failed ({r.returncode}): {r.stderr.strip()[-300:]}")
        coloured = coloured_pixels(shot.read_bytes())
    answer = re.search(r"<div id=\"answer\"[^>]*>.*?<pre>(.*?)</pre>", dom.stdout, re.S)
    return RenderResult(rendered, total, int(e[1]) if e else 0, marks, shot, coloured,
                        html_unescape(answer[1]) if answer else "")


def coloured_pixels(png: bytes, min_saturation: int = 60) -> int:
    """Pixels whose channels differ by at least ``min_saturation`` (not white, grey or black) in an
    8-bit RGB/RGBA PNG — enough to tell drawn chart marks from an empty page."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise BrowserError("the screenshot is not a PNG")
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", data[:10])
            if depth != 8 or ctype not in (2, 6):
                raise BrowserError(f"unexpected PNG format (depth {depth}, colour type {ctype})")
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    count = 0
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride if f else 0):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        for x in range(0, stride, bpp):
            r, g, bl = line[x], line[x + 1], line[x + 2]
            if max(r, g, bl) - min(r, g, bl) >= min_saturation:
                count += 1
        prev = line
    return count
