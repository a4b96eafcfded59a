"""GPU telemetry over a fake NVML: index mapping, N/A handling, per-run window figures."""

from __future__ import annotations

import pytest

from engine.gpu import GpuReading, NvmlSource, Snapshot, cuda_to_nvml, parse_visible_devices, window_figures
from tests.fakes.fake_nvml import FakeGpu, FakeNvml

UUIDS = ["GPU-aaaa-1111", "GPU-bbbb-2222", "GPU-cccc-3333", "GPU-dddd-4444"]


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", []),
        ("-1", []),
        ("2,3", [2, 3]),
        ("3,1", [3, 1]),
        ("1,7,2", [1]),  # CUDA stops at the first invalid entry
        ("GPU-cccc", [2]),
        ("GPU-dddd-4444,0", [3, 0]),
        ("1,1", [1]),
    ],
)
def test_parse_visible_devices(value: str | None, expected: list[int] | None) -> None:
    assert parse_visible_devices(value, UUIDS) == expected


def test_cuda_to_nvml_honours_visible_devices() -> None:
    assert cuda_to_nvml(None, 3) == {0: 0, 1: 1, 2: 2}
    assert cuda_to_nvml([3, 1], 4) == {0: 3, 1: 1}


def test_source_labels_gpus_cuda_i_gpu_j(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    gpus = [FakeGpu(uuid=u) for u in UUIDS[:3]]
    src = NvmlSource(FakeNvml(gpus))
    readings = src.read()
    assert [r.label for r in readings] == ["cuda:1 (gpu:0)", "cuda:- (gpu:1)", "cuda:0 (gpu:2)"]
    assert src.driver == "999.99"


def test_unavailable_nvml_gives_no_gpus_not_zeros() -> None:
    src = NvmlSource(FakeNvml([], fail_init=True))
    assert src.available is False and src.count == 0 and "NVML" in (src.error or "")
    assert src.read() == []


def test_missing_fields_are_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    g = FakeGpu(power_mw=None, energy_mj=None, procs={123: None})  # MIG-like: per-process memory N/A
    r = NvmlSource(FakeNvml([g])).read()[0]
    assert r.power_w is None and r.energy_mj is None
    assert r.processes == {123: None}
    assert r.mem_used_mib == pytest.approx(1000) and r.util_pct == 50


def _snap(t: float, used: list[float], util: list[float], energy: list[float | None], procs: dict[int, float | None] | None = None) -> Snapshot:
    gpus = [
        GpuReading(index=i, cuda=i, name="H100", uuid=None, util_pct=util[i], mem_used_mib=used[i], mem_total_mib=81559,
                   power_w=300.0, power_limit_w=700.0, energy_mj=energy[i], temp_c=40, sm_clock_mhz=None, mem_clock_mhz=None,
                   processes=dict(procs or {}) if i == 0 else {})
        for i in range(len(used))
    ]
    return Snapshot(t=t, gpus=gpus, procs={42: (500.0 + t, 95.0)}, cpu_pct=50.0, ram_used_mib=1000, ram_total_mib=2000)


def test_window_figures_peak_util_energy() -> None:
    snaps = [
        _snap(0.0, [1000, 5000], [0, 10], [1_000_000, 2_000_000]),
        _snap(1.0, [9000, 5000], [80, 10], [1_300_000, 2_100_000], {42: 8000.0}),
        _snap(2.0, [9500, 5200], [100, 30], [1_600_000, 2_200_000], {42: 8500.0}),
        _snap(3.0, [2000, 5000], [0, 0], [1_700_000, 2_200_000]),
    ]
    f = window_figures(snaps, 1.0, 2.0, pids=[42], root=42, gpus=[0])
    assert f["peak_vram_mib"] == 9500  # global, the run's GPU only
    assert f["peak_vram_process_mib"] == 8500
    assert f["gpu_util_pct"] == pytest.approx(90) and f["gpu_util_max_pct"] == 100
    assert f["energy_j"] == pytest.approx(300.0)  # 1.3e6 -> 1.6e6 mJ
    assert f["rss_mib"] == pytest.approx(502.0)
    both = window_figures(snaps, 1.0, 2.0, pids=[42], root=42, gpus=[0, 1])
    assert both["peak_vram_mib"] == 9500 + 5200


def test_window_without_gpus_has_null_gpu_fields() -> None:
    f = window_figures([_snap(0.5, [], [], [])], 0.0, 1.0, pids=[42], root=42, gpus=[])
    assert f["peak_vram_mib"] is None and f["gpu_util_pct"] is None and f["energy_j"] is None
    assert f["rss_mib"] == pytest.approx(500.5)


def test_energy_falls_back_to_integrated_power() -> None:
    snaps = [_snap(t, [1000], [50], [None]) for t in (0.0, 0.5, 1.0, 1.5, 2.0)]
    f = window_figures(snaps, 0.0, 2.0, pids=[], root=None, gpus=[0])
    assert f["energy_j"] == pytest.approx(600.0)  # 300 W for 2 s


def test_process_memory_na_stays_none() -> None:
    snaps = [_snap(0.5, [1000], [50], [1.0], {42: None})]
    f = window_figures(snaps, 0.0, 1.0, pids=[42], root=42, gpus=[0])
    assert f["peak_vram_process_mib"] is None and f["peak_vram_mib"] == 1000
