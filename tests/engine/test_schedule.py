"""The order of work as pure functions: a run's GPUs, lanes of runs sharing a device, turns of problems."""

from __future__ import annotations

import pytest

from engine.schedule import lanes, run_gpus, turns


@pytest.mark.parametrize(("device", "served", "assigned", "visible", "want"), [
    ("cpu", False, None, 8, []),  # a CPU run takes no GPU
    ("cuda:3", False, None, 8, [3]),
    ("cuda", False, None, 8, [0]),
    ("auto", False, None, 8, [0]),
    ("auto", False, None, 0, []),  # no GPU visible: auto runs on the CPU
    ("cuda:1", False, None, 0, []),
    ("cuda", False, [2, 3], 8, [2, 3]),  # the plan's assignment wins
    ("cpu", False, [], 8, []),
    ("cuda", True, [1], 8, []),  # a served run takes no GPU of the plan
    ("weird", False, None, 4, []),
])
def test_run_gpus(device: str, served: bool, assigned: list[int] | None, visible: int, want: list[int]) -> None:
    assert run_gpus(device, served=served, assigned=assigned, visible_gpus=visible) == want


@pytest.mark.parametrize(("gpus", "want"), [
    ({"a": [], "b": [], "c": []}, [["a", "b", "c"]]),  # CPU runs share one lane and take turns
    ({"a": [0], "b": [1], "c": [2]}, [["a"], ["b"], ["c"]]),  # disjoint GPUs run concurrently
    ({"a": [0], "b": [0], "c": [1]}, [["a", "b"], ["c"]]),
    ({"a": [0, 1], "b": [1, 2], "c": [3]}, [["a", "b"], ["c"]]),  # overlapping GPU sets share a lane
    ({"a": [0], "b": [], "c": [0, 1], "d": [1]}, [["a", "c", "d"], ["b"]]),  # the lane's GPU set grows
    ({"a": [], "b": [4]}, [["a"], ["b"]]),
    ({}, []),
])
def test_lanes(gpus: dict[str, list[int]], want: list[list[str]]) -> None:
    assert lanes(list(gpus), gpus) == want


@pytest.mark.parametrize(("n", "size", "want"), [
    (3, 1, [(0, [0]), (1, [1]), (2, [2])]),  # latency mode: a turn is one problem
    (5, 2, [(0, [0, 1]), (2, [2, 3]), (4, [4])]),  # throughput mode: the last turn is shorter
    (4, 4, [(0, [0, 1, 2, 3])]),
    (2, 8, [(0, [0, 1])]),
    (3, 0, [(0, [0]), (1, [1]), (2, [2])]),  # a size below 1 is 1
    (0, 3, []),
])
def test_turns(n: int, size: int, want: list[tuple[int, list[int]]]) -> None:
    assert turns(list(range(n)), size) == want
