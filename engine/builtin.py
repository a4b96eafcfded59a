"""The built-in problem set: 36 short original problems, half pt-PT and half pt-BR.

Written for quantarena (not taken from MATH-PT or elsewhere) in the MATH-PT item format, so that
the tool runs out of the box with no dataset download. Multiple-choice items have options A-E and
a gold letter; open-ended items have a worked ``solution`` *and* their gold final answer in
``answer``. Levels 1-4; two items carry a LaTeX ``tabular`` after "Conteúdo referenciado:" as
MATH-PT does. The first items are the shortest and mix both variants and both kinds, because a
CPU batch usually runs only the first few. Ids are ``builtin/<index>``, split ``builtin``.

The data lives in ``engine/data/builtin_problems.json`` and is read with importlib.resources.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from engine.problems import Problem

SPLIT = "builtin"
DATA_FILE = "builtin_problems.json"


@lru_cache(maxsize=1)
def _raw() -> tuple[dict, ...]:
    text = resources.files("engine").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return tuple(json.loads(text))


def builtin_problems() -> list[Problem]:
    """The built-in problems, in order (``builtin/0`` first)."""
    out = []
    for i, item in enumerate(_raw()):
        out.append(
            Problem(
                id=f"{SPLIT}/{i}",
                split=SPLIT,
                index=i,
                variant=item["variant"],
                kind=item["kind"],
                problem=item["problem"],
                choices=dict(item["choices"]) if item.get("choices") else None,
                answer=item.get("answer"),
                solution=item.get("solution"),
                level=item.get("level"),
                has_figure=bool(item.get("question_has_figure", "Conteúdo referenciado:" in item["problem"])),
            )
        )
    return out
