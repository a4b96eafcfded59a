"""Screenshot of the TUI from a real session: the default runs on the embedded model.

    python scripts/tui_screenshot.py [--out docs/tui.svg] [--runs GLOB] [--limit 2] [--size 160x48]

Starts the real app on a real session, waits until every run has answered at least one problem
(or the session ends), switches to the requested view and saves an SVG (Textual's screenshot).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "tui.svg"))
    ap.add_argument("--runs", default=None)
    ap.add_argument("--limit", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--size", default="160x48")
    ap.add_argument("--view", default="1", help="key of the view to capture (1 runs, 2 leaderboard, 3 GPUs, 4 problem)")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()

    from engine.launch import LaunchRequest, prepare
    from tui.app import make_app

    req = LaunchRequest(runs=args.runs, limit=args.limit, max_new_tokens=args.max_new_tokens,
                        out=tempfile.mkdtemp(prefix="qa-shot-"))
    app = make_app(prepare(req), show_summary=False)
    w, h = (int(x) for x in args.size.split("x"))

    async def body() -> None:
        async with app.run_test(size=(w, h)) as pilot:
            t0 = time.time()
            while time.time() - t0 < args.timeout:
                runs = app.model.runs.values()
                if app.model.state == "finished" or (runs and all(len(r.records) >= 1 for r in runs)):
                    break
                await pilot.pause(0.5)
            await pilot.press(args.view)
            await pilot.pause(0.5)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(filename=Path(args.out).name, path=str(Path(args.out).parent))
            await pilot.press("q")
            await pilot.pause(0.2)
            if app.screen.__class__.__name__.lower().startswith("confirm"):
                await pilot.press("y")

    asyncio.run(body())
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
