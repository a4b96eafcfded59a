"""An import-linter contract type: no import cycles among the modules of the given packages.

import-linter's own ``acyclic_siblings`` squashes each subpackage into one node, so a backend
importing the catalog and the catalog importing the backend registry counts as a cycle of the
``engine.backends`` package with ``engine.catalog``. This one works module by module: any strongly
connected set of modules (Tarjan's algorithm over grimp's import graph, imports inside functions
included) breaks it, and each cycle is printed with the import lines that close it.

Registered in pyproject.toml (``contract_types``); ``lint-imports`` runs from the checkout root,
which it puts on ``sys.path``, so ``tests.import_contracts`` imports without installing anything.
"""

from __future__ import annotations

from typing import Any

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def module_cycles(graph: ImportGraph, packages: list[str]) -> list[list[str]]:
    """Every set of two or more modules of ``packages`` that import one another in a cycle."""
    mods = sorted(m for m in graph.modules if any(m == p or m.startswith(p + ".") for p in packages))
    inside = set(mods)
    adj = {m: sorted(x for x in graph.find_modules_directly_imported_by(m) if x in inside) for m in mods}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in mods:  # iterative Tarjan: no recursion limit on a large graph
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recursed = False
            for j in range(i, len(adj[v])):
                w = adj[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recursed = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recursed:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    cycles.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return sorted(cycles)


class AcyclicModulesContract(Contract):
    """``packages``: the root packages whose modules must not import one another in a cycle."""

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        packages = list(self.packages)  # type: ignore[call-overload]
        cycles = module_cycles(graph, packages)
        details: list[list[dict[str, Any]]] = []
        for comp in cycles:
            members = set(comp)
            edges = []
            for a in comp:
                for b in sorted(graph.find_modules_directly_imported_by(a)):
                    if b in members:
                        lines = [d["line_number"] for d in graph.get_import_details(importer=a, imported=b)]
                        edges.append({"importer": a, "imported": b, "lines": lines})
            details.append(edges)
        return ContractCheck(kept=not cycles, metadata={"cycles": details})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for edges in check.metadata["cycles"]:
            mods = sorted({e["importer"] for e in edges})
            output.print_error(f"Import cycle among {', '.join(mods)}:")
            output.new_line()
            for e in edges:
                output.indent_cursor()
                output.print_error(f"- {e['importer']} -> {e['imported']} (l. {', '.join(map(str, e['lines']))})", bold=False)
            output.new_line()
