"""The machine: every GPU (labelled ``cuda:i (gpu:j)`` as nvitop does), the host CPU and RAM.

Per GPU: utilization, memory used/total as a bar, power (and its limit), temperature, and the runs
placed on it. Anything NVML cannot tell is N/A, never 0. Without NVML (no driver, no GPU) the
panel says so and still shows the host. Readings come from ``Telemetry`` events (every 0.5 s).

With ``--executor ray`` the GPUs are not this machine's: the panel shows each node that holds
runs, under its host name, with the GPUs of its runs as read on that node
(``Session.gpu_nodes()``, polled while this view is on screen).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from tui import figures
from tui.model import SessionModel
from tui.palette import run_colour


def _bar_text(frac: float | None, width: int, label: str) -> Text:
    filled, empty = figures.bar(frac, width)
    style = "green" if frac is None or frac < 0.8 else ("yellow" if frac < 0.95 else "red")
    t = Text()
    t.append(filled, style=style)
    t.append(empty, style="dim")
    t.append(" " + label, style="bold")
    return t


class GpuPanel(Widget):
    def __init__(self, model: SessionModel, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model

    def render(self) -> RenderableType:
        m = self.model
        width = max(40, self.content_size.width)
        bar_w = max(8, min(30, (width - 70) // 2 + 10))
        parts: list[RenderableType] = []
        nodes = m.cluster_nodes
        if nodes:  # --executor ray: each node's runs' GPUs, read on that node
            for node in nodes:
                parts += self._node(node, bar_w)
        elif not m.telemetry_seen:
            parts.append(Text("waiting for the first telemetry sample…", style="dim italic"))
        elif not m.gpus:
            parts.append(Text.assemble(("no GPU", "bold yellow"), (" (NVML unavailable)", "yellow")))
        else:
            parts.append(self._gpu_table(m.gpus, lambda g: m.run_of_gpu.get(int(g.get("index", -1)), []), bar_w))
        parts.append(Text(""))
        host = Table(box=None, show_header=False, pad_edge=False, show_edge=False)
        host.add_column(style="bold", no_wrap=True)
        host.add_column(no_wrap=True)
        cpu = m.cpu_pct
        ram_frac = (m.ram_used_mib / m.ram_total_mib) if m.ram_used_mib is not None and m.ram_total_mib else None
        host.add_row("CPU", _bar_text(cpu / 100 if cpu is not None else None, bar_w, figures.number(cpu, ".0f") + ("%" if cpu is not None else "")))
        host.add_row("RAM", _bar_text(ram_frac, bar_w, figures.mib_pair(m.ram_used_mib, m.ram_total_mib)))
        parts.append(Text("host" + (" (this machine, the driver)" if nodes else ""), style="bold underline"))
        parts.append(host)
        parts.append(Text(""))
        parts.append(self._runs_table())
        return Group(*parts)

    def _node(self, node: dict[str, Any], bar_w: int) -> list[RenderableType]:
        """One node of a cluster: its host name, its runs, the GPUs they use as read there."""
        head = Text.assemble((str(node.get("hostname") or "?"), "bold underline"))
        if node.get("here"):
            head.append(" (this machine)", style="dim")
        runs = [str(r) for r in node.get("runs") or []]
        if runs:
            head.append("  ")
            head.append_text(self._run_names(runs))
        out: list[RenderableType] = [head]
        gpus = list(node.get("gpus") or [])
        if gpus:
            out.append(self._gpu_table(gpus, lambda g: list(g.get("runs") or []), bar_w))
        else:
            out.append(Text("no GPU readings for its runs (CPU runs, or the node did not answer)" if runs else "no runs",
                            style="dim italic"))
        out.append(Text(""))
        return out

    def _run_names(self, names: list[str]) -> Text:
        m = self.model
        t = Text()
        for name in names:
            rv = m.runs.get(name)
            if t.plain:
                t.append(", ")
            t.append(m.short_name(rv) if rv else name, style=f"bold {run_colour(rv.number)}" if rv else "")
        return t

    def _gpu_table(self, gpus: list[dict[str, Any]], runs_of: Callable[[dict[str, Any]], list[str]], bar_w: int) -> Table:
        t = Table(box=None, expand=True, pad_edge=False, header_style="bold", show_edge=False)
        t.add_column("GPU", no_wrap=True)
        t.add_column("util", no_wrap=True)
        t.add_column("memory used/total", no_wrap=True)
        t.add_column("power", justify="right", no_wrap=True)
        t.add_column("temp", justify="right", no_wrap=True)
        t.add_column("runs")
        for g in gpus:
            util = g.get("util_pct")
            used, total = g.get("mem_used_mib"), g.get("mem_total_mib")
            frac = used / total if used is not None and total else None
            power, limit = g.get("power_w"), g.get("power_limit_w")
            power_s = figures.number(power, ".0f", "W")
            if power is not None and limit is not None:
                power_s = f"{power:.0f}/{limit:.0f} W"
            temp = g.get("temp_c")
            runs = self._run_names(runs_of(g))
            head = Text.assemble((str(g.get("label") or f"gpu:{g.get('index')}"), "bold"), "\n", (str(g.get("name") or ""), "dim"))
            t.add_row(
                head,
                _bar_text(util / 100 if util is not None else None, bar_w // 2, figures.number(util, ".0f") + ("%" if util is not None else "")),
                _bar_text(frac, bar_w, figures.mib_pair(used, total)),
                power_s,
                figures.number(temp, ".0f", "°C").replace(" °C", "°C"),
                runs if runs.plain else Text("—", style="dim"),
            )
        return t

    def _runs_table(self) -> Table:
        m = self.model
        t = Table(box=None, header_style="bold", pad_edge=False, show_edge=False, title_justify="left")
        t.add_column("#", no_wrap=True)
        t.add_column("run", no_wrap=True)
        t.add_column("device", no_wrap=True)
        t.add_column("status", no_wrap=True)
        t.add_column("load", justify="right", no_wrap=True)
        t.add_column("VRAM (run)", justify="right", no_wrap=True)
        t.add_column("GPU used", justify="right", no_wrap=True)
        t.add_column("peak RSS", justify="right", no_wrap=True)
        for rv in m.runs.values():
            c = run_colour(rv.number)
            t.add_row(
                Text(f" {rv.number} ", style=f"bold black on {c}"), Text(m.short_name(rv), style=f"bold {c}"),
                m.device_label(rv), rv.status, figures.number(rv.load_s, ".1f", "s"),
                figures.mib(rv.peak_vram_mib), figures.mib(rv.peak_gpu_used_mib), figures.mib(rv.row.get("rss_mib_peak")),
            )
        return t
