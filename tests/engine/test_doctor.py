"""``quantarena doctor``: statuses over the scripted FAKE backend, and the real check on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from engine import doctor
from engine.backends.base import Backend
from engine.catalog import load_catalog
from tests.conftest import write_fake_catalog

ROOT = Path(__file__).resolve().parents[2]


def _fake_catalog(tmp_path: Path, settings: str = "") -> object:
    runs = f'[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\ndevice = "cpu"\nsettings = {{ {settings} }}\n'
    return load_catalog(write_fake_catalog(tmp_path, runs))


def test_a_working_backend_is_ok_with_its_build(tmp_path: Path) -> None:
    c = doctor.check_backend(_fake_catalog(tmp_path), "fake", timeout_s=60)
    assert c.status == "ok" and c.reason.startswith("generated ") and c.run == "tiny/fake/fake" and c.device == "cpu"
    assert doctor.exit_code([c]) == 0


@pytest.mark.parametrize("settings, parts", [
    ('fail_load = "weights are corrupt"', ["failed at load", "weights are corrupt"]),
    ('import_module = "no_such_native_lib_qa"', ["failed at load", "ModuleNotFoundError", "no_such_native_lib_qa"]),
    ("segfault_at_load = true", ["killed by SIGSEGV while loading", "scripted native crash at load", "Fatal Python error"]),
    ("segfault_after = 0", ["killed by SIGSEGV while generating", "ggml_backend_amx_mul_mat"]),
    ("fail_after = 0", ["failed while generating", "scripted failure"]),
])
def test_a_broken_backend_is_failed_with_the_reason(tmp_path: Path, settings: str, parts: list[str]) -> None:
    c = doctor.check_backend(_fake_catalog(tmp_path, settings), "fake", timeout_s=60)
    assert c.status == "failed"
    for p in parts:
        assert p in c.reason, (p, c.reason)
    assert "quantarena doctor" not in c.reason  # the hint points here; inside the doctor it is noise
    assert doctor.exit_code([c]) == 1


class GhostBackend(Backend):
    """A backend whose library is not installed (never loaded: the doctor stops at find_spec)."""

    id = "ghost"
    REQUIRES: ClassVar[tuple[str, ...]] = ("json", "no_such_native_lib_qa.kernels")
    DISTRIBUTION = "no-such-native-lib-qa"
    EXTRA = "ghost"

    def load(self):  # pragma: no cover - must not be reached
        raise AssertionError("the doctor loaded a missing backend")

    def generate(self, requests):  # pragma: no cover
        raise AssertionError

    def close(self) -> None:  # pragma: no cover
        pass


def test_a_missing_library_is_missing_with_its_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.backends import registry

    monkeypatch.setitem(registry.BACKENDS, "ghost", "tests.engine.test_doctor:GhostBackend")
    c = doctor.check_backend(_fake_catalog(tmp_path), "ghost")
    assert c.status == "missing" and c.version is None
    assert c.reason == "no_such_native_lib_qa.kernels not installed; pip install 'quantarena[ghost]'"
    assert doctor.exit_code([c]) == 0  # not installed is not broken
    assert doctor.exit_code([c, doctor.BackendCheck("x", None, "failed", "boom")]) == 1


def test_no_run_to_check_with_is_named(tmp_path: Path) -> None:
    cat = load_catalog(write_fake_catalog(tmp_path, ""))
    c = doctor.check_backend(cat, "fake")
    assert c.status == "failed" and "no CPU run of backend fake" in c.reason


def _qa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "doctor", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_cli_json_lists_each_backend_and_exits_1_on_a_broken_one(tmp_path: Path) -> None:
    cat = write_fake_catalog(tmp_path, '[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\nsettings = { segfault_at_load = true }\n')
    r = _qa("--json", "--models", str(cat), "--backend", "fake")
    assert r.returncode == 1, r.stderr
    rows = json.loads(r.stdout)
    assert [set(x) >= {"backend", "version", "status", "reason", "build"} for x in rows] == [True]
    assert rows[0]["status"] == "failed" and "SIGSEGV" in rows[0]["reason"]


def test_cli_table_and_bad_input(tmp_path: Path) -> None:
    cat = write_fake_catalog(tmp_path, '[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\n')
    r = _qa("--models", str(cat), "--backend", "fake")
    assert r.returncode == 0, r.stderr
    assert "quantarena doctor" in r.stdout and "ok" in r.stdout and "CPU:" in r.stderr
    r = _qa("--backend", "nosuch")
    assert r.returncode == 2 and "unknown backend 'nosuch'" in r.stderr and "Traceback" not in r.stderr
    r = _qa("--models", str(tmp_path / "absent.toml"))
    assert r.returncode == 2 and "absent.toml" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_every_installed_backend_works_on_this_machine() -> None:
    """The real check: each backend of the packaged catalog loads the embedded model in its own
    process and generates; llama.cpp reports the extra-buffer choice for this CPU."""
    r = _qa("--json")
    rows = {x["backend"]: x for x in json.loads(r.stdout)}
    assert set(rows) >= {"llama.cpp", "transformers", "quanto", "bitsandbytes", "torchao", "openai"}
    assert rows["openai"]["status"] == "skipped" and "served backend" in rows["openai"]["reason"]
    bad = {b: x["reason"] for b, x in rows.items() if x["status"] == "failed"}
    assert not bad and r.returncode == 0, (bad, r.stderr[-2000:])
    from engine.cpu import has_amx

    llama = rows["llama.cpp"]
    if llama["status"] == "ok":
        assert llama["build"]["extra_buffers"] is (not has_amx()) or llama["build"]["gpu_offload"]
        assert llama["version"] and llama["build"]["kernel_features"]
