"""The report as one self-contained HTML page: styles, the chart library, the data and the answers
inlined, so the file opens offline and can be mailed or committed.

Charts are rendered in the browser by the Vega bundle that vl-convert ships (no ``http(s)``
script or link); ``data-charts="N/M"`` on ``<body>`` says how many of the M charts rendered (the
headless-Chromium check reads it). A cell of the verdict grid opens that answer's text below it, and
``#answer-N`` in the address opens answer N (the N-th line of the answer table) on load.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any, NamedTuple

from cli.report import charts
from cli.report.comparison import Comparison
from cli.report.folders import ResultsFolder

MIB_PER_GIB = 1024.0


class Section(NamedTuple):
    """An extra section (the findings' study) placed before the standard ones."""

    id: str
    heading: str
    html: str
    chart: Any | None = None


def fmt(v: Any, spec: str = ".1f", suffix: str = "") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "N/A"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return format(v, spec) + suffix
    return str(v)


def esc(v: Any) -> str:
    return html.escape(fmt(v) if not isinstance(v, str) else v)


def _gib(mib: Any) -> str:
    return fmt(mib / MIB_PER_GIB, ".2f") if isinstance(mib, (int, float)) else "N/A"


def _range(r: dict[str, Any], field: str, spec: str) -> str:
    p10, p50, p90 = r.get(f"{field}_p10"), r.get(f"{field}_p50"), r.get(f"{field}_p90")
    if p50 is None:
        return "N/A"
    if p10 is None or p90 is None or p10 == p90:
        return fmt(p50, spec)
    return f"{fmt(p50, spec)} <span class=dim>({fmt(p10, spec)}–{fmt(p90, spec)})</span>"


def _pct(v: Any) -> str:
    return fmt(100 * v, ".1f", "%") if isinstance(v, (int, float)) else "N/A"


def runs_table(rows: list[dict[str, Any]], order: list[str]) -> str:
    by_key = {r["key"]: r for r in rows}
    head = ("row", "status", "weights", "where", "accuracy", "strict", "graded / unparsed / truncated",
            "decode tok/s p50 (p10–p90)", "% roofline p50", "TTFT s p50", "peak VRAM GiB (process)",
            "sizing estimate GiB", "J/token", "quality: KLD mean / top-1 %", "load s")
    out = ["<table class=runs><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for key in order + [k for k in by_key if k not in order]:
        r = by_key[key]
        status = esc(r.get("status") or "N/A") + (f"<div class=dim>{esc(r['reason'])}</div>" if r.get("reason") else "")
        est = _gib(r.get("vram_estimate_mib"))
        if r.get("vram_estimate_error_pct") is not None:
            est += f" <span class=dim>({fmt(r['vram_estimate_error_pct'], '+.1f', '%')})</span>"
        counts = f"{fmt(r.get('graded'), 'd')} / {fmt(r.get('unparsed'), 'd')} / {fmt(r.get('truncated'), 'd')}"
        quality = "N/A" if r.get("quality_kld_mean") is None and r.get("quality_top1_pct") is None else \
            f"{fmt(r.get('quality_kld_mean'), '.4f')} / {fmt(r.get('quality_top1_pct'), '.1f')}"
        acc = _pct(r.get("accuracy")) if r.get("graded") else ("n/a" if r.get("not_applicable") else "N/A")
        cells = (esc(key), status, esc(r.get("weights") or "N/A"), esc(r.get("gpu") or r.get("device") or "N/A"), acc,
                 _pct(r.get("strict_accuracy")), counts, _range(r, "decode_tok_s", ".1f"),
                 _range(r, "roofline_pct", ".1f"), _range(r, "ttft_s", ".3f"), _gib(r.get("peak_vram_process_mib")),
                 est, fmt(r.get("j_per_token"), ".3f"), quality, fmt(r.get("load_s"), ".1f"))
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def environment_block(folder: ResultsFolder, open_: bool = False) -> str:
    env, s = folder.environment, folder.settings
    if not env and not s:
        return f"<p class=dim>{esc(folder.label)}: N/A (no summary.json).</p>"
    gpus = env.get("gpus") or []
    names: dict[str, int] = {}
    for g in gpus:
        names[str(g.get("name"))] = names.get(str(g.get("name")), 0) + 1
    mem = {str(g.get("name")): g.get("memory_total_mib") for g in gpus}
    gpu_text = ", ".join(f"{n}× {name} ({_gib(mem.get(name))} GiB)" for name, n in names.items()) or "none"
    libs = ", ".join(f"{k} {v}" for k, v in (env.get("libraries") or {}).items() if v) or "N/A"
    items = [
        ("path", str(folder.path)), ("session", folder.session), ("CPU", f"{fmt(env.get('cpu'))} "
         f"({fmt(env.get('cpu_cores_physical'), 'd')} cores / {fmt(env.get('cpu_cores_logical'), 'd')} threads), "
         f"RAM {fmt(env.get('ram_gib'))} GiB"),
        ("GPUs", gpu_text), ("GPU driver / CUDA driver", f"{fmt(env.get('gpu_driver'))} / {fmt(env.get('cuda_driver'))}"),
        ("CUDA_VISIBLE_DEVICES", fmt(env.get("cuda_visible_devices"))), ("NVML", fmt(env.get("nvml"))),
        ("platform / Python", f"{fmt(env.get('platform'))} / {fmt(env.get('python'))}"), ("libraries", libs),
        ("git commit", fmt(env.get("git_commit"))),
        ("dataset / problems", f"{fmt(s.get('dataset'))} / {fmt(s.get('problems'), 'd')}"),
        ("token cap / temperature / fixed length", f"{fmt(s.get('max_new_tokens'), 'd')} / {fmt(s.get('temperature'))} / "
         f"{fmt(s.get('fixed_length'))}"),
        ("concurrency", fmt(s.get("concurrency"), "d")), ("interrupted", fmt((folder.summary or {}).get("interrupted"))),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    return f"<details{' open' if open_ else ''}><summary>{esc(folder.label)}</summary><table class=env>{rows}</table></details>"


def comparison_html(cmp: Comparison, chart_id: str) -> str:
    parts = [f"<h3>{esc(cmp.before)} → {esc(cmp.after)}</h3>"]
    parts.append(f"<p>{len(cmp.runs)} run{'s' if len(cmp.runs) != 1 else ''} in both: <b>{cmp.count('faster')} faster</b>, <b>{cmp.count('slower')} slower</b> "
                 f"beyond their own p10–p90 spread, {cmp.count('within spread')} within it, "
                 f"{cmp.count('spread unknown')} with too few answers to tell. {len(cmp.verdicts)} of "
                 f"{cmp.answers_compared} answers in both changed verdict.</p>")
    if cmp.setting_differences:
        parts.append("<p class=warn>The sessions differ in: " + esc("; ".join(cmp.setting_differences)) + "</p>")
    if cmp.only_before or cmp.only_after:
        parts.append(f"<p class=dim>Only before: {esc(', '.join(cmp.only_before) or '—')}. "
                     f"Only after: {esc(', '.join(cmp.only_after) or '—')}.</p>")
    parts.append(f"<div class=chart id='{chart_id}'></div>")
    parts.append("<table><thead><tr><th>run</th><th>before decode tok/s p50 (p10–p90)</th><th>after</th><th>Δ p50</th>"
                 "<th>change</th></tr></thead><tbody>")
    for rc in cmp.runs:
        parts.append(f"<tr><td>{esc(rc.run)}</td><td>{_range(rc.before, 'decode_tok_s', '.1f')}</td>"
                     f"<td>{_range(rc.after, 'decode_tok_s', '.1f')}</td><td>{fmt(rc.delta_pct, '+.1f', '%')}</td>"
                     f"<td class='chg {rc.change.replace(' ', '-')}'>{esc(rc.change)}</td></tr>")
    parts.append("</tbody></table>")
    if cmp.verdicts:
        parts.append("<table><thead><tr><th>run</th><th>problem</th><th>before</th><th>after</th></tr></thead><tbody>")
        for v in cmp.verdicts:
            parts.append(f"<tr><td>{esc(v.run)}</td><td>{esc(v.problem_id)}</td><td>{esc(v.before)} "
                         f"<span class=dim>({esc(v.before_extracted)})</span></td><td>{esc(v.after)} "
                         f"<span class=dim>({esc(v.after_extracted)})</span></td></tr>")
        parts.append("</tbody></table>")
    return "\n".join(parts)


def comparison_chart_rows(cmp: Comparison) -> list[dict[str, Any]]:
    def rng(r: dict[str, Any]) -> str:
        return f"{fmt(r.get('decode_tok_s_p10'))}–{fmt(r.get('decode_tok_s_p90'))}"
    return [{"run": rc.run, "delta_pct": rc.delta_pct, "change": rc.change, "before_p50": rc.before.get("decode_tok_s_p50"),
             "after_p50": rc.after.get("decode_tok_s_p50"), "before_range": rng(rc.before), "after_range": rng(rc.after)}
            for rc in cmp.runs]


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(obj, ensure_ascii=False, default=str).replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1500px;padding:0 24px 48px;color:#222}
h1{margin-top:24px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 7px;vertical-align:top}
th{background:#f4f4f4;text-align:left}table.runs td:nth-child(n+5){text-align:right;white-space:nowrap}
tbody tr:nth-child(even){background:#fafafa}.dim{color:#777;font-size:12px}.warn{color:#8a5300}
.chart{margin:8px 0 4px}.note{color:#555;font-size:13px;max-width:1000px}
ul.warnings li{color:#8a5300}#answer{border:1px solid #bbb;background:#fcfcfc;padding:8px 12px;margin-top:8px;display:none}
#answer pre{white-space:pre-wrap;word-break:break-word;max-height:420px;overflow:auto;background:#f6f6f6;padding:8px}
td.faster{color:#2e7d32;font-weight:600}td.slower{color:#c62828;font-weight:600}details{margin:4px 0}
table.env th{width:260px}
"""

SCRIPT = r"""
(function(){
  const total = Object.keys(SPECS).length;
  let done = 0, failed = 0;
  const mark = () => { document.body.dataset.charts = done + "/" + total; document.body.dataset.chartErrors = String(failed); };
  mark();
  const show = (i) => {
    const a = ANSWERS[i]; if (!a) return;
    const box = document.getElementById("answer");
    box.style.display = "block";
    const fields = ["key","problem_id","verdict","strict_verdict","extracted","gold","finish_reason","tokens_out","grade_reason"];
    const dl = box.querySelector("table"); dl.innerHTML = "";
    for (const f of fields) {
      const tr = document.createElement("tr"); const th = document.createElement("th"); const td = document.createElement("td");
      th.textContent = f; td.textContent = (a[f] === null || a[f] === undefined) ? "N/A" : String(a[f]);
      tr.appendChild(th); tr.appendChild(td); dl.appendChild(tr);
    }
    box.querySelector("pre").textContent = a.response || "";
  };
  const m = location.hash.match(/^#answer-(\d+)$/);
  if (m) show(Number(m[1]));
  for (const [id, spec] of Object.entries(SPECS)) {
    vegaEmbed("#" + id, spec, {renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}})
      .then((res) => {
        done++; mark();
        if (id === "c-verdicts") {
          res.view.addEventListener("click", (ev, item) => {
            if (item && item.datum && item.datum.answer_idx !== undefined) {
              history.replaceState(null, "", "#answer-" + item.datum.answer_idx); show(item.datum.answer_idx);
            }
          });
        }
      })
      .catch((err) => { failed++; mark(); document.getElementById(id).textContent = "chart failed: " + err; });
  }
})();
"""

DEFINITIONS = """
<p class=note>Units: s, tok/s = generated tokens per second, GiB = 2<sup>30</sup> bytes, MiB = 2<sup>20</sup> bytes.
decode tok/s = (n_out − 1) / (t_last − t_first) per answer; TTFT = submit → first token; % of the roofline = decode tok/s ÷
(peak memory bandwidth ÷ bytes read per token: weights + KV cache); peak VRAM = max of the NVML memory of the run's process
tree (the whole GPU's when that is all there is); the sizing estimate is the memory the session's plan placed the run with
(<code>quantarena size</code>/<code>plan</code>); J/token = NVML energy / generated tokens; accuracy = correct / graded,
strict = the MATH-PT paper's letter-in-the-last-box rule. p50 is the median over a run's answers and the ranges are p10–p90.
N/A: not measured or not in that folder's version; n/a: not applicable (synthetic weights have no correctness).
Full definitions: the README's “What the numbers mean”.</p>
"""


def build_page(folders: list[ResultsFolder], rows: list[dict[str, Any]], answers: list[dict[str, Any]],
               comparisons: list[Comparison], *, title: str = "quantarena report", intro: str = "",
               sections: list[Section] | None = None) -> str:
    """The whole HTML document."""
    order = charts.run_order(rows)
    specs: dict[str, dict[str, Any]] = {}
    body: list[str] = []
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f"<h1>{esc(title)}</h1>")
    body.append(f"<p class=dim>Generated {now} by <code>quantarena report</code> from {len(folders)} results "
                f"folder{'s' if len(folders) != 1 else ''}: {len(rows)} runs, {len(answers)} answers. "
                "Hover a mark for the run, its settings and values; click a legend entry to highlight an engine.</p>")
    toc = [("runs", "runs"), ("c-speed-h", "speed"), ("c-vram-h", "VRAM"), ("c-verdicts-h", "verdicts"),
           ("environment", "environment")] + ([("comparison", "sessions compared")] if len(folders) > 1 else [])
    body.append("<p class=dim>" + " · ".join(f"<a href='#{a}'>{t}</a>" for a, t in toc) + "</p>")
    if intro:
        body.append(intro)
    warnings = [w for f in folders for w in f.warnings]
    if warnings:
        body.append("<h2 id=warnings>Warnings</h2><ul class=warnings>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")

    def chart_section(cid: str, heading: str, chart: Any | None, note: str, missing: str, field: str = "") -> None:
        body.append(f"<h2 id='{cid}-h'>{esc(heading)}</h2>")
        if note:
            body.append(f"<p class=note>{note}</p>")
        if chart is None:
            body.append(f"<p class=warn>{esc(missing)}</p>")
            return
        specs[cid] = charts.to_spec(chart)
        body.append(f"<div class=chart id='{cid}'></div>")
        absent = [r["key"] for r in rows if field and r.get(field) is None]
        if absent:
            body.append(f"<p class=dim>Not shown ({esc(field)} N/A or n/a): {esc(', '.join(absent))}.</p>")

    for i, sec in enumerate(sections or []):
        body.append(f"<h2 id='{sec.id}'>{esc(sec.heading)}</h2>{sec.html}")
        if sec.chart is not None:
            cid = f"c-extra-{i}"
            specs[cid] = charts.to_spec(sec.chart)
            body.append(f"<div class=chart id='{cid}'></div>")

    acc = charts.pareto_chart(rows, "accuracy")
    qual = charts.pareto_chart(rows, "quality_top1_pct")
    pareto_note = ("Each point is a run; the dashed line joins the runs that no other run beats on both speed and the "
                   "vertical axis (the Pareto front).")
    if acc is not None or qual is None:
        chart_section("c-pareto-acc", "Accuracy against speed", acc, pareto_note,
                      "Accuracy and quality are N/A for every run: nothing was graded (synthetic weights have no "
                      "correctness) and no summary has a quality block.", "accuracy")
    if qual is not None:
        chart_section("c-pareto-q", "Quality against speed", qual, pareto_note + " Quality: top-1 agreement of each "
                      "run's next token with its model's reference run (the summary's quality block).", "",
                      "quality_top1_pct")
    chart_section("c-speed", "Decode speed and % of the roofline", charts.speed_chart(rows, order),
                  "Point: median over the run's answers; bar: p10–p90." + (
                      "" if any(r.get("roofline_pct_p50") is not None for r in rows) else
                      " % of the roofline: N/A for every run (it needs a GPU's memory bandwidth)."),
                  "No run has decode tok/s.")
    chart_section("c-ttft", "Time to first token", charts.spread_chart(rows, "ttft_s", "TTFT", "s", log=True, order=order),
                  "Submit → first generated token (prefill included).", "No run has a TTFT.")
    chart_section("c-vram", "Peak VRAM: measured against the sizing estimate", charts.vram_chart(rows, order),
                  "Bar: peak NVML memory of the run's process tree (the whole GPU's when per-process memory is N/A); "
                  "black tick: the estimate the session's plan placed it with.", "No GPU memory figures (CPU runs).")
    chart_section("c-energy", "Energy per token", charts.energy_chart(rows, order),
                  "NVML energy counter over the answers / generated tokens.", "No energy figures (CPU runs, or no NVML).")
    chart_section("c-verdicts", "Verdicts per problem", charts.verdict_grid(answers, order),
                  "One cell per answer. Click a cell to open the answer text below.", "No answers recorded.")
    if "c-verdicts" in specs:
        body.append("<div id=answer><table class=env></table><pre></pre></div>")
    body.append("<h2 id=runs>Runs</h2>")
    body.append(runs_table(rows, order))
    if comparisons:
        body.append("<h2 id=comparison>Sessions compared</h2><p class=note>" + esc(
            "A run is faster (slower) when its new p10 decode tok/s is above its old p90 (its new p90 below its old "
            "p10): beyond the answer-to-answer spread of both sessions.") + "</p>")
        for i, cmp in enumerate(comparisons):
            cid = f"c-cmp-{i}"
            body.append(comparison_html(cmp, cid))
            chart = charts.comparison_chart(comparison_chart_rows(cmp))
            if chart is not None:
                specs[cid] = charts.to_spec(chart)
    elif len(folders) > 1:
        body.append("<h2 id=comparison>Sessions compared</h2><p class=dim>No two folders share a run at the same "
                    "concurrency.</p>")
    body.append("<h2 id=environment>Environment</h2>")
    body += [environment_block(f, open_=len(folders) == 1) for f in folders]
    body.append(DEFINITIONS)
    answer_payload = [{k: a.get(k) for k in ("key", "problem_id", "verdict", "strict_verdict", "extracted", "gold",
                                             "finish_reason", "tokens_out", "grade_reason", "response")} for a in answers]
    return "\n".join([
        "<!DOCTYPE html>", "<html lang=en><head><meta charset='utf-8'>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)}</title><style>{CSS}</style>",
        f"<script>{charts.javascript_bundle()}</script>",
        "</head><body data-charts='0/0'>", *body,
        f"<script>const SPECS = {_json_for_script(specs)};\nconst ANSWERS = {_json_for_script(answer_payload)};</script>",
        f"<script>{SCRIPT}</script>", "</body></html>",
    ])
