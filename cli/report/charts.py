"""The report's charts as Vega-Lite specifications, built with Altair.

Why Altair/Vega-Lite: its charts are JSON specifications rendered by one JavaScript bundle that
``vl-convert`` ships inside its wheel (Vega, Vega-Lite, vega-embed: ~0.9 MB), so the HTML page
inlines everything and opens offline; the same ``vl-convert`` renders any chart to PNG/SVG in
process with no browser (:func:`to_png`, :func:`to_svg`) — plotly's static export needs Chrome
through kaleido. Hovering a mark shows the run, its settings and the values; clicking a legend
entry highlights that engine.

Every builder takes the report's run rows (:func:`cli.report.tables.run_rows`) and returns an
``alt.Chart``-like object, or None when no row has the figure it plots (the page then says so).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import altair as alt

MIB_PER_GIB = 1024.0
ROW_PX = 20
VERDICT_COLORS = {
    "correct": "#2e7d32", "incorrect": "#c62828", "unparsed": "#f9a825", "ungraded": "#8e8e8e",
    "n/a": "#cfd8dc", "skipped": "#ffffff",
}
VERDICT_GLYPHS = {"correct": "✓", "incorrect": "✗", "unparsed": "?", "ungraded": "–", "n/a": "·", "skipped": " "}
ENGINE_COLORS = {
    "llama.cpp": "#2ca02c", "transformers": "#1f77b4", "quanto": "#ff7f0e", "bitsandbytes": "#d62728",
    "torchao": "#9467bd", "fake": "#7f7f7f",
}

#: tooltip fields every per-run chart shows: the run and its settings
RUN_TOOLTIP: tuple[tuple[str, str], ...] = (
    ("key", "row"), ("run", "run"), ("folder", "folder"), ("backend", "engine"), ("quant", "quant"),
    ("tag", "variant"), ("weights", "weights"), ("device", "device"), ("gpu", "GPU"),
    ("concurrency", "concurrency"), ("max_new_tokens", "token cap"), ("problems", "answers"),
)


def _finite(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def run_order(rows: list[dict[str, Any]]) -> list[str]:
    """One y order for every per-run chart: by model, engine, quantization, variant, folder."""
    return [r["key"] for r in sorted(rows, key=lambda r: (str(r.get("model")), str(r.get("backend")), str(r.get("quant")),
                                                          str(r.get("tag") or ""), str(r.get("folder"))))]


def engine_color(rows: list[dict[str, Any]]) -> alt.Color:
    engines = sorted({str(r.get("backend")) for r in rows})
    palette = ["#8c564b", "#e377c2", "#17becf", "#bcbd22"]
    rng = [ENGINE_COLORS.get(e) or palette[i % len(palette)] for i, e in enumerate(engines)]
    return alt.Color("backend:N", title="engine", scale=alt.Scale(domain=engines, range=rng))


def _tooltip(*extra: tuple[str, str, str]) -> list[alt.Tooltip]:
    tips = [alt.Tooltip(f"{f}:N", title=t) for f, t in RUN_TOOLTIP]
    for field, title, fmt in extra:
        tips.append(alt.Tooltip(f"{field}:Q", title=title, format=fmt) if fmt else alt.Tooltip(f"{field}:N", title=title))
    return tips


def _values(rows: list[dict[str, Any]], fields: set[str]) -> list[dict[str, Any]]:
    keep = {f for f, _ in RUN_TOOLTIP} | fields | {"model"}
    return [{k: r.get(k) for k in keep} for r in rows]


def _engine_pick(name: str) -> Any:
    return alt.selection_point(name=name, fields=["backend"], bind="legend")


def pareto_front(points: list[tuple[str, float, float]]) -> list[str]:
    """Keys of the points no other point beats on both axes (higher is better on both)."""
    front = []
    for key, x, y in points:
        dominated = any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for k2, x2, y2 in points if k2 != key)
        if not dominated:
            front.append(key)
    return front


def pareto_chart(rows: list[dict[str, Any]], metric: str) -> Any | None:
    """``metric`` (``accuracy`` or ``quality_top1_pct``) against decode tok/s p50, the front drawn."""
    pts = [r for r in rows if _finite(r.get(metric)) and _finite(r.get("decode_tok_s_p50")) and r["decode_tok_s_p50"] > 0]
    if not pts:
        return None
    scale = 100.0 if metric == "accuracy" else 1.0
    title = "accuracy (%)" if metric == "accuracy" else "top-1 agreement with the reference (%)"
    data = _values(pts, {"decode_tok_s_p50", "decode_tok_s_p10", "decode_tok_s_p90", "graded", "correct"})
    for d, r in zip(data, pts, strict=True):
        d["y"] = scale * r[metric]
    front = set(pareto_front([(d["key"], d["decode_tok_s_p50"], d["y"]) for d in data]))
    for d in data:
        d["front"] = "on the Pareto front" if d["key"] in front else "dominated"
    pick = _engine_pick("engine_pareto")
    base = alt.Chart(alt.Data(values=data))
    x = alt.X("decode_tok_s_p50:Q", title="decode tok/s (p50, log scale)", scale=alt.Scale(type="log"))
    y = alt.Y("y:Q", title=title, scale=alt.Scale(domain=[0, 100]))
    points = base.mark_point(filled=True, size=90).encode(
        x=x, y=y, color=engine_color(pts), shape=alt.Shape("front:N", title="", scale=alt.Scale(domain=["on the Pareto front", "dominated"], range=["diamond", "circle"])),
        opacity=alt.condition(pick, alt.value(0.95), alt.value(0.15)),
        tooltip=_tooltip(("y", title, ".1f"), ("decode_tok_s_p50", "decode tok/s p50", ".1f"),
                         ("graded", "graded answers", "d"), ("front", "Pareto", "")),
    ).add_params(pick)
    line = base.transform_filter(alt.datum.front == "on the Pareto front").mark_line(
        color="#444", strokeDash=[4, 3], interpolate="step-before").encode(x=x, y=y, order="decode_tok_s_p50:Q")
    return (line + points).properties(width=640, height=360, title=f"{title} against decode speed")


def spread_chart(rows: list[dict[str, Any]], field: str, title: str, unit: str, *, log: bool = False,
                 order: list[str] | None = None, labels: bool = True) -> Any | None:
    """p50 as a point with its p10–p90 range as a rule, one row per run (rows in ``order``; a run
    without the figure keeps an empty row so that charts side by side line up)."""
    p10, p50, p90 = f"{field}_p10", f"{field}_p50", f"{field}_p90"
    pts = [r for r in rows if _finite(r.get(p50)) and (not log or r[p50] > 0)]
    if not pts:
        return None
    data = _values(pts, {p10, p50, p90})
    for d in data:
        d[p10] = d[p10] if _finite(d.get(p10)) else d[p50]
        d[p90] = d[p90] if _finite(d.get(p90)) else d[p50]
    keys = order or run_order(pts)
    pick = _engine_pick(f"engine_{field}")
    y = alt.Y("key:N", title=None, sort=keys, scale=alt.Scale(domain=keys),
              axis=alt.Axis(labelLimit=420) if labels else None)
    xs = alt.Scale(type="log") if log else alt.Scale(zero=True)
    base = alt.Chart(alt.Data(values=data))
    rule = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(f"{p10}:Q", title=f"{title} ({unit}; p50, bar p10–p90{', log scale' if log else ''})", scale=xs),
        x2=f"{p90}:Q", y=y, color=engine_color(pts), opacity=alt.condition(pick, alt.value(0.6), alt.value(0.1)))
    point = base.mark_point(filled=True, size=70).encode(
        x=alt.X(f"{p50}:Q", scale=xs), y=y, color=engine_color(pts),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        tooltip=_tooltip((p50, f"{title} p50", ".3g"), (p10, "p10", ".3g"), (p90, "p90", ".3g")),
    ).add_params(pick)
    return (rule + point).properties(width=480, height=ROW_PX * len(keys), title=title)


def speed_chart(rows: list[dict[str, Any]], order: list[str] | None = None) -> Any | None:
    """Decode tok/s and % of the roofline per run, side by side on the same rows."""
    keys = order or run_order(rows)
    dec = spread_chart(rows, "decode_tok_s", "decode tok/s", "tok/s", log=True, order=keys)
    roof = spread_chart(rows, "roofline_pct", "% of the bandwidth roofline", "%", order=keys, labels=False)
    if dec is None:
        return None
    if roof is None:
        return dec
    return alt.hconcat(dec, roof.properties(width=300), spacing=12).resolve_scale(color="shared")


def vram_chart(rows: list[dict[str, Any]], order: list[str] | None = None) -> Any | None:
    """Peak GPU memory measured (the run's process, else the whole GPU) against the sizing estimate."""
    data = []
    for r in rows:
        proc, glob, est = r.get("peak_vram_process_mib"), r.get("peak_vram_mib"), r.get("vram_estimate_mib")
        measured: float | None = float(proc) if _finite(proc) else float(glob) if _finite(glob) else None
        if measured is None and not _finite(est):
            continue
        d = _values([r], set())[0]
        d.update(measured_gib=measured / MIB_PER_GIB if measured is not None else None,
                 measured_kind="the run's process" if _finite(proc) else "whole GPU (shared)" if _finite(glob) else "N/A",
                 global_gib=float(glob) / MIB_PER_GIB if _finite(glob) else None,
                 estimate_gib=float(est) / MIB_PER_GIB if _finite(est) else None,
                 error_pct=r.get("vram_estimate_error_pct"))
        data.append(d)
    if not data:
        return None
    keys = [k for k in (order or run_order(rows)) if k in {d["key"] for d in data}]
    pick = _engine_pick("engine_vram")
    y = alt.Y("key:N", title=None, sort=keys, axis=alt.Axis(labelLimit=420))
    tips = _tooltip(("measured_gib", "measured peak GiB", ".2f"), ("measured_kind", "measured on", ""),
                    ("global_gib", "whole-GPU peak GiB", ".2f"), ("estimate_gib", "sizing estimate GiB", ".2f"),
                    ("error_pct", "estimate error %", "+.1f"))
    base = alt.Chart(alt.Data(values=data))
    bars = base.transform_filter("isValid(datum.measured_gib)").mark_bar(height=ROW_PX * 0.6).encode(
        x=alt.X("measured_gib:Q", title="peak GPU memory (GiB = 2^30 bytes): bar measured, black tick the sizing estimate"),
        y=y, color=engine_color(rows), opacity=alt.condition(pick, alt.value(0.85), alt.value(0.15)), tooltip=tips,
    ).add_params(pick)
    ticks = base.transform_filter("isValid(datum.estimate_gib)").mark_tick(color="black", thickness=3, size=ROW_PX * 0.9).encode(
        x="estimate_gib:Q", y=y, tooltip=tips)
    return (bars + ticks).properties(width=640, height=ROW_PX * len(keys), title="peak VRAM: measured vs estimated")


def energy_chart(rows: list[dict[str, Any]], order: list[str] | None = None) -> Any | None:
    """GPU energy per generated token, one dot per run (log scale)."""
    pts = [r for r in rows if _finite(r.get("j_per_token")) and r["j_per_token"] > 0]
    if not pts:
        return None
    data = _values(pts, {"j_per_token", "gpu_util_pct_mean", "decode_tok_s_p50"})
    keys = [k for k in (order or run_order(pts)) if k in {d["key"] for d in data}]
    pick = _engine_pick("engine_energy")
    return alt.Chart(alt.Data(values=data)).mark_point(filled=True, size=80).encode(
        x=alt.X("j_per_token:Q", title="energy per generated token (J/token, log scale)", scale=alt.Scale(type="log")),
        y=alt.Y("key:N", title=None, sort=keys, axis=alt.Axis(labelLimit=420)),
        color=engine_color(pts), opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        tooltip=_tooltip(("j_per_token", "J/token", ".3f"), ("gpu_util_pct_mean", "GPU util % (mean)", ".0f"),
                         ("decode_tok_s_p50", "decode tok/s p50", ".1f")),
    ).add_params(pick).properties(width=520, height=ROW_PX * len(keys), title="energy per token")


def problem_order(problem_ids: list[str]) -> list[str]:
    """Problems by split, then by their index as a number."""
    def key(p: str) -> tuple[str, int, str]:
        split, _, idx = p.rpartition("/")
        return (split, int(idx), p) if idx.isdigit() else (split, -1, p)
    return sorted(set(problem_ids), key=key)


def verdict_grid(answers: list[dict[str, Any]], order: list[str] | None = None) -> Any | None:
    """Run × problem, one cell per answer coloured (and marked) by its verdict; ``answer_idx``
    indexes the answer list the page keeps for the click-to-open panel."""
    if not answers:
        return None
    data = []
    for i, a in enumerate(answers):
        v = str(a.get("verdict") or "ungraded")
        data.append({"key": a["key"], "problem_id": str(a.get("problem_id")), "verdict": v,
                     "glyph": VERDICT_GLYPHS.get(v, "?"), "answer_idx": i, "extracted": a.get("extracted"),
                     "gold": a.get("gold"), "finish_reason": a.get("finish_reason"), "tokens_out": a.get("tokens_out"),
                     "strict_verdict": a.get("strict_verdict")})
    problems = problem_order([d["problem_id"] for d in data])
    keys_present = {d["key"] for d in data}
    keys = [k for k in (order or []) if k in keys_present] + sorted(keys_present - set(order or []))
    domain = [v for v in VERDICT_COLORS if v in {d["verdict"] for d in data}] + \
        sorted({d["verdict"] for d in data} - set(VERDICT_COLORS))
    cell = max(8, min(22, int(900 / max(1, len(problems)))))
    x = alt.X("problem_id:N", title="problem (click a cell to open the answer)", sort=problems,
              axis=alt.Axis(labels=len(problems) <= 60, labelAngle=-60, labelLimit=160))
    y = alt.Y("key:N", title=None, sort=keys, axis=alt.Axis(labelLimit=420))
    tips = [alt.Tooltip("key:N", title="row"), alt.Tooltip("problem_id:N", title="problem"),
            alt.Tooltip("verdict:N", title="verdict"), alt.Tooltip("strict_verdict:N", title="strict (paper)"),
            alt.Tooltip("extracted:N", title="extracted"), alt.Tooltip("gold:N", title="gold"),
            alt.Tooltip("finish_reason:N", title="finish"), alt.Tooltip("tokens_out:Q", title="tokens out")]
    base = alt.Chart(alt.Data(values=data))
    rects = base.mark_rect(stroke="white", strokeWidth=1, cursor="pointer").encode(
        x=x, y=y, tooltip=tips,
        color=alt.Color("verdict:N", scale=alt.Scale(domain=domain, range=[VERDICT_COLORS.get(v, "#000") for v in domain]),
                        legend=alt.Legend(title="verdict")))
    glyphs = base.mark_text(fontSize=max(7, cell - 8), color="black", cursor="pointer").encode(
        x=x, y=y, text="glyph:N", tooltip=tips)
    return (rects + glyphs).properties(width=cell * len(problems), height=max(ROW_PX, cell) * len(keys),
                                       title="verdict per problem (✓ correct, ✗ incorrect, ? unparsed, – ungraded, · n/a)")


def comparison_chart(rows: list[dict[str, Any]]) -> Any | None:
    """Δ% of decode tok/s p50 per run between two sessions, coloured by faster/slower/within spread.

    ``rows``: ``{run, delta_pct, change, before_p50, after_p50, before_range, after_range}``."""
    data = [r for r in rows if _finite(r.get("delta_pct"))]
    if not data:
        return None
    domain = ["faster", "slower", "within spread", "spread unknown"]
    return alt.Chart(alt.Data(values=data)).mark_bar().encode(
        x=alt.X("delta_pct:Q", title="decode tok/s p50 change (%)"),
        y=alt.Y("run:N", title=None, sort="-x", axis=alt.Axis(labelLimit=420)),
        color=alt.Color("change:N", scale=alt.Scale(domain=domain, range=["#2e7d32", "#c62828", "#9e9e9e", "#cfd8dc"]),
                        title="beyond the spread?"),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("change:N"), alt.Tooltip("delta_pct:Q", format="+.1f", title="Δ %"),
                 alt.Tooltip("before_p50:Q", format=".1f", title="before p50"), alt.Tooltip("before_range:N", title="before p10–p90"),
                 alt.Tooltip("after_p50:Q", format=".1f", title="after p50"), alt.Tooltip("after_range:N", title="after p10–p90")],
    ).properties(width=520, height=ROW_PX * len(data))


