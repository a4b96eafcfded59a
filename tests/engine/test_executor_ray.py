"""--executor ray on a local Ray (``ray_cluster`` in tests/conftest.py: 2 CPUs, started once for
the module): the fake backend through Ray actors matches a local session (its run process at the
driver's nice value); a killed actor loses no finished answer and the other run goes on; the GPU
readings per node come from each run's actor (a FAKE NVML there); Ctrl-C ends every actor; an
unreachable cluster is one line and exit 2; the cluster planner (pure) spreads waves over nodes
and reports a run no node can hold."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine import events as ev
from engine.catalog import Architecture, RunSpec
from engine.executors.cluster import VRAM_RESOURCE, NodeInfo, plan_cluster
from engine.launch import LaunchError, LaunchRequest, prepare
from engine.placement import GpuInfo
from engine.sizing import estimate
from tests.conftest import ROOT, write_fake_catalog

ray = pytest.importorskip("ray")


def _runs(*tables: str) -> str:
    return "\n".join(f'[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\n{t}\n' for t in tables)


TWO = _runs('tag = "a"\nsettings = { answers = ["Logo \\\\boxed{B}."] }', 'tag = "b"\nsettings = { answers = ["\\\\boxed{C}"] }')


def _prepare(tmp_path: Path, runs: str, out: str, limit: int = 3, **kw):
    cat = write_fake_catalog(tmp_path, runs)
    return prepare(LaunchRequest(models=str(cat), dataset="builtin", limit=limit, max_new_tokens=32,
                                 out=str(tmp_path / out), quality=False, **kw))


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_import_engine_never_imports_ray() -> None:
    code = ("import engine, engine.launch, engine.session, engine.executors, engine.executors.cluster\n"
            "import sys; print('ray' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_fake_runs_through_ray_match_a_local_session(tmp_path: Path, ray_cluster: str) -> None:
    local = _prepare(tmp_path, TWO, "local").session().run()
    p = _prepare(tmp_path, TWO, "ray", executor="ray")
    omp: list[str | None] = []
    nice: list[int] = []

    def on_event(e: ev.Event) -> None:
        import psutil

        if isinstance(e, ev.RunLoaded):
            pid = next(pr for pr in p.options.executor._procs if pr.run.name == e.run).node["pid"]
            omp.append(psutil.Process(pid).environ().get("OMP_NUM_THREADS"))
            nice.append(psutil.Process(pid).nice())

    try:
        remote = p.session().run(on_event)
    finally:
        p.options.executor.close()
    a, b = _lines(tmp_path / "local" / "results.jsonl"), _lines(tmp_path / "ray" / "results.jsonl")
    assert len(a) == len(b) == 6
    assert [set(r) for r in a] == [set(r) for r in b]  # the same schema, record by record
    key = lambda r: (r["run"], r["problem_id"])  # noqa: E731
    assert sorted((key(r), r["response"], r["verdict"], r["tokens_out"]) for r in a) == \
        sorted((key(r), r["response"], r["verdict"], r["tokens_out"]) for r in b)
    assert omp == [os.environ.get("OMP_NUM_THREADS")] * 2  # not Ray's OMP_NUM_THREADS=1 for CPU-less actors
    used = remote["environment"]["executor"]["runs"]
    assert [u["nice"] for u in used.values()] == nice  # recorded as the run process has it
    if os.geteuid() == 0:  # may lower a nice value: the run gets the driver's, not Ray's worker niceness (15)
        assert nice == [os.nice(0)] * 2 and all(u["actor_nice"] == 15 for u in used.values()), used
    assert all(r["rss_mib"] for r in b)  # telemetry sampled on the node, by the actor
    assert [r["status"] for r in remote["runs"]] == [r["status"] for r in local["runs"]] == ["ok", "ok"]
    assert local["environment"]["executor"] == {"kind": "local"}
    ex = remote["environment"]["executor"]
    assert ex["kind"] == "ray" and len(ex["nodes"]) == 1 and ex["address"] == "(this process's Ray)"
    node = ex["nodes"][0]["node_id"]
    assert {r: u["node_id"] for r, u in ex["runs"].items()} == {"tiny/fake/fake@a": node, "tiny/fake/fake@b": node}


def test_a_killed_actor_loses_no_finished_answer_and_the_other_run_goes_on(tmp_path: Path, ray_cluster: str) -> None:
    runs = _runs('tag = "a"\nsettings = { tokens_per_s = 40 }', 'tag = "b"\nsettings = { tokens_per_s = 40 }')
    p = _prepare(tmp_path, runs, "out", limit=4, executor="ray")
    ex = p.options.executor
    finished: list[str] = []
    killed = threading.Event()

    def on_event(e: ev.Event) -> None:
        # killed as run a starts its third problem: its first two answers are done by then (a
        # ProblemFinished would come later, after grading, which a loaded machine delays)
        if isinstance(e, ev.ProblemStarted) and e.run == "tiny/fake/fake@a" and not killed.is_set():
            if len(finished) == 2:
                killed.set()
                proc = next(pr for pr in ex._procs if pr.run.name == "tiny/fake/fake@a")
                proc.kill_actor()  # as a lost node would: the actor and its run process end
            else:
                finished.append(e.problem_id)

    try:
        summary = p.session().run(on_event)
    finally:
        ex.close()
    assert killed.is_set()
    rows = {r["run"]: r for r in summary["runs"]}
    a, b = rows["tiny/fake/fake@a"], rows["tiny/fake/fake@b"]
    assert a["status"] == "failed" and "Ray actor lost" in a["reason"] and "while answering builtin/" in a["reason"], a["reason"]
    lines = _lines(tmp_path / "out" / "results.jsonl")
    kept = [r["problem_id"] for r in lines if r["run"] == "tiny/fake/fake@a"]
    assert kept == finished and len(kept) >= 2  # every answer finished before the kill is on disk
    assert all(r["verdict"] in ("correct", "incorrect") for r in lines if r["run"] == "tiny/fake/fake@a")
    assert b["status"] == "ok" and b["problems"] == 4  # the other run continued to the end


def test_gpu_nodes_are_read_on_each_run_node_by_its_actor(tmp_path: Path, ray_cluster: str) -> None:
    """Session.gpu_nodes() with --executor ray: each node holding runs, tagged with its host, the
    GPUs of its runs as their actors read them there (a FAKE NVML in run a's actor)."""
    from engine.executors.cluster import Slot
    from tests.fakes.fake_nvml import FAKE_NODE_GPU, fake_node_source

    runs = _runs('tag = "a"\nsettings = { tokens_per_s = 40 }', 'tag = "b"\nsettings = { tokens_per_s = 40 }')
    p = _prepare(tmp_path, runs, "out", limit=2, executor="ray")
    ex = p.options.executor
    a, b = "tiny/fake/fake@a", "tiny/fake/fake@b"
    ex.slots[a] = Slot(a, num_gpus=1, gpus=(0,))  # the fixture's one GPU (a Ray resource): Ray gives it to a's actor
    ex.gpu_source = fake_node_source  # built in each actor, on its node
    session = p.session()
    seen: list[list] = []
    elsewhere: list[list] = []

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.ProblemStarted) and e.run == a and not seen:
            seen.append(session.gpu_nodes())
            driver, ex.driver_node = ex.driver_node, "a-driver-elsewhere"  # as if the driver ran on another machine
            try:
                elsewhere.append(session.gpu_nodes())
            finally:
                ex.driver_node = driver

    try:
        session.run(on_event)
    finally:
        ex.close()
    assert seen and elsewhere
    node_id = ray.get_runtime_context().get_node_id()
    [here] = seen[0]  # one machine: the driver's (it has no GPU of its own here; the actor's reading is used)
    assert (here.hostname, here.node_id, here.here) == (socket.gethostname(), node_id, True)
    assert a in here.runs and set(here.runs) <= {a, b}  # b: when its actor is up already
    [g] = here.gpus
    assert (g["name"], g["mem_used_mib"], g["util_pct"], g["label"], g["runs"]) == (FAKE_NODE_GPU.name, 12_345, 77, "cuda:0 (gpu:0)", [a])
    [remote] = elsewhere[0]  # seen from another machine: the run's node, not this one
    assert (remote.hostname, remote.node_id, remote.here, sorted(remote.runs)) == (socket.gethostname(), node_id, False, sorted(here.runs))
    assert [x["name"] for x in remote.gpus] == [FAKE_NODE_GPU.name] and remote.gpus[0]["runs"] == [a]


