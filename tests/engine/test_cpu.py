"""CPU features from /proc/cpuinfo and llama.cpp's extra-buffer choice, on faked CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import cpu

CPUS = Path(__file__).resolve().parents[1] / "data" / "cpuinfo"


@pytest.fixture
def fake_cpu(monkeypatch: pytest.MonkeyPatch):
    def use(name: str) -> None:
        monkeypatch.setenv("QUANTARENA_CPUINFO", str(CPUS / name))
    return use


@pytest.mark.parametrize("name, features, amx", [
    ("amx-xeon.txt", ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"], True),
    ("epyc-avx512.txt", ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"], False),
    ("avx2-only.txt", ["avx2"], False),
])
def test_features_read_from_cpuinfo(fake_cpu, name: str, features: list[str], amx: bool) -> None:
    fake_cpu(name)
    assert cpu.cpu_features() == features
    assert cpu.has_amx() is amx
    assert cpu.cpu_line().endswith(" ".join(features))


@pytest.mark.parametrize("name, on_cpu, expected", [
    ("amx-xeon.txt", True, False),     # the crash: AMX and CPU-resident weights -> off
    ("amx-xeon.txt", False, True),     # every layer on the GPU: the CPU layouts are never used
    ("epyc-avx512.txt", True, True),   # repacking speeds Q4_0 on AVX-512: left on
    ("avx2-only.txt", True, True),
])
def test_auto_turns_extra_buffers_off_only_on_amx_with_cpu_weights(fake_cpu, name: str, on_cpu: bool, expected: bool) -> None:
    fake_cpu(name)
    on, why = cpu.extra_buffers_choice("auto", weights_on_cpu=on_cpu)
    assert on is expected and why.startswith("auto")
    if not expected:
        assert "AMX" in why and "#20824" in why


def test_an_explicit_value_wins_and_a_bad_one_is_named(fake_cpu) -> None:
    fake_cpu("amx-xeon.txt")
    assert cpu.extra_buffers_choice(True, weights_on_cpu=True) == (True, "set in the run's settings")
    assert cpu.extra_buffers_choice(False, weights_on_cpu=True)[0] is False
    with pytest.raises(ValueError, match="extra_buffers"):
        cpu.extra_buffers_choice("sometimes", weights_on_cpu=True)


def test_unreadable_cpuinfo_reports_no_features(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUANTARENA_CPUINFO", str(tmp_path / "absent"))
    assert cpu.cpu_features() == [] and not cpu.has_amx()
    assert cpu.extra_buffers_choice("auto", weights_on_cpu=True)[0] is True


def test_runs_listing_shows_the_effective_value(fake_cpu, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.batch import extra_buffers_note
    from engine.catalog import default_catalog_path, load_catalog

    run = load_catalog(default_catalog_path()).runs["smollm2-135m/llama.cpp/q4_1"]
    fake_cpu("amx-xeon.txt")
    assert extra_buffers_note(run, gpus_present=False).startswith("extra_buffers=off (auto: off because this CPU reports AMX")
    assert extra_buffers_note(run, gpus_present=True).startswith("extra_buffers=on (auto: every layer on the GPU")
    fake_cpu("epyc-avx512.txt")
    assert extra_buffers_note(run, gpus_present=False) == "extra_buffers=on (auto: on (no AMX on this CPU))"
