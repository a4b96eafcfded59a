"""The quality scoring's cost in a finished session: its share of the session's wall time.

Reads ``summary.json`` (and ``results.jsonl``) of a session and prints, per run, the time spent
scoring the reference solutions (``quality.wall_s``: the parent's view, one score request per
problem through the run's process; ``quality.score_s``: inside the backend) beside the time spent
answering (sum of the answers' submit -> last token latencies), and the total scoring time as a
share of the session's wall time (``wall_s``). Writes ``cost.json`` next to the summary.

    python benchmarks/quality/cost.py benchmarks/quality/default-batch
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folder: str) -> int:
    d = Path(folder)
    summary = json.loads((d / "summary.json").read_text())
    records = [json.loads(x) for x in (d / "results.jsonl").read_text().splitlines() if x.strip()]
    rows = []
    for r in summary["runs"]:
        q = r.get("quality") or {}
        answering = sum(x.get("latency_s") or 0.0 for x in records if x["run"] == r["run"])
        rows.append({"run": r["run"], "scoring_wall_s": q.get("wall_s"), "scoring_backend_s": q.get("score_s"),
                     "answering_s": round(answering, 3), "load_s": r.get("load_s"), "tokens_scored": q.get("tokens")})
    scoring = sum(x["scoring_wall_s"] or 0.0 for x in rows)
    out = {"session_wall_s": summary["wall_s"], "scoring_wall_s": round(scoring, 3),
           "scoring_share_pct": round(100 * scoring / summary["wall_s"], 2), "runs": rows}
    (d / "cost.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
