"""The GPU view per node: with --executor ray each run's GPUs as read on its node (a FAKE NVML in
the run's actor on a local Ray), under the node's host name; a local session's view unchanged."""

from __future__ import annotations

import io
import socket
from typing import Any

from rich.console import Console

from engine.exits import ExitCode
from tests.tui.conftest import run, run_toml, wait_for
from tui import figures
from tui.app import make_app
from tui.widgets.gpu_panel import GpuPanel


def _panel_text(app: Any) -> str:
    console = Console(width=150, file=io.StringIO(), record=True, color_system=None)
    console.print(app.dashboard.query_one(GpuPanel).render())
    return console.export_text()


def test_ray_gpu_view_shows_each_node_with_its_runs_gpus(make_prepared: Any, ray_cluster: str) -> None:
    from engine.executors.cluster import Slot
    from tests.fakes.fake_nvml import FAKE_NODE_GPU, fake_node_source

    prepared = make_prepared(run_toml("a", tps=15), limit=2, executor="ray", quality=False)
    ex = prepared.options.executor
    name = prepared.runs[0].name
    ex.slots[name] = Slot(name, num_gpus=1, gpus=(0,))  # the fixture's one GPU (a Ray resource) goes to the run's actor
    ex.gpu_source = fake_node_source  # the actor reads a FAKE NVML on its node
    app = make_app(prepared, show_summary=False)
    polls: list[Any] = []
    read = app.model.apply_nodes
    app.model.apply_nodes = lambda nodes: (polls.append(nodes), read(nodes))[1]  # type: ignore[method-assign]

    async def body() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.model.runs[name].status == "running")
            await pilot.press("3")
            await wait_for(pilot, lambda: any(n["gpus"] for n in app.model.cluster_nodes))
            text = _panel_text(app)
            assert socket.gethostname() in text and "(this machine)" in text  # the node, by its host name
            assert FAKE_NODE_GPU.name in text and "cuda:0 (gpu:0)" in text  # read there by the run's actor
            assert figures.mib_pair(FAKE_NODE_GPU.used_mib, FAKE_NODE_GPU.total_mib) in text
            assert "host (this machine, the driver)" in text
            assert "NVML unavailable" not in text  # the driver's own (absent) GPUs are not what is shown
            [node] = app.model.cluster_nodes
            assert node["runs"] == [name] and node["gpus"][0]["runs"] == [name]
            await wait_for(pilot, lambda: app.model.state == "finished", timeout=60)
            n_polls = len(polls)
            await pilot.pause(2.5)  # no polling once the session is over: the last reading stays
            assert len(polls) == n_polls and app.model.cluster_nodes
            await pilot.press("q")
        assert app.return_code == ExitCode.OK

    try:
        run(body())
    finally:
        ex.close()


def test_local_gpu_view_is_unchanged_by_the_poll(make_prepared: Any) -> None:
    prepared = make_prepared(run_toml("a", tps=15), limit=1, quality=False)
    app = make_app(prepared, show_summary=False)

    async def body() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.model.telemetry_seen and app.model.runs["tiny/fake/fake@a"].status == "running")
            before = _panel_text(app)
            await pilot.press("3")
            await wait_for(pilot, lambda: bool(app.model.nodes))  # polled: this machine, no node id
            [node] = app.model.nodes
            assert node["node_id"] is None and node["here"] and app.model.cluster_nodes == []
            after = _panel_text(app)
            assert "(this machine" not in after and socket.gethostname() not in after.split("host")[0]
            assert after.split("host")[0] == before.split("host")[0]  # the GPU part as it was
            await wait_for(pilot, lambda: app.model.state == "finished", timeout=60)
            await pilot.press("q")

    run(body())
