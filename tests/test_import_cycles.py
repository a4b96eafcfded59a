"""The acyclic_modules contract (tests/import_contracts.py) that lint-imports runs: it finds cycles."""

from __future__ import annotations

import grimp

from tests.import_contracts import module_cycles


def graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    g = grimp.ImportGraph()
    for a, b in imports:
        g.add_import(importer=a, imported=b)
    return g


def test_a_two_module_cycle_and_a_longer_one_are_found() -> None:
    g = graph(("pkg.a", "pkg.b"), ("pkg.b", "pkg.a"),
              ("pkg.c", "pkg.d"), ("pkg.d", "pkg.e"), ("pkg.e", "pkg.c"), ("pkg.e", "pkg.a"))
    assert module_cycles(g, ["pkg"]) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d", "pkg.e"]]


def test_a_chain_is_not_a_cycle_and_other_packages_do_not_count() -> None:
    g = graph(("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("other.x", "other.y"), ("other.y", "other.x"))
    assert module_cycles(g, ["pkg"]) == []
    assert module_cycles(g, ["other"]) == [["other.x", "other.y"]]


def test_the_project_has_none() -> None:
    g = grimp.build_graph("engine", "cli", "tui", cache_dir=None)
    assert module_cycles(g, ["engine", "cli", "tui"]) == []