def test_a_local_session_reads_its_gpus_as_this_machine(tmp_path: Path) -> None:
    """Session.gpu_nodes() without an executor: one entry, this machine, no node id (a FAKE NVML)."""
    from engine.gpu import NvmlSource, Sampler
    from tests.fakes.fake_nvml import FAKE_NODE_GPU, FakeNvml

    cat = write_fake_catalog(tmp_path, _runs('tag = "a"\nsettings = { tokens_per_s = 200 }'))
    p = prepare(LaunchRequest(models=str(cat), dataset="builtin", limit=1, max_new_tokens=8, out=str(tmp_path / "o"),
                              quality=False, gpus="auto"))
    sampler = Sampler(interval_s=0.02, source=NvmlSource(FakeNvml([FAKE_NODE_GPU]))).start()
    try:
        session = p.session(sampler=sampler)
        seen: list[list] = []
        session.run(lambda e: seen.append(session.gpu_nodes()) if isinstance(e, ev.ProblemStarted) and not seen else None)
    finally:
        sampler.stop()
    [node] = seen[0]
    assert (node.hostname, node.node_id, node.here) == (socket.gethostname(), None, True)
    assert [g["name"] for g in node.gpus] == [FAKE_NODE_GPU.name]


def test_cli_batch_ctrl_c_ends_every_actor(tmp_path: Path, ray_cluster: str) -> None:
    cat = write_fake_catalog(tmp_path, _runs('tag = "a"\nsettings = { tokens_per_s = 20 }', 'tag = "b"\nsettings = { tokens_per_s = 20 }'))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cli.main", "--batch", "--quiet", "--executor", "ray", "--ray-address", ray_cluster,
           "--models", str(cat), "--limit", "20", "--no-quality", "--max-new-tokens", "64", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not ((out / "results.jsonl").exists() and (out / "results.jsonl").read_text().strip()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    env = json.loads((out / "summary.json").read_text())["environment"]["executor"]
    assert env["address"] == ray_cluster and len(env["runs"]) == 2
    pids = [u[k] for u in env["runs"].values() for k in ("pid", "actor_pid")]
    assert all(pids)
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)]  # every actor and run process is gone
    assert _lines(out / "results.jsonl")  # the answers finished before Ctrl-C are kept


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_unreachable_cluster_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    cat = write_fake_catalog(tmp_path, _runs('tag = "a"'))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    t0 = time.time()
    r = subprocess.run([sys.executable, "-m", "cli.main", "--batch", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
                        "--models", str(cat), "--limit", "1", "--out", str(tmp_path / "out")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"Ray cluster at 127.0.0.1:{port} cannot be reached" in lines[0], r.stderr
    assert time.time() - t0 < 60
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_ray_address_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.executors import ray_cluster

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(ray_cluster.ClusterError, match="127.0.0.1:1 cannot be reached"):
        ray_cluster.connect(None)


# ---- the cluster planner (pure) ------------------------------------------------------------

LLAMA3_8B = Architecture("llama", 8_030_261_248, 32, 4096, 32, 8, 128, 14336, 128256, 8192)
QWEN_72B = Architecture("qwen2", 72_706_203_648, 80, 8192, 64, 8, 128, 29568, 152064, 32768, attention_bias=True)
ARCHS = {"llama3-8b": LLAMA3_8B, "qwen2.5-72b": QWEN_72B}


def _run(name: str):
    model, backend, quant = name.split("/")[:3]
    return RunSpec(name, model, backend, quant), estimate(ARCHS[model], backend, quant, ctx=4096)


def _node(i: int, n_gpus: int, gib: float = 80.0, vram: bool = True) -> NodeInfo:
    gpus = tuple(GpuInfo(j, "H100", gib) for j in range(n_gpus))
    return NodeInfo(f"node{i}", f"host{i}", cpus=16, gpus=gpus, vram_mib=n_gpus * gib * 1024 if vram else None)


def test_a_wave_spreads_over_nodes_with_global_gpu_ids() -> None:
    runs = [_run(f"llama3-8b/transformers/bf16/{i}") for i in range(4)]
    cp = plan_cluster(runs, [_node(0, 2), _node(1, 2)])
    assert len(cp.plan.waves) == 1
    by_node = {}
    for s in cp.slots.values():
        by_node.setdefault(s.node_id, []).append(s.gpus)
    assert sorted(by_node) == ["node0", "node1"] and all(len(v) == 2 for v in by_node.values())
    assert sorted(g for s in cp.slots.values() for g in s.gpus) == [0, 1, 2, 3]  # node1's GPUs are 2 and 3
    assert all(s.num_gpus == 1 and s.resources()[VRAM_RESOURCE] > 10_000 for s in cp.slots.values())
    # the first two runs (largest first, then in order) go to different nodes
    assert cp.slots["llama3-8b/transformers/bf16/0"].node_id != cp.slots["llama3-8b/transformers/bf16/1"].node_id


def test_a_run_needing_more_gpus_than_any_node_is_reported() -> None:
    big, small = _run("qwen2.5-72b/transformers/bf16"), _run("llama3-8b/transformers/bf16")
    cp = plan_cluster([big, small], [_node(0, 1), _node(1, 1)])  # two GPUs in all, but one per node
    assert [u.run for u in cp.plan.unplaceable] == ["qwen2.5-72b/transformers/bf16"]
    assert "fits no node of the cluster (the largest has 1 GPU(s))" in cp.plan.unplaceable[0].reason
    assert cp.slots["llama3-8b/transformers/bf16"].num_gpus == 1
    cp2 = plan_cluster([big, small], [_node(0, 1), _node(1, 2, vram=False)])
    slot = cp2.slots["qwen2.5-72b/transformers/bf16"]
    assert (slot.node_id, slot.num_gpus, slot.gpus, slot.vram_mib) == ("node1", 2, (1, 2), None)  # undeclared: GPUs only
    assert any("no quantarena_vram_mib" in n for n in cp2.plan.notes)


def test_runs_that_do_not_fit_the_cluster_at_once_go_to_later_waves() -> None:
    runs = [_run(f"llama3-8b/transformers/bf16/{i}") for i in range(3)]
    cp = plan_cluster(runs, [_node(0, 1), _node(1, 1)])
    assert [len(w) for w in cp.plan.waves] == [2, 1]


def test_cpu_runs_on_a_cpu_cluster_get_no_node() -> None:
    cp = plan_cluster([(RunSpec("tiny/fake/fake", "tiny", "fake", "fake"), None)], [_node(0, 0)])
    assert cp.slots["tiny/fake/fake"].node_id is None and cp.plan.placements[0].device == "cpu"


def test_gpus_described_with_ray_is_a_usage_error(tmp_path: Path, ray_cluster: str) -> None:
    with pytest.raises(LaunchError, match="with --executor ray the cluster's GPUs are planned"):
        _prepare(tmp_path, TWO, "out", executor="ray", gpus="2x80GiB")