#: validate specs against the Vega-Lite schema (jsonschema: ~0.4 s a chart); the tests turn it on
VALIDATE = False


def to_spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict(validate=VALIDATE)
    return spec


def to_png(chart: Any, scale: float = 2.0) -> bytes:
    """The chart as PNG, rendered in process by vl-convert (no browser)."""
    import vl_convert as vlc

    png: bytes = vlc.vegalite_to_png(to_spec(chart), scale=scale)
    return png


def to_svg(chart: Any) -> str:
    import vl_convert as vlc

    svg: str = vlc.vegalite_to_svg(to_spec(chart))
    return svg


def javascript_bundle() -> str:
    """Vega + Vega-Lite + vega-embed as one script that defines ``vegaEmbed`` globally (from vl-convert).

    Bundling takes vl-convert 1.5 s or more, so the result is kept in the user's cache folder
    (``$XDG_CACHE_HOME/quantarena``, else ``~/.cache/quantarena``), one file per vl-convert and
    Vega-Lite version; a cache that cannot be written is skipped."""
    import importlib.metadata
    import os
    from pathlib import Path

    import vl_convert as vlc

    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    known = vlc.get_vegalite_versions()
    version = major_minor if major_minor in known else known[-1]
    try:
        vlc_version = importlib.metadata.version("vl-convert-python")
    except importlib.metadata.PackageNotFoundError:
        vlc_version = "unknown"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "quantarena" / \
        f"vega-embed-bundle-vlc{vlc_version}-vl{version}.js"
    try:
        text = cache.read_text(encoding="utf-8")
        if text:
            return text
    except OSError:
        pass
    # the default snippet (no snippet) assigns vegaEmbed, vegaLite and vega to window
    js: str = vlc.javascript_bundle(vl_version=version)  # type: ignore[call-arg]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(js, encoding="utf-8")
        tmp.replace(cache)
    except OSError:
        pass
    return js
