"""The run-process protocol: every message survives its one codec as plain, picklable data."""

from __future__ import annotations

import pickle
from array import array

import pytest

from engine import protocol as P
from engine.backends.base import Capabilities, GenerationRequest, ScoreRequest

ANSWERED = P.Answered(t_submit=1.0, t_end=2.0, token_times=[1.1, 1.2], prompt_tokens=7, finish_reason="stop",
                      response="A resposta é B", memory={"torch_peak_allocated_mib": None}, tokens_out=None,
                      fields={"token_count": "server usage"}, batch=P.BatchFacts(size=2, t_submit=1.0, t_end=1.9, tokens_out=5))

MESSAGES: list[P.Message] = [
    P.Answer(["builtin/0", "builtin/1"], [GenerationRequest(messages=[{"role": "user", "content": "2+2?"}], max_new_tokens=8),
                                          GenerationRequest(messages=[{"role": "user", "content": "3+3?"}], max_new_tokens=8,
                                                            min_new_tokens=8, seed=3, temperature=0.5)]),
    P.Score("builtin/0", ScoreRequest(messages=[{"role": "user", "content": "x"}], completion="y", top_k=4, at_k=2, at_ids=array("i", [1, 2]))),
    P.Stop(),
    P.Loaded("cpu", 1.5, {"library": "fake"}, Capabilities(max_batch=4, scoring=True)),
    P.LoadFailed("oom", "out of memory loading x", "Traceback ..."),
    P.LoadProgress("reading shards", 0.5, 3 * 2**30, {"cuda:0": 2**30}, "shard 3/6"),
    P.TextDelta("builtin/0", "A res", 2, 0.1),
    P.Done("builtin/0", ANSWERED),
    P.Done("builtin/1", P.Answered(0.0, 0.0, [], None, "length", "", {}, None, {})),
    P.GenFailed("builtin/0", "failed", "scripted failure"),
    P.ScoreDone("builtin/0", {"tokens": [1, 2]}),
    P.ScoreFailed("builtin/0", "unsupported", "cannot score"),
    P.Exited(-11, "run process killed by SIGSEGV", "ggml: crash"),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=[m.kind for m in MESSAGES])
def test_every_message_round_trips_as_plain_data(msg: P.Message) -> None:
    data = P.encode(msg)
    assert data["kind"] == msg.kind
    assert P.decode(pickle.loads(pickle.dumps(data))) == msg


def test_every_kind_is_covered() -> None:
    assert {m.kind for m in MESSAGES} == set(P._KINDS)


@pytest.mark.parametrize("data", [{"kind": "nope"}, {}, "loaded", {"kind": "loaded", "device": "cpu"}])
def test_a_malformed_message_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError):
        P.decode(data)  # type: ignore[arg-type]


def test_an_answer_needs_one_problem_id_per_request() -> None:
    with pytest.raises(ValueError, match="1 problem ids for 2 requests"):
        P.Answer(["a"], [GenerationRequest(messages=[], max_new_tokens=1)] * 2)


def test_load_progress_line() -> None:
    m = P.LoadProgress("reading shards", 0.25, 3 * 2**30, {"cuda:1": 2**30, "cuda:0": 2**29}, "shard 1/4")
    assert m.line() == "reading shards shard 1/4 (25%): 3.0 GiB read, cuda:0 0.5 GiB, cuda:1 1.0 GiB"
    assert P.LoadProgress("building").line() == "building"


@pytest.mark.parametrize(("max_batch", "wanted", "limit", "batching"), [
    (1, 4, 1, False), (None, 4, 4, True), (2, 4, 2, True), (8, 4, 4, True), (None, 1, 1, True), (3, 0, 1, True),
])
def test_capabilities_batch_limit(max_batch: int | None, wanted: int, limit: int, batching: bool) -> None:
    caps = Capabilities(max_batch=max_batch)
    assert caps.batch_limit(wanted) == limit and caps.batching is batching
    assert Capabilities.from_dict(caps.to_dict()) == caps
